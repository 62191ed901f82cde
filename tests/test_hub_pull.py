"""Hub sharing against a real local HTTP Hub (tests/hub_server.py), the receiving side: round trip, revisions, offline
and cached copies, failures within the timeout, corrupted, unsafe or oversized repos refused before download.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import load_file

from ser.models.base import CHECKSUMS_FILE as CHECKSUMS_NAME
from ser.models.hub.client import write_checksums
from tests.hub_server import WRITE_TOKEN
from tests.hub_fixtures import (REPO, SLACK, TIMEOUT, big_model_dir, check_sha, copy_cache, download_mb,
                                evil_pickle, make_model_dir, run_pull, run_push, seed_repo, snapshot_path, tree_bytes)
from tests.hub_fixtures import hub, hub_server, warm_cache  # noqa: F401 (fixtures: pytest finds them here)


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
