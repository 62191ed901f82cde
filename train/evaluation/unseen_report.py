"""The unseen-corpus (leave-one-corpus-out) and EmoBox-fold sections of reports/accuracy.md.

`train.evaluation.evaluate` sorts each row of reports/cv/ by the protocol it ran (`protocol_id`) and renders these sections from
the rows of the two other protocols; bench.readme copies the first table of a section into the README.
"""

from __future__ import annotations

from ser.evaluation.protocols import EMOBOX_PUBLISHED, UNSEEN_CORPORA

LOCO_HEADING = "## Unseen corpora (leave one corpus out)"
EMOBOX_HEADING = "## EmoBox folds (RAVDESS, in-corpus)"
CORPUS_NAMES = {"ravdess": "RAVDESS", "tess": "TESS", "urdu": "URDU", "turev": "TurEV-DB", "ased": "ASED"}
LOCO_INTRO = (
    "Every clip is scored by a model that never heard its corpus: each of RAVDESS (English, 24 actors), TESS (English, "
    "2 women), URDU (Urdu, talk shows) and TurEV-DB (Turkish, single words) is tested by a model trained on the recipe's "
    "other corpora, and ASED (Amharic, 65 speakers; never trained on) by one trained on all of them. New speakers, "
    "sentences, languages and microphones at once: the closest this report comes to a visitor's own voice. Each corpus "
    "is scored over the labels it has (calm counted as neutral where it has no calm, neutral as calm in TurEV-DB, which "
    "has no neutral), so chance is 1 / its number of labels: RAVDESS 12.5%, TESS 14.3%, URDU 25%, TurEV-DB 25%, "
    "ASED 20%. Mean UAR = the mean over the five corpora. 'Most predicted' = the label the app would show most often "
    "(plain argmax over all 8) and its share of that corpus's clips; ECE = expected calibration error of the "
    "probabilities over the corpus's labels (0 = a model that says 70% is right 70% of the time)."
)


def _pct(value) -> str:
    return "-" if value is None else f"{value:.1%}"


def loco_rows(models: dict) -> list[str]:
    """The summary table: one line per LOCO row."""
    lines = ["| model | mean UAR | " + " | ".join(CORPUS_NAMES[c] for c in UNSEEN_CORPORA)
             + " | lowest neutral recall | most predicted label (largest share) | mean ECE | trained on |",
             "|---" * (len(UNSEEN_CORPORA) + 6) + "|"]
    for name, m in models.items():
        corpora = m["corpora"]
        neutral = [c["neutral_recall"] for c in corpora.values() if c.get("neutral_recall") is not None]
        worst = max(corpora, key=lambda c: corpora[c]["top_share"])
        trained = sorted({t for c in corpora.values() for t in c["train_corpora"]})
        ece = sum(c["ece"] for c in corpora.values()) / len(corpora)
        lines.append(f"| {name} | {m['mean_uar']:.1%} | " + " | ".join(_pct(corpora.get(c, {}).get("uar")) for c in UNSEEN_CORPORA)
                     + f" | {_pct(min(neutral) if neutral else None)} | {corpora[worst]['top_share_label']} "
                     f"{corpora[worst]['top_share']:.0%} ({CORPUS_NAMES.get(worst, worst)}) | {ece:.3f} | "
                     + " ".join(CORPUS_NAMES.get(t, t) for t in trained) + " |")
    return lines


