"""Hub sharing against a real local HTTP Hub (tests/hub_server.py): push, pull, offline, failures, refusals.

huggingface_hub reads HF_ENDPOINT / HF_HOME / HF_HUB_OFFLINE at import, so every push and pull runs in a
subprocess with its own environment and an empty cache, the way a user's process would.
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
from safetensors.numpy import load_file, save_file

from ser.models.base import CHECKSUMS_FILE as CHECKSUMS_NAME
from ser.hub import (
    HF_KIND,
    NO_TOKEN_MESSAGE,
    HubError,
    check_model_dir,
    looks_like_hub_id,
    parse_model_ref,
    write_checksums,
)
from tests.hub_server import PROJECT_ROOT, READ_TOKEN, WRITE_TOKEN, HubServer, hub_env

REPO = "tester/ser-test-model"
TIMEOUT = 2.0  # pull timeout in the failure tests
SLACK = 6.0  # pull's own work beyond one timed-out wait, on a busy shared machine; a hang would take minutes

PULL_SCRIPT = """
import json, sys, time
from ser.hub import HubError, HubUnavailable, pull
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
    return subprocess.run([sys.executable, "-m", "train.push", *args], env=hub_env(endpoint, hf_home, **env),
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


@pytest.mark.parametrize("ref, expected", [
    ("owner/name", ("owner/name", None)),
    ("my-org/ser.whisper_head@v1.2", ("my-org/ser.whisper_head", "v1.2")),
    ("owner/name@refs/pr/3", ("owner/name", "refs/pr/3")),
    ("owner/name@0123456789abcdef0123456789abcdef01234567", ("owner/name", "0123456789abcdef0123456789abcdef01234567")),
])
def test_parse_model_ref_accepts_ids(ref, expected):
    assert parse_model_ref(ref) == expected


@pytest.mark.parametrize("ref", ["", "   ", "name-only", "a/b/c", "owner/na me", "owner/name@", "owner/name@../x",
                                 "-owner/name", "owner/name@v1@v2", "owner/name.git", "owner/--x"])
def test_malformed_id_gives_one_clear_sentence(ref):
    with pytest.raises(HubError) as info:
        parse_model_ref(ref)
    message = str(info.value)
    assert "owner/name" in message and message.endswith(".") and "\n" not in message


def test_looks_like_hub_id(tmp_path, monkeypatch):
    assert looks_like_hub_id("owner/name") and looks_like_hub_id("owner/name@v2")
    assert not looks_like_hub_id("whisper-head") and not looks_like_hub_id("../shared/data")
    (tmp_path / "models" / "local").mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert not looks_like_hub_id("models/local")  # an existing directory wins over the Hub


def test_push_cli_rejects_malformed_id(tmp_path, hub_server):
    model = make_model_dir(tmp_path / "model")
    proc = run_push(hub_server, tmp_path / "hf", str(model), "not a repo", HF_TOKEN=WRITE_TOKEN)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert "'not a repo' is not a Hub model id" in proc.stderr


# ---------------------------------------------------------------- model directories


def test_check_model_dir_accepts_ours_and_hf_checkpoints(tmp_path):
    ours = make_model_dir(tmp_path / "ours")
    write_checksums(ours)
    assert check_model_dir(ours)["kind"] == "classic_mlp"
    hf = tmp_path / "hf"
    hf.mkdir()
    save_file({"w": np.ones(3, dtype=np.float32)}, str(hf / "model.safetensors"))
    (hf / "config.json").write_text(json.dumps({"architectures": ["Wav2Vec2ForSequenceClassification"],
                                                "id2label": {"0": "angry", "1": "calm"}}))
    (hf / "preprocessor_config.json").write_text(json.dumps({"sampling_rate": 16000}))
    assert check_model_dir(hf)["kind"] == HF_KIND


@pytest.mark.parametrize("name", ["pytorch_model.bin", "model.pt", "weights.pkl", "training_args.ckpt",
                                  "scaler.joblib", "modeling.py", "kernel.so", "run.sh", "notes.xyz"])
def test_check_model_dir_refuses_unsafe_files(tmp_path, name):
    model = make_model_dir(tmp_path / "model")
    marker = tmp_path / "unpickled"
    (model / name).write_bytes(evil_pickle(marker))
    with pytest.raises(HubError, match=name.replace(".", r"\.")):
        check_model_dir(model)
    assert not marker.exists()


def test_check_model_dir_needs_config_and_weights(tmp_path):
    model = make_model_dir(tmp_path / "model")
    (model / "model.safetensors").unlink()
    with pytest.raises(HubError, match="no \\*.safetensors"):
        check_model_dir(model)
    (model / "config.json").unlink()
    with pytest.raises(HubError, match="no config.json"):
        check_model_dir(model)


def test_check_model_dir_verifies_checksums(tmp_path):
    model = make_model_dir(tmp_path / "model")
    write_checksums(model)
    save_file({"extra": np.ones(2, dtype=np.float32)}, str(model / "extra.safetensors"))
    with pytest.raises(HubError, match="extra.safetensors .* not listed"):
        check_model_dir(model)
    (model / "extra.safetensors").unlink()
    weights = bytearray((model / "model.safetensors").read_bytes())
    weights[-1] ^= 0xFF  # one flipped bit in the last float
    (model / "model.safetensors").write_bytes(bytes(weights))
    with pytest.raises(HubError, match="does not match its sha256"):
        check_model_dir(model)


# ---------------------------------------------------------------- push and pull


def test_round_trip_push_then_pull_is_byte_identical(tmp_path, hub, hub_server):
    model = make_model_dir(tmp_path / "model")
    proc = run_push(hub_server, tmp_path / "hf-push", str(model), REPO, "--private", HF_TOKEN=WRITE_TOKEN)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{hub_server}/{REPO}"
    assert hub.repos[REPO].private
    # push wrote checksums.json and the model card into the model directory, and uploaded exactly that directory
    assert json.loads((model / CHECKSUMS_NAME).read_text()) == {"model.safetensors": check_sha(model)}
    assert {k: v for k, v in hub.files(REPO).items() if k != ".gitattributes"} == tree_bytes(model)

    hub.repos[REPO].private = False  # pull anonymously from an empty cache
    result = run_pull(hub_server, tmp_path / "hf-pull", REPO)
    assert result["source"] == "hub", result
    pulled = Path(result["path"])
    assert pulled.is_relative_to(tmp_path / "hf-pull" / "hub")  # the normal HF cache
    assert tree_bytes(pulled) == tree_bytes(model)
    assert set(tree_bytes(pulled)) == {"config.json", "model.safetensors", "checksums.json", "README.md"}
    np.testing.assert_array_equal(load_file(str(pulled / "model.safetensors"))["layer.weight"],
                                  load_file(str(model / "model.safetensors"))["layer.weight"])


def test_model_card_metadata(tmp_path, hub_server, hub):
    from huggingface_hub import ModelCard

    model = make_model_dir(tmp_path / "model")
    (tmp_path / "report.json").write_text(json.dumps({"models": {"model": {"uar": 0.7, "accuracy": 0.72,
                                                                             "macro_f1": 0.69}}}))
    proc = run_push(hub_server, tmp_path / "hf", str(model), REPO, "--report", str(tmp_path / "report.json"),
                    HF_TOKEN=WRITE_TOKEN)
    assert proc.returncode == 0, proc.stderr
    card = ModelCard(hub.files(REPO)["README.md"].decode())
    data = card.data.to_dict()
    assert data["license"] == "cc-by-nc-sa-4.0" and data["pipeline_tag"] == "audio-classification"
    assert data["datasets"] == ["ravdess"]
    metrics = {m.metric_name: m.metric_value for m in card.data.eval_results}
    assert metrics == {"UAR": 0.7, "Accuracy": 0.72, "Macro-F1": 0.69}  # the report wins over config.json
    for section in ("## Training data", "## Evaluation protocol", "6-fold actor-disjoint", "## Limitations",
                    "24 North American actors", "non-commercial"):
        assert section in card.text


def test_push_keeps_a_written_card_text(tmp_path, hub_server, hub):
    model = make_model_dir(tmp_path / "model")
    (model / "README.md").write_text("# My model\n\nHand-written notes.\n")
    proc = run_push(hub_server, tmp_path / "hf", str(model), REPO, HF_TOKEN=WRITE_TOKEN)
    assert proc.returncode == 0, proc.stderr
    readme = hub.files(REPO)["README.md"].decode()
    assert "Hand-written notes." in readme and "license: cc-by-nc-sa-4.0" in readme and "uar" in readme


def test_pull_at_revision(tmp_path, hub, hub_server):
    main_dir = make_model_dir(tmp_path / "main", seed=0)
    v2_dir = make_model_dir(tmp_path / "v2", seed=1)
    seed_repo(hub, main_dir)
    proc = run_push(hub_server, tmp_path / "hf-push", str(v2_dir), REPO, "--revision", "v2", HF_TOKEN=WRITE_TOKEN)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"{hub_server}/{REPO}/tree/v2"

    cache = tmp_path / "hf-pull"
    at_v2 = run_pull(hub_server, cache, f"{REPO}@v2")
    at_main = run_pull(hub_server, cache, REPO)
    assert tree_bytes(Path(at_v2["path"]))["model.safetensors"] == (v2_dir / "model.safetensors").read_bytes()
    assert tree_bytes(Path(at_main["path"]))["model.safetensors"] == (main_dir / "model.safetensors").read_bytes()
    commit = hub.repos[REPO].branches["v2"]
    by_commit = run_pull(hub_server, tmp_path / "hf-commit", f"{REPO}@{commit}")
    assert Path(by_commit["path"]).name == commit
    missing = run_pull(hub_server, cache, f"{REPO}@v3")
    assert missing["error"] == "HubError"
    assert missing["message"] == f"The model {REPO}@v3 has no revision 'v3' on the Hub."


def test_offline_uses_cache_or_reports_unavailable(tmp_path, hub, hub_server, warm_cache):
    seed_repo(hub, make_model_dir(tmp_path / "model"))
    cache = copy_cache(warm_cache, tmp_path / "hf")

    offline = run_pull(hub_server, cache, REPO, HF_HUB_OFFLINE="1")
    assert offline["source"] == "cache" and offline["path"] == snapshot_path(cache, hub)
    assert offline["message"] == f"Offline mode is on (HF_HUB_OFFLINE=1); using the cached copy of {REPO}."
    empty = run_pull(hub_server, tmp_path / "empty", REPO, HF_HUB_OFFLINE="1")
    assert empty["error"] == "HubUnavailable"
    assert empty["fallback"] == (f"Offline mode is on (HF_HUB_OFFLINE=1) and there is no cached copy of {REPO}; "
                                 "falling back to the embedded default model.")
    assert hub.requests == []  # offline means offline


@pytest.mark.parametrize("mode, fail_only, reason, cached_source", [
    ("error500", "", "The Hub answered with an error (HTTP 500)", "cache"),
    ("hang", "", "Hub unreachable", "cache"),  # accepts connections, never answers
    ("hang", "/revision/", "Hub unreachable", "cache"),  # snapshot_download's repo_info (sent with no timeout)
    ("hang", "/tree/", "Hub unreachable", "hub"),  # the tree listing (no timeout, retried on timeouts)
    ("hang", "/resolve/", "Hub unreachable", "hub"),  # file HEADs (retried with a 60 s timeout)
])
def test_unusable_hub_falls_back_to_cache_within_the_timeout(tmp_path, hub, hub_server, warm_cache, mode, fail_only,
                                                              reason, cached_source):
    seed_repo(hub, make_model_dir(tmp_path / "model"))
    cache = copy_cache(warm_cache, tmp_path / "hf")
    hub.mode, hub.fail_only = mode, fail_only

    empty = run_pull(hub_server, tmp_path / "empty", REPO, timeout=TIMEOUT)
    assert empty["error"] == "HubUnavailable" and empty["message"].startswith(reason), empty
    assert empty["message"].endswith(f"and there is no cached copy of {REPO}.")
    assert empty["elapsed"] < TIMEOUT + SLACK

    # A warm cache: what fails decides whether the Hub was still needed ("hub": the cached tree and files
    # made the failing requests unnecessary).
    cached = run_pull(hub_server, cache, REPO, timeout=TIMEOUT)
    assert cached["path"] == snapshot_path(cache, hub) and cached["source"] == cached_source, cached
    if cached_source == "cache":
        assert cached["message"].startswith(reason) and cached["message"].endswith(f"using the cached copy of {REPO}.")
    assert cached["elapsed"] < TIMEOUT + SLACK


def test_missing_repo_is_a_clear_404(tmp_path, hub_server):
    result = run_pull(hub_server, tmp_path / "hf", "tester/no-such-model")
    assert result["error"] == "HubError"
    assert result["message"] == "No model tester/no-such-model on the Hub (check the id)."


def test_corrupted_file_on_the_hub_is_refused(tmp_path, hub):
    model = make_model_dir(tmp_path / "model")
    write_checksums(model)
    files = {p.name: p.read_bytes() for p in model.iterdir()}
    weights = bytearray(files["model.safetensors"])
    weights[-4:] = b"\x00\x00\x80\x7f"  # last float becomes +inf: still a valid safetensors file, wrong weights
    hub.add_repo(REPO, {**files, "model.safetensors": bytes(weights)})
    result = run_pull(hub.url, tmp_path / "hf", REPO)
    assert result["error"] == "HubError"
    assert result["message"].startswith(f"model.safetensors in {REPO} does not match its sha256 in checksums.json")


@pytest.mark.parametrize("bad_name", ["pytorch_model.bin", "modeling.py"])
def test_repo_with_pickle_or_code_is_refused_before_download(tmp_path, hub, bad_name):
    marker = tmp_path / "pwned"
    model = make_model_dir(tmp_path / "model")
    payload = evil_pickle(marker) if bad_name.endswith(".bin") else f"open({str(marker)!r}, 'w')\n".encode()
    seed_repo(hub, model)
    hub.add_repo(REPO, {bad_name: payload})
    result = run_pull(hub.url, tmp_path / "hf", REPO)
    assert result["error"] == "HubError" and f"contains {bad_name}" in result["message"], result
    assert not marker.exists()
    assert not any("/resolve/" in path for _, path in hub.requests)  # nothing at all was downloaded
    assert not (tmp_path / "hf" / "hub" / "models--tester--ser-test-model" / "snapshots").exists()


def big_model_dir(path: Path, extra_floats: int = 100_000) -> Path:
    """make_model_dir plus a second weight file of `extra_floats` float32 (400 kB by default), checksummed."""
    model = make_model_dir(path)
    save_file({"pad": np.zeros(extra_floats, dtype=np.float32)}, str(model / "extra.safetensors"))
    write_checksums(model)
    return model


def download_mb(model: Path) -> str:
    """What pull reports for a repo seeded from `model`: every file in it matches DOWNLOAD_PATTERNS."""
    return f"{sum(p.stat().st_size for p in model.iterdir()) / 1e6:.1f}"


def test_test_hub_answers_files_metadata_like_the_real_hub(hub):
    """model_info lists names only, unless files_metadata=True (?blobs=true): then sizes, and LFS details for weights."""
    from huggingface_hub import HfApi

    files = {"config.json": b"{}", "model.safetensors": b"x" * 1234}
    hub.add_repo(REPO, files)
    api = HfApi(endpoint=hub.url, token=False)
    plain = {s.rfilename: s for s in api.model_info(REPO).siblings}
    assert set(plain) == {".gitattributes", *files} and all(s.size is None and s.lfs is None for s in plain.values())
    detailed = {s.rfilename: s for s in api.model_info(REPO, files_metadata=True).siblings}
    assert {name: s.size for name, s in detailed.items()} == {".gitattributes": len(hub.files(REPO)[".gitattributes"]),
                                                               "config.json": 2, "model.safetensors": 1234}
    assert detailed["config.json"].lfs is None
    lfs = detailed["model.safetensors"].lfs
    assert lfs is not None and lfs.size == 1234 and lfs.sha256 == hashlib.sha256(files["model.safetensors"]).hexdigest()


def test_repo_over_the_size_cap_is_refused_before_download(tmp_path, hub):
    model = big_model_dir(tmp_path / "model")
    seed_repo(hub, model)
    result = run_pull(hub.url, tmp_path / "hf", REPO, SER_MAX_HUB_MODEL_MB="0.1")
    assert result == {"error": "HubError", "elapsed": result["elapsed"],
                      "message": f"The model {REPO} is {download_mb(model)} MB to download, more than the 0.1 MB allowed "
                                 "(SER_MAX_HUB_MODEL_MB); pick a smaller model or raise that limit."}
    assert ("GET", f"/api/models/{REPO}") in hub.requests  # it did ask the Hub
    assert not any("/resolve/" in path for _, path in hub.requests)  # nothing at all was downloaded
    assert not (tmp_path / "hf" / "hub" / "models--tester--ser-test-model" / "snapshots").exists()

    allowed = run_pull(hub.url, tmp_path / "hf", REPO, SER_MAX_HUB_MODEL_MB="1")  # the same repo under a higher cap
    assert allowed["source"] == "hub", allowed
    assert tree_bytes(Path(allowed["path"])) == tree_bytes(model)


def test_size_cap_counts_only_the_files_a_pull_downloads(tmp_path, hub):
    """A big file that DOWNLOAD_PATTERNS leaves on the Hub (here an ONNX export) does not count against the cap."""
    model = make_model_dir(tmp_path / "model")
    seed_repo(hub, model)
    hub.add_repo(REPO, {"model.onnx": b"\0" * 300_000})
    result = run_pull(hub.url, tmp_path / "hf", REPO, SER_MAX_HUB_MODEL_MB="0.1")
    assert result["source"] == "hub", result
    assert "model.onnx" not in tree_bytes(Path(result["path"]))


def test_unknown_sizes_do_not_refuse_a_model(tmp_path, hub):
    hub.report_sizes = False  # the Hub answers ?blobs=true without sizes
    model = big_model_dir(tmp_path / "model")
    seed_repo(hub, model)
    result = run_pull(hub.url, tmp_path / "hf", REPO, SER_MAX_HUB_MODEL_MB="0.1")
    assert result["source"] == "hub", result
    assert tree_bytes(Path(result["path"])) == tree_bytes(model)


def test_push_without_token_says_how_to_log_in(tmp_path, hub, hub_server):
    model = make_model_dir(tmp_path / "model")
    proc = run_push(hub_server, tmp_path / "hf", str(model), REPO)
    assert proc.returncode == 1 and proc.stdout == ""
    assert proc.stderr.strip() == NO_TOKEN_MESSAGE
    assert hub.requests == []


@pytest.mark.parametrize("token, expected", [
    (READ_TOKEN, "(HTTP 403): your token has no write access to 'tester'."),
    ("hf_not_a_real_token", "(HTTP 401): your token is invalid or expired"),
])
def test_refused_push_is_one_sentence(tmp_path, hub, hub_server, token, expected):
    hub.require_token = True
    model = make_model_dir(tmp_path / "model")
    proc = run_push(hub_server, tmp_path / "hf", str(model), REPO, HF_TOKEN=token)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert expected in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr
    assert REPO not in hub.repos


def test_push_refuses_unsafe_model_dir(tmp_path, hub, hub_server):
    model = make_model_dir(tmp_path / "model")
    (model / "optimizer.pt").write_bytes(b"not really a pickle")
    proc = run_push(hub_server, tmp_path / "hf", str(model), REPO, HF_TOKEN=WRITE_TOKEN)
    assert proc.returncode == 1 and "optimizer.pt" in proc.stderr and "Traceback" not in proc.stderr
    assert hub.requests == []


def test_training_scripts_push_with_maybe_push(tmp_path, hub, hub_server):
    model = make_model_dir(tmp_path / "model")
    script = (
        "import argparse, sys\n"
        "from train.push import add_push_args, maybe_push\n"
        "parser = argparse.ArgumentParser()\n"
        "add_push_args(parser)\n"
        "assert maybe_push(parser.parse_args([]), sys.argv[1]) is None\n"
        "args = parser.parse_args(['--push-to-hub', sys.argv[2], '--hub-private', '--hub-revision', 'exp'])\n"
        "print(maybe_push(args, sys.argv[1]))\n"
    )
    proc = subprocess.run([sys.executable, "-c", script, str(model), REPO], capture_output=True, text=True,
                          env=hub_env(hub_server, tmp_path / "hf", HF_TOKEN=WRITE_TOKEN), timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [f"Pushed to {hub_server}/{REPO}/tree/exp", f"{hub_server}/{REPO}/tree/exp"]
    assert hub.repos[REPO].private and "model.safetensors" in hub.files(REPO, "exp")
    assert "model.safetensors" not in hub.files(REPO, "main")  # the branch, not main


def test_push_to_a_broken_hub_is_one_sentence(tmp_path, hub):
    model = make_model_dir(tmp_path / "model")
    hub.mode = "error500"
    with HubServer() as gone:
        closed = gone.url  # nothing listens there any more: connections are refused
    for endpoint, expected in [(hub.url, f"The Hub answered with an error (HTTP 500); nothing was pushed to {REPO}."),
                               (closed, f"Hub unreachable at {closed}; nothing was pushed to {REPO}.")]:
        proc = run_push(endpoint, tmp_path / "hf", str(model), REPO, HF_TOKEN=WRITE_TOKEN)
        assert proc.returncode == 1 and proc.stderr.strip() == expected, proc.stderr
