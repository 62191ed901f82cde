"""Copy the report figures into README.md and docs/, so none of them quotes a number no report holds.

    python -m bench.readme           # rewrite their generated blocks from reports/accuracy.md and reports/bench.md
    python -m bench.readme --check   # exit 1 if one is out of date (tests/test_readme.py checks the same)

A generated block sits between `<!-- generated from reports/NAME.md -->` and `<!-- end generated -->`; the prose around
it (what the numbers mean, what is missed and why) is written by hand. `, shipped models` after the report's name keeps
what a user of the shipped models needs (the README): the four families' rows of reports/accuracy.md's summary table,
the one-clip times and the targets of reports/bench.md. Without it: the report's whole summary table and seed spread
(docs/experiments.md), all of reports/bench.md (docs/performance.md).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from ser import settings
from train.evaluation.evaluate import MAIN_ROWS, SEED_SPREAD_HEADING
from train.evaluation.unseen_report import LOCO_HEADING

README = settings.PROJECT_ROOT / "README.md"
EXPERIMENTS = settings.PROJECT_ROOT / "docs" / "experiments.md"
PERFORMANCE = settings.PROJECT_ROOT / "docs" / "performance.md"
DOCUMENTS = (README, EXPERIMENTS, PERFORMANCE)
SHIPPED = ", shipped models"
UNSEEN = ", unseen corpora"
ONE_CLIP_HEADING = "### One clip"
TARGETS_HEADING = "### Targets"
MACHINE = re.compile(r"Measured by .*? on (?P<cpu>.+?) with (?P<cores>\d+) cores")
BLOCK = re.compile(r"(<!-- generated from reports/(?P<name>[\w.-]+\.md)(?P<variant>, shipped models|, unseen corpora)?[^>]*-->\n)(?P<body>.*?)"
                   r"(?P<end><!-- end generated -->)", re.S)


def first_table(lines: list[str]) -> list[str]:
    start = next(i for i, line in enumerate(lines) if line.startswith("|"))
    end = next((i for i in range(start, len(lines)) if not lines[i].startswith("|")), len(lines))
    return lines[start:end]


def accuracy_block(text: str) -> str:
    """The summary table of reports/accuracy.md (its first Markdown table), and its seed-spread table if it has one."""
    lines = text.splitlines()
    block = first_table(lines)
    if SEED_SPREAD_HEADING in lines:
        block += ["", "Seed spread (the same recipe with other seeds, the `-seed<N>` rows):", ""]
        block += first_table(lines[lines.index(SEED_SPREAD_HEADING):])
    return "\n".join(block) + "\n"


def shipped_models_block(text: str) -> str:
    """The rows of reports/accuracy.md's summary table for the families this repository ships, in the report's order."""
    header, rule, *rows = first_table(text.splitlines())
    return "\n".join([header, rule, *(row for row in rows if row.split("|")[1].strip() in MAIN_ROWS)]) + "\n"


def table_rows(header: str, rows: list[str]) -> dict[str, dict[str, str]]:
    """A markdown table's rows by their first cell, each as {column: cell}."""
    columns = [c.strip() for c in header.strip("|").split("|")]
    cells = [[c.strip() for c in row.strip("|").split("|")] for row in rows]
    return {row[0]: dict(zip(columns, row)) for row in cells}


