"""The classic MLP and ResNet18 families: train on a few real RAVDESS clips, save, reload, predict the same.

Also the shared training helpers (argument parsing, the actor-disjoint cross-validation loop, the CV result file, the card).
"""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import torch
from safetensors.numpy import load_file

from ser.audio.load import load_audio
from ser.evaluation.corpora import load_records
from ser.labels import EMOTIONS
from ser.models import load_dir
from ser.models.base import softmax
from ser.models.classic import ClassicModel
from ser.models.resnet import ResNetModel
from train import common
from train.cards import model_card as cards
from train.heads import classic
from train.heads import resnet

TINY_MLP = classic.ClassicArgs(hidden_layers=[32], max_iter=200, early_stopping=False)  # 16 clips are too few to hold 10% out


@pytest.fixture(scope="module", autouse=True)
def _one_thread():
    torch.set_num_threads(1)


def pick(actors: tuple[int, ...]) -> list:
    """One clip per emotion and actor: statement 1, repetition 1, normal intensity."""
    return [r for r in load_records(["ravdess"]) if int(r.speaker[-2:]) in actors and r.path.endswith(f"-01-01-01-{r.speaker[-2:]}.flac")]


@pytest.fixture(scope="module")
def clips():
    records = pick((1, 2))
    assert len(records) == 16 and {r.emotion for r in records} == set(EMOTIONS)
    return records, [load_audio(r.path) for r in records]


@pytest.fixture(scope="module")
def classic_fit(clips):
    records, _ = clips
    features = classic.extract_features(records)
    return (features, *classic.train_model(features, records, TINY_MLP, seed=0))


def test_classic_numpy_forward_equals_sklearn(classic_fit, clips):
    features, model, scaler, mlp = classic_fit
    expected = mlp.predict_proba(scaler.transform(features))
    assert np.allclose(softmax(model.logits_from_features(features)), expected, atol=1e-5)
    assert np.allclose(model.predict(clips[1]), expected, atol=1e-5)  # the waveform path computes the same features
    y = [EMOTIONS.index(r.emotion) for r in clips[0]]
    assert (expected.argmax(axis=1) == y).mean() >= 0.75  # it learned its training clips, so the comparison is not trivial


def test_classic_save_load_same_predictions(classic_fit, clips, tmp_path):
    _, model, _, _ = classic_fit
    model.save(tmp_path / "classic", card="# card\n")
    assert sorted(p.name for p in (tmp_path / "classic").iterdir()) == ["README.md", "checksums.json", "config.json", "model.safetensors"]
    config = json.loads((tmp_path / "classic" / "config.json").read_text())
    assert config["kind"] == "classic_mlp" and config["activation"] == "relu" and config["hidden_layer_sizes"] == [32]
    assert set(load_file(str(tmp_path / "classic" / "model.safetensors"))) == {
        "scaler.mean", "scaler.scale", "layers.0.weight", "layers.0.bias", "layers.1.weight", "layers.1.bias"}
    loaded = load_dir(tmp_path / "classic")
    assert isinstance(loaded, ClassicModel) and loaded.labels == list(EMOTIONS)
    probs = loaded.predict(clips[1])
    assert probs.shape == (16, len(EMOTIONS))
    assert np.allclose(probs, model.predict(clips[1]), atol=1e-6)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_classic_trains_without_a_label_its_corpora_lack(clips):
    """A corpus without calm (TESS, URDU, ASED) must not stop training, nor teach that calm never happens: the label
    stays in the model, untrained, and the other seven are learned."""
    records, _ = clips
    keep = [i for i, r in enumerate(records) if r.emotion != "calm"]
    features = classic.extract_features([records[i] for i in keep])
    model, scaler, mlp = classic.train_model(features, [records[i] for i in keep], TINY_MLP, seed=0)
    assert model.labels == list(EMOTIONS)
    calm = EMOTIONS.index("calm")
    assert not mlp.coefs_[-1][:, calm].any() and mlp.intercepts_[-1][calm] == 0.0  # no clip pushed calm down
    guess = mlp.predict_proba(scaler.transform(features)).argmax(axis=1)
    assert (guess == [EMOTIONS.index(records[i].emotion) for i in keep]).mean() >= 0.75


