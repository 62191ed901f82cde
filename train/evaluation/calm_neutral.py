"""Measure how calm and neutral differ in the voice of every RAVDESS actor: the lesson's report.

    python -m train.evaluation.calm_neutral          # -> reports/calm_neutral.json (eGeMAPS from the cache of train/egemaps_features)

Pairs: for each of the 24 actors, each statement (2) and repetition (2), the neutral clip and the calm clip at normal
intensity (neutral has no strong intensity): 4 pairs an actor, 96 in all. Per eGeMAPS parameter the calm-minus-neutral
difference is averaged within each actor, so every actor counts once; the effect size is the paired Cohen's d_z (mean
of the 24 actor differences over their standard deviation), with a 95% confidence interval from a bootstrap over actors
and a paired t-test's p-value. The app's lesson tab reads the report: no corpus pass at page load.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from ser import settings
from ser.evaluation.corpora import Record, load_records
from ser.audio.egemaps import describe, feature_names
from ser.evaluation.metrics import write_report
from train.inputs.egemaps_features import cached_features

REPORT = "calm_neutral.json"
BOOTSTRAP = 5000  # resamples of the 24 actors
CONFIDENCE = 0.95
TOP = 5  # parameters the lesson shows: the most separating, one per acoustic descriptor
SEED = 0


def matched_pairs(records: list[Record]) -> list[tuple[Record, Record]]:
    """(calm, neutral) clips of the same actor, statement and repetition, the calm one at normal intensity."""
    def key(r: Record) -> tuple[str, str, str]:
        return r.speaker, r.statement, Path(r.path).stem.split("-")[5]  # repetition RR

    neutral = {key(r): r for r in records if r.emotion == "neutral"}
    return [(r, neutral[key(r)]) for r in records
            if r.emotion == "calm" and r.intensity == "normal" and key(r) in neutral]


def paired_effects(diffs: np.ndarray, seed: int = SEED, resamples: int = BOOTSTRAP) -> dict[str, np.ndarray]:
    """For (actors, parameters) mean differences: d_z, its bootstrap CI over actors, and the paired t-test p-value."""
    from scipy import stats

    def d_z(d: np.ndarray) -> np.ndarray:
        sd = d.std(axis=-2, ddof=1)
        return np.divide(d.mean(axis=-2), sd, out=np.zeros_like(sd), where=sd > 0)

    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(diffs), size=(resamples, len(diffs)))
    boot = d_z(diffs[picks])  # (resamples, parameters)
    tail = (1 - CONFIDENCE) / 2 * 100
    return {"d_z": d_z(diffs), "ci_low": np.percentile(boot, tail, axis=0), "ci_high": np.percentile(boot, 100 - tail, axis=0),
            "p": stats.ttest_1samp(diffs, 0.0, axis=0).pvalue}


# Parameters that say the same thing about the voice count as one family: a lesson showing loudness's mean, median and
# 80th percentile would show one fact three times. MFCCs are left out of the lesson's choice: they describe the spectral
# envelope in a way no plain sentence makes clear (the report still ranks them).
FAMILIES = {
    "loudness": ("loudness_sma3", "equivalentSoundLevel"), "spectral flux": ("spectralFlux",),
    "spectral slope": ("slopeV", "slopeUV"), "spectral balance": ("alphaRatio", "hammarbergIndex"),
    "formant amplitude": ("amplitudeLogRelF0",), "formant frequency": ("frequency_sma3nz",), "formant bandwidth": ("bandwidth",),
    "pitch": ("F0semitone",), "harmonic differences": ("logRelF0-H1",), "jitter": ("jitter",), "shimmer": ("shimmer",),
    "harmonics-to-noise ratio": ("HNR",), "rhythm": ("PerSec", "SegmentLength"), "mfcc": ("mfcc",),
}
NOT_SHOWN = ("mfcc",)


def family(name: str) -> str:
    return next((f for f, parts in FAMILIES.items() if any(part in name for part in parts)), name)


def most_separating(names: list[str], d_z: np.ndarray, n: int = TOP) -> list[str]:
    """The `n` parameters with the largest |d_z|, at most one per family and none of the MFCCs."""
    chosen, families = [], set()
    for i in np.argsort(-np.abs(d_z), kind="stable"):
        f = family(names[i])
        if f not in families and f not in NOT_SHOWN:
            chosen.append(names[i])
            families.add(f)
        if len(chosen) == n:
            break
    return chosen


def build_report(records: list[Record], features: np.ndarray, names: list[str]) -> dict:
    """The report's content from RAVDESS records and their eGeMAPS rows (same order)."""
    row = {r.path: i for i, r in enumerate(records)}
    pairs = matched_pairs(records)
    actors = sorted({calm.speaker for calm, _ in pairs})
    calm_mean = np.stack([np.mean([features[row[c.path]] for c, _ in pairs if c.speaker == a], axis=0) for a in actors])
    neutral_mean = np.stack([np.mean([features[row[n.path]] for c, n in pairs if c.speaker == a], axis=0) for a in actors])
    effects = paired_effects(calm_mean - neutral_mean)
    top = most_separating(names, effects["d_z"])
    parameters = {}
    for j, name in enumerate(names):
        label, sentence = describe(name)
        diff = calm_mean[:, j] - neutral_mean[:, j]
        parameters[name] = {
            "label": label, "sentence": sentence, "d_z": float(effects["d_z"][j]),
            "ci95": [float(effects["ci_low"][j]), float(effects["ci_high"][j])], "p_paired_t": float(effects["p"][j]),
            "mean_calm": float(calm_mean[:, j].mean()), "mean_neutral": float(neutral_mean[:, j].mean()),
            "mean_difference": float(diff.mean()), "actors_calm_lower": int((diff < 0).sum()), "actors_calm_higher": int((diff > 0).sum()),
            "per_actor": {"calm": calm_mean[:, j].round(5).tolist(), "neutral": neutral_mean[:, j].round(5).tolist()},
        }
    ranked = sorted(names, key=lambda n: -abs(parameters[n]["d_z"]))
    return {
        "protocol": ("RAVDESS speech, every actor: the neutral clip and the normal-intensity calm clip of the same actor, "
                     "statement and repetition (4 pairs per actor); per eGeMAPS parameter the calm-minus-neutral difference is "
                     "averaged within each actor; effect size = paired Cohen's d_z over the actors (negative: calm lower), "
                     f"{CONFIDENCE:.0%} confidence interval by a bootstrap over actors ({BOOTSTRAP} resamples, seed {SEED}), "
                     "p-value of a paired t-test over the actors (not corrected for the 88 parameters tested); `top`: the most "
                     "separating parameter of each of the 5 most separating families of related parameters (MFCCs left out: no "
                     "plain sentence explains them)"),
        "features": "openSMILE eGeMAPSv02 functionals of each clip after trimming leading and trailing silence (ser.audio.egemaps)",
        "actors": actors, "pairs": len(pairs),
        "top": top, "ranked": ranked[:20], "parameters": parameters,
    }


def main(argv: list[str] | None = None) -> None:
    started = time.time()
    records = load_records(["ravdess"], labels=("calm", "neutral"))
    report = build_report(records, cached_features(records), feature_names())
    path = write_report(report, REPORT, command="python -m train.evaluation.calm_neutral")
    for name in report["top"]:
        p = report["parameters"][name]
        print(f"{p['label']:<40} d_z {p['d_z']:+.2f} [{p['ci95'][0]:+.2f}, {p['ci95'][1]:+.2f}], calm lower for "
              f"{p['actors_calm_lower']} of {len(report['actors'])} actors")
    print(f"wrote {path} in {time.time() - started:.0f} s")


if __name__ == "__main__":
    main()
