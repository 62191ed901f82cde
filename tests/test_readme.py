"""The README and the pages in docs/ quote only what the reports say, and the README is for users: it starts with the two
commands a newcomer runs, is read in a few minutes, and keeps the project's history in docs/."""

from __future__ import annotations

import json
import re

from bench import readme
from ser import settings


def test_readme_numbers_are_the_reports_numbers():
    text = readme.README.read_text()
    assert readme.block_names(text) == {"accuracy.md, unseen corpora", "accuracy.md, shipped models", "bench.md, shipped models"}, \
        "the README's accuracy tables and its speed table must be generated"
    assert readme.render(text) == text, "README.md is out of date with reports/: run `python -m bench.readme`"


def test_the_readme_leads_with_voices_the_model_never_heard():
    """A visitor's voice is a corpus the model never heard: "How good is it?" opens with that number and says in one
    sentence what to expect, before the in-corpus table that flatters it."""
    section = readme.README.read_text().split("## How good is it?")[1]
    assert section.index("unseen corpora") < section.index("shipped models")
    loco = json.loads((settings.REPORTS_DIR / "accuracy.json").read_text())["loco"]["whisper-head-loco"]
    sentence = next(line for line in section.splitlines() if line.startswith("**What to expect from your own voice**"))
    assert f"mean UAR is {loco['mean_uar']:.1%}" in sentence
    lowest = min(c["neutral_recall"] for c in loco["corpora"].values() if c.get("neutral_recall") is not None)
    assert f"lowest neutral recall {lowest:.1%}" in sentence
    calibrated = json.loads((settings.REPORTS_DIR / "accuracy.json").read_text())["loco"]["whisper-head-loco-calibrated"]
    says_none_is_sure = "singles no answer out as sure" in " ".join(section.split())
    assert says_none_is_sure == (calibrated["unsure_threshold"] >= 1.0), "the README's confidence sentence must match the report"


def test_the_unseen_corpus_sentence_names_the_corpora_where_a_voice_profile_hurts():
    header = "| model | mean UAR | A | B | C | lowest neutral recall | most predicted label (largest share) | mean ECE | trained on |"
    table = "\n".join([readme.LOCO_HEADING, "", header, "|---|---|---|---|---|---|---|---|---|",
                       "| whisper-head-loco | 40.0% | 30.0% | 50.0% | 40.0% | 2.0% | fearful 90% (B) | 0.4 | A B |",
                       "| whisper-head-profile-loco | 45.0% | 25.0% | 65.0% | - | 60.0% | sad 30% (A) | 0.4 | A B |",
                       "| whisper-head-profile-plain-loco | 38.0% | 28.0% | 48.0% | - | 3.0% | fearful 90% (B) | 0.4 | A B |", ""])
    sentence = readme.unseen_corpora_block(table).splitlines()[-1]
    assert "mean UAR is 40.0%" in sentence and "from 30.0% on A to 50.0% on B" in sentence
    assert "fearful for 90% of B's clips" in sentence
    assert "scored on the 2 corpora" in sentence and "is 45.0% against 38.0% without it on the same clips" in sentence
    assert "lower on A: 28.0% -> 25.0%." in sentence


def test_experiments_page_numbers_are_the_reports_numbers():
    text = readme.EXPERIMENTS.read_text()
    assert readme.block_names(text) == {"accuracy.md"}, "docs/experiments.md must hold the report's whole table, generated"
    assert readme.render(text) == text, "docs/experiments.md is out of date with reports/: run `python -m bench.readme`"


def test_performance_page_numbers_are_the_reports_numbers():
    text = readme.PERFORMANCE.read_text()
    assert readme.block_names(text) == {"bench.md"}, "docs/performance.md must hold the whole of reports/bench.md, generated"
    assert readme.render(text) == text, "docs/performance.md is out of date with reports/: run `python -m bench.readme`"


def test_the_readme_speed_table_holds_the_shipped_models_and_the_targets():
    bench = json.loads((settings.REPORTS_DIR / "bench.json").read_text())
    block = [m["body"] for m in readme.BLOCK.finditer(readme.README.read_text()) if m["name"] == "bench.md"][0]
    models = [line.split("|")[1].strip() for line in block.splitlines() if line.startswith("| ")][1:]
    assert [m for m in models if not m.startswith("whisper-head,")] == ["whisper-head (default)", "classic-mlp", "egemaps-cnn",
                                                                                 "resnet18"]
    assert "pipeline(" not in block  # the table of wav2vec2 pipelines is on the performance page
    assert bench['machine']['cpu_model'] in block and f"{bench['machine']['cpu_count']} cores" in block
    assert block.count("\n- ") == len(bench["targets"]), "every target, met or missed, is listed"


def test_the_readme_table_holds_every_shipped_family_and_only_those():
    """The README shows what a user gets; the ablations and seeds are on the experiments page, every one of them."""
    accuracy = json.loads((settings.REPORTS_DIR / "accuracy.json").read_text())
    readme_rows = [m["body"] for m in readme.BLOCK.finditer(readme.README.read_text())
                   if m["name"] == "accuracy.md" and m["variant"] == readme.SHIPPED][0]
    listed = [line.split("|")[1].strip() for line in readme_rows.splitlines()[2:]]
    assert listed == ["whisper-head", "whisper-linear-probe", "resnet18", "classic-mlp", "egemaps-cnn"]
    assert f"| resnet18 | {accuracy['models']['resnet18']['uar']:.1%} |" in readme_rows
    experiments = readme.EXPERIMENTS.read_text()
    for row in accuracy["models"]:
        assert f"| {row} | " in experiments, f"docs/experiments.md lacks the row {row}"


