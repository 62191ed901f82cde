"""Bounded network time for huggingface_hub calls, so a silent or failing Hub cannot hold a pull for minutes.

huggingface_hub sends some requests with no timeout at all (repo info, tree listing, commits), retries a timed-out
file HEAD with a 60 s timeout and five back-offs, and retries HTTP 5xx answers. While `guarded()` is active, a
wrapper around the transports of huggingface_hub's shared client caps every socket wait on matching URLs at the
given timeout and, with fail_fast, answers every later request at once with `HubSilent` after the first network
failure or 5xx. huggingface_hub treats that exception like offline mode: no retry, straight to the local cache.
"""

from __future__ import annotations

import contextlib
import threading
from dataclasses import dataclass
from typing import Iterator

import httpx2
import huggingface_hub
from huggingface_hub import constants
from huggingface_hub.errors import OfflineModeIsEnabled

TIMEOUT_KEYS = ("connect", "read", "write", "pool")
EVERYTHING = "/"  # a fragment every URL path contains


class HubSilent(OfflineModeIsEnabled):
    """A guarded request found the Hub unusable (no answer in time, no connection, or 5xx); never retried."""


@dataclass
class Guard:
    timeout: float  # seconds, per socket operation
    fail_fast: bool  # pulls give up after the first failure; pushes only bound each wait
    reason: str | None = None  # set at the first failure: the start of the user's message

    def fail(self, reason: str) -> HubSilent:
        self.reason = self.reason or reason
        return HubSilent(self.reason)


_GUARDS: dict[str, list[Guard]] = {}  # URL path fragment ("/owner/name/" or EVERYTHING) -> active guards
_LOCK = threading.Lock()
_installed = False


def _guard_for(path: str) -> Guard | None:
    with _LOCK:
        for fragment in sorted(_GUARDS, key=len, reverse=True):  # the most specific guard wins
            if fragment in path + "/":
                return _GUARDS[fragment][-1]
    return None


class _GuardedTransport(httpx2.BaseTransport):
    def __init__(self, inner: httpx2.BaseTransport) -> None:
        self._inner = inner

    def handle_request(self, request: httpx2.Request) -> httpx2.Response:
        guard = _guard_for(request.url.path)
        if guard is None:
            return self._inner.handle_request(request)
        if guard.fail_fast and guard.reason is not None:
            raise HubSilent(guard.reason)
        limits = request.extensions.get("timeout") or {}
        request.extensions = {**request.extensions, "timeout": {
            key: guard.timeout if limits.get(key) is None else min(limits[key], guard.timeout) for key in TIMEOUT_KEYS}}
        try:
            response = self._inner.handle_request(request)
        except (httpx2.TimeoutException, httpx2.NetworkError) as error:
            if not guard.fail_fast:
                raise
            raise guard.fail(f"Hub unreachable at {constants.ENDPOINT}") from error
        if guard.fail_fast and response.status_code >= 500:
            guard.fail(f"The Hub answered with an error (HTTP {response.status_code})")  # this answer still goes back
        return response

    def close(self) -> None:
        self._inner.close()


def _install() -> None:
    """Wrap the transports of huggingface_hub's shared client, chaining whatever client factory is configured."""
    global _installed
    with _LOCK:
        if _installed:
            return
        from huggingface_hub.utils import _http

        previous = getattr(_http, "_GLOBAL_CLIENT_FACTORY", _http.default_client_factory)

        def factory() -> httpx2.Client:
            client = previous()
            if isinstance(getattr(client, "_transport", None), httpx2.BaseTransport):
                client._transport = _GuardedTransport(client._transport)
            mounts = getattr(client, "_mounts", None)  # proxy transports from the environment
            if isinstance(mounts, dict):
                client._mounts = {k: t if t is None else _GuardedTransport(t) for k, t in mounts.items()}
            return client

        huggingface_hub.set_client_factory(factory)
        _installed = True


@contextlib.contextmanager
def guarded(fragment: str, guard: Guard) -> Iterator[Guard]:
    """Apply `guard` to huggingface_hub requests whose URL path contains `fragment`, from any thread."""
    _install()
    with _LOCK:
        _GUARDS.setdefault(fragment, []).append(guard)
    try:
        yield guard
    finally:
        with _LOCK:
            _GUARDS[fragment].remove(guard)
            if not _GUARDS[fragment]:
                del _GUARDS[fragment]
