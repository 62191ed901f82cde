"""The app's `/predict` API through gradio_client, against the real app with the shipped default model in a subprocess.

A visitor's model name: shipped models and the default work, any path on the server is refused with one sentence (the
same whether the path exists or not), and a Hub id is fetched from a local test Hub (tests/hub_server.py) within the
download size cap, never looked up as a folder.
"""

from __future__ import annotations

import html
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from safetensors.numpy import save_file

from bench.load import new_client, running_app
from ser import settings
from ser.audio.load import SAMPLE_RATE, AudioError, load_audio
from ser.labels import CALM_NEUTRAL
from ser.models import local_models, resolve
from ser.models.base import read_config, write_checksums
from tests.hub_server import HubServer

CLIP = "ravdess/Actor_03/03-01-05-02-01-01-03.flac"  # any real clip: this test checks the shape of the answer, not its label
LONG_PARTS = [f"ravdess/Actor_10/03-01-0{e}-02-02-01-10.flac" for e in (3, 4, 5, 6)]  # ~15 s: the timeline path


@pytest.fixture(scope="module")
def client(app_url):
    return new_client(app_url)


@pytest.fixture(scope="module")
def labels() -> list[str]:
    return list(read_config(resolve(None))["labels"])  # the default model's labels, without loading its weights here


def clip_path(name: str) -> Path:
    path = settings.data_dir() / name
    if not path.exists():
        pytest.fail(f"{path} is missing: the tests need the shared corpora (set SER_DATA_DIR)")
    return path


def test_predict_returns_probabilities_over_the_models_labels(client, labels):
    probs = client.predict(handle_file(str(clip_path(CLIP))), api_name="/predict")
    assert sorted(probs) == sorted(labels)
    values = np.array(list(probs.values()))
    assert np.all((values >= 0) & (values <= 1))
    assert values.sum() == pytest.approx(1.0, abs=1e-4)


def test_merging_calm_and_neutral_sums_their_probabilities(client, labels):
    path = handle_file(str(clip_path("ravdess/Actor_03/03-01-02-01-01-01-03.flac")))  # a calm clip: both classes get mass
    plain = client.predict(path, "", False, api_name="/predict")
    merged = client.predict(path, "", True, api_name="/predict")
    assert CALM_NEUTRAL in merged and "calm" not in merged and "neutral" not in merged
    assert merged[CALM_NEUTRAL] == pytest.approx(plain["calm"] + plain["neutral"], abs=1e-5)
    assert sum(merged.values()) == pytest.approx(1.0, abs=1e-4)


def test_long_recording_returns_the_timeline_average(client, labels, tmp_path):
    parts = [load_audio(clip_path(name)) for name in LONG_PARTS]
    pause = np.zeros(SAMPLE_RATE // 2, dtype=np.float32)
    long = np.concatenate([np.concatenate([p, pause]) for p in parts])
    assert long.size / SAMPLE_RATE > 6  # above the app's single-clip length
    path = tmp_path / "long.wav"
    sf.write(path, long, SAMPLE_RATE, subtype="PCM_16")
    probs = client.predict(handle_file(str(path)), api_name="/predict")
    assert sorted(probs) == sorted(labels)
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-4)


def write_bad(kind: str, folder: Path) -> Path:
    """Inputs the loader refuses: text named .wav, two seconds of silence, a 0.2-s blip."""
    path = folder / f"{kind}.wav"
    if kind == "text":
        path.write_text("these are meeting notes, not audio")
    elif kind == "silence":
        sf.write(path, np.zeros(2 * SAMPLE_RATE, dtype=np.float32), SAMPLE_RATE, subtype="PCM_16")
    else:
        t = np.arange(int(0.2 * SAMPLE_RATE)) / SAMPLE_RATE
        sf.write(path, (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), SAMPLE_RATE, subtype="PCM_16")
    return path


