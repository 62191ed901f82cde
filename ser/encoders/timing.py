"""Timing the Whisper encoder's candidate paths on this machine, once, so that `ser.encoders.path` can choose the fastest.

    record = measure()                           # times every candidate; kept in the cache folder for later starts
    measure_if_needed(model, background=True)    # the app after its warm-up: the safe default answers meanwhile
    measure_if_needed(model)                     # the CLI before its first batch, once per machine

Each candidate encodes the same 4-s log-mel (fixed noise: the time does not depend on the values) through the default
model's 4 layers on one math thread (the app's setting per request, and what a batch gives each clip on a graph
runtime), after one warm-up call. The candidates take turns (each round times each once), so a machine that gets
busier slows them alike; rounds go on until BUDGET_S is spent (at least MIN_ROUNDS, at most MAX_ROUNDS) and the
median is kept. On the 2-core development machine building the four took ~0.8 s and timing them ~1 s (the ONNX export,
2-3 s, happens once per cache folder, and the safe default needs it anyway). A candidate that cannot be built is left
out and its error kept in the record. The losers are dropped when the timing ends: only the path chosen stays loaded.
"""

from __future__ import annotations

import contextlib
import logging
import os
import threading
import time
from typing import Callable, Iterator

import numpy as np

from ser import settings
from ser.encoders.path import (
    EncoderPath, candidate_paths, chosen_path, cpu_flags, fastest, installed_runtimes, requested_dtype, requested_runtime,
    allowed_paths, store_timing, stored_timing,
)

logger = logging.getLogger(__name__)

CLIP_S = 4.0  # bench.latency's target clip
FRAMES_PER_S = 100  # Whisper's log-mel hop is 10 ms
THREADS = 1
MIN_ROUNDS, MAX_ROUNDS = 3, 9
BUDGET_S = 1.0  # of timed rounds, after building and warming up
WHISPER_KIND = "whisper_head"  # the model kind whose states come from this encoder
NOTICE = "Timing the Whisper encoder's paths on this CPU, once (a few seconds; later runs read the result)."


def fixed_log_mel() -> np.ndarray:
    """The input every candidate encodes: [1, 80, 400] float32, in the range of Whisper's log-mel."""
    return np.random.default_rng(0).uniform(-1.0, 1.0, (1, 80, int(CLIP_S * FRAMES_PER_S))).astype(np.float32)


def build(path: EncoderPath, n_layers: int) -> Callable[[np.ndarray], object]:
    """`path`'s encoder as a function of a log-mel batch: a graph on its runtime, or a fresh torch encoder (uncached,
    so that a loser does not stay in memory)."""
    import torch

    from ser.encoders.runtime import RUNNERS, load_graph
    from ser.encoders.offline import encode, load_encoder

    if path.runtime != "torch":
        graph = RUNNERS[path.runtime](load_graph(settings.cache_dir(), n_layers), THREADS)
        return graph.run
    encoder = load_encoder.__wrapped__(dtype=getattr(torch, path.dtype))
    return lambda mel: encode(encoder, mel, n_layers=n_layers)


@contextlib.contextmanager
def math_threads(n: int) -> Iterator[None]:
    """torch on `n` threads for the timing, as it was afterwards (untouched when it already is: the app's case)."""
    import torch

    before = torch.get_num_threads()
    if before != n:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        if before != n:
            torch.set_num_threads(before)


def time_paths(paths: list[EncoderPath], n_layers: int, budget_s: float = BUDGET_S) -> tuple[dict[str, list[float]], dict[str, str]]:
    """({path name: [ms per round]}, {path name: why it could not be built}), the candidates taking turns."""
    mel = fixed_log_mel()
    runners, failed = {}, {}
    with math_threads(THREADS):
        for path in paths:
            try:
                runners[path.name] = build(path, n_layers)
                runners[path.name](mel)  # warm-up: first-call allocations and kernel choices
            except Exception as error:  # a runtime that cannot build its graph is not a candidate here
                failed[path.name] = f"{type(error).__name__}: {error}"
        times: dict[str, list[float]] = {name: [] for name in runners}
        started = time.perf_counter()
        for round_ in range(MAX_ROUNDS):
            if round_ >= MIN_ROUNDS and time.perf_counter() - started > budget_s:
                break
            for name, run in runners.items():
                start = time.perf_counter()
                run(mel)
                times[name].append((time.perf_counter() - start) * 1000)
    return times, failed


def measure(n_layers: int | None = None, budget_s: float = BUDGET_S) -> dict:
    """Time every candidate this machine offers and keep the record as its timing; the record."""
    from ser.encoders.offline import ENCODER_LAYERS

    paths = candidate_paths(cpu_flags(), installed_runtimes())
    started, load_before = time.perf_counter(), os.getloadavg()[0]
    times, failed = time_paths(paths, n_layers or ENCODER_LAYERS, budget_s)
    ms = {name: round(float(np.median(values)), 2) for name, values in times.items()}
    record = {"ms": ms, "failed": failed, "rounds": min(map(len, times.values()), default=0), "clip_s": CLIP_S,
              "threads": THREADS, "n_layers": n_layers or ENCODER_LAYERS, "seconds": round(time.perf_counter() - started, 2),
              "measured": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
              "load_average_1min": [round(load_before, 2), round(os.getloadavg()[0], 2)],  # a busy machine's figures are noisier
              "candidates": [p.name for p in paths], "fastest": getattr(fastest(paths, ms), "name", None)}
    where = store_timing(record)
    logger.info("timed the encoder's paths in %.1f s (%s); kept in %s", record["seconds"],
                ", ".join(f"{k} {v:.0f} ms" for k, v in ms.items()), where)
    return record


def needs_timing() -> bool:
    """Whether the settings leave more than one path and this machine's paths have not been timed."""
    allowed = allowed_paths(candidate_paths(cpu_flags(), installed_runtimes()), requested_dtype(), requested_runtime())
    return len(allowed) > 1 and stored_timing() is None


_once = threading.Lock()
_started = False


def measure_if_needed(model=None, background: bool = False, notice: Callable[[str], None] | None = None) -> threading.Thread | None:
    """Time the paths once per process when `model` (default: any) reads the Whisper encoder and this machine has no
    timing yet, after telling `notice`; in a daemon thread if `background` (returned). A failure is logged: the safe
    default stays."""
    global _started
    if model is not None and getattr(model, "kind", None) != WHISPER_KIND:
        return None
    with _once:
        if _started or not needs_timing():
            return None
        _started = True
    if notice is not None:
        notice(NOTICE)
    if not background:
        _measure_logged()
        return None
    thread = threading.Thread(target=_measure_logged, daemon=True, name="encoder-timing")
    thread.start()
    return thread


def _measure_logged() -> None:
    from ser.encoders.runtime import drop_graphs

    try:
        measure()
        drop_graphs()  # the safe default's session, if the encoder moves to another path
        logger.info("the encoder now runs on %s", chosen_path().path.name)
    except Exception:
        logger.exception("timing the encoder's paths failed; the encoder stays on %s", chosen_path().path.name)
