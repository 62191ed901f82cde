"""Copy the report figures into README.md, so the README never quotes a number no report holds.

    python -m bench.readme           # rewrite the generated blocks of README.md from reports/accuracy.md and reports/bench.md
    python -m bench.readme --check   # exit 1 if README.md is out of date (tests/test_readme.py checks the same)

A generated block sits between `<!-- generated from reports/NAME.md -->` and `<!-- end generated -->`; the prose around
it (what the numbers mean, what is missed and why) is written by hand.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from ser import settings
from train.evaluate import SEED_SPREAD_HEADING

README = settings.PROJECT_ROOT / "README.md"
BLOCK = re.compile(r"(<!-- generated from reports/(?P<name>[\w.-]+\.md)[^>]*-->\n)(?P<body>.*?)(<!-- end generated -->)", re.S)


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


def bench_block(text: str) -> str:
    """reports/bench.md without its own "## Performance" title, its sections one level down (they sit under the README's)."""
    lines = [line for line in text.splitlines() if line.strip() != "## Performance"]
    lines = ["#" + line if line.startswith("### ") else line for line in lines]
    return "\n".join(lines).strip("\n") + "\n"


BUILDERS = {"accuracy.md": accuracy_block, "bench.md": bench_block}


def render(readme: str, reports_dir: Path = settings.REPORTS_DIR) -> str:
    """`readme` with every generated block replaced by what its report says now."""

    def replace(match: re.Match) -> str:
        name = match["name"]
        if name not in BUILDERS:
            raise ValueError(f"README names an unknown report block: {name}")
        return match.group(1) + BUILDERS[name]((reports_dir / name).read_text()) + match.group(4)

    return BLOCK.sub(replace, readme)


def main(argv: list[str] | None = None) -> int:
    check = "--check" in (argv if argv is not None else sys.argv[1:])
    current = README.read_text()
    fresh = render(current)
    if check:
        if fresh != current:
            print("README.md is out of date with reports/: run `python -m bench.readme`", file=sys.stderr)
            return 1
        return 0
    README.write_text(fresh)
    print(f"updated {README}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
