"""Share models on the Hugging Face Hub: check a model directory, pull one into the HF cache, push one with a card.

A model directory holds `config.json` (with "kind", "labels", "sample_rate", ...), one or more `*.safetensors`
weight files, optionally `checksums.json` ({filename: sha256}), `preprocessor_config.json` and `README.md`.
A transformers audio-classification checkpoint (no "kind", but "architectures" / "id2label") counts as the kind
"hf_audio_classification".

Safety: nothing that can run code is ever downloaded or accepted (pickles, Python, shared libraries), weights are
checked against `checksums.json`, a pull never waits on a silent network for longer than its timeout per request,
and a repo whose files to download add up to more than `SER_MAX_HUB_MODEL_MB` is refused before anything is fetched.
Every failure is a `HubError` whose message is one sentence for the user; `HubUnavailable` means "no Hub and no
cached copy", which callers answer by falling back to the embedded default model (`error.fallback_message()`).
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx2
from huggingface_hub import HfApi, constants, get_token, snapshot_download
from huggingface_hub.errors import (
    GatedRepoError,
    HfHubHTTPError,
    HFValidationError,
    LocalEntryNotFoundError,
    OfflineModeIsEnabled,
    RepositoryNotFoundError,
    RevisionNotFoundError,
)
from huggingface_hub.utils import filter_repo_objects, validate_repo_id

from ser import settings
from ser.models.hub.card import write_card
from ser.models.base import (  # noqa: F401  (re-exported: one safety check for local dirs and Hub repos)
    CODE_SUFFIXES,
    HF_KIND,
    MODEL_KINDS,
    PICKLE_SUFFIXES,
    ModelError,
    _refusal,
    check_model_files,
    model_kind,
    sha256_file,
    write_checksums,
)
from ser.models.hub.network import EVERYTHING, Guard, HubSilent, guarded

# Only these are ever downloaded, whatever else the repo holds.
DOWNLOAD_PATTERNS = ["*.json", "*.safetensors", "*.md", "*.txt"]

DEFAULT_TIMEOUT = 10.0  # seconds a request may wait for the Hub before it counts as unreachable
PUSH_TIMEOUT = 120.0  # per network wait while pushing: the Hub can take a while to commit big files
OFFLINE_REASON = "Offline mode is on (HF_HUB_OFFLINE=1)"
NO_TOKEN_MESSAGE = "No Hugging Face token: run `hf auth login` or set HF_TOKEN."
REF_HELP = "expected owner/name or owner/name@revision, e.g. my-user/ser-whisper-head@v1"
REVISION_RE = re.compile(r"[A-Za-z0-9][\w.\-/]{0,199}")


class HubError(ModelError):
    """A Hub operation failed; str(error) is one sentence for the user."""


class HubUnavailable(HubError):
    """The Hub could not be reached (offline, timeout, server error) and no cached copy exists."""

    def fallback_message(self) -> str:
        return f"{str(self).rstrip('.')}; falling back to the embedded default model."


@dataclass(frozen=True)
class PullResult:
    path: Path  # snapshot directory in the HF cache, already checked by check_model_dir
    source: str  # "hub" (fetched or confirmed online) or "cache" (Hub unreachable or offline)
    message: str  # one sentence to show the user


# ---------------------------------------------------------------- ids


def parse_model_ref(ref: str) -> tuple[str, str | None]:
    """Split "owner/name[@revision]" into (repo_id, revision or None); raises HubError if malformed."""
    if not isinstance(ref, str) or not ref.strip():
        raise HubError(f"Empty model id: {REF_HELP}.")
    repo_id, _, revision = ref.strip().partition("@")
    try:
        validate_repo_id(repo_id)
    except HFValidationError:
        repo_id = ""
    if repo_id.count("/") != 1 or (revision and (not REVISION_RE.fullmatch(revision) or ".." in revision)) \
            or ("@" in ref and not revision):
        raise HubError(f"'{ref}' is not a Hub model id: {REF_HELP}.")
    return repo_id, revision or None


def looks_like_hub_id(ref: str) -> bool:
    """True if `ref` reads as a Hub id and is not an existing local path (callers check local dirs first)."""
    try:
        parse_model_ref(ref)
    except HubError:
        return False
    return not Path(ref).expanduser().exists()


# ---------------------------------------------------------------- model directories


def check_model_dir(path: str | Path, label: str | None = None) -> dict[str, Any]:
    """`ser.models.base.check_model_files`, with its refusals raised as `HubError`."""
    try:
        return check_model_files(path, label)
    except HubError:
        raise
    except ModelError as error:
        raise HubError(str(error)) from None


# ---------------------------------------------------------------- errors


def _offline() -> bool:
    """HF_HUB_OFFLINE, also when it was set after huggingface_hub read its constants."""
    env = os.environ.get("HF_HUB_OFFLINE") or os.environ.get("TRANSFORMERS_OFFLINE") or ""
    return constants.is_offline_mode() or env.upper() in constants.ENV_VARS_TRUE_VALUES


def _status(error: BaseException) -> int | None:
    return getattr(getattr(error, "response", None), "status_code", None)


def _first_line(error: BaseException) -> str:
    return f"{type(error).__name__}: {(str(error).strip().splitlines() or [''])[0]}"


def _unreachable_reason(error: BaseException) -> str | None:
    """Start of the user's message if `error` means "no usable Hub right now" (a cache may serve), else None."""
    if isinstance(error, HubSilent):
        return str(error)
    if isinstance(error, OfflineModeIsEnabled):
        return OFFLINE_REASON
    if isinstance(error, httpx2.TransportError) and not isinstance(error, httpx2.ProxyError):
        return f"Hub unreachable at {constants.ENDPOINT}"
    if isinstance(error, HfHubHTTPError) and (_status(error) or 0) >= 500:
        return f"The Hub answered with an error (HTTP {_status(error)})"
    if isinstance(error, LocalEntryNotFoundError):  # huggingface_hub could neither download nor find a cached file
        return f"Hub unreachable at {constants.ENDPOINT}"
    return None


