"""Odd files through all three layers — `ser.audio.load` (+ the model), `python -m ser predict`, and the running app's
/predict API — with the outcome each must get: a prediction, or the loader's one sentence, and the server answering
the next good request. Every file is generated here (numpy, soundfile, or hand-written RIFF bytes for broken headers).

`tests/test_audio.py` checks the loader's sentences one by one; this suite checks that the CLI and the app carry the
same outcome to the user for the files a public demo gets, that limits hold, and that nothing piles up on disk.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import tracemalloc
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from bench.load import new_client, running_app
from ser import inference, settings
from ser.audio.load import SAMPLE_RATE, AudioError, load_audio
from ser.models import load_model
from tests.bad_input_cases import CASES

UPLOAD_MB = 12  # the shared app server (conftest `app_server`) is started with SER_MAX_UPLOAD_MB=12: a file over it stays cheap
UPLOAD_TTL_S = 2  # the temp-dir test starts its own server, which must delete uploads older than this
SWEEP_WAIT_S = 30  # how long that test waits for them to go; a sweep every second or so needs far less
CROSS_LAYER = 1e-3  # the same file through the library, the CLI and the app (thread counts differ)


# --- the files, and what the library makes of them ------------------------------------------------------------------


@pytest.fixture(scope="module")
def speech(ravdess_clip) -> np.ndarray:
    """A real sentence (RAVDESS actor 1, angry, 4.1 s) as the loader returns it."""
    return load_audio(ravdess_clip)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, speech) -> Path:
    path = tmp_path_factory.mktemp("reference") / "reference.wav"
    sf.write(path, speech, SAMPLE_RATE, subtype="PCM_16")
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory, speech, reference) -> dict[str, Path]:
    """Each case's file, in a folder of its own (the names repeat)."""
    root = tmp_path_factory.mktemp("bad-inputs")
    wav = reference.read_bytes()
    out = {}
    for i, (label, case) in enumerate(CASES.items()):
        path = root / f"{i:02d}" / case.name
        path.parent.mkdir()
        written = case.write(path, speech, wav)
        if isinstance(written, bytes):
            path.write_bytes(written)
        out[label] = path
    return out


@pytest.fixture(scope="module")
def model():
    return load_model()


def library_outcome(path: Path, model) -> tuple[str, object]:
    """("error", sentence) or ("probs", {label: probability}), the way the app and the CLI compute them."""
    try:
        wave = load_audio(path)
    except AudioError as err:
        return "error", str(err)
    result, _ = inference.analyse_recording(wave, model)
    return "probs", result.as_dict()


@pytest.fixture(scope="module")
def outcomes(files, model) -> dict[str, tuple[str, object]]:
    return {label: library_outcome(path, model) for label, path in files.items()}


@pytest.fixture(scope="module")
def reference_probs(reference, model) -> dict[str, float]:
    kind, probs = library_outcome(reference, model)
    assert kind == "probs"
    return probs


def assert_close(probs: dict[str, float], expected: dict[str, float], tolerance: float) -> None:
    assert sorted(probs) == sorted(expected)
    worst = max(abs(probs[k] - expected[k]) for k in expected)
    assert worst <= tolerance, f"probabilities differ by up to {worst:.4f} (allowed {tolerance}): {probs} vs {expected}"


def assert_expected(label: str, kind: str, value, reference_probs: dict[str, float]) -> None:
    case = CASES[label]
    if case.error is not None:
        assert kind == "error", f"{label}: expected the sentence containing {case.error!r}, got a prediction {value}"
        assert case.error in value and value.endswith(".") and "\n" not in value and "Traceback" not in value, value
    else:
        assert kind == "probs", f"{label}: expected a prediction, got: {value}"
        assert abs(sum(value.values()) - 1) < 1e-4
        assert_close(value, reference_probs, case.tolerance)
        assert max(value, key=value.get) == max(reference_probs, key=reference_probs.get)


@pytest.mark.parametrize("label", list(CASES))
def test_library_outcome(label, outcomes, reference_probs):
    assert_expected(label, *outcomes[label], reference_probs)


def test_there_are_at_least_fifteen_kinds_with_both_outcomes():
    errors = {c.error.split(" ")[0] for c in CASES.values() if c.error}
    assert len(CASES) >= 15 and sum(c.error is None for c in CASES.values()) >= 8 and len(errors) >= 8


