"""The command line's inputs: paths, folders and glob patterns expanded into files, decoded in worker threads."""

from __future__ import annotations

import glob
import os
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from itertools import islice
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np

from ser.audio.load import AUDIO_SUFFIXES  # what a folder is searched for
from ser.cli.rows import BATCH_SIZE

GLOB_CHARS = set("*?[")
PREFETCH = 2 * BATCH_SIZE  # decoded clips waiting for the model: keeps the model busy without holding a whole folder


def _is_audio(path: Path) -> bool:
    return path.is_file() and path.suffix.lower() in AUDIO_SUFFIXES and not path.name.startswith(".")


def _folder_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if _is_audio(p))


def expand_paths(patterns: Iterable[str]) -> list[tuple[str, str | None]]:
    """Files, folders (searched recursively) and glob patterns -> (path, error) in order, without duplicates.
    A pattern that names nothing becomes an error entry: it is reported like an unreadable file."""
    entries: dict[str, str | None] = {}
    for pattern in patterns:
        path = Path(pattern).expanduser()
        if path.exists():
            matches = [path]
        elif GLOB_CHARS & set(pattern):
            matches = [Path(m) for m in sorted(glob.glob(os.path.expanduser(pattern), recursive=True))]
            if not matches:
                entries.setdefault(pattern, f"No file matches the pattern {pattern!r}.")
                continue
        else:
            entries.setdefault(pattern, f"The file {pattern!r} does not exist; check the path.")
            continue
        for match in matches:
            if match.is_dir():
                found = _folder_files(match)
                if not found and match == path:
                    entries.setdefault(str(match), f"The folder {str(match)!r} holds no audio files ({', '.join(AUDIO_SUFFIXES)}).")
                for file in found:
                    entries.setdefault(str(file), None)
            else:
                entries.setdefault(str(match), None)
    return list(entries.items())


def decode(path: str) -> tuple[np.ndarray | None, str | None]:
    """(wave, None) or (None, one sentence): never raises, whatever the file holds."""
    from ser.audio.load import AudioError, load_audio

    try:
        return load_audio(path), None
    except AudioError as err:
        return None, str(err)
    except Exception as err:  # load_audio already turns decoder failures into sentences; this is the last guard
        return None, f"The file could not be read ({type(err).__name__})."


def decoded(entries: list[tuple[str, str | None]], workers: int) -> Iterator[tuple[str, np.ndarray | None, str | None]]:
    """(path, wave, error) in input order; `workers` threads decode up to PREFETCH files ahead of the consumer.
    Threads, not processes: soundfile and soxr release the GIL, and a thread costs no start-up or copying."""
    if workers <= 0:
        for path, error in entries:
            yield (path, *(decode(path) if error is None else (None, error)))
        return
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="decode") as pool:
        queue: deque = deque()
        pending = iter(entries)

        def submit(items) -> None:
            for path, error in items:
                queue.append((path, error, pool.submit(decode, path) if error is None else None))

        submit(islice(pending, PREFETCH))
        while queue:
            path, error, future = queue.popleft()
            submit(islice(pending, 1))
            yield (path, None, error) if future is None else (path, *future.result())
