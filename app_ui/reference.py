"""The "Calibrate to my voice" panel: a visitor records a neutral sentence once, and the default model then scores their
clips relative to it. The recording is decoded and kept only in that visitor's session state (gr.State lives in the
server's memory per browser session and is dropped with it); its uploaded file is deleted at once.
"""

from __future__ import annotations

import html
import os

import gradio as gr

from ser.reference import REFERENCE_SENTENCE, ReferenceError, reference_wave

EXPLANATION = (
    "**Calibrate to my voice (optional).** Voices, microphones and rooms differ more than emotions do: a model that never "
    f"heard you can mistake your everyday voice for an emotion. {REFERENCE_SENTENCE} The model then judges your next clips "
    "by how they differ from this one. The recording stays in this browser session only: it is not stored on the server "
    "and is gone when you close the page or press *Forget*."
)


def build_reference_panel():
    """The panel's components; returns the session state holding the reference samples (or None)."""
    state = gr.State(None)
    with gr.Accordion("Calibrate to my voice (optional)", open=False, elem_id="reference-panel"):
        gr.Markdown(EXPLANATION)
        audio = gr.Audio(sources=["microphone", "upload"], type="filepath", label="Your neutral sentence",
                         elem_id="reference-input")
        with gr.Row():
            use = gr.Button("Use as my reference", elem_id="reference-use")
            forget = gr.Button("Forget", elem_id="reference-forget")
        status = gr.Markdown("No reference: clips are judged on their own.", elem_id="reference-status")
    use.click(set_reference, [audio], [state, status, audio], api_visibility="private")
    forget.click(forget_reference, None, [state, status], api_visibility="private", queue=False)
    return state


def set_reference(path):
    """Decode and check the recording; keep its samples in the session, delete the upload. One sentence either way."""
    if not path:
        return None, "Record or upload the sentence first.", None
    try:
        wave = reference_wave(path)
    except ReferenceError as err:
        return None, html.escape(str(err), quote=False), None
    finally:
        try:
            os.remove(path)  # nothing of it stays on the server's disk
        except OSError:
            pass
    return wave, f"Reference set ({wave.size / 16000:.1f} s): your next clips are judged relative to it.", None


def forget_reference():
    return None, "Reference forgotten: clips are judged on their own."
