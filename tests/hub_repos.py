"""The test Hub's store (tests/hub_server.py): repos of full-snapshot commits, and the file metadata the real Hub
reports for them (git blob ids, sizes, LFS pointers for the files .gitattributes sends to LFS)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from fnmatch import fnmatch

# The Hub creates every repo with this file in its first commit.
GITATTRIBUTES = b"*.safetensors filter=lfs diff=lfs merge=lfs -text\n*.bin filter=lfs diff=lfs merge=lfs -text\n"
LFS_PATTERNS = ("*.safetensors", "*.bin")  # the files GITATTRIBUTES stores with LFS


def git_blob_id(content: bytes) -> str:
    """The git object id the Hub reports for a regular file (also its ETag)."""
    return hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()


def sibling_metadata(path: str, content: bytes, sizes: bool = True) -> dict:
    """One entry of model_info's "siblings" as the Hub gives it for `?blobs=true`."""
    entry = {"rfilename": path, "blobId": git_blob_id(content)}
    if sizes:
        entry["size"] = len(content)
        if any(fnmatch(path.rsplit("/", 1)[-1], pattern) for pattern in LFS_PATTERNS):
            sha256 = hashlib.sha256(content).hexdigest()
            pointer = f"version https://git-lfs.github.com/spec/v1\noid sha256:{sha256}\nsize {len(content)}\n"
            entry["lfs"] = {"sha256": sha256, "size": len(content), "pointerSize": len(pointer)}
    return entry


@dataclass
class Repo:
    """One model repo: branches point at commits, each commit is a full {path: bytes} snapshot."""

    private: bool = False
    branches: dict[str, str] = field(default_factory=dict)
    commits: dict[str, dict[str, bytes]] = field(default_factory=dict)

    def commit(self, branch: str, files: dict[str, bytes], deleted: tuple[str, ...] = ()) -> str:
        parent = self.branches.get(branch)
        tree = dict(self.commits.get(parent, {})) if parent else {}
        tree.update(files)
        for path in deleted:
            tree.pop(path, None)
        digest = hashlib.sha1(f"{parent}:{len(self.commits)}".encode())
        for path in sorted(tree):
            digest.update(path.encode() + b"\0" + tree[path])
        sha = digest.hexdigest()
        self.commits[sha] = tree
        self.branches[branch] = sha
        return sha

    def resolve(self, revision: str) -> str | None:
        if revision in self.branches:
            return self.branches[revision]
        return revision if revision in self.commits else None
