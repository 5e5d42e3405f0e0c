"""Publish package revisions straight to a Nephio deployment repo, laid out as Porch writes it.

Revision N of package P is a lightweight tag ``P/vN`` on an approval commit on ``main`` whose
message carries ``kpt:{"package":P,"workspaceName":W,"revision":"N"}``; Porch reads exactly that
at its next sync. The workspace name is the idempotency key: a retried or crash-recovered
enactment finds its revision and writes nothing. Main and the tag go out in one atomic, non-force
push, so a lost race leaves no stray tag and is redone on the new tip.

The local clone is bare and only ever holds fetched refs: commits are written by one
``git fast-import`` under a scratch ref and pushed by id, so a crash at any point leaves
nothing local that matters. Publishes from several threads are grouped into one fetch and one
atomic push (a group commit): the writer's cost is per push, not per revision.

Git runs with the user's and system's config and credentials (helpers, ``insteadOf``, ssh
keys), never with a terminal to prompt on; remotes are redacted (:func:`redact_url`) in every
message, and :class:`PublishError` says whether a failure is worth retrying.
"""

from __future__ import annotations

import json
import logging
import os
import random
import re
import subprocess
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal, NoReturn

from rapp.enact._fastimport import CommitSpec, stream
from rapp.enact._fastimport import marks as fast_import_marks
from rapp.enact._git import git_env, is_transient, run
from rapp.enact.packages import KPTFILE, PackageError
from rapp.redact import redact_url

__all__ = ["GitPackageRepo", "PackageRevision", "PublishError", "redact_url"]