@pytest.mark.parametrize("kind", ["text", "silence", "too_short"])
def test_bad_input_returns_our_sentence_and_the_app_keeps_serving(client, labels, tmp_path, kind):
    bad = write_bad(kind, tmp_path)
    with pytest.raises(AudioError) as expected:
        load_audio(bad)
    with pytest.raises(AppError) as err:
        client.predict(handle_file(str(bad)), api_name="/predict")
    assert str(err.value) == str(expected.value)
    assert "Traceback" not in str(err.value)
    # the server is still there and still right
    probs = client.predict(handle_file(str(clip_path(CLIP))), api_name="/predict")
    assert sorted(probs) == sorted(labels)


def test_missing_audio_and_unknown_model_are_sentences(client):
    with pytest.raises(AppError, match=r"^No audio was given; record with the microphone or upload a file\.$"):
        client.predict(None, api_name="/predict")
    with pytest.raises(AppError, match=r"^No model 'no-such-model': give a shipped model"):
        client.predict(handle_file(str(clip_path(CLIP))), "no-such-model", api_name="/predict")


# --- which models a visitor may name ------------------------------------------------------------------------------

SHIPPED = "classic-mlp"  # the cheapest shipped model to load
HUB_CAP_MB = "1"  # SER_MAX_HUB_MODEL_MB of the app that talks to the test Hub: classic-mlp (0.55 MB) fits


def refusal(ref: str) -> str:
    """The one sentence for a model name that is neither shipped, the default, nor a Hub id."""
    return (f"No model {ref!r}: give a shipped model ({', '.join(local_models())}) or a Hugging Face Hub id "
            "(owner/name or owner/name@revision); folders on the server are not accepted.")


def refused(client, ref: str) -> str:
    with pytest.raises(AppError) as err:
        client.predict(handle_file(str(clip_path(CLIP))), ref, api_name="/predict")
    message = str(err.value)
    assert "Traceback" not in message and "\n" not in message
    return message


@pytest.mark.parametrize("ref", [str(settings.MODELS_DIR / SHIPPED), str(settings.MODELS_DIR / settings.DEFAULT_MODEL),
                                 f"assets/models/{settings.DEFAULT_MODEL}", "/etc", "../", "~", "/"])
def test_a_path_on_the_server_is_refused_with_one_sentence(client, labels, ref):
    assert refused(client, ref) == refusal(ref)
    probs = client.predict(handle_file(str(clip_path(CLIP))), api_name="/predict")  # still serving
    assert sorted(probs) == sorted(labels)


def test_the_refusal_does_not_tell_whether_a_path_exists(client, tmp_path):
    model = shutil.copytree(settings.MODELS_DIR / SHIPPED, tmp_path / "model")  # a valid model the app could read
    while_there = refused(client, str(model))
    shutil.rmtree(model)
    assert refused(client, str(model)) == while_there == refusal(str(model))
    generic = {refused(client, ref).replace(repr(ref), "<ref>", 1)
               for ref in ["/etc", "/etc/passwd", "/no/such/folder", str(tmp_path), str(settings.PROJECT_ROOT)]}
    assert generic == {while_there.replace(repr(str(model)), "<ref>", 1)}


def analyse_outputs(client, path, choice=settings.DEFAULT_MODEL, hub_id="", merge=False, guess=False) -> dict:
    """The Analyse button's outputs by name (app_ui.callbacks.FIELDS; the page's columns and session state are not sent
    to API clients)."""
    from app_ui.callbacks import FIELDS

    values = client.predict(handle_file(str(path)), choice, hub_id, merge, guess, api_name="/analyse")
    names = [name for name in FIELDS if name not in ("guess_panel", "result", "long_view", "last_path", "is_long", "revealed",
                                                     "timeline_data")]
    assert len(values) == len(names)
    unwrap = lambda v: v.get("value") if isinstance(v, dict) and v.get("__type__") == "update" else v  # noqa: E731
    return {name: unwrap(value) for name, value in zip(names, values)}


def test_the_analyse_button_refuses_a_typed_path_too(client):
    """The page's own endpoint (dropdown + Hub-id textbox) answers a path with the same sentence in the status line."""
    outputs = analyse_outputs(client, clip_path(CLIP), hub_id="/etc")
    assert outputs["status"] == f"**Cannot analyse this:** {html.escape(refusal('/etc'), quote=False)}"
    assert not outputs["emotion"]  # no emotion shown


