"""Push a trained model directory to the Hugging Face Hub.

    python -m train.cards.push <model dir> <owner/name> [--private] [--revision REV] [--report reports/cv.json]

Prints the repo URL (exit status 0) or one sentence saying what went wrong (exit status 1).
Training scripts add `--push-to-hub REPO` with `add_push_args(parser)` and call `maybe_push(args, model_dir)`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from ser.models.hub.client import HubError, push


def _load_report(path: str | None) -> dict[str, Any] | None:
    """A metrics report shaped like {"models": {name: {"uar": ..., "accuracy": ..., "macro_f1": ...}}}."""
    if not path:
        return None
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        raise HubError(f"Could not read the metrics report {path} (missing or not JSON).") from None


def add_push_args(parser: argparse.ArgumentParser) -> None:
    """Add --push-to-hub REPO, --hub-private and --hub-revision to a training script's parser."""
    group = parser.add_argument_group("Hugging Face Hub")
    group.add_argument("--push-to-hub", metavar="REPO", help="after training, upload the model to this Hub repo")
    group.add_argument("--hub-private", action="store_true", help="create the Hub repo as private")
    group.add_argument("--hub-revision", metavar="REV", help="push to this branch instead of main")


def maybe_push(args: argparse.Namespace, model_dir: str | Path, report: dict[str, Any] | None = None) -> str | None:
    """Push `model_dir` if --push-to-hub was given; prints and returns the URL, or prints the error and returns None."""
    repo = getattr(args, "push_to_hub", None)
    if not repo:
        return None
    try:
        url = push(model_dir, repo, private=getattr(args, "hub_private", False),
                   revision=getattr(args, "hub_revision", None), report=report)
    except HubError as error:
        print(f"Not pushed: {error}", file=sys.stderr)
        return None
    print(f"Pushed to {url}")
    return url


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m train.cards.push", description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", help="directory with config.json and *.safetensors")
    parser.add_argument("repo_id", help="Hub repo, owner/name")
    parser.add_argument("--private", action="store_true", help="create the repo as private")
    parser.add_argument("--revision", metavar="REV", help="push to this branch instead of main")
    parser.add_argument("--report", metavar="JSON", help="metrics report to put in the model card")
    args = parser.parse_args(argv)
    try:
        url = push(args.model_dir, args.repo_id, private=args.private, revision=args.revision,
                   report=_load_report(args.report))
    except HubError as error:
        print(error, file=sys.stderr)
        return 1
    print(url)
    return 0


if __name__ == "__main__":
    sys.exit(main())
