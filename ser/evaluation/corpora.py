"""Emotional speech corpora: file-name parsers, a `datasets.Dataset` builder, and speaker-disjoint folds.

Labels come from the file names exactly as in each official release (see `../shared/data/README.md`).
"""

from __future__ import annotations

import csv
import re
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Iterable

import numpy as np

from ser import labels as L
from ser import settings

AUDIO_SUFFIXES = (".wav", ".flac")
RAVDESS_FOLDS = 6  # 6 folds of 4 consecutive actors: 1-4, 5-8, ..., 21-24
ACTORS_PER_FOLD = 4
RAVDESS_STATEMENTS = {"01": "Kids are talking by the door", "02": "Dogs are sitting by the door"}
EMODB_FEMALE = {"08", "09", "13", "14", "16"}  # the other five EmoDB speakers (03 10 11 12 15) are male


class CorpusError(ValueError):
    """A file name that does not follow its corpus's convention, or a corpus folder that is missing."""


@dataclass(frozen=True)
class Record:
    path: str
    corpus: str
    emotion: str
    speaker: str
    gender: str | None = None
    intensity: str | None = None
    statement: str | None = None


def parse_ravdess(path: str | Path) -> Record:
    """`03-01-EE-II-SS-RR-AA`: audio-only speech; emotion, intensity, statement, repetition, actor (odd = male)."""
    stem = Path(path).stem
    parts = stem.split("-")
    # 03-01 = audio-only speech; 03-02 is the song set, whose clips must not slip into the speech corpus
    if len(parts) != 7 or parts[:2] != ["03", "01"] or not all(p.isdigit() and len(p) == 2 for p in parts) \
            or parts[2] not in L.RAVDESS_CODES:
        raise CorpusError(f"{stem!r} is not a RAVDESS name (03-01-EE-II-SS-RR-AA)")
    actor = int(parts[6])
    return Record(
        path=str(path), corpus="ravdess", emotion=L.RAVDESS_CODES[parts[2]], speaker=f"ravdess-{actor:02d}",
        gender="male" if actor % 2 else "female", intensity={"01": "normal", "02": "strong"}.get(parts[3]),
        statement=RAVDESS_STATEMENTS.get(parts[4]),
    )


def parse_tess(path: str | Path) -> Record:
    """`{OAF|YAF}_<word>_<emotion>`: two women; `ps` is pleasant surprise."""
    match = re.fullmatch(r"(OAF|YAF)_(\w+?)_(angry|disgust|fear|happy|neutral|ps|sad)", Path(path).stem, re.IGNORECASE)
    if not match:
        raise CorpusError(f"{Path(path).stem!r} is not a TESS name (OAF|YAF_word_emotion)")
    speaker, word, emotion = match.groups()
    return Record(str(path), "tess", L.TESS_CODES[emotion.lower()], f"tess-{speaker.upper()}", "female", None, word.lower())


def parse_savee(path: str | Path) -> Record:
    """`{DC|JE|JK|KL}_<code><nn>`: four male speakers; codes a d f h n sa su."""
    match = re.fullmatch(r"(DC|JE|JK|KL)_(sa|su|a|d|f|h|n)(\d{2})", Path(path).stem)
    if not match:
        raise CorpusError(f"{Path(path).stem!r} is not a SAVEE name (DC_a01)")
    speaker, code, number = match.groups()
    return Record(str(path), "savee", L.SAVEE_CODES[code], f"savee-{speaker}", "male", None, number)


def parse_crema(path: str | Path, genders: dict[str, str] | None = None) -> Record:
    """`<actor>_<sentence>_<EMO>_<level>`: actors 1001-1091; gender only from the demographics CSV."""
    match = re.fullmatch(r"(1\d{3})_([A-Z]{3})_(ANG|DIS|FEA|HAP|NEU|SAD)_(LO|MD|HI|XX|X)", Path(path).stem)
    if not match:
        raise CorpusError(f"{Path(path).stem!r} is not a CREMA-D name (1001_DFA_ANG_XX)")
    actor, sentence, emotion, level = match.groups()
    intensity = {"LO": "low", "MD": "medium", "HI": "high"}.get(level)
    gender = (genders or {}).get(actor)
    return Record(str(path), "crema-d", L.CREMA_CODES[emotion], f"crema-{actor}", gender, intensity, sentence)


