"""Keep a long-running process's resident memory near what it uses: fewer glibc malloc arenas, free pages handed back.

    limit_malloc_arenas()        # once, early (the app calls it before gradio starts its threads)
    start_trimming()             # a daemon thread that hands freed heap pages back to the system every few seconds

Why: glibc gives each thread that allocates under contention its own arena (up to 8 per core), and an arena keeps the
memory its thread freed. The app answers requests from a pool of up to 40 worker threads, so freed audio, features and
upload buffers stayed resident in up to 16 arenas. `MALLOC_ARENA_MAX` does the same from the environment, but only if
it is set before the process starts, which a Space does not let us do. Other C libraries (macOS, musl): nothing happens.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import functools
import threading
import time

M_ARENA_MAX = -8  # mallopt parameter number in glibc's malloc.h
ARENAS = 2  # one per concurrent analysis on the 2 cores a free Space has; more only hold freed memory
TRIM_EVERY_S = 5.0


@functools.lru_cache(maxsize=1)
def _glibc():
    """glibc's handle, or None when this is not glibc (so mallopt/malloc_trim do not exist)."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        libc.gnu_get_libc_version  # noqa: B018 - only glibc has it
        return libc
    except (OSError, AttributeError):
        return None


def limit_malloc_arenas(arenas: int = ARENAS) -> bool:
    """Cap glibc's malloc arenas for threads created from now on; True when the C library took the setting."""
    libc = _glibc()
    return bool(libc is not None and libc.mallopt(M_ARENA_MAX, arenas))


def trim_free_memory() -> bool:
    """Hand freed heap pages back to the system (every arena); True when glibc returned any."""
    libc = _glibc()
    return bool(libc is not None and libc.malloc_trim(0))


def start_trimming(every_s: float = TRIM_EVERY_S) -> threading.Thread | None:
    """A daemon thread calling `trim_free_memory` every `every_s` seconds (a few ms each); None without glibc."""
    if _glibc() is None:
        return None

    def loop() -> None:
        while True:
            time.sleep(every_s)
            trim_free_memory()

    thread = threading.Thread(target=loop, daemon=True, name="malloc-trim")
    thread.start()
    return thread
