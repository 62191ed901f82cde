"""What the shipped model's config says about its voice-profile head (`config["profile"]`), read from the reports:
the unseen-corpus rows with a profile and of the plain head on the same clips, the temperature and unsure threshold
fitted on them, what a partial profile (1-3 of the app's 4 moods) scored, and the spread below which a profile's clips
count as "almost the same" (one mood read several times).
"""

from __future__ import annotations

import numpy as np
import torch

from ser.evaluation.corpora import Record
from ser.models.whisper_head import pairwise_spread
from ser.profile import PROFILE_MOODS, app_moods
from train.cards.model_card import loco_summary

PROFILE_ROW = "{name}-profile"  # <name>-profile-loco: one clip per emotion of the corpus per speaker (the protocol)
PLAIN_ROW = "{name}-profile-plain-loco"  # the plain head on the same clips
APP_ROW = "{name}-profile-app{size}-loco"  # the app's moods only, the first `size` of them ("" = all four)
SPREAD_DRAWS = 20  # profile-like sets drawn per training speaker and kind of set to choose the threshold
MIXED_FLAGGED = 0.05  # share of real one-clip-per-mood profiles (training speakers) the near-identical note may fire on


def spread_threshold(records: list[Record], vectors: np.ndarray, mean: np.ndarray, scale: np.ndarray,
                     seed: int = 0) -> dict:
    """The spread (as `WhisperHeadModel.profile_spread` measures it) below which four clips sound like one mood: the
    level under which only MIXED_FLAGGED of the training speakers' one-clip-per-mood sets fall; and how many four-clip
    sets of one mood fall below it too (how often the note catches one mood read four times)."""
    rng = np.random.default_rng(seed)
    z = (vectors - mean) / scale
    same, mixed = [], []
    for speaker in sorted({r.speaker for r in records}):
        rows = [i for i, r in enumerate(records) if r.speaker == speaker]
        moods = {m: [i for i in rows if records[i].emotion == m] for m in {records[i].emotion for i in rows}}
        app = app_moods(moods)
        if len(app) < len(PROFILE_MOODS):
            continue
        for _ in range(SPREAD_DRAWS):
            mood = rng.choice([m for m, clips in moods.items() if len(clips) >= len(PROFILE_MOODS)])
            same.append(pairwise_spread(z[rng.choice(moods[mood], size=len(PROFILE_MOODS), replace=False)]))
            mixed.append(pairwise_spread(z[[rng.choice(moods[m]) for m in app]]))
    same, mixed = np.array(same), np.array(mixed)
    # a visitor who did read four moods should rarely be told otherwise: the level that flags MIXED_FLAGGED of mixed sets
    best = float(np.quantile(mixed, MIXED_FLAGGED))
    return {"min_spread": best, "one_mood_flagged": float((same < best).mean()), "mixed_moods_flagged": float((mixed < best).mean()),
            "sets": int(len(same) + len(mixed)), "measured_on": "training speakers (one clip per app mood vs four clips of one mood)"}


def profile_config(name: str, head, records: list[Record], vectors: np.ndarray, seed: int = 0) -> dict:
    """config["profile"] for the model `name` whose plain head is `head`, from reports/cv and the training clips."""
    from train.common import read_cv_result  # train.common re-exports train.cards.model_card: import it late

    loco = loco_summary(PROFILE_ROW.format(name=name))
    plain = read_cv_result(PLAIN_ROW.format(name=name))
    partial = {}
    for size in range(1, len(PROFILE_MOODS) + 1):
        row = read_cv_result(APP_ROW.format(name=name, size=size if size < len(PROFILE_MOODS) else ""))
        if row:
            partial[str(size)] = row["mean_uar"]
    with torch.no_grad():
        spread = spread_threshold(records, vectors, head.mean.numpy(), head.scale.numpy(), seed)
    config = {"moods": list(PROFILE_MOODS), "clips": "one recording per mood, the same sentence", **spread,
              "partial_uar": partial, "unseen_corpora": loco}
    if plain:
        config["plain_same_clips"] = {"mean_uar": plain["mean_uar"], "corpora": {c: {"uar": v["uar"]} for c, v in plain["corpora"].items()}}
    if loco and "temperature" in loco:
        config |= {"temperature": loco["temperature"], "unsure_threshold": loco["unsure_threshold"]}
    return config
