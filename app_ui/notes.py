"""The sentences the Analyse tab writes around a result: the headline of a long recording, where an example or upload
comes from (and what the model said when it had not heard that speaker), the gender line, the status line, and a
short caption per plot saying what to look for. Wording only: the facts come from `ser`.

Everything here is Markdown; file names and model ids come from users, so they are HTML-escaped.
"""

from __future__ import annotations

import html

from ser.inference import FAR_SHARE
from ser.labels import merge_calm_neutral
from ser.labels import EMOTIONS  # guess-first's prompt lists them
from ser.plots import percent
from ser.evaluation.provenance import ClipOrigin
from ser.teaching.recording_summary import SpeakingTimeShares

CAPTIONS = {
    "bars": "How sure the model is of each emotion. One long bar is a clear case; two close bars (often calm and "
            "neutral) mean the model is torn.",
    "shares": "How much of the speaking time each emotion held: every moment of speech counts for the emotion its "
              "windows rate highest. Two or more long bars: a mixed recording.",
    "waveform": "The sound wave, on the same scale for every clip: excited speech (angry, happy, fearful) fills more of "
                "it, calm and sad speech less. Loudness is the clearest sign of arousal.",
    "spectrogram": "Which frequencies carry energy at each moment (brighter = louder). The stacked stripes of vowels are "
                   "the voice's pitch and its harmonics: they rise and spread when the speaker is excited.",
    "mel": "The same picture with the low frequencies, where most of speech lives, given more room, as the ear does: "
           "close to what the models take in.",
    "mfcc": "The shape of the spectrum (the voice's timbre) moment by moment, coarse at the bottom, fine at the top. "
            "Look for the rows changing when the voice changes: the classic model learns from their averages.",
    "timeline": "Each stretch of speech is coloured by the emotion the model rates highest there; paler means less sure "
                "(the palest is chance, one in eight), hatched means unlike every voice it learned from. The table lists "
                "each stretch; tick the box to see all eight emotions as lines.",
}
GUESS_PROMPT = ("**Guess first.** Listen to the clip and vote for one of the eight emotions: "
                + ", ".join(f"**{e}**" for e in EMOTIONS[:-1]) + f" or **{EMOTIONS[-1]}**. Then press **Reveal** to see "
                "what the model says.")


def _name(model_name: str) -> str:
    return f"*{html.escape(model_name)}*"


def _top(labels, probs, merge: bool) -> str:
    labels, probs = merge_calm_neutral(list(labels), probs) if merge else (list(labels), probs)
    best = max(range(len(labels)), key=lambda i: probs[i])
    return f"{labels[best]} {percent(probs[best])}"


def origin_note(origin: ClipOrigin | None, model_name: str, shown: tuple[str, float], merge: bool) -> str:
    """Where a recognised corpus clip comes from and what that means for the answer shown; "" for other clips."""
    if origin is None:
        return ""
    asked = origin.record.emotion
    who = f"{origin.corpus_name} {origin.speaker_name}"
    head = f"**This is a {origin.corpus_name} recording: {html.escape(origin.speaker_name)}, asked to sound _{asked}_.**"
    if origin.trained_on is None:
        return f"{head} {_name(model_name)}'s model card does not say whether it learned from {origin.corpus_name}."
    if not origin.trained_on:
        return f"{head} {_name(model_name)} was not trained on {origin.corpus_name}: a fair test."
    lines = [f"{head} {_name(model_name)} was trained on this speaker's recordings, this one included, so its answer "
             "is better than a new voice would get.", "",
             "| | answer |", "|---|---|",
             f"| the actor was asked for | {asked} |",
             f"| {_name(model_name)} (has heard {html.escape(origin.speaker_name)}) | {shown[0]} {percent(shown[1])} |"]
    if origin.held_out is not None:
        held = origin.held_out
        lines.append(f"| the same recipe, {html.escape(origin.speaker_name)} held out | "
                     f"{_top(held.labels, held.probs, merge)} |")
    elif origin.record.corpus == "tess":
        lines += ["", f"No held-out answer exists: {who}'s recordings were never a test set."]
    else:
        lines += ["", f"The reports keep no held-out answers of {_name(model_name)}."]
    return "\n".join(lines)


def gender_line(model, gender: dict[str, float] | None) -> str:
    """One line under the answer: the voice's likelier gender, how sure, and what the guess was learned from (few male
    voices) and how often it was right on voices the model never heard; or that the model does not estimate it."""
    if not gender:
        return f"Speaker gender: {_name(model.name)} has no gender output, so it is not estimated."
    label, prob = max(gender.items(), key=lambda item: item[1])
    data = model.config.get("training_data") or model.config.get("training") or {}
    trained = ""
    if data.get("clips") and data.get("male_clips") is not None:
        trained = f"; learned from {data['clips']} acted clips, {percent(data['male_clips'] / data['clips'])} of them male voices"
    unseen = model.config.get("gender_unseen") or {}
    checked = (f"; right on {percent(unseen['accuracy'])} of {unseen['clips']} clips of voices it never heard "
               f"({unseen['corpora']})" if unseen.get("accuracy") is not None else "; not checked on voices it never heard")
    if per_gender := unseen.get("per_gender_accuracy"):  # where it is weakest: the voices it heard least of
        checked += ": " + ", ".join(f"{percent(a)} of {GENDER_PLURALS.get(g, g)}'s" for g, a in per_gender.items())
    return f"<small>Voice (a side guess): sounds {label} ({percent(prob)}){trained}{checked}.</small>"


