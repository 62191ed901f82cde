"""The calm-vs-neutral lesson: the pairing and statistics of `train.evaluation.calm_neutral`, the report it wrote, and the lesson's
figures and sentences (ser.teaching.lesson) with a visitor's clip placed on them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from ser import plots
from ser.teaching import lesson
from ser.audio.load import SAMPLE_RATE
from ser.evaluation.corpora import load_records
from ser.evaluation.metrics import read_report
from train.evaluation import calm_neutral


def test_pairs_match_actor_statement_and_repetition(data_dir):
    records = load_records(["ravdess"], labels=("calm", "neutral"))
    pairs = calm_neutral.matched_pairs(records)
    assert len(pairs) == 96 and len({c.speaker for c, _ in pairs}) == 24  # 4 per actor
    for calm, neutral in pairs:
        assert (calm.emotion, neutral.emotion, calm.intensity) == ("calm", "neutral", "normal")
        assert calm.speaker == neutral.speaker and calm.statement == neutral.statement
        assert Path(calm.path).stem.split("-")[5] == Path(neutral.path).stem.split("-")[5]  # repetition


def test_paired_effect_size_and_interval():
    rng = np.random.default_rng(1)
    diffs = np.stack([rng.normal(-1.0, 1.0, 24), rng.normal(0.0, 1.0, 24)], axis=1)  # one real effect, one none
    effects = calm_neutral.paired_effects(diffs)
    expected = diffs.mean(axis=0) / diffs.std(axis=0, ddof=1)
    assert np.allclose(effects["d_z"], expected)
    assert effects["ci_high"][0] < 0 < effects["ci_high"][1] and effects["ci_low"][1] < 0  # only the first excludes 0
    assert effects["p"][0] < 0.01 < effects["p"][1]


def test_the_report_covers_every_actor_and_its_figures_are_its_numbers():
    report = read_report(calm_neutral.REPORT)
    assert report, "reports/calm_neutral.json is missing: run python -m train.evaluation.calm_neutral"
    assert len(report["actors"]) == 24 and report["pairs"] == 96 and len(report["parameters"]) == 88
    assert len(report["top"]) == calm_neutral.TOP == lesson.SHOWN
    assert len({calm_neutral.family(n) for n in report["top"]}) == len(report["top"])  # one per family
    for name in report["top"]:
        p = report["parameters"][name]
        diff = np.subtract(p["per_actor"]["calm"], p["per_actor"]["neutral"])
        assert p["d_z"] == pytest.approx(diff.mean() / diff.std(ddof=1), abs=1e-3)
        assert p["ci95"][0] <= p["d_z"] <= p["ci95"][1]  # the interval holds the estimate
        assert p["actors_calm_lower"] == int((diff < 0).sum())
    strongest = max(abs(p["d_z"]) for n, p in report["parameters"].items() if calm_neutral.family(n) != "mfcc")
    assert abs(report["parameters"][report["top"][0]]["d_z"]) == strongest


def test_confusions_are_quoted_with_their_denominators():
    text = lesson.confusion_sentences(["whisper-head", "no-such-model"])
    scores = read_report("accuracy.json")["models"]["whisper-head"]
    assert f"whisper-head: {scores['calm_neutral_confusions']} of 288 calm and neutral clips" in text
    assert "no-such-model" not in text


def test_a_visitors_clip_joins_every_figure(data_dir, tmp_path):
    plots.VALIDATE = True  # the figures must be valid plotly, not only what the browser forgives
    try:
        section = lesson.LessonSection(plots=[None] * lesson.SHOWN)
        clip = data_dir / "ravdess" / "Actor_12" / "03-01-02-01-01-01-12.flac"
        *figures, note = section.place_clip(str(clip))
        assert len(figures) == lesson.SHOWN and "your clip" in note
        for figure in figures:
            names = [trace.name for trace in figure.data]
            assert names.count("your clip") == 1 and len(figure.data) == 24 + 2
        noise = tmp_path / "hiss.wav"
        sf.write(noise, np.random.default_rng(0).normal(0, 0.1, 2 * SAMPLE_RATE), SAMPLE_RATE)
        *figures, note = section.place_clip(str(noise))
        assert "too little voiced speech" in note and all("your clip" not in [t.name for t in f.data] for f in figures)
    finally:
        plots.VALIDATE = False


def test_a_clip_beyond_every_actor_is_an_arrow_at_the_edge_not_a_stretched_axis():
    plots.VALIDATE = True
    try:
        report = lesson.lesson_report()
        name = lesson.shown_parameters(report)[0]
        low, high = lesson.actor_range(report["parameters"][name])
        for value, edge in ((high + 100 * (high - low), high), (low - 100 * (high - low), low), ((low + high) / 2, None)):
            figure = lesson.parameter_figure(name, report, value)
            assert list(figure.layout.yaxis.range) == pytest.approx([low, high])
            clip = next(t for t in figure.data if t.name == "your clip")
            arrows = [a for a in figure.layout.annotations if a.showarrow]
            if edge is None:  # inside the range: the dashed line at its value, no arrow
                assert list(clip.y) == pytest.approx([value, value]) and not arrows
            else:
                assert list(clip.y) == pytest.approx([edge, edge]) and len(arrows) == 1 and arrows[0].y == pytest.approx(edge)
                assert f"{value:.3g}" in arrows[0].text
    finally:
        plots.VALIDATE = False
