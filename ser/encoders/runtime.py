"""Where the frozen Whisper encoder runs: torch, or our own encoder exported to ONNX and run by ONNX Runtime or OpenVINO.

    states = encoder_states(log_mel, n_layers=4)   # [n_layers + 1, frames // 2, 512] float32 torch tensor

`SER_ENCODER_RUNTIME` chooses: `auto` (default), `torch`, `onnxruntime` or `openvino`. `auto` means the path
`ser.encoders.path` chose for this machine: the fastest of the candidates when they were timed, ONNX Runtime float32
until then (on the 2-core CPUs measured so far it encoded a 4-s clip in less time than torch and OpenVINO, with the
same answers: `python -m bench.encoder_runtimes`, reports/encoder_runtimes.json). The exported graphs are float32 only,
so `SER_ENCODER_DTYPE=bfloat16` or `int8` runs on torch whatever the runtime says.

The graph is built here, never downloaded: `torch.onnx.export` of `ser.encoders.offline.encode` on the verified Whisper weights,
with a dynamic time axis. It is cached in `SER_CACHE_DIR` beside a JSON file holding its sha256; a cached graph whose
bytes do not match is rebuilt, not trusted. The runtime then reads the checked file itself (from bytes, ONNX Runtime
keeps a second copy of the 57 MB for the session's lifetime); the cache guards against damage, not against someone
who can write to the user's cache folder, who could as well change this code. If a runtime
cannot be imported or fails to build or load the graph, a warning is logged once and torch answers instead.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
import os
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Sequence, TypeVar

import numpy as np
import torch
from torch import nn

from ser import settings
from ser.atomic_file import atomic_write
from ser.encoders.path import SAFE_DEFAULT, chosen_path, requested_runtime
from ser.encoders.offline import MODEL_SHA256, N_LAYER, N_MELS, encode, fast_dtype, load_encoder, precision_name

logger = logging.getLogger(__name__)
T, R = TypeVar("T"), TypeVar("R")
# before onnxruntime is imported: its telemetry writes a session file into TMPDIR on import (and nothing may phone home)
os.environ.setdefault("ORT_DISABLE_TELEMETRY", "1")

AUTO_RUNTIME = SAFE_DEFAULT.runtime  # what `auto` runs in float32 until this machine's paths are timed
GRAPH_NAME = "whisper-base-encoder-{n_layers}layers"
OPSET = 17
# the tracer needs one example input; batch and time are dynamic in the graph (time up to ser.encoders.offline.N_FRAMES)
EXAMPLE_FRAMES = 400
# bumped when the export changes, so graphs cached by an older version are rebuilt rather than reused
GRAPH_FORMAT = 1
HASH_CHUNK = 1 << 20


class StatesGraph(nn.Module):
    """log-mel [batch, 80, frames] -> the embedding output and the first `n_layers` layers' states stacked on dim 1,
    computed by `ser.encoders.offline.encode` itself, so the exported graph holds the same arithmetic as the torch path."""

    def __init__(self, encoder: nn.Module, n_layers: int):
        super().__init__()
        self.encoder, self.n_layers = encoder, n_layers

    def forward(self, mel: torch.Tensor) -> torch.Tensor:
        return torch.stack(encode(self.encoder, mel, n_layers=self.n_layers), dim=1)


def runtime_for(dtype: torch.dtype) -> str:
    """The runtime that will encode in `dtype`: the graphs are float32 only, so any other dtype runs on torch; in
    float32, the runtime `SER_ENCODER_RUNTIME` names, else the chosen path's (`ser.encoders.path.chosen_path`)."""
    if dtype != torch.float32:
        choice = requested_runtime()
        if choice not in ("auto", "torch"):
            _warn_once(f"SER_ENCODER_RUNTIME={choice} runs float32 only; the encoder runs on torch in the "
                       f"SER_ENCODER_DTYPE asked for ({settings.encoder_dtype()}).")
        return "torch"
    choice = chosen_path()
    if choice.path.dtype != precision_name(dtype):  # float32 asked for where the chosen path is another precision
        choice = chosen_path(precision_name(dtype))
    return choice.path.runtime


def active_runtime() -> str:
    """What the default model's encoder runs on now, after any fallback (reports record it beside the dtype)."""
    from ser.encoders.offline import ENCODER_LAYERS

    runtime = runtime_for(fast_dtype())
    return runtime if runtime == "torch" or _compiled(runtime, _cache_key(), _threads(), ENCODER_LAYERS) else "torch"


