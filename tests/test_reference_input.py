"""A reference recording ("calibrate to my voice") that cannot serve gets one sentence, and the analysis goes on without
it: in the library, and through `python -m ser predict --reference`. Real generated audio and a real RAVDESS clip."""

from __future__ import annotations

import numpy as np
import pytest

from ser.cli import main
from ser.models import load_model
from ser.reference import MAX_REFERENCE_S, MIN_REFERENCE_S, ReferenceError, reference_profile, reference_wave


@pytest.mark.parametrize("kind, match", [
    ("silence", "cannot be used: The clip is silent"),
    ("short", f"at least {MIN_REFERENCE_S:g} s"),
    ("long", f"at most {MAX_REFERENCE_S:g} s"),
    ("text", "cannot be used"),
])
def test_a_reference_that_cannot_serve_is_one_sentence(kind, match, write_audio, make_tone, tmp_path):
    if kind == "text":
        path = tmp_path / "notes.wav"
        path.write_text("not audio")
    else:
        seconds = {"silence": 3.0, "short": 1.0, "long": MAX_REFERENCE_S + 5}[kind]
        samples = np.zeros(int(seconds * 16000)) if kind == "silence" else make_tone(seconds=seconds, amplitude=0.3)
        path = write_audio(f"{kind}.wav", samples)
    with pytest.raises(ReferenceError, match=match) as caught:
        reference_wave(path)
    assert str(caught.value).endswith("The analysis goes on without it.") and "\n" not in str(caught.value)


def test_a_model_without_a_reference_head_says_so(ravdess_clip):
    with pytest.raises(ReferenceError, match="cannot use a reference recording"):
        reference_profile(ravdess_clip, load_model("classic-mlp"))


def test_cli_reference_problem_is_one_line_and_the_files_are_still_labelled(ravdess_clip, write_audio, capsys):
    short = write_audio("short.wav", np.zeros(8000) + 0.1 * np.sin(np.arange(8000) / 5))
    code = main(["predict", str(ravdess_clip), "--reference", str(short), "--model", "classic-mlp", "--format", "csv", "--quiet"])
    out, err = capsys.readouterr()
    assert code == 0 and "Traceback" not in err
    assert err.strip() == ("The model classic-mlp cannot use a reference recording (only models trained with one can, such as "
                           "the default model); the analysis goes on without it.")
    header, row = out.strip().splitlines()
    assert header.split(",")[:5] == ["file", "label", "probability", "unsure", "unlike_training"] and row.count(",") >= 4
