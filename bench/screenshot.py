"""The README's screenshot, and a reviewer's screenshots of every tab on a desktop and on a phone.

    python -m bench.screenshot          # starts `python app.py` offline, drives Debian's Chromium, writes docs/screenshot.png
    python -m bench.screenshot --tabs   # every tab at 1280 px and at 390x844 -> test-output/screenshots/tabs/ (not committed)

The README's page is captured at a desktop width, scaled down and stored with a 64-colour palette, so the PNG stays
small (MAX_BYTES): the README is read on GitHub, on the Hub and in clones. The tab screenshots are full size.
The PNG carries the fingerprint of the Analyse tab it shows (`layout_fingerprint`: its components, in order, with their
ids and labels); tests/test_readme.py fails when the page has changed since, so the picture is retaken.
"""

from __future__ import annotations

import argparse
import hashlib
import io
import sys
import tempfile
from pathlib import Path

from PIL import Image, PngImagePlugin
from playwright import sync_api

from bench.browser import CHROMIUM, CHROMIUM_ARGS, MISSING
from bench.load import running_app
from ser import settings

OUT = settings.PROJECT_ROOT / "docs" / "screenshot.png"
EXAMPLE = "angry, actor 5"  # the example clicked: shipped with the app, no corpus needed
FINGERPRINT_KEY = "analyse-tab-layout"
TABS_OUT = settings.PROJECT_ROOT / "test-output" / "screenshots" / "tabs"
VIEWPORTS = {"desktop": {"width": 1280, "height": 900}, "phone": {"width": 390, "height": 844}}
TABS = {"analyse": "Analyse", "calm-neutral": "Calm or neutral?", "about": "About"}
VIEWPORT = {"width": 1280, "height": 900}
WIDTH = 960  # pixels of the stored image
COLOURS = 64
MAX_BYTES = 150_000
PLOTS = ("bars", "waveform-plot", "spectrogram", "mel", "mfcc")
TIMEOUT_MS = 120_000


def analysed(page, url: str) -> None:
    """The page at `url` after the example clip was clicked and analysed again (the first analysis may wait for the model's
    warm-up: the status shown is the second's), every plot drawn."""
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(url)
    page.locator("#examples button", has_text=EXAMPLE).click()  # as a visitor does: a click analyses it
    page.locator("#emotion-label [data-testid=label-output-value]").wait_for(state="visible")
    first = page.inner_text("#status")
    page.click("#analyse-button")
    page.wait_for_function("(before) => { const s = document.querySelector('#status');"
                           " return s && s.innerText.includes('analysed in') && s.innerText !== before; }", arg=first)
    for elem_id in PLOTS:
        page.wait_for_selector(f"#{elem_id} .js-plotly-plot .cartesianlayer .trace, #{elem_id} .js-plotly-plot .hm")
    page.wait_for_timeout(500)  # plotly's transitions


def capture(url: str) -> bytes:
    """PNG bytes of the whole Analyse tab once the clip's label and every plot are drawn."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            analysed(page, url)
            return page.screenshot(full_page=True)
        finally:
            browser.close()


def capture_tabs(url: str, folder: Path) -> list[Path]:
    """Every tab, full page, at each of VIEWPORTS: the Analyse tab after an example clip, the lesson after Reveal."""
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            for device, viewport in VIEWPORTS.items():
                page = browser.new_page(viewport=viewport)
                analysed(page, url)
                for tab, name in TABS.items():
                    page.get_by_role("tab", name=name).click()
                    if tab == "calm-neutral":
                        page.wait_for_selector("#pitch-energy .js-plotly-plot .cartesianlayer .trace")
                        page.click("#lesson-reveal")
                        page.locator("#lesson-answer-text").wait_for(state="visible")
                    page.wait_for_timeout(500)
                    path = folder / f"{tab}-{device}.png"
                    page.screenshot(path=str(path), full_page=True)
                    written.append(path)
                page.close()
        finally:
            browser.close()
    return written


def layout_fingerprint() -> str:
    """A hash of the Analyse tab as built: each component's nesting, type, id, label and the examples' names (not its
    texts or plots), so moving, adding, removing or renaming anything on the tab changes it."""
    from app_ui.layout import build_app

    config = build_app().config
    components = {c["id"]: c for c in config["components"]}
    lines: list[str] = []

    def walk(node: dict, depth: int, inside: bool) -> None:
        component = components.get(node["id"], {})
        props = component.get("props", {})
        inside = inside or (component.get("type") == "tabitem" and props.get("id") == "analyse")
        if inside and component.get("type") not in (None, "state"):
            label = props.get("label") if isinstance(props.get("label"), str) else ""
            lines.append(f"{depth} {component['type']} {props.get('elem_id') or ''} {label} {props.get('sample_labels') or ''}")
        for child in node.get("children", []):
            if not (inside and components.get(child["id"], {}).get("type") == "tabitem"):
                walk(child, depth + 1, inside)

    walk(config["layout"], 0, False)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()[:16]


def stored_fingerprint(path: Path = OUT) -> str | None:
    """The layout fingerprint a screenshot was taken of, or None (an older picture, written without one)."""
    return Image.open(path).text.get(FINGERPRINT_KEY)


def compress(png: bytes, fingerprint: str | None = None) -> bytes:
    """Scaled to WIDTH pixels and reduced to a palette of COLOURS: a fraction of the bytes, text still readable; with the
    layout's fingerprint in a text chunk."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image = image.resize((WIDTH, round(image.height * WIDTH / image.width)), Image.LANCZOS)
    info = PngImagePlugin.PngInfo()
    if fingerprint:
        info.add_text(FINGERPRINT_KEY, fingerprint)
    out = io.BytesIO()
    image.quantize(COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(out, "PNG", optimize=True, pnginfo=info)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.screenshot", description=__doc__.split("\n\n")[0])
    parser.add_argument("--tabs", action="store_true", help=f"every tab on a desktop and a phone, into {TABS_OUT}")
    args = parser.parse_args(argv)
    if not CHROMIUM.exists():
        print(MISSING, file=sys.stderr)
        return 1
    if args.tabs:
        with tempfile.TemporaryDirectory() as folder, running_app(Path(folder)) as server:
            for path in capture_tabs(server.url, TABS_OUT):
                print(f"wrote {path.relative_to(settings.PROJECT_ROOT)} ({path.stat().st_size / 1000:.0f} KB)")
        return 0
    with tempfile.TemporaryDirectory() as folder, running_app(Path(folder)) as server:
        data = compress(capture(server.url), layout_fingerprint())
    OUT.write_bytes(data)
    print(f"wrote {OUT.relative_to(settings.PROJECT_ROOT)} ({len(data) / 1000:.0f} KB)")
    if len(data) > MAX_BYTES:
        print(f"{OUT.name} is over {MAX_BYTES / 1000:.0f} KB: lower WIDTH or COLOURS", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
