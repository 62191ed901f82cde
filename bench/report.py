"""Targets, the default-vs-peer comparison, and the Markdown "Performance" section written from `reports/bench.json`."""

from __future__ import annotations

TARGETS = {
    "default_4s_median_ms_max": 60,  # default model, one 4-s clip, 2 torch threads
    "speedup_vs_wav2vec2_large_min": 35,  # same clip, same run
    "cli_realtime_factor_min": 150,  # RAVDESS end to end
    "timeline_10min_wall_s_max": 10,
    "timeline_10min_rss_mb_max": 1500,
    "app_ready_s_max": 3,  # from `python app.py` to its first answer (bench.app)
    "load_peak_rss_mb_max": 1024,  # the app under 20 concurrent clients (bench.load)
    "load_failed_requests_max": 0,  # good requests that failed + bad ones not answered with their sentence
}
CLIP = "4s"


def _get(d: dict, *keys):
    for key in keys:
        if not isinstance(d, dict) or key not in d:
            return None
        d = d[key]
    return d


def comparison(report: dict) -> dict:
    """{peer: {clip: peer median / default median}}: how many times faster the default model is, clip by clip."""
    ours = _get(report, "latency", report.get("default_model"), "clips") or {}
    out = {}
    for name, entry in (report.get("peer") or {}).items():
        clips = entry.get("clips", {}) if isinstance(entry, dict) else {}
        out[name] = {clip: round(m["median_ms"] / ours[clip]["median_ms"], 1) for clip, m in clips.items() if clip in ours}
    return out


def _measured(report: dict, int8: bool = False) -> dict:
    """{target: measured value or None}; `int8`: the default model's runs with SER_ENCODER_DTYPE=int8 (speed targets only)."""
    p = "int8_" if int8 else ""
    latency = report.get("int8_latency") if int8 else _get(report, "latency", report.get("default_model"))
    full_recording = _get(report, f"{p}timeline", "recording_s") == 600.0
    return {
        "default_4s_median_ms_max": _get(latency or {}, "clips", CLIP, "median_ms"),
        "speedup_vs_wav2vec2_large_min": None if int8 else _get(comparison(report), "wav2vec2-large-xlsr", CLIP),
        "cli_realtime_factor_min": _get(report, f"{p}cli", "realtime_factor"),
        "timeline_10min_wall_s_max": _get(report, f"{p}timeline", "wall_s") if full_recording else None,
        "timeline_10min_rss_mb_max": _get(report, f"{p}timeline", "peak_rss_mb") if full_recording else None,
        "app_ready_s_max": None if int8 else _get(report, "app", "app", "ready_s"),
        "load_peak_rss_mb_max": None if int8 else _get(report, "load", "load", "rss_mb", "peak"),
        "load_failed_requests_max": None if int8 else _load_failures(_get(report, "load", "load")),
    }


def _load_failures(load: dict | None) -> int | None:
    """Good requests that failed plus bad ones not answered with their own sentence (None: no load run)."""
    if not load or "good" not in load:
        return None
    bad = load["bad"]
    return load["good"]["failures"] + bad["n"] - bad["answered_with_their_sentence"] + (0 if load.get("server_alive", True) else 1)


def _meets(measured: dict) -> dict:
    meets = {}
    for name, value in measured.items():
        limit = TARGETS[name]
        meets[name] = None if value is None else (value <= limit if name.endswith("_max") else value >= limit)
    return meets


def check_targets(report: dict) -> tuple[dict, dict, dict]:
    """(comparison, {target: True/False, or None when not measured}, the same with the encoder in int8);
    timeline targets need the full 10-minute recording."""
    return comparison(report), _meets(_measured(report)), _meets(_measured(report, int8=True))


def _ms(entry: dict | None, clip: str) -> str:
    m = _get(entry or {}, "clips", clip)
    return f"{m['median_ms']:.0f} / {m['p95_ms']:.0f}" if m else "-"


