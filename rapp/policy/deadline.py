"""A deadline on the embedded engine: a policy that runs away (a huge ``numbers.range``, an
accidental cross product) must deny its decision, not hold the loop that waits for it.

regorus holds the GIL while it evaluates and cannot be interrupted, so no thread can stop it,
nor even notice the time passing. The engine therefore runs in a child process of its own
(``serve`` below, in a fresh interpreter), fed one batch at a time over a pipe. A decision without
an answer within ``timeout_s`` is given up with the rest of its batch, the child is killed, and
a fresh one judges the next batch.

The protocol is JSON lines. The parent writes the set once (``{"modules", "data", "program",
"query"}``) and the child answers ``{"ready": true}``; then per batch the parent writes the
count and one input document per line, and the child answers one line per document:
``{"ok": result}`` or ``{"error": [message, file, line, col]}``.
"""

from __future__ import annotations

import base64
import json
import logging
import os
import selectors
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from typing import Any

from rapp.policy.loader import PolicyError, PolicySet

log = logging.getLogger(__name__)

LATE: Any = object()
"""What ``Deadline.map`` gives for a document the child did not answer in time."""


class Deadline:
    """Judges input documents in a child process, at most ``timeout_s`` per document."""

    def __init__(
        self,
        policy_set: PolicySet,
        program: bytes | None,
        query: str,
        timeout_s: float,
        *,
        setup_timeout_s: float = 60.0,
    ) -> None:
        if timeout_s <= 0:
            raise ValueError(f"timeout_s must be positive, not {timeout_s}")
        self.timeout_s = timeout_s
        self.setup_timeout_s = setup_timeout_s
        self._init = (
            json.dumps(
                {
                    "modules": policy_set.modules,
                    "data": policy_set.data,
                    "program": base64.b64encode(program).decode() if program else None,
                    "query": query,
                    # The child's own limit per document, for when no parent is left to kill it.
                    "budget_s": 4 * timeout_s + 1,
                }
            ).encode()
            + b"\n"
        )
        self._lock = threading.Lock()
        self._child: _Child | None = None
        self.overstayed = 0
        """Documents given up so far (each cost the child its life)."""

    def map(self, documents: Sequence[str]) -> list[Any]:
        """Per document: the query's value (None when undefined), a ``PolicyError``, or
        ``LATE`` for the one that overstayed and every one after it in the batch."""
        if not documents:
            return []
        with self._lock:  # one batch at a time through the pipe
            answers: list[Any] = []
            try:
                child = self._ready_child()
                child.send(documents)
                for _ in documents:
                    line = child.read_line(self.timeout_s)
                    if line is None:
                        self.overstayed += 1
                        log.warning(
                            "a decision had no verdict within %g s: policy child killed",
                            self.timeout_s,
                        )
                        self._drop()
                        return answers + [LATE] * (len(documents) - len(answers))
                    answers.append(_answer(line))
            except BaseException as exc:
                # Whatever broke (the child died, a garbled line), answers still in the pipe
                # must never reach another batch: the child goes, and the rest is denied.
                self._drop()
                if not isinstance(exc, Exception):
                    raise
                error = exc if isinstance(exc, PolicyError) else PolicyError(f"policy child: {exc}")
                return answers + [error] * (len(documents) - len(answers))
            return answers

    def close(self) -> None:
        """End the child (a new one starts if ``map`` is called again)."""
        with self._lock:
            self._drop()

    def _ready_child(self) -> _Child:
        if self._child is None:
            self._child = _Child(self._init, self.setup_timeout_s)
        return self._child

    def _drop(self) -> None:
        if self._child is not None:
            self._child.kill()
            self._child = None


def _answer(line: bytes) -> Any:
    message = json.loads(line)
    if "ok" in message:
        return message["ok"]
    text, file, line_no, col = message["error"]
    return PolicyError(text, file=file, line=line_no, col=col)


