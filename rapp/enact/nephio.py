"""Publish package revisions straight to a Nephio deployment repo, laid out as Porch writes it.

Revision N of package P is a lightweight tag ``P/vN`` on an approval commit on ``main`` whose
message carries ``kpt:{"package":P,"workspaceName":W,"revision":"N"}``; Porch reads exactly that
at its next sync. The workspace name is the idempotency key: a retried or crash-recovered
enactment finds its revision and writes nothing. Main and the tag go out in one atomic, non-force
push, so a lost race leaves no stray tag and is redone on the new tip.

The local clone is bare and only ever holds fetched refs: commits are built with a temporary
index and pushed by id, so a crash at any point leaves nothing local to clean up.

Git runs with the user's and system's config and credentials (helpers, ``insteadOf``, ssh
keys), never with a terminal to prompt on; remotes are redacted (:func:`redact_url`) in every
message, and :class:`PublishError` says whether a failure is worth retrying.
"""

from __future__ import annotations

import json
import os
import random
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NoReturn

from rapp.enact._git import git_env, is_transient, run
from rapp.enact.packages import KPTFILE, PackageError
from rapp.redact import redact_url

__all__ = ["GitPackageRepo", "PackageRevision", "PublishError", "redact_url"]

_INT_TAG = re.compile(r"^v(\d+)$")
_PACKAGE = re.compile(r"^(?!.*(?:^|/)\.)[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*$")
_NULL_SHA = "0" * 40
_PERMANENT = ("hook declined", "denied", "protected")


class PublishError(RuntimeError):
    """Git failed, or the push kept losing races; the message carries git's stderr, redacted.

    ``transient`` is True when the failure may pass by itself (network, server 5xx or 429, a
    lost race) and False when it needs a person (no such repository, credentials, a hook).
    """

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True, slots=True)
class PackageRevision:
    """A published revision as Porch would list it."""

    package: str
    revision: int
    tag: str
    commit: str
    workspace: str


_Entry = tuple[str, str]
"""(mode, blob id) of a file in a tree."""


