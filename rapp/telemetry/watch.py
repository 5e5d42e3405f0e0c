"""A watched directory of PM files (3GPP PM XML by default), as a source of ``PmBatch``es.

The directory is polled (no inotify dependency; works on NFS and volume mounts too). Only files
directly in it whose name matches ``pattern`` are taken; hidden files (``.name``) and names
ending in ``.part``, ``.tmp``, ``.partial``, ``.filepart`` or ``.crdownload`` never are.

When a file is taken (the rule against reading a file half-written): a file is taken once
nothing has been written to it for a whole poll interval, that is either

* its size and modification time (ns) were the same on two consecutive polls, or
* at first sight, its modification time is already at least ``poll_interval`` old: a file
  that was written elsewhere and moved (renamed) in, as well-behaved senders do, or one left
  over from before a restart.

A writer that pauses for longer than a poll interval in the middle of a file defeats this
rule (as it would any rule that does not know the writer); such senders should write to a
``.part`` name and rename.

What happens to a file, and why restarts neither lose nor re-read it (this is the state; no
separate state file): a file in ``directory`` is by definition not yet done.

* Decoded: yielded as a ``FileBatch`` and remembered as in flight (not yielded again). The
  caller calls ``await file_batch.done()`` once the batch is in state; that moves the file to
  ``done_dir`` (default ``<directory>/done``). A crash before ``done()`` leaves it in place:
  it is read again after the restart (at-least-once, as with Kafka offsets).
* Not decodable (``DecodeError``, or any other exception from the decoder, or an unreadable
  gzip, or larger than ``max_file_bytes`` unzipped): ``<name>.reason.txt`` is written to
  ``failed_dir`` (default ``<directory>/failed``), then the file is moved beside it. This is
  the dead-letter place for files.

Moves are ``os.replace`` (atomic within one file system); a name already taken in the target
directory gets a ``.1``, ``.2``... suffix rather than overwriting an earlier file.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path

from rapp.domain import PmBatch
from rapp.telemetry._gzip import DEFAULT_MAX_PAYLOAD_BYTES
from rapp.telemetry.ranpm import DecodeError

__all__ = ["DirectorySource", "FileBatch", "FileDecoder"]

log = logging.getLogger(__name__)

FileDecoder = Callable[[Path, int], PmBatch]
"""One file (plain or gzip) and the most it may expand to in, its batch out; ``DecodeError``
when it cannot. Given the path, not the bytes, so that a large file is streamed from disk."""

IGNORED_SUFFIXES = (".part", ".tmp", ".partial", ".filepart", ".crdownload")


def decode_pm_xml_file(path: Path, max_bytes: int) -> PmBatch:
    """The default decoder: 3GPP PM XML, streamed (imported on first use)."""
    from rapp.telemetry.pmxml import decode_pm_xml

    return decode_pm_xml(path, max_bytes=max_bytes)


@dataclass(frozen=True)
class FileBatch:
    """One decoded file; call ``done()`` once its batch is in state."""

    path: Path
    batch: PmBatch
    _done: Callable[[], Awaitable[Path]] = field(repr=False)

    async def done(self) -> Path:
        """Move the file to the done directory; returns where it went."""
        return await self._done()


class DirectorySource:
    """Polls ``directory`` for PM files; see the module docstring for the rules."""

    def __init__(
        self,
        directory: Path | str,
        *,
        pattern: str = "*.xml*",
        poll_interval: float = 2.0,
        done_dir: Path | str | None = None,
        failed_dir: Path | str | None = None,
        decoder: FileDecoder = decode_pm_xml_file,
        max_file_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
    ) -> None:
        self.directory = Path(directory)
        self.pattern = pattern
        self.poll_interval = poll_interval
        self.done_dir = Path(done_dir) if done_dir is not None else self.directory / "done"
        self.failed_dir = Path(failed_dir) if failed_dir is not None else self.directory / "failed"
        self.decoder = decoder
        self.max_file_bytes = max_file_bytes
        self._seen: dict[str, tuple[int, int]] = {}
        self._in_flight: set[str] = set()
        self._stopped = False
        self.files_done = 0
        self.files_failed = 0

    def stop(self) -> None:
        """End ``batches()`` after the current poll."""
        self._stopped = True

    async def batches(self) -> AsyncIterator[FileBatch]:
        """A ``FileBatch`` per decoded file, oldest first, until ``stop()``."""
        if not self.directory.is_dir():
            raise FileNotFoundError(f"watched directory {self.directory} does not exist")
        self.done_dir.mkdir(parents=True, exist_ok=True)
        self.failed_dir.mkdir(parents=True, exist_ok=True)
        self._stopped = False
        while not self._stopped:
            for path in await asyncio.to_thread(self._ready):
                if self._stopped:
                    return
                batch = await asyncio.to_thread(self._decode, path)
                if batch is not None:
                    self._in_flight.add(path.name)
                    yield FileBatch(path, batch, self._finisher(path))
            if not self._stopped:
                await asyncio.sleep(self.poll_interval)

    def poll_once(self) -> list[Path]:
        """The files that are ready now (and not in flight); updates what was seen. Blocking."""
        return self._ready()

    def _ready(self) -> list[Path]:
        now = time.time_ns()
        settle_ns = int(self.poll_interval * 1e9)
        seen: dict[str, tuple[int, int]] = {}
        ready: list[tuple[int, str, Path]] = []
        try:
            entries = list(os.scandir(self.directory))
        except OSError as err:
            log.warning("cannot list %s: %s", self.directory, err)
            return []
        for entry in entries:
            name = entry.name
            if (
                name.startswith(".")
                or name.endswith(IGNORED_SUFFIXES)
                or not fnmatchcase(name, self.pattern)
                or name in self._in_flight
            ):
                continue
            try:
                if not entry.is_file(follow_symlinks=False):
                    continue
                st = entry.stat(follow_symlinks=False)
            except OSError:
                continue  # gone meanwhile
            sig = (st.st_size, st.st_mtime_ns)
            before = self._seen.get(name)
            if before == sig or (before is None and now - st.st_mtime_ns >= settle_ns):
                ready.append((st.st_mtime_ns, name, Path(entry.path)))
            else:
                seen[name] = sig
        self._seen = seen  # forget files that vanished or were taken
        return [path for _, _, path in sorted(ready)]

    def _decode(self, path: Path) -> PmBatch | None:
        try:
            with path.open("rb"):
                pass
        except OSError as err:
            log.warning("cannot read %s, will retry: %s", path, err)
            return None
        try:
            batch = self.decoder(path, self.max_file_bytes)
            if not isinstance(batch, PmBatch):
                raise DecodeError(f"decoder returned {type(batch).__name__}, not a PmBatch")
        except DecodeError as err:
            self._fail(path, err.reason)
            return None
        except Exception as err:  # a decoder bug or a RecursionError must not end the source
            first = str(err).splitlines()[0][:300] if str(err) else ""
            self._fail(path, f"decoder failed: {type(err).__name__}: {first}".rstrip(": "))
            return None
        return batch

    def _fail(self, path: Path, reason: str) -> None:
        target = _free_name(self.failed_dir / path.name)
        # the reason first: a crash between the two leaves the file to be tried again
        (target.parent / f"{target.name}.reason.txt").write_text(
            f"{path.name}: {reason}\n", encoding="utf-8"
        )
        os.replace(path, target)
        self.files_failed += 1
        log.warning("PM file %s failed to decode, moved to %s: %s", path.name, target, reason)

    def _finisher(self, path: Path) -> Callable[[], Awaitable[Path]]:
        async def done() -> Path:
            def move() -> Path:
                target = _free_name(self.done_dir / path.name)
                os.replace(path, target)
                return target

            try:
                target = await asyncio.to_thread(move)
            finally:
                self._in_flight.discard(path.name)
            self.files_done += 1
            log.debug("PM file %s done, moved to %s", path.name, target)
            return target

        return done


def _free_name(path: Path) -> Path:
    if not path.exists() and not Path(f"{path}.reason.txt").exists():
        return path
    n = 1
    while True:
        candidate = path.with_name(f"{path.name}.{n}")
        if not candidate.exists() and not Path(f"{candidate}.reason.txt").exists():
            return candidate
        n += 1
