"""Shared fixtures: the real corpora folder, the app in a subprocess (one for the session), and helpers that write
generated audio files for the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np
import pytest
import soundfile as sf

from bench.load import running_app
from ser import settings

@pytest.fixture(scope="module")
def one_math_thread():
    """torch on one math thread for a module's tests, as before afterwards: two spinning OpenMP threads on a shared,
    busy machine are slower than one (docs/experiments.md, "Where the encoder runs")."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The corpora folder. Never skipped: CI has the corpora, so a missing folder is a failure, not a skip."""
    root = settings.data_dir()
    missing = [name for name in ("ravdess", "tess") if not (root / name).is_dir()]
    if missing:
        pytest.fail(
            f"Corpus folder(s) {', '.join(missing)} not found under {root}; "
            "set SER_DATA_DIR to the folder holding ravdess/ and tess/ (CI has them at ../shared/data).",
            pytrace=False,
        )
    return root


@pytest.fixture(scope="session")
def ravdess_clip(data_dir) -> Path:
    """One real RAVDESS clip: actor 1, angry, strong intensity (~3.7 s, 16 kHz mono FLAC)."""
    path = data_dir / "ravdess" / "Actor_01" / "03-01-05-02-01-01-01.flac"
    if not path.is_file():
        pytest.fail(f"RAVDESS clip {path} is missing; the corpus under {data_dir} is incomplete.", pytrace=False)
    return path


@pytest.fixture
def make_tone() -> Callable[..., np.ndarray]:
    """`make_tone(freq=440, seconds=1.0, rate=16000, amplitude=0.5)` -> float64 sine (exact, not quantised)."""

    def make(freq: float = 440.0, seconds: float = 1.0, rate: int = 16000, amplitude: float = 0.5) -> np.ndarray:
        t = np.arange(int(round(seconds * rate))) / rate
        return amplitude * np.sin(2 * np.pi * freq * t)

    return make


@pytest.fixture
def write_audio(tmp_path) -> Callable[..., Path]:
    """`write_audio(name, samples, rate, subtype=None, format=None)` writes a real audio file into tmp_path.

    The container follows the name's suffix (wav, flac, ogg, mp3) unless `format` is given.
    """

    def write(name: str, samples: np.ndarray, rate: int = 16000, subtype: str | None = None, format: str | None = None) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        sf.write(path, samples, rate, subtype=subtype, format=format)
        return path

    return write


@pytest.fixture
def write_bytes(tmp_path) -> Callable[[str, bytes], Path]:
    """`write_bytes(name, data)` writes raw bytes (broken or empty files) into tmp_path."""

    def write(name: str, data: bytes) -> Path:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        return path

    return write


@pytest.fixture(scope="session")
def app_server(tmp_path_factory):
    """`python app.py` with the default model on a free loopback port, its own GRADIO_TEMP_DIR, offline, and a 12-MB
    upload cap (so a file over the cap is cheap to make); one per session, shared by the suites that talk to the app.
    Yields `bench.load.AppServer` (url, temp_dir, log_path, env, alive(), rss_bytes()). Nothing any suite sent it may
    leave a traceback in its log."""
    with running_app(tmp_path_factory.mktemp("app-server"), SER_MAX_UPLOAD_MB="12") as server:
        yield server
    assert "Traceback" not in server.log_text(), f"the server logged a traceback:\n{server.log_tail()}"


@pytest.fixture(scope="session")
def app_url(app_server) -> str:
    return app_server.url
