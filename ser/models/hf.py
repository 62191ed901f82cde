"""Any transformers audio-classification checkpoint (wav2vec2, HuBERT, WavLM, ...) as an `EmotionModel`.

A directory of this kind is a normal Hugging Face checkpoint — `config.json` (the transformers config, which also
carries this project's keys: "kind", "labels", "name", "metrics", "training_data", "license"), `model.safetensors`,
`preprocessor_config.json` — so `AutoModelForAudioClassification.from_pretrained(dir)` loads it anywhere.
Plain Hub SER checkpoints (no "kind") load too; their labels are mapped onto ours where the meaning is obvious.
Never `trust_remote_code`: a config that asks for custom code is refused.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ser.audio import load as audio
from ser.models.base import CONFIG_FILE, EmotionModel, ModelError

KIND = "hf_audio_classification"
PREPROCESSOR_FILE = "preprocessor_config.json"
MAX_PIECE_SECONDS = 30.0  # attention cost grows with the square of the length: longer clips are scored in 30-s pieces
MIN_PIECE_SECONDS = 0.1  # tail pieces shorter than this carry no emotion; clips shorter than it are zero-padded to it
BATCH_SIZE = 8
# bookkeeping keys transformers adds to every config.json; never treated as this project's keys
HF_BOOKKEEPING = ("architectures", "transformers_version", "model_type", "_name_or_path", "torch_dtype", "dtype",
                  "id2label", "label2id", "finetuning_task", "auto_map", "use_cache")

# Hub checkpoints spell the emotions in many ways (IEMOCAP "ang", CREMA-D "ANG", "happiness", ...)
LABEL_ALIASES = {
    "angry": ("ang", "anger", "angry"),
    "happy": ("hap", "happy", "happiness"),
    "neutral": ("neu", "neutral"),
    "sad": ("sad", "sadness"),
    "fearful": ("fea", "fear", "fearful"),
    "disgust": ("dis", "disgust", "disgusted"),
    "surprised": ("sur", "surprise", "surprised"),
    "calm": ("calm",),
}
CANONICAL = {alias: name for name, aliases in LABEL_ALIASES.items() for alias in aliases}


def normalise_label(name: str) -> str:
    """Our canonical emotion name for an obvious synonym ("ANG", "anger" -> "angry"); else the name lower-cased."""
    key = str(name).strip().lower()
    return CANONICAL.get(key, key)


def labels_from_id2label(id2label: dict) -> list[str]:
    """Labels in output order, normalised; raw (lower-cased) names are kept if normalising would merge two classes."""
    try:
        ordered = [id2label[i] for i in sorted(id2label, key=int)]
        if sorted(int(i) for i in id2label) != list(range(len(ordered))):
            raise ValueError
    except (TypeError, ValueError):
        raise ModelError("The model's id2label does not number its classes 0, 1, 2, ...; it is damaged.") from None
    labels = [normalise_label(name) for name in ordered]
    if len(set(labels)) < len(labels):
        labels = [str(name).strip().lower() for name in ordered]
    return labels


def tiny_wav2vec2_config():
    """A randomly initialisable wav2vec2 of ~40k parameters for tests and smoke runs (built locally, nothing downloaded).

    Layer-norm feature encoder (`feat_extract_norm="layer"`), so padded batches with an attention mask are exact.
    """
    from transformers import Wav2Vec2Config

    return Wav2Vec2Config(
        hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=37,
        conv_dim=(32, 32, 32), conv_stride=(5, 8, 8), conv_kernel=(10, 8, 8),  # 320 samples per frame, like wav2vec2
        num_conv_pos_embeddings=16, num_conv_pos_embedding_groups=2, classifier_proj_size=16,
        feat_extract_norm="layer", do_stable_layer_norm=True, mask_time_length=2, vocab_size=None,
    )


def wav2vec2_feature_extractor():
    """The standard wav2vec2 input pipeline (per-clip zero mean / unit variance at 16 kHz), built locally."""
    from transformers import Wav2Vec2FeatureExtractor

    return Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=audio.SAMPLE_RATE, padding_value=0.0,
                                    do_normalize=True, return_attention_mask=True)


def refuse_custom_code(model_dir: str | Path) -> None:
    """ModelError if the folder holds Python files or a config/preprocessor that names custom code (`auto_map`)."""
    model_dir = Path(model_dir)
    code = sorted(p.name for p in model_dir.glob("*.py"))
    if code:
        raise ModelError(f"Refusing to load {model_dir.name}: it contains {', '.join(code)}; this project never runs code "
                         "that comes with a model.")
    for name in (CONFIG_FILE, PREPROCESSOR_FILE):
        path = model_dir / name
        try:
            config = json.loads(path.read_text()) if path.exists() else {}
        except ValueError:
            raise ModelError(f"{path} is not valid JSON; the model directory is damaged.") from None
        if isinstance(config, dict) and config.get("auto_map"):
            raise ModelError(f"Refusing to load {model_dir.name}: its {name} asks for custom code (auto_map), and this "
                             "project never runs code that comes with a model.")


def _project_keys(config: dict, hf_config) -> dict:
    """The keys of config.json that are ours rather than transformers' (anything the config class does not define)."""
    try:
        defined = set(type(hf_config)().to_dict())
    except Exception:  # a config class that cannot be built without arguments: keep every key, which is harmless
        defined = set()
    return {k: v for k, v in config.items() if k not in defined and k not in HF_BOOKKEEPING}