log = logging.getLogger(__name__)
_INT_TAG = re.compile(r"^v(\d+)$")
_PACKAGE = re.compile(r"^(?!.*(?:^|/)\.)[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*$")
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
    files: Mapping[str, str] | None = field(default=None, compare=False, repr=False)
    """The package's files in this revision, when the call that returned it had them at hand
    (a publish that just wrote them); None otherwise."""


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
        self.batch_max = 64
        self._lock = threading.Lock()
        self._waiting_lock = threading.Lock()
        self._waiting: list[_Request] = []
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

    def close(self) -> None:
        """Nothing held open between calls: git runs a process per command."""

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

        Publishes from several threads are grouped: whoever holds the writer publishes every
        request waiting at that moment (one package each) in one fetch, one fast-import and
        one atomic push, each revision its own approval commit and tag, as Porch lays them out.
        """
        _check_package(package)
        if not workspace or any(line.startswith("kpt:") for line in message.splitlines()):
            raise ValueError("workspace must be non-empty and message must not carry kpt: lines")
        if if_unchanged not in ("raise", "latest"):
            raise ValueError(f"if_unchanged must be 'raise' or 'latest', not {if_unchanged!r}")
        request = _Request(package, workspace, mutate, message, if_unchanged)
        with self._waiting_lock:
            self._waiting.append(request)
        while not request.done:  # a round takes one request per package: ours may wait one
            with self._lock:
                if not request.done:
                    self._publish_all(self._take())
        if request.error is not None:
            raise request.error
        assert request.result is not None  # done without an error means a result
        return request.result

    def _take(self) -> list[_Request]:
        """The waiting requests to publish together: one per package (a second edit of a
        package must see the first), the rest left for the next round."""
        with self._waiting_lock:
            batch: dict[str, _Request] = {}
            for r in self._waiting:
                if r.package not in batch and len(batch) < self.batch_max:
                    batch[r.package] = r
            self._waiting = [r for r in self._waiting if batch.get(r.package) is not r]
        return list(batch.values())

    def _publish_all(self, batch: list[_Request]) -> None:
        """Publish ``batch``; every request ends with a result or an error."""
        todo = batch
        try:
            for attempt in range(self.push_attempts):
                todo = self._attempt(todo)
                if not todo:
                    return
                time.sleep(min(0.05 * 2**attempt, 1.0) * random.uniform(0.5, 1.5))
        except PublishError as exc:
            todo = [r for r in todo if not r.done]  # some ended in the round (found, refused)
            if len(todo) > 1 and not exc.transient:
                for r in todo:  # find which one the remote refuses: the others go through
                    self._publish_all([r])
                return
            for r in todo:
                r.fail(exc)
            return
        except Exception as exc:  # a git failure outside any one request: all of them fail
            for r in todo:
                if not r.done:
                    r.fail(exc)
            return
        for r in todo:
            r.fail(
                PublishError(
                    f"push of {r.package} ({r.workspace}) to {redact_url(self.remote)} "
                    f"rejected {self.push_attempts} times: the branch keeps moving",
                    transient=True,
                )
            )

    def _attempt(self, todo: list[_Request]) -> list[_Request]:
        """One fetch-commit-push round; the requests to try again (the remote moved)."""
        tip = self._sync()
        tags = self._tag_records()
        entries = self._entries_of(tip, [r.package for r in todo]) if tip else {}
        files = self._files_of(entries)
        planned: list[tuple[_Request, int, CommitSpec]] = []
        for r in todo:
            try:
                revisions = self._revisions(r.package, tags)
                found = min(
                    (rev for rev in revisions if rev.workspace == r.workspace),
                    key=lambda rev: rev.revision,
                    default=None,
                )
                if found is not None:
                    r.finish(found)
                    continue
                before = files.get(r.package, {})
                after = r.mutate(dict(before))
                _check_mutation(before, after)
                if dict(after) == dict(before):
                    latest = max(revisions, key=lambda rev: rev.revision, default=None)
                    if r.if_unchanged == "raise" or latest is None:
                        raise PackageError(f"no change to {r.package}")
                    r.finish(latest)
                    continue
                n = 1 + max((rev.revision for rev in revisions), default=0)
                text = _approval_message(r.package, r.workspace, n, r.message)
                spec = CommitSpec(r.package, text, entries.get(r.package, {}), before, after)
                planned.append((r, n, spec))
            except Exception as exc:  # this request's own failure (its edit, its data)
                r.fail(exc)
        if not planned:
            return []
        commits = self._commit_chain(tip, [spec for _, _, spec in planned])
        pushed = [(f"{r.package}/v{n}", c) for (r, n, _), c in zip(planned, commits, strict=True)]
        if not self._push(commits[-1], pushed):
            return [r for r, _, _ in planned]
        for (r, n, spec), (tag, commit) in zip(planned, pushed, strict=True):
            r.finish(PackageRevision(r.package, n, tag, commit, r.workspace, dict(spec.after)))
        return []

    def _git(
        self, *args: str, stdin: bytes | None = None, check: bool = True
    ) -> subprocess.CompletedProcess[bytes]:
        env = self._env
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
            self._clear_stale_locks()
            self._git("remote", "set-url", "origin", self.remote)
            self._ready = True
        self._git(
            "fetch", "-q", "--prune", "--no-tags", "origin",
            "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*",
        )  # fmt: skip
        ref = f"refs/remotes/origin/{self.branch}^{{commit}}"
        res = self._git("rev-parse", "-q", "--verify", ref, check=False)
        return res.stdout.decode().strip() if res.returncode == 0 else None

    def _clear_stale_locks(self) -> None:
        """Remove the lock files of a git run that was killed (a SIGKILL mid-fetch leaves
        ``refs/tags/<pkg>/vN.lock``): every later fetch would fail on them for good. The clone
        is this process's alone and nothing of it runs yet, so any lock now is stale."""
        for lock in [*self.workdir.glob("*.lock"), *(self.workdir / "refs").rglob("*.lock")]:
            log.warning("removing %s, left by a git run that did not finish", lock)
            lock.unlink(missing_ok=True)

    def _entries(self, tip: str, package: str) -> dict[str, _Entry]:
        return self._entries_of(tip, [package]).get(package, {})

    def _entries_of(self, tip: str, packages: list[str]) -> dict[str, dict[str, _Entry]]:
        """Each package's files at ``tip`` (one ls-tree for all of them)."""
        paths = [f"{p}/" for p in packages]
        out = self._git("ls-tree", "-r", "-z", tip, "--", *paths).stdout
        entries: dict[str, dict[str, _Entry]] = {p: {} for p in packages}
        for record in filter(None, out.split(b"\0")):
            meta, _, path = record.decode("utf-8", "surrogateescape").partition("\t")
            mode, kind, sha = meta.split()
            if kind != "blob":
                continue
            for package in packages:
                if path.startswith(f"{package}/"):
                    entries[package][path.removeprefix(f"{package}/")] = (mode, sha)
        return entries

    def _files_of(self, entries: Mapping[str, Mapping[str, _Entry]]) -> dict[str, dict[str, str]]:
        """The files of several packages, in one cat-file run."""
        flat = {(p, n): e for p, es in entries.items() for n, e in es.items()}
        texts = self._files({f"{i}": e for i, e in enumerate(flat.values())})
        out: dict[str, dict[str, str]] = {p: {} for p in entries}
        for i, (package, name) in enumerate(flat):
            out[package][name] = texts[f"{i}"]
        return out

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

    def _tag_records(self) -> list[list[str]]:
        """Every tag: (ref, object, peeled object, contents, peeled contents), one git run."""
        fmt = "%(refname)%00%(objectname)%00%(*objectname)%00%(contents)%00%(*contents)%01"
        out = self._git("for-each-ref", f"--format={fmt}", "refs/tags").stdout
        records = out.decode("utf-8", "replace").split("\x01\n")
        return [r.split("\x00") for r in records if r.strip()]

    def _revisions(
        self, package: str, tags: list[list[str]] | None = None
    ) -> list[PackageRevision]:
        prefix = f"refs/tags/{package}/"
        revs = []
        for ref, obj, peeled, contents, peeled_contents in tags or self._tag_records():
            if not ref.startswith(prefix):
                continue
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

    def _commit_chain(self, tip: str | None, commits: list[CommitSpec]) -> list[str]:
        """Write ``commits`` as a chain on ``tip`` (one fast-import); their ids, in order.
        They are reachable from a scratch ref only until the push, then from main."""
        ref = f"refs/rapp/batch-{uuid.uuid4().hex}"
        marks_file = self.workdir / f"{ref.rpartition('/')[2]}.marks"
        env_name, env_email = self._env["GIT_COMMITTER_NAME"], self._env["GIT_COMMITTER_EMAIL"]
        data = stream(ref, tip, commits, name=env_name, email=env_email)
        try:
            self._git("fast-import", "--quiet", f"--export-marks={marks_file}", stdin=data)
            ids = fast_import_marks(marks_file.read_text())
        finally:
            marks_file.unlink(missing_ok=True)
            self._git("update-ref", "-d", ref, check=False)
        return [ids[i] for i in range(1, len(commits) + 1)]

    def _push(self, last: str, tags: list[tuple[str, str]]) -> bool:
        """Push main to ``last`` and every (tag, commit) atomically; False when the remote
        moved (retry), else raise."""
        refspecs = [f"{commit}:refs/tags/{tag}" for tag, commit in tags]
        res = self._git(
            "push", "--atomic", "--porcelain", "origin",
            f"{last}:refs/heads/{self.branch}", *refspecs,
            check=False,
        )  # fmt: skip
        if res.returncode == 0:
            return True
        report = res.stdout.decode(errors="replace")
        rejected = [line for line in report.splitlines() if line.startswith("!")]
        if rejected and not any(p in line for line in rejected for p in _PERMANENT):
            return False
        self._fail(f"git push to {redact_url(self.remote)}", res, "\n".join(rejected))


@dataclass(slots=True)
class _Request:
    """One publish waiting for the writer; ends with ``result`` or ``error``."""

    package: str
    workspace: str
    mutate: Callable[[dict[str, str]], dict[str, str]]
    message: str
    if_unchanged: str
    result: PackageRevision | None = None
    error: BaseException | None = None
    done: bool = False

    def finish(self, revision: PackageRevision) -> None:
        self.result, self.done = revision, True

    def fail(self, error: BaseException) -> None:
        self.error, self.done = error, True


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
