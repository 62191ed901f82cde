"""Model safety end to end: what loading a model reads, and unsafe model folders refused by the library and the CLI
alike — with nothing in them ever executed. The running app never opens a folder a visitor names at all: it refuses
every path with one sentence that does not depend on what exists on disk, and loads only shipped models, the
configured default and Hub ids (which it looks up on the Hub only, never as a folder on the server).

`tests/test_hub.py` covers the same refusals for Hub repos (listing, download, checksums) against a local Hub; here
the folders are local, and the point is that each layer refuses them with the same sentence.
"""

from __future__ import annotations

import ast
import json
import os
import pickle
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from gradio_client import handle_file
from gradio_client.exceptions import AppError

from bench.load import new_client
from ser import settings
from ser.models.hub.client import HubUnavailable
from ser.models import load_dir, load_for_visitor, load_model, local_models, resolve_for_visitor, visitor_ref
from ser.models.base import CHECKSUMS_FILE, PICKLE_SUFFIXES, ModelError, check_model_files, write_checksums

SAFE_SUFFIXES = (".json", ".safetensors")
SOURCE_DIRS = ("ser", "app_ui", "train", "bench")
BASE_MODEL = "classic-mlp"  # the smallest shipped model: copied and spoiled below

# One subprocess loads every shipped model and predicts once with an audit hook armed: every file opened and every
# class unpickled is recorded. librosa's numba kernels are warmed up first (numba's own JIT cache is pickled).
AUDIT_SCRIPT = """
import json, sys
opened, unpickled, armed = [], [], [False]

def hook(event, args):
    if armed[0] and event == "open" and isinstance(args[0], (str, bytes)):  # an int is an already-open descriptor
        opened.append(args[0] if isinstance(args[0], str) else args[0].decode(errors="replace"))
    elif armed[0] and event == "pickle.find_class":
        unpickled.append(f"{args[0]}.{args[1]}")

sys.addaudithook(hook)
from ser.audio import load as audio
from ser.audio import features
from ser.models import load_model
wave = audio.load_audio(sys.argv[1])
features.summary_features(audio.trim_silence(wave)), features.whisper_log_mel(wave)
armed[0] = True
for name in sys.argv[2:]:
    load_model(name).predict([wave])
armed[0] = False
print(json.dumps({"opened": sorted(set(opened)), "unpickled": sorted(set(unpickled))}))
"""


def evil_pickle(marker: Path) -> bytes:
    """Unpickling this creates `marker`: the reason pickled weights are refused."""

    class Evil:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    return pickle.dumps(Evil())


def spoil_pickle(model: Path, marker: Path) -> str:
    (model / "pytorch_model.bin").write_bytes(evil_pickle(marker))
    return f"{model} contains pytorch_model.bin, a pickle-style file that can run code when loaded; only safetensors weights are accepted."


def spoil_code(model: Path, marker: Path) -> str:
    (model / "modeling_ser.py").write_text(f"open({str(marker)!r}, 'w').write('imported')\n")
    return f"{model} contains modeling_ser.py, which is code; models that ship code are refused."


def spoil_hash(model: Path, marker: Path) -> str:
    weights = bytearray((model / "model.safetensors").read_bytes())
    weights[-1] ^= 0x01  # one bit of the last weight
    (model / "model.safetensors").write_bytes(bytes(weights))
    return (f"model.safetensors in {model} does not match its sha256 in checksums.json: "
            "the file is corrupted or was tampered with, so it is refused.")


def spoil_renamed_pickle(model: Path, marker: Path) -> str:
    """A pickle saved under the safetensors name, with a checksum to match: whoever wrote the folder controls both."""
    (model / "model.safetensors").write_bytes(evil_pickle(marker))
    write_checksums(model)
    return f"model.safetensors in {model} is not a valid safetensors file, so it is refused; the model is damaged."


SPOILERS = {"pickled weights": spoil_pickle, "python file": spoil_code, "sha256 mismatch": spoil_hash,
            "pickle named .safetensors": spoil_renamed_pickle}


@pytest.fixture
def spoiled(request, tmp_path) -> tuple[Path, Path, str]:
    """(model folder, marker that appears if anything in it ran, the sentence expected) for SPOILERS[request.param]."""
    model = tmp_path / "model"
    shutil.copytree(settings.MODELS_DIR / BASE_MODEL, model)
    marker = tmp_path / "code-ran"
    expected = SPOILERS[request.param](model, marker)
    return model, marker, expected


# --- what loading reads ------------------------------------------------------------------------------------------


def test_shipped_models_are_safetensors_and_json_with_checksums():
    names = local_models()
    assert settings.DEFAULT_MODEL in names
    for name in names:
        folder = settings.MODELS_DIR / name
        check_model_files(folder)  # raises for anything unsafe
        weights = sorted(p.name for p in folder.glob("*.safetensors"))
        checksums = json.loads((folder / CHECKSUMS_FILE).read_text())  # present: the sha256 check is not skipped
        assert weights and sorted(checksums) == weights, name


