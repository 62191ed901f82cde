"""Latency of each shipped model on one clip of 1, 4 and 10 s, feature extraction included (decoding not).

Each run is `ser.inference.analyse(wave, model)`: what the app and the CLI do for one clip (preprocessing,
features, the model, softmax). Clips are real speech: RAVDESS clips with their silences cut, joined, cut to length.
"""

from __future__ import annotations

import time

import numpy as np

from ser import settings
from ser.audio.load import SAMPLE_RATE, load_audio, trim_silence
from ser.evaluation.corpora import scan_corpus

CLIP_SECONDS = (1.0, 4.0, 10.0)
RUNS = 20  # the minimum; median and p95 of these
WARM_UP = 3  # first calls pay for lazy loading (the Whisper encoder) and allocator growth
THREADS = 2  # torch threads for every latency figure (the target is stated for 2)


def speech_clip(seconds: float) -> np.ndarray:
    """`seconds` of continuous speech from RAVDESS actor 1 (silences trimmed, so short clips are not mostly silence)."""
    needed = int(seconds * SAMPLE_RATE)
    pieces, total = [], 0
    for record in scan_corpus("ravdess"):
        piece = trim_silence(load_audio(record.path))
        pieces.append(piece)
        total += piece.size
        if total >= needed:
            break
    return np.concatenate(pieces)[:needed]


def clips(lengths=CLIP_SECONDS) -> dict[float, np.ndarray]:
    return {s: speech_clip(s) for s in lengths}


def measure(fn, runs: int = RUNS, warm_up: int = WARM_UP) -> dict:
    """Median, p95, min and max in ms of `runs` calls of `fn()` after `warm_up` untimed calls."""
    for _ in range(warm_up):
        fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    ms = np.asarray(times) * 1000
    return {"median_ms": round(float(np.median(ms)), 2), "p95_ms": round(float(np.percentile(ms, 95)), 2),
            "min_ms": round(float(ms.min()), 2), "max_ms": round(float(ms.max()), 2), "runs": runs}


def model_names() -> list[str]:
    """The shipped models, plus the default when it is set elsewhere (`SER_MODEL` naming a folder)."""
    from ser.models import local_models

    names = local_models()
    default = settings.default_model()
    return names if default in names else [default] + names


def run(runs: int = RUNS, waves: dict[float, np.ndarray] | None = None) -> dict:
    """{model name: {"load_and_first_call_s", "clips": {"4s": {median_ms, p95_ms, ...}}}} for every model that loads."""
    waves = waves or clips()
    return {ref: run_model(ref, runs, waves) for ref in model_names()}


def run_model(ref: str, runs: int = RUNS, waves: dict[float, np.ndarray] | None = None) -> dict:
    """One model's entry of `run`, or {"error": ...} when it does not load."""
    from ser import inference
    from ser.models import load_model

    waves = waves or clips()
    start = time.perf_counter()
    try:
        model = load_model(ref)
        inference.analyse(waves[min(waves)], model)  # models load parts lazily (the Whisper encoder): count that too
    except Exception as err:  # a model that is not there yet is a line in the report, not a crash
        return {"error": f"{type(err).__name__}: {err}"}
    entry = {"name": model.name, "kind": model.kind, "load_and_first_call_s": round(time.perf_counter() - start, 2), "clips": {}}
    for seconds, wave in waves.items():
        entry["clips"][f"{seconds:g}s"] = measure(lambda: inference.analyse(wave, model), runs)
        print(f"  latency {model.name} {seconds:g} s: {entry['clips'][f'{seconds:g}s']['median_ms']} ms", flush=True)
    return entry

