"""The About tab, read without a server: each shipped model's card, its scores in words a visitor reads, one licence
section, the unseen-corpus scores, and the one sentence for a typed path."""

from __future__ import annotations

import html
import json
import re

import pytest

from ser import settings
from ser.models import local_models
from ser.models.base import read_config
from tests.test_app_api import SHIPPED, refusal


def test_about_tab_shows_shipped_cards_and_refuses_paths():
    from app_ui.about import about_model

    assert "### Limits" in about_model(SHIPPED)
    card = (settings.MODELS_DIR / SHIPPED / "README.md").read_text().split("\n---\n", 1)[-1]  # after the front matter
    card_line = next(line for line in card.splitlines() if line.strip() and not line.startswith("#"))
    assert card_line in about_model(SHIPPED)
    for ref in [str(settings.MODELS_DIR / SHIPPED), "../", "/etc"]:
        about = about_model(SHIPPED, ref)
        assert about.startswith(f"**{html.escape(refusal(ref), quote=False)}**\n") and card_line not in about


@pytest.mark.parametrize("name", local_models())
def test_about_tab_has_one_licence_section_holding_the_cards_licence(name):
    """The card's licence and the demo's (example clips, encoder, code) are read in one place, not in two sections."""
    from app_ui.about import about_model

    about = about_model(name)
    headings = [line for line in about.splitlines() if re.match(r"#+ +licen[cs]e", line, re.I)]
    assert headings == ["### Licences"]
    card = (settings.MODELS_DIR / name / "README.md").read_text()
    card_licence = card.split("## Licence\n", 1)[1].strip().splitlines()[0]  # the shipped cards' one-paragraph licence
    section = about.split("### Licences\n", 1)[1]
    assert card_licence in section and "non-commercial" in section
    # the encoder's licence only where the model runs it
    assert ("Whisper-base encoder (OpenAI)" in section) == (read_config(settings.MODELS_DIR / name)["kind"] == "whisper_head")


def test_a_hub_cards_license_section_moves_into_the_one_licence_section():
    """Cards written elsewhere spell it License, use lists, and may show a heading inside a code block."""
    from app_ui.about import licences_section, split_licence

    card = "### Model\ntext\n#### License\n- weights: apache-2.0\n- data: see below\n### Usage\n```\n## License\n```\n"
    rest, licence = split_licence(card)
    assert licence == "- weights: apache-2.0\n- data: see below"
    assert rest == "### Model\ntext\n### Usage\n```\n## License\n```\n"  # the code block stays
    section = licences_section("someone/ser", licence)
    assert section.startswith("### Licences\n- **someone/ser**, from its model card:\n  - weights: apache-2.0\n")
    assert split_licence("### Model\ntext\n") == ("### Model\ntext\n", None)
    assert "its model card states no licence" in licences_section("someone/ser", None)


# --- the About tab, written for visitors -----------------------------------------------------------------------------

INTERNAL = re.compile(r"reports/|assets/|\.json|\.csv|_s\b|macro_f1|calm_neutral|per_class|SER_[A-Z]|\b0\.\d{2,}|`")


@pytest.mark.parametrize("name", local_models())
def test_about_tab_speaks_in_percentages_without_internal_names(name):
    from app_ui.about import about_model
    from ser.evaluation.reports import chance_level, cv_scores

    about = about_model(name)
    scores, _ = cv_scores(name)
    assert f"**UAR {scores['uar'] * 100:.1f}%**" in about
    assert f"guessing scores {chance_level(scores) * 100:.1f}%" in about and "unweighted average recall" in about
    assert not INTERNAL.search(about), INTERNAL.search(about)
    headings = [line for line in about.splitlines() if line.startswith("#")]
    assert headings.count("### Limits") == 1 and headings.count("### Licences") == 1
    assert not any(re.match(r"#+ +(limits|limitations|licen[cs]e)", h, re.I) for h in headings if h not in ("### Limits", "### Licences"))


def test_about_tab_shows_unseen_corpus_scores_when_the_report_has_them(tmp_path, monkeypatch):
    """The lead's leave-one-corpus-out rows (accuracy.json "loco", as train.evaluation.evaluate writes them) reach the page."""
    from app_ui.about import about_model

    report = json.loads((settings.REPORTS_DIR / "accuracy.json").read_text())
    report["loco"] = {f"{SHIPPED}-loco": {"protocol_id": "loco", "mean_uar": 0.3125, "corpora": {
        "urdu": {"uar": 0.4, "labels": ["neutral", "happy", "sad", "angry"]},
        "ased": {"uar": 0.25, "labels": ["neutral", "happy", "sad", "angry", "fearful"]}}}}
    (tmp_path / "accuracy.json").write_text(json.dumps(report))
    monkeypatch.setattr(settings, "REPORTS_DIR", tmp_path)
    about = about_model(SHIPPED)
    assert "mean UAR **31.2%**; URDU 40.0% (guessing 25.0%), ASED 25.0% (guessing 20.0%)." in about
    # the number closest to a visitor's own voice comes first, the in-corpus one after it
    assert about.index("mean UAR **31.2%**") < about.index("**UAR ")
    assert "never heard" in about_model("resnet18") and "mean UAR **" not in about_model("resnet18")


def test_about_tab_says_which_path_the_encoder_runs_on_and_why(monkeypatch, tmp_path):
    """Models on the Whisper encoder say which path runs here and why (ser.encoders.path); the others have no encoder."""
    from app_ui.about import ENCODER_HEADING, about_model
    from ser.encoders.path import chosen_path

    monkeypatch.setenv("SER_CACHE_DIR", str(tmp_path))  # this machine not timed yet: the safe default, and it says so
    monkeypatch.delenv("SER_ENCODER_DTYPE", raising=False)
    monkeypatch.delenv("SER_ENCODER_RUNTIME", raising=False)
    section = about_model("whisper-head").split(ENCODER_HEADING, 1)[1].split("###", 1)[0]
    assert f"runs on {chosen_path().path.name}: the default until this machine's paths are timed" in section
    monkeypatch.setenv("SER_ENCODER_DTYPE", "int8")
    assert "runs on torch int8: SER_ENCODER_DTYPE=int8 asks for it." in about_model("whisper-head")
    assert ENCODER_HEADING not in about_model(SHIPPED)  # the classic MLP reads no encoder
