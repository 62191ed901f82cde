"""`python -m ser predict --engine ray`, run as a user runs it, on real RAVDESS clips, against one small local Ray.

One Ray for the module (2 CPUs, started here as `ray.init` would start it on a laptop); every CLI run joins it with
--address, which is also how a run reaches a cluster. Runs, each a few seconds:
  compared    - six clips, a recording longer than the timeline threshold, a text file named .wav and a missing path,
                in-process (JSON) and through Ray (Parquet)
  interrupted - 48 files, Ctrl-C once the first part file is written, then the same command again: every file once
  killed      - 48 files, the classifying actor killed with SIGKILL mid-run: Ray restarts it, every file once (CSV, a file:// URI)
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest
import soundfile as sf

from ser import settings
from ser.audio.load import SAMPLE_RATE, load_audio, trim_silence
from ser.inference import LONG_CLIP_S
from ser.cli.scale.archive import KEY_COLUMNS

ray = pytest.importorskip("ray", reason="ray is installed by requirements-dev.txt (requirements-scale.txt)")

CLIPS = ["Actor_01/03-01-05-02-01-01-01.flac", "Actor_02/03-01-03-01-02-01-02.flac", "Actor_03/03-01-04-02-01-02-03.flac",
         "Actor_04/03-01-06-01-01-01-04.flac", "Actor_05/03-01-01-01-02-02-05.flac", "Actor_06/03-01-07-02-02-01-06.flac"]
BROKEN = "broken.wav"
RECORDING = "four sentences.wav"
LABELLED = len(CLIPS) + 1  # the clips and the recording
MISSING = "no/such/file.wav"
ACTOR_TITLE = "MapBatches(Classifier)"  # Ray titles an actor's process ray::MapWorker(MapBatches(Classifier))
COPIES = 8
RUN_TIMEOUT_S = 240
POLL_S = 0.01


def default_ctrl_c() -> None:
    """In the child: Ctrl-C acts, even when this test runs in the background (where a shell makes SIGINT ignored)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def cli(*args: str, wait: bool = True):
    path = os.pathsep.join(filter(None, [str(settings.PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": path}
    command = [sys.executable, "-m", "ser", "predict", *args]
    if not wait:
        return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=settings.PROJECT_ROOT,
                                env=env, preexec_fn=default_ctrl_c)
    return subprocess.run(command, capture_output=True, text=True, timeout=RUN_TIMEOUT_S, cwd=settings.PROJECT_ROOT, env=env)


def read_parts(folder: Path) -> list[dict]:
    import pyarrow.dataset as ds

    return ds.dataset(str(folder), format="parquet").to_table().to_pylist() if folder.is_dir() else []


def files_of(rows: list[dict]) -> list[str]:
    return sorted(r["file"] for r in rows)


@pytest.fixture(scope="module")
def ray_address():
    os.environ["RAY_USAGE_STATS_ENABLED"] = "0"  # as the CLI sets it for the Ray it starts: nothing is reported home
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


@pytest.fixture(scope="module")
def archive(tmp_path_factory, data_dir) -> Path:
    folder = tmp_path_factory.mktemp("archive")
    for clip in CLIPS:
        (folder / Path(clip).name).write_bytes((data_dir / "ravdess" / clip).read_bytes())
    (folder / BROKEN).write_text("this is a text file, not audio\n")
    # longer than the timeline threshold: the average of its windows, through `inference.timeline`, in both engines
    speech = np.concatenate([trim_silence(load_audio(data_dir / "ravdess" / clip)) for clip in CLIPS[:4]])
    sf.write(folder / RECORDING, speech, SAMPLE_RATE, subtype="PCM_16")
    return folder


@pytest.fixture(scope="module")
def long_archive(tmp_path_factory, data_dir) -> Path:
    """The clips under several names each: a run of one actor and one clip per batch lasts a few seconds, long enough
    to be interrupted or lose its actor in the middle."""
    folder = tmp_path_factory.mktemp("long-archive")
    for copy in range(COPIES):
        for clip in CLIPS:
            (folder / f"{copy}-{Path(clip).name}").write_bytes((data_dir / "ravdess" / clip).read_bytes())
    return folder


@pytest.fixture(scope="module")
def compared(archive, ray_address, tmp_path_factory):
    out = tmp_path_factory.mktemp("compared")
    # one torch thread, as each actor runs: on bfloat16 CPUs the thread count moves probabilities by ~1e-3 (docs/scale.md)
    local = cli(str(archive), MISSING, "--threads", "1", "--out", str(out / "rows.json"))
    distributed = cli(str(archive), MISSING, "--engine", "ray", "--address", ray_address, "--out", str(out / "rows.parquet"))
    return local, json.loads((out / "rows.json").read_text()), distributed, read_parts(out / "rows.parquet")


def test_ray_gives_the_in_process_rows(compared, archive):
    local, local_rows, distributed, ray_rows = compared
    assert sf.info(archive / RECORDING).duration > LONG_CLIP_S  # so its row is the average of a timeline's windows
    assert local.returncode == distributed.returncode == 1, distributed.stderr  # the broken and the missing file
    assert "Traceback" not in distributed.stderr
    assert files_of(ray_rows) == files_of(local_rows) and len(ray_rows) == LABELLED + 2
    by_file = {r["file"]: r for r in ray_rows}
    for expected in local_rows:
        got = by_file[expected["file"]]
        assert list(got) == [*expected, *KEY_COLUMNS]  # the same columns in the same order, then the resume key
        for column, value in expected.items():
            if isinstance(value, float):
                assert got[column] == pytest.approx(value, abs=2e-6), (expected["file"], column)
            else:
                assert got[column] == value, (expected["file"], column)


def test_bad_files_are_rows_with_one_sentence_and_the_summary_counts_them(compared, archive):
    _, _, distributed, ray_rows = compared
    errors = {r["file"]: r["error"] for r in ray_rows if r["error"]}
    assert set(errors) == {str(archive / BROKEN), MISSING}
    assert "'broken.wav' is not audio that can be read" in errors[str(archive / BROKEN)]
    assert all(e.endswith(".") and e.count(". ") == 0 for e in errors.values())
    assert f"{LABELLED} of {LABELLED + 2} file(s) labelled, 2 failed, 0 skipped" in distributed.stderr


def wait_for(condition, process: subprocess.Popen, what: str):
    deadline = time.monotonic() + RUN_TIMEOUT_S
    while not (found := condition()):
        assert process.poll() is None, f"the run ended before {what}: {process.communicate()[1][-2000:]}"
        assert time.monotonic() < deadline, f"no {what} within {RUN_TIMEOUT_S} s"
        time.sleep(POLL_S)
    return found


def test_an_interrupted_run_resumes_where_it_stopped(long_archive, ray_address, tmp_path):
    out, files = tmp_path / "labels.parquet", COPIES * len(CLIPS)
    args = [str(long_archive), "--engine", "ray", "--address", ray_address, "--out", str(out), "--actors", "1",
            "--batch-size", "1", "--rows-per-file", "1"]
    first = cli(*args, wait=False)
    wait_for(lambda: list(out.glob("part-*")), first, "a part file")
    first.send_signal(signal.SIGINT)  # Ctrl-C
    _, stderr = first.communicate(timeout=RUN_TIMEOUT_S)
    assert first.returncode == 130 and "rerun the same command to label the rest" in stderr, stderr
    written = len(read_parts(out))
    assert 1 <= written < files

    second = cli(*args)
    assert second.returncode == 0, second.stderr
    assert f"{files} file(s), {written} already in {out}, {files - written} to label" in second.stderr
    rows = read_parts(out)
    assert files_of(rows) == sorted({r["file"] for r in rows}) and len(rows) == files  # every file, once
    third = cli(*args)  # nothing left to do: Ray is not even started
    assert third.returncode == 0 and f"{files} already in {out}, 0 to label" in third.stderr and "Ray:" not in third.stderr
    assert len(read_parts(out)) == files


def classifying_actors() -> list[psutil.Process]:
    """This test's Ray workers (children of this process's raylet) running the model, busy on a batch."""
    found = []
    for process in psutil.Process().children(recursive=True):
        try:
            title = " ".join(process.cmdline())
        except psutil.Error:
            continue
        if ACTOR_TITLE in title and title.rstrip().endswith(".submit"):
            found.append(process)
    return found


def test_a_killed_actor_is_restarted_and_every_file_lands_once(long_archive, archive, ray_address, tmp_path):
    out = tmp_path / "labels.csv"
    uri = "file://" + str(archive / Path(CLIPS[0]).name)  # any filesystem pyarrow reads; here the local one
    args = [str(long_archive), uri, "--engine", "ray", "--address", ray_address, "--out", str(out), "--actors", "1",
            "--batch-size", "1"]
    run = cli(*args, wait=False)
    victim = wait_for(classifying_actors, run, "busy actor")[0]
    victim.send_signal(signal.SIGKILL)
    _, stderr = run.communicate(timeout=RUN_TIMEOUT_S)
    assert run.returncode == 0, stderr
    rows = [row for part in sorted(out.glob("part-*.csv")) for row in csv.DictReader(part.open())]
    files = [r["file"] for r in rows]
    assert sorted(files) == sorted(set(files)) and len(files) == COPIES * len(CLIPS) + 1  # the folder's files and the URI, once
    assert uri in files and all(r["error"] == "" and r["label"] and r["unsure"] in ("True", "False", "") for r in rows)
    assert not psutil.pid_exists(victim.pid) or victim.status() == psutil.STATUS_ZOMBIE
    again = cli(*args)  # the CSV parts' keys are read back: nothing left to label
    assert again.returncode == 0 and f"{len(files)} already in {out}, 0 to label" in again.stderr, again.stderr


def test_usage_errors_start_no_ray_and_write_nothing(tmp_path):
    result = cli("x.wav", "--engine", "ray")
    assert result.returncode == 2 and "give --out" in result.stderr
    result = cli("x.wav", "--engine", "ray", "--out", str(tmp_path / "rows.json"), "--format", "json")
    assert result.returncode == 2 and "not json" in result.stderr
    result = cli("x.wav", "--engine", "ray", "--out", str(tmp_path / "rows.parquet"), "--model", "no-such-model")
    assert result.returncode == 2 and "No model 'no-such-model'" in result.stderr and "Traceback" not in result.stderr
    (tmp_path / "taken.parquet").write_text("a file where the output folder would go\n")
    result = cli("x.wav", "--engine", "ray", "--out", str(tmp_path / "taken.parquet"))
    assert result.returncode == 2 and "is a file" in result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.parquet"]


def test_the_in_process_cli_never_imports_ray():
    code = "import sys; from ser.cli import main; main.build_parser(); print('ray' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=settings.PROJECT_ROOT, check=True)
    assert result.stdout.strip() == "False"
