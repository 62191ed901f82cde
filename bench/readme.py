"""Copy the report figures into README.md and docs/experiments.md, so neither quotes a number no report holds.

    python -m bench.readme           # rewrite their generated blocks from reports/accuracy.md and reports/bench.md
    python -m bench.readme --check   # exit 1 if either is out of date (tests/test_readme.py checks the same)

A generated block sits between `<!-- generated from reports/NAME.md -->` and `<!-- end generated -->`; the prose around
it (what the numbers mean, what is missed and why) is written by hand. `<!-- generated from reports/accuracy.md, shipped
models -->` holds only the rows of the four families this repository ships (the README's table); without it, the whole
summary table and the seed spread (docs/experiments.md).
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from ser import settings
from train.evaluate import MAIN_ROWS, SEED_SPREAD_HEADING

README = settings.PROJECT_ROOT / "README.md"
EXPERIMENTS = settings.PROJECT_ROOT / "docs" / "experiments.md"
DOCUMENTS = (README, EXPERIMENTS)
SHIPPED = ", shipped models"
BLOCK = re.compile(r"(<!-- generated from reports/(?P<name>[\w.-]+\.md)(?P<variant>, shipped models)?[^>]*-->\n)(?P<body>.*?)"
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


def bench_block(text: str) -> str:
    """reports/bench.md without its own "## Performance" title, its sections one level down (they sit under the README's)."""
    lines = [line for line in text.splitlines() if line.strip() != "## Performance"]
    lines = ["#" + line if line.startswith("### ") else line for line in lines]
    return "\n".join(lines).strip("\n") + "\n"


BUILDERS = {"accuracy.md": accuracy_block, "accuracy.md" + SHIPPED: shipped_models_block, "bench.md": bench_block}


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