class GitPackageRepo:
    """A Nephio deployment repository written the way Porch writes it (specs/porch/README.md)."""

    def __init__(
        self,
        remote: str,
        workdir: Path,
        *,
        branch: str = "main",
        author_name: str = "rapp",
        author_email: str = "rapp@localhost",
        push_attempts: int = 5,
        timeout_s: float = 60.0,
    ) -> None:
        self.remote = remote
        self.workdir = Path(workdir)
        self.branch = branch
        self.push_attempts = max(1, push_attempts)
        self._timeout = timeout_s
        self._lock = threading.Lock()
        self._ready = False
        self._env = git_env(author_name, author_email, os.environ)

    def packages(self) -> list[str]:
        """Directories holding a Kptfile on the branch tip."""
        with self._lock:
            tip = self._sync()
            if tip is None:
                return []
            names = self._git("ls-tree", "-r", "-z", "--name-only", tip).stdout.split(b"\0")
            paths = (n.decode("utf-8", "surrogateescape") for n in names if n)
            return sorted(p.rpartition("/")[0] for p in paths if p.endswith("/" + KPTFILE))

    def read(self, package: str) -> dict[str, str]:
        """Files of ``package`` at the branch tip, after fetching; names relative to the package."""
        _check_package(package)
        with self._lock:
            tip = self._sync()
            files = self._files(self._entries(tip, package)) if tip else {}
        if KPTFILE not in files:
            raise PackageError(f"no package {package!r} on branch {self.branch!r}")
        return files

    def latest_revision(self, package: str) -> PackageRevision | None:
        """Highest integer revision; tags like ``pkg/v2.0.0`` count as -1 in Porch, so skip them."""
        _check_package(package)
        with self._lock:
            self._sync()
            return max(self._revisions(package), key=lambda r: r.revision, default=None)

    def find_revision(self, package: str, workspace: str) -> PackageRevision | None:
        """The published revision whose approval commit names ``workspace``."""
        _check_package(package)
        with self._lock:
            self._sync()
            return self._find(package, workspace)

    def abandon(self, package: str, workspace: str) -> bool:
        """Nothing to clean up: a revision is pushed with its tag in one atomic push, or not
        at all, and the local clone holds no drafts. (Porch's writer deletes its draft.)"""
        _check_package(package)
        return False

    def publish(
        self,
        package: str,
        workspace: str,
        mutate: Callable[[dict[str, str]], dict[str, str]],
        *,
        message: str = "",
        if_unchanged: Literal["raise", "latest"] = "raise",
    ) -> PackageRevision:
        """Publish ``mutate(files)`` as the next revision, exactly once per workspace.

        ``mutate`` is re-applied to the new tip after a lost race, so it must be a pure edit.
        A package that does not exist yet starts from no files (the seeder relies on that).
        When ``mutate`` changes nothing (the package already holds what was wanted) this raises
        PackageError("no change"), or with ``if_unchanged="latest"`` writes nothing and returns
        the latest published revision (PackageError if there is none).
        """
        _check_package(package)
        if not workspace or any(line.startswith("kpt:") for line in message.splitlines()):
            raise ValueError("workspace must be non-empty and message must not carry kpt: lines")
        if if_unchanged not in ("raise", "latest"):
            raise ValueError(f"if_unchanged must be 'raise' or 'latest', not {if_unchanged!r}")
        with self._lock:
            for attempt in range(self.push_attempts):
                tip = self._sync()
                if found := self._find(package, workspace):
                    return found
                entries = self._entries(tip, package) if tip else {}
                before = self._files(entries)
                after = mutate(dict(before))
                _check_mutation(before, after)
                revisions = self._revisions(package)
                if dict(after) == dict(before):
                    latest = max(revisions, key=lambda r: r.revision, default=None)
                    if if_unchanged == "raise" or latest is None:
                        raise PackageError(f"no change to {package}")
                    return latest
                n = 1 + max((r.revision for r in revisions), default=0)
                tree = self._tree(tip, package, entries, before, after)
                text = _approval_message(package, workspace, n, message).encode()
                parents = ["-p", tip] if tip else []
                commit = self._git(
                    "commit-tree", "--no-gpg-sign", tree, *parents, "-F", "-", stdin=text
                )
                commit = commit.stdout.decode().strip()
                tag = f"{package}/v{n}"
                if self._push(commit, tag):  # the next call fetches it back; no local refs
                    return PackageRevision(package, n, tag, commit, workspace)
                time.sleep(min(0.05 * 2**attempt, 1.0) * random.uniform(0.5, 1.5))
        raise PublishError(
            f"push of {package} ({workspace}) to {redact_url(self.remote)} rejected "
            f"{self.push_attempts} times: the branch keeps moving",
            transient=True,
        )

    def _git(
        self, *args: str, stdin: bytes | None = None, check: bool = True, index: Path | None = None
    ) -> subprocess.CompletedProcess[bytes]:
        env = self._env if index is None else {**self._env, "GIT_INDEX_FILE": str(index)}
        what = f"git {' '.join(args[:2])}"
        what = f"git fetch {redact_url(self.remote)}" if args[0] == "fetch" else what
        try:
            proc = run(args, cwd=self.workdir, env=env, stdin=stdin, timeout=self._timeout)
        except subprocess.TimeoutExpired:  # its text holds the command line, remote and all
            msg = f"{what} timed out after {self._timeout:g}s"
            raise PublishError(msg, transient=True) from None
        except OSError as e:
            raise PublishError(f"{what} failed: {redact_url(str(e))}") from e
        if check and proc.returncode != 0:
            self._fail(what, proc)
        return proc

    @staticmethod
    def _fail(what: str, proc: subprocess.CompletedProcess[bytes], detail: str = "") -> NoReturn:
        """Raise for a failed git run, redacted and classified from what git printed."""
        err = "\n".join(filter(None, [detail, proc.stderr.decode(errors="replace").strip()]))
        msg = f"{what} failed ({proc.returncode}): {redact_url(err)}"
        raise PublishError(msg, transient=is_transient(err))

    def _sync(self) -> str | None:
        """Fetch the remote (pruning tags that vanished there) and return the branch tip."""
        if not self._ready:
            if not (self.workdir / "HEAD").is_file():
                self.workdir.mkdir(parents=True, exist_ok=True)
                if any(self.workdir.iterdir()):
                    raise PublishError(f"{self.workdir} exists and is not a git clone")
                self._git("init", "-q", "--bare", "-b", self.branch)
                self._git("remote", "add", "origin", self.remote)
            self._git("remote", "set-url", "origin", self.remote)
            self._ready = True
        self._git(
            "fetch", "-q", "--prune", "--no-tags", "origin",
            "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*",
        )  # fmt: skip
        ref = f"refs/remotes/origin/{self.branch}^{{commit}}"
        res = self._git("rev-parse", "-q", "--verify", ref, check=False)
        return res.stdout.decode().strip() if res.returncode == 0 else None

    def _entries(self, tip: str, package: str) -> dict[str, _Entry]:
        out = self._git("ls-tree", "-r", "-z", tip, "--", f"{package}/").stdout
        entries = {}
        for record in filter(None, out.split(b"\0")):
            meta, _, path = record.decode("utf-8", "surrogateescape").partition("\t")
            mode, kind, sha = meta.split()
            if kind == "blob":
                entries[path.removeprefix(f"{package}/")] = (mode, sha)
        return entries

    def _files(self, entries: Mapping[str, _Entry]) -> dict[str, str]:
        if not entries:
            return {}
        names = list(entries)
        batch = "".join(f"{entries[n][1]}\n" for n in names).encode()
        raw = self._git("cat-file", "--batch", stdin=batch).stdout
        files, pos = {}, 0
        for name in names:
            header_end = raw.index(b"\n", pos)
            size = int(raw[pos:header_end].split()[2])
            body = raw[header_end + 1 : header_end + 1 + size]
            files[name] = body.decode("utf-8", "surrogateescape")
            pos = header_end + 1 + size + 1
        return files

    def _revisions(self, package: str) -> list[PackageRevision]:
        fmt = "%(refname)%00%(objectname)%00%(*objectname)%00%(contents)%00%(*contents)%01"
        prefix = f"refs/tags/{package}/"
        out = self._git("for-each-ref", f"--format={fmt}", prefix[:-1]).stdout
        revs = []
        for record in out.decode("utf-8", "replace").split("\x01\n"):
            if not record.strip():
                continue
            ref, obj, peeled, contents, peeled_contents = record.split("\x00")
            m = _INT_TAG.match(ref.removeprefix(prefix))
            if not m:
                continue  # non-integer tag (revision -1) or a nested package's tag
            annotation = _kpt_annotation(peeled_contents if peeled else contents, package)
            ws = str(annotation.get("workspaceName", ""))
            revs.append(PackageRevision(package, int(m[1]), ref[10:], peeled or obj, ws))
        return revs

    def _find(self, package: str, workspace: str) -> PackageRevision | None:
        hits = [r for r in self._revisions(package) if r.workspace == workspace]
        return min(hits, key=lambda r: r.revision, default=None)

    def _tree(
        self,
        tip: str | None,
        package: str,
        old: Mapping[str, _Entry],
        before: Mapping[str, str],
        new: Mapping[str, str],
    ) -> str:
        """The tip's tree with ``package/`` replaced by ``new``: nothing outside it can change."""
        records = [f"0 {_NULL_SHA}\t{package}/{name}" for name in old if name not in new]
        for name, text in new.items():
            if before.get(name) != text:
                data = text.encode("utf-8", "surrogateescape")
                sha = self._git("hash-object", "-w", "--stdin", stdin=data).stdout.decode().strip()
                mode = old[name][0] if name in old else "100644"
                records.append(f"{mode} {sha}\t{package}/{name}")
        index = self.workdir / f"rapp-index-{uuid.uuid4().hex}"
        try:
            self._git("read-tree", *([tip] if tip else ["--empty"]), index=index)
            info = "".join(f"{r}\0" for r in records).encode("utf-8", "surrogateescape")
            self._git("update-index", "-z", "--index-info", stdin=info, index=index)
            return self._git("write-tree", index=index).stdout.decode().strip()
        finally:
            index.unlink(missing_ok=True)

    def _push(self, commit: str, tag: str) -> bool:
        """Push main and the tag atomically; False when the remote moved (retry), else raise."""
        res = self._git(
            "push", "--atomic", "--porcelain", "origin",
            f"{commit}:refs/heads/{self.branch}", f"{commit}:refs/tags/{tag}",
            check=False,
        )  # fmt: skip
        if res.returncode == 0:
            return True
        report = res.stdout.decode(errors="replace")
        rejected = [line for line in report.splitlines() if line.startswith("!")]
        if rejected and not any(p in line for line in rejected for p in _PERMANENT):
            return False
        self._fail(f"git push to {redact_url(self.remote)}", res, "\n".join(rejected))


