"""DecodePool: worker processes and in-process decoding give identical frames and failures."""

from __future__ import annotations

import gzip
from itertools import pairwise

import pandas as pd
import pytest

from rapp.telemetry.pool import DecodePool, _bounds
from rapp.telemetry.ranpm import decode_batch
from simulators.o1.network import Network
from simulators.o1.report import rop_reports


@pytest.fixture(scope="module")
def payloads() -> list[bytes]:
    end = pd.Timestamp("2026-11-24T12:00Z")
    good = [v for _, v in rop_reports(Network(n_cells=120, cells_per_gnb=3), end)]
    # bad records and odd forms scattered through, so failures land in different chunks
    mixed = list(good)
    mixed.insert(3, b"not json")
    mixed.insert(17, gzip.compress(good[5]))
    mixed.insert(30, b'{"event": 1}')
    mixed.append(good[0].replace(b'"p":1,', b'"p":99,', 1))  # p out of range
    return mixed


def test_pool_equals_in_process(payloads: list[bytes]) -> None:
    expected, expected_failures = decode_batch(payloads)
    with DecodePool(workers=2, min_parallel_bytes=0) as pool:
        batch, failures = pool.decode(payloads)
        again, _ = pool.decode(payloads)  # the pool is reusable
    pd.testing.assert_frame_equal(batch.frame, expected.frame)
    pd.testing.assert_frame_equal(again.frame, expected.frame)
    assert [(i, e.reason) for i, e in failures] == [(i, e.reason) for i, e in expected_failures]
    assert [i for i, _ in failures] == [3, 30, len(payloads) - 1]


def test_small_lists_stay_in_process(payloads: list[bytes]) -> None:
    pool = DecodePool(workers=2)  # default threshold: this list is far below it
    batch, failures = pool.decode(payloads[:5])
    assert pool._executor is None
    expected, expected_failures = decode_batch(payloads[:5])
    pd.testing.assert_frame_equal(batch.frame, expected.frame)
    assert len(failures) == len(expected_failures) == 1
    pool.close()


def test_bounds_are_contiguous_and_cover_everything() -> None:
    sizes = [b"x" * n for n in (5, 1, 1, 1, 9, 2, 2, 2, 2, 2)]
    for n in (1, 2, 3, 7, 20):
        bounds = _bounds(sizes, n)
        assert bounds[0][0] == 0
        assert bounds[-1][1] == len(sizes)
        assert all(a[1] == b[0] for a, b in pairwise(bounds))
        assert len(bounds) <= n
