"""The table of PackageRevisions by name, with resourceVersions and per-revision request locks.

Porch keeps the same two things: a cache of revisions (git holds the content, the cache the
Kubernetes metadata) and one mutex per revision that a request *tries* to take, answering 409
when another request holds it (``getMutexForPackage`` + ``TryLock``). Revisions are immutable
values swapped in whole, so readers never see half an update.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from simulators.porch.revisions import Revision


class Busy(Exception):
    """Another request holds the revision's lock."""


class Index:
    """Thread-safe: every method takes the table lock briefly."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._revisions: dict[str, Revision] = {}
        self._versions = itertools.count(1)
        self._nonce = uuid.uuid4().hex
        self._request_locks: dict[str, threading.Lock] = {}

    def get(self, name: str) -> Revision | None:
        with self._lock:
            return self._revisions.get(name)

    def all(self) -> list[Revision]:
        with self._lock:
            return list(self._revisions.values())

    def put(self, rev: Revision, *, bump: bool = True) -> Revision:
        """Store ``rev`` (replacing any of its name); ``bump`` gives it a new resourceVersion,
        which every change must: clients detect changes by it."""
        with self._lock:
            if bump:
                # 40 hex digits like Porch's (a commit id): opaque, never "1", never ordered.
                seed = f"{self._nonce}:{next(self._versions)}".encode()
                version = hashlib.sha1(seed, usedforsecurity=False).hexdigest()
                rev = dataclasses.replace(rev, resource_version=version)
            self._revisions[rev.name] = rev
            return rev

    def remove(self, name: str) -> None:
        with self._lock:
            self._revisions.pop(name, None)

    def snapshot(self) -> tuple[list[Revision], set[str]]:
        """Every revision, and the names of those labelled latest, as of one instant."""
        with self._lock:
            revs = list(self._revisions.values())
        return revs, latest_names(revs)

    def is_latest(self, rev: Revision) -> bool:
        with self._lock:
            return rev.name in latest_names(
                r
                for r in self._revisions.values()
                if (r.repository, r.package) == (rev.repository, rev.package)
            )

    @contextmanager
    def try_lock(self, key: str) -> Iterator[None]:
        """Hold ``key``'s request lock for the block, or raise Busy at once if it is held."""
        lock = self._request_lock(key)
        if not lock.acquire(blocking=False):
            raise Busy(key)
        try:
            yield
        finally:
            lock.release()

    @contextmanager
    def hold(self, key: str) -> Iterator[None]:
        """Wait for ``key``'s request lock and hold it: a request in flight, for tests."""
        lock = self._request_lock(key)
        with lock:
            yield

    def _request_lock(self, key: str) -> threading.Lock:
        with self._lock:
            return self._request_locks.setdefault(key, threading.Lock())


def latest_names(revisions: Iterator[Revision] | list[Revision]) -> set[str]:
    """``identifyLatestRevisions``: per package, the published revision with the highest
    number; the placeholder (-1) and non-integer tags never count."""
    best: dict[tuple[str, str], Revision] = {}
    for rev in revisions:
        if not rev.is_published or rev.revision < 1:
            continue
        key = (rev.repository, rev.package)
        if key not in best or rev.revision > best[key].revision:
            best[key] = rev
    return {rev.name for rev in best.values()}