def test_an_unreachable_hub_id_is_an_error_in_the_status_line_not_another_models_answer(client):
    """The app runs offline: a typed Hub id with no cached copy is not quietly replaced by the default model."""
    outputs = analyse_outputs(client, clip_path(CLIP), hub_id="nobody-here/no-such-ser-model")
    assert outputs["status"] == ("**Cannot analyse this:** Offline mode is on (HF_HUB_OFFLINE=1) and there is no cached "
                                 "copy of nobody-here/no-such-ser-model. Clear the Hub id box to use a shipped model.")
    assert not outputs["emotion"] and outputs["bars"] is None


def test_a_model_without_a_gender_head_says_so(client):
    with_head = analyse_outputs(client, clip_path(CLIP))
    assert any(f"sounds {g} (" in with_head["gender"] for g in read_config(resolve(None))["gender_labels"])
    without = analyse_outputs(client, clip_path(CLIP), choice=SHIPPED)
    assert read_config(settings.MODELS_DIR / SHIPPED).get("gender_labels") is None
    assert without["gender"] == f"Speaker gender: *{SHIPPED}* has no gender output, so it is not estimated."
    assert without["status"].startswith(f"Model **{SHIPPED}**")


@pytest.mark.parametrize("name", ["", *local_models()])
def test_shipped_models_and_the_default_still_work(client, name):
    probs = client.predict(handle_file(str(clip_path(CLIP))), name, api_name="/predict")
    expected = read_config(settings.MODELS_DIR / (name or settings.DEFAULT_MODEL))["labels"]
    assert sorted(probs) == sorted(expected)
    assert sum(probs.values()) == pytest.approx(1.0, abs=1e-4)
    if name == settings.DEFAULT_MODEL:  # "" is the default model, loaded once under one name
        assert probs == pytest.approx(client.predict(handle_file(str(clip_path(CLIP))), "", api_name="/predict"))


@pytest.fixture(scope="module")
def hub_app(tmp_path_factory):
    """A second app, online against a local test Hub, with a 1-MB download cap and an operator's folder as SER_MODEL
    (trusted: set by whoever runs the app). Yields (hub, server, client, operator's folder)."""
    root = tmp_path_factory.mktemp("hub-app")
    operators_model = shutil.copytree(settings.MODELS_DIR / SHIPPED, root / "operators-model")
    with HubServer() as hub, running_app(root / "app", HF_ENDPOINT=hub.url, HF_HOME=str(root / "hf"), HF_HUB_OFFLINE="0",
                                         HF_HUB_DISABLE_TELEMETRY="1", SER_MAX_HUB_MODEL_MB=HUB_CAP_MB,
                                         SER_MODEL=str(operators_model)) as server:
        yield hub, server, new_client(server.url), operators_model
    # refused, missing and oversized Hub models are the visitor's problem, not the server's
    assert "Traceback" not in server.log_text(), f"the server logged a traceback:\n{server.log_tail()}"


def seed(hub: HubServer, repo_id: str, model: Path) -> None:
    write_checksums(model)
    hub.add_repo(repo_id, {p.name: p.read_bytes() for p in model.iterdir()})


def snapshots(server, repo_id: str) -> Path:
    return Path(server.env["HF_HOME"]) / "hub" / f"models--{repo_id.replace('/', '--')}" / "snapshots"


def test_a_hub_id_round_trips_through_the_app(hub_app, tmp_path):
    hub, server, client, _ = hub_app
    seed(hub, "tester/classic", shutil.copytree(settings.MODELS_DIR / SHIPPED, tmp_path / "model"))
    clip = handle_file(str(clip_path(CLIP)))
    from_hub = client.predict(clip, "tester/classic", api_name="/predict")
    assert from_hub == pytest.approx(client.predict(clip, SHIPPED, api_name="/predict"), abs=1e-6)
    assert any(path.startswith("/tester/classic/resolve/") for _, path in hub.requests)
    assert (snapshots(server, "tester/classic") / hub.repos["tester/classic"].branches["main"] / "model.safetensors").exists()


