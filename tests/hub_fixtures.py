"""Fixtures and helpers of the Hub tests: a running test Hub (tests/hub_server.py), model folders to push, and push and pull
in a subprocess with its own environment and an empty cache, the way a user's process would (huggingface_hub reads
HF_ENDPOINT / HF_HOME / HF_HUB_OFFLINE at import).
"""

from __future__ import annotations

import hashlib
import json
import pickle
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

from ser.models.hub.client import write_checksums
from tests.hub_server import PROJECT_ROOT, HubServer, hub_env


REPO = "tester/ser-test-model"
TIMEOUT = 2.0  # pull timeout in the failure tests
SLACK = 6.0  # pull's own work beyond one timed-out wait, on a busy shared machine; a hang would take minutes

PULL_SCRIPT = """
import json, sys, time
from ser.models.hub.client import HubError, HubUnavailable, pull
start = time.monotonic()
try:
    result = pull(sys.argv[1], timeout=float(sys.argv[2]))
    out = {"path": str(result.path), "source": result.source, "message": result.message}
except HubUnavailable as error:
    out = {"error": "HubUnavailable", "message": str(error), "fallback": error.fallback_message()}
except HubError as error:
    out = {"error": "HubError", "message": str(error)}
out["elapsed"] = time.monotonic() - start
print(json.dumps(out))
"""


# ---------------------------------------------------------------- fixtures and helpers


@pytest.fixture
def hub():
    """The running test Hub (mode, tokens and repos can be changed by the test)."""
    with HubServer() as server:
        yield server


@pytest.fixture
def hub_server(hub: HubServer) -> str:
    """The test Hub's endpoint URL, for HF_ENDPOINT."""
    return hub.url


@pytest.fixture(scope="module")
def warm_cache(tmp_path_factory) -> Path:
    """An HF_HOME that has pulled REPO as seed_repo(make_model_dir(..., seed=0)) creates it (same commit everywhere)."""
    root = tmp_path_factory.mktemp("warm")
    with HubServer() as server:
        seed_repo(server, make_model_dir(root / "model"))
        assert run_pull(server.url, root / "hf", REPO)["source"] == "hub"
    return root / "hf"


def copy_cache(warm: Path, dest: Path) -> Path:
    shutil.copytree(warm, dest, symlinks=True)  # snapshot entries are relative symlinks into blobs/
    return dest


def snapshot_path(hf_home: Path, hub: HubServer) -> str:
    return str(hf_home / "hub" / f"models--{REPO.replace('/', '--')}" / "snapshots" / hub.repos[REPO].branches["main"])


def make_model_dir(path: Path, seed: int = 0, kind: str = "classic_mlp") -> Path:
    """A small model directory: a real safetensors tensor and a config.json."""
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    save_file({"layer.weight": rng.standard_normal((8, 4)).astype(np.float32),
               "layer.bias": np.zeros(8, dtype=np.float32)}, str(path / "model.safetensors"))
    config = {"kind": kind, "labels": ["angry", "happy", "neutral", "sad"], "sample_rate": 16000,
              "training_data": {"corpora": ["ravdess"], "clips": 1440}, "license": "cc-by-nc-sa-4.0",
              "metrics": {"uar": 0.61234, "accuracy": 0.6, "macro_f1": 0.59}}
    (path / "config.json").write_text(json.dumps(config, indent=2), encoding="utf-8")
    return path


def seed_repo(hub: HubServer, model_dir: Path, repo_id: str = REPO, branch: str = "main") -> str:
    """Put a model directory on the test Hub directly (no push), with its checksums.json."""
    write_checksums(model_dir)
    return hub.add_repo(repo_id, {p.name: p.read_bytes() for p in model_dir.iterdir()}, branch=branch)


def run_push(endpoint: str, hf_home: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "train.cards.push", *args], env=hub_env(endpoint, hf_home, **env),
                          cwd=PROJECT_ROOT, capture_output=True, text=True, timeout=120)


def run_pull(endpoint: str, hf_home: Path, ref: str, timeout: float = 10.0, **env: str) -> dict:
    """pull() in a fresh process; returns its outcome as a dict (path/source/message or error/message)."""
    started = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-c", PULL_SCRIPT, ref, str(timeout)],
                              env=hub_env(endpoint, hf_home, **env), capture_output=True, text=True,
                              timeout=timeout + 60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"pull({ref!r}) hung for {time.monotonic() - started:.0f} s")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1])


def tree_bytes(folder: Path) -> dict[str, bytes]:
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def check_sha(model: Path) -> str:
    return hashlib.sha256((model / "model.safetensors").read_bytes()).hexdigest()


def evil_pickle(marker: Path) -> bytes:
    """A pickle that creates `marker` when loaded: the classic reason pickled weights are refused."""

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    return pickle.dumps(Evil())


# ---------------------------------------------------------------- ids


def big_model_dir(path: Path, extra_floats: int = 100_000) -> Path:
    """make_model_dir plus a second weight file of `extra_floats` float32 (400 kB by default), checksummed."""
    model = make_model_dir(path)
    save_file({"pad": np.zeros(extra_floats, dtype=np.float32)}, str(model / "extra.safetensors"))
    write_checksums(model)
    return model


def download_mb(model: Path) -> str:
    """What pull reports for a repo seeded from `model`: every file in it matches DOWNLOAD_PATTERNS."""
    return f"{sum(p.stat().st_size for p in model.iterdir()) / 1e6:.1f}"
