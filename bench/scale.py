"""`python -m ser predict` on the same RAVDESS clips in-process and through local Ray, in one run on one machine
-> reports/scale.json and reports/scale.md (docs/scale.md quotes them).

    python -m bench.scale              # every RAVDESS clip (1,440; ~10 min on 2 idle cores)
    python -m bench.scale --limit 240  # the first 240 clips

Runs, each a fresh process as a user starts it: in-process (torch's default threads), Ray with one actor per core
(one torch thread each, the default), Ray with one actor of all cores' threads, and Ray with one one-thread actor (the
per-actor figure of the scaling model). A one-clip run of each engine gives its fixed start-up cost. Then, in this
process, decoding and the model timed apart on the same clips (one thread): what bounds an actor.
Peak memory per actor: the largest resident (RSS) and unique (USS) memory of each classifying actor's process.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing here may download
from bench import sleep_openmp_threads_when_busy  # noqa: E402

OMP_PASSIVE = sleep_openmp_threads_when_busy()  # before torch loads, as bench.run does; both engines' processes inherit it

import argparse  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import psutil  # noqa: E402
import soundfile as sf  # noqa: E402

from ser import settings  # noqa: E402
from ser.evaluation.corpora import scan_corpus  # noqa: E402
from ser.evaluation.metrics import read_report, write_report  # noqa: E402

ACTOR_TITLE = "MapBatches(Classifier)"  # Ray titles an actor's process ray::MapWorker(MapBatches(Classifier))
RSS_POLL_S = 0.02
USS_EVERY = 10  # unique memory reads /proc/PID/smaps: sampled every 10th poll (0.2 s)
TIMING_CLIPS = 48  # clips for the decode/model split measured in this process
HOURS_PLANNED = (1_000, 100_000)
NODE_CORES = (16, 64)  # the machines the cost table is worked out for
GOAL_OVERHEAD = 0.15  # the goal: local Ray within 15% of in-process on 2 cores
ROUNDS = 2  # each plan run this many times, interleaved: on a shared machine one run can be slowed by others' jobs
REPORT = "scale.json"


def sample(tree: list[psutil.Process], actors: dict, count: int) -> int:
    """The tree's summed RSS; each actor's largest RSS and, every USS_EVERY samples, unique memory (USS: its own pages,
    not the object store's shared ones, which RSS counts in every process that touched them)."""
    total = 0
    for process in tree:
        try:
            rss = process.memory_info().rss
            total += rss
            if ACTOR_TITLE in " ".join(process.cmdline()):
                peak = actors.setdefault(process.pid, {"rss": 0, "uss": 0})
                peak["rss"] = max(peak["rss"], rss)
                if count % USS_EVERY == 0:
                    peak["uss"] = max(peak["uss"], process.memory_full_info().uss)
        except psutil.Error:  # the process ended between listing and sampling
            pass
    return total


def run(args: list[str]) -> dict:
    """`python -m ser predict ARGS --quiet`: wall seconds, peak memory of the whole process tree and of each actor (MB)."""
    start = time.perf_counter()
    proc = subprocess.Popen([sys.executable, "-m", "ser", "predict", *args, "--quiet"], cwd=settings.PROJECT_ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    root, peak, actors, count = psutil.Process(proc.pid), 0, {}, 0
    while proc.poll() is None:
        try:
            peak = max(peak, sample([root, *root.children(recursive=True)], actors, count))
        except psutil.Error:  # the CLI ended between poll() and the listing
            pass
        count += 1
        time.sleep(RSS_POLL_S)
    wall = time.perf_counter() - start
    return {"wall_s": round(wall, 2), "peak_rss_mb": round(peak / 1e6, 1), "exit_status": proc.returncode,
            "actor_processes": len(actors),
            "peak_rss_per_actor_mb": round(max((a["rss"] for a in actors.values()), default=0) / 1e6, 1),
            "peak_uss_per_actor_mb": round(max((a["uss"] for a in actors.values()), default=0) / 1e6, 1),
            "stderr": proc.stderr.read().decode(errors="replace")[-1000:]}


def engine_run(name: str, paths: list[str], extra: list[str], tmp: str, round_: int) -> dict:
    """One engine on all clips, after a one-clip run for its fixed cost (fresh output folders each time)."""
    suffix = "parquet" if "ray" in extra else "csv"
    one = run([paths[0], *extra, "--out", f"{tmp}/{name}-{round_}-one.{suffix}"])
    result = run([*paths, *extra, "--out", f"{tmp}/{name}-{round_}.{suffix}"])
    return {**result, "one_clip_wall_s": one["wall_s"]}


def best(runs: list[dict], paths: list[str], audio_s: float, extra: list[str]) -> dict:
    """The least disturbed of a plan's rounds (the shortest wall: other people's jobs only ever slow a run down), with
    throughput end to end and once started (None when start-up is not measurably shorter than the whole run: the
    machine's load changed under it)."""
    full = min(runs, key=lambda r: r["wall_s"])
    one = min(r["one_clip_wall_s"] for r in runs)
    steady_s = full["wall_s"] - one if full["wall_s"] > one * 1.05 else None
    return {"args": " ".join(extra) or "(in-process defaults)", **full, "one_clip_wall_s": one,
            "rounds_wall_s": [r["wall_s"] for r in runs],
            "clips_per_s": round(len(paths) / full["wall_s"], 2), "realtime_factor": round(audio_s / full["wall_s"], 1),
            "steady_clips_per_s": None if steady_s is None else round((len(paths) - 1) / steady_s, 2),
            "steady_realtime_factor": None if steady_s is None else round(audio_s / steady_s, 1)}


def split_timing(paths: list[str]) -> dict:
    """Decode and model time per clip on one thread, in this process: which of the two bounds an actor."""
    import torch

    from ser import inference
    from ser.cli.inputs import decode
    from ser.models import load_model

    torch.set_num_threads(1)
    clips = paths[:TIMING_CLIPS]
    start = time.perf_counter()
    waves = [decode(p)[0] for p in clips]
    decode_s = (time.perf_counter() - start) / len(clips)
    model = load_model(None)
    inference.warm_up(model)
    start = time.perf_counter()
    for first in range(0, len(waves), 8):
        inference.analyse_batch(waves[first:first + 8], model)
    model_s = (time.perf_counter() - start) / len(waves)
    return {"clips": len(clips), "decode_ms_per_clip": round(decode_s * 1e3, 1), "model_ms_per_clip": round(model_s * 1e3, 1),
            "decode_share_of_an_actor": round(decode_s / (decode_s + model_s), 3),
            "bound": "model" if model_s > decode_s else "decode"}


def cost_table(per_actor_rtf: float, startup_s: float, threads_per_actor: int = 1) -> list[dict]:
    """Wall hours for an archive on N nodes of C cores, one actor per `threads_per_actor` cores: the fixed start-up (Ray,
    each actor loading the model) plus the audio over one actor's real-time factor times the actors. The model assumes
    actors scale linearly (they share nothing but the object store and the output folder)."""
    rows = []
    for hours in HOURS_PLANNED:
        for cores in NODE_CORES:
            actors_per_node = cores // threads_per_actor
            for nodes in (1, 10, 100):
                rows.append({"audio_hours": hours, "cores_per_node": cores, "nodes": nodes,
                             "wall_hours": round(startup_s / 3600 + hours / (per_actor_rtf * actors_per_node * nodes), 4),
                             "core_hours": round(hours / per_actor_rtf * threads_per_actor, 0)})
    return rows


def hours_text(hours: float | None) -> str:
    return "never (at these speeds)" if hours is None else f"{hours:g} h"


def duration(hours: float) -> str:
    return f"{hours:.1f} h" if hours >= 1 else f"{hours * 60:.0f} min" if hours * 60 >= 1 else f"{hours * 3600:.0f} s"


def markdown(report: dict) -> str:
    runs = report["runs"]
    lines = [f"# Scale-out: in-process vs local Ray ({report['generated']})", "",
             f"`{report['command']}` on {report['clips']} RAVDESS clips ({report['audio_s'] / 3600:.2f} h of audio), "
             f"{report['machine'].get('cpu_model')} x {report['machine'].get('cpu_count')} cores; load average before "
             f"{report['load_average_before']}, after {report['load_average_after']}; OMP_WAIT_POLICY {report['omp_wait_policy']}.", "",
             f"Each plan ran {report['rounds']} time(s), interleaved; the shortest run counts (wall s of each in the last column).", "",
             "| run | args | wall s | clips/s | x real time | start-up s (one clip) | x real time once started | peak RSS MB (all processes) "
             "| actors | peak RSS / USS per actor MB | rounds' wall s |", "|---|---|---|---|---|---|---|---|---|---|---|"]
    for name, r in runs.items():
        lines.append(f"| {name} | `{r['args']}` | {r['wall_s']} | {r['clips_per_s']} | {r['realtime_factor']} | {r['one_clip_wall_s']} | "
                     f"{r['steady_realtime_factor'] or 'not measurable'} | {r['peak_rss_mb']} | {r['actor_processes']} | "
                     f"{r['peak_rss_per_actor_mb']} / {r['peak_uss_per_actor_mb']} | {', '.join(map(str, r['rounds_wall_s']))} |")
    o, split, actor = report["overhead"], report["split"], report["per_actor"]
    steady = "not measurable" if o["steady"] is None else f"{o['steady']:+.1%}"
    lines += ["", f"Ray's overhead, default Ray vs in-process wall time: {o['end_to_end']:+.1%} end to end, {steady} once started "
                  f"(goal: within {GOAL_OVERHEAD:.0%} end to end; {'met' if o['meets_goal'] else 'not met'} on this folder).",
              f"From these start-ups and speeds, Ray is within {GOAL_OVERHEAD:.0%} of in-process from "
              f"{hours_text(o['within_goal_from_audio_h'])} of audio and faster from {hours_text(o['faster_from_audio_h'])}.",
              f"One actor, one thread: {split['model_ms_per_clip']} ms of model and {split['decode_ms_per_clip']} ms of decoding per clip "
              f"({split['decode_share_of_an_actor']:.0%} decoding): an actor is bound by the {split['bound']}.",
              f"Scaling model: clips/s = {actor['clips_per_s']} per one-thread actor x actors ({actor['realtime_factor']}x real time "
              f"per actor; {actor['source']}).", "",
              "| audio hours | cores per node | nodes | wall time | core hours |", "|---|---|---|---|---|"]
    lines += [f"| {r['audio_hours']:,} | {r['cores_per_node']} | {r['nodes']} | {duration(r['wall_hours'])} | {r['core_hours']:,.0f} |"
              for r in report["cost"]]
    lines += ["", *[f"- {note}" for note in report["notes"]]]
    return "\n".join(lines) + "\n"


def overhead(base: dict, ray: dict) -> dict:
    """Ray's extra time over in-process, end to end and once started (positive: Ray is slower), and from how many hours
    of audio on Ray's larger start-up is paid back: to within the goal, and in full (None: never, at these speeds)."""
    steady = goal_h = even_h = None
    if base["steady_realtime_factor"] and ray["steady_realtime_factor"]:
        steady = round(base["steady_realtime_factor"] / ray["steady_realtime_factor"] - 1, 3)
        # wall(audio) = start-up + audio / real-time factor, for each engine; solve ray = (1 + margin) * in-process
        for margin in (GOAL_OVERHEAD, 0.0):
            gain = (1 + margin) / base["steady_realtime_factor"] - 1 / ray["steady_realtime_factor"]
            extra = ray["one_clip_wall_s"] - (1 + margin) * base["one_clip_wall_s"]
            hours = None if gain <= 0 else round(max(extra, 0.0) / gain / 3600, 2)
            goal_h, even_h = (hours, even_h) if margin else (goal_h, hours)
    end_to_end = round(ray["wall_s"] / base["wall_s"] - 1, 3)
    return {"end_to_end": end_to_end, "steady": steady, "meets_goal": end_to_end <= GOAL_OVERHEAD,
            "within_goal_from_audio_h": goal_h, "faster_from_audio_h": even_h}


def per_actor(runs: dict, split: dict, clip_s: float) -> dict:
    """One one-thread actor's throughput: measured once started if measurable, else from the model and decode timing."""
    measured = runs["ray-1-actor-1-thread"]["steady_clips_per_s"]
    if measured:
        return {"clips_per_s": measured, "realtime_factor": round(measured * clip_s, 1),
                "source": "measured (ray-1-actor-1-thread, once started)"}
    clips_per_s = round(1e3 / (split["model_ms_per_clip"] + split["decode_ms_per_clip"]), 2)
    return {"clips_per_s": clips_per_s, "realtime_factor": round(clips_per_s * clip_s, 1),
            "source": "model + decode time per clip (this process, one thread): start-up was not measurable"}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--limit", type=int, default=None, help="the first N RAVDESS clips only")
    parser.add_argument("--rounds", type=int, default=ROUNDS, help="runs of each plan, interleaved; the shortest counts")
    args = parser.parse_args(argv)
    cores = os.cpu_count() or 1
    paths = [r.path for r in scan_corpus("ravdess")][:args.limit]
    audio_s = sum(sf.info(p).duration for p in paths)
    load_before = [round(x, 2) for x in os.getloadavg()]
    plans = {"in-process": [], "ray": ["--engine", "ray"],
             "ray-1-actor-all-threads": ["--engine", "ray", "--actors", "1", "--threads", str(cores)],
             "ray-1-actor-1-thread": ["--engine", "ray", "--actors", "1", "--threads", "1"]}
    rounds: dict[str, list[dict]] = {name: [] for name in plans}
    with tempfile.TemporaryDirectory() as tmp:
        for round_ in range(args.rounds):
            for name, extra in plans.items():
                print(f"== round {round_ + 1}: {name}", flush=True)
                rounds[name].append(engine_run(name, paths, extra, tmp, round_))
    runs = {name: best(rounds[name], paths, audio_s, plans[name]) for name in plans}
    split = split_timing(paths)
    actor = per_actor(runs, split, audio_s / len(paths))
    report = {"clips": len(paths), "limit": args.limit, "rounds": args.rounds, "audio_s": round(audio_s, 1), "cores": cores,
              "runs": runs, "overhead": overhead(runs["in-process"], runs["ray"]), "split": split,
              "per_actor": actor, "cost": cost_table(actor["realtime_factor"], runs["ray"]["one_clip_wall_s"]),
              "omp_wait_policy": os.environ.get("OMP_WAIT_POLICY", "default (spin)"),
              "load_average_before": load_before, "load_average_after": [round(x, 2) for x in os.getloadavg()],
              "notes": ["Wall times are end to end (Python start-up, starting Ray, loading the model once per actor, "
                        "writing the output); 'once started' subtracts the plan's one-clip run.",
                        "The cost table extrapolates one actor's figure linearly, plus the one-clip start-up of the "
                        "default Ray run; it is a model, not a measurement on a cluster (no machine with more cores was "
                        "available to this run), and leaves out listing the files (on the driver) and reading them "
                        "from remote storage."]}
    command = "python -m bench.scale" + (f" --limit {args.limit}" if args.limit else "") + \
        (f" --rounds {args.rounds}" if args.rounds != ROUNDS else "")
    write_report(report, name=REPORT, command=command)
    md = markdown(read_report(REPORT))
    (settings.REPORTS_DIR / "scale.md").write_text(md)
    print(md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
