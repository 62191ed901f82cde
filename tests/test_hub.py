"""Hub sharing against a real local HTTP Hub (tests/hub_server.py), the sending side: model ids, the safety checks of a
model folder, push, the model card it writes, and refused or failed pushes. Pulls: tests/test_hub_pull.py.
"""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import save_file

from ser.models.hub.client import (
    HF_KIND,
    NO_TOKEN_MESSAGE,
    HubError,
    check_model_dir,
    looks_like_hub_id,
    parse_model_ref,
    write_checksums,
)
from tests.hub_server import READ_TOKEN, WRITE_TOKEN, HubServer, hub_env
from tests.hub_fixtures import REPO, evil_pickle, make_model_dir, run_push
from tests.hub_fixtures import hub, hub_server  # noqa: F401 (fixtures: pytest finds them here)


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
        "from train.cards.push import add_push_args, maybe_push\n"
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
