"""Decode ranpm records on every core: a process pool for a backlog, in-process for a trickle.

Decoding is CPU-bound Python, so threads do not help; ``DecodePool`` splits a large list of
payloads into contiguous chunks, decodes them in worker processes (``spawn`` start method: safe
under asyncio, threads and macOS) and joins the results in order. Workers hand back
``ranpm.Packed`` (numpy arrays, counter codes and one string per cell), not DataFrames, which
keeps the pickling cheap; the one DataFrame is built in the caller. The result is exactly what
``decode_batch`` returns for the same list: same rows in the same order, same failure indices.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from types import TracebackType

from rapp.domain import PmBatch
from rapp.telemetry.ranpm import DecodeError, Packed, decode_packed

__all__ = ["DecodePool"]

Failures = list[tuple[int, DecodeError]]


def _decode_chunk(payloads: Sequence[bytes]) -> tuple[Packed, Failures]:
    return decode_packed(payloads)


def _ready() -> int:
    return os.getpid()


class DecodePool:
    """``decode(payloads) -> (PmBatch, failures)``, like ``ranpm.decode_batch``.

    ``workers``: processes (default: cores - 1, at least 1). The caller decodes one chunk itself
    while the workers do the others, so with two cores one worker already uses both.
    ``min_parallel_bytes``: a list with fewer payload bytes than this is decoded in-process
    (starting chunks in other processes costs more than it saves on a small poll).

    The pool starts lazily (or with ``start()``, which also waits until every worker has
    imported the codec) and must be closed: ``close()``, or use it as a context manager.
    """

    def __init__(self, workers: int | None = None, *, min_parallel_bytes: int = 2_000_000) -> None:
        cores = os.cpu_count() or 1
        self.workers = max(1, cores - 1) if workers is None else workers
        if self.workers < 0:
            raise ValueError(f"workers must be >= 0, got {self.workers}")
        self.min_parallel_bytes = min_parallel_bytes
        self._executor: ProcessPoolExecutor | None = None

    def start(self) -> DecodePool:
        if self._executor is None and self.workers > 0:
            self._executor = ProcessPoolExecutor(
                max_workers=self.workers, mp_context=multiprocessing.get_context("spawn")
            )
            # import the codec in every worker now, not during the first ROP
            for f in [self._executor.submit(_ready) for _ in range(self.workers)]:
                f.result()
        return self

    def close(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None

    def __enter__(self) -> DecodePool:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def decode(self, payloads: Sequence[bytes]) -> tuple[PmBatch, Failures]:
        packed, failures = self.decode_packed(payloads)
        return packed.to_batch(), failures

    def decode_packed(self, payloads: Sequence[bytes]) -> tuple[Packed, Failures]:
        payloads = list(payloads)
        if self.workers == 0 or len(payloads) < 2 or self._size(payloads) < self.min_parallel_bytes:
            return decode_packed(payloads)
        self.start()
        assert self._executor is not None
        n_chunks = self.workers + 1
        bounds = _bounds(payloads, n_chunks)
        futures: list[Future[tuple[Packed, Failures]]] = [
            self._executor.submit(_decode_chunk, payloads[lo:hi]) for lo, hi in bounds[1:]
        ]
        results = [decode_packed(payloads[bounds[0][0] : bounds[0][1]])]
        results += [f.result() for f in futures]
        failures: Failures = []
        for (lo, _), (_, chunk_failures) in zip(bounds, results, strict=True):
            failures += [(lo + i, err) for i, err in chunk_failures]
        return Packed.concat([packed for packed, _ in results]), failures

    @staticmethod
    def _size(payloads: Sequence[bytes]) -> int:
        return sum(len(p) if isinstance(p, bytes | bytearray) else 0 for p in payloads)


def _bounds(payloads: Sequence[bytes], n_chunks: int) -> list[tuple[int, int]]:
    """Contiguous (lo, hi) ranges of about equal bytes; the first one is the caller's."""
    sizes = [len(p) if isinstance(p, bytes | bytearray) else 0 for p in payloads]
    total = sum(sizes) or 1
    bounds, lo, acc, k = [], 0, 0, 1
    for i, size in enumerate(sizes):
        acc += size
        if acc >= total * k / n_chunks and len(bounds) < n_chunks - 1:
            bounds.append((lo, i + 1))
            lo, k = i + 1, k + 1
    bounds.append((lo, len(payloads)))
    return bounds