def loco_details(name: str, m: dict) -> list[str]:
    calibration = (f"Temperature {m['temperature']:.2f} (each corpus scored with one fitted on the others), unsure below "
                   f"{m['unsure_threshold']:.0%}." if "temperature" in m else "")
    if m.get("plain_accuracy") is not None:
        calibration += f" Over every clip, the app's answer (the label on top of all 8) is right {_pct(m['plain_accuracy'])} of the time."
    lines = ["", f"### {name}: {m.get('description', '')}", "", *([calibration, ""] if calibration else []),
             "| test corpus | clips | speakers | trained on | UAR | accuracy | neutral recall | ECE | predicted most |",
             "|---|---|---|---|---|---|---|---|---|"]
    for corpus, c in m["corpora"].items():
        note = f" ({c['not_scored']} not scored: profile or reference clips, or speakers without a profile)" if c.get("not_scored") else ""
        lines.append(f"| {CORPUS_NAMES.get(corpus, corpus)} | {c['n']}{note} | {c['speakers']} | "
                     + " ".join(CORPUS_NAMES.get(t, t) for t in c["train_corpora"])
                     + f" | {c['uar']:.1%} | {c['accuracy']:.1%} | {_pct(c.get('neutral_recall'))} | {c['ece']:.3f} | "
                     f"{c['top_share_label']} {c['top_share']:.0%} |")
    for corpus, c in m["corpora"].items():
        labels = c["labels"]
        shares = ", ".join(f"{label} {share:.0%}" for label, share in c["prediction_shares"].items() if share > 0)
        checks = ""
        if c.get("far_share") is not None:
            checks += (f" Unlike the training clips (novelty over the 99th percentile of the training clips'): {c['far_share']:.0%}"
                       f" of the clips, right {_pct(c.get('accuracy_far'))} of the time against {_pct(c.get('accuracy_near'))} for the others.")
        if c.get("plain_accuracy") is not None:
            checks += f" The app's answer (the label on top of all 8) is right for {_pct(c['plain_accuracy'])} of the clips."
        if c.get("unsure_share") is not None:
            checks += (f" Unsure (calibrated top probability under the threshold): {c['unsure_share']:.0%} of the clips, right "
                       f"{_pct(c.get('accuracy_unsure'))} of the time against {_pct(c.get('accuracy_sure'))} for the others.")
        lines += ["", f"{CORPUS_NAMES.get(corpus, corpus)}: recall per class "
                  + ", ".join(f"{k} {v:.0%}" for k, v in c["per_class_recall"].items()) + f"; predicted (all 8 labels): {shares}."
                  + checks, "",
                  "| true \\ predicted | " + " | ".join(labels) + " |", "|---" * (len(labels) + 1) + "|"]
        lines += [f"| {labels[i]} | " + " | ".join(str(v) for v in row) + " |"
                  for i, row in enumerate(c["confusion"]) if sum(row)]
    return lines


def loco_section(models: dict) -> list[str]:
    if not models:
        return []
    lines = ["", LOCO_HEADING, "", LOCO_INTRO, "", *loco_rows(models)]
    for name, m in models.items():
        lines += loco_details(name, m)
    return lines


def emobox_section(models: dict) -> list[str]:
    if not models:
        return []
    published = ", ".join(f"{k} {v:.1%}" for k, v in EMOBOX_PUBLISHED.items())
    lines = ["", EMOBOX_HEADING, "",
             "RAVDESS on EmoBox's six actor-disjoint folds (test actors 01 11 20 21 / 04 10 12 14 / 08 09 19 23 / 03 05 07 24 / "
             f"02 15 16 18 / 06 13 17 22). EmoBox published, for frozen encoders on these folds: {published} (UA, mean over "
             "folds; trained on RAVDESS alone). Our rows also train on the recipe's other corpora (TESS) unless they say "
             "otherwise.", "",
             "| model | UAR (mean of folds) | UAR (pooled) | accuracy | macro-F1 | calm<->neutral confusions | UAR per fold |",
             "|---|---|---|---|---|---|---|"]
    for name, m in models.items():
        folds = ", ".join(f"{f['uar']:.1%}" for f in m["folds"])
        mean = m.get("mean_fold_uar", sum(f["uar"] for f in m["folds"]) / len(m["folds"]))
        lines.append(f"| {name} | {mean:.1%} | {m['uar']:.1%} | {m['accuracy']:.1%} | {m['macro_f1']:.1%} | "
                     f"{m['calm_neutral_confusions']} | {folds} |")
    return lines