def test_loading_and_predicting_reads_only_safetensors_and_json_and_unpickles_nothing(ravdess_clip):
    names = local_models()
    proc = subprocess.run([sys.executable, "-c", AUDIT_SCRIPT, str(ravdess_clip), *names], capture_output=True, text=True,
                          timeout=300, cwd=settings.PROJECT_ROOT, env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    audit = json.loads(proc.stdout.strip().splitlines()[-1])
    assert audit["unpickled"] == []
    from ser.encoders.offline import find_parts  # the encoder's source: a CTranslate2 binary we parse and sha256-check

    encoder_parts = {str(p) for p in find_parts()}
    opened = [Path(p) for p in audit["opened"]]
    pickles = [p for p in opened if p.suffix.lower() in PICKLE_SUFFIXES and str(p.resolve()) not in encoder_parts]
    assert pickles == []
    # the cache also holds the encoder graph we export ourselves (ser/encoders/runtime.py): an ONNX protobuf of standard
    # operators, checked by sha256 before use; data, not code
    for folder, allowed in [(settings.MODELS_DIR, SAFE_SUFFIXES), (settings.cache_dir(), (*SAFE_SUFFIXES, ".onnx"))]:
        inside = [p for p in opened if p.resolve().is_relative_to(folder.resolve()) and p.suffix]
        assert [p for p in inside if p.suffix not in allowed] == [], folder
    read = {p.name for p in opened if p.resolve().is_relative_to(settings.MODELS_DIR.resolve())}
    assert {"config.json", "model.safetensors", CHECKSUMS_FILE} <= read  # the audit saw the model being read


def test_no_code_passes_trust_remote_code_or_unpickles():
    """Static check of the project's sources: trust_remote_code only ever False, torch.load only with
    weights_only=True, numpy loads never with allow_pickle=True, and no pickle/joblib loading at all."""
    problems = []
    files = [settings.PROJECT_ROOT / "app.py"] + [p for d in SOURCE_DIRS for p in sorted((settings.PROJECT_ROOT / d).rglob("*.py"))]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.Call):
                continue
            where = f"{path.relative_to(settings.PROJECT_ROOT)}:{node.lineno}"
            name = ast.unparse(node.func)
            keywords = {k.arg: k.value for k in node.keywords}
            flag = keywords.get("trust_remote_code")
            if flag is not None and not (isinstance(flag, ast.Constant) and flag.value is False):
                problems.append(f"{where}: trust_remote_code={ast.unparse(flag)}")
            if name.endswith("torch.load") and not (isinstance(keywords.get("weights_only"), ast.Constant) and keywords["weights_only"].value is True):
                problems.append(f"{where}: torch.load without weights_only=True")
            allow = keywords.get("allow_pickle")
            if allow is not None and not (isinstance(allow, ast.Constant) and allow.value is False):
                problems.append(f"{where}: allow_pickle={ast.unparse(allow)}")
            if name in ("pickle.load", "pickle.loads", "joblib.load", "dill.load", "cloudpickle.load"):
                problems.append(f"{where}: {name}")
    assert problems == []


# --- unsafe folders, refused in every layer ---------------------------------------------------------------------


@pytest.mark.parametrize("spoiled", list(SPOILERS), indirect=True)
def test_library_refuses_with_one_sentence(spoiled):
    model, marker, expected = spoiled
    with pytest.raises(ModelError) as err:
        load_dir(model)
    assert str(err.value) == expected
    assert not marker.exists()


@pytest.mark.parametrize("spoiled", list(SPOILERS), indirect=True)
def test_cli_refuses_with_the_same_sentence(spoiled, ravdess_clip):
    model, marker, expected = spoiled
    proc = subprocess.run([sys.executable, "-m", "ser", "predict", str(ravdess_clip), "--model", str(model), "--quiet"],
                          capture_output=True, text=True, timeout=300, cwd=settings.PROJECT_ROOT,
                          env={**os.environ, "HF_HUB_OFFLINE": "1"})
    assert proc.returncode == 2  # a usage error: nothing was labelled
    assert proc.stderr.strip() == expected and proc.stdout == ""
    assert not marker.exists()


@pytest.fixture(scope="module")
def client(app_server):
    return new_client(app_server.url)


def visitor_refusal(ref: str) -> str:
    """The sentence the app gives for any model name that is neither shipped, the default, nor a Hub id."""
    return (f"No model {ref!r}: give a shipped model ({', '.join(local_models())}) or a Hugging Face Hub id "
            "(owner/name or owner/name@revision); folders on the server are not accepted.")


