"""Temperature scaling for the default model's gender output, fitted on voices it never heard, as the emotion's is.

The gender output learned from 4239 acted English clips, 17% of them male voices (both TESS speakers are women), and
says "female 100%" for voices unlike those. URDU and ASED name each speaker's gender and were never trained on: the
shipped model's gender answers on them choose one temperature T (each corpus counting the same, the grid and loss of
train/calibration/emotion.py); the report keeps accuracy and ECE before and after, per corpus and per gender, for the app to quote.

    python -m train.calibration.gender            # -> reports/gender_calibration.json
    python -m train.calibration.gender --ship     # ...and writes gender_temperature into the model's config.json
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from ser import settings
from ser.evaluation.corpora import DISPLAY_NAMES, load_clip, load_records
from ser.evaluation.metrics import expected_calibration_error
from ser.models import load_model, resolve
from ser.models.base import CONFIG_FILE, with_temperature
from train.calibration.emotion import TEMPERATURES

REPORT = settings.PROJECT_ROOT / "reports" / "gender_calibration.json"
UNSEEN_WITH_GENDER = ("urdu", "ased")  # corpora the shipped model never heard whose files name the speaker's gender
BATCH = 16


def gender_probabilities(model, records) -> np.ndarray:
    """The model's untempered gender probabilities (clips, genders)."""
    model.gender_temperature = 1.0
    out = []
    for first in range(0, len(records), BATCH):
        out.append(model.predict_details([load_clip(r.path) for r in records[first:first + BATCH]])[1])
        print(f"  {records[0].corpus}: {first + len(out[-1])} of {len(records)} clips", flush=True)
    return np.concatenate(out)


def nll(probs: np.ndarray, truth: np.ndarray) -> float:
    return float(-np.log(np.clip(probs[np.arange(len(truth)), truth], 1e-12, 1.0)).mean())


def scores(probs: np.ndarray, truth: np.ndarray) -> dict:
    right = probs.argmax(axis=1) == truth
    return {"n": int(len(truth)), "accuracy": float(right.mean()),
            "ece": expected_calibration_error(probs.max(axis=1), right), "mean_confidence": float(probs.max(axis=1).mean())}


def calibrate(model_ref: str | None = None, every: int = 1) -> dict:
    model = load_model(model_ref)
    if not model.gender_labels:
        raise SystemExit(f"{model.name} has no gender output.")
    started = time.time()
    groups = {}
    for corpus in UNSEEN_WITH_GENDER:
        records = [r for r in load_records([corpus]) if r.gender in model.gender_labels][::every]
        groups[corpus] = (gender_probabilities(model, records), np.array([model.gender_labels.index(r.gender) for r in records]))
    losses = [sum(nll(with_temperature(p, t), y) for p, y in groups.values()) for t in TEMPERATURES]
    temperature = float(TEMPERATURES[int(np.argmin(losses))])
    corpora = {}
    for corpus, (probs, truth) in groups.items():
        tempered = with_temperature(probs, temperature)
        corpora[corpus] = {"before": scores(probs, truth), "after": scores(tempered, truth),
                           "per_gender_accuracy": {g: float((probs.argmax(axis=1) == truth)[truth == i].mean())
                                                   for i, g in enumerate(model.gender_labels) if (truth == i).any()}}
    pooled_p = np.concatenate([with_temperature(p, temperature) for p, _ in groups.values()])
    pooled_y = np.concatenate([y for _, y in groups.values()])
    right = pooled_p.argmax(axis=1) == pooled_y
    per_gender = {g: float(right[pooled_y == i].mean()) for i, g in enumerate(model.gender_labels) if (pooled_y == i).any()}
    return {"model": model.name, "corpora": corpora, "temperature": temperature, "accuracy": float(right.mean()),
            "per_gender_accuracy": per_gender,
            "ece_after": expected_calibration_error(pooled_p.max(axis=1), pooled_p.argmax(axis=1) == pooled_y),
            "protocol": f"the shipped model's gender output on URDU and ASED (never trained on){'' if every == 1 else f', every {every}th clip'}; "
                        "one temperature minimising the negative log-likelihood, each corpus counting the same", "wall_time_s": round(time.time() - started, 1)}


def ship(report: dict, model_ref: str | None = None) -> None:
    """Write the fitted temperature into the model's config.json (weights and checksums are untouched)."""
    path = resolve(model_ref) / CONFIG_FILE
    config = json.loads(path.read_text())
    config["gender_temperature"] = report["temperature"]
    config["gender_unseen"] = {"accuracy": report["accuracy"], "per_gender_accuracy": report["per_gender_accuracy"],
                               "clips": sum(c["after"]["n"] for c in report["corpora"].values()),
                               "corpora": ", ".join(DISPLAY_NAMES[c] for c in report["corpora"]),
                               "protocol": f"{report['protocol']} ({REPORT.relative_to(settings.PROJECT_ROOT)})"}
    path.write_text(json.dumps(config, indent=2) + "\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="a shipped model (default: the default model)")
    parser.add_argument("--ship", action="store_true", help="write the temperature into the model's config.json")
    parser.add_argument("--every", type=int, default=1, help="use every n-th clip of each corpus (a quicker fit)")
    args = parser.parse_args(argv)
    report = calibrate(args.model, args.every)
    REPORT.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{report['model']}: gender temperature {report['temperature']:.2f}, accuracy {report['accuracy']:.1%} on "
          f"{', '.join(report['corpora'])}; wrote {REPORT.relative_to(settings.PROJECT_ROOT)}")
    if args.ship:
        ship(report, args.model)


if __name__ == "__main__":
    main()
