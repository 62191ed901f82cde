"""The Ray Data job: files -> decode (tasks) -> classify (a pool of actors, each loading the model once) -> part files.

    with ray_session(address) as cpus:            # an existing cluster, or Ray started on this machine
        for summary in run(entries, options, output, plan):
            ...                                    # one per part file written: files, failed, rows, audio_s

Decoding and writing take no CPU reservation: they are a few milliseconds per clip against tens for the model, so the
actors hold the CPUs (one per torch thread) and the light steps run beside them. Ray restarts an actor that dies and
retries its batch; a retried write replaces its own part file (`archive.part_name`), so every row lands once.
"""

from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import dataclass
from typing import Iterator

from ser.cli.scale.archive import Entry, Output
from ser.cli.scale.stages import ClipOptions, Classifier, decode_batch, entries_table, write_batch

FILES_PER_DECODE_TASK = 16  # one input block per decode task: small enough to spread, large enough to amortise a task
LIGHT_STEP_CPUS = 0  # decoding and writing: see the module docstring
ROWS_PER_FILE = 1000  # rows per part file: few files for a big archive, progress every few seconds on one machine
# Ray's notices on the console (the token-authentication default, "progress bars disabled", "execution finished"):
# the CLI shows its own bar and summary; Ray's log files under /tmp/ray keep everything
QUIET_LOGGERS = ("ray", "ray._private.authentication.authentication_token_setup")


@dataclass(frozen=True)
class JobPlan:
    """How the job runs: actors and their CPUs, rows per part file."""

    actors: int
    cpus_per_actor: float = 1.0
    rows_per_file: int = ROWS_PER_FILE


@contextlib.contextmanager
def ray_session(address: str | None) -> Iterator[float]:
    """Connected to the cluster at `address` (or RAY_ADDRESS), else a Ray started on this machine for this run and
    stopped after it; yields the cluster's CPU count."""
    import ray

    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage report sent home from a user's machine
    # the driver's core worker prints a notice per actor (its arguments sit in the object store) over the progress bar
    os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    ray.init(address=address or os.environ.get("RAY_ADDRESS") or None, include_dashboard=False, log_to_driver=False,
             logging_level=logging.WARNING, configure_logging=False)
    try:
        yield float(ray.cluster_resources().get("CPU", 1.0))
    finally:
        ray.shutdown()


def dataset(entries: list[Entry], options: ClipOptions, output: Output, plan: JobPlan):
    """The job as a lazy Ray Dataset of part-file summaries."""
    import ray.data

    for handler in logging.getLogger("ray.data").handlers:  # configured when ray.data is imported
        if handler.get_name() == "console":
            handler.setLevel(logging.ERROR)
    context = ray.data.DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    table = entries_table(entries)
    blocks = [table.slice(i, FILES_PER_DECODE_TASK) for i in range(0, table.num_rows, FILES_PER_DECODE_TASK)]
    files = ray.data.from_arrow(blocks)
    decoded = files.map_batches(decode_batch, batch_format="pyarrow", batch_size=None, num_cpus=LIGHT_STEP_CPUS,
                                compute=ray.data.TaskPoolStrategy(size=max(1, plan.actors)))
    rows = decoded.map_batches(Classifier, fn_constructor_args=(options,), batch_format="pyarrow", batch_size=options.batch_size,
                               compute=ray.data.ActorPoolStrategy(size=plan.actors), num_cpus=plan.cpus_per_actor)
    # a part must hold every row of its files (a rerun skips a file found in any part): with --timeline a recording has
    # a row per window, so each part is what one actor call gave (whole recordings, many rows already)
    return rows.map_batches(write_batch, fn_args=(output,), batch_format="pyarrow",
                            batch_size=None if options.timeline else plan.rows_per_file, num_cpus=LIGHT_STEP_CPUS)


def run(entries: list[Entry], options: ClipOptions, output: Output, plan: JobPlan) -> Iterator[dict]:
    """Run the job; yields one summary per part file as it is written (files, failed, rows, audio_s, part)."""
    for batch in dataset(entries, options, output, plan).iter_batches(batch_size=None, batch_format="pyarrow"):
        yield from batch.to_pylist()
