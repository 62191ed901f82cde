"""A small, real Hugging Face Hub look-alike for tests: an HTTP server on 127.0.0.1 that keeps repos in memory.

It answers the endpoints huggingface_hub 2.4.0 uses for create_repo, create_branch, upload_folder
(preupload says "regular" for every file, so no LFS and no Xet), model_info / repo_info, list_repo_tree,
and hf_hub_download / snapshot_download (HEAD and GET on /{repo}/resolve/{revision}/{file}).
Like the real Hub, model_info lists only file names unless asked for `?blobs=true` (`files_metadata=True`), which
adds each file's `blobId` and `size`, and `lfs` ({sha256, size, pointerSize}) for the files .gitattributes sends to
LFS (*.safetensors, *.bin). `server.report_sizes = False` leaves sizes out (a Hub that does not say).

Failure modes (set `server.mode`): "ok", "error500" (everything answers 500), "notfound" (everything 404),
"hang" (accept connections, never answer). `server.fail_only = "/resolve/"` limits a failure mode to URL paths
containing that text (here: file downloads fail, the API still answers).
`server.require_token = True` answers 401 to requests without a known token; read-only tokens get 403 on writes.

Point huggingface_hub at it with `hub_env(server.url, hf_home)` in a subprocess: HF_ENDPOINT is read at import.
"""

from __future__ import annotations

import base64
import json
import os
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

from tests.hub_repos import GITATTRIBUTES, Repo, git_blob_id, sibling_metadata

PROJECT_ROOT = Path(__file__).resolve().parent.parent
USER = "tester"
WRITE_TOKEN = "hf_test_write_token"
READ_TOKEN = "hf_test_read_token"
MODES = ("ok", "error500", "notfound", "hang")
class HubServer:
    """In-memory Hub on a random free port. Use as a context manager, or call start() / stop()."""

    def __init__(self) -> None:
        self.repos: dict[str, Repo] = {}
        self.mode = "ok"
        self.fail_only = ""  # a failure mode applies only to paths containing this ("" = all paths)
        self.require_token = False
        self.report_sizes = True  # False: `?blobs=true` answers without file sizes
        self.tokens = {WRITE_TOKEN: "write", READ_TOKEN: "read"}
        self.requests: list[tuple[str, str]] = []
        self._release = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}"

    def start(self) -> HubServer:
        handler = type("BoundHandler", (_Handler,), {"hub": self})
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._release.set()  # frees handlers stuck in a "hang" mode
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> HubServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def add_repo(self, repo_id: str, files: dict[str, bytes], branch: str = "main", private: bool = False) -> str:
        """Seed a repo directly (e.g. a malicious one push would refuse); returns the new commit sha."""
        repo = self.repos.setdefault(repo_id, Repo(private=private))
        if not repo.branches:
            repo.commit("main", {".gitattributes": GITATTRIBUTES})
        if branch not in repo.branches:
            repo.branches[branch] = repo.branches["main"]
        return repo.commit(branch, files)

    def files(self, repo_id: str, revision: str = "main") -> dict[str, bytes]:
        repo = self.repos[repo_id]
        return repo.commits[repo.resolve(revision)]

    def wait_forever(self) -> None:
        self._release.wait()


