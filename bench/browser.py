"""Debian's Chromium, headless through Playwright, as the browser tests and the README screenshot use it."""

from __future__ import annotations

from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync"]
MISSING = f"Chromium is not installed at {CHROMIUM}: run `apt-get install -y chromium` (the Makefile does this)."