def planned_runtime() -> str:
    """The runtime the default model's encoder is set to use, when installed, without building anything (for reports;
    `active_runtime` also builds the graph, so it sees a failed export too)."""
    import importlib.util

    runtime = runtime_for(fast_dtype())
    return runtime if runtime == "torch" or importlib.util.find_spec(runtime) is not None else "torch"


def encoder_states(log_mel: np.ndarray, n_layers: int) -> torch.Tensor:
    """Frozen-encoder states [n_layers + 1, ceil(frames / 2), 512] for one clip's log-mel [80, frames], on the runtime
    `SER_ENCODER_RUNTIME` chooses (read per call, as `SER_ENCODER_DTYPE` is)."""
    if not 0 < n_layers <= N_LAYER:
        raise ValueError(f"Whisper base has {N_LAYER} layers; cannot stop after {n_layers}.")
    dtype = fast_dtype()
    runtime = runtime_for(dtype)
    if runtime != "torch":
        graph = _compiled(runtime, _cache_key(), _threads(), n_layers)
        if graph is not None:
            return torch.from_numpy(graph.run(np.ascontiguousarray(log_mel[None], dtype=np.float32))[0])
    return torch.stack(encode(load_encoder(dtype=dtype), log_mel[None], n_layers=n_layers), dim=1)[0]


def _cache_key() -> str:
    return str(settings.cache_dir())


_worker = threading.local()  # `map_clips` workers run their graphs on one thread each


def _threads() -> int:
    """Math threads for a graph: torch's setting (the app sets one per concurrent analysis, benchmarks set 2), or one in
    a `map_clips` worker."""
    return getattr(_worker, "threads", None) or max(1, torch.get_num_threads())


def map_clips(fn: Callable[[T], R], items: Sequence[T]) -> list[R]:
    """`[fn(item) for item in items]`, in order. When the encoder runs on a graph runtime with N > 1 math threads, on N
    worker threads whose graphs use one thread each: a clip's matrices are small (a few hundred frames), and two clips
    side by side used 30% less CPU than one clip at a time on two threads (40 RAVDESS clips, ORT). Workers run without
    autograd, as inference does. The app's requests (one clip each, one thread each) are unaffected."""
    threads = max(1, torch.get_num_threads())
    if len(items) < 2 or threads < 2 or planned_runtime() == "torch":
        return [fn(item) for item in items]

    def run(item: T) -> R:
        _worker.threads = 1
        with torch.no_grad():
            return fn(item)

    with ThreadPoolExecutor(max_workers=min(threads, len(items)), thread_name_prefix="clip") as pool:
        return list(pool.map(run, items))


_build_lock = threading.Lock()  # two first calls at once must not export the same graph twice


@functools.lru_cache(maxsize=None)
def _compiled_locked(runtime: str, cache_dir: str, threads: int, n_layers: int):
    try:
        return RUNNERS[runtime](load_graph(Path(cache_dir), n_layers), threads)
    except ImportError as error:
        _warn_once(f"The encoder runtime {runtime} is not installed ({error.name}); the encoder runs on torch.")
    except Exception as error:  # an export or a compilation that fails: torch still gives the right answer
        logger.warning("the encoder runtime %s could not load its graph (%s: %s); the encoder runs on torch",
                       runtime, type(error).__name__, error)
    return None


def _compiled(runtime: str, cache_dir: str, threads: int, n_layers: int):
    """The compiled graph on `runtime`, built once per process, or None (after one warning) when it cannot be."""
    with _build_lock:
        return _compiled_locked(runtime, cache_dir, threads, n_layers)


def drop_graphs() -> None:
    """Let go of the compiled graphs (one a request is running stays alive until it returns): after the paths are timed
    the encoder may move to another path, and an unused ONNX Runtime session holds ~100 MB (resident, after one 4-s
    clip). The next call on a graph runtime builds its graph again from the cached file (~0.1 s)."""
    with _build_lock:
        _compiled_locked.cache_clear()


@functools.lru_cache(maxsize=None)
def _warn_once(message: str) -> None:
    logger.warning(message)


# --- the graph: exported once, cached, verified ---------------------------------------------------------------------


def graph_paths(cache_dir: Path, n_layers: int) -> tuple[Path, Path]:
    name = GRAPH_NAME.format(n_layers=n_layers)
    return cache_dir / f"{name}.onnx", cache_dir / f"{name}.json"