def test_twenty_minutes_is_refused_from_the_header_without_decoding(files):
    """Decoding 20 min would allocate 9.6 M float32 samples (38 MB); the header check allocates almost nothing."""
    tracemalloc.start()
    try:
        with pytest.raises(AudioError, match="20.0 min long"):
            load_audio(files["20 minutes"])
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 2e6, f"{peak / 1e6:.1f} MB allocated: the file was decoded before being refused"


# --- the CLI ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def cli_run(files, over_cap, tmp_path_factory):
    """One `python -m ser predict` over every case (and a file over the upload cap), JSON rows, with its own TMPDIR."""
    out = tmp_path_factory.mktemp("cli") / "rows.json"
    tmp = tmp_path_factory.mktemp("cli-tmpdir")
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TMPDIR": str(tmp), "SER_MAX_UPLOAD_MB": str(UPLOAD_MB)}
    paths = [str(p) for p in files.values()] + [str(over_cap)]
    proc = subprocess.run([sys.executable, "-m", "ser", "predict", *paths, "--out", str(out), "--quiet"], capture_output=True,
                          text=True, timeout=600, cwd=settings.PROJECT_ROOT, env=env)
    rows = {row["file"]: row for row in json.loads(out.read_text())} if out.exists() else {}
    return proc, rows, tmp


def cli_outcome(row: dict, labels: list[str]) -> tuple[str, object]:
    if row["error"] is not None:
        return "error", row["error"]
    return "probs", {label: row[label] for label in labels}


def test_cli_finishes_every_file_and_says_some_failed(cli_run, files):
    proc, rows, _ = cli_run
    assert proc.returncode == 1, proc.stderr  # 1: all rows written, some files failed
    assert "Traceback" not in proc.stderr
    assert len(rows) == len(files) + 1


@pytest.mark.parametrize("label", list(CASES))
def test_cli_outcome_is_the_librarys(label, cli_run, files, outcomes, reference_probs):
    _, rows, _ = cli_run
    kind, value = outcomes[label]
    cli_kind, cli_value = cli_outcome(rows[str(files[label])], list(reference_probs))
    assert cli_kind == kind, cli_value
    if kind == "error":
        assert cli_value == value
    else:
        assert_close(cli_value, value, CROSS_LAYER)


def test_cli_leaves_no_temporary_files(cli_run):
    _, _, tmp = cli_run
    assert sorted(p.name for p in tmp.iterdir()) == []


# --- the app -----------------------------------------------------------------------------------------------------