def headline(shares: SpeakingTimeShares | None) -> str:
    """A long recording's one line: mixed, or mostly one emotion, by share of the speaking time."""
    if shares is None or not shares.ranked:
        return ""
    listed = ", ".join(f"{label} {percent(share)}" for label, share in shares.ranked)
    speech = f"{shares.speech_s:.0f} s of speech"
    if shares.mixed:
        return f"### Mixed recording\nNo emotion dominates: share of the {speech} per emotion: {listed}."
    label, share = shares.top
    return f"### Mostly {label}\n{label.capitalize()} for {percent(share)} of the {speech} ({listed})."


def confidence_note(result, merge: bool, sure_level: float | None = None) -> str:
    """A short clip's line about how far to trust this answer, said only where it tells this answer from others: when the
    answer is as sure as answers that were right at least half the time on corpora the model never heard (`sure_level`,
    the mode's unsure threshold; None where no level separated right from wrong), and when the clip is unlike the
    model's training. How often the mode is right overall is in the bars' caption (`trust_sentence`), for every answer."""
    label, prob = result.top
    lines = []
    if sure_level is not None and not result.unsure:
        lines.append(f"### {label.capitalize()}, confidently ({percent(prob)})\nOn voices it never heard, answers at least "
                     f"this sure ({percent(sure_level)} or more) were right more often than wrong.")
    if result.far:
        lines.append(f"This recording is {FAR_NOTE}")
    return "\n\n".join(lines)


GENDER_PLURALS = {"female": "women", "male": "men"}
FAR_NOTE = ("unlike every clip the model learned from (another kind of voice, language, microphone or room): treat the "
            "answer with care.")


def uncalibrated_note(model) -> str:
    """For a model without the default's honesty signals: say so beside its answer; "" for a calibrated one."""
    if getattr(model, "calibrated", True):
        return ""
    return (f"{_name(model.name)} is not calibrated: its percentages were not checked on voices it never heard (where such "
            "models are over-confident), and it cannot tell when a voice is unlike its training.")


def long_recording_far_note(far_share: float | None) -> str:
    """A long recording's note when most of its windows are unlike the training clips; "" otherwise."""
    if far_share is None or far_share < FAR_SHARE:
        return ""
    return f"{percent(far_share)} of this recording's windows are {FAR_NOTE}"


def status_line(model_name: str, seconds: float, elapsed: float, notice: str | None) -> str:
    took = f"{elapsed * 1000:.0f} ms" if elapsed < 1 else f"{elapsed:.1f} s"
    line = f"Model **{html.escape(model_name)}** · {seconds:.1f} s of audio · analysed in {took}"
    return line + (f"\n\n{html.escape(notice, quote=False)}" if notice else "")


def _answer(result) -> str:
    label, prob = result.top
    return f"**{label}** {percent(prob)}"


def profile_comparison(result, profile, note: str | None) -> str:
    """With a voice profile: the answer with it beside the answer without it, and what to know about the profile (too few
    moods, near-identical clips, a model that cannot use one). Empty without a profile and without anything to say."""
    lines = []
    if profile is not None and result.plain is not None:
        lines.append(f"With your voice profile ({profile.description}): {_answer(result)} · without it: {_answer(result.plain)}")
    elif profile is not None:  # a long recording: its timeline is judged with the profile
        lines.append(f"Judged with your voice profile ({profile.description}).")
    if note:
        lines.append(html.escape(note, quote=False))
    return "\n\n".join(lines)


def trust_sentence(model, with_profile: bool) -> str:
    """How often the answer on show (with a voice profile or plain) was right on corpora the model never heard: the
    `plain_accuracy` of its calibrated unseen-corpus rows, as config.json carries it. Empty for models without them."""
    config = getattr(model, "config", {})
    plain = (config.get("unseen_corpora") or {}).get("plain_accuracy")
    profiled = ((config.get("profile") or {}).get("unseen_corpora") or {}).get("plain_accuracy")
    if with_profile and profiled is not None:
        return (f"On voices it never heard, answers with a voice profile were right for {percent(profiled)} of the clips"
                + (f" (without one: {percent(plain)})." if plain is not None else "."))
    if plain is None:
        return ""
    return (f"On voices it never heard, this answer was right for {percent(plain)} of the clips"
            + (f"; with a voice profile (*Teach it your voice*), {percent(profiled)}." if profiled is not None else "."))
