"""The calm-vs-neutral lesson's clips, chosen from what the cross-validated model really did, and what their plots show.

A pair is one RAVDESS actor saying one statement (same repetition) neutrally and calmly, both at normal intensity
(neutral has no strong version): `03-01-01-01-SS-RR-AA` and `03-01-02-01-SS-RR-AA`. From a row's out-of-fold
predictions (`reports/cv/<row>.predictions.csv`: each clip scored by a model that had not heard its actor) the lesson
takes the pair whose neutral clip was most surely heard as calm, the pair whose calm clip was most surely heard as
neutral, and the pair both of whose clips were most surely right, each from a different actor.

    python -m ser.teaching.pairs          # which clips, and whether assets/examples has them
    python -m ser.teaching.pairs --copy   # copy the missing ones from SER_DATA_DIR (16-kHz FLAC, ~70 KB each)
"""

from __future__ import annotations

import argparse
import math
import shutil
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

from ser import settings
from ser.evaluation.reports import HeldOut, held_out_predictions
from ser.audio.voice import VoiceSummary

NEUTRAL, CALM = "neutral", "calm"
NEUTRAL_HEARD_AS_CALM = "neutral heard as calm"
CALM_HEARD_AS_NEUTRAL = "calm heard as neutral"
BOTH_RIGHT = "both right"
KINDS = (NEUTRAL_HEARD_AS_CALM, CALM_HEARD_AS_NEUTRAL, BOTH_RIGHT)  # the lesson's order
# differences smaller than these are "about the same" in the lesson's sentences (below what a listener would notice)
SAME_DB, SAME_SECONDS, SAME_PITCH_RATIO, SAME_SEMITONES = 1.0, 0.15, 0.03, 1.0


@dataclass(frozen=True)
class CalmNeutralPair:
    actor: int
    statement: str  # "01" or "02" (ser.evaluation.corpora.RAVDESS_STATEMENTS)
    repetition: str
    neutral: HeldOut
    calm: HeldOut
    kind: str = ""  # one of KINDS once chosen

    @property
    def clips(self) -> tuple[str, str]:
        """(neutral, calm) file stems."""
        return self.neutral.clip, self.calm.clip

    def order(self) -> tuple[str, str]:
        """("neutral", "calm") or the reverse: which is clip A and which clip B. Fixed per pair, and not always the same
        way round, so a class cannot learn the answer from the position."""
        return (CALM, NEUTRAL) if zlib.crc32(self.calm.clip.encode()) % 2 else (NEUTRAL, CALM)

    def clip(self, emotion: str) -> HeldOut:
        return self.neutral if emotion == NEUTRAL else self.calm


def ravdess_name(emotion_code: str, statement: str, repetition: str, actor: int) -> str:
    return f"03-01-{emotion_code}-01-{statement}-{repetition}-{actor:02d}"


def all_pairs(predictions: dict[str, HeldOut]) -> list[CalmNeutralPair]:
    """Every (actor, statement, repetition) whose neutral and normal-intensity calm clips both have a prediction."""
    pairs = []
    for actor in range(1, 25):
        for statement in ("01", "02"):
            for repetition in ("01", "02"):
                neutral = predictions.get(ravdess_name("01", statement, repetition, actor))
                calm = predictions.get(ravdess_name("02", statement, repetition, actor))
                if neutral is not None and calm is not None and neutral.emotion == NEUTRAL and calm.emotion == CALM:
                    pairs.append(CalmNeutralPair(actor, statement, repetition, neutral, calm))
    return pairs


def _strength(pair: CalmNeutralPair, kind: str) -> float | None:
    """How surely the pair shows `kind`; None when it does not show it at all."""
    if kind == NEUTRAL_HEARD_AS_CALM:
        return pair.neutral.prob(CALM) if pair.neutral.top[0] == CALM else None
    if kind == CALM_HEARD_AS_NEUTRAL:
        return pair.calm.prob(NEUTRAL) if pair.calm.top[0] == NEUTRAL else None
    if pair.neutral.top[0] == NEUTRAL and pair.calm.top[0] == CALM:
        return min(pair.neutral.prob(NEUTRAL), pair.calm.prob(CALM))
    return None