def _explain(error: BaseException, ref: str, revision: str | None) -> HubError:
    """One sentence for an error the Hub answered with (not found, refused, ...)."""
    status = _status(error)
    if isinstance(error, RevisionNotFoundError):
        return HubError(f"The model {ref} has no revision '{revision or 'main'}' on the Hub.")
    if isinstance(error, GatedRepoError):
        return HubError(f"The model {ref} is gated: accept its conditions on the Hub, then log in with "
                        "`hf auth login` or set HF_TOKEN.")
    if isinstance(error, RepositoryNotFoundError) and status == 401:
        return HubError(f"No model {ref} on the Hub, or it is private and you are not logged in (check the id, "
                        "or run `hf auth login`).")
    if isinstance(error, RepositoryNotFoundError):
        return HubError(f"No model {ref} on the Hub (check the id).")
    if status == 401:
        return HubError("The Hub rejected your token (HTTP 401): run `hf auth login` again or set a valid "
                        "HF_TOKEN.")
    if status == 403:
        return HubError(f"The Hub refused access to {ref} (HTTP 403): your token lacks the permission needed.")
    if status is not None:
        return HubError(f"The Hub answered with HTTP {status} for {ref}.")
    return HubError(f"Could not fetch {ref} from the Hub ({_first_line(error)}).")


# ---------------------------------------------------------------- pull


def _refuse_unsafe_listing(ref: str, filenames: list[str]) -> None:
    """Refuse a repo that ships pickles or code, before downloading anything from it."""
    for name in filenames:
        suffix = Path(name).suffix.lower()
        if suffix in PICKLE_SUFFIXES or suffix in CODE_SUFFIXES:
            raise HubError(_refusal(name, f"The Hub repo {ref}"))


def _download_bytes(siblings: list[Any]) -> int:
    """Bytes a pull would download (the files matching DOWNLOAD_PATTERNS); a file whose size the Hub did not give
    counts as 0, so unknown sizes never refuse a model on their own."""
    total = 0
    for sibling in filter_repo_objects(siblings, allow_patterns=DOWNLOAD_PATTERNS, key=lambda s: s.rfilename):
        total += max(sibling.size or 0, (sibling.lfs.size or 0) if sibling.lfs else 0)
    return total


def _megabytes(size: float) -> str:
    return f"{size:.1f}" if size < 10 else f"{size:.0f}"


def _refuse_too_big(ref: str, siblings: list[Any]) -> None:
    """Refuse a repo whose model files add up to more than SER_MAX_HUB_MODEL_MB, before downloading anything."""
    size, limit = _download_bytes(siblings), settings.max_hub_model_mb()
    if size > limit * 1e6:
        raise HubError(f"The model {ref} is {_megabytes(size / 1e6)} MB to download, more than the {limit:g} MB "
                       "allowed (SER_MAX_HUB_MODEL_MB); pick a smaller model or raise that limit.")


def _cached(repo_id: str, revision: str | None, ref: str, reason: str) -> PullResult:
    """The cached snapshot of `ref` (checked like a download), or HubUnavailable if there is none."""
    try:
        path = snapshot_download(repo_id, revision=revision, allow_patterns=DOWNLOAD_PATTERNS, local_files_only=True)
    except (LocalEntryNotFoundError, OSError, ValueError):
        raise HubUnavailable(f"{reason} and there is no cached copy of {ref}.") from None
    check_model_dir(path, ref)
    return PullResult(Path(path), "cache", f"{reason}; using the cached copy of {ref}.")


