"""The README's screenshot: the Analyse tab after analysing a shipped example clip, written to docs/screenshot.png.

    python -m bench.screenshot      # starts `python app.py` offline, drives Debian's Chromium, writes docs/screenshot.png

The page is captured at a desktop width, scaled down and stored with a 128-colour palette, so the PNG stays small
(MAX_BYTES): the README is read on GitHub, on the Hub and in clones.
"""

from __future__ import annotations

import io
import sys
import tempfile
from pathlib import Path

from PIL import Image
from playwright import sync_api

from bench.browser import CHROMIUM, CHROMIUM_ARGS, MISSING
from bench.load import running_app
from ser import settings

OUT = settings.PROJECT_ROOT / "docs" / "screenshot.png"
CLIP = settings.EXAMPLES_DIR / "angry_actor05.flac"  # shipped with the app: no corpus needed
VIEWPORT = {"width": 1280, "height": 900}
WIDTH = 960  # pixels of the stored image
COLOURS = 128
MAX_BYTES = 150_000
PLOTS = ("bars", "waveform", "spectrogram", "mel", "mfcc")
TIMEOUT_MS = 120_000


def capture(url: str) -> bytes:
    """PNG bytes of the whole Analyse tab once the clip's label and every plot are drawn."""
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport=VIEWPORT)
            page.set_default_timeout(TIMEOUT_MS)
            page.goto(url)
            with page.expect_response(lambda r: "/gradio_api/upload" in r.url and r.status == 200):
                page.set_input_files("#audio-input input[type=file]", str(CLIP))
            page.click("#analyse-button")
            page.locator("#emotion-label [data-testid=label-output-value]").wait_for(state="visible")
            first = page.inner_text("#status")  # the first analysis may wait for the model's warm-up: time a second one
            page.click("#analyse-button")
            page.wait_for_function("(before) => { const s = document.querySelector('#status');"
                                   " return s && s.innerText.includes('analysed in') && s.innerText !== before; }", arg=first)
            for elem_id in PLOTS:
                page.wait_for_selector(f"#{elem_id} .js-plotly-plot .cartesianlayer .trace, #{elem_id} .js-plotly-plot .hm")
            page.wait_for_timeout(500)  # plotly's transitions
            return page.screenshot(full_page=True)
        finally:
            browser.close()


def compress(png: bytes) -> bytes:
    """Scaled to WIDTH pixels and reduced to a palette of COLOURS: a fraction of the bytes, text still readable."""
    image = Image.open(io.BytesIO(png)).convert("RGB")
    image = image.resize((WIDTH, round(image.height * WIDTH / image.width)), Image.LANCZOS)
    out = io.BytesIO()
    image.quantize(COLOURS, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(out, "PNG", optimize=True)
    return out.getvalue()


def main() -> int:
    if not CHROMIUM.exists():
        print(MISSING, file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as folder, running_app(Path(folder)) as server:
        data = compress(capture(server.url))
    OUT.write_bytes(data)
    print(f"wrote {OUT.relative_to(settings.PROJECT_ROOT)} ({len(data) / 1000:.0f} KB)")
    if len(data) > MAX_BYTES:
        print(f"{OUT.name} is over {MAX_BYTES / 1000:.0f} KB: lower WIDTH or COLOURS", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