def choose_pairs(predictions: dict[str, HeldOut]) -> list[CalmNeutralPair]:
    """The lesson's pairs, one per kind in KINDS that the predictions show, each from a different actor."""
    chosen, actors = [], set()
    candidates = all_pairs(predictions)
    for kind in KINDS:
        scored = [(s, p) for p in candidates if p.actor not in actors and (s := _strength(p, kind)) is not None]
        if scored:
            _, best = min(scored, key=lambda sp: (-sp[0], sp[1].actor, sp[1].statement, sp[1].repetition))
            chosen.append(CalmNeutralPair(best.actor, best.statement, best.repetition, best.neutral, best.calm, kind))
            actors.add(best.actor)
    return chosen


def lesson_pairs(model_name: str) -> list[CalmNeutralPair]:
    """`choose_pairs` on the out-of-fold predictions the reports keep for `model_name` ([] when there are none)."""
    return choose_pairs(held_out_predictions(model_name))


def clip_file(stem: str) -> Path:
    """Where the app keeps a lesson clip."""
    return settings.EXAMPLES_DIR / f"{stem}.flac"


def corpus_file(stem: str) -> Path:
    return settings.data_dir() / "ravdess" / f"Actor_{stem[-2:]}" / f"{stem}.flac"


# --- what the plots of a pair show --------------------------------------------------------------------------------

def _compare(delta: float, same: float, more: str, less: str, same_text: str) -> str:
    if math.isnan(delta) or abs(delta) < same:
        return same_text
    return more if delta > 0 else less


def describe_difference(calm: VoiceSummary, neutral: VoiceSummary, calm_name: str = "the calm clip",
                        neutral_name: str = "the neutral clip") -> str:
    """One sentence on how the calm clip differs from the neutral one in the four numbers shown beside the plots."""
    loud = calm.loudness_dbfs - neutral.loudness_dbfs
    longer = calm.speech_s - neutral.speech_s
    pitch = math.log(calm.mean_pitch_hz / neutral.mean_pitch_hz) if calm.mean_pitch_hz > 0 < neutral.mean_pitch_hz else math.nan
    span = calm.pitch_range_semitones - neutral.pitch_range_semitones
    parts = [
        _compare(loud, SAME_DB, f"{loud:.0f} dB louder", f"{-loud:.0f} dB softer", "about as loud"),
        _compare(longer, SAME_SECONDS, f"{longer:.1f} s longer", f"{-longer:.1f} s shorter", "about as long"),
        _compare(pitch, SAME_PITCH_RATIO, f"higher in pitch ({calm.mean_pitch_hz:.0f} Hz on average against "
                 f"{neutral.mean_pitch_hz:.0f} Hz)", f"lower in pitch ({calm.mean_pitch_hz:.0f} Hz on average against "
                 f"{neutral.mean_pitch_hz:.0f} Hz)", "at about the same mean pitch"),
        _compare(span, SAME_SEMITONES, f"with a wider pitch range ({calm.pitch_range_semitones:.0f} semitones against "
                 f"{neutral.pitch_range_semitones:.0f})", f"with a narrower pitch range ({calm.pitch_range_semitones:.0f} "
                 f"semitones against {neutral.pitch_range_semitones:.0f})", "with a similar pitch range"),
    ]
    same = sum(part.startswith(("about", "at about", "with a similar")) for part in parts)
    sentence = f"Against {neutral_name}, {calm_name} is {parts[0]}, {parts[1]}, {parts[2]}, {parts[3]}."
    if same >= 3:
        sentence += " On these measures the two clips hardly differ: there is little for a listener or a model to go on."
    return sentence


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ser.teaching.pairs", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=settings.DEFAULT_MODEL, help="the cross-validated row (default %(default)s)")
    parser.add_argument("--copy", action="store_true", help="copy missing clips from SER_DATA_DIR into assets/examples")
    args = parser.parse_args(argv)
    pairs = lesson_pairs(args.model)
    if not pairs:
        print(f"reports/cv/{args.model}.predictions.csv has no calm/neutral pairs.", file=sys.stderr)
        return 1
    missing = 0
    for pair in pairs:
        print(f"{pair.kind}: actor {pair.actor}, statement {pair.statement}, repetition {pair.repetition}")
        for held in (pair.neutral, pair.calm):
            target = clip_file(held.clip)
            if not target.exists() and args.copy:
                shutil.copyfile(corpus_file(held.clip), target)
            label, prob = held.top
            state = "in assets/examples" if target.exists() else "MISSING from assets/examples"
            missing += not target.exists()
            print(f"  {held.clip} ({held.emotion}): heard as {label} {prob:.0%} by fold {held.fold}; {state}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())