def test_a_hub_id_that_is_also_a_local_folder_is_looked_up_on_the_hub_only(hub_app):
    hub, _, client, _ = hub_app
    assert (settings.PROJECT_ROOT / "assets" / "models").is_dir()  # beside the app's working directory
    assert refused(client, "assets/models") == "No model assets/models on the Hub (check the id)."
    assert ("GET", "/api/models/assets/models") in hub.requests


def test_a_hub_repo_over_the_size_cap_is_refused_before_download(hub_app, tmp_path):
    hub, server, client, _ = hub_app
    model = shutil.copytree(settings.MODELS_DIR / SHIPPED, tmp_path / "model")
    save_file({"pad": np.zeros(250_000, dtype=np.float32)}, str(model / "extra.safetensors"))  # +1 MB
    seed(hub, "tester/too-big", model)
    size_mb = sum(p.stat().st_size for p in model.iterdir()) / 1e6
    assert size_mb > float(HUB_CAP_MB)
    assert refused(client, "tester/too-big") == (f"The model tester/too-big is {size_mb:.1f} MB to download, more than "
                                                 f"the {HUB_CAP_MB} MB allowed (SER_MAX_HUB_MODEL_MB); pick a smaller "
                                                 "model or raise that limit.")
    assert ("GET", "/api/models/tester/too-big") in hub.requests
    assert not any(path.startswith("/tester/too-big/") for _, path in hub.requests)  # no file was downloaded
    assert not snapshots(server, "tester/too-big").exists()
    assert server.alive()


def test_the_operators_default_folder_is_trusted_but_no_other_folder(hub_app):
    _, _, client, operators_model = hub_app
    clip = handle_file(str(clip_path(CLIP)))
    default = client.predict(clip, "", api_name="/predict")
    assert client.predict(clip, str(operators_model), api_name="/predict") == default
    assert sum(default.values()) == pytest.approx(1.0, abs=1e-4)
    assert refused(client, str(operators_model.parent)) == refusal(str(operators_model.parent))
    assert refused(client, str(settings.MODELS_DIR / SHIPPED)) == refusal(str(settings.MODELS_DIR / SHIPPED))


# --- the figures the app sends (built without plotly's validation for speed; validated here) ------------------------

def test_every_figure_is_valid_plotly_and_long_recordings_are_decimated(monkeypatch, labels):
    from ser import inference, plots
    from ser.evaluation.metrics import compute_metrics
    from ser.models import load_model
    from ser.audio.voice import voice_tracks

    monkeypatch.setattr(plots, "VALIDATE", True)  # plotly now raises on any misspelt or out-of-range property
    parts = [load_audio(clip_path(name)) for name in LONG_PARTS[:3]]
    recording = np.concatenate([np.concatenate([p, np.zeros(SAMPLE_RATE // 2, dtype=np.float32)]) for p in parts])
    model = load_model()
    result, tl = inference.analyse_recording(recording, model)
    assert tl is not None and len(tl.times) > 0
    scores = compute_metrics([0, 1, 1, 2], [0, 1, 0, 2], labels)
    figures = [
        *plots.feature_figures(recording), plots.probability_bars(result.labels, result.probs), plots.timeline_figure(tl),
        plots.timeline_figure(tl, lines=True),
        plots.confusion_figure(scores, "confusion"),
        plots.pitch_energy_figure({"a": voice_tracks(parts[0]), "b": voice_tracks(parts[1])}),
    ]
    for figure in figures:
        assert len(figure.data) > 0
        figure.to_json()

    ten_minutes = np.tile(recording, int(np.ceil(600 * SAMPLE_RATE / recording.size)))[: 600 * SAMPLE_RATE]
    for figure in plots.feature_figures(ten_minutes):
        for trace in figure.data:
            columns = np.shape(trace.z)[1] if trace.type == "heatmap" else len(trace.x)
            assert columns <= plots.MAX_COLUMNS
