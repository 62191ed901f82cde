"""An archive's files, the key that says whether each is already labelled, and the folder of part files the rows go to.

Inputs are local files, folders (searched recursively) and glob patterns, expanded as the in-process CLI expands them,
or URIs of any filesystem pyarrow reads (`s3://bucket/calls/`, `gs://...`, `hdfs://...`, `file:///...`): a URI folder
is searched recursively too. Each file is keyed by its path as given, its size and its modification time; a rerun with
the same output skips every key the output already holds, so a file that changed since is labelled again.

The output is a folder (`labels.parquet/`, `labels.csv/`) of part files that Parquet and CSV readers (pyarrow, pandas,
DuckDB, Spark) read as one table. A part is written under a hidden name and then renamed, so an interrupted run leaves
no half-written part; its name is a digest of the files it holds, so a retried write replaces its own part.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ser.cli.inputs import AUDIO_SUFFIXES, expand_paths

KEY_COLUMNS = ("file_size", "file_mtime_ns")  # beside "file": the resume key, after the in-process CLI's columns
OUTPUT_FORMATS = ("parquet", "csv")
PART_PREFIX = "part-"
HIDDEN_PREFIX = "."  # pyarrow, pandas, DuckDB and Spark skip files whose names start with "." or "_"
DIGEST_CHARS = 16  # hex digits of a part's name: collisions between batches are out of reach at any archive size


class ArchiveError(ValueError):
    """An input or output that cannot serve; the message is one sentence for the user."""


@dataclass(frozen=True)
class Entry:
    """One file to label: its path or URI, size and modification time, or why it cannot be read."""

    file: str
    size: int | None = None
    mtime_ns: int | None = None
    error: str | None = None

    @property
    def key(self) -> tuple[str, int | None, int | None]:
        return self.file, self.size, self.mtime_ns


def is_uri(path: str) -> bool:
    return "://" in path


def _local_entry(path: str, error: str | None) -> Entry:
    if error is not None:
        return Entry(path, error=error)
    stat = os.stat(path)
    return Entry(path, stat.st_size, stat.st_mtime_ns)


def _is_audio_name(path: str) -> bool:
    name = path.rsplit("/", 1)[-1]
    return name.lower().endswith(AUDIO_SUFFIXES) and not name.startswith(".")


def _uri_entries(uri: str) -> list[Entry]:
    """The audio files under a URI (recursively), or one error entry when it cannot be listed."""
    from pyarrow import fs

    try:
        filesystem, root = fs.FileSystem.from_uri(uri)
        info = filesystem.get_file_info(root)
        if info.type == fs.FileType.NotFound:
            return [Entry(uri, error=f"Nothing exists at {uri!r}; check the address.")]
        if info.type == fs.FileType.File:
            found = [info]
        else:
            found = sorted((i for i in filesystem.get_file_info(fs.FileSelector(root, recursive=True))
                            if i.type == fs.FileType.File and _is_audio_name(i.path)), key=lambda i: i.path)
            if not found:
                return [Entry(uri, error=f"The folder {uri!r} holds no audio files ({', '.join(AUDIO_SUFFIXES)}).")]
    except Exception as err:  # unknown scheme, no credentials, no network: one sentence, and the rest of the run goes on
        return [Entry(uri, error=f"{uri!r} cannot be listed ({type(err).__name__}); check the address and its credentials.")]
    # each file's URI is the given one plus its path below the given folder (keeps any host:port of hdfs:// and the like)
    return [Entry(uri.rstrip("/") + i.path[len(root.rstrip("/")):], i.size, i.mtime_ns) for i in found]


def list_entries(patterns: Iterable[str]) -> list[Entry]:
    """Every file the patterns name, once each: local paths as `python -m ser predict` expands them, then URIs."""
    patterns = list(patterns)
    entries = [_local_entry(path, error) for path, error in expand_paths([p for p in patterns if not is_uri(p)])]
    seen = {e.file for e in entries}
    for uri in (p for p in patterns if is_uri(p)):
        for entry in _uri_entries(uri):
            if entry.file not in seen:
                seen.add(entry.file)
                entries.append(entry)
    return entries


def read_bytes(uri: str) -> bytes:
    """A file's bytes through pyarrow's filesystem for its scheme (decoded in memory: workers need no local copy)."""
    from pyarrow import fs

    filesystem, path = fs.FileSystem.from_uri(uri)
    with filesystem.open_input_stream(path) as stream:
        return stream.read()


@dataclass(frozen=True)
class Output:
    """Where the part files go: a folder path or URI, and their format."""

    location: str
    format: str = "parquet"

    def filesystem(self):
        """(pyarrow filesystem, folder path on it)."""
        from pyarrow import fs

        if is_uri(self.location):
            return fs.FileSystem.from_uri(self.location)
        return fs.LocalFileSystem(), str(Path(self.location).expanduser().resolve())


def output_format(requested: str | None, out: str) -> str:
    """--format csv or a .csv folder: CSV parts; otherwise Parquet."""
    if requested:
        return requested
    return "csv" if out.rstrip("/").lower().endswith(".csv") else "parquet"


def prepare(output: Output) -> None:
    """Create the output folder (with its parents on object stores), refusing an existing file in its place, and remove
    the hidden parts an interrupted run left half-written."""
    from pyarrow import fs

    filesystem, root = output.filesystem()
    info = filesystem.get_file_info(root)
    if info.type == fs.FileType.File:
        raise ArchiveError(f"{output.location!r} is a file; the Ray engine writes a folder of part files, so give a folder "
                           "name such as labels.parquet.")
    if not is_uri(output.location) and not Path(root).parent.is_dir():
        raise ArchiveError(f"Cannot write {output.location!r}: its folder does not exist.")
    filesystem.create_dir(root, recursive=True)
    for part in _listing(filesystem, root):
        if part.base_name.startswith(HIDDEN_PREFIX + PART_PREFIX):
            filesystem.delete_file(part.path)


def _listing(filesystem, root: str) -> list:
    from pyarrow import fs

    return filesystem.get_file_info(fs.FileSelector(root, allow_not_found=True))


def done_keys(output: Output) -> set[tuple[str, int | None, int | None]]:
    """The (file, size, mtime) keys already in the output's part files: what a rerun skips."""
    import pyarrow as pa
    import pyarrow.dataset as ds
    from pyarrow import csv as pacsv

    filesystem, root = output.filesystem()
    key_types = {"file": pa.string(), KEY_COLUMNS[0]: pa.int64(), KEY_COLUMNS[1]: pa.int64()}
    file_format = ds.ParquetFileFormat() if output.format == "parquet" else ds.CsvFileFormat(
        convert_options=pacsv.ConvertOptions(column_types=key_types, strings_can_be_null=True))
    parts = [i.path for i in _listing(filesystem, root) if i.base_name.startswith(PART_PREFIX)]
    if not parts:
        return set()
    table = ds.dataset(parts, filesystem=filesystem, format=file_format).to_table(columns=list(key_types))
    return set(zip(*(table.column(c).to_pylist() for c in key_types)))


