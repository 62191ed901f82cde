"""A voice profile ("Teach it your voice", `--profile DIR`, `--speaker-folders`) from real recordings: what cannot serve
gets one sentence, a profile that cannot serve stops the CLI with a non-zero exit, and every row says which profile it
used. Real generated audio and real RAVDESS clips."""

from __future__ import annotations

import csv
import io
import shutil

import numpy as np
import pytest

from ser.cli.main import EXIT_OK, EXIT_USAGE, main
from ser.evaluation.corpora import scan_corpus
from ser.models import load_model
from ser.profile import (MAX_PROFILE_CLIP_S, MIN_PROFILE_CLIP_S, PROFILE_MOODS, SPEAKER_FOLDER_MIN_CLIPS, ProfileError,
                         build_profile, profile_clip)

ACTOR = "ravdess-05"


@pytest.fixture(scope="module")
def actor_clips():
    """One RAVDESS actor's clips: the first of each app mood (a profile), and four other clips to label."""
    records = [r for r in scan_corpus("ravdess") if r.speaker == ACTOR]
    profile = [next(r.path for r in records if r.emotion == m) for m in PROFILE_MOODS]
    others = [r.path for r in records if r.path not in profile and r.emotion in ("angry", "sad")][:4]
    return profile, others


@pytest.mark.parametrize("kind, match", [
    ("silence", "cannot be used for your voice profile: The clip is silent"),
    ("short", f"at least {MIN_PROFILE_CLIP_S:g} s"),
    ("long", f"at most {MAX_PROFILE_CLIP_S:g} s"),
    ("text", "cannot be used for your voice profile"),
])
def test_a_recording_that_cannot_serve_is_one_sentence(kind, match, write_audio, make_tone, tmp_path):
    if kind == "text":
        path = tmp_path / "notes.wav"
        path.write_text("not audio")
    else:
        seconds = {"silence": 3.0, "short": 0.6, "long": MAX_PROFILE_CLIP_S + 5}[kind]
        samples = np.zeros(int(seconds * 16000)) if kind == "silence" else make_tone(seconds=seconds, amplitude=0.3)
        path = write_audio(f"{kind}.wav", samples)
    with pytest.raises(ProfileError, match=match) as caught:
        profile_clip(path)
    assert "\n" not in str(caught.value) and "Traceback" not in str(caught.value)


def test_a_model_without_a_profile_head_says_so(ravdess_clip):
    with pytest.raises(ProfileError, match="cannot use a voice profile"):
        build_profile([profile_clip(ravdess_clip)] * 2, load_model("classic-mlp"))


def test_one_recording_is_not_a_profile(ravdess_clip):
    with pytest.raises(ProfileError, match="at least 2 recordings in different moods; 1 was given"):
        build_profile([profile_clip(ravdess_clip)], load_model("whisper-head"))


def read_csv(text: str) -> list[dict]:
    return list(csv.DictReader(io.StringIO(text)))


def test_cli_profile_folder_scores_every_file_relative_to_it(actor_clips, tmp_path, capsys):
    profile, others = actor_clips
    folder = tmp_path / "my-voice"
    folder.mkdir()
    for path in profile:
        shutil.copy(path, folder)
    (folder / "notes.txt").write_text("not a recording")  # not audio: not part of the profile, not an error
    assert main(["predict", *others, "--format", "csv", "--quiet"]) == EXIT_OK
    plain = read_csv(capsys.readouterr().out)
    assert main(["predict", *others, "--profile", str(folder), "--format", "csv"]) == EXIT_OK
    out, err = capsys.readouterr()
    rows = read_csv(out)
    assert [r["profile"] for r in rows] == [f"{folder} (4 clips)"] * len(others)
    assert all(p["profile"] == "none" for p in plain)
    assert any(abs(float(r["angry"]) - float(p["angry"])) > 1e-3 for r, p in zip(rows, plain))  # the profile head answered
    assert "Voice profile from 4 recording(s)" in err and "Traceback" not in err


@pytest.mark.parametrize("case", ["missing", "one clip", "classic-mlp"])
def test_cli_profile_that_cannot_serve_stops_with_one_sentence(case, actor_clips, tmp_path, capsys):
    profile, others = actor_clips
    folder = tmp_path / "voice"
    folder.mkdir()
    shutil.copy(profile[0], folder)
    args = ["predict", others[0], "--profile", str(tmp_path / "nowhere" if case == "missing" else folder), "--quiet"]
    code = main(args + (["--model", "classic-mlp"] if case == "classic-mlp" else []))
    out, err = capsys.readouterr()
    expected = {"missing": "does not exist", "one clip": "has 1 usable recording", "classic-mlp": "cannot use a voice profile"}
    assert code == EXIT_USAGE and out == "" and expected[case] in err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_cli_speaker_folders_profile_each_folder_with_enough_clips(actor_clips, tmp_path, capsys):
    profile, others = actor_clips
    big, small = tmp_path / "speaker-a", tmp_path / "speaker-b"
    big.mkdir(), small.mkdir()
    for path in (profile + others)[:SPEAKER_FOLDER_MIN_CLIPS]:
        shutil.copy(path, big)
    shutil.copy(others[-1], small)
    assert main(["predict", str(tmp_path), "--speaker-folders", "--format", "json"]) == EXIT_OK
    out, err = capsys.readouterr()
    import json

    rows = json.loads(out)
    by_folder = {r["file"].rsplit("/", 2)[-2]: r["profile"] for r in rows}
    assert by_folder == {"speaker-a": f"{big} ({SPEAKER_FOLDER_MIN_CLIPS} clips)", "speaker-b": "none"}
    assert f"1 of 2 scored with their own profile; 1 with fewer than {SPEAKER_FOLDER_MIN_CLIPS} usable clips" in err


def test_the_apps_session_builds_a_profile_once_and_again_after_a_change(actor_clips):
    """The panel's session state reuses the profile for the next analysis, and a new recording makes a new one."""
    from app_ui.profile import Recordings

    profile, _ = actor_clips
    model = load_model("whisper-head")
    recorded = Recordings()
    for mood, path in zip(PROFILE_MOODS[:3], profile):
        recorded = recorded.with_mood(mood, profile_clip(path))
    first = recorded.profile_for(model)
    assert recorded.profile_for(model) is first and first.clips == 3
    more = recorded.with_mood(PROFILE_MOODS[3], profile_clip(profile[3]))
    assert more.profile_for(model).clips == 4 and "angry" in more and "angry" not in recorded
    assert np.allclose(more.with_mood("angry", None).profile_for(model).vector, first.vector, atol=1e-5)