def _expected_meta(n_layers: int) -> dict:
    """What a cached graph must have been built from: the verified Whisper weights, this export, this torch."""
    return {"source_sha256": MODEL_SHA256, "n_layers": n_layers, "opset": OPSET, "format": GRAPH_FORMAT, "torch": torch.__version__}


def _sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        for block in iter(lambda: file.read(HASH_CHUNK), b""):
            digest.update(block)
    return digest.hexdigest()


def _cached_graph_ok(graph: Path, meta: Path, n_layers: int) -> bool:
    """Whether the cached graph matches the sha256 recorded beside it and was built as this version builds them."""
    try:
        info = json.loads(meta.read_text())
        if not isinstance(info, dict) or any(info.get(k) != v for k, v in _expected_meta(n_layers).items()):
            logger.info("cached encoder graph %s was built by another version; rebuilding it", graph)
            return False
        if info.get("sha256") != _sha256_file(graph):
            logger.warning("cached encoder graph %s does not match its checksum; rebuilding it", graph)
            return False
    except (OSError, ValueError):
        return False
    return True


def export_graph(n_layers: int, cache_dir: Path | None = None) -> bytes:
    """The ONNX graph of `StatesGraph` on the verified float32 encoder (`load_encoder`), batch and time axes dynamic."""
    import io

    encoder = load_encoder.__wrapped__(cache_dir=cache_dir, dtype=torch.float32)  # uncached: the torch copy is dropped once exported
    example = torch.zeros(1, N_MELS, EXAMPLE_FRAMES)
    buffer = io.BytesIO()
    with warnings.catch_warnings():
        # the TorchScript-based exporter is deprecated in favour of the dynamo one, which took 14.5 s instead of 2.6 s
        # for this graph and needs onnxscript; both give the same graph for these plain ops (needs the onnx package)
        warnings.simplefilter("ignore")
        torch.onnx.export(StatesGraph(encoder, n_layers).eval(), (example,), buffer, input_names=["mel"],
                          output_names=["states"], opset_version=OPSET, dynamo=False,
                          dynamic_axes={"mel": {0: "batch", 2: "frames"}, "states": {0: "batch", 2: "positions"}})
    return buffer.getvalue()


def load_graph(cache_dir: Path, n_layers: int) -> Path | bytes:
    """The checked graph for `n_layers`: the cached file when its checksum matches, else exported and cached (its bytes
    when the cache cannot be written)."""
    graph, meta = graph_paths(cache_dir, n_layers)
    if _cached_graph_ok(graph, meta, n_layers):
        return graph
    data = export_graph(n_layers, cache_dir)
    info = {**_expected_meta(n_layers), "sha256": hashlib.sha256(data).hexdigest()}
    try:
        cache_dir.mkdir(parents=True, exist_ok=True)
        atomic_write(graph, data)
        atomic_write(meta, json.dumps(info, indent=1).encode())
    except OSError as error:  # a read-only cache costs an export next time, nothing else
        logger.warning("could not cache the encoder graph in %s: %s", cache_dir, error)
        return data
    return graph


# --- the runtimes ---------------------------------------------------------------------------------------------------


class OnnxRuntimeGraph:
    """The graph in an ONNX Runtime session; `run` may be called from several threads at once."""

    def __init__(self, graph: Path | bytes, threads: int):
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # no busy-waiting between ops: the cores are shared with torch's threads and with concurrent requests
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self.session = ort.InferenceSession(str(graph) if isinstance(graph, Path) else graph, options,
                                            providers=["CPUExecutionProvider"])

    def run(self, mel: np.ndarray) -> np.ndarray:
        return self.session.run(None, {"mel": mel})[0]


class OpenVinoGraph:
    """The graph compiled by OpenVINO for the CPU; one infer request per thread (a request serves one call at a time)."""

    def __init__(self, graph: Path | bytes, threads: int):
        import openvino

        core = openvino.Core()
        # f32 spelled out: on CPUs with AMX/AVX512-BF16 OpenVINO would otherwise infer in bfloat16
        self.compiled = core.compile_model(core.read_model(str(graph) if isinstance(graph, Path) else graph), "CPU", {
            "INFERENCE_NUM_THREADS": threads, "PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": "f32"})
        self._local = threading.local()

    def run(self, mel: np.ndarray) -> np.ndarray:
        if not hasattr(self._local, "request"):
            self._local.request = self.compiled.create_infer_request()
        return self._local.request.infer({0: mel})[0].copy()  # the request reuses its output buffer


RUNNERS = {"onnxruntime": OnnxRuntimeGraph, "openvino": OpenVinoGraph}