def parse_emodb(path: str | Path) -> Record:
    """`<ss><ttt><E><v>` e.g. `03a01Wa`: speaker, text code, emotion letter (L = boredom), version."""
    match = re.fullmatch(r"(\d{2})([ab]\d{2})([WLEAFTN])([a-z])", Path(path).stem)
    if not match:
        raise CorpusError(f"{Path(path).stem!r} is not an EmoDB name (03a01Wa)")
    speaker, text, code, _ = match.groups()
    gender = "female" if speaker in EMODB_FEMALE else "male"
    return Record(str(path), "emodb", L.EMODB_CODES[code], f"emodb-{speaker}", gender, None, text)


def parse_urdu(path: str | Path) -> Record:
    """`<Emotion>/S<g><n>_F<k>_<E><m>` e.g. `Angry/SM1_F10_A010`: speaker S{M|F}<n>, emotion letter A H N S (the running
    number's zero-padding varies, so it is matched by pattern, not width)."""
    match = re.fullmatch(r"(S([MF])\d+)_F\d+_([AHNS])\d+", Path(path).stem)
    if not match:
        raise CorpusError(f"{Path(path).stem!r} is not an URDU name (SM1_F10_A010)")
    speaker, sex, code = match.groups()
    return Record(str(path), "urdu", L.URDU_CODES[code], f"urdu-{speaker}", "male" if sex == "M" else "female")


def parse_turev(path: str | Path) -> Record:
    """`<spk>_<code>_<word>` e.g. `1157_kz_acik`: 4-digit speaker, code kz (angry) sk (calm) mt (happy) hl (sad), the
    Turkish word. The release gives no speaker genders."""
    match = re.fullmatch(r"(\d{4})_(kz|sk|mt|hl)_(\w+)", Path(path).stem, re.IGNORECASE)
    if not match:
        raise CorpusError(f"{Path(path).stem!r} is not a TurEV-DB name (1157_kz_acik)")
    speaker, code, word = match.groups()
    return Record(str(path), "turev", L.TUREV_CODES[code.lower()], f"turev-{speaker}", None, None, word.lower())


def parse_ased(path: str | Path) -> Record:
    """`<e><n>-<ss>-<rr>-<gg>-<bb>` e.g. `n1-01-01-01-01`: emotion letter n f h s a (either case), folder number, sentence,
    repetition, gender (01 female, 02 male), speaker. The speaker is `bb` alone (a few files disagree on `gg`)."""
    match = re.fullmatch(r"([nfhsa])\d-(\d{2})-(\d{2})-(0[12])-(\d{2})", Path(path).stem, re.IGNORECASE)
    if not match:
        raise CorpusError(f"{Path(path).stem!r} is not an ASED name (n1-01-01-01-01)")
    code, sentence, _, gender, speaker = match.groups()
    return Record(str(path), "ased", L.ASED_CODES[code.lower()], f"ased-{speaker}", "female" if gender == "01" else "male",
                  None, sentence)


PARSERS: dict[str, Callable[[str | Path], Record]] = {
    "ravdess": parse_ravdess, "tess": parse_tess, "savee": parse_savee, "crema-d": parse_crema, "emodb": parse_emodb,
    "urdu": parse_urdu, "turev": parse_turev, "ased": parse_ased,
}
FOLDER_NAMES = {corpus: corpus for corpus in PARSERS}
DISPLAY_NAMES = {"ravdess": "RAVDESS", "tess": "TESS", "savee": "SAVEE", "crema-d": "CREMA-D", "emodb": "EmoDB",
                 "urdu": "URDU", "turev": "TurEV-DB", "ased": "ASED"}  # as the corpora's authors write them


def _crema_genders(root: Path) -> dict[str, str]:
    """Read `VideoDemographics.csv` (ActorID, Sex) when the user downloaded it beside the clips."""
    for csv_path in root.rglob("VideoDemographics.csv"):
        with open(csv_path, newline="") as handle:
            return {row["ActorID"]: row["Sex"].lower() for row in csv.DictReader(handle) if row.get("Sex")}
    return {}


