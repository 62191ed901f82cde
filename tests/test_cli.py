"""`python -m ser predict` run as a subprocess, as a user runs it, on real RAVDESS audio in every supported format.

Each CLI run loads the default model (several seconds), so a few runs are shared by module-scoped fixtures:
  mixed   - a folder of flac/wav/ogg/mp3 (one in a subfolder) with a text file named .wav, a missing path, a glob matching nothing
  globbed - quoted glob patterns, --merge-calm-neutral, CSV on stdout, a Hub id that cannot be fetched offline
  timed   - --timeline on a ~13-s recording (RAVDESS clips joined), the default table on stdout
  timed_csv, long_row - the same recording as a CSV timeline, and as one JSON row
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import soxr

from ser import settings
from ser.audio.load import SAMPLE_RATE, load_audio, trim_silence
from ser.labels import CALM_NEUTRAL
from ser.inference import unsure_threshold
from ser.models import load_model, resolve
from ser.models.base import read_config

CLIPS = ["Actor_01/03-01-05-02-01-01-01.flac", "Actor_02/03-01-03-01-02-01-02.flac", "Actor_03/03-01-04-02-01-02-03.flac"]
BROKEN = "broken.wav"
MISSING = "no/such/file.wav"
NO_MATCH = "nothing-*.flac"
OFFLINE_HUB_ID = "nobody-here/no-such-ser-model"


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    # PYTHONPATH: runs from another folder find the package as an installed one would be found
    path = os.pathsep.join(filter(None, [str(settings.PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": path, **(env or {})}
    return subprocess.run([sys.executable, "-m", "ser", *args], capture_output=True, text=True, timeout=300,
                          cwd=cwd or settings.PROJECT_ROOT, env=env)


@pytest.fixture(scope="module")
def labels() -> list[str]:
    """The default model's labels, read from its config (the CLI must give one column per label)."""
    return list(read_config(resolve(None))["labels"])


@pytest.fixture(scope="module")
def genders() -> list[str]:
    """The default model's gender labels: the CLI gives the gender columns the app shows (none without a gender head)."""
    return list(read_config(resolve(None)).get("gender_labels") or [])


def gender_columns(genders: list[str]) -> list[str]:
    return ["gender", *genders] if genders else []


@pytest.fixture(scope="module")
def clip_paths(data_dir) -> list[Path]:
    return [data_dir / "ravdess" / c for c in CLIPS]


@pytest.fixture(scope="module")
def audio_folder(tmp_path_factory, clip_paths) -> Path:
    """One real clip in four containers, at different rates and channel counts, plus a text file posing as a WAV."""
    folder = tmp_path_factory.mktemp("audio")
    wave = load_audio(clip_paths[0])
    (folder / "nested").mkdir()
    (folder / "clip.flac").write_bytes(clip_paths[0].read_bytes())
    sf.write(folder / "clip.wav", wave, SAMPLE_RATE, subtype="PCM_16")  # the FLAC is 16-bit: this copy is lossless
    stereo = soxr.resample(wave, SAMPLE_RATE, 22050)
    sf.write(folder / "clip.ogg", np.stack([stereo, 0.5 * stereo], axis=1), 22050)  # stereo, 22.05 kHz
    sf.write(folder / "nested" / "clip.mp3", soxr.resample(wave, SAMPLE_RATE, 44100), 44100)  # 44.1 kHz, in a subfolder
    (folder / BROKEN).write_text("this is a text file, not audio\n")
    (folder / "notes.txt").write_text("not audio either, and not named like audio: skipped\n")
    return folder


@pytest.fixture(scope="module")
def mixed(audio_folder, tmp_path_factory):
    out = tmp_path_factory.mktemp("out") / "rows.json"  # the format follows the suffix
    result = run_cli("predict", str(audio_folder), MISSING, NO_MATCH, "--out", str(out))
    return result, json.loads(out.read_text()) if out.exists() else None