class HFAudioModel(EmotionModel):
    kind = KIND

    def __init__(self, config: dict, model, feature_extractor):
        super().__init__(config)
        self.model = model.eval()
        self.feature_extractor = feature_extractor
        if getattr(feature_extractor, "sampling_rate", audio.SAMPLE_RATE) != audio.SAMPLE_RATE:
            raise ModelError(f"The model expects {feature_extractor.sampling_rate} Hz audio; this project feeds "
                             f"{audio.SAMPLE_RATE} Hz, so it cannot be used.")
        n_outputs = int(model.config.num_labels)
        if n_outputs != len(self.labels):
            raise ModelError(f"The model has {n_outputs} outputs but {len(self.labels)} labels; its config is inconsistent.")

    # --- construction ---------------------------------------------------------------------------------------------
    @classmethod
    def from_config(cls, backbone_config, labels: list[str], feature_extractor=None, config: dict | None = None) -> "HFAudioModel":
        """A randomly initialised classifier on `backbone_config` (e.g. `tiny_wav2vec2_config()`); nothing is downloaded."""
        from transformers import AutoModelForAudioClassification

        labels = list(labels)
        backbone_config.num_labels = len(labels)
        backbone_config.id2label = dict(enumerate(labels))
        backbone_config.label2id = {label: i for i, label in enumerate(labels)}
        model = AutoModelForAudioClassification.from_config(backbone_config)
        return cls({**(config or {}), "labels": labels, "sample_rate": audio.SAMPLE_RATE}, model,
                   feature_extractor or wav2vec2_feature_extractor())

    @classmethod
    def from_dir(cls, model_dir: Path, config: dict) -> "HFAudioModel":
        """Load a checkpoint folder: safetensors only, local files only, never custom code."""
        from transformers import AutoFeatureExtractor, AutoModelForAudioClassification

        model_dir = Path(model_dir)
        refuse_custom_code(model_dir)
        try:
            feature_extractor = AutoFeatureExtractor.from_pretrained(model_dir, trust_remote_code=False, local_files_only=True)
            model, info = AutoModelForAudioClassification.from_pretrained(
                model_dir, use_safetensors=True, trust_remote_code=False, local_files_only=True, output_loading_info=True)
        except (OSError, ValueError, KeyError, TypeError, RuntimeError) as err:
            reason = str(err).strip().splitlines()[0][:200] if str(err).strip() else type(err).__name__
            raise ModelError(f"Could not load {model_dir.name} as a transformers audio classifier ({reason}).") from None
        missing = sorted(info.get("missing_keys") or [])
        if missing:  # e.g. a speech-recognition checkpoint: its classifier would be random numbers
            raise ModelError(f"Refusing to load {model_dir.name}: it has no trained weights for {len(missing)} parameters "
                             f"(such as {missing[0]}), so it is not a trained audio classifier.")
        ours = _project_keys(config, model.config)
        ours["labels"] = labels_from_id2label(model.config.id2label)
        return cls(ours, model, feature_extractor)

    # --- prediction -----------------------------------------------------------------------------------------------
    def preprocess(self, wave: np.ndarray) -> np.ndarray:
        """Trim silence when the model was trained on trimmed clips (recorded as "trim_silence" in its config)."""
        wave = np.asarray(wave, dtype=np.float32)
        return audio.trim_silence(wave) if self.config.get("trim_silence") and wave.size else wave

    def _batchable(self) -> bool:
        # padding changes a group-norm feature encoder's statistics (and the whole clip without an attention mask),
        # so such models see one clip per forward pass and give the same answer whatever they are batched with
        masked = bool(getattr(self.feature_extractor, "return_attention_mask", False))
        return masked and getattr(self.model.config, "feat_extract_norm", "layer") != "group"

    @torch.no_grad()
    def _forward(self, waves: list[np.ndarray]) -> np.ndarray:
        kwargs = {"return_attention_mask": True} if getattr(self.feature_extractor, "return_attention_mask", False) else {}
        inputs = self.feature_extractor(waves, sampling_rate=audio.SAMPLE_RATE, padding=True, return_tensors="pt", **kwargs)
        device = next(self.model.parameters()).device
        return self.model(**{k: v.to(device) for k, v in inputs.items()}).logits.float().cpu().numpy()

    def _pieces(self, wave: np.ndarray) -> list[np.ndarray]:
        size, least = int(MAX_PIECE_SECONDS * audio.SAMPLE_RATE), int(MIN_PIECE_SECONDS * audio.SAMPLE_RATE)
        if wave.size < least:
            return [np.pad(wave, (0, least - wave.size))]
        return [wave[i : i + size] for i in range(0, wave.size, size) if wave[i : i + size].size >= least or i == 0]

    def predict_logits(self, waves: list[np.ndarray]) -> np.ndarray:
        """Logits (clips, labels): pieces of every clip are scored in batches of similar length, then averaged per clip."""
        self.model.eval()
        pieces, owner = [], []
        for i, wave in enumerate(waves):
            for piece in self._pieces(self.preprocess(wave)):
                pieces.append(piece)
                owner.append(i)
        batch = BATCH_SIZE if self._batchable() else 1
        order = np.argsort([p.size for p in pieces], kind="stable")  # similar lengths together: less padding
        piece_logits = np.zeros((len(pieces), len(self.labels)), dtype=np.float32)
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            piece_logits[idx] = self._forward([pieces[j] for j in idx])
        logits = np.zeros((len(waves), len(self.labels)), dtype=np.float32)
        counts = np.bincount(np.asarray(owner, dtype=int), minlength=len(waves))
        np.add.at(logits, np.asarray(owner, dtype=int), piece_logits)
        return logits / np.maximum(counts, 1)[:, None]

    # --- files ----------------------------------------------------------------------------------------------------
    def _save_weights(self, model_dir: Path) -> None:
        """Write a normal HF checkpoint. `save_pretrained` replaces the config.json that `EmotionModel.save` wrote
        just before, so our keys are copied onto the transformers config first (it keeps unknown keys)."""
        hf_config = self.model.config
        for key, value in self.config.items():
            if key not in HF_BOOKKEEPING:
                setattr(hf_config, key, value)
        hf_config.id2label = dict(enumerate(self.labels))
        hf_config.label2id = {label: i for i, label in enumerate(self.labels)}
        self.model.save_pretrained(model_dir)  # transformers 5 writes safetensors only
        self.feature_extractor.save_pretrained(model_dir)
