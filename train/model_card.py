"""The model card (README.md of a model folder, Hugging Face style) and the summaries that go into config.json:
what the model is, its data and licences, its cross-validated scores in and across corpora, and its limits.
"""

from __future__ import annotations

from ser.corpora import Record
from ser.models.base import LICENSE

CORPUS_TEXTS = {"ravdess": "RAVDESS: only two sentences", "tess": "TESS: one carrier phrase, 'Say the word ...'",
                "turev": "TurEV-DB: single Turkish words"}
CORPUS_LICENCES = {"ravdess": "RAVDESS (CC BY-NC-SA 4.0)", "tess": "TESS (CC BY-NC-ND 4.0)",
                   "turev": "TurEV-DB (CC BY-NC-ND 4.0 in its README; its LICENSE file says GPL-3.0)",
                   "urdu": "URDU (research purposes only)"}
CORPUS_NOTES = {
    "ravdess": "RAVDESS speech (Livingstone & Russo 2018): 24 actors (12 female, 12 male), 8 emotions, two sentences, CC BY-NC-SA 4.0",
    "tess": "TESS (Dupuis & Pichora-Fuller 2010): 2 women (aged 26 and 64), 7 emotions (no calm), 200 words in a carrier "
            "phrase, CC BY-NC-ND 4.0",
    "turev": "TurEV-DB (Canpolat et al. 2020): 6 Turkish speakers, 4 emotions (angry, calm, happy, sad; no neutral), single "
             "words, CC BY-NC-ND 4.0 per its README (its LICENSE file says GPL-3.0; we follow the stricter)",
    "urdu": "URDU (Latif et al. 2018): Urdu talk-show clips, 4 emotions, research purposes only",
}



def cv_summary(result: dict | None) -> dict | None:
    """The headline numbers that go into a model's config.json."""
    if not result:
        return None
    keys = ("uar", "accuracy", "macro_f1", "calm_neutral_confusions")
    return {**{k: result[k] for k in keys}, "protocol": "6-fold actor-disjoint RAVDESS cross-validation (reports/cv)"}


UNSEEN_NAMES = {"ravdess": "RAVDESS", "tess": "TESS", "urdu": "URDU", "turev": "TurEV-DB", "ased": "ASED"}


def loco_summary(name: str) -> dict | None:
    """The unseen-corpus numbers of a model's recipe (reports/cv/<name>-loco.json, temperature-scaled where
    <name>-loco-calibrated.json exists) for config.json, the card and the app: mean and per-corpus UAR, neutral recall,
    the largest share one label takes, ECE; and the temperature and unsure threshold the model ships with."""
    from train.common import read_cv_result  # train.common re-exports this module's functions: import it late

    raw, calibrated = read_cv_result(f"{name}-loco"), read_cv_result(f"{name}-loco-calibrated")
    if not raw:
        return None
    keys = ("uar", "accuracy", "neutral_recall", "top_share", "top_share_label", "ece", "n", "speakers", "train_corpora")
    # the scores of the row itself (as the README quotes them); the calibrated row adds its ECE, temperature and threshold
    summary = {"mean_uar": raw["mean_uar"], "corpora": {c: {k: v.get(k) for k in keys} for c, v in raw["corpora"].items()},
               "protocol": f"leave one corpus out (reports/cv/{name}-loco.json)"}
    if calibrated:
        for corpus, scores in calibrated["corpora"].items():
            summary["corpora"][corpus]["ece_calibrated"] = scores["ece"]
        summary |= {"temperature": calibrated["temperature"], "unsure_threshold": calibrated["unsure_threshold"]}
    return summary


def loco_lines(loco: dict | None) -> list[str]:
    """The card's section on corpora the model never heard."""
    if not loco:
        return ["Not yet evaluated on corpora it never heard: `python -m train.evaluate --models <name>-loco`.", ""]
    lines = ["### On corpora it never heard (leave one corpus out)", "",
             f"Each corpus scored by a model of this recipe that never heard it, over the labels the corpus has: mean UAR "
             f"{loco['mean_uar']:.1%} ({loco['protocol']}).", "",
             "| test corpus | clips | UAR | neutral recall | most predicted label | ECE | ECE, calibrated |",
             "|---|---|---|---|---|---|---|"]
    for corpus, c in loco["corpora"].items():
        neutral = "-" if c["neutral_recall"] is None else f"{c['neutral_recall']:.0%}"
        calibrated = "-" if c.get("ece_calibrated") is None else f"{c['ece_calibrated']:.3f}"
        lines.append(f"| {UNSEEN_NAMES.get(corpus, corpus)} | {c['n']} | {c['uar']:.1%} | {neutral} | "
                     f"{c['top_share_label']} ({c['top_share']:.0%}) | {c['ece']:.3f} | {calibrated} |")
    if "temperature" in loco:
        unsure = ("says 'unsure' for every answer: no confidence level was right more often than wrong on these corpora"
                  if loco["unsure_threshold"] >= 1.0 else f"says 'unsure' when the top probability is below {loco['unsure_threshold']:.0%}")
        lines += ["", f"Probabilities are divided by a temperature of {loco['temperature']:.2f} (fitted on these out-of-corpus "
                  f"predictions: the ECE, calibrated column); the app {unsure}."]
    return lines + [""]


