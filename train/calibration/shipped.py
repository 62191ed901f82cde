"""Give an already shipped model the default model's honesty signals without retraining it: the temperature and unsure
threshold that train/calibration/emotion.py fitted on its recipe's leave-one-corpus-out predictions, and the novelty threshold
("unlike its training") at the 99th percentile of its own training clips, as train/heads/whisper.py sets the default's.

    python -m train.calibration.emotion classic-mlp-loco          # first: reports/cv/classic-mlp-loco-calibrated.json
    python -m train.calibration.shipped classic-mlp       # -> its config.json and the card's unseen-corpus section

Only config.json and README.md change: the weights (and their checksums) stay as they are. A model whose recipe has no
LOCO row with per-clip predictions cannot be calibrated this way; the app labels it "not calibrated".
"""

from __future__ import annotations

import argparse
import json
import re
import time

import numpy as np

from ser.evaluation.corpora import load_clip, load_records
from ser.models import load_model, resolve
from ser.models.base import CONFIG_FILE
from train.cards.model_card import loco_lines, loco_summary
from train.calibration.emotion import FAR_PERCENTILE

BATCH = 32
CARD_LOCO_SECTION = re.compile(r"### On corpora it never heard.*?(?=\n## |\Z)", re.S)


def training_novelty(model, records) -> np.ndarray:
    """Each training clip's novelty under the model's own measure (`predict_details`' third output)."""
    out = []
    for first in range(0, len(records), BATCH):
        novelty = model.predict_details([load_clip(r.path) for r in records[first:first + BATCH]])[2]
        if novelty is None:
            raise SystemExit(f"{model.name} does not measure how unlike its training a clip is.")
        out.append(np.asarray(novelty))
    return np.concatenate(out)


def calibration(name: str) -> dict:
    """The config keys that give the model its temperature, unsure threshold, unseen-corpus scores and novelty threshold."""
    loco = loco_summary(name)
    if not loco or "temperature" not in loco:
        raise SystemExit(f"reports/cv/{name}-loco-calibrated.json is missing: run python -m train.calibration.emotion {name}-loco first.")
    model = load_model(name)
    data = model.config.get("training") or model.config.get("training_data") or {}
    records = load_records(data.get("corpora") or ("ravdess", "tess"))
    started = time.time()
    novelty = training_novelty(model, records)
    print(f"novelty of {len(records)} training clips in {time.time() - started:.0f} s")
    return {"unseen_corpora": loco, "temperature": loco["temperature"], "unsure_threshold": loco["unsure_threshold"],
            "far_threshold": float(np.percentile(novelty, FAR_PERCENTILE))}


def ship(name: str, keys: dict) -> None:
    folder = resolve(name)
    config = json.loads((folder / CONFIG_FILE).read_text())
    (folder / CONFIG_FILE).write_text(json.dumps({**config, **keys}, indent=2) + "\n")
    card = folder / "README.md"
    if card.exists():  # the unseen-corpus section now ends with the temperature and what the app says
        section = "\n".join(loco_lines(keys["unseen_corpora"])).rstrip("\n")
        card.write_text(CARD_LOCO_SECTION.sub(lambda _: section + "\n", card.read_text(), count=1))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="shipped models whose recipe has a calibrated LOCO row")
    for name in parser.parse_args(argv).models:
        keys = calibration(name)
        ship(name, keys)
        print(f"{name}: temperature {keys['temperature']:.2f}, unsure below {keys['unsure_threshold']:.2f}, "
              f"unlike its training above novelty {keys['far_threshold']:.2f}")


if __name__ == "__main__":
    main()