def part_name(keys: Iterable[tuple], file_format: str) -> str:
    """A part's name from the keys of the files it holds: the same batch written twice (a retried task) keeps one part."""
    digest = hashlib.sha1("\n".join(f"{f}\t{s}\t{m}" for f, s, m in sorted(set(keys), key=str)).encode()).hexdigest()
    return f"{PART_PREFIX}{digest[:DIGEST_CHARS]}.{file_format}"


def write_part(table, keys: Iterable[tuple], output: Output) -> str:
    """Write `table` as one part file: under a hidden name first, then renamed into place. Returns the part's name."""
    import pyarrow.parquet as pq
    from pyarrow import csv as pacsv

    filesystem, root = output.filesystem()
    name = part_name(keys, output.format)
    hidden, final = f"{root}/{HIDDEN_PREFIX}{name}", f"{root}/{name}"
    with filesystem.open_output_stream(hidden) as stream:
        if output.format == "parquet":
            pq.write_table(table, stream)
        else:
            pacsv.write_csv(csv_ready(table), stream)
    filesystem.move(hidden, final)
    return name


def csv_ready(table):
    """True/False as the in-process CSV writes them (pyarrow would write true/false); empty cells for missing values."""
    import pyarrow as pa
    import pyarrow.compute as pc

    for i, field in enumerate(table.schema):
        if pa.types.is_boolean(field.type):
            table = table.set_column(i, field.name, pc.if_else(table.column(i), "True", "False"))
    return table
