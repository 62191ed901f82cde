"""The CV report's per-clip probabilities (reports/cv/<row>.predictions.csv) and the ensemble rows scored from them.

An ensemble row is only as honest as the files it averages: every kept file must reproduce its own row's scores, and the
averaging is checked on a real (tiny) cross-validation run whose probabilities the test knows.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

from ser import settings
from ser.labels import EMOTIONS
from ser.evaluation.metrics import unseen_corpus_scores
from train import common
from train.heads import classic
from train.evaluation import evaluate
from tests.test_models_classic_resnet import TINY_MLP, pick


def kept_rows() -> list[str]:
    return sorted(p.name.removesuffix(common.PREDICTIONS_SUFFIX) for p in common.CV_DIR.glob(f"*{common.PREDICTIONS_SUFFIX}"))


def test_every_kept_prediction_file_reproduces_its_rows_scores():
    rows = kept_rows()
    assert rows, "no reports/cv/*.predictions.csv: the ensemble rows have nothing to average"
    for row in rows:
        run, result = common.read_cv_predictions(row), common.read_cv_result(row)
        assert result is not None, f"{row}: predictions kept but no reports/cv/{row}.json"
        if result.get("protocol_id") == "loco":
            assert_unseen_corpus_scores_reproduce(row, run, result)
            continue
        assert len(run.clips) == len(set(run.clips)) == sum(map(sum, result["confusion"])), row
        assert np.allclose(run.probabilities.sum(axis=1), 1.0, atol=1e-4), row
        truth = [run.labels.index(e) for e in run.emotions]
        rescored = evaluate.compute_metrics(truth, run.probabilities.argmax(axis=1), run.labels)
        assert rescored["confusion"] == result["confusion"] and run.labels == result["labels"], row


def assert_unseen_corpus_scores_reproduce(row: str, run, result: dict) -> None:
    """A LOCO row: the k-th fold of the file is the k-th corpus of the report, rescored with the argmax over its labels.

    Files written before 2026-12-04 kept 6 decimals: a clip whose labels-the-corpus-has shared under 0.001 kept too few digits
    to rank them, so for those only the clips that kept their probabilities must agree."""
    # a fold with no scored clip (URDU under a voice profile) is absent from both: the corpora follow the folds in order
    folds = sorted(set(run.folds.tolist()))
    assert len(folds) == len(result["corpora"]) and (not result.get("corpora", {}).get("urdu") or folds == list(range(len(folds)))), row
    for k, (corpus, scores) in zip(folds, result["corpora"].items()):
        mine = run.folds == k
        emotions = [e for e, m in zip(run.emotions, mine) if m]
        rescored = unseen_corpus_scores(emotions, run.probabilities[mine], run.labels, set(scores["labels"]))
        assert rescored["n"] == scores["n"] == int(mine.sum()), (row, corpus)
        assert rescored["prediction_shares"] == pytest.approx(scores["prediction_shares"], abs=2 / scores["n"]), (row, corpus)
        allowed = [run.labels.index(label) for label in set(scores["labels"]) | {"neutral", "calm"} if label in run.labels]
        lost = int((run.probabilities[mine][:, allowed].sum(axis=1) < 1e-3).sum())
        moved = np.abs(np.array(rescored["confusion"]) - np.array(scores["confusion"])).sum()
        assert moved <= 2 * lost, (row, corpus, f"{moved // 2} clips scored otherwise, {lost} with under 0.001 on its labels")


def test_the_report_holds_every_ensemble_row_as_its_members_files_score_it():
    report = json.loads((settings.REPORTS_DIR / "accuracy.json").read_text())
    for name, (members, _) in evaluate.ENSEMBLES.items():
        assert set(members) <= set(kept_rows()), f"{name}: a member kept no per-clip probabilities"
        assert report["models"][name]["confusion"] == evaluate.ensemble_result(members)["confusion"], name
        assert report["models"][name]["members"] == list(members)


@pytest.fixture(scope="module")
def two_seeds(tmp_path_factory):
    """A real 6-fold CV of a tiny classic MLP with seeds 0 and 1, written as the rows tiny and tiny-seed1."""
    records = pick((1, 5, 9, 13, 17, 21))
    features = classic.extract_features(records)
    row = {r.path: i for i, r in enumerate(records)}
    cv_dir = tmp_path_factory.mktemp("cv")
    results = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(common, "CV_DIR", cv_dir)
        for seed, name in ((0, "tiny"), (1, "tiny-seed1")):
            def fit(train, val, seed=seed):
                return classic.train_model(features[[row[r.path] for r in train]], train, TINY_MLP, seed=seed)[0]

            results[name] = common.cross_validate(records, fit, val_speakers=0)
            common.write_cv_result(name, results[name])
    return cv_dir, results


def test_an_ensemble_of_one_run_with_itself_is_that_run(two_seeds, monkeypatch):
    cv_dir, results = two_seeds
    monkeypatch.setattr(common, "CV_DIR", cv_dir)
    alone = evaluate.ensemble_result(("tiny", "tiny"))
    for key in ("confusion", "uar", "calm_neutral_confusions", "labels"):
        assert alone[key] == results["tiny"][key]
    assert [f["uar"] for f in alone["folds"]] == [f["uar"] for f in results["tiny"]["folds"]]
    assert alone["train_time_s"] == pytest.approx(2 * results["tiny"]["train_time_s"], abs=0.2)


def test_an_ensemble_labels_each_clip_by_its_members_mean_probability(two_seeds, monkeypatch):
    cv_dir, results = two_seeds
    monkeypatch.setattr(common, "CV_DIR", cv_dir)
    mean = {}  # clip -> mean probability over the two seeds, from the in-memory CV results
    for result in results.values():
        for fold in result["predictions"]:
            for clip, probs in zip(fold["clips"], fold["probabilities"]):
                mean[clip] = mean.get(clip, 0) + np.asarray(probs) / 2
    run, other = common.read_cv_predictions("tiny"), common.read_cv_predictions("tiny-seed1")
    assert not np.allclose(run.probabilities, other.probabilities, atol=1e-3), "the seeds agree: averaging is not tested"
    truth = [EMOTIONS.index(e) for e in run.emotions]
    expected = evaluate.compute_metrics(truth, [int(np.argmax(mean[c])) for c in run.clips], EMOTIONS)
    both = evaluate.ensemble_result(("tiny", "tiny-seed1"))
    assert both["confusion"] == expected["confusion"] and sum(map(sum, both["confusion"])) == 48
    assert [f["test_speakers"] for f in both["folds"]] == [f["test_speakers"] for f in results["tiny"]["folds"]]


def test_an_ensemble_waits_for_its_members_and_refuses_mismatched_runs(two_seeds, monkeypatch):
    cv_dir, _ = two_seeds
    monkeypatch.setattr(common, "CV_DIR", cv_dir)
    assert evaluate.ensemble_result(("tiny", "no-such-row")) is None
    lines = (cv_dir / f"tiny-seed1{common.PREDICTIONS_SUFFIX}").read_text().splitlines()
    (cv_dir / f"short{common.PREDICTIONS_SUFFIX}").write_text("\n".join(lines[:-1]) + "\n")  # one clip missing
    (cv_dir / "short.json").write_text((cv_dir / "tiny-seed1.json").read_text())
    with pytest.raises(SystemExit, match="scores other clips than tiny's"):
        evaluate.ensemble_result(("tiny", "short"))


def test_make_evaluate_reruns_the_five_families_and_names_pick_other_rows():
    """`make evaluate` must finish in hours, not a day: by default it reruns the five families, each with its own
    training module; other rows by name, or all of them."""
    (args,) = common.parse_args(evaluate.EvaluateArguments, argv=[])
    assert evaluate.rows_to_run(args.models) == ["whisper-head", "whisper-linear-probe", "resnet18", "classic-mlp", "egemaps-cnn"]
    assert [evaluate.FAMILIES[row][0] for row in args.models] == ["train.heads.whisper", "train.heads.linear_probe", "train.heads.resnet",
                                                                  "train.heads.classic", "train.heads.egemaps"]
    assert evaluate.rows_to_run(["all"]) == [r for r, (m, _) in evaluate.FAMILIES.items() if m != evaluate.GPU_MODULE] and "resnet18-seed4" in evaluate.FAMILIES
    assert evaluate.rows_to_run(["whisper-head-bf16"]) == ["whisper-head-bf16"]
    assert evaluate.cv_arguments("whisper-head-bf16") == ["--cv", "--no_final", "--states_dtype", "bfloat16", "--name", "whisper-head-bf16"]
    with pytest.raises(SystemExit, match="Unknown model family whisper-large; choose from whisper-head, "):
        evaluate.rows_to_run(["whisper-large"])