@pytest.fixture(scope="module")
def over_cap(tmp_path_factory) -> Path:
    """13 MB: a real WAV header, then noise; over the 12-MB cap."""
    path = tmp_path_factory.mktemp("big") / "long take.wav"
    samples = np.random.default_rng(1).normal(0, 0.1, 13_000_000 // 2)
    sf.write(path, samples, SAMPLE_RATE, subtype="PCM_16")
    assert path.stat().st_size > UPLOAD_MB * 1e6
    return path


@pytest.fixture(scope="module")
def client(app_server):
    assert app_server.env["SER_MAX_UPLOAD_MB"] == str(UPLOAD_MB)
    return new_client(app_server.url)


def app_outcome(client, path: Path) -> tuple[str, object]:
    try:
        return "probs", client.predict(handle_file(str(path)), api_name="/predict")
    except AppError as err:
        return "error", str(err)


def assert_still_serving(app_server, client, reference: Path, reference_probs: dict[str, float]) -> None:
    assert app_server.alive(), f"the server died:\n{app_server.log_tail()}"
    kind, probs = app_outcome(client, reference)
    assert kind == "probs", probs
    assert_close(probs, reference_probs, CROSS_LAYER)


@pytest.mark.parametrize("label", list(CASES))
def test_app_outcome_is_the_librarys_and_the_next_request_is_answered(label, app_server, client, files, outcomes, reference,
                                                                      reference_probs):
    kind, value = outcomes[label]
    app_kind, app_value = app_outcome(client, files[label])
    assert app_kind == kind, app_value
    if kind == "error":
        assert app_value == value  # word for word: the file name survives the upload
    else:
        assert_close(app_value, value, CROSS_LAYER)
    assert_still_serving(app_server, client, reference, reference_probs)


def test_bad_input_leaves_no_traceback_in_the_server_log(app_server, client, files):
    """Bad input is the user's problem, not the server's: none of it is logged as an unexpected error."""
    before = app_server.log_path.stat().st_size
    for label in ("text file named .wav", "truncated wav header", "huge values in a float wav", "sample-rate field 0xFFFFFFFF"):
        assert app_outcome(client, files[label])[0] == "error"
    with open(app_server.log_path, "rb") as log:
        log.seek(before)
        written = log.read().decode(errors="replace")
    assert "Traceback" not in written and "unexpected error" not in written, written


def test_upload_cap_in_every_layer(app_server, client, over_cap, reference, reference_probs, monkeypatch):
    monkeypatch.setenv("SER_MAX_UPLOAD_MB", str(UPLOAD_MB))
    with pytest.raises(AudioError) as err:
        load_audio(over_cap)
    assert str(err.value) == f"The file 'long take.wav' is 13 MB, more than the {UPLOAD_MB} MB limit; upload a shorter clip."
    # gradio_client knows the app's cap and refuses before sending; the server refuses anyway (413) for other clients
    with pytest.raises(ValueError, match=f"exceeds the maximum file size of {UPLOAD_MB * 1_000_000} bytes"):
        client.predict(handle_file(str(over_cap)), api_name="/predict")
    with open(over_cap, "rb") as body:
        response = httpx.post(f"{app_server.url}gradio_api/upload", files={"files": (over_cap.name, body)}, timeout=60)
    assert response.status_code == 413
    assert f"maximum allowed size of {UPLOAD_MB * 1_000_000} bytes" in response.text
    assert not [p for p in app_server.temp_dir.rglob("*") if p.is_file() and p.stat().st_size > UPLOAD_MB * 1e6]  # no partial copy
    assert_still_serving(app_server, client, reference, reference_probs)


def test_upload_cap_in_the_cli(cli_run, over_cap):
    _, rows, _ = cli_run
    assert rows[str(over_cap)]["error"] == f"The file 'long take.wav' is 13 MB, more than the {UPLOAD_MB} MB limit; upload a shorter clip."


def test_limits_are_stated_in_the_ui(app_server):
    """The page says the limits the server enforces (here the 12-MB cap it was started with)."""
    config = httpx.get(f"{app_server.url}config", timeout=10).json()
    limits = [c["props"]["value"] for c in config["components"] if c.get("props", {}).get("elem_id") == "limits"]
    assert limits, "no element with elem_id 'limits' on the page"
    text = limits[0]
    assert f"{settings.min_duration():g} s" in text and f"{settings.max_duration() / 60:g} min" in text and f"{UPLOAD_MB} MB" in text


# --- temporary files -------------------------------------------------------------------------------------------------


def uploaded_files(temp_dir: Path, names: set[str]) -> list[Path]:
    return [p for p in temp_dir.rglob("*") if p.is_file() and p.name in names]


def test_uploads_are_deleted_after_requests_and_cached_examples_stay(tmp_path, files, reference):
    """Gradio keeps every upload in GRADIO_TEMP_DIR (one folder per content hash) until something deletes it: a public
    demo would fill its disk. With the upload lifetime set to a few seconds, the uploads must go, while the example
    clips gradio cached there at start-up (which gr.Examples keeps pointing at) must stay."""
    sent = [files["text file named .wav"], files["20 minutes"], files["unicode and spaces in the name"], reference]
    names = {p.name for p in sent}
    with running_app(tmp_path / "app", SER_UPLOAD_TTL_SECONDS=str(UPLOAD_TTL_S)) as server:
        at_start = sorted(p for p in server.temp_dir.rglob("*") if p.is_file())
        assert at_start, "gradio cached no example clips at start-up: this test no longer checks that they stay"
        client = new_client(server.url)
        for path in sent:
            app_outcome(client, path)
        assert uploaded_files(server.temp_dir, names), "the uploads were not where GRADIO_TEMP_DIR says"
        deadline = time.monotonic() + SWEEP_WAIT_S
        while uploaded_files(server.temp_dir, names) and time.monotonic() < deadline:
            time.sleep(0.5)
        left = uploaded_files(server.temp_dir, names)
        assert not left, (f"{len(left)} uploads still in GRADIO_TEMP_DIR {SWEEP_WAIT_S} s after their requests "
                          f"(upload lifetime {UPLOAD_TTL_S} s): {[p.name for p in left]}")
        assert [p for p in at_start if not p.exists()] == []
        kind, probs = app_outcome(client, reference)  # a sweep must not break the next upload of the same bytes
        assert kind == "probs", probs