@pytest.mark.parametrize("spoiled", list(SPOILERS), indirect=True)
def test_app_refuses_a_visitors_folder_without_opening_it_and_keeps_serving(spoiled, app_server, client, ravdess_clip):
    """The app does not even look inside: the sentence is the one for any path, not the folder's own problem."""
    model, marker, expected = spoiled
    clip = handle_file(str(ravdess_clip))
    with pytest.raises(AppError) as err:
        client.predict(clip, str(model), api_name="/predict")
    assert str(err.value) == visitor_refusal(str(model)) != expected
    assert not marker.exists()
    probs = client.predict(clip, api_name="/predict")
    assert abs(sum(probs.values()) - 1) < 1e-4 and app_server.alive()


# --- names from a web visitor (ser.models.visitor_ref): no path on the server is ever resolved ------------------


@pytest.mark.parametrize("ref", [str(settings.MODELS_DIR / BASE_MODEL), f"assets/models/{BASE_MODEL}", "/etc", "../",
                                 "~", ".", "./assets/models", f"{settings.MODELS_DIR}/../models/{BASE_MODEL}",
                                 f"{BASE_MODEL}/", f"file://{settings.MODELS_DIR / BASE_MODEL}", "owner/name@../x"])
def test_visitor_paths_are_refused_with_one_sentence(ref):
    for call in (visitor_ref, resolve_for_visitor, load_for_visitor):
        with pytest.raises(ModelError) as err:
            call(ref)
        assert str(err.value) == visitor_refusal(ref)


def test_visitor_refusal_does_not_depend_on_what_exists(tmp_path):
    """Same text for a real model folder, the same path once deleted, a spoiled folder, a system folder and nonsense."""
    model = shutil.copytree(settings.MODELS_DIR / BASE_MODEL, tmp_path / "model")
    marker = tmp_path / "code-ran"
    spoiled = shutil.copytree(model, tmp_path / "spoiled")
    spoil_pickle(spoiled, marker)

    def refusal(ref: str) -> str:
        with pytest.raises(ModelError) as err:
            load_for_visitor(ref)
        return str(err.value).replace(repr(ref), "<ref>", 1)

    existing = refusal(str(model))
    shutil.rmtree(model)
    messages = {existing, refusal(str(model)), refusal(str(spoiled)), refusal("/etc"), refusal("/no/such/folder"),
                refusal(str(tmp_path)), refusal(str(settings.MODELS_DIR))}
    assert len(messages) == 1 and "<ref>" in existing
    assert not marker.exists()


def test_visitor_may_name_shipped_models_and_the_default(monkeypatch, tmp_path):
    for name in local_models():
        assert visitor_ref(name) == (name, False)
        assert resolve_for_visitor(f" {name} ") == settings.MODELS_DIR / name
    assert visitor_ref(None) == visitor_ref("") == (settings.DEFAULT_MODEL, False)
    # the operator's SER_MODEL is trusted, even as a folder: a visitor gets it by sending nothing or its exact name
    folder = shutil.copytree(settings.MODELS_DIR / BASE_MODEL, tmp_path / "operators-model")
    monkeypatch.setenv("SER_MODEL", str(folder))
    assert visitor_ref("") == visitor_ref(str(folder)) == (str(folder), False)
    assert resolve_for_visitor(None) == folder
    with pytest.raises(ModelError, match="folders on the server are not accepted"):
        resolve_for_visitor(str(tmp_path))  # the folder next to it is still refused


def test_visitor_hub_id_never_loads_a_same_named_local_folder(monkeypatch, tmp_path):
    """"owner/name" exists as a model folder in the working directory: the CLI may load it, a visitor only the Hub's,
    and the two never share a cache entry (here offline: nothing cached, so the visitor gets the default model)."""
    shutil.copytree(settings.MODELS_DIR / BASE_MODEL, tmp_path / "owner" / "name")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("SER_MODEL", BASE_MODEL)  # the fallback: cheap to load
    trusted = load_model("owner/name")  # the local folder, as the CLI reads it
    assert visitor_ref("owner/name") == ("owner/name", True)
    with pytest.raises(HubUnavailable, match="no cached copy of owner/name"):
        resolve_for_visitor("owner/name")
    model, notice = load_for_visitor("owner/name")
    assert model is not trusted and model is load_model(BASE_MODEL)
    assert notice == ("Offline mode is on (HF_HUB_OFFLINE=1) and there is no cached copy of owner/name; "
                      "falling back to the embedded default model.")
    assert load_model("owner/name") is trusted  # and the CLI's entry is still its own


def test_spoilers_really_are_dangerous(tmp_path):
    """The test files must be what they claim: the pickle runs code when unpickled, the module when imported."""
    marker = tmp_path / "ran"
    pickle.loads(evil_pickle(marker))  # noqa: S301 - on purpose, in a test, on bytes made here
    assert marker.exists()
    marker.unlink()
    module = tmp_path / "model"
    module.mkdir()
    spoil_code(module, marker)
    subprocess.run([sys.executable, "-c", "import modeling_ser"], cwd=module, check=True, timeout=60)
    assert marker.exists()
