"""Gradio app: record or upload speech, see the emotion the model hears and the features it hears it in.

The page is built by `app_ui` (which calls `ser` for every analysis and figure); this file sets up the process, serves
the page, warms the model up and sweeps old uploads. Run `python app.py`; it binds 127.0.0.1 unless GRADIO_SERVER_NAME
says otherwise (Spaces sets 0.0.0.0) and takes the port from GRADIO_SERVER_PORT.
"""

from __future__ import annotations

import os

CONCURRENCY = int(os.environ.get("SER_CONCURRENCY") or 2)  # two analyses at once fill the 2 cores a free Space has
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")  # before gradio is imported: it reads this at import
# one math thread per concurrent analysis: more threads than cores makes every request slower (set before torch loads)
os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // CONCURRENCY)))

from app_startup import shipped_audio_is_playable, skip_gradio_stub_writer  # noqa: E402
from ser.memory import limit_malloc_arenas, start_trimming  # noqa: E402

skip_gradio_stub_writer()  # before gradio is imported: app_startup.py says why
limit_malloc_arenas()  # before gradio starts its worker threads: see ser/memory.py

import logging
import threading
import time

import gradio as gr

from app_ui.layout import CSS, build_app
from app_ui import lesson
from app_ui.models import model_for, warm_feature_code
from ser import settings
from ser.encoders.timing import measure_if_needed

log = logging.getLogger("ser.app")

DEFAULT_HOST = "127.0.0.1"
QUEUE_SIZE = 20  # waiting requests beyond this are turned away at once rather than left to time out


def warm_up() -> None:
    """Load the default model and prepare the lesson tab once the server is up, so the first analysis does not wait;
    then, in the background, compile the classic model's feature code (ser/audio/features.py says why)."""
    try:
        # the encoder's paths are timed once per machine, beside the first requests (the safe default serves them)
        measure_if_needed(model_for(None, None), background=True)
        lesson.warm_up()
    except Exception:
        log.exception("warm-up failed; the first request will report the problem")
    threading.Thread(target=warm_feature_code, daemon=True, name="feature-code-warm-up").start()


UPLOAD_SWEEP_MAX_S = 60.0  # look for expired uploads at least this often


def sweep_uploads(demo: gr.Blocks, ttl: float) -> None:
    """Forever (a daemon thread): delete users' uploads older than `ttl` seconds. Gradio keeps every upload in
    GRADIO_TEMP_DIR until told otherwise; `delete_cache` would also delete the cached example clips that
    gr.Examples keeps pointing at, and deleting right after a request could remove a concurrent request's file
    (identical uploads share one path), so only files gradio registered as uploads go, once they are old."""
    while True:
        time.sleep(max(1.0, min(UPLOAD_SWEEP_MAX_S, ttl / 2)))
        now = time.time()
        for path in list(demo.upload_file_set):
            try:
                if now - os.path.getctime(path) > ttl:  # a re-upload of the same bytes renews ctime
                    os.remove(path)
                    os.rmdir(os.path.dirname(path))  # its hash folder, unless something else is in it
            except OSError:
                pass
            if not os.path.exists(path):
                demo.upload_file_set.discard(path)


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("httpx").setLevel(logging.WARNING)  # gradio polls itself at startup; those lines are noise
    with shipped_audio_is_playable(settings.EXAMPLES_DIR):  # no ffprobe of our own clips before the first answer
        demo = build_app()
    demo.queue(default_concurrency_limit=CONCURRENCY, max_size=QUEUE_SIZE)
    demo.launch(
        prevent_thread_lock=True,  # serve first, then warm up: loading torch while starting would delay the page
        server_name=os.environ.get("GRADIO_SERVER_NAME") or DEFAULT_HOST,
        server_port=None,  # gradio reads GRADIO_SERVER_PORT, else the first free port from 7860
        share=False,
        show_error=True,
        max_file_size=int(settings.max_upload_mb() * 1e6),
        ssr_mode=False,
        run_history=False,  # do not keep users' recordings in the browser
        footer_links=["api"],
        allowed_paths=[str(settings.EXAMPLES_DIR)],  # the lesson tab plays the example clips
        css=CSS,
    )
    threading.Thread(target=sweep_uploads, args=(demo, settings.upload_ttl()), daemon=True, name="upload-sweeper").start()
    warm_up()
    start_trimming()  # freed request memory goes back to the system (ser/memory.py)
    demo.block_thread()


if __name__ == "__main__":
    main()