def pull(ref: str, timeout: float = DEFAULT_TIMEOUT, token: str | None = None) -> PullResult:
    """Download the model `owner/name[@revision]` into the HF cache, or use the cached copy if the Hub is unusable.

    Each request waits at most `timeout` seconds and a failure is not retried. Raises HubError for a bad id, a
    missing or refused repo, a model bigger than `settings.max_hub_model_mb()`, or an unsafe or corrupted model;
    HubUnavailable when neither the Hub nor the cache can serve it.
    """
    repo_id, revision = parse_model_ref(ref)
    if _offline():
        return _cached(repo_id, revision, ref, OFFLINE_REASON)
    guard = Guard(timeout=timeout, fail_fast=True)
    try:
        with guarded(f"/{repo_id}/", guard):
            # files_metadata: each file's size, so an oversized repo is refused before its download starts
            info = HfApi(token=token).model_info(repo_id, revision=revision, timeout=timeout, files_metadata=True)
            _refuse_unsafe_listing(ref, [sibling.rfilename for sibling in info.siblings or []])
            _refuse_too_big(ref, info.siblings or [])
            path = snapshot_download(repo_id, revision=revision, allow_patterns=DOWNLOAD_PATTERNS,
                                     etag_timeout=timeout, token=token)
    except HubError:
        raise
    except Exception as error:  # every failure becomes one sentence; an unusable Hub may still leave a cache
        reason = guard.reason or _unreachable_reason(error)
        if reason is None:
            raise _explain(error, ref, revision) from None
        return _cached(repo_id, revision, ref, reason)
    check_model_dir(path, ref)
    if guard.reason is not None:  # huggingface_hub quietly finished from cached files after a failure
        return PullResult(Path(path), "cache", f"{guard.reason}; using the cached copy of {ref}.")
    return PullResult(Path(path), "hub", f"Fetched {ref} from the Hub (commit {Path(path).name[:7]}).")


# ---------------------------------------------------------------- push


def _push_error(error: BaseException, repo_id: str) -> HubError:
    status = _status(error)
    if status == 401 or isinstance(error, RepositoryNotFoundError):
        return HubError(f"The Hub rejected the push to {repo_id} (HTTP {status or 401}): your token is invalid or "
                        "expired; run `hf auth login` again or set a valid HF_TOKEN.")
    if status == 403:
        return HubError(f"The Hub refused the push to {repo_id} (HTTP 403): your token has no write access to "
                        f"'{repo_id.split('/')[0]}'.")
    if (reason := _unreachable_reason(error)) is not None:
        return HubError(f"{reason}; nothing was pushed to {repo_id}.")
    return HubError(f"The push to {repo_id} failed ({_first_line(error)}).")


def push(model_dir: str | Path, repo_id: str, private: bool = False, revision: str | None = None,
         token: str | None = None, report: dict[str, Any] | None = None) -> str:
    """Upload a checked model directory with checksums.json and a generated model card; returns the repo URL.

    `report` ({"models": {name: {"uar": .., "accuracy": .., "macro_f1": ..}}}) overrides config.json "metrics".
    Writes checksums.json and README.md into `model_dir` first, so the directory matches the Hub repo.
    """
    repo_id, ref_revision = parse_model_ref(repo_id)
    revision = revision or ref_revision
    if revision is not None:
        parse_model_ref(f"{repo_id}@{revision}")  # same rules as for pulls
    folder = Path(model_dir)
    config = check_model_dir(folder)
    try:
        token = token or get_token()
    except Exception as error:  # e.g. a failed OIDC token exchange in CI
        raise HubError(f"Could not get your Hugging Face token ({_first_line(error)}).") from None
    if not token:
        raise HubError(NO_TOKEN_MESSAGE)
    try:
        write_checksums(folder)
        write_card(folder, config, repo_id, report)
    except (OSError, ValueError) as error:  # read-only directory, metadata the card format rejects
        raise HubError(f"Could not write checksums.json and README.md into {folder} ({_first_line(error)}).") from None
    api = HfApi(token=token)
    try:
        with guarded(EVERYTHING, Guard(timeout=PUSH_TIMEOUT, fail_fast=False)):
            # private=None lets a namespace that defaults to private keep its default
            url = str(api.create_repo(repo_id, private=private or None, exist_ok=True))
            if revision:
                api.create_branch(repo_id, branch=revision, exist_ok=True)
            api.upload_folder(repo_id=repo_id, folder_path=folder, revision=revision,
                              allow_patterns=DOWNLOAD_PATTERNS, commit_message=f"Upload {config['kind']} model")
    except Exception as error:  # every failure becomes one sentence
        raise _push_error(error, repo_id) from None
    return f"{url}/tree/{revision}" if revision else url
