"""Corpus parsers on the real RAVDESS and TESS files and on generated SAVEE, CREMA-D and EmoDB files; folds; datasets."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from ser.evaluation import corpora as C
from ser.audio.load import SAMPLE_RATE, load_audio
from ser.labels import ALL_LABELS, BOREDOM, EMOTIONS

RAVDESS_FILES, TESS_FILES = 1440, 2799
CLIP_SECONDS = 0.6  # generated clips: just over the loader's 0.5 s minimum


@pytest.fixture(scope="module")
def ravdess(data_dir) -> list[C.Record]:
    return C.scan_corpus("ravdess", data_dir / "ravdess")


@pytest.fixture(scope="module")
def tess(data_dir) -> list[C.Record]:
    return C.scan_corpus("tess", data_dir / "tess")


@pytest.fixture
def write_clips(write_audio, make_tone):
    """`write_clips(folder, names, rate)`: a short real tone under each name (the parsers read names, the loader audio)."""

    def write(folder: str, names: list[str], rate: int = SAMPLE_RATE) -> None:
        for name in names:
            write_audio(f"{folder}/{name}", make_tone(seconds=CLIP_SECONDS, rate=rate), rate, format="WAV")

    return write


# --- RAVDESS and TESS: the real files --------------------------------------------------------------------------------


def test_ravdess_counts_labels_and_actors(ravdess):
    assert len(ravdess) == RAVDESS_FILES
    assert {r.corpus for r in ravdess} == {"ravdess"}
    # 60 clips per actor: neutral has no strong intensity, so half as many neutral clips as any other emotion
    assert Counter(r.emotion for r in ravdess) == {e: (96 if e == "neutral" else 192) for e in EMOTIONS}
    actors = Counter(r.speaker for r in ravdess)
    assert actors == {f"ravdess-{a:02d}": 60 for a in range(1, 25)}
    assert Counter(r.intensity for r in ravdess) == {"normal": 768, "strong": 672}
    assert Counter(r.statement for r in ravdess) == {"Kids are talking by the door": 720, "Dogs are sitting by the door": 720}


def test_ravdess_gender_odd_actors_are_male(ravdess):
    for record in ravdess:
        actor = int(record.speaker.split("-")[1])
        assert record.gender == ("male" if actor % 2 else "female"), record.path
    assert Counter(r.gender for r in ravdess) == {"male": 720, "female": 720}


def test_ravdess_name_fields():
    record = C.parse_ravdess("/x/Actor_13/03-01-06-02-01-02-13.flac")
    assert (record.emotion, record.intensity, record.statement, record.speaker, record.gender) == (
        "fearful", "strong", "Kids are talking by the door", "ravdess-13", "male",
    )
    assert C.parse_ravdess("03-01-08-01-02-01-24.wav").emotion == "surprised"


@pytest.mark.parametrize(
    "stem",
    ["03-02-01-01-01-01-01", "01-01-03-01-01-01-01", "03-01-09-01-01-01-01", "03-01-01-01-01-01", "03-01-1-01-01-01-01", "readme"],
)
def test_ravdess_rejects_song_video_and_malformed_names(stem):
    with pytest.raises(C.CorpusError, match="not a RAVDESS name"):
        C.parse_ravdess(f"{stem}.wav")


def test_tess_counts_speakers_and_surprise(tess):
    assert len(tess) == TESS_FILES
    assert Counter(r.speaker for r in tess) == {"tess-OAF": 1399, "tess-YAF": 1400}  # OAF_bite_neutral is missing upstream
    assert {r.gender for r in tess} == {"female"}
    expected = {e: 400 for e in EMOTIONS if e != "calm"} | {"neutral": 399}  # TESS has no calm
    assert Counter(r.emotion for r in tess) == expected
    surprised = [r for r in tess if r.emotion == "surprised"]
    assert all(r.path.endswith("_ps.flac") for r in surprised)  # "pleasant surprise" is the only surprise
    assert C.parse_tess("YAF_bite_ps.wav").emotion == "surprised"
    assert C.parse_tess("OAF_back_fear.flac").emotion == "fearful"
    assert C.parse_tess("OAF_back_fear.flac").statement == "back"


def test_real_corpora_load_together(ravdess, tess):
    records = C.load_records(("ravdess", "tess"))
    assert len(records) == RAVDESS_FILES + TESS_FILES
    assert {r.path for r in records} == {r.path for r in ravdess} | {r.path for r in tess}


# --- SAVEE, CREMA-D, EmoDB: generated files with the official names ----------------------------------------------------


def test_savee_names(write_clips, tmp_path):
    good = {"DC_a01.wav": "angry", "DC_d02.wav": "disgust", "JE_f03.wav": "fearful", "JK_h04.wav": "happy",
            "KL_n05.wav": "neutral", "KL_sa06.wav": "sad", "JE_su15.wav": "surprised"}
    bad = ["DC_x01.wav", "AB_a01.wav", "DC_a1.wav", "dc_a01.wav", "DC_s01.wav", "DC_a01.txt", "DC_a01.mp4"]
    write_clips("savee", [*good, *bad])
    records = C.scan_corpus("savee", tmp_path / "savee")
    assert {r.path.rsplit("/", 1)[1]: r.emotion for r in records} == good
    assert {r.gender for r in records} == {"male"}
    assert {r.speaker for r in records} == {"savee-DC", "savee-JE", "savee-JK", "savee-KL"}


def test_crema_d_names_and_gender_from_demographics(write_clips, write_bytes, tmp_path):
    good = {"1001_DFA_ANG_XX.wav": ("angry", "male", None), "1002_IEO_HAP_HI.wav": ("happy", "female", "high"),
            "1003_IWL_NEU_MD.wav": ("neutral", "female", "medium"), "1001_TIE_FEA_LO.wav": ("fearful", "male", "low"),
            "1091_MTI_SAD_XX.wav": ("sad", None, None), "1002_WSI_DIS_XX.wav": ("disgust", "female", None)}
    bad = ["1001_DFA_ANG.wav", "1001_DFA_CAL_XX.wav", "999_DFA_ANG_XX.wav", "1001_dfa_ANG_XX.wav"]
    write_clips("crema-d/AudioWAV", [*good, *bad])
    write_bytes("crema-d/VideoDemographics.csv",
                b"ActorID,Age,Sex,Race,Ethnicity\n1001,51,Male,Caucasian,Not Hispanic\n"
                b"1002,21,Female,Caucasian,Not Hispanic\n1003,21,Female,Caucasian,Not Hispanic\n")
    records = C.scan_corpus("crema-d", tmp_path / "crema-d")
    assert {r.path.rsplit("/", 1)[1]: (r.emotion, r.gender, r.intensity) for r in records} == good
    assert {r.speaker for r in records} == {"crema-1001", "crema-1002", "crema-1003", "crema-1091"}


def test_crema_d_without_demographics_has_no_gender(write_clips, tmp_path):
    write_clips("crema-d", ["1001_DFA_ANG_XX.wav"])
    assert [r.gender for r in C.scan_corpus("crema-d", tmp_path / "crema-d")] == [None]


def test_emodb_names_boredom_kept_then_filtered(write_clips, tmp_path, monkeypatch):
    good = {"03a01Wa.wav": ("angry", "male"), "08a02La.wav": (BOREDOM, "female"), "09b03Eb.wav": ("disgust", "female"),
            "10a04Ac.wav": ("fearful", "male"), "13a05Fd.wav": ("happy", "female"), "15b09Ta.wav": ("sad", "male"),
            "16b10Nb.wav": ("neutral", "female")}
    bad = ["03a01Xa.wav", "3a01Wa.wav", "03c01Wa.wav", "03a01WA.wav", "03a01Wa.txt"]
    write_clips("emodb", [*good, *bad])
    records = C.scan_corpus("emodb", tmp_path / "emodb")
    assert {r.path.rsplit("/", 1)[1]: (r.emotion, r.gender) for r in records} == good
    assert BOREDOM in ALL_LABELS and BOREDOM not in EMOTIONS

    monkeypatch.setenv("SER_DATA_DIR", str(tmp_path))  # load_records reads <data dir>/emodb
    eight = C.load_records(("emodb",))
    assert len(eight) == len(good) - 1 and BOREDOM not in {r.emotion for r in eight}
    assert len(C.load_records(("emodb",), labels=ALL_LABELS)) == len(good)


def test_scan_corpus_errors(tmp_path, monkeypatch):
    with pytest.raises(C.CorpusError, match="Unknown corpus 'iemocap'"):
        C.scan_corpus("iemocap")
    monkeypatch.setenv("SER_DATA_DIR", str(tmp_path))
    with pytest.raises(C.CorpusError, match="SER_DATA_DIR"):
        C.scan_corpus("savee")


# --- folds -------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def mixed_records(ravdess, tess) -> list[C.Record]:
    """The real corpora plus SAVEE and EmoDB records (names only), interleaved so order cannot hide a leak."""
    extra = [C.parse_savee("DC_a01.wav"), C.parse_savee("KL_n02.wav"), C.parse_emodb("03a01Wa.wav"), C.parse_emodb("16b10Nb.wav")]
    records = tess[:500] + ravdess[:700] + extra + tess[500:] + ravdess[700:]
    return records


def test_six_speaker_disjoint_folds(mixed_records):
    folds = C.actor_folds(mixed_records)
    assert len(folds) == C.RAVDESS_FOLDS == 6
    seen_in_test: dict[str, int] = {}
    for k, (train, test) in enumerate(folds):
        assert len(set(train) | set(test)) == len(mixed_records) and not set(train) & set(test)
        train_speakers = {mixed_records[i].speaker for i in train}
        test_speakers = {mixed_records[i].speaker for i in test}
        assert not train_speakers & test_speakers, f"fold {k} leaks a speaker"
        # actors 4k+1 .. 4k+4 and nobody else
        assert test_speakers == {f"ravdess-{a:02d}" for a in range(4 * k + 1, 4 * k + 5)}
        assert all(mixed_records[i].corpus == "ravdess" for i in test)
        assert len(test) == 4 * 60
        for speaker in test_speakers:
            assert speaker not in seen_in_test, f"{speaker} in test folds {seen_in_test[speaker]} and {k}"
            seen_in_test[speaker] = k
    assert sorted(seen_in_test) == [f"ravdess-{a:02d}" for a in range(1, 25)]  # every actor tested exactly once
    assert C.ravdess_fold("tess-OAF") is None and C.ravdess_fold("ravdess-24") == 5 and C.ravdess_fold("ravdess-01") == 0


@pytest.mark.parametrize("n_speakers", [1, 2, 3])
def test_validation_split_holds_out_whole_speakers(mixed_records, n_speakers):
    train, test = C.actor_folds(mixed_records)[2]
    fit, val = C.validation_split(mixed_records, train, n_speakers=n_speakers, seed=7)
    assert sorted(np.concatenate([fit, val])) == sorted(train)
    val_speakers = {mixed_records[i].speaker for i in val}
    fit_speakers = {mixed_records[i].speaker for i in fit}
    assert len(val_speakers) == n_speakers and not val_speakers & fit_speakers
    assert all(s.startswith("ravdess-") for s in val_speakers)
    assert not val_speakers & {mixed_records[i].speaker for i in test}
    assert len(val) == 60 * n_speakers  # every clip of the held-out speakers
    again, _ = C.validation_split(mixed_records, train, n_speakers=n_speakers, seed=7)
    np.testing.assert_array_equal(fit, again)  # reproducible


# --- datasets ---------------------------------------------------------------------------------------------------------


def test_build_dataset_labels_and_16k_waveforms(ravdess, tess, write_clips, tmp_path):
    import datasets

    write_clips("savee", ["JK_su01.wav"], rate=44100)  # decoded through the loader: comes back at 16 kHz
    records = [ravdess[0], ravdess[-1], tess[0], *C.scan_corpus("savee", tmp_path / "savee")]
    dataset = C.build_dataset(records)
    assert isinstance(dataset, datasets.Dataset) and len(dataset) == len(records)
    assert dataset.features["label"].names == list(EMOTIONS)
    assert dataset["label"] == [EMOTIONS.index(r.emotion) for r in records]
    assert dataset["speaker"] == [r.speaker for r in records]

    decoded = C.with_waveforms(dataset)
    for i, record in enumerate(records):
        wave = np.asarray(decoded[i]["waveform"])
        assert wave.dtype == np.float32 and wave.ndim == 1
        np.testing.assert_array_equal(wave, load_audio(record.path))
    assert len(decoded[3]["waveform"]) == pytest.approx(CLIP_SECONDS * SAMPLE_RATE, abs=1)
    batch = decoded[:2]["waveform"]
    assert len(batch) == 2 and all(np.asarray(w).size > SAMPLE_RATE for w in batch)


def test_build_dataset_refuses_labels_outside_its_set(write_clips, tmp_path):
    write_clips("emodb", ["08a02La.wav"])
    boredom = C.scan_corpus("emodb", tmp_path / "emodb")
    with pytest.raises(ValueError):
        C.build_dataset(boredom)
    assert C.build_dataset(boredom, labels=ALL_LABELS)["label"] == [ALL_LABELS.index(BOREDOM)]