def test_a_stale_figure_is_replaced_by_the_report_figure():
    accuracy = json.loads((settings.REPORTS_DIR / "accuracy.json").read_text())
    uar = accuracy["models"]["whisper-head"]["uar"]
    stale = "intro\n<!-- generated from reports/accuracy.md -->\n| whisper-head | 1.0% |\n<!-- end generated -->\noutro\n"
    fresh = readme.render(stale)
    assert fresh.startswith("intro\n") and fresh.endswith("<!-- end generated -->\noutro\n")
    assert "| whisper-head | 1.0% |" not in fresh and f"| whisper-head | {uar:.1%} |" in fresh


def test_readme_starts_with_the_two_commands():
    text = readme.README.read_text()
    fence = text.split("```bash\n", 1)[1].split("```", 1)[0]
    commands = [line.split("#")[0].strip() for line in fence.splitlines() if line.strip()]
    assert commands == ["make demo", "make test"]
    assert text.index("```bash") < text.index("\n## ")  # before any section


def test_experiments_page_gives_the_seed_spread_of_the_report():
    """A reader comparing two rows must see how far the same recipe moves with another seed."""
    accuracy = json.loads((settings.REPORTS_DIR / "accuracy.json").read_text())
    text = readme.EXPERIMENTS.read_text()
    assert accuracy["seed_spread"], "the report lists no recipe run with several seeds"
    for recipe, spread in accuracy["seed_spread"].items():
        assert len(spread["uar"]) >= 2
        row = (f"| {recipe} | {', '.join(map(str, spread['seeds']))} | {', '.join(f'{u:.1%}' for u in spread['uar'])} | "
               f"{spread['mean_uar']:.1%} |")
        assert row in text, f"docs/experiments.md lacks the seed spread of {recipe}: run `python -m bench.readme`"
        confusions = spread["calm_neutral_confusions"]
        assert spread["mean_calm_neutral_confusions"] == sum(confusions) / len(confusions)
        assert f"| {', '.join(map(str, confusions))} | {spread['mean_calm_neutral_confusions']:.1f} |" in text


def test_readme_is_short_and_for_users():
    """Read in five minutes: no commit hashes, dates of past states or `git show` archaeology (docs/ holds those)."""
    text = readme.README.read_text()
    assert len(text) <= 10_000, f"README.md has {len(text)} characters; move details to docs/"
    assert re.findall(r"\bgit show\b|\b[0-9a-f]{7,40}\b|\b20\d\d-\d\d-\d\d\b", text) == []


def test_readme_screenshot_is_there_and_small():
    shots = re.findall(r"!\[[^\]]+\]\(([^)]+\.png)\)", readme.README.read_text())
    assert shots == ["docs/screenshot.png"]
    path = settings.PROJECT_ROOT / shots[0]
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and path.stat().st_size <= 150_000


def test_the_readme_screenshot_shows_the_analyse_tab_as_it_is_now():
    """The picture is retaken whenever the Analyse tab changes: it carries the fingerprint of the layout it shows."""
    from bench.screenshot import OUT, layout_fingerprint, stored_fingerprint

    assert stored_fingerprint(OUT) == layout_fingerprint(), \
        "docs/screenshot.png shows an older Analyse tab: retake it with `python -m bench.screenshot`"


def test_readme_quotes_the_reports_seed_spread():
    accuracy = json.loads((settings.REPORTS_DIR / "accuracy.json").read_text())
    spread = accuracy["seed_spread"]["resnet18"]
    points = (max(spread["uar"]) - min(spread["uar"])) * 100
    assert len(spread["seeds"]) == 5
    assert f"run with five seeds spreads over {points:.1f} points of UAR" in readme.README.read_text()


def test_the_default_models_card_and_about_tab_quote_the_unseen_corpus_report():
    """The model card (written by the training script) and the About tab show the unseen-corpus numbers the README leads
    with, from the same report."""
    from app_ui.about import about_model

    name = settings.default_model()
    report = json.loads((settings.REPORTS_DIR / "accuracy.json").read_text())["loco"]
    loco = report[f"{name}-loco"]
    card = (settings.MODELS_DIR / name / "README.md").read_text()
    assert f"mean UAR {loco['mean_uar']:.1%}" in card
    for scores in loco["corpora"].values():
        assert f"| {scores['n']} | {scores['uar']:.1%} |" in card
    about = about_model(name)
    assert f"mean UAR **{loco['mean_uar']:.1%}**" in about
    profile, same_clips = report[f"{name}-profile-loco"], report[f"{name}-profile-plain-loco"]
    assert f"mean UAR **{profile['mean_uar']:.1%}** against {same_clips['mean_uar']:.1%}" in about
    section = card.split("With a voice profile of the speaker")[1]
    assert f"mean UAR {profile['mean_uar']:.1%} with the profile against {same_clips['mean_uar']:.1%}" in section
    for corpus, scores in profile["corpora"].items():
        assert f"| {scores['uar']:.1%} | {same_clips['corpora'][corpus]['uar']:.1%} |" in section
