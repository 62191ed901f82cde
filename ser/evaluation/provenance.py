"""Is this clip by a speaker the model was trained on? Then its score says little about a new voice.

    origin = clip_origin("03-01-05-02-02-01-05.flac", model)   # None: not a corpus file name we know
    origin.record.speaker, origin.trained_on, origin.held_out   # ravdess-05, True, HeldOut(...angry 0.98...)

A clip is recognised by its file name (RAVDESS and TESS, the corpora the shipped models learn from, through the
`ser.evaluation.corpora` parsers). What a model was trained on comes from its config.json ("training_data": {"corpora": [...]} or
"datasets"), else from the corpus names in its model card's data section. `held_out` is what the same recipe said
when cross-validation had held that speaker out (`ser.evaluation.reports.held_out_predictions`), when the reports have it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, replace
from pathlib import Path

from ser.evaluation.corpora import DISPLAY_NAMES, CorpusError, Record, parse_ravdess, parse_tess
from ser.models.base import with_temperature as tempered
from ser.evaluation.reports import HeldOut, held_out_predictions

RECOGNISED = {"ravdess": parse_ravdess, "tess": parse_tess}
CARD_DATA_HEADING = re.compile(r"^#+\s*(training\s+)?data(sets?)?\b", re.I)


def identify(path: str | Path | None) -> Record | None:
    """The corpus record a file name follows (RAVDESS or TESS), or None."""
    if not path:
        return None
    for parse in RECOGNISED.values():
        try:
            return parse(Path(path).name)
        except CorpusError:
            continue
    return None


def _config_corpora(config: dict) -> set[str] | None:
    data = config.get("training_data") or config.get("datasets")
    if isinstance(data, dict):
        data = data.get("corpora") or data.get("datasets")
    if isinstance(data, str):
        data = [data]
    if isinstance(data, list) and data:
        return {str(name).lower() for name in data}
    return None


def _card_corpora(card: str) -> set[str] | None:
    """Corpus names mentioned in the card's Data / Training data section."""
    section, inside = [], False
    for line in card.splitlines():
        if line.startswith("#"):
            inside = bool(CARD_DATA_HEADING.match(line))
            continue
        if inside:
            section.append(line)
    text = "\n".join(section)
    found = {corpus for corpus, shown in DISPLAY_NAMES.items() if re.search(rf"\b{re.escape(shown)}\b", text, re.I)}
    return found or None


def training_corpora(model) -> set[str] | None:
    """The corpora a loaded model was trained on, or None when neither its config nor its card says."""
    corpora = _config_corpora(getattr(model, "config", {}) or {})
    if corpora is not None:
        return corpora
    folder = getattr(model, "model_dir", None)
    card = Path(folder) / "README.md" if folder else None
    if card is not None and card.is_file():
        return _card_corpora(card.read_text(encoding="utf-8", errors="replace"))
    return None


@dataclass(frozen=True)
class ClipOrigin:
    record: Record  # corpus, speaker, the emotion the actor was asked for
    trained_on: bool | None  # whether the model learned from this corpus (None: it does not say)
    held_out: HeldOut | None  # the same recipe's answer when cross-validation held this speaker out

    @property
    def corpus_name(self) -> str:
        return DISPLAY_NAMES.get(self.record.corpus, self.record.corpus)

    @property
    def speaker_name(self) -> str:
        """'actor 7' for RAVDESS, 'speaker YAF' for TESS."""
        speaker = self.record.speaker.split("-", 1)[1]
        return f"actor {int(speaker)}" if self.record.corpus == "ravdess" else f"speaker {speaker}"


def clip_origin(path: str | Path | None, model) -> ClipOrigin | None:
    """Where a clip comes from, judged by its file name, and what that means for `model`; None for other names."""
    record = identify(path)
    if record is None:
        return None
    corpora = training_corpora(model)
    trained_on = None if corpora is None else record.corpus in corpora
    held_out = held_out_predictions(getattr(model, "name", "")).get(Path(record.path).stem) if trained_on else None
    return ClipOrigin(record, trained_on, with_temperature(held_out, getattr(model, "temperature", 1.0)))


def with_temperature(held_out: HeldOut | None, temperature: float) -> HeldOut | None:
    """The held-out answer as the shipped model would show it: the report keeps the fold models' raw probabilities,
    the shipped model divides its logits by the temperature it was calibrated with (so 100% beside 40% compares alike)."""
    if held_out is None or temperature == 1.0:
        return held_out
    return replace(held_out, probs=tempered(held_out.probs, temperature))


def training_speaker_count(paths: list[str], model) -> int:
    """How many of `paths` are clips of corpora `model` says it was trained on (the CLI warns about them)."""
    corpora = training_corpora(model) or set()
    return sum(1 for path in paths if (record := identify(path)) is not None and record.corpus in corpora)


def training_speaker_note(paths: list[str], model) -> str | None:
    """The CLI's warning when some files are corpus recordings of speakers `model` was trained on, or None."""
    heard = training_speaker_count(paths, model)
    if not heard:
        return None
    return (f"Note: {heard} of {len(paths)} file(s) are corpus recordings of speakers {model.name} was trained on; "
            "their results say little about a new voice (its cross-validated scores do: README, 'How good is it?').")
