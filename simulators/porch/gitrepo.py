"""Git plumbing for one Porch Repository: a private bare clone of the remote, written by id.

Reads come from the local clone (remote branches under ``refs/remotes/origin/``, tags under
``refs/tags/``); writes build commits with a throw-away index and push them with ``--atomic`` and
an explicit ``--force-with-lease`` per ref, so a ref that moved on the remote since we read it
(another writer, e.g. the rApp's direct git writer) rejects the whole push instead of being
overwritten. After a successful push the local refs are moved to match without a fetch.

Not thread-safe by itself: the store holds one lock per repository around every write.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import subprocess
import tempfile
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

log = logging.getLogger(__name__)

_NULL = "0" * 40
_LOCAL_ONLY = (
    "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_NAMESPACE",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_COMMON_DIR", "GIT_PREFIX", "GIT_QUARANTINE_PATH",
)  # fmt: skip
_CREDENTIALS = re.compile(r"(://)[^/@]*@")

Entry = tuple[str, str]
"""(mode, blob id) of a file in a tree."""


class GitError(RuntimeError):
    """Git failed for a reason other than a rejected (raced) push."""


@dataclass(frozen=True, slots=True)
class RefUpdate:
    """Set remote ref ``ref`` (``refs/heads/..`` or ``refs/tags/..``) from ``old`` to ``new``.

    ``old`` None: the ref must not exist yet; ``new`` None: delete it.
    """

    ref: str
    new: str | None
    old: str | None


@dataclass(frozen=True, slots=True)
class Commit:
    sha: str
    message: str
    author_email: str
    author_time: int


def redact(url: str) -> str:
    return _CREDENTIALS.sub(r"\1***@", url)


class GitRepo:
    """A remote git repository as Porch sees it, through a private bare clone in ``workdir``."""

    def __init__(self, remote: str, workdir: Path, *, branch: str = "main") -> None:
        self.remote = remote
        self.workdir = Path(workdir)
        self.branch = branch
        base = {k: v for k, v in os.environ.items() if k not in _LOCAL_ONLY}
        self._env = base | {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
        self._commits: dict[str, Commit] = {}

    # -- reading -------------------------------------------------------------------------

    def fetch(self) -> None:
        """Make the local clone match the remote: branches, tags, and tags that vanished."""
        if not (self.workdir / "HEAD").is_file():
            self.workdir.mkdir(parents=True, exist_ok=True)
            self._git("init", "-q", "--bare", "-b", self.branch)
            self._git("remote", "add", "origin", self.remote)
        self._git(
            "fetch", "-q", "--prune", "--no-tags", "origin",
            "+refs/heads/*:refs/remotes/origin/*", "+refs/tags/*:refs/tags/*",
        )  # fmt: skip

    def fetch_ref(self, url: str, ref: str) -> str | None:
        """Fetch ``ref`` of any repository (a clone's upstream); its commit, None if absent."""
        res = self._run(
            [
                "fetch",
                "-q",
                "--no-tags",
                "--no-write-fetch-head",
                url,
                f"+{ref}:refs/porch-upstream",
            ]
        )
        if res.returncode != 0:
            log.info(
                "fetch %s %s: %s", redact(url), ref, redact(res.stderr.decode(errors="replace"))
            )
            return None
        out = self._git("rev-parse", "--verify", "refs/porch-upstream^{commit}")
        self._git("update-ref", "-d", "refs/porch-upstream")
        return out.decode().strip()

    def refs(self) -> tuple[dict[str, str], dict[str, str]]:
        """(branches, tags), each name -> commit id (annotated tags peeled)."""
        fmt = "%(refname)%00%(objectname)%00%(*objectname)"
        out = self._git("for-each-ref", f"--format={fmt}", "refs/remotes/origin", "refs/tags")
        branches: dict[str, str] = {}
        tags: dict[str, str] = {}
        for line in out.decode("utf-8", "surrogateescape").splitlines():
            ref, obj, peeled = line.split("\0")
            if ref.startswith("refs/remotes/origin/") and ref != "refs/remotes/origin/HEAD":
                branches[ref.removeprefix("refs/remotes/origin/")] = peeled or obj
            elif ref.startswith("refs/tags/"):
                tags[ref.removeprefix("refs/tags/")] = peeled or obj
        return branches, tags

    def commit(self, sha: str) -> Commit:
        """Message and author of a commit (cached: commits never change)."""
        if sha not in self._commits:
            out = self._git("show", "-s", "--format=%ae%x00%at%x00%B", sha)
            email, when, message = out.decode("utf-8", "replace").split("\0", 2)
            self._commits[sha] = Commit(sha, message, email, int(when))
        return self._commits[sha]

    def messages(self, sha: str, limit: int = 500) -> list[str]:
        """Messages of ``sha`` and its ancestors, newest first by committer time."""
        out = self._git("log", f"-n{limit}", "--date-order", "--format=%B%x00", sha)
        return [m for m in out.decode("utf-8", "replace").split("\0") if m.strip()]

    def objects(self, specs: Sequence[str]) -> list[tuple[str, str] | None]:
        """(id, type) of each ``<commit>:<path>`` spec, None where there is no such object."""
        if not specs:
            return []
        batch = "".join(f"{s}\n" for s in specs).encode("utf-8", "surrogateescape")
        out = self._git("cat-file", "--batch-check=%(objectname) %(objecttype)", stdin=batch)
        result: list[tuple[str, str] | None] = []
        for line in out.decode("utf-8", "surrogateescape").splitlines():
            sha, _, kind = line.rpartition(" ")
            result.append(None if kind == "missing" else (sha, kind))
        return result

    def package_dirs(self, commit: str) -> list[str]:
        """Every directory holding a Kptfile at ``commit``."""
        out = self._git("ls-tree", "-r", "-z", "--name-only", commit)
        names = (n.decode("utf-8", "surrogateescape") for n in out.split(b"\0") if n)
        return sorted(n.rpartition("/")[0] for n in names if n.endswith("/Kptfile"))

    def entries(self, commit: str | None, package: str) -> dict[str, Entry]:
        """Files under ``package/`` at ``commit``, by path relative to the package."""
        if commit is None:
            return {}
        out = self._git("ls-tree", "-r", "-z", commit, "--", f"{package}/")
        found: dict[str, Entry] = {}
        for record in filter(None, out.split(b"\0")):
            meta, _, path = record.decode("utf-8", "surrogateescape").partition("\t")
            mode, kind, sha = meta.split()
            if kind == "blob":
                found[path.removeprefix(f"{package}/")] = (mode, sha)
        return found

    def read(self, entries: Mapping[str, Entry]) -> dict[str, str]:
        """The text of each file (undecodable bytes kept as surrogates, so they round-trip)."""
        names = list(entries)
        if not names:
            return {}
        raw = self._git(
            "cat-file", "--batch", stdin="".join(f"{entries[n][1]}\n" for n in names).encode()
        )
        files, pos = {}, 0
        for name in names:
            header_end = raw.index(b"\n", pos)
            size = int(raw[pos:header_end].split()[2])
            body = raw[header_end + 1 : header_end + 1 + size]
            files[name] = body.decode("utf-8", "surrogateescape")
            pos = header_end + 1 + size + 1
        return files

    # -- writing -------------------------------------------------------------------------

    def blobs(self, files: Mapping[str, str], old: Mapping[str, Entry]) -> dict[str, Entry]:
        """Entries for ``files``, writing only the blobs git does not already have."""
        entries: dict[str, Entry] = {}
        new: list[tuple[str, bytes]] = []
        for name, text in files.items():
            data = text.encode("utf-8", "surrogateescape")
            sha = hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()
            mode = old[name][0] if name in old else "100644"
            entries[name] = (mode, sha)
            if old.get(name, ("", ""))[1] != sha:
                new.append((name, data))
        if new:
            with tempfile.TemporaryDirectory(dir=self.workdir) as tmp:
                paths = []
                for i, (_, data) in enumerate(new):
                    path = Path(tmp) / str(i)
                    path.write_bytes(data)
                    paths.append(str(path))
                self._git("hash-object", "-w", "--no-filters", "--", *paths)
        return entries

    def tree_with(self, base: str | None, package: str, entries: Mapping[str, Entry]) -> str:
        """``base``'s tree with directory ``package`` replaced by exactly ``entries``."""
        old = self.entries(base, package)
        records = [f"0 {_NULL}\t{package}/{n}" for n in old if n not in entries]
        records += [f"{mode} {sha}\t{package}/{n}" for n, (mode, sha) in entries.items()]
        index = self.workdir / f"porch-index-{uuid.uuid4().hex}"
        try:
            self._git("read-tree", *([base] if base else ["--empty"]), index=index)
            info = "".join(f"{r}\0" for r in records).encode("utf-8", "surrogateescape")
            self._git("update-index", "-z", "--index-info", stdin=info, index=index)
            return self._git("write-tree", index=index).decode().strip()
        finally:
            index.unlink(missing_ok=True)

    def commit_tree(self, tree: str, parents: Sequence[str], message: str, *, author: str) -> str:
        """A new commit object (not on any ref yet), authored and committed by ``author``."""
        env = {
            f"GIT_{who}_{what}": author
            for who in ("AUTHOR", "COMMITTER")
            for what in ("NAME", "EMAIL")
        }
        args = ["commit-tree", "--no-gpg-sign", tree]
        for parent in parents:
            args += ["-p", parent]
        out = self._git(*args, "-F", "-", stdin=message.encode(), extra_env=env)
        return out.decode().strip()

    def push(self, updates: Sequence[RefUpdate]) -> bool:
        """Apply ``updates`` on the remote all or nothing; False if a ref moved there (retry
        after a fetch), GitError for anything else. Local refs follow on success."""
        args = ["push", "--atomic", "--porcelain", "origin"]
        for u in updates:
            args.append(f"--force-with-lease={u.ref}:{u.old or ''}")
        args += [f"{u.new or ''}:{u.ref}" for u in updates]
        res = self._run(args)
        if res.returncode != 0:
            report = res.stdout.decode(errors="replace")
            if any(line.startswith("!") and "[rejected]" in line for line in report.splitlines()):
                log.info("push to %s rejected: %s", redact(self.remote), report.strip())
                return False
            raise GitError(
                f"git push to {redact(self.remote)} failed: "
                f"{redact((report + res.stderr.decode(errors='replace')).strip())}"
            )
        commands = []
        for u in updates:
            local = _local_ref(u.ref)
            commands.append(f"update {local} {u.new}" if u.new else f"delete {local}")
        self._git("update-ref", "--stdin", stdin=("\n".join(commands) + "\n").encode())
        return True

    # -- running git ---------------------------------------------------------------------

    def _git(
        self,
        *args: str,
        stdin: bytes | None = None,
        index: Path | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> bytes:
        res = self._run(args, stdin=stdin, index=index, extra_env=extra_env)
        if res.returncode != 0:
            what = " ".join(args[:2])
            err = redact(res.stderr.decode(errors="replace").strip())
            raise GitError(f"git {what} in {self.workdir} failed ({res.returncode}): {err}")
        return res.stdout

    def _run(
        self,
        args: Sequence[str],
        *,
        stdin: bytes | None = None,
        index: Path | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> subprocess.CompletedProcess[bytes]:
        env = dict(self._env)
        if index is not None:
            env["GIT_INDEX_FILE"] = str(index)
        env |= dict(extra_env or {})
        # Hooks of the user's config must not run inside this private clone.
        argv = ["git", "-c", f"core.hooksPath={os.devnull}", *args]
        return subprocess.run(
            argv,
            cwd=self.workdir,
            env=env,
            input=stdin,
            capture_output=True,
            check=False,
            timeout=120,
        )


def _local_ref(remote_ref: str) -> str:
    if remote_ref.startswith("refs/heads/"):
        return "refs/remotes/origin/" + remote_ref.removeprefix("refs/heads/")
    return remote_ref