def scan_corpus(corpus: str, root: str | Path | None = None) -> list[Record]:
    """Every parsable clip of one corpus under `root` (default `<data dir>/<corpus>`), sorted by path."""
    if corpus not in PARSERS:
        raise CorpusError(f"Unknown corpus {corpus!r}; known: {', '.join(PARSERS)}")
    root = Path(root) if root is not None else settings.data_dir() / FOLDER_NAMES[corpus]
    if not root.is_dir():
        raise CorpusError(f"Corpus folder {root} not found; set SER_DATA_DIR to where your corpora are.")
    parse = PARSERS[corpus]
    if corpus == "crema-d":
        genders = _crema_genders(root)
        parse = lambda p: parse_crema(p, genders)  # noqa: E731
    records = []
    for path in sorted(root.rglob("*")):
        if path.suffix.lower() in AUDIO_SUFFIXES:
            try:
                records.append(parse(path))
            except CorpusError:
                continue  # stray files (e.g. song clips, notes) are not part of the corpus
    return records


def load_records(corpora: Iterable[str] = ("ravdess", "tess"), labels: tuple[str, ...] = L.EMOTIONS) -> list[Record]:
    """Clips of several corpora whose emotion is in `labels` (EmoDB boredom drops out of the 8-class set)."""
    return [r for c in corpora for r in scan_corpus(c) if r.emotion in labels]


def ravdess_fold(speaker: str) -> int | None:
    """Test fold (0-5) of a RAVDESS actor; None for other corpora, which only ever train."""
    if not speaker.startswith("ravdess-"):
        return None
    return (int(speaker.split("-")[1]) - 1) // ACTORS_PER_FOLD


def actor_folds(records: list[Record], n_folds: int = RAVDESS_FOLDS) -> list[tuple[np.ndarray, np.ndarray]]:
    """Speaker-disjoint (train indices, test indices) per fold: RAVDESS actors 1-4, 5-8, ... are the test folds;
    every other corpus's speakers stay in training, so no speaker is ever on both sides."""
    folds = np.array([-1 if (f := ravdess_fold(r.speaker)) is None else f for r in records])
    return [(np.flatnonzero(folds != k), np.flatnonzero(folds == k)) for k in range(n_folds)]


def validation_split(records: list[Record], indices: np.ndarray, n_speakers: int = 2, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Split training indices into (train, validation) by RAVDESS speaker, for early stopping without test leakage."""
    speakers = sorted({records[i].speaker for i in indices if records[i].corpus == "ravdess"})
    rng = np.random.default_rng(seed)
    held = set(rng.choice(speakers, size=min(n_speakers, len(speakers)), replace=False)) if speakers else set()
    is_val = np.array([records[i].speaker in held for i in indices], dtype=bool)
    return indices[~is_val], indices[is_val]


def build_dataset(records: list[Record], labels: tuple[str, ...] = L.EMOTIONS):
    """An HF `datasets.Dataset` of the records: an `audio` column (16-kHz, decoded with our soundfile loader on access,
    no torchcodec needed) and `label` as a `ClassLabel` over `labels`."""
    import datasets

    rows = [asdict(r) for r in records]
    features = datasets.Features({
        "audio": datasets.Value("string"),
        "label": datasets.ClassLabel(names=list(labels)),
        "corpus": datasets.Value("string"), "speaker": datasets.Value("string"), "gender": datasets.Value("string"),
        "intensity": datasets.Value("string"), "statement": datasets.Value("string"),
    })
    table = {
        "audio": [r["path"] for r in rows],
        "label": [labels.index(r["emotion"]) for r in rows],
        **{key: [r[key] for r in rows] for key in ("corpus", "speaker", "gender", "intensity", "statement")},
    }
    dataset = datasets.Dataset.from_dict(table, features=features)
    # paths cast to Audio without encoding: datasets would otherwise need torchcodec just to build the table
    return dataset.cast_column("audio", datasets.Audio(sampling_rate=16000, decode=False))


def load_clip(path: str | Path, **kwargs) -> np.ndarray:
    """A corpus clip as the loader gives any audio, but without the app's 0.5-s minimum: TurEV-DB's single words
    run down to 0.35 s, and corpus clips are known to be speech."""
    from ser.audio.load import load_audio

    return load_audio(path, min_seconds=0.0, **kwargs)


def with_waveforms(dataset):
    """Attach a transform that decodes `audio` into a float32 16-kHz `waveform` with `ser.audio.load.load_audio`."""
    def decode(batch):
        batch["waveform"] = [load_clip(a["path"]) for a in batch["audio"]]
        return batch

    return dataset.with_transform(decode)
