"""The peer: `transformers.pipeline("audio-classification")` with wav2vec2 models, on the same clips and threads.

The most-downloaded SER checkpoints on the Hub are wav2vec2-base and wav2vec2-large (XLSR layout) fine-tunes.
Their compute does not depend on the weights, so both are built from their configs with random weights
(seeded, properly initialised: uninitialised memory could hold denormals that slow the maths) - nothing is downloaded.
"""

from __future__ import annotations

import gc
import time

import numpy as np

from bench.latency import RUNS, measure
from ser.audio.load import SAMPLE_RATE
from ser.labels import EMOTIONS

# wav2vec2-large-xlsr-53 layout, as in its config.json: pre-layer-norm transformer, layer-normed conv features with bias
LARGE_XLSR = dict(hidden_size=1024, num_hidden_layers=24, num_attention_heads=16, intermediate_size=4096,
                  do_stable_layer_norm=True, feat_extract_norm="layer", conv_bias=True)
PEERS = {"wav2vec2-base": {}, "wav2vec2-large-xlsr": LARGE_XLSR}
SEED = 0


def build_pipeline(name: str):
    """An audio-classification pipeline over a randomly initialised `Wav2Vec2ForSequenceClassification` with 8 labels."""
    import torch
    from transformers import Wav2Vec2Config, Wav2Vec2FeatureExtractor, Wav2Vec2ForSequenceClassification, pipeline

    id2label = dict(enumerate(EMOTIONS))
    config = Wav2Vec2Config(**PEERS[name], num_labels=len(EMOTIONS), id2label=id2label,
                            label2id={label: i for i, label in id2label.items()})
    torch.manual_seed(SEED)
    model = Wav2Vec2ForSequenceClassification(config).eval()
    # the XLSR checkpoints' extractor passes an attention mask; the base ones do not (their preprocessor_config.json)
    extractor = Wav2Vec2FeatureExtractor(feature_size=1, sampling_rate=SAMPLE_RATE, padding_value=0.0, do_normalize=True,
                                         return_attention_mask=config.do_stable_layer_norm)
    return pipeline("audio-classification", model=model, feature_extractor=extractor, device="cpu")


def run(waves: dict[float, np.ndarray], runs: int = RUNS, large_lengths: tuple[float, ...] | None = None) -> dict:
    """{peer: {"params_m", "build_s", "clips": {"4s": {...}}}}; the large peer only on `large_lengths` (default all)."""
    results = {}
    for name in PEERS:
        start = time.perf_counter()
        pipe = build_pipeline(name)
        entry = {"params_m": round(sum(p.numel() for p in pipe.model.parameters()) / 1e6, 1),
                 "build_s": round(time.perf_counter() - start, 1), "clips": {}}
        lengths = waves if large_lengths is None or name == "wav2vec2-base" else large_lengths
        for seconds in lengths:
            wave = waves[seconds]
            entry["clips"][f"{seconds:g}s"] = measure(lambda: pipe({"raw": wave, "sampling_rate": SAMPLE_RATE}), runs)
            print(f"  peer {name} {seconds:g} s: {entry['clips'][f'{seconds:g}s']['median_ms']} ms", flush=True)
        results[name] = entry
        del pipe
        gc.collect()  # the large model holds 1.3 GB; free it before the next benchmark
    return results