@pytest.fixture(scope="module")
def globbed(audio_folder):
    result = run_cli("predict", str(audio_folder / "*.flac"), str(audio_folder / "**" / "*.mp3"), "--format", "csv",
                     "--merge-calm-neutral", "--model", OFFLINE_HUB_ID, env={"HF_HOME": str(audio_folder / "hf-home")})
    return result, list(csv.DictReader(io.StringIO(result.stdout)))


@pytest.fixture(scope="module")
def recording(tmp_path_factory, clip_paths) -> Path:
    """~13 s: one clip with its pauses (one short voiced part), then the three clips' speech butted together
    (one ~7-s voiced part, several overlapping windows)."""
    waves = [load_audio(p) for p in clip_paths]
    speech = [trim_silence(w) for w in waves[1:] + waves[:1]]
    path = tmp_path_factory.mktemp("long") / "three sentences.wav"
    sf.write(path, np.concatenate([waves[0], *speech]), SAMPLE_RATE, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def timed(recording):
    return run_cli("predict", recording.name, "--timeline", cwd=recording.parent)  # relative: the table shortens long paths


@pytest.fixture(scope="module")
def timed_csv(recording):
    result = run_cli("predict", str(recording), "--timeline", "--format", "csv")
    return result, list(csv.DictReader(io.StringIO(result.stdout)))


@pytest.fixture(scope="module")
def long_row(recording):
    """The recording without --timeline: one row for the whole of it (the mean over its windows, as the app shows)."""
    result = run_cli("predict", str(recording), "--format", "json")
    return result, json.loads(result.stdout) if result.returncode == 0 else None


def assert_probabilities(row: dict, labels: list[str]) -> None:
    probs = np.array([float(row[label]) for label in labels])
    assert abs(probs.sum() - 1) < 1e-3
    assert row["label"] == labels[int(np.argmax(probs))]
    assert float(row["probability"]) == pytest.approx(probs.max(), abs=1e-6)


# --- a folder with every format and a broken file --------------------------------------------------------------

def test_run_completes_and_exit_status_counts_the_failures(mixed):
    result, rows = mixed
    assert result.returncode == 1, result.stderr
    assert rows is not None
    assert "Traceback" not in result.stderr
    assert "4 of 7 file(s) labelled, 3 failed" in result.stderr  # 4 formats; broken, missing, no match


def test_json_rows_have_the_columns_in_order(mixed, labels, genders):
    _, rows = mixed
    assert genders, "the default model has a gender head: this test checks its columns"
    assert all(list(row) == ["file", "label", "probability", "unsure", "unlike_training", "profile", *labels, *gender_columns(genders), "error"]
               for row in rows)
    for row in rows:
        # unsure: the top probability under the model's threshold (None: not calibrated, or no level separated right
        # from wrong answers on unseen corpora, a threshold of 1)
        threshold = load_model(None).unsure_threshold
        assert row["unsure"] is (None if threshold is None or threshold >= 1 or row["error"] else row["probability"] < threshold)
        assert row["profile"] == (None if row["error"] else "none")
        if row["error"] is None:
            probs = [row[g] for g in genders]
            assert sum(probs) == pytest.approx(1.0, abs=1e-4) and row["gender"] == genders[int(np.argmax(probs))]
        else:
            assert row["gender"] is None and all(row[g] is None for g in genders)


def test_every_format_is_labelled_and_the_folder_searched_recursively(mixed, audio_folder, labels):
    _, rows = mixed
    good = {Path(r["file"]).relative_to(audio_folder).as_posix(): r for r in rows if r["error"] is None}
    assert sorted(good) == ["clip.flac", "clip.ogg", "clip.wav", "nested/clip.mp3"]
    for row in good.values():
        assert_probabilities(row, labels)
    # a lossless copy in another container gives the same answer
    assert [good["clip.wav"][k] for k in labels] == pytest.approx([good["clip.flac"][k] for k in labels], abs=1e-4)


def test_bad_inputs_are_rows_with_one_sentence(mixed, audio_folder, labels):
    _, rows = mixed
    bad = {r["file"]: r for r in rows if r["error"] is not None}
    assert set(bad) == {str(audio_folder / BROKEN), MISSING, NO_MATCH}
    assert "'broken.wav' is not audio that can be read" in bad[str(audio_folder / BROKEN)]["error"]
    assert "does not exist" in bad[MISSING]["error"]
    assert "No file matches" in bad[NO_MATCH]["error"]
    for row in bad.values():
        assert row["error"].count(". ") == 0 and row["error"].endswith(".")  # one sentence
        assert row["label"] is None and all(row[label] is None for label in labels)
    # rows keep the input order: the folder's files first, then the missing path, then the pattern
    assert [r["file"] for r in rows][-2:] == [MISSING, NO_MATCH]


# --- globs, merged classes, CSV, the Hub fallback --------------------------------------------------------------

def test_glob_patterns_select_files(globbed, audio_folder):
    result, rows = globbed
    assert result.returncode == 0, result.stderr
    assert [r["file"] for r in rows] == [str(audio_folder / "clip.flac"), str(audio_folder / "nested" / "clip.mp3")]


def test_csv_with_calm_and_neutral_merged(globbed, labels, genders):
    _, rows = globbed
    merged = [CALM_NEUTRAL] + [label for label in labels if label not in ("calm", "neutral")]
    assert list(rows[0]) == ["file", "label", "probability", "unsure", "unlike_training", "profile", *merged, *gender_columns(genders), "error"]
    for row in rows:
        assert row["error"] == ""
        assert_probabilities(row, merged)


def test_unreachable_hub_model_falls_back_to_the_default(globbed):
    result, _ = globbed
    assert "falling back to the embedded default model" in result.stderr
    assert f"Model {read_config(resolve(None)).get('name') or resolve(None).name}:" in result.stderr


# --- the timeline ------------------------------------------------------------------------------------------------

def test_timeline_table_has_one_row_per_window(timed, timed_csv, recording, labels, genders):
    from ser.inference import voiced_intervals, window_bounds

    assert timed.returncode == 0, timed.stderr
    header, *lines = timed.stdout.strip().splitlines()
    _, rows = timed_csv
    assert header.split() == [c for c in rows[0] if c != "error"]  # the table names its columns as the CSV does
    assert header.split()[:7] == ["file", "start", "end", "label", "probability", "unsure", "unlike_training"]
    expected = window_bounds(voiced_intervals(load_audio(recording)))
    assert len(expected) >= 5  # one window for the first sentence, 3-s windows every second over the rest
    assert len(lines) == len(expected)
    for line, (start, end) in zip(lines, expected):
        cells = line.replace(recording.name, "FILE").split()  # the file name has a space in it
        assert cells[0] == "FILE"
        assert float(cells[1]) == pytest.approx(start, abs=0.051) and float(cells[2]) == pytest.approx(end, abs=0.051)
        assert cells[3] in labels and cells[4].endswith("%") and cells[5] in ("yes", "no", "-") and cells[6] in ("yes", "no")
        assert cells[7] == "none"  # profile: none given
        assert len(cells) == 8 + len(labels) + len(gender_columns(genders)) and (not genders or cells[-3] in genders)


def test_timeline_csv_fills_every_column_of_every_window(timed_csv, labels, genders):
    """unlike_training too: the default model measures it, so no window leaves it empty; only `error` is."""
    result, rows = timed_csv
    assert result.returncode == 0, result.stderr
    assert len(rows) >= 5 and load_model(None).far_threshold is not None
    # unsure is "not applicable" (empty, as --help says) where no level told right from wrong: plain mode, today
    unsure_applies = unsure_threshold(load_model(None)) is not None
    for row in rows:
        may_be_empty = {"error"} | (set() if unsure_applies else {"unsure"})
        assert row["error"] == "" and all(value != "" for column, value in row.items() if column not in may_be_empty), row
        assert row["unlike_training"] in ("True", "False") and row["unsure"] in (("True", "False") if unsure_applies else ("",))
        assert_probabilities(row, labels)
        assert float(row["start"]) < float(row["end"])


def test_a_long_recordings_one_row_says_whether_it_is_unlike_the_training(long_row, timed_csv):
    """Most of its windows decide, as in the app's note on long recordings."""
    from ser.inference import FAR_SHARE

    result, rows = long_row
    assert result.returncode == 0, result.stderr
    windows = [row["unlike_training"] == "True" for row in timed_csv[1]]
    assert len(rows) == 1 and rows[0]["unlike_training"] is bool(np.mean(windows) >= FAR_SHARE)
    assert None not in (rows[0]["label"], rows[0]["probability"]) and rows[0]["profile"] == "none"
    assert (rows[0]["unsure"] is None) == (unsure_threshold(load_model(None)) is None)


# --- usage errors: exit status 2, one sentence, no model loaded ---------------------------------------------------

@pytest.mark.parametrize("args, message", [
    ([], "usage:"),
    (["predict"], "the following arguments are required: PATH"),
    (["predict", "x.wav", "--format", "xml"], "invalid choice: 'xml'"),
    (["predict", "x.wav", "--out", "/no/such/folder/out.csv"], "its folder does not exist"),
    (["predict", "x.wav", "--model", "no-such-model"], "No model 'no-such-model'"),
])
def test_usage_errors(args, message):
    result = run_cli(*args)
    assert result.returncode == 2
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_eval_hands_its_options_to_the_evaluation_protocol():
    result = run_cli("eval", "--models", "no-such-family")  # refused by train.evaluation.evaluate before anything is trained
    assert result.returncode == 1
    assert "Unknown model family no-such-family" in result.stderr
    assert "Traceback" not in result.stderr


# --- what the help and the summary tell a new user ---------------------------------------------------------------

def test_predict_help_lists_the_shipped_models_two_examples_and_every_column(timed_csv, labels, genders):
    from ser.inference import WINDOWS_TEXT
    from ser.models import local_models

    result = run_cli("predict", "--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())
    assert f"shipped models: {', '.join(local_models())}" in text
    assert text.count("python -m ser predict ") >= 2  # two examples
    assert WINDOWS_TEXT in text  # --timeline says what the windows are
    # every column of the output has its line under "columns": its name(s), two spaces, what it holds
    entries = [re.match(r"  (\S.*?)\s{2,}\S", line) for line in result.stdout.split("\ncolumns", 1)[1].splitlines()]
    documented = {name for entry in entries if entry for name in entry[1].split(", ")}
    named = {"<emotion>" if c in labels else "<gender>" if c in genders else c for c in timed_csv[1][0]}
    assert named <= documented, named - documented


def test_files_of_training_speakers_are_pointed_out(data_dir, tmp_path):
    clips = sorted((data_dir / "ravdess" / "Actor_02").glob("*.flac"))[:2]
    stranger = tmp_path / "my voice.wav"
    sf.write(stranger, load_audio(clips[0]), SAMPLE_RATE, subtype="PCM_16")  # same sound, a name no corpus uses
    result = run_cli("predict", *map(str, clips), str(stranger), "--format", "csv", "--model", "classic-mlp")
    assert result.returncode == 0, result.stderr
    assert ("Note: 2 of 3 file(s) are corpus recordings of speakers classic-mlp was trained on; their results say little "
            "about a new voice") in " ".join(result.stderr.split())
    assert list(csv.DictReader(io.StringIO(result.stdout)))[0].keys() >= {"file", "label"}
    assert "gender" not in result.stdout.splitlines()[0]  # classic-mlp has no gender head: no gender columns


def test_eval_starts_the_evaluation_protocol_from_the_library():
    """`python -m ser eval` finds the training package's entry point wherever it lives in train/ (its help is its own)."""
    result = subprocess.run([sys.executable, "-m", "ser", "eval", "--help"], capture_output=True, text=True, timeout=120,
                            cwd=settings.PROJECT_ROOT)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: python -m ser eval") and "--aggregate_only" in result.stdout
