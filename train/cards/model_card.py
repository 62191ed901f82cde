"""The model card (README.md of a model folder, Hugging Face style) and the summaries that go into config.json:
what the model is, its data and licences, its cross-validated scores in and across corpora, and its limits.
"""

from __future__ import annotations

from ser.evaluation.corpora import Record
from ser.models.base import LICENSE
from train.common import other_precisions, other_seeds, read_cv_result

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
        summary |= {"temperature": calibrated["temperature"], "unsure_threshold": calibrated["unsure_threshold"],
                    "plain_accuracy": calibrated.get("plain_accuracy")}  # how often the app's answer was right there
    return summary


def loco_lines(loco: dict | None) -> list[str]:
    """The card's section on corpora the model never heard."""
    if not loco:
        return ["Not yet evaluated on corpora it never heard: `python -m train.evaluation.evaluate --models <name>-loco`.", ""]
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
        right = f" ({loco['plain_accuracy']:.1%} of the clips)" if loco.get("plain_accuracy") is not None else ""
        unsure = ("calls no answer sure: no confidence level was right more often than wrong on these corpora, so it says how "
                  f"often its answers were right there{right}" if loco["unsure_threshold"] >= 1.0
                  else f"says 'unsure' when the top probability is below {loco['unsure_threshold']:.0%}")
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
               profile: dict | None = None) -> str:
    """A Hugging Face style README.md: what it is, data, protocol and cross-validated scores, limits, licence."""

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
    lines += profile_lines(name, profile)
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




def profile_lines(name: str, profile: dict | None) -> list[str]:
    """The card's section on the voice-profile head: unseen-corpus rows with a profile beside the plain head's on the
    same clips, partial profiles, and the check for near-identical profile clips."""
    loco = (profile or {}).get("unseen_corpora")
    if not loco:
        return []
    plain = profile.get("plain_same_clips", {}).get("corpora", {})
    lines = ["#### With a voice profile of the speaker (\"Teach it your voice\", `--profile DIR`)", "",
             f"Each test speaker with at least two clips of every emotion of their corpus gives one clip per emotion as the "
             f"profile (not scored); their other clips are scored: mean UAR {loco['mean_uar']:.1%} with the profile against "
             f"{profile['plain_same_clips']['mean_uar']:.1%} for the plain head on the same clips "
             f"(reports/cv/{name}-profile-loco.json, {name}-profile-plain-loco.json).", "",
             "| test corpus | speakers | UAR with profile | UAR plain, same clips | neutral recall | most predicted label | ECE |",
             "|---|---|---|---|---|---|---|",
             *(f"| {UNSEEN_NAMES.get(c, c)} | {v['speakers']} | {v['uar']:.1%} | "
               f"{format(plain[c]['uar'], '.1%') if c in plain else '-'} | "
               f"{'-' if v['neutral_recall'] is None else format(v['neutral_recall'], '.0%')} | "
               f"{v['top_share_label']} ({v['top_share']:.0%}) | {v['ece']:.3f} |" for c, v in loco["corpora"].items()), ""]
    partial = profile.get("partial_uar", {})
    if partial:
        lines += ["With the app's moods only (neutral, happy, sad, angry; calm for neutral where a corpus has no neutral), "
                  "mean UAR by how many of them the profile holds: "
                  + ", ".join(f"{k} {v:.1%}" for k, v in sorted(partial.items())) + ".", ""]
    if "min_spread" in profile:
        lines += [f"A profile whose clips differ by less than {profile['min_spread']:.3f} (mean squared standardised difference) "
                  f"is called near-identical: on the training speakers, {profile['one_mood_flagged']:.0%} of four-clip sets of one "
                  f"mood and {profile['mixed_moods_flagged']:.0%} of one-clip-per-mood sets fall below it.", ""]
    return lines