def unseen_corpora_block(text: str) -> str:
    """The leave-one-corpus-out table of reports/accuracy.md cut to the shipped families' rows (`<family>-loco`, the
    default model's voice-profile row and its plain head on that row's clips), in the report's order,
    and what the default model's rows mean for a visitor's own voice, in a few sentences."""
    lines = text.splitlines()
    header, rule, *rows = first_table(lines[lines.index(LOCO_HEADING):])
    default = MAIN_ROWS[0]
    # the families the app ships (not the linear probe: the floor the default model must beat, in the report)
    shipped = {f"{family}-loco" for family in MAIN_ROWS if family != FLOOR} | {f"{default}-profile-loco",
                                                                                f"{default}-profile-plain-loco"}
    kept = [row for row in rows if row.split("|")[1].strip() in shipped]
    block = [header, rule, *kept]
    by_name = table_rows(header, kept)
    plain = by_name.get(f"{default}-loco")
    profile, same_clips = by_name.get(f"{default}-profile-loco"), by_name.get(f"{default}-profile-plain-loco")
    if plain:
        corpora = [c for c in plain if c not in NOT_CORPORA]
        uar = {c: float(plain[c].rstrip("%")) for c in corpora}
        worst, best = min(uar, key=uar.get), max(uar, key=uar.get)
        label, share, corpus = re.match(r"(\w+) (\S+) \((.+)\)", plain["most predicted label (largest share)"]).groups()
        sentence = (f"**What to expect from your own voice**: on corpora it never heard, the default model's mean UAR is "
                    f"{plain['mean UAR']} (chance: 12.5-25%), from {plain[worst]} on "
                    f"{worst} to {plain[best]} on {best}. It rarely answers neutral for a neutral voice (lowest neutral "
                    f"recall {plain['lowest neutral recall']}) and tends to settle on one label ({label} for {share} of "
                    f"{corpus}'s clips).")
        if profile and same_clips:
            scored = [c for c in corpora if profile[c] != "-"]
            lower = [f"{c}: {same_clips[c]} -> {profile[c]}" for c in scored
                     if float(profile[c].rstrip("%")) < float(same_clips[c].rstrip("%"))]
            sentence += (f" **With a voice profile** (*Teach it your voice*: one recording in each of a few moods; "
                         f"scored on the {len(scored)} corpora where a speaker has two clips of every emotion) the mean UAR "
                         f"is {profile['mean UAR']} against {same_clips['mean UAR']} without it on the same clips, and the "
                         f"lowest neutral recall {profile['lowest neutral recall']}"
                         + (f"; lower on {'; '.join(lower)}." if lower else "; no corpus is lower."))
        block += ["", sentence]
    return "\n".join(block) + "\n"


FLOOR = "whisper-linear-probe"
NOT_CORPORA = {"model", "mean UAR", "lowest neutral recall", "most predicted label (largest share)", "mean ECE", "trained on"}


def bench_block(text: str) -> str:
    """reports/bench.md without its own "## Performance" title (docs/performance.md has one; its sections fit below)."""
    lines = [line for line in text.splitlines() if line.strip() != "## Performance"]
    return "\n".join(lines).strip("\n") + "\n"


def shipped_models_speed_block(text: str) -> str:
    """The one-clip table of reports/bench.md cut to the families this repository ships (and their settings, e.g. the
    int8 encoder), with the machine it was measured on, and the report's targets."""
    lines = text.splitlines()
    heading = next(line for line in lines if line.startswith(ONE_CLIP_HEADING))
    machine = MACHINE.search(text)
    if machine is None:
        raise ValueError("reports/bench.md does not say which machine it was measured on")
    header, rule, *rows = first_table(lines[lines.index(heading):])
    shipped = [row for row in rows if re.split(r",| \(", row.split("|")[1].strip())[0] in MAIN_ROWS]
    how = heading.removeprefix(ONE_CLIP_HEADING).strip()
    block = [f"Time to analyse one clip on {machine['cpu']}, {machine['cores']} cores {how}:", "", header, rule, *shipped]
    if TARGETS_HEADING in lines:
        after = lines[lines.index(TARGETS_HEADING) + 1:]
        section = after[:next((i for i, line in enumerate(after) if line.startswith("#")), len(after))]
        block += ["", "Targets:", "", *(line for line in section if line.startswith("- "))]
    return "\n".join(block) + "\n"


BUILDERS = {"accuracy.md": accuracy_block, "accuracy.md" + SHIPPED: shipped_models_block,
            "accuracy.md" + UNSEEN: unseen_corpora_block, "bench.md": bench_block,
            "bench.md" + SHIPPED: shipped_models_speed_block}


def block_names(text: str) -> set[str]:
    """The generated blocks a document holds, as BUILDERS names them."""
    return {m["name"] + (m["variant"] or "") for m in BLOCK.finditer(text)}


def render(document: str, reports_dir: Path = settings.REPORTS_DIR) -> str:
    """`document` with every generated block replaced by what its report says now."""

    def replace(match: re.Match) -> str:
        block = match["name"] + (match["variant"] or "")
        if block not in BUILDERS:
            raise ValueError(f"a document names an unknown report block: {block}")
        return match.group(1) + BUILDERS[block]((reports_dir / match["name"]).read_text()) + match["end"]

    return BLOCK.sub(replace, document)


def main(argv: list[str] | None = None) -> int:
    check = "--check" in (argv if argv is not None else sys.argv[1:])
    stale = []
    for document in DOCUMENTS:
        current = document.read_text()
        fresh = render(current)
        if fresh == current:
            continue
        stale.append(document.relative_to(settings.PROJECT_ROOT))
        if not check:
            document.write_text(fresh)
            print(f"updated {document}")
    if check and stale:
        print(f"{', '.join(map(str, stale))} out of date with reports/: run `python -m bench.readme`", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