class _Child:
    """A running child (``serve``), read line by line with timeouts."""

    def __init__(self, init: bytes, setup_timeout_s: float) -> None:
        self._proc = subprocess.Popen(
            [sys.executable, "-c", "from rapp.policy.deadline import serve; serve()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            bufsize=0,
        )
        if self._proc.stdin is None or self._proc.stdout is None:  # pragma: no cover
            raise RuntimeError("Popen gave no pipes")
        self._stdin, self._stdout = self._proc.stdin, self._proc.stdout
        self._selector = selectors.DefaultSelector()
        self._selector.register(self._stdout, selectors.EVENT_READ)
        self._buffer = bytearray()
        self._writer: threading.Thread | None = None
        try:
            self.send_raw(init)
            ready = self.read_line(setup_timeout_s)
            if ready is None or json.loads(ready) != {"ready": True}:
                raise PolicyError(f"the policy child did not start within {setup_timeout_s:g} s")
        except BaseException:
            self.kill()
            raise

    def send(self, documents: Sequence[str]) -> None:
        self.send_raw(
            f"{len(documents)}\n".encode() + "".join(f"{d}\n" for d in documents).encode()
        )

    def send_raw(self, payload: bytes) -> None:
        """Written from a thread while the answers are read: a batch may be more than the pipe
        holds, and the child, blocked on a full stdout, would stop reading; a write the caller
        waited on could also outlast the deadline."""
        if self._writer is not None:
            self._writer.join()  # the last batch was read whole, so its writer is done
        self._writer = threading.Thread(target=self._write_all, args=(payload,), daemon=True)
        self._writer.start()

    def read_line(self, timeout_s: float) -> bytes | None:
        """The next line, or None if none came within ``timeout_s``."""
        deadline = time.monotonic() + timeout_s
        while b"\n" not in self._buffer:
            left = deadline - time.monotonic()
            if left <= 0 or not self._selector.select(left):
                return None
            chunk = os.read(self._stdout.fileno(), 1 << 16)
            if not chunk:
                raise PolicyError(f"the policy child died (exit {self._proc.wait()})")
            self._buffer += chunk
        line, _, rest = bytes(self._buffer).partition(b"\n")
        self._buffer = bytearray(rest)
        return line

    def kill(self) -> None:
        # The child first: a writer blocked on the pipe then fails (EPIPE) and ends, so
        # nothing writes to a descriptor that is closed, or reused, after.
        self._proc.kill()
        self._proc.wait()
        if self._writer is not None:
            self._writer.join(timeout=5)
        self._selector.close()
        for stream in (self._stdin, self._stdout):
            stream.close()

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        try:
            while view:
                view = view[self._stdin.write(view) or 0 :]
        except (OSError, ValueError) as exc:  # the reader sees the child gone, and says so
            log.debug("policy child stdin: %s", exc)


def serve() -> None:
    """The child: build the engines once, then answer batches until stdin closes."""
    from rapp.policy.engine import _build, evaluate_document

    out = os.fdopen(os.dup(1), "wb", buffering=0)
    os.dup2(2, 1)  # whatever else writes to stdout (a policy's print) must not break the pipe
    stdin = sys.stdin.buffer
    init = json.loads(stdin.readline())
    program = base64.b64decode(init["program"]) if init["program"] else None
    policy_set = PolicySet.create(init["modules"], init["data"])
    prepared = _build(policy_set, program, json.dumps(init["data"]))
    query = init["query"]
    # The parent kills a child that overstays; if the parent itself is gone (SIGKILL, OOM),
    # SIGALRM's default action ends a runaway here, whatever regorus holds meanwhile.
    budget = init["budget_s"]
    out.write(b'{"ready": true}\n')
    while header := stdin.readline():
        for _ in range(int(header)):
            document = stdin.readline().decode()
            signal.setitimer(signal.ITIMER_REAL, budget)
            try:
                message: dict[str, Any] = {"ok": evaluate_document(prepared, document, query)}
            except PolicyError as exc:
                message = {"error": [exc.message, exc.file, exc.line, exc.col]}
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            data = json.dumps(message).encode() + b"\n"
            while data:
                data = data[out.write(data) or 0 :]