def data_summary(records: list[Record]) -> dict:
    """Clip and speaker counts for config.json and the card."""
    speakers = {r.speaker: r.gender for r in records}
    return {
        "corpora": sorted({r.corpus for r in records}), "clips": len(records), "speakers": len(speakers),
        "female_speakers": sum(g == "female" for g in speakers.values()), "male_speakers": sum(g == "male" for g in speakers.values()),
        "male_clips": sum(r.gender == "male" for r in records),
    }


def model_card(name: str, summary: str, details: dict, data: dict, cv: dict | None, loco: dict | None = None,
               reference_loco: dict | None = None) -> str:
    """A Hugging Face style README.md: what it is, data, protocol and cross-validated scores, limits, licence."""
    from train.common import other_precisions, other_seeds  # late: train.common re-exports this module's functions

    lines = [
        "---", f"license: {LICENSE}", "language: en", "pipeline_tag: audio-classification",
        "tags: [speech-emotion-recognition, audio-classification]", "---", "",
        f"# {name}", "", summary, "",
        "## Training", "",
        *[f"- {key}: {value}" for key, value in details.items()], "",
        "## Data", "",
        *[f"- {CORPUS_NOTES.get(c, c)}" for c in data["corpora"]],
        f"- {data['clips']} clips from {data['speakers']} speakers ({data['female_speakers']} female, {data['male_speakers']} male); "
        f"{data['male_clips']} clips ({data['male_clips'] / max(data['clips'], 1):.0%}) are male voices.", "",
        "## Evaluation", "",
    ]
    if cv:
        lines += [
            f"Protocol: {cv['protocol']}.", "",
            "| UAR | accuracy | macro-F1 | calm<->neutral confusions |", "|---|---|---|---|",
            f"| {cv['uar']:.1%} | {cv['accuracy']:.1%} | {cv['macro_f1']:.1%} | {cv['calm_neutral_confusions']} |", "",
            "Recall per class: " + ", ".join(f"{k} {v:.0%}" for k, v in cv["per_class_recall"].items()) + ".", "",
            "UAR per test fold: " + ", ".join(f"{f['uar']:.1%}" for f in cv["folds"]) + ".", "",
        ]
        if seeds := other_seeds(name):  # one run's score is partly luck: show how far the same recipe moves
            lines += ["The same recipe cross-validated with other seeds: " + ", ".join(
                f"seed {seed} {r['uar']:.1%} UAR ({r['calm_neutral_confusions']} calm<->neutral confusions)" for seed, r in seeds.items())
                + " (reports/accuracy.md, seed spread).", ""]
        if precisions := other_precisions(name):
            lines += ["The same fold models on test states of the encoder in another precision (`SER_ENCODER_DTYPE`; the app "
                      "uses bfloat16 where the CPU runs it natively): " + ", ".join(
                          f"{precision} {r['uar']:.1%} UAR ({r['calm_neutral_confusions']} calm<->neutral confusions)"
                          for precision, r in precisions.items()) + " (reports/accuracy.md).", ""]
    else:
        lines += ["Not cross-validated yet: run the training script with `--cv`.", ""]
    lines += loco_lines(loco if loco is not None else loco_summary(name))  # every family: its -loco row, once it ran
    if reference_loco:
        lines += ["#### With a reference recording of the speaker (\"Calibrate to my voice\", `--reference`)", "",
                  f"One neutral clip of each test speaker as the reference (not scored): mean UAR {reference_loco['mean_uar']:.1%} "
                  f"(reports/cv/{name}-reference-loco.json).", "",
                  "| test corpus | UAR | neutral recall | most predicted label |", "|---|---|---|---|",
                  *(f"| {UNSEEN_NAMES.get(c, c)} | {v['uar']:.1%} | {'-' if v['neutral_recall'] is None else format(v['neutral_recall'], '.0%')} "
                    f"| {v['top_share_label']} ({v['top_share']:.0%}) |" for c, v in reference_loco["corpora"].items()), ""]
    lines += [
        "## Limits", "",
        "- Acted speech recorded in quiet rooms ("
        + "; ".join(CORPUS_TEXTS.get(c, c) for c in data["corpora"]) + "): spontaneous speech, other "
        "languages, noise and other microphones are out of distribution and score lower (see the unseen-corpus numbers).",
        f"- Few speakers ({data['speakers']}: {data['female_speakers']} female, {data['male_speakers']} male"
        + (f", {unknown} of unknown gender" if (unknown := data['speakers'] - data['female_speakers'] - data['male_speakers']) else "") + "); "
        f"{data['male_clips'] / max(data['clips'], 1):.0%} of the training clips are male voices"
        + (" (both TESS speakers are women)." if "tess" in data["corpora"] else "."),
        "- Labels are the emotions the actors were asked to portray, not what a speaker feels. Calm and neutral differ mostly in "
        "arousal and are often confused (the app can merge them).",
        "- Not for decisions about people (hiring, health, policing, surveillance).", "",
        "## Licence", "",
        "Code: MIT licence (this project). Weights: non-commercial use only "
        f"({LICENSE}), because they are derived from " + " and ".join(CORPUS_LICENCES.get(c, c) for c in data["corpora"]) + ".", "",
    ]
    return "\n".join(lines)


