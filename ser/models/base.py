"""What every model kind shares: its directory format, safe weight loading, and the `predict` interface.

A model directory holds `config.json` (kind, labels, preprocessing, training data, metrics, licence),
weights as `*.safetensors`, `checksums.json` (sha256 of each weight file) and usually a `README.md` model card.
Nothing else is ever read from it: no pickles, no code. `ser.models.hub.client` applies the same check to pulled repos.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np

CONFIG_FILE = "config.json"
WEIGHTS_FILE = "model.safetensors"
CHECKSUMS_FILE = "checksums.json"
LICENSE = "cc-by-nc-sa-4.0"  # RAVDESS is CC BY-NC-SA 4.0, TESS CC BY-NC-ND 4.0: trained weights inherit non-commercial use
MODEL_KINDS = ("whisper_head", "resnet18", "classic_mlp", "egemaps", "hf_audio_classification")
HF_KIND = "hf_audio_classification"  # a transformers checkpoint: "architectures"/"id2label" in config.json, no "kind"
ALLOWED_SUFFIXES = (".json", ".safetensors", ".md", ".txt")
ALLOWED_NAMES = (".gitattributes",)
# formats that can execute code when loaded (pickle, numpy object arrays) or are code outright
PICKLE_SUFFIXES = frozenset({".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt", ".joblib", ".npy", ".npz"})
CODE_SUFFIXES = frozenset({".py", ".pyc", ".pyo", ".so", ".dll", ".dylib", ".sh", ".bat", ".exe", ".ipynb"})


class ModelError(ValueError):
    """A model that cannot be found or loaded safely; the message is one sentence for the user."""


def sha256_file(path: str | Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _read_json(path: Path, where: str):
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError):
        raise ModelError(f"{path.name} in {where} is not valid JSON; the model directory is damaged.") from None


def read_config(model_dir: str | Path) -> dict:
    path = Path(model_dir) / CONFIG_FILE
    if not path.exists():
        raise ModelError(f"{model_dir} has no {CONFIG_FILE}; it is not a model directory.")
    config = _read_json(path, str(model_dir))
    if not isinstance(config, dict):
        raise ModelError(f"{CONFIG_FILE} in {model_dir} is not a JSON object.")
    return config


def model_kind(config: dict) -> str | None:
    """The model kind a config.json names, or None if it names none we know."""
    kind = config.get("kind")
    if kind is None and ("architectures" in config or "id2label" in config):
        return HF_KIND
    return kind if kind in MODEL_KINDS else None


def _refusal(name: str, where: str) -> str | None:
    """Why a file may not be part of a model, or None if it may."""
    suffix = Path(name).suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        return f"{where} contains {name}, a pickle-style file that can run code when loaded; only safetensors weights are accepted."
    if suffix in CODE_SUFFIXES:
        return f"{where} contains {name}, which is code; models that ship code are refused."
    if suffix in ALLOWED_SUFFIXES or Path(name).name in ALLOWED_NAMES:
        return None
    return f"{where} contains {name}, which is not a model file (allowed: *.json, *.safetensors, *.md, *.txt)."


def check_model_files(model_dir: str | Path, label: str | None = None) -> dict:
    """Refuse anything but a safe model directory; return its config.json with "kind" filled in.

    Safe means: only JSON/safetensors/text files (no pickles, no code), a config naming a known kind, at least one
    safetensors file, and every weight file matching its sha256 in checksums.json when that file is present.
    `label` names the model in messages (e.g. a Hub id) instead of its path.
    """
    folder = Path(model_dir)
    where = label or str(folder)
    if not folder.is_dir():
        raise ModelError(f"{where} is not a model directory.")
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    for name in files:
        if (reason := _refusal(name, where)) is not None:
            raise ModelError(reason)
    if CONFIG_FILE not in files:
        raise ModelError(f"{where} has no {CONFIG_FILE}, so it is not a model directory.")
    weights = [name for name in files if name.endswith(".safetensors")]
    if not weights:
        raise ModelError(f"{where} has no *.safetensors weights.")
    config = _read_json(folder / CONFIG_FILE, where)
    if not isinstance(config, dict):
        raise ModelError(f"{CONFIG_FILE} in {where} is not a JSON object.")
    kind = model_kind(config)
    if kind is None:
        raise ModelError(f"{CONFIG_FILE} in {where} names no known model kind (expected one of {', '.join(MODEL_KINDS)}).")
    if CHECKSUMS_FILE in files:
        _verify_checksums(folder, weights, where)
    _check_safetensors(folder, weights, where)
    return {**config, "kind": kind}


def _check_safetensors(folder: Path, weights: list[str], where: str) -> None:
    """Parse each weight file's header (cheap: the tensors are not read), so a file that only has the suffix
    (a renamed pickle, a truncated download) is a ModelError sentence rather than a loader exception later."""
    from safetensors import safe_open

    for name in weights:
        try:
            with safe_open(str(folder / name), framework="numpy"):
                pass
        except Exception:  # SafetensorError, OSError: what is wrong with the bytes does not matter to the user
            raise ModelError(f"{name} in {where} is not a valid safetensors file, so it is refused; the model is damaged.") from None


def _verify_checksums(folder: Path, weights: list[str], where: str) -> None:
    checksums = _read_json(folder / CHECKSUMS_FILE, where)
    if not isinstance(checksums, dict):
        raise ModelError(f"{CHECKSUMS_FILE} in {where} is not a JSON object.")
    for name in weights:
        if name not in checksums:
            raise ModelError(f"{name} in {where} is not listed in {CHECKSUMS_FILE}; refusing unverified weights.")
    for name, expected in checksums.items():
        target = folder / name
        if Path(name).is_absolute() or ".." in Path(name).parts or not target.is_file():
            raise ModelError(f"{CHECKSUMS_FILE} in {where} lists {name}, which is not a file of the model.")
        if sha256_file(target) != str(expected).lower():
            raise ModelError(f"{name} in {where} does not match its sha256 in {CHECKSUMS_FILE}: "
                             "the file is corrupted or was tampered with, so it is refused.")


def write_checksums(model_dir: str | Path) -> dict[str, str]:
    """Write checksums.json with the sha256 of every weight file; returns it."""
    folder = Path(model_dir)
    checksums = {p.relative_to(folder).as_posix(): sha256_file(p) for p in sorted(folder.rglob("*.safetensors"))}
    (folder / CHECKSUMS_FILE).write_text(json.dumps(checksums, indent=2) + "\n", encoding="utf-8")
    return checksums


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = logits - logits.max(axis=-1, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def with_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """softmax(logits / T) from softmax(logits): log p = logits - constant, and softmax ignores constants. Used where
    only probabilities were kept (the cross-validation reports), to show or score them as a calibrated model would."""
    return softmax(np.log(np.clip(np.asarray(probs, dtype=np.float64), 1e-12, 1.0)) / temperature)


def is_calibrated(config: dict) -> bool:
    """Whether a model's config carries the default model's honesty signals: a temperature and unsure threshold fitted on
    corpora it never heard (train/calibration/emotion.py) and a novelty threshold fitted on its training clips."""
    return config.get("unsure_threshold") is not None and config.get("far_threshold") is not None


def one_blas_thread() -> None:
    """Run numpy's BLAS (OpenBLAS) on one thread in a process that runs a model; `ser.models.load_dir` calls it.

    Why: torch's OpenMP threads and OpenBLAS's threads both spin-wait after their calls. Feature extraction (numpy
    mel filterbanks) between torch ops made them fight over 2 cores: the default model took 70 ms for a 4-s clip
    instead of 28 ms (ad-hoc timing; reports/bench.md has today's figure). The numpy work is small, so one thread costs it nothing; torch keeps its own thread count.
    Training scripts, which fit scikit-learn models on large matrices, build models directly and keep their threads.
    """
    from threadpoolctl import threadpool_limits

    threadpool_limits(1, user_api="blas")


class EmotionModel:
    """Interface used by the app, CLI, training and benchmarks.

    Subclasses set `kind`, implement `predict_logits` (and `_save_weights` / `from_dir` for their weights).
    """

    kind = "base"

    def __init__(self, config: dict):
        self.config = dict(config)
        self.config["kind"] = self.kind
        self.labels: list[str] = list(config["labels"])
        self.gender_labels: list[str] | None = config.get("gender_labels")
        self.name: str = config.get("name", self.kind)
        self.notice: str | None = None  # set by `ser.models.load_model` when the user should be told something
        # fitted on predictions for corpora the model never heard (train/calibration/emotion.py): T > 1 softens over-confident
        # answers without changing which label is on top; below `unsure_threshold` the app and CLI say "unsure"
        self.temperature = float(config.get("temperature") or 1.0)
        if not 0.05 <= self.temperature <= 100:
            raise ModelError(f"This model's config asks for a temperature of {self.temperature:g}; give a number from 0.05 to 100.")
        self.unsure_threshold: float | None = config.get("unsure_threshold")
        self.far_threshold: float | None = config.get("far_threshold")  # novelty above which a clip is unlike the training
        # the gender output's temperature, fitted on corpora the model never heard (train/calibration/gender.py)
        self.gender_temperature = float(config.get("gender_temperature") or 1.0)
        self.model_dir: Path | None = None  # set by `ser.models.load_dir`: the folder with its card

    # --- prediction -------------------------------------------------------------------------------------------
    def predict(self, waves: list[np.ndarray] | np.ndarray) -> np.ndarray:
        """Probabilities over `self.labels`, shape (clips, labels), for 16-kHz mono float32 waveforms."""
        waves = [waves] if isinstance(waves, np.ndarray) and waves.ndim == 1 else list(waves)
        return self.probabilities(self.predict_logits(waves))

    def probabilities(self, logits) -> np.ndarray:
        """Emotion probabilities from logits, with the model's temperature."""
        return softmax(np.asarray(logits, dtype=np.float64) / self.temperature).astype(np.float32)

    def gender_probabilities(self, logits) -> np.ndarray:
        """Gender probabilities from the gender output's logits, with its own temperature."""
        return softmax(np.asarray(logits, dtype=np.float64) / self.gender_temperature).astype(np.float32)

    @property
    def calibrated(self) -> bool:
        """Whether the model says when it is unsure and when a clip is unlike its training (`is_calibrated`)."""
        return is_calibrated(self.config)

    def predict_logits(self, waves: list[np.ndarray]) -> np.ndarray:
        raise NotImplementedError

    def predict_gender(self, waves: list[np.ndarray]) -> np.ndarray | None:
        """Probabilities over `self.gender_labels`, or None for models without a gender head."""
        return None

    def predict_both(self, waves: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray | None]:
        """Emotion and gender probabilities; models with a shared encoder override this to run it once."""
        return self.predict(waves), (self.predict_gender(waves) if self.gender_labels else None)

    def predict_details(self, waves: list[np.ndarray], profile: np.ndarray | None = None):
        """Emotion and gender probabilities, and per clip how unlike its training clips it is (None: not measured)."""
        return (*self.predict_both(waves), None)

    supports_profile = False  # models that can score a speaker's clips relative to their voice profile (ser.profile)

    def clip_statistics(self, waves: list[np.ndarray]) -> np.ndarray:
        """What each clip sounds like to the model, averaged into a voice profile (see WhisperHeadModel)."""
        raise ModelError(f"The model {self.name} cannot use a voice profile; the default model can.")

    # --- files ------------------------------------------------------------------------------------------------
    def save(self, model_dir: str | Path, card: str | None = None) -> Path:
        """Write config, safetensors weights, checksums and (optionally) the model card."""
        model_dir = Path(model_dir)
        model_dir.mkdir(parents=True, exist_ok=True)
        self.config["labels"] = self.labels
        self.config["id2label"] = {str(i): label for i, label in enumerate(self.labels)}
        (model_dir / CONFIG_FILE).write_text(json.dumps(self.config, indent=2) + "\n")
        self._save_weights(model_dir)
        write_checksums(model_dir)
        if card is not None:
            (model_dir / "README.md").write_text(card)
        return model_dir

    def _save_weights(self, model_dir: Path) -> None:
        raise NotImplementedError

    @classmethod
    def from_dir(cls, model_dir: Path, config: dict) -> "EmotionModel":
        raise NotImplementedError
