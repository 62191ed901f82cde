"""Start-up helpers for app.py: gradio work that is not needed before the first answer, skipped.

- `skip_gradio_stub_writer()`, before gradio is imported: gradio's component metaclass regenerates its own `.pyi` type
  stubs (for editors) every time a component class is defined, at import: it re-parses each component's source file
  with `ast` and renders a jinja template, and writes into site-packages when the stub differs. That was 37% of
  `import gradio`'s CPU time (4.3 s -> 2.7 s on a busy 2-core machine, median of 3; `python -X importtime` and cProfile
  show it: ast.get_source_segment, jinja2 compile). The app never needs the stubs.
- `shipped_audio_is_playable(folder)`, while building the page: gradio runs `ffprobe` on every audio file it shows
  (`processing_utils.audio_is_playable`, from `gr.Audio.postprocess`) to decide whether to convert it. The page shows
  ten (eight examples, the lesson's two clips): ten ffprobe processes, 0.1-0.2 s each, before the server can answer.
  The shipped clips are FLAC, which every browser plays; every other file is still probed.

Both patch gradio internals (gradio is pinned in requirements.txt); if a later gradio no longer has them, nothing is
patched and start-up is as slow as before, nothing breaks.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.util
import sys
from pathlib import Path
from typing import Iterator

STUB_WRITER_MODULE = "gradio.component_meta"
STUB_WRITER = "create_or_modify_pyi"

PLAYABLE_SUFFIXES = (".flac", ".wav", ".mp3", ".ogg")  # containers whose shipped codecs (FLAC, PCM, MP3, Vorbis) browsers play


def _no_stub(*args, **kwargs) -> None:
    """Stands in for gradio's stub writer: the app needs no type stubs."""


class _StubWriterSkipper(importlib.abc.MetaPathFinder):
    """Loads gradio.component_meta as usual, then replaces its stub writer before any component class is defined."""

    def find_spec(self, fullname, path, target=None):
        if fullname != STUB_WRITER_MODULE:
            return None
        sys.meta_path.remove(self)  # once: find the real spec without finding ourselves again
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_patch(module) -> None:
            exec_module(module)
            if hasattr(module, STUB_WRITER):
                setattr(module, STUB_WRITER, _no_stub)

        spec.loader.exec_module = exec_and_patch
        return spec


def skip_gradio_stub_writer() -> bool:
    """Call before gradio is imported; False (and nothing done) when it already is."""
    if "gradio" in sys.modules:
        return False
    if not any(isinstance(finder, _StubWriterSkipper) for finder in sys.meta_path):
        sys.meta_path.insert(0, _StubWriterSkipper())
    return True


@contextlib.contextmanager
def shipped_audio_is_playable(folder: Path) -> Iterator[None]:
    """While building the page: audio files directly in `folder` with a browser-playable suffix are not probed."""
    from gradio import processing_utils

    probe = getattr(processing_utils, "audio_is_playable", None)
    if probe is None:
        yield
        return
    folder = folder.resolve()

    def audio_is_playable(path: str) -> bool:
        file = Path(path).resolve()
        return (file.parent == folder and file.suffix.lower() in PLAYABLE_SUFFIXES) or probe(path)

    processing_utils.audio_is_playable = audio_is_playable
    try:
        yield
    finally:
        processing_utils.audio_is_playable = probe
