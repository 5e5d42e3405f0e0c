"""A chain of commits as one ``git fast-import`` stream: many revisions, one git run.

Publishing revision by revision costs five git processes each (hash, index, tree, commit); a
batch of revisions, each an approval commit on the previous one, is a single fast-import.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

_Entry = tuple[str, str]
"""(mode, blob id) of a file in a tree."""


@dataclass(frozen=True, slots=True)
class CommitSpec:
    """One commit of the chain: ``package/`` goes from ``before`` to ``after``."""

    package: str
    message: str
    entries: Mapping[str, _Entry]
    before: Mapping[str, str]
    after: Mapping[str, str]


def stream(
    ref: str, parent: str | None, commits: Iterable[CommitSpec], *, name: str, email: str
) -> bytes:
    """The fast-import input that writes ``commits`` on ``ref``, the first on ``parent``;
    commit *i* (from 1) is mark ``:i``."""
    when = f"{int(time.time())} +0000"
    out = bytearray()
    for i, c in enumerate(commits, 1):
        message = c.message.encode()
        out += f"commit {ref}\nmark :{i}\n".encode()
        out += f"author {name} <{email}> {when}\ncommitter {name} <{email}> {when}\n".encode()
        out += f"data {len(message)}\n".encode() + message + b"\n"
        if i == 1 and parent:
            out += f"from {parent}\n".encode()
        for file in c.entries:
            if file not in c.after:
                out += f"D {_path(c.package, file)}\n".encode()
        for file, text in c.after.items():
            if c.before.get(file) == text:
                continue
            data = text.encode("utf-8", "surrogateescape")
            mode = c.entries[file][0] if file in c.entries else "100644"
            out += f"M {mode} inline {_path(c.package, file)}\ndata {len(data)}\n".encode()
            out += data + b"\n"
        out += b"\n"
    return bytes(out + b"done\n")


def marks(text: str) -> dict[int, str]:
    """``--export-marks`` output: mark number -> commit id."""
    out = {}
    for line in text.splitlines():
        mark, _, sha = line.partition(" ")
        if mark.startswith(":"):
            out[int(mark[1:])] = sha.strip()
    return out


def _path(package: str, file: str) -> str:
    """A C-style quoted path: safe whatever the file name holds."""
    raw = f"{package}/{file}"
    escaped = raw.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{escaped}"'
