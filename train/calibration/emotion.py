"""Temperature scaling and the "unsure" threshold, both chosen under leave-one-corpus-out.

A model trained on acted studio speech is over-confident on other voices ("fearful, 90%" for a plain sentence). Dividing
its logits by a temperature T > 1 (Guo et al. 2017) softens every answer without changing which label is on top. Here T
is fitted on out-of-corpus predictions: for each test corpus, on the LOCO predictions of the *other* corpora (so the
corpus it is scored on never chose it), and for the shipped model on all of them. The unsure threshold is the
calibrated top probability below which, in those predictions, the answer was more often wrong than right.

    python -m train.calibration.emotion whisper-head-loco     # -> reports/cv/whisper-head-loco-calibrated.json (+ predictions)
"""

from __future__ import annotations

import argparse

import numpy as np

from ser.evaluation.metrics import restrict_probabilities
from ser.models.base import with_temperature
from train import common

FAR_PERCENTILE = 99.0  # novelty above this percentile of the training clips' counts as unlike them

TEMPERATURES = np.exp(np.linspace(np.log(0.5), np.log(32.0), 121))  # a grid: one parameter needs no optimiser
UNSURE_BINS = np.linspace(0.1, 0.95, 35)  # candidate thresholds on the calibrated top probability
MIN_SURE_CLIPS = 50  # a threshold must leave this many clips above it, or their accuracy says little
MIN_CORPUS_SURE_CLIPS = 20  # a corpus with fewer clips above a threshold does not decide it
CALIBRATED_SUFFIX = "-calibrated"
NOT_CHANGED_BY_TEMPERATURE = ("far_share", "accuracy_far", "accuracy_near", "not_scored")  # argmax and novelty stay


def restricted_nll(probs: np.ndarray, emotions: list[str], labels: list[str], allowed: set[str]) -> float:
    """Mean negative log-likelihood of the true labels over the labels a corpus has (as it is scored)."""
    kept, restricted = restrict_probabilities(probs, labels, allowed)
    picked = restricted[np.arange(len(emotions)), [kept.index(e) for e in emotions]]
    return float(-np.log(np.clip(picked, 1e-12, 1.0)).mean())


def fit_temperature(groups: list[tuple[np.ndarray, list[str], set[str]]], labels: list[str]) -> float:
    """The T minimising the summed NLL of `groups` (probabilities, true emotions, the corpus's labels): each corpus
    counts the same, whatever its size."""
    losses = [sum(restricted_nll(with_temperature(p, t), e, labels, a) for p, e, a in groups) for t in TEMPERATURES]
    return float(TEMPERATURES[int(np.argmin(losses))])


def plain_hits(probs: np.ndarray, emotions: list[str], labels: list[str], allowed: set[str]) -> np.ndarray:
    """Whether the app's answer (the argmax over every label) is right, counting calm as neutral in a corpus without
    calm (and neutral as calm in one without neutral): the app does not know which corpus a clip came from."""
    swap = {"calm": "neutral", "neutral": "calm"}
    guesses = [labels[i] for i in probs.argmax(axis=1)]
    return np.array([g == e or (g not in allowed and swap.get(g) == e) for g, e in zip(guesses, emotions)])


def unsure_threshold(top: np.ndarray, correct: np.ndarray, corpus: np.ndarray | None = None) -> float:
    """The smallest threshold t such that clips whose top probability is at least t were right at least half the time
    (and at least MIN_SURE_CLIPS of them): below it the answer is more likely wrong than right, so the app says
    'unsure'. With `corpus` (each clip's corpus), that must hold in every corpus with at least MIN_CORPUS_SURE_CLIPS
    clips above t: one large corpus (TESS's 2,800 clips) must not vouch for another whose confident answers are wrong.
    1.0 when no such t exists: on voices like these no confidence level tells right answers from wrong ones."""
    corpus = np.zeros(len(top), dtype=int) if corpus is None else np.asarray(corpus)
    for t in UNSURE_BINS:
        above = top >= t
        if above.sum() < MIN_SURE_CLIPS:
            continue
        rates = [correct[above & (corpus == c)].mean() for c in np.unique(corpus)
                 if (above & (corpus == c)).sum() >= min(MIN_CORPUS_SURE_CLIPS, MIN_SURE_CLIPS)]
        if rates and min(rates) >= 0.5:
            return float(t)
    return 1.0