@pytest.fixture(scope="module")
def resnet_fit(clips):
    records, _ = clips
    mels = resnet.compute_mels(records)
    train = [i for i, r in enumerate(records) if r.speaker == "ravdess-01"]
    val = [i for i, r in enumerate(records) if r.speaker == "ravdess-02"]
    args = resnet.ResNetArgs(epochs=2, batch_size=4, patience=5)
    model = resnet.fit([records[i] for i in train], [mels[i] for i in train], [records[i] for i in val], [mels[i] for i in val],
                       args, seed=0)
    return model, mels


def test_resnet_layout(resnet_fit):
    model, _ = resnet_fit
    net = model.network
    assert [len(stage) for stage in net.stages] == [2, 2, 2, 2]
    assert [stage[0].conv1.out_channels for stage in net.stages] == [32, 64, 128, 256]
    assert 2.7e6 < sum(p.numel() for p in net.parameters()) < 2.9e6
    assert model.config["training"]["best_epoch"] in (1, 2)


def test_resnet_save_load_same_predictions(resnet_fit, clips, tmp_path):
    model, mels = resnet_fit
    half = resnet.use_half_weights(model, mels)
    assert model.config["weights_dtype"] == ("float16" if half else "float32")
    before = model.predict(clips[1])
    model.save(tmp_path / "resnet")
    stored = load_file(str(tmp_path / "resnet" / "model.safetensors"))
    assert stored["fc.weight"].dtype == (np.float16 if half else np.float32)
    loaded = load_dir(tmp_path / "resnet")
    assert isinstance(loaded, ResNetModel)
    probs = loaded.predict(clips[1])
    assert np.allclose(probs, before, atol=1e-5)
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)


def test_resnet_takes_any_length(resnet_fit, clips):
    model, _ = resnet_fit
    wave = clips[1][0]
    waves = [wave[: 8000], wave, np.tile(wave, 4)]  # 0.5 s, ~3.5 s, ~14 s
    probs = model.predict(waves)
    assert probs.shape == (3, len(EMOTIONS)) and np.isfinite(probs).all()
    assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-5)
    assert not np.allclose(probs[0], probs[1])  # a different input gives a different answer


def test_resnet_mean_std_pooling():
    from ser.models.base import ModelError
    from ser.models.resnet import ResNet

    torch.manual_seed(0)
    net = ResNet(len(EMOTIONS), base_width=8, pooling="mean_std").eval()
    assert net.fc.in_features == 2 * 64  # mean and spread of the last stage's 64 channels
    seen = []
    net.fc.register_forward_hook(lambda module, inputs, output: seen.append(inputs[0]))
    x = torch.randn(1, 1, 64, 300)
    with torch.no_grad():
        net(x)
        over_time = net.stages(net.stem(x)).mean(dim=2)  # (1, channels, frames)
    assert torch.allclose(seen[0], torch.cat([over_time.mean(dim=2), over_time.std(dim=2, correction=0)], dim=1), atol=1e-5)
    assert seen[0][0, 64:].abs().sum() > 0  # the spread of a noisy input is not zero
    with torch.no_grad():
        assert torch.isfinite(net(torch.randn(1, 1, 64, 20))).all()  # one pooled frame: spread 0, not NaN
    with pytest.raises(ModelError, match="Unknown pooling"):
        ResNet(len(EMOTIONS), pooling="max")


def test_resnet_trains_on_speed_copies(clips):
    """`--augment speed0.9 speed1.1`: the copies are the clip played faster or slower, training draws them, and a run
    without copies keeps the random stream (and so the weights) of a run before copies existed."""
    records, _ = clips
    mels = resnet.compute_mels(records)
    faster = resnet.compute_mels(records, augment="speed1.1")
    ratio = np.array([f.shape[1] / m.shape[1] for f, m in zip(faster, mels)])
    assert np.all(np.abs(ratio - 1 / 1.1) < 0.05), ratio  # trimmed clips 10% shorter
    args = resnet.ResNetArgs(epochs=1, batch_size=4, base_width=8)

    def weights(train_copies):
        model = resnet.fit(records, mels, [], [], args, seed=0, log=lambda _: None, train_copies=train_copies)
        return torch.cat([p.detach().flatten() for p in model.network.parameters()])

    plain = weights(None)
    assert torch.equal(plain, weights([[] for _ in records]))
    assert not torch.allclose(plain, weights([[f] for f in faster]))
    with pytest.raises(SystemExit, match=re.escape("unknown augmentation 'speed2'; choose from speed0.9, speed1.1, noise, telephone, pitch-2, pitch+2, room, codec or none")):
        resnet.main(["--augment", "speed2", "--no_final"])


