"""eGeMAPS vectors of corpus clips (and of their augmented copies), computed once and kept on disk.

openSMILE takes about 0.1 s a clip, so the ~4,200 RAVDESS and TESS clips cost minutes; every later run (CV, the final
fit, the lesson report, the fusion row) reads them from `SER_CACHE_DIR/egemaps/`.

    python -m train.inputs.egemaps_features --corpora ravdess tess --augment speed0.9 speed1.1   # fill the cache ahead of time
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import numpy as np
from tqdm import tqdm

from ser import settings
from ser.evaluation.corpora import Record, load_clip, load_records
from ser.audio.egemaps import FEATURE_SET, N_FEATURES, OPENSMILE_VERSION, egemaps_features
from train.inputs.augment import AUGMENTATIONS, chosen_copies

CACHE_VERSION = "v1"  # bump when the preprocessing (trimming, feature set) changes, so stale vectors are not reused


def cache_path(record: Record, augment: str = "") -> Path:
    # Keyed by the clip's bytes (as train/heads/whisper.py's states): a corpus copied or restored elsewhere reuses it.
    digest = hashlib.sha1(Path(record.path).read_bytes()).hexdigest()
    key = hashlib.sha1(f"{CACHE_VERSION}|{FEATURE_SET}|{OPENSMILE_VERSION}|{digest}|{augment}".encode()).hexdigest()
    return settings.cache_dir() / "egemaps" / key[:2] / f"{key}.npy"


def cached_features(records: list[Record], augment: str = "") -> np.ndarray:
    """(clips, 88): the eGeMAPS vector of each clip, or of its augmented copy (a name from train.inputs.augment.AUGMENTATIONS)."""
    rows = np.zeros((len(records), N_FEATURES), dtype=np.float32)
    for i, record in enumerate(tqdm(records, desc=f"eGeMAPS ({augment or 'original'})", unit="clip", mininterval=10)):
        path = cache_path(record, augment)
        if path.exists():
            rows[i] = np.load(path, allow_pickle=False)
            continue
        wave = load_clip(record.path)  # TurEV-DB words run down to 0.35 s
        rows[i] = egemaps_features(AUGMENTATIONS[augment](wave) if augment else wave)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npy")
        np.save(tmp, rows[i])
        tmp.replace(path)  # never a half-written file for a parallel run to read
    return rows


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m train.inputs.egemaps_features", description=__doc__.splitlines()[0])
    parser.add_argument("--corpora", nargs="+", default=["ravdess", "tess"])
    parser.add_argument("--augment", nargs="*", default=[], help="copies of the RAVDESS clips too (train/inputs/augment.py names)")
    args = parser.parse_args(argv)
    records = load_records(args.corpora)
    cached_features(records)
    ravdess = [r for r in records if r.corpus == "ravdess"]
    for name in chosen_copies(args.augment):
        cached_features(ravdess, name)
    print(f"eGeMAPS of {len(records)} clips cached in {settings.cache_dir() / 'egemaps'}", file=sys.stderr)


if __name__ == "__main__":
    main()