def calibrate_row(name: str) -> dict | None:
    """The LOCO row `name` with its probabilities temperature-scaled (each corpus by a T fitted on the others), its
    scores recomputed, the temperature for the shipped model (fitted on every corpus) and the unsure threshold."""
    run, result = common.read_cv_predictions(name), common.read_cv_result(name)
    if run is None or result is None or result.get("protocol_id") != "loco":
        return None
    corpora = list(result["corpora"])
    has = {c: set(result["corpora"][c]["labels"]) for c in corpora}  # each corpus's own labels, as it was scored
    # the corpora in the order of their folds (a fold with no scored clip, e.g. URDU under a profile, is absent)
    fold_ids = dict(zip(corpora, dict.fromkeys(run.folds.tolist())))
    groups = {c: (run.probabilities[run.folds == k], [e for e, f in zip(run.emotions, run.folds) if f == k], has[c])
              for c, k in fold_ids.items()}
    predictions, per_corpus = [], {}
    for corpus, k in fold_ids.items():
        per_corpus[corpus] = fit_temperature([g for c, g in groups.items() if c != corpus], run.labels)
        probs = with_temperature(groups[corpus][0], per_corpus[corpus])
        here = run.folds == k
        predictions.append({"fold": k, "name": corpus, "indices": np.flatnonzero(here),
                            "clips": [c for c, h in zip(run.clips, here) if h], "emotions": groups[corpus][1],
                            "labels": run.labels, "probabilities": probs,
                            "train_corpora": result["corpora"][corpus]["train_corpora"]})
    records = [common.Record(c, corpus, e, "") for p in predictions for c, e, corpus in
               zip(p["clips"], p["emotions"], [p["name"]] * len(p["clips"]))]
    # cross_corpus_scores reads each fold's clips through "indices" into these records
    offset = 0
    for p in predictions:
        p["indices"] = np.arange(offset, offset + len(p["clips"]))
        offset += len(p["clips"])
    scores = common.cross_corpus_scores(predictions, records)
    for corpus, fold in zip(corpora, predictions):
        scores["corpora"][corpus]["speakers"] = result["corpora"][corpus]["speakers"]
        scores["corpora"][corpus] |= {k: v for k, v in result["corpora"][corpus].items() if k in NOT_CHANGED_BY_TEMPERATURE}
        scores["corpora"][corpus]["temperature"] = per_corpus[corpus]
    hits = {c: plain_hits(p["probabilities"], p["emotions"], run.labels, has[c]) for c, p in zip(corpora, predictions)}
    top = np.concatenate([p["probabilities"].max(axis=1) for p in predictions])
    temperature = fit_temperature(list(groups.values()), run.labels)
    threshold = unsure_threshold(top, np.concatenate(list(hits.values())),
                                 np.concatenate([[k] * len(p["probabilities"]) for k, p in enumerate(predictions)]))
    for corpus, fold in zip(corpora, predictions):
        unsure, right = fold["probabilities"].max(axis=1) < threshold, hits[corpus]
        scores["corpora"][corpus]["unsure_share"] = float(unsure.mean())
        scores["corpora"][corpus]["accuracy_unsure"] = float(right[unsure].mean()) if unsure.any() else None
        scores["corpora"][corpus]["accuracy_sure"] = float(right[~unsure].mean()) if (~unsure).any() else None
        scores["corpora"][corpus]["plain_accuracy"] = float(right.mean())  # the app's answer, as a visitor reads it
    # pooled over every clip: how often the label the app shows is right on corpora the model never heard
    scores["plain_accuracy"] = float(np.concatenate(list(hits.values())).mean())
    return {**scores, "train_time_s": result["train_time_s"], "eval_wall_time_s": result["eval_wall_time_s"],
            "temperature": temperature, "unsure_threshold": threshold, "calibrated_from": name, "predictions": predictions}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("rows", nargs="+", help="LOCO rows of reports/cv to calibrate")
    for name in parser.parse_args(argv).rows:
        result = calibrate_row(name)
        if result is None:
            raise SystemExit(f"reports/cv/{name}.json is not a leave-one-corpus-out row with per-clip predictions; run it first.")
        path = common.write_cv_result(name + CALIBRATED_SUFFIX, result)
        print(f"{name}: temperature {result['temperature']:.2f}, unsure below {result['unsure_threshold']:.2f}, "
              f"mean UAR {result['mean_uar']:.1%}; wrote {path}")


if __name__ == "__main__":
    main()
