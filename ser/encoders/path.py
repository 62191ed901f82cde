"""Which path the Whisper encoder runs on (a runtime and a precision), chosen by timing the paths this CPU offers.

    choice = chosen_path()          # PathChoice(path=EncoderPath("onnxruntime", "float32"), why="...")
    candidate_paths(cpu_flags())    # pure: the paths a CPU with these flags is offered

Candidates, in order of preference: ONNX Runtime, OpenVINO and torch in float32 (each when installed), and torch in
bfloat16 only where /proc/cpuinfo lists AVX512_BF16 or AMX-BF16. torch's own test
(`torch.ops.mkldnn._is_mkldnn_bf16_supported`) answers True on any AVX512-BW CPU, where oneDNN emulates bfloat16: on an
Ice Lake Xeon the encoder then took 100 ms against ONNX Runtime's 39 (issue 44). int8 is never a candidate: it scored
lower than float32 on all six folds and has no unseen-corpus row, so the rule in docs/experiments.md does not let it be
a default ("Encoder precision"); `SER_ENCODER_DTYPE=int8` still asks for it.

`ser.encoders.timing` times the candidates once per machine (CPU model, flags, core count, library versions) and keeps
the result in the cache folder; a later start reads it. Until then the safe default runs: ONNX Runtime float32, the
fastest float32 path on every CPU measured so far (docs/performance.md). `SER_ENCODER_DTYPE` / `SER_ENCODER_RUNTIME`
narrow the candidates (`SER_ENCODER_RUNTIME=torch` leaves torch's two); one path left runs without timing.
This module imports neither torch nor a runtime, so the About tab can say what runs before the model is loaded.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import logging
import os
import platform
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ser import settings
from ser.atomic_file import atomic_write

logger = logging.getLogger(__name__)

RUNTIMES = ("torch", "onnxruntime", "openvino")
GRAPH_RUNTIMES = ("onnxruntime", "openvino")  # they run our exported float32 graph
DTYPES = ("float32", "bfloat16", "int8")
NATIVE_BF16_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo names: bfloat16 in hardware, not emulated
VERSIONED_PACKAGES = ("torch", "onnxruntime", "openvino", "numpy")  # a new version can change which path is fastest
# a candidate within this share of the fastest keeps its place in the order of preference: graph runtimes do not spin
# on a busy machine and run a batch's clips side by side (ser.encoders.runtime.map_clips), which a 4-s timing does not see
TIE_MARGIN = 0.05
TIMING_FORMAT = 1  # bumped when the timing changes, so files written by an older version are measured again
TIMING_FILE = "encoder-path-{digest}.json"


@dataclass(frozen=True)
class EncoderPath:
    runtime: str  # torch, onnxruntime or openvino
    dtype: str  # float32, bfloat16 or int8

    @property
    def name(self) -> str:
        return f"{self.runtime} {self.dtype}"


SAFE_DEFAULT = EncoderPath("onnxruntime", "float32")


@dataclass(frozen=True)
class PathChoice:
    path: EncoderPath
    why: str  # one sentence for the About tab and `--verbose`
    measured: bool = False  # chosen from this machine's timing


# --- the CPU, and the candidates it offers (pure) -------------------------------------------------------------------



def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (Linux), else what `platform` knows. The default model's 4-s latency
    ranged from 27 to 94 ms over the 2-core machines this project was benchmarked on (docs/performance.md), so a
    speed report says which CPU it ran on."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def parse_cpu_flags(cpuinfo: str) -> frozenset[str]:
    """The feature flags of the first processor in a /proc/cpuinfo text (`flags : fpu vme ...`)."""
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        if key.strip() == "flags":
            return frozenset(value.split())
    return frozenset()


@functools.lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """This CPU's feature flags (empty where there is no /proc/cpuinfo: then bfloat16 is not offered)."""
    try:
        return parse_cpu_flags(Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace"))
    except OSError:
        return frozenset()


def native_bfloat16(flags: Iterable[str]) -> bool:
    """Whether the CPU computes bfloat16 in hardware (AVX512_BF16 or AMX-BF16), as opposed to oneDNN emulating it."""
    return any(flag in set(flags) for flag in NATIVE_BF16_FLAGS)


def candidate_paths(flags: Iterable[str], installed: Iterable[str] = RUNTIMES) -> list[EncoderPath]:
    """The paths worth timing on a CPU with `flags` where the runtimes `installed` are, in order of preference."""
    installed = set(installed) | {"torch"}
    paths = [EncoderPath(runtime, "float32") for runtime in (*GRAPH_RUNTIMES, "torch") if runtime in installed]
    if native_bfloat16(flags):
        paths.append(EncoderPath("torch", "bfloat16"))
    return paths


def allowed_paths(candidates: list[EncoderPath], dtype: str = "auto", runtime: str = "auto") -> list[EncoderPath]:
    """The candidates a `SER_ENCODER_DTYPE` / `SER_ENCODER_RUNTIME` pair leaves ("auto": no constraint). The graphs are
    float32 only, so another asked-for precision runs on torch whatever the runtime; an asked-for path runs even if it
    is not a candidate (bfloat16 on a CPU that emulates it)."""
    if dtype not in ("auto", "float32"):
        return [EncoderPath("torch", dtype)]
    if runtime in GRAPH_RUNTIMES:
        return [EncoderPath(runtime, "float32")]
    left = [p for p in candidates if (dtype == "auto" or p.dtype == dtype) and (runtime == "auto" or p.runtime == runtime)]
    return left or [EncoderPath("torch" if runtime == "torch" else SAFE_DEFAULT.runtime, "float32")]


def fastest(paths: list[EncoderPath], ms: dict[str, float], margin: float = TIE_MARGIN) -> EncoderPath | None:
    """The first of `paths` (in their order of preference) timed within `margin` of the fastest one; None if none was
    timed."""
    timed = [p for p in paths if p.name in ms]
    if not timed:
        return None
    best = min(ms[p.name] for p in timed)
    return next(p for p in timed if ms[p.name] <= best * (1 + margin))


# --- the settings ---------------------------------------------------------------------------------------------------


def requested_dtype(choice: str | None = None) -> str:
    """`choice` (default `SER_ENCODER_DTYPE`) as a precision name or "auto"; an unknown value is logged once."""
    choice = (choice or settings.encoder_dtype()).strip().lower()
    if choice != "auto" and choice not in DTYPES:
        _warn_once(f"SER_ENCODER_DTYPE={choice!r} is not one of auto, {', '.join(DTYPES)}; using auto.")
        return "auto"
    return choice


def requested_runtime() -> str:
    """`SER_ENCODER_RUNTIME` as a runtime name, or "auto"; an unknown value is logged once and treated as "auto"."""
    choice = settings.encoder_runtime()
    if choice != "auto" and choice not in RUNTIMES:
        _warn_once(f"SER_ENCODER_RUNTIME={choice!r} is not one of auto, {', '.join(RUNTIMES)}; using auto.")
        return "auto"
    return choice


@functools.lru_cache(maxsize=None)
def _warn_once(message: str) -> None:  # once per value, not once per clip
    logger.warning(message)


@functools.lru_cache(maxsize=1)
def installed_runtimes() -> tuple[str, ...]:
    return tuple(r for r in RUNTIMES if r == "torch" or importlib.util.find_spec(r) is not None)


# --- this machine's timing, kept in the cache folder ----------------------------------------------------------------


def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


@functools.lru_cache(maxsize=1)
def machine_key() -> dict:
    """What a timing holds for: the CPU (model, flags, cores), the libraries' versions and this timing's format."""
    flags = " ".join(sorted(cpu_flags()))
    return {"cpu_model": cpu_model(), "cpu_flags_sha256": hashlib.sha256(flags.encode()).hexdigest()[:16],
            "cpu_count": os.cpu_count(), "versions": {p: _version(p) for p in VERSIONED_PACKAGES}, "format": TIMING_FORMAT}


def timing_path(cache_dir: Path | None = None) -> Path:
    digest = hashlib.sha256(json.dumps(machine_key(), sort_keys=True).encode()).hexdigest()[:16]
    return (cache_dir or settings.cache_dir()) / TIMING_FILE.format(digest=digest)


_timings: dict[str, dict | None] = {}  # timing file -> its record (None: none yet), read once per process
_timings_lock = threading.Lock()


def stored_timing() -> dict | None:
    """This machine's timing record ({"ms": {path name: ms}, ...}) from the cache folder, or None."""
    path = timing_path()
    with _timings_lock:
        if str(path) not in _timings:
            _timings[str(path)] = _read_timing(path)
        return _timings[str(path)]


def _read_timing(path: Path) -> dict | None:
    try:
        record = json.loads(path.read_text())
    except (OSError, ValueError):
        return None
    if not isinstance(record, dict) or record.get("key") != machine_key() or not isinstance(record.get("ms"), dict):
        return None
    return record


def store_timing(record: dict) -> Path:
    """Keep `record` as this machine's timing (in this process at once, in the cache folder for later ones)."""
    record = {**record, "key": machine_key()}
    path = timing_path()
    with _timings_lock:
        _timings[str(path)] = record
    try:
        atomic_write(path, json.dumps(record, indent=1).encode())
    except OSError as error:  # a read-only cache costs a timing at the next start, nothing else
        logger.warning("could not keep the encoder timing in %s: %s", path.parent, error)
    return path


# --- the choice -----------------------------------------------------------------------------------------------------


def chosen_path(dtype: str | None = None) -> PathChoice:
    """The path the encoder runs on now, and why: the setting's when it leaves one path, else the fastest allowed path
    of this machine's timing, else the safe default. `dtype` (a precision name) overrides `SER_ENCODER_DTYPE`."""
    dtype, runtime = requested_dtype(dtype), requested_runtime()
    allowed = allowed_paths(candidate_paths(cpu_flags(), installed_runtimes()), dtype, runtime)
    if len(allowed) == 1:
        return PathChoice(allowed[0], f"{_settings_text(dtype, runtime)} asks for it.")
    timing = stored_timing()
    if timing is not None:
        best = fastest(allowed, timing["ms"])
        if best is not None:
            among = "" if dtype == runtime == "auto" else f" of the paths {_settings_text(dtype, runtime)} leaves"
            return PathChoice(best, f"it was the fastest{among} here when timed: {timing_text(timing, allowed)}.", measured=True)
    path = allowed[0]
    return PathChoice(path, f"the default until this machine's paths are timed ({', '.join(p.name for p in allowed)}), "
                            "which happens once, on first use; the fastest is then kept for later starts.")


def _settings_text(dtype: str, runtime: str) -> str:
    parts = [f"SER_ENCODER_DTYPE={dtype}" if dtype != "auto" else "", f"SER_ENCODER_RUNTIME={runtime}" if runtime != "auto" else ""]
    return " and ".join(p for p in parts if p) or "this machine"


def timing_text(timing: dict, paths: list[EncoderPath] | None = None) -> str:
    """The timing's figures, fastest first (of `paths` only, when given)."""
    names = {p.name for p in paths} if paths is not None else set(timing["ms"])
    ms = ", ".join(f"{name} {value:.0f} ms" for name, value in sorted(timing["ms"].items(), key=lambda item: item[1])
                   if name in names)
    return f"{ms} (a {timing.get('clip_s', 4):g}-s clip, {timing.get('threads', 1)} thread, {timing.get('measured', '?')})"


def summary(choice: PathChoice | None = None) -> str:
    """One paragraph: the path, why, and what the CPU offered (the About tab and `python -m ser predict --verbose`)."""
    choice = choice or chosen_path()
    flags = cpu_flags()
    bf16 = ("native bfloat16 (AVX512_BF16 or AMX-BF16), so torch bfloat16 is a candidate" if native_bfloat16(flags)
            else "no native bfloat16 (no AVX512_BF16 or AMX-BF16): bfloat16 would be emulated, so it is not a candidate")
    return (f"The Whisper encoder runs on {choice.path.name}: {choice.why} This CPU ({cpu_model()}, {os.cpu_count()} "
            f"cores) has {bf16}; int8 is never chosen by itself, as it costs accuracy.")