def _latency_table(report: dict) -> list[str]:
    clips = ["1s", "4s", "10s"]
    default = report.get("default_model")
    rows = [(entry.get("name", ref) + (" (default)" if ref == default else ""), entry)
            for ref, entry in (report.get("latency") or {}).items()]
    if report.get("int8_latency"):
        int8 = report["int8_latency"]
        rows.append((f"{int8.get('name', default)}, encoder in int8 (`SER_ENCODER_DTYPE=int8`)", int8))
    rows += [(f"`pipeline(\"audio-classification\")`, {name} ({entry['params_m']:.0f} M params, random weights)"
              if "error" not in entry else f"pipeline {name}", entry) for name, entry in (report.get("peer") or {}).items()]
    lines = ["| model | " + " | ".join(c.replace("s", " s") for c in clips) + " |", "|---" * (len(clips) + 1) + "|"]
    for label, entry in rows:
        cells = [f"not measured: {entry['error']}"] + [""] * (len(clips) - 1) if "error" in entry else [_ms(entry, c) for c in clips]
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def _cli_lines(report: dict) -> list[str]:
    lines = ["| run | input | wall time | throughput | peak RSS |", "|---|---|---|---|---|"]
    for prefix, note in (("", ""), ("int8_", ", `SER_ENCODER_DTYPE=int8`")):
        cli, tl = report.get(f"{prefix}cli") or {}, report.get(f"{prefix}timeline") or {}
        if "one_clip_wall_s" in cli and not prefix:
            lines.append(f"| `python -m ser predict one.flac` | 1 file: start-up, model loading, one clip | {cli['one_clip_wall_s']:.1f} s | | |")
        if "wall_s" in cli:
            lines.append(f"| `python -m ser predict ravdess/`{note} | {cli['files']} files, {cli['audio_s'] / 60:.0f} min of audio | "
                         f"{cli['wall_s']:.1f} s | {cli['clips_per_s']:.1f} clips/s, {cli['realtime_factor']:.0f}x real time "
                         f"({cli['steady_realtime_factor']:.0f}x after start-up) | {cli['peak_rss_mb']:.0f} MB |")
        elif cli:
            lines.append(f"| `python -m ser predict ravdess/`{note} | not measured: {cli.get('error')} | | | |")
        if "wall_s" in tl:
            lines.append(f"| `python -m ser predict recording.flac --timeline`{note} | {tl['recording_s'] / 60:g} min recording, "
                         f"{tl['windows']} windows | {tl['wall_s']:.1f} s | {tl['realtime_factor']:.0f}x real time | {tl['peak_rss_mb']:.0f} MB |")
        elif tl:
            lines.append(f"| `python -m ser predict recording.flac --timeline`{note} | not measured: {tl.get('error')} | | | |")
    return lines


def _other_lines(report: dict) -> list[str]:
    lines = []
    app = _get(report, "app", "app")
    if app:
        lines.append(f"- App (`python app.py`, through `gradio_client`, {app['model']}): a 4-s clip is analysed in "
                     f"{app['analysis_ms']['median']:.0f} ms (median of {app['analysis_ms']['n']}; round trip with upload and "
                     f"figures {app['round_trip_ms']['median']:.0f} ms); ready {app['ready_s']:.1f} s after start; "
                     f"{app['rss_mb']:.0f} MB resident after {app['requests_before_rss']} requests.")
    elif "app" in report:
        lines.append(f"- App: not measured ({_get(report, 'app', 'error')}).")
    runtimes = _get(report, "encoder_runtimes", "encoder_runtimes")
    if runtimes and runtimes.get("runtimes"):
        rows = runtimes["runtimes"]
        timings = ", ".join(f"{name} {entry['median_ms_4s']:.0f} ms"
                            + (f" ({entry['median_ms_4s_1thread']:.0f} ms on 1 thread)" if "median_ms_4s_1thread" in entry else "")
                            for name, entry in rows.items())
        reference = "torch float32" if "torch float32" in rows else "torch"  # reports before issue 44 named runtimes
        others = {name: entry for name, entry in rows.items() if name != reference}
        float32 = [entry for name, entry in others.items() if "bfloat16" not in name]
        cpu = runtimes.get("cpu") or {}
        lines.append(f"- Encoder paths (`python -m bench.encoder_runtimes`, the 4-s clip, interleaved, median of "
                     f"{runtimes['runs']}"
                     + (f"; {cpu['model']}, native bfloat16: {'yes' if cpu.get('native_bfloat16') else 'no'}" if cpu else "")
                     + f"): {timings}. On {runtimes['clips']} RAVDESS clips the float32 paths' probabilities differ from "
                     f"{reference}'s by at most {max((e['max_abs_prob_diff'] for e in float32), default=0):.1e}"
                     + "".join(f"; {name}'s by {entry['max_abs_prob_diff']:.1e}" for name, entry in others.items() if "bfloat16" in name)
                     + f", and the top label agrees on {min((e['top_label_agreement'] for e in others.values()), default=1):.1%} "
                     f"of them. Fastest with the same labels: {runtimes['fastest_equivalent']}"
                     + (f" (on 1 thread: {runtimes['fastest_equivalent_1thread']})" if "fastest_equivalent_1thread" in runtimes else "")
                     + f"; auto runs {runtimes['auto_picks']}"
                     + (f" ({runtimes['auto_vs_fastest']:.2f}x the fastest's time; on 1 thread {runtimes['auto_vs_fastest_1thread']:.2f}x)"
                        if "auto_vs_fastest" in runtimes else "") + ".")
    elif "encoder_runtimes" in report:
        lines.append(f"- Encoder runtimes: not measured ({_get(report, 'encoder_runtimes', 'error')}).")
    load = _get(report, "load", "load")
    if load and "good" in load:
        lines.append(f"- App under load (`python -m bench.load`, {load['clients']} clients x {load['requests_per_client']} requests at "
                     f"once, one in three a bad file): {load['good']['failures']} of {load['good']['n']} good requests failed, "
                     f"{load['bad']['answered_with_their_sentence']} of {load['bad']['n']} bad ones answered with their sentence; "
                     f"resident memory {load['rss_mb']['before']:.0f} MB before, peak {load['rss_mb']['peak']:.0f} MB"
                     + (f", {load['rss_mb']['after']:.0f} MB after" if "after" in load["rss_mb"] else "")
                     + f"; good requests' latency p50 {load['good']['latency_ms']['p50'] / 1000:.1f} s, p95 "
                     f"{load['good']['latency_ms']['p95'] / 1000:.1f} s.")
    elif "load" in report:
        lines.append(f"- App under load: not measured ({_get(report, 'load', 'error')}).")
    loader = report.get("loader") or {}
    if "files_per_s" in loader:
        lines.append(f"- Audio loader: {loader['files']} RAVDESS files in {loader['total_s']:.1f} s on one core "
                     f"(median {loader['median_ms']:.1f} ms per file, {loader['realtime_factor']:.0f}x real time).")
    return lines


