"""Distilling the Whisper head into the ResNet18 (train/heads/distill.py): the teacher's soft targets come from heads that never
heard the clip's speaker, and the ResNet trains on them."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from ser.evaluation.corpora import load_records
from ser.labels import EMOTIONS
from train.heads import resnet
from train.heads.distill import WhisperTeacher
from train.heads.whisper import HeadArguments

# two actors from each of three CV folds (actors 1-4, 5-8, 9-12): three groups for the cross-fitting
ACTORS = (1, 2, 5, 6, 9, 10)
NO_COPIES = HeadArguments(augment=[])  # the copies would only cost encoding time here


@pytest.fixture(scope="module")
def records():
    ravdess = [r for r in load_records(["ravdess"])
               if int(r.speaker[-2:]) in ACTORS and r.path.endswith(f"-01-01-01-{r.speaker[-2:]}.flac")]
    tess = [next(r for r in load_records(["tess"]) if r.emotion == emotion) for emotion in ("angry", "sad")]
    assert len(ravdess) == 8 * len(ACTORS)
    return ravdess + tess


@pytest.fixture(scope="module")
def teacher(records, tmp_path_factory):
    import os

    os.environ["SER_CACHE_DIR"] = str(tmp_path_factory.mktemp("cache"))  # these clips' states go here, not to ~/.cache
    try:
        return WhisperTeacher(records, NO_COPIES, log=lambda _: None)
    finally:
        os.environ.pop("SER_CACHE_DIR", None)


def relabelled(records, actors, emotion):
    from dataclasses import replace

    return [replace(r, emotion=emotion) if r.corpus == "ravdess" and int(r.speaker[-2:]) in actors else r for r in records]


def test_soft_targets_come_from_heads_that_never_heard_the_speaker(records, teacher):
    targets = teacher.soft_targets(records)
    truth = np.array([EMOTIONS.index(r.emotion) for r in records])
    tess = np.array([r.corpus == "tess" for r in records])
    assert targets.shape == (len(records), len(EMOTIONS)) and np.allclose(targets.sum(axis=1), 1.0)
    assert np.array_equal(targets[tess], np.eye(len(EMOTIONS))[truth[tess]])  # TESS keeps its labels
    # a head scoring its own training clips would be nearly sure of them; these heads did not hear these voices
    assert targets[~tess, truth[~tess]].mean() < 0.8
    assert (targets[~tess].argmax(axis=1) == truth[~tess]).mean() > 2 / len(EMOTIONS)  # but they learnt something
    # the labels of actors 9 and 10 do not reach their own targets (only the others')
    moved = teacher.soft_targets(relabelled(records, (9, 10), "angry"))
    own = np.array([r.corpus == "ravdess" and int(r.speaker[-2:]) in (9, 10) for r in records])
    assert np.allclose(moved[own], targets[own], atol=0.03)  # warm starts differ a little: not exactly equal
    assert not np.allclose(moved[~own & ~tess], targets[~own & ~tess], atol=0.3)


def test_distillation_without_every_emotion_outside_an_actor_group_is_a_clear_error(records, teacher):
    only_in_first_group = [r for r in records if not (r.emotion == "calm" and int(r.speaker[-2:]) not in (1, 2))]
    with pytest.raises(ValueError, match="distillation needs every emotion"):
        teacher.soft_targets(only_in_first_group)


def test_resnet_trains_on_the_blend_of_labels_and_soft_targets(records, teacher):
    ravdess = [r for r in records if r.corpus == "ravdess"]
    soft = teacher.soft_targets(ravdess)
    blend = resnet.training_targets(ravdess, soft, 0.5)
    truth = torch.tensor([EMOTIONS.index(r.emotion) for r in ravdess])
    assert torch.allclose(blend, 0.5 * torch.nn.functional.one_hot(truth, len(EMOTIONS)) + 0.5 * torch.from_numpy(soft).float())
    assert torch.equal(resnet.training_targets(ravdess, soft, 0.0), truth)  # --distill 0: the labels alone

    torch.set_num_threads(1)
    mels = resnet.compute_mels(ravdess)

    def weights(distill, soft_targets):
        args = resnet.ResNetArgs(epochs=1, batch_size=8, base_width=8, distill=distill)
        model = resnet.fit(ravdess, mels, [], [], args, seed=0, log=lambda _: None, soft_targets=soft_targets)
        return torch.cat([p.detach().flatten() for p in model.network.parameters()])

    plain = weights(0.0, None)
    assert torch.equal(plain, weights(0.0, soft))  # soft targets with weight 0 change nothing
    assert not torch.allclose(plain, weights(0.5, soft))
