"""The steps each Ray worker runs, one function per step, on Arrow tables: decode a batch of files, classify it, write it.

They call the in-process CLI's own functions (`ser.cli.inputs.decode`, `ser.cli.rows.predict_rows`, `ser.cli.formats.records`),
so both engines give the same rows; nothing here imports Ray, and every step can be called on its own.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ser.audio.load import SAMPLE_RATE
from ser.cli.profiles import Profiles
from ser.cli.scale.archive import KEY_COLUMNS, Entry, Output, is_uri, read_bytes, write_part

AUDIO_S_COLUMN = "_audio_s"  # seconds of audio, on a file's first row only: for the progress bar, never written out
WAVE_DTYPE = np.float32  # what load_audio returns; decoded waves travel between workers as its raw bytes


@dataclass(frozen=True)
class ClipOptions:
    """The per-clip options of `python -m ser predict`, as every classifying actor needs them."""

    model: str | None = None  # a shipped name, a folder every worker can read, or a Hub id
    timeline: bool = False
    merge_calm_neutral: bool = False
    batch_size: int = 8
    threads: int | None = None  # torch threads per actor
    profiles: Profiles | None = None  # --profile / --speaker-folders: each file's voice profile (built once, by the driver)


def decoded_schema():
    import pyarrow as pa

    return pa.schema([("file", pa.string()), (KEY_COLUMNS[0], pa.int64()), (KEY_COLUMNS[1], pa.int64()),
                      ("wave", pa.large_binary()), ("error", pa.string())])


def entries_table(entries: list[Entry]):
    """The files to label as a table: the job's input."""
    import pyarrow as pa

    return pa.table({"file": [e.file for e in entries], KEY_COLUMNS[0]: [e.size for e in entries],
                     KEY_COLUMNS[1]: [e.mtime_ns for e in entries], "wave": [None] * len(entries),
                     "error": [e.error for e in entries]}, schema=decoded_schema())


def decode_batch(batch):
    """Decode every file of the batch (`ser.cli.inputs.decode`: a wave or one sentence, never an exception)."""
    import pyarrow as pa

    from ser.cli.inputs import decode

    waves, errors = [], []
    sizes = batch.column(KEY_COLUMNS[0]).to_pylist()
    for file, size, error in zip(batch.column("file").to_pylist(), sizes, batch.column("error").to_pylist()):
        wave = None
        if error is None:
            wave, error = decode(file) if not is_uri(file) else _decode_uri(file, size)
        waves.append(None if wave is None else np.asarray(wave, dtype=WAVE_DTYPE).tobytes())
        errors.append(error)
    return (batch.set_column(batch.schema.get_field_index("wave"), "wave", pa.array(waves, pa.large_binary()))
            .set_column(batch.schema.get_field_index("error"), "error", pa.array(errors, pa.string())))


def _decode_uri(uri: str, size: int | None) -> tuple[np.ndarray | None, str | None]:
    """A remote file read into memory and decoded; one over the upload cap is refused before it is read, as a local one is."""
    from ser import settings
    from ser.cli.inputs import decode

    if size is not None and size > settings.max_upload_mb() * 1e6:
        return None, (f"The file {uri.rsplit('/', 1)[-1]!r} is {size / 1e6:.0f} MB, more than the "
                      f"{settings.max_upload_mb():.0f} MB limit; split it or raise SER_MAX_UPLOAD_MB.")
    try:
        data = read_bytes(uri)
    except Exception as err:
        return None, f"{uri!r} could not be read ({type(err).__name__}); check the address and its credentials."
    return decode(data)


def row_schema(labels: list[str], timeline: bool, genders: list[str]):
    """The in-process CLI's columns (`ser.cli.formats.columns`), typed, then the resume key and the progress column."""
    import pyarrow as pa

    from ser.cli.formats import columns

    types = {"file": pa.string(), "label": pa.string(), "error": pa.string(), "gender": pa.string(), "profile": pa.string(),
             "unsure": pa.bool_(), "unlike_training": pa.bool_()}
    fields = [(name, types.get(name, pa.float64())) for name in columns(labels, timeline, genders)]
    return pa.schema(fields + [(KEY_COLUMNS[0], pa.int64()), (KEY_COLUMNS[1], pa.int64()), (AUDIO_S_COLUMN, pa.float64())])


class Classifier:
    """An actor's state: the model, loaded once when Ray starts the actor, and the output columns it gives."""

    def __init__(self, options: ClipOptions):
        from ser.encoders.timing import measure_if_needed
        from ser.labels import merge_calm_neutral
        from ser.models import load_model

        if options.threads is not None:
            import torch

            torch.set_num_threads(options.threads)
        self.options = options
        self.model = load_model(options.model)
        measure_if_needed(self.model)  # the encoder's fastest path on this node, timed once per machine, as the CLI does
        labels = list(self.model.labels)
        if options.merge_calm_neutral:
            labels = merge_calm_neutral(labels, np.zeros(len(labels)))[0]
        self.labels, self.genders = labels, list(self.model.gender_labels or [])
        self.schema = row_schema(self.labels, options.timeline, self.genders)

    def __call__(self, batch):
        """A batch of decoded files -> their rows, exactly as `python -m ser predict` computes them."""
        import pyarrow as pa

        from ser.cli.formats import records
        from ser.cli.rows import predict_rows

        files = batch.column("file").to_pylist()
        keys = dict(zip(files, zip(batch.column(KEY_COLUMNS[0]).to_pylist(), batch.column(KEY_COLUMNS[1]).to_pylist())))
        stream = [(file, None if data is None else np.frombuffer(data, dtype=WAVE_DTYPE).copy(), error)
                  for file, data, error in zip(files, batch.column("wave").to_pylist(), batch.column("error").to_pylist())]
        seconds = {file: (0.0 if wave is None else wave.size / SAMPLE_RATE) for file, wave, _ in stream}
        opts = self.options
        rows = predict_rows(self.model, stream, opts.timeline, opts.merge_calm_neutral, opts.batch_size, None, opts.profiles)
        out, counted = [], set()
        for record in records(list(rows), self.labels, opts.timeline, self.genders):
            file = record["file"]
            record.update(zip(KEY_COLUMNS, keys[file]))
            record[AUDIO_S_COLUMN] = 0.0 if file in counted else seconds[file]
            counted.add(file)
            out.append(record)
        return pa.Table.from_pylist(out, schema=self.schema)


def write_batch(batch, output: Output):
    """Rows -> one part file; returns what the progress bar counts: files, failed files, rows, seconds of audio."""
    import pyarrow as pa
    import pyarrow.compute as pc

    keys = list(zip(*(batch.column(c).to_pylist() for c in ("file", *KEY_COLUMNS))))
    name = write_part(batch.drop_columns([AUDIO_S_COLUMN]), keys, output)
    failed = len(set(pc.filter(batch.column("file"), pc.is_valid(batch.column("error"))).to_pylist()))
    return pa.table({"part": [name], "files": [len(set(k[0] for k in keys))], "failed": [failed], "rows": [batch.num_rows],
                     "audio_s": [float(pc.sum(batch.column(AUDIO_S_COLUMN)).as_py() or 0.0)]})