def _target_lines(report: dict) -> list[str]:
    meets = report.get("meets_targets") or {}
    text = {
        "default_4s_median_ms_max": "default model, 4-s clip, 2 threads: <= {} ms",
        "speedup_vs_wav2vec2_large_min": "default model vs the wav2vec2-large pipeline, 4-s clip: >= {}x faster",
        "cli_realtime_factor_min": "CLI on RAVDESS: >= {}x real time",
        "timeline_10min_wall_s_max": "10-minute timeline: <= {} s",
        "timeline_10min_rss_mb_max": "10-minute timeline: <= {} MB resident",
        "app_ready_s_max": "app: first answer <= {} s after `python app.py`",
        "load_peak_rss_mb_max": "app under load: peak resident memory <= {} MB",
        "load_failed_requests_max": "app under load: {} failed good requests, every bad file answered with its sentence",
    }
    int8 = report.get("meets_targets_int8") or {}
    mark = {True: "met", False: "**missed**", None: "not measured"}
    return [f"- {text[name].format(limit)}: {mark[meets.get(name)]}"
            + (f" ({mark[int8[name]].strip('*')} with `SER_ENCODER_DTYPE=int8`)" if int8.get(name) is not None else "")
            for name, limit in TARGETS.items()]


def markdown(report: dict) -> str:
    """The README's Performance section, every figure taken from the report."""
    m = report.get("machine", {})
    ratios = report.get("comparison") or {}
    speedups = [f"{r['4s']:.0f}x faster than the {name} pipeline" for name, r in ratios.items() if "4s" in r]
    runs = _get(report, "latency", report.get("default_model"), "clips", "4s", "runs") or "-"
    lines = [
        "## Performance", "",
        f"Measured by `make bench` on {m.get('processor', '?')} ({m.get('cpu_model', 'CPU model not recorded')}) with {m.get('cpu_count', '?')} cores, torch {m.get('torch', '?')}, "
        f"Whisper encoder on {m.get('whisper_encoder_runtime', '?')} in {m.get('whisper_encoder_dtype', '?')}"
        + (" (the path auto chose)" if report.get("encoder_path") else "") + ", "
        f"{report.get('generated', '')[:10]}; load average {report.get('load_average_before', ['?'])[0]} at the start "
        f"(figures from a busy machine are pessimistic)"
        + (f"; torch's OpenMP threads were told to sleep instead of spin (`OMP_WAIT_POLICY={report['omp_wait_policy']}`, "
           "set by bench.run when the load average exceeds the core count)" if report.get("omp_wait_policy") == "PASSIVE" else "")
        + ". Full numbers: `reports/bench.json`."
        + (" **Quick smoke pass: few runs, not for quoting.**" if report.get("quick") else ""), "",
        f"### One clip ({report.get('torch_threads_latency')} torch threads; median / p95 ms of {runs} runs; features included)", "",
        *_latency_table(report), "",
        *[f"_{note}_" for note in report.get("notes", [])], *([""] if report.get("notes") else []),
    ]
    if speedups:
        lines += [f"On a 4-s clip the default model is {' and '.join(speedups)} (same clips, same threads, same run). "
                  "The pipelines use wav2vec2 models built from their configs with random weights: same compute as the "
                  "fine-tuned SER checkpoints, nothing downloaded.", ""]
    lines += [f"### Command line (torch default of {report.get('torch_threads_cli')} threads, "
              f"{report.get('cli_decode_workers')} decoding thread(s))", "",
              "Wall time is end to end: Python start-up, model loading, decoding, the model and writing the CSV.", "",
              *_cli_lines(report), "", *_other_lines(report), "", "### Targets", "", *_target_lines(report), ""]
    return "\n".join(lines)
