"""The Hugging Face model card (README.md) for a pushed model: YAML metadata plus data, protocol and limits.

Metadata comes from the model's config.json (already checked, so it has "kind") and, when given, a metrics report
shaped like {"models": {name: {"uar": ..., "accuracy": ..., "macro_f1": ...}}}.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

CARD_NAME = "README.md"
CARD_LICENSE = "cc-by-nc-sa-4.0"  # RAVDESS is CC BY-NC-SA 4.0 and TESS is non-commercial: the weights inherit NC
CARD_MARKER = "<!-- Model card written by ser.models.hub.client from config.json; it is regenerated on every push. -->"
METRIC_NAMES = {"uar": "UAR", "accuracy": "Accuracy", "macro_f1": "Macro-F1"}
METRIC_TYPES = {"uar": "uar", "accuracy": "accuracy", "macro_f1": "f1"}
DEFAULT_DATASETS = ["ravdess"]
CORPUS_NOTES = {
    "ravdess": "RAVDESS speech (Ryerson Audio-Visual Database of Emotional Speech and Song): 24 professional "
               "actors, 12 female and 12 male, two fixed sentences, 1440 clips; CC BY-NC-SA 4.0",
    "tess": "TESS (Toronto Emotional Speech Set): 2 actresses aged 26 and 64 saying \"Say the word ...\" with "
            "200 target words, about 2800 clips; non-commercial licence",
}


def _report_metrics(report: Any, names: list[str]) -> dict[str, Any] | None:
    models = report.get("models") if isinstance(report, dict) else None
    if not isinstance(models, dict) or not models:
        return None
    for name in names:
        if isinstance(models.get(name), dict):
            return models[name]
    return next(iter(models.values())) if len(models) == 1 else None


def card_metrics(config: dict[str, Any], report: dict[str, Any] | None = None,
                 names: list[str] | None = None) -> dict[str, float]:
    """UAR / accuracy / macro-F1: from `report` (the entry named like the model) else config["metrics"]."""
    source = (_report_metrics(report, names or []) if report else None) or config.get("metrics") or {}
    return {key: round(float(source[key]), 4) for key in METRIC_NAMES
            if isinstance(source.get(key), (int, float)) and not isinstance(source.get(key), bool)}


def card_datasets(config: dict[str, Any]) -> list[str]:
    """Corpus names: config "datasets", else "training_data" (a list, or a dict with "corpora")."""
    data = config.get("datasets") or config.get("training_data") or DEFAULT_DATASETS
    if isinstance(data, dict):
        data = data.get("corpora") or data.get("datasets") or DEFAULT_DATASETS
    if isinstance(data, str):
        data = [data]
    return [str(name).lower() for name in data if isinstance(name, (str, int))] or DEFAULT_DATASETS


def model_card(config: dict[str, Any], repo_id: str, report: dict[str, Any] | None = None,
               names: list[str] | None = None) -> ModelCard:
    """The card for `config` pushed as `repo_id`; `names` pick the model's entry in `report`."""
    kind = str(config.get("kind"))
    name = repo_id.split("/")[-1]
    metrics = card_metrics(config, report, names)
    datasets = card_datasets(config)
    results = [EvalResult(task_type="audio-classification", task_name="Speech emotion recognition",
                          dataset_type="ravdess", dataset_name="RAVDESS speech, 6-fold actor-disjoint CV",
                          metric_type=METRIC_TYPES[key], metric_name=METRIC_NAMES[key], metric_value=value,
                          metric_config="macro" if key == "macro_f1" else None)
               for key, value in metrics.items()]
    data = ModelCardData(language="en", license=CARD_LICENSE, datasets=datasets, pipeline_tag="audio-classification",
                         tags=["audio-classification", "speech-emotion-recognition", kind.replace("_", "-")],
                         metrics=[METRIC_TYPES[key] for key in metrics] or None, model_name=name,
                         eval_results=results or None)
    labels = ", ".join(str(label) for label in config.get("labels") or config.get("id2label", {}).values())
    corpora = "\n".join(f"- {CORPUS_NOTES.get(d, d)}" for d in datasets)
    table = "\n".join(f"| {METRIC_NAMES[k]} | {v:.4f} |" for k, v in metrics.items()) or "| (not recorded) | |"
    tess = ("\n- TESS adds only two female speakers and one carrier phrase, so it mostly teaches the model "
            "those two voices." if "tess" in datasets else "")
    body = f"""{CARD_MARKER}

# {name}

Speech emotion recognition ({kind}): classifies a clip of speech as one of {labels or 'its labels'}.
Input: mono audio at {config.get('sample_rate', 16000)} Hz. Weights are safetensors only; `checksums.json`
holds their sha256, which `ser.models.hub.client` verifies on every pull.

```python
from ser.models.hub.client import pull
model_dir = pull("{repo_id}").path
```

## Training data

{corpora}

## Evaluation protocol

6-fold actor-disjoint cross-validation on RAVDESS: each fold holds out 4 of the 24 actors, so no test
speaker is heard in training. UAR (unweighted average recall, the mean of per-class recalls) is the headline
metric because it does not reward favouring frequent classes.

| Metric | Value |
|---|---|
{table}

## Limitations

- Acted, studio-quality English speech from 24 North American actors reading two fixed sentences: expect lower
  accuracy on spontaneous speech, other languages and accents, children, noise, or telephone audio.{tess}
- Emotions are posed categories, not what a speaker feels; do not use this model to make decisions about people.

## Licence

CC BY-NC-SA 4.0, inherited from the training corpora (RAVDESS is CC BY-NC-SA 4.0): non-commercial use only.
"""
    return ModelCard(f"---\n{data.to_yaml()}\n---\n\n{body}")


def write_card(folder: Path, config: dict[str, Any], repo_id: str, report: dict[str, Any] | None = None) -> None:
    """Write folder/README.md; a card someone else wrote (no CARD_MARKER) keeps its text and gets our metadata."""
    kind = str(config.get("kind"))
    names = [str(n) for n in (config.get("name"), folder.name, kind, kind.replace("_", "-")) if n]
    card = model_card(config, repo_id, report, names)
    path = folder / CARD_NAME
    existing = path.read_text(encoding="utf-8", errors="replace") if path.exists() else CARD_MARKER
    if CARD_MARKER not in existing:
        try:
            written = ModelCard(existing, ignore_metadata_errors=True)
        except ValueError:  # a YAML block that is not a mapping: keep the whole file as text
            written = ModelCard(f"---\n{{}}\n---\n{existing}")
        written.data = ModelCardData(**{**written.data.to_dict(), **card.data.to_dict()}, ignore_metadata_errors=True)
        card = written
    path.write_text(str(card), encoding="utf-8")
