"""Running git for the Nephio package writer: environment, redaction, failure classification."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from collections.abc import Mapping, Sequence
from pathlib import Path

REPO_CONTEXT_VARS = frozenset(
    {
        # Listed by the review: each points git at another repository or part of one.
        "GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY",
        "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_NAMESPACE", "GIT_COMMON_DIR", "GIT_PREFIX",
        "GIT_CEILING_DIRECTORIES",
        # Also repository-local per `git rev-parse --local-env-vars`, or a hook's quarantine.
        "GIT_IMPLICIT_WORK_TREE", "GIT_GRAFT_FILE", "GIT_SHALLOW_FILE", "GIT_REPLACE_REF_BASE",
        "GIT_NO_REPLACE_OBJECTS", "GIT_QUARANTINE_PATH",
    }
)  # fmt: skip
"""Variables a calling git (a hook, a test harness) exports that would redirect ours."""

_HTTP_STATUS = re.compile(r"(?:returned error:|\bHTTP)\s*(\d{3})\b", re.IGNORECASE)
_PERMANENT = (
    "does not appear to be a git repository",
    "repository not found",
    "not found",
    "authentication failed",
    "denied",  # permission denied, access denied, [remote rejected] ... denied
    "could not read username",
    "could not read password",
    "invalid username or password",
    "invalid credentials",
    "host key verification failed",
    "hook declined",
    "protected branch",
)
_TRANSIENT = (
    "connection refused",
    "connection reset",
    "connection timed out",
    "timed out",
    "timeout was reached",
    "could not resolve host",
    "temporary failure in name resolution",
    "name or service not known",
    "network is unreachable",
    "no route to host",
    "failed to connect",
    "couldn't connect to server",
    "remote end hung up",
    "early eof",
    "unexpected disconnect",
    "broken pipe",
    "ssl_error_syscall",
)


def is_transient(stderr: str) -> bool:
    """Whether git's ``stderr`` reports a failure that may pass by itself (network, 5xx, 429).

    Anything that names a missing repository, a refused credential or a declined push is
    permanent even when git adds "remote end hung up" after it; unknown failures are permanent.
    """
    text = stderr.lower()
    codes = {int(c) for c in _HTTP_STATUS.findall(text)}
    if any(400 <= c < 500 and c not in (408, 429) for c in codes):
        return False
    if any(p in text for p in _PERMANENT):
        return False
    return any(c >= 500 or c in (408, 429) for c in codes) or any(t in text for t in _TRANSIENT)


def git_env(author_name: str, author_email: str, base: Mapping[str, str]) -> dict[str, str]:
    """``base`` (the user's environment) minus repository context, with a fixed identity.

    User and system git config and variables such as GIT_SSH_COMMAND, GIT_ASKPASS and
    GIT_SSL_CAINFO stay, so credential helpers, ``insteadOf`` rewrites and deploy keys work.
    """
    env = {k: v for k, v in base.items() if k not in REPO_CONTEXT_VARS}
    env |= {f"GIT_{who}_NAME": author_name for who in ("AUTHOR", "COMMITTER")}
    env |= {f"GIT_{who}_EMAIL": author_email for who in ("AUTHOR", "COMMITTER")}
    return env | {"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}


def run(
    args: Sequence[str],
    *,
    cwd: Path,
    env: Mapping[str, str],
    stdin: bytes | None,
    timeout: float,
) -> subprocess.CompletedProcess[bytes]:
    """``git -c core.hooksPath=/dev/null *args`` in a session of its own.

    Without a controlling terminal ssh cannot ask for a passphrase or a host key either, so a
    missing credential fails instead of hanging; on timeout the whole group (ssh, remote
    helpers) is killed and TimeoutExpired raised. Hooks are the user's, not this private clone's.
    """
    argv = ["git", "-c", f"core.hooksPath={os.devnull}", *args]
    with subprocess.Popen(
        argv,
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    ) as proc:
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.communicate()
            raise
    return subprocess.CompletedProcess(argv, proc.returncode, out, err)