class _Handler(BaseHTTPRequestHandler):
    hub: HubServer
    server_version = "TestHub/1.0"

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - stdlib signature
        pass  # quiet: requests are recorded in hub.requests instead

    # ---------------------------------------------------------------- plumbing

    def _answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None,
                content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: int, data: object, headers: dict[str, str] | None = None) -> None:
        self._answer(status, json.dumps(data).encode(), headers)

    def _error(self, status: int, message: str, code: str | None = None, headers: dict[str, str] | None = None) -> None:
        extra = {"X-Error-Message": message, **(headers or {})}
        if code:
            extra["X-Error-Code"] = code
        self._json(status, {"error": message}, extra)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    def _token_scope(self) -> str | None:
        auth = self.headers.get("Authorization") or ""
        return self.hub.tokens.get(auth.removeprefix("Bearer ").strip()) if auth.startswith("Bearer ") else None

    def _dispatch(self) -> None:
        hub = self.hub
        url = urlsplit(self.path)
        path = url.path
        self.query = {key: values[-1] for key, values in parse_qs(url.query).items()}
        hub.requests.append((self.command, path))
        failing = hub.mode if hub.fail_only in path else "ok"
        if failing == "hang":
            hub.wait_forever()
            self.close_connection = True
            return
        if failing == "error500":
            return self._error(500, "Internal Error - We're working hard to fix this as soon as possible!")
        if failing == "notfound":
            return self._error(404, "Repository not found", "RepoNotFound")
        if path == "/api/agent-harnesses":
            return self._json(200, {"standardEnvVars": [], "harnesses": {}})
        scope = self._token_scope()
        if hub.require_token and scope is None:
            return self._error(401, "Invalid credentials in Authorization header")
        parts = [unquote(p) for p in path.strip("/").split("/")]
        try:
            self._route(parts, scope)
        except (KeyError, ValueError, json.JSONDecodeError) as error:
            self._error(400, f"Bad request: {error}")

    do_GET = do_HEAD = do_POST = _dispatch

    def _route(self, parts: list[str], scope: str | None) -> None:
        method = self.command
        if parts[:2] == ["api", "whoami-v2"]:
            if scope is None:
                return self._error(401, "Invalid credentials in Authorization header")
            return self._json(200, {"type": "user", "name": USER, "auth": {"accessToken": {"role": scope}}})
        if parts[:2] == ["api", "validate-yaml"] and method == "POST":
            return self._json(200, {"errors": [], "warnings": []})
        if parts[:3] == ["api", "repos", "create"] and method == "POST":
            return self._create_repo(scope)
        if len(parts) >= 4 and parts[:2] == ["api", "models"]:
            return self._api_model(f"{parts[2]}/{parts[3]}", parts[4:], scope)
        if len(parts) >= 5 and parts[2] == "resolve" and method in ("GET", "HEAD"):
            return self._resolve(f"{parts[0]}/{parts[1]}", parts[3], "/".join(parts[4:]), scope)
        self._error(404, "Not found")

    # ---------------------------------------------------------------- endpoints

    def _repo(self, repo_id: str, scope: str | None) -> Repo | None:
        repo = self.hub.repos.get(repo_id)
        if repo is None or (repo.private and scope is None):
            self._error(404 if repo is None else 401, "Repository not found", "RepoNotFound")
            return None
        return repo

    def _create_repo(self, scope: str | None) -> None:
        if scope is None:
            return self._error(401, "Invalid credentials in Authorization header")
        if scope != "write":
            return self._error(403, "You don't have the rights to create a model under this namespace")
        payload = json.loads(self._body())
        repo_id = f"{payload.get('organization') or USER}/{payload['name']}"
        url = f"{self.hub.url}/{repo_id}"
        if repo_id in self.hub.repos:
            return self._json(409, {"error": "You already created this model repo", "url": url})
        private = bool(payload.get("private")) or payload.get("visibility") == "private"
        self.hub.add_repo(repo_id, {}, private=private)
        self._json(200, {"url": url, "name": repo_id, "id": repo_id})

    def _api_model(self, repo_id: str, rest: list[str], scope: str | None) -> None:
        repo = self._repo(repo_id, scope)
        if repo is None:
            return
        action = rest[0] if rest else "revision"
        revision = "/".join(rest[1:2]) if len(rest) > 1 else "main"
        if action in ("preupload", "commit", "branch") and self.command == "POST":
            if scope != "write":
                return self._error(403, "You don't have the rights to write to this repo")
            return {"preupload": self._preupload, "commit": self._commit, "branch": self._branch}[action](
                repo_id, repo, revision)
        sha = repo.resolve(revision)
        if sha is None:
            return self._error(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        tree = repo.commits[sha]
        if action == "revision":
            if self.query.get("blobs", "").lower() in ("true", "1"):
                siblings = [sibling_metadata(p, b, self.hub.report_sizes) for p, b in sorted(tree.items())]
            else:
                siblings = [{"rfilename": p} for p in sorted(tree)]
            return self._json(200, {"id": repo_id, "modelId": repo_id, "sha": sha, "private": repo.private,
                                    "siblings": siblings, "tags": [], "lastModified": "2026-01-01T00:00:00.000Z"})
        if action == "tree":
            prefix = "/".join(rest[2:])
            files = [{"type": "file", "path": p, "size": len(b), "oid": git_blob_id(b)}
                     for p, b in sorted(tree.items()) if not prefix or p.startswith(prefix + "/")]
            return self._json(200, files)
        self._error(404, "Not found")

    def _preupload(self, repo_id: str, repo: Repo, revision: str) -> None:
        sha = repo.resolve(revision)
        if sha is None:
            return self._error(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        current = repo.commits[sha]
        files = json.loads(self._body())["files"]
        answer = [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                   "oid": git_blob_id(current[f["path"]]) if f["path"] in current else None} for f in files]
        self._json(200, {"files": answer, "commitOid": sha})

    def _commit(self, repo_id: str, repo: Repo, revision: str) -> None:
        if repo.resolve(revision) is None:
            return self._error(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        added: dict[str, bytes] = {}
        deleted: list[str] = []
        for line in self._body().splitlines():
            item = json.loads(line)
            key, value = item["key"], item["value"]
            if key == "file":
                added[value["path"]] = base64.b64decode(value["content"])
            elif key == "deletedFile":
                deleted.append(value["path"])
            elif key != "header":
                return self._error(400, f"This test Hub does not accept {key} operations")
        sha = repo.commit(revision, added, tuple(deleted))
        url = f"{self.hub.url}/{repo_id}/commit/{sha}"
        self._json(200, {"commitUrl": url, "commitOid": sha, "pullRequestUrl": None})

    def _branch(self, repo_id: str, repo: Repo, branch: str) -> None:
        if branch in repo.branches:
            return self._error(409, f"Reference already exists: refs/heads/{branch}")
        body = self._body()
        start = (json.loads(body) if body else {}).get("startingPoint") or "main"
        sha = repo.resolve(start)
        if sha is None:
            return self._error(404, f"Invalid rev id: {start}", "RevisionNotFound")
        repo.branches[branch] = sha
        self._json(200, {})

    def _resolve(self, repo_id: str, revision: str, filename: str, scope: str | None) -> None:
        repo = self._repo(repo_id, scope)
        if repo is None:
            return
        sha = repo.resolve(revision)
        if sha is None:
            return self._error(404, f"Invalid rev id: {revision}", "RevisionNotFound")
        content = repo.commits[sha].get(filename)
        if content is None:
            return self._error(404, "Entry not found", "EntryNotFound", {"X-Repo-Commit": sha})
        etag = f'"{git_blob_id(content)}"'
        self._answer(200, content, {"X-Repo-Commit": sha, "ETag": etag, "Accept-Ranges": "bytes"},
                     content_type="application/octet-stream")


def hub_env(endpoint: str, hf_home: Path, **extra: str) -> dict[str, str]:
    """Environment for a subprocess that talks to `endpoint` with an empty, private HF cache and no token."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HF_", "HUGGINGFACE_")) and k != "TRANSFORMERS_OFFLINE"}
    env.update(
        HF_ENDPOINT=endpoint,
        HF_HOME=str(hf_home),
        HF_HUB_DISABLE_TELEMETRY="1",  # no agent-registry request to the test server
        HF_HUB_DISABLE_PROGRESS_BARS="1",
        PYTHONPATH=os.pathsep.join(filter(None, [str(PROJECT_ROOT), env.get("PYTHONPATH")])),
        OMP_NUM_THREADS="1",
    )
    env.update(extra)
    return env


if __name__ == "__main__":  # manual use: python tests/hub_server.py [mode]
    with HubServer() as server:
        server.mode = sys.argv[1] if len(sys.argv) > 1 else "ok"
        print(f"HF_ENDPOINT={server.url} (write token {WRITE_TOKEN})", flush=True)
        threading.Event().wait()
