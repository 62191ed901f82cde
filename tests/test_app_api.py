"""The app's `/predict` API through gradio_client, against the real app with the shipped default model in a subprocess."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import numpy as np
import pytest
import soundfile as sf
from gradio_client import Client, handle_file
from gradio_client.exceptions import AppError

from ser import settings
from ser.audio import SAMPLE_RATE, AudioError, load_audio
from ser.labels import CALM_NEUTRAL
from ser.models import resolve
from ser.models.base import read_config

CLIP = "ravdess/Actor_03/03-01-05-02-01-01-03.flac"  # any real clip: this test checks the shape of the answer, not its label
LONG_PARTS = [f"ravdess/Actor_10/03-01-0{e}-02-02-01-10.flac" for e in (3, 4, 5, 6)]  # ~15 s: the timeline path
READY_TIMEOUT_S = 180


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def app_url(tmp_path_factory):
    """`python app.py` on a free loopback port; yields its URL once it answers, stops it afterwards."""
    port = free_port()
    env = {**os.environ, "GRADIO_SERVER_PORT": str(port), "GRADIO_SERVER_NAME": "127.0.0.1", "GRADIO_ANALYTICS_ENABLED": "False"}
    log = tmp_path_factory.mktemp("app") / "server.log"
    with open(log, "wb") as out:
        proc = subprocess.Popen([sys.executable, "app.py"], cwd=settings.PROJECT_ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + READY_TIMEOUT_S
    while True:
        if proc.poll() is not None:
            pytest.fail(f"the app exited with code {proc.returncode}:\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                break
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"the app did not answer within {READY_TIMEOUT_S} s:\n{log.read_text()[-3000:]}")
        time.sleep(0.5)
    yield url
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()


@pytest.fixture(scope="module")
def client(app_url):
    return Client(app_url, verbose=False, analytics_enabled=False, download_files=False)


@pytest.fixture(scope="module")
def labels() -> list[str]:
    return list(read_config(resolve(None))["labels"])  # the default model's labels, without loading its weights here


def clip_path(name: str) -> Path:
    path = settings.data_dir() / name
    if not path.exists():
        pytest.fail(f"{path} is missing: the tests need the shared corpora (set SER_DATA_DIR)")
    return path


def test_predict_returns_probabilities_over_the_models_labels(client, labels):
    probs = client.predict(handle_file(str(clip_path(CLIP))), api_name="/predict")
    assert sorted(probs) == sorted(labels)
    values = np.array(list(probs.values()))
    assert np.all((values >= 0) & (values <= 1))
    assert values.sum() == pytest.approx(1.0, abs=1e-4)


def test_merging_calm_and_neutral_sums_their_probabilities(client, labels):
    path = handle_file(str(clip_path("ravdess/Actor_03/03-01-02-01-01-01-03.flac")))  # a calm clip: both classes get mass
    plain = client.predict(path, "", False, api_name="/predict")
    merged = client.predict(path, "", True, api_name="/predict")
    assert CALM_NEUTRAL in merged and "calm" not in merged and "neutral" not in merged
    assert merged[CALM_NEUTRAL] == pytest.approx(plain["calm"] + plain["neutral"], abs=1e-5)
    assert sum(merged.values()) == pytest.approx(1.0, abs=1e-4)


def test_long_recording_returns_the_timeline_average(client, labels, tmp_path):
    parts = [load_audio(clip_path(name)) for name in LONG_PARTS]
    pause = np.zeros(SAMPLE_RATE // 2, dtype=np.float32)
    long = np.concatenate([np.concatenate([p, pause]) for p in parts])
    assert long.size / SAMPLE_RATE > 6  # above the app's single-clip length
    path = tmp_path / "long.wav"
    sf.write(path, long, SAMPLE_RATE, subtype="PCM_16")
    probs = client.predict(handle_file(str(path)), api_name="/predict")
    assert sorted(probs) == sorted(labels)
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-4)


def write_bad(kind: str, folder: Path) -> Path:
    """Inputs the loader refuses: text named .wav, two seconds of silence, a 0.2-s blip."""
    path = folder / f"{kind}.wav"
    if kind == "text":
        path.write_text("these are meeting notes, not audio")
    elif kind == "silence":
        sf.write(path, np.zeros(2 * SAMPLE_RATE, dtype=np.float32), SAMPLE_RATE, subtype="PCM_16")
    else:
        t = np.arange(int(0.2 * SAMPLE_RATE)) / SAMPLE_RATE
        sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), SAMPLE_RATE, subtype="PCM_16")
    return path


@pytest.mark.parametrize("kind", ["text", "silence", "too_short"])
def test_bad_input_returns_our_sentence_and_the_app_keeps_serving(client, labels, tmp_path, kind):
    bad = write_bad(kind, tmp_path)
    with pytest.raises(AudioError) as expected:
        load_audio(bad)
    with pytest.raises(AppError) as err:
        client.predict(handle_file(str(bad)), api_name="/predict")
    assert str(err.value) == str(expected.value)
    assert "Traceback" not in str(err.value)
    # the server is still there and still right
    probs = client.predict(handle_file(str(clip_path(CLIP))), api_name="/predict")
    assert sorted(probs) == sorted(labels)


def test_missing_audio_and_unknown_model_are_sentences(client):
    with pytest.raises(AppError, match=r"^No audio was given; record with the microphone or upload a file\.$"):
        client.predict(None, api_name="/predict")
    with pytest.raises(AppError, match=r"^No model 'no-such-model': give a shipped model"):
        client.predict(handle_file(str(clip_path(CLIP))), "no-such-model", api_name="/predict")


# --- the figures the app sends (built without plotly's validation for speed; validated here) ------------------------

def test_every_figure_is_valid_plotly_and_long_recordings_are_decimated(monkeypatch, labels):
    from ser import inference, plots
    from ser.metrics import compute_metrics
    from ser.models import load_model

    monkeypatch.setattr(plots, "VALIDATE", True)  # plotly now raises on any misspelt or out-of-range property
    parts = [load_audio(clip_path(name)) for name in LONG_PARTS[:3]]
    recording = np.concatenate([np.concatenate([p, np.zeros(SAMPLE_RATE // 2, dtype=np.float32)]) for p in parts])
    model = load_model()
    result, tl = inference.analyse_recording(recording, model)
    assert tl is not None and len(tl.times) > 0
    scores = compute_metrics([0, 1, 1, 2], [0, 1, 0, 2], labels)
    figures = [
        *plots.feature_figures(recording), plots.probability_bars(result.labels, result.probs), plots.timeline_figure(tl),
        plots.confusion_figure(scores, "confusion"), plots.pitch_energy_figure({"a": parts[0], "b": parts[1]}),
    ]
    for figure in figures:
        assert len(figure.data) > 0
        figure.to_json()

    ten_minutes = np.tile(recording, int(np.ceil(600 * SAMPLE_RATE / recording.size)))[: 600 * SAMPLE_RATE]
    for figure in plots.feature_figures(ten_minutes):
        for trace in figure.data:
            columns = np.shape(trace.z)[1] if trace.type == "heatmap" else len(trace.x)
            assert columns <= plots.MAX_COLUMNS
