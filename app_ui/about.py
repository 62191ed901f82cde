"""The About tab: the chosen model's card and cross-validated scores, then the demo's limits and one licence section.

A model card has its own licence section; the demo's text adds the licences of what the app itself ships (the example
clips, the Whisper encoder, the code). Both go into one section, the card's statement first, so a visitor reads the
licences in one place.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from app_ui.models import cv_scores, hub_message, model_ref
from ser.metrics import ACCURACY_REPORT
from ser.models import resolve_for_visitor
from ser.models.base import ModelError

LIMITS_TEXT = """
### Limits of this demo
- The models learned from **acted English speech by few speakers** (RAVDESS: 24 actors, two sentences; TESS: two women).
  Acted emotion is more exaggerated than everyday speech: **your own voice, spontaneous speech, noisy recordings and other
  languages score lower** than the cross-validated numbers above.
- Scores are speaker-independent cross-validation (no speaker in both training and test folds), on these corpora only.
- The model reports what a voice *sounds like*, not what a person feels. Do not use it to make decisions about people.
"""
LICENCES_HEADING = "### Licences"
DEMO_LICENCES = """- Code: the project's licence (see the repository).
- The shipped models' weights and the example clips inherit the data's **non-commercial** terms: RAVDESS is CC BY-NC-SA 4.0
  (Livingstone & Russo 2018, PLoS ONE 13(5): e0196391), TESS is CC BY-NC-ND 4.0 (Dupuis & Pichora-Fuller 2010).
- The Whisper-base encoder (OpenAI) is MIT-licensed."""
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
LICENCE_TITLE = re.compile(r"^licen[cs]es?\b", re.I)
CARD_LICENCE_KEY = re.compile(r"^license:\s*(\S.*?)\s*$", re.M)  # the Hub's metadata field (spelt the US way)


def about_model(choice: str | None, hub_id: str | None = "") -> str:
    """Model card + cross-validated scores from the report, then the limits and the licences."""
    ref = model_ref(choice, hub_id)
    try:
        model_dir = resolve_for_visitor(ref)
    except Exception as err:
        message = str(err) if isinstance(err, ModelError) else hub_message(err) or f"The model {ref!r} could not be found."
        return f"**{html.escape(message, quote=False)}**\n{LIMITS_TEXT}\n{licences_section(None, None)}"
    name = model_dir.name
    card_path = Path(model_dir) / "README.md"
    card = card_path.read_text(encoding="utf-8", errors="replace") if card_path.exists() else f"*{name} has no model card.*"
    declared = CARD_LICENCE_KEY.search(_front_matter(card))
    card, card_licence = split_licence(_demote_headings(_strip_front_matter(card)))
    if card_licence is None and declared:
        card_licence = f"`{declared.group(1)}` (its model card's metadata)."
    scores, source = cv_scores(name)
    if scores:
        numbers = (f"**Cross-validated (speaker-independent) scores of {name}** from `{source}`: "
                   f"UAR {scores['uar']:.3f}, accuracy {scores['accuracy']:.3f}"
                   + (f", macro-F1 {scores['macro_f1']:.3f}" if "macro_f1" in scores else "")
                   + (f", {scores['n']} clips." if scores.get("n") else "."))
    else:
        numbers = f"*No cross-validated scores for {name} in `reports/{ACCURACY_REPORT}` yet.*"
    return f"{numbers}\n\n---\n\n{card}\n\n---\n{LIMITS_TEXT}\n{licences_section(name, card_licence)}"


def licences_section(name: str | None, card_licence: str | None) -> str:
    """The tab's one licence section: what the model's card says (if a model was found), then the demo's own lines."""
    if name is None:
        model_line = ""
    elif card_licence is None:
        model_line = f"- **{html.escape(name)}**: its model card states no licence.\n"
    else:  # the card's own lines, indented into the bullet (a list in the card stays a list)
        indented = "\n".join(f"  {line}" if line.strip() else "" for line in card_licence.splitlines())
        model_line = f"- **{html.escape(name)}**, from its model card:\n{indented}\n"
    return f"{LICENCES_HEADING}\n{model_line}{DEMO_LICENCES}\n"


def split_licence(card: str) -> tuple[str, str | None]:
    """(the card without its licence sections, their text, or None if it has none). A licence section runs from a
    heading called Licence/License(s) to the next heading of the same or a higher level; lines in code blocks are
    never headings."""
    kept, licence, level, found, in_code = [], [], 0, False, False
    for line in card.splitlines():
        in_code ^= line.lstrip().startswith("```")
        heading = None if in_code else HEADING.match(line)
        if heading and level and len(heading[1]) <= level:
            level = 0  # the licence section ends here
        if heading and not level and LICENCE_TITLE.match(heading[2]):
            level, found = len(heading[1]), True
            continue
        (licence if level else kept).append(line)
    if not found:
        return card, None
    return "\n".join(kept).rstrip() + "\n", ("\n".join(licence).strip("\n") or None)


def _front_matter(card: str) -> str:
    """The YAML metadata between the first two `---` lines of a Hub model card, or ""."""
    if card.startswith("---"):
        end = card.find("\n---", 3)
        if end != -1:
            return card[3:end]
    return ""


def _strip_front_matter(card: str) -> str:
    """Hub model cards start with YAML metadata between `---` lines; it is not meant to be read."""
    if card.startswith("---"):
        end = card.find("\n---", 3)
        if end != -1:
            return card[end + 4:].lstrip()
    return card


def _demote_headings(card: str) -> str:
    """Cards start at `#`; two levels down they sit under the tab instead of shouting over it (code blocks untouched)."""
    lines, in_code = [], False
    for line in card.splitlines():
        in_code ^= line.lstrip().startswith("```")
        lines.append(re.sub(r"^(#{1,4}) ", r"##\1 ", line) if not in_code else line)
    return "\n".join(lines)