def test_random_crop_and_spec_augment():
    rng = np.random.default_rng(0)
    mel = np.arange(64 * 50, dtype=np.float32).reshape(64, 50)
    short = resnet.random_crop(mel, 120, rng)
    assert short.shape == (64, 120) and set(np.unique(short)) <= set(np.unique(mel))
    long = resnet.random_crop(mel, 30, rng)
    start = int(long[0, 0])
    assert np.array_equal(long, mel[:, start:start + 30])  # a contiguous window, never wrapped
    batch = torch.ones(4, 1, 64, 200)
    resnet.spec_augment(batch, resnet.ResNetArgs(freq_masks=1, freq_mask_bins=8, time_masks=1, time_mask_frames=20), rng)
    zeros = (batch == 0).sum(dim=(1, 2, 3))
    assert (zeros <= 8 * 200 + 20 * 64).all() and zeros.sum() > 0


def test_parse_args():
    args, mlp_args = common.parse_args(common.CommonArgs, classic.ClassicArgs, argv=[
        "--corpora", "ravdess", "--cv", "--no_final", "--hidden_layers", "64", "32", "--push-to-hub", "me/ser", "--seed", "3"])
    args.resolve("classic-mlp")
    assert args.corpora == ["ravdess"] and args.cv and not args.final and args.seed == 3 and args.push_to_hub == "me/ser"
    assert mlp_args.hidden_layers == [64, 32] and args.name == "classic-mlp" and args.out.endswith("assets/models/classic-mlp")


def test_cross_validation_is_actor_disjoint(tmp_path, monkeypatch):
    records = pick((1, 5, 9, 13, 17, 21))  # one actor per fold (all odd: men)
    features = classic.extract_features(records)
    row = {r.path: i for i, r in enumerate(records)}
    seen = []

    def fit(train, val):
        seen.append({r.speaker for r in train})
        return classic.train_model(features[[row[r.path] for r in train]], train, TINY_MLP, seed=0)[0]

    result = common.cross_validate(records, fit, val_speakers=0)
    assert [f["test_speakers"] for f in result["folds"]] == [[f"ravdess-{a:02d}"] for a in (1, 5, 9, 13, 17, 21)]
    for fold, speakers in zip(result["folds"], seen):
        assert not speakers & set(fold["test_speakers"]) and len(speakers) == 5
    assert sorted(np.concatenate([p["indices"] for p in result["predictions"]]).tolist()) == list(range(len(records)))
    assert sum(map(sum, result["confusion"])) == len(records) and 0.0 <= result["uar"] <= 1.0
    monkeypatch.setattr(common, "CV_DIR", tmp_path)
    written = json.loads(common.write_cv_result("tiny", result).read_text())
    assert tuple(written) == (*common.CV_KEYS, "protocol_id", "mean_fold_uar") and written["protocol_id"] == "ravdess6" and common.read_cv_result("tiny") == written
    card = cards.model_card("tiny", "A test model.", {"model": "MLP"}, cards.data_summary(records), written)
    assert f"{written['uar']:.1%}" in card and "non-commercial" in card and "6 speakers (0 female, 6 male)" in card and "TESS" not in card
    assert "other seeds" not in card
    common.write_cv_result("tiny-seed1", {**result, "uar": 0.123, "calm_neutral_confusions": 45})
    card = cards.model_card("tiny", "A test model.", {"model": "MLP"}, cards.data_summary(records), written)
    assert "other seeds: seed 1 12.3% UAR (45 calm<->neutral confusions)" in card
    assert "another precision" not in card  # no <name>-bf16-test / -int8-test rows yet
    common.write_cv_result("tiny-int8-test", {**result, "uar": 0.456, "calm_neutral_confusions": 7})
    card = cards.model_card("tiny", "A test model.", {"model": "MLP"}, cards.data_summary(records), written)
    assert "another precision" in card and "int8 45.6% UAR (7 calm<->neutral confusions)" in card
    assert not re.search(r"bfloat16 \d", card)  # a row that does not exist is not quoted
