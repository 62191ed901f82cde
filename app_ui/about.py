"""The About tab, written for visitors: what the chosen model is, how accurate it is (percentages from the reports,
UAR explained once, with the chance level; the unseen-corpus score first, as the closest to a visitor's own voice, then
the in-corpus one), what it learned from, then one Limits and one Licences section (the Whisper encoder's licence only
for a model built on it).

A model card is written for developers (training settings, report files, environment variables); the tab takes its
opening description and its data, limits and licence sections, and leaves the rest to the card itself.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

from app_ui.models import hub_message, model_ref
from ser.evaluation.corpora import DISPLAY_NAMES
from ser.encoders.path import summary as encoder_summary
from ser.encoders.timing import WHISPER_KIND
from ser.models import resolve_for_visitor
from ser.models.base import ModelError, read_config
from ser.evaluation.reports import calm_neutral_count, chance_level, cv_scores, unseen_corpus_scores

LIMITS_HEADING = "### Limits"
ENCODER_HEADING = "### How it runs here"
DEFAULT_MODEL_LIMITS = """- It learned from **acted English speech by few speakers**. Acted emotion is more exaggerated than everyday
  speech: **your own voice, spontaneous speech, noisy recordings and other languages score lower** than the numbers
  above.
- It reports what a voice *sounds like*, not what a person feels. Do not use it to make decisions about people."""
DEMO_LIMITS = """- The example clips and the lesson's clips are by actors the shipped models were trained on; beside each
  answer the page shows what the model said when it had not heard that actor."""
LICENCES_HEADING = "### Licences"
DEMO_LICENCES = """- Code: the project's licence (see the repository).
- The shipped models' weights and the example clips inherit the data's **non-commercial** terms: RAVDESS is CC BY-NC-SA 4.0
  (Livingstone & Russo 2018, PLoS ONE 13(5): e0196391), TESS is CC BY-NC-ND 4.0 (Dupuis & Pichora-Fuller 2010)."""
WHISPER_LICENCE = "- The Whisper-base encoder (OpenAI) it is built on is MIT-licensed."
HEADING = re.compile(r"^(#{1,6})\s+(.*?)\s*#*\s*$")
LICENCE_TITLE = re.compile(r"^licen[cs]es?\b", re.I)
LIMITS_TITLE = re.compile(r"^(limits|limitations)\b", re.I)
DATA_TITLE = re.compile(r"^(training\s+)?data(sets?)?\b", re.I)
CARD_LICENCE_KEY = re.compile(r"^license:\s*(\S.*?)\s*$", re.M)  # the Hub's metadata field (spelt the US way)


def about_model(choice: str | None, hub_id: str | None = "") -> str:
    """The tab for the chosen model; a model that cannot be found gets its sentence, then the limits and licences."""
    ref = model_ref(choice, hub_id)
    try:
        model_dir = resolve_for_visitor(ref)
    except Exception as err:
        message = str(err) if isinstance(err, ModelError) else hub_message(err) or f"The model {ref!r} could not be found."
        return f"**{html.escape(message, quote=False)}**\n\n{limits_section(None)}\n{licences_section(None, None)}"
    name = model_dir.name
    card_path = Path(model_dir) / "README.md"
    card = card_path.read_text(encoding="utf-8", errors="replace") if card_path.exists() else ""
    declared = CARD_LICENCE_KEY.search(_front_matter(card))
    body = _strip_front_matter(card)
    card_licence = section(body, LICENCE_TITLE)
    if card_licence is None and declared:
        card_licence = f"`{declared.group(1)}` (its model card's metadata)."
    parts = [f"### {html.escape(name)}", description(body) or f"*{html.escape(name)} has no model card.*",
             "### How accurate is it?", accuracy_text(name)]
    data = section(body, DATA_TITLE)
    if data:
        parts += ["### What it learned from", data]
    whisper = uses_whisper_encoder(read_config(model_dir))
    if whisper:  # which path the encoder runs on this machine, and why (ser.encoders.path)
        parts += [ENCODER_HEADING, html.escape(encoder_summary(), quote=False)]
    return "\n\n".join(parts) + f"\n\n{limits_section(section(body, LIMITS_TITLE))}\n{licences_section(name, card_licence, whisper)}"


def uses_whisper_encoder(config: dict) -> bool:
    """Whether a model's config says it runs OpenAI's Whisper encoder: the shipped head on it, or a Hub checkpoint of
    Whisper's type (its config's model_type) or one whose backbone names it."""
    text = f"{config.get('model_type') or ''} {config.get('backbone') or ''}".lower()
    return config.get("kind") == WHISPER_KIND or "whisper" in text


def _pct(value: float) -> str:
    return f"{value * 100:.1f}%"


def accuracy_text(name: str) -> str:
    """The numbers of the accuracy report as percentages, UAR explained once: first on whole corpora the model never
    heard (the closest test to a visitor's own voice), then on unheard actors of the corpus it learned from."""
    scores, _ = cv_scores(name)
    unseen = unseen_corpus_lines(name)
    if not scores:
        return "\n\n".join(unseen or [f"*No speaker-independent evaluation of {html.escape(name)} has been reported yet.*"])
    n = len(scores["labels"])
    lines = [f"UAR (unweighted average recall) is the share of each emotion's clips recognised, averaged over the {n} "
             f"emotions, so an emotion with few clips counts as much as one with many; guessing scores one in {n}.", *unseen,
             f"**On actors it never heard, of the corpus it learned from** (each RAVDESS actor's clips judged by a model "
             f"trained without that actor; the same sentences and studio as its training, so an easier test): "
             f"**UAR {_pct(scores['uar'])}**, "
             f"accuracy {_pct(scores['accuracy'])}; guessing scores {_pct(chance_level(scores))}."]
    recall = scores.get("per_class_recall") or {}
    if recall:
        lines.append("Recognised per emotion: " + ", ".join(f"{k} {v * 100:.0f}%" for k, v in recall.items()) + ".")
    count = calm_neutral_count(scores)
    if count is not None:
        lines.append(f"Calm and neutral were mistaken for each other in {count[0]} of {count[1]} calm and neutral clips.")
    folds = [f["uar"] for f in scores.get("folds") or [] if "uar" in f]
    if folds:
        lines.append(f"Some actors are much harder than others: UAR per group of actors ranges from {_pct(min(folds))} "
                     f"to {_pct(max(folds))}.")
    return "\n\n".join(lines)


def unseen_corpus_lines(name: str) -> list[str]:
    """The leave-one-corpus-out scores in words ([] when the report has none), with the voice-profile variant."""
    unseen = unseen_corpus_scores(name)
    if not unseen or not unseen.get("corpora"):
        return []
    each = ", ".join(f"{DISPLAY_NAMES.get(c, c)} {_pct(s['uar'])} (guessing {_pct(1 / max(1, len(s.get('labels') or [1])))})"
                     for c, s in unseen["corpora"].items())
    lines = [f"**On whole corpora it never heard** (new speakers, sentences, microphones and languages at once, the "
             f"closest test to your own voice): mean UAR **{_pct(unseen['mean_uar'])}**; {each}."]
    neutral = [s["neutral_recall"] for s in unseen["corpora"].values() if s.get("neutral_recall") is not None]
    if neutral:
        lines.append(f"There it recognised as few as {_pct(min(neutral))} of a corpus's neutral clips.")
    profiled, same_clips = unseen_corpus_scores(f"{name}-profile"), unseen_corpus_scores(f"{name}-profile-plain")
    if profiled and profiled.get("corpora") and same_clips:
        recall = [s["neutral_recall"] for s in profiled["corpora"].values() if s.get("neutral_recall") is not None]
        lines.append(f"With a voice profile of the speaker (*Teach it your voice*: one clip per mood, not scored), on the "
                     f"speakers who have two clips of every emotion: mean UAR **{_pct(profiled['mean_uar'])}** against "
                     f"{_pct(same_clips['mean_uar'])} without it on the same clips; "
                     + ", ".join(f"{DISPLAY_NAMES.get(c, c)} {_pct(s['uar'])} (without: "
                                 f"{_pct(same_clips['corpora'].get(c, {}).get('uar'))})" for c, s in profiled["corpora"].items())
                     + (f"; neutral recall at least {_pct(min(recall))}." if recall else "."))
    return lines


def limits_section(card_limits: str | None) -> str:
    """The tab's one Limits section: the card's own limits (or the general ones), then the demo's."""
    return f"{LIMITS_HEADING}\n{(card_limits or DEFAULT_MODEL_LIMITS).rstrip()}\n{DEMO_LIMITS}\n"


def licences_section(name: str | None, card_licence: str | None, whisper: bool = False) -> str:
    """The tab's one licence section: what the model's card says (if a model was found), then the demo's own lines, and
    the Whisper encoder's licence for a model built on it (`whisper`)."""
    if name is None:
        model_line = ""
    elif card_licence is None:
        model_line = f"- **{html.escape(name)}**: its model card states no licence.\n"
    else:  # the card's own lines, indented into the bullet (a list in the card stays a list)
        indented = "\n".join(f"  {line}" if line.strip() else "" for line in card_licence.splitlines())
        model_line = f"- **{html.escape(name)}**, from its model card:\n{indented}\n"
    return f"{LICENCES_HEADING}\n{model_line}{DEMO_LICENCES}\n" + (f"{WHISPER_LICENCE}\n" if whisper else "")


def description(card: str) -> str:
    """The card's opening text: what comes before its first section, its title left out."""
    lines = []
    for line in card.splitlines():
        heading = HEADING.match(line)
        if heading and len(heading[1]) == 1 and not lines:
            continue  # the card's title: the tab has its own
        if heading:
            break
        lines.append(line)
    return "\n".join(lines).strip()


def section(card: str, title: re.Pattern) -> str | None:
    """The text of the card's sections whose heading matches `title` (a section runs to the next heading of the same or
    a higher level; lines in code blocks are never headings), or None."""
    return split_section(card, title)[1]


def split_licence(card: str) -> tuple[str, str | None]:
    """(the card without its licence sections, their text, or None if it has none)."""
    return split_section(card, LICENCE_TITLE)


def split_section(card: str, title: re.Pattern) -> tuple[str, str | None]:
    kept, taken, level, found, in_code = [], [], 0, False, False
    for line in card.splitlines():
        in_code ^= line.lstrip().startswith("```")
        heading = None if in_code else HEADING.match(line)
        if heading and level and len(heading[1]) <= level:
            level = 0  # the section ends here
        if heading and not level and title.match(heading[2]):
            level, found = len(heading[1]), True
            continue
        (taken if level else kept).append(line)
    if not found:
        return card, None
    return "\n".join(kept).rstrip() + "\n", ("\n".join(taken).strip("\n") or None)


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
