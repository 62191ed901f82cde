"""What app.py skips before its first answer (app_startup.py); how long start-up takes is bench.app's business."""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import soundfile as sf

from ser import settings


def test_gradio_is_imported_without_its_stub_writer_and_still_builds_components():
    code = ("import app_startup; assert app_startup.skip_gradio_stub_writer(); import gradio as gr; "
            "import gradio.component_meta as meta; assert meta.create_or_modify_pyi is app_startup._no_stub; "
            "assert not app_startup.skip_gradio_stub_writer()\n"  # too late once gradio is imported: says so, does nothing
            "class Custom(gr.Audio): pass\n"
            "with gr.Blocks() as demo:\n    Custom(label='x')\n"
            "print('ok')")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=settings.PROJECT_ROOT)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip().endswith("ok")


def test_only_the_shipped_clips_skip_gradios_playability_probe(tmp_path):
    from gradio import processing_utils

    from app_startup import shipped_audio_is_playable

    shipped = tmp_path / "shipped"
    shipped.mkdir()
    clip = shipped / "clip.flac"
    shutil.copy(next(settings.EXAMPLES_DIR.glob("*.flac")), clip)
    aiff = tmp_path / "tone.aiff"  # a container browsers do not play: gradio's probe says so
    sf.write(aiff, np.zeros(1600, dtype=np.float32), 16000, format="AIFF")
    shipped_aiff = shipped / "tone.aiff"
    shutil.copy(aiff, shipped_aiff)
    original = processing_utils.audio_is_playable
    assert not original(str(aiff))
    with shipped_audio_is_playable(shipped):
        assert processing_utils.audio_is_playable(str(clip))
        assert not processing_utils.audio_is_playable(str(aiff))  # anything else is still probed
        assert not processing_utils.audio_is_playable(str(shipped_aiff))  # and so is a shipped file browsers cannot play
    assert processing_utils.audio_is_playable is original


def test_the_classic_models_feature_code_is_compiled_at_start_up_without_a_visitor(app_server):
    """librosa's numba functions compiled on the first switch to classic-mlp (45 s on a fresh install): the app compiles
    them in the background once the default model is ready, before anyone asks."""
    import time

    from app_ui.models import FEATURE_CODE_READY

    deadline = time.monotonic() + 180  # an empty numba cache on a busy 2-core machine: up to ~85 s
    while FEATURE_CODE_READY not in app_server.log_text() and time.monotonic() < deadline:
        assert app_server.alive(), app_server.log_tail()
        time.sleep(0.5)
    assert FEATURE_CODE_READY in app_server.log_text(), app_server.log_tail()