def _check_package(package: str) -> None:
    if not _PACKAGE.match(package):
        raise ValueError(f"not a package path: {package!r}")


def _check_mutation(before: Mapping[str, str], after: Mapping[str, str]) -> None:
    if KPTFILE not in after:
        what = "removes the Kptfile" if KPTFILE in before else "has no Kptfile at its root"
        raise PackageError(f"refusing a package that {what}")
    for name, text in after.items():
        if not isinstance(text, str) or {"", ".", "..", ".git"} & set(name.split("/")):
            raise PackageError(f"refusing file {name!r}: not a text file inside the package")


def _approval_message(package: str, workspace: str, n: int, extra: str) -> str:
    """Porch's approval commit message (commitMessageApproveTemplate + annotateCommitMessage)."""
    annotation = {"package": package, "workspaceName": workspace, "revision": str(n)}
    kpt = json.dumps(annotation, separators=(",", ":"))
    text = f"Approving package revision {package}/{n}\n\nkpt:{kpt}\n"
    return text + (f"{extra.strip()}\n" if extra.strip() else "")


def _kpt_annotation(message: str, package: str) -> dict[str, object]:
    """The ``kpt:{...}`` line Porch wrote for ``package`` (Porch scans every line the same way)."""
    for line in message.splitlines():
        if line.startswith("kpt:"):
            try:
                data = json.loads(line[4:])
            except ValueError:
                continue
            if isinstance(data, dict) and data.get("package") == package:
                return data
    return {}
