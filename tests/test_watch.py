"""``DirectorySource``: a polled directory of PM files, with done and failed (dead-letter) dirs."""

from __future__ import annotations

import asyncio
import contextlib
import gzip
import os
import shutil
import time
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
import pytest

from rapp.domain import PmBatch
from rapp.telemetry._gzip import unwrap_gzip
from rapp.telemetry.pmxml import decode_pm_xml
from rapp.telemetry.ranpm import DecodeError, decode_ranpm
from rapp.telemetry.watch import DirectorySource, FileBatch

POLL = 0.05


async def _take(source: DirectorySource, n: int, limit_s: float = 5.0) -> list[FileBatch]:
    out: list[FileBatch] = []
    async with asyncio.timeout(limit_s):
        async for fb in source.batches():
            out.append(fb)
            if len(out) >= n:
                break
    return out


async def _idle(source: DirectorySource, seconds: float) -> list[FileBatch]:
    """Whatever ``batches()`` yields within ``seconds``."""
    out: list[FileBatch] = []

    async def run() -> None:
        async for fb in source.batches():
            out.append(fb)

    task = asyncio.create_task(run())
    await asyncio.sleep(seconds)
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    return out


def _age(path: Path, seconds: float = 60) -> None:
    old = time.time() - seconds
    os.utime(path, (old, old))


# --- the real thing: O-RAN SC ranpm JSON files ------------------------------------------------


async def test_ranpm_json_files_decode_move_to_done_and_failed(
    samples: Path, tmp_path: Path
) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    for name in ("ranpm_pm_report.json", "ranpm_pm_report_filtered.json"):
        shutil.copy(samples / "pm-json" / name, inbox / name)
    gz = inbox / "again_filtered.json.gz"
    gz.write_bytes(
        gzip.compress((samples / "pm-json" / "ranpm_pm_report_filtered.json").read_bytes())
    )
    (inbox / "broken.json").write_bytes(b'{"event": {"commonEventHeader": {"domain": "fault"}}}')
    _age(inbox / "broken.json", 120)  # the oldest: failed before the others are yielded
    for name in ("ranpm_pm_report.json", "ranpm_pm_report_filtered.json", gz.name):
        _age(inbox / name)

    source = DirectorySource(
        inbox,
        pattern="*.json*",
        poll_interval=POLL,
        decoder=lambda path, _: decode_ranpm(path.read_bytes()),
    )
    batches = await _take(source, 3)
    by_name = {fb.path.name: fb for fb in batches}
    assert set(by_name) == {
        "ranpm_pm_report.json",
        "ranpm_pm_report_filtered.json",
        "again_filtered.json.gz",
    }
    assert len(by_name["ranpm_pm_report.json"].batch.cells) == 4
    assert len(by_name["ranpm_pm_report.json"].batch) == 36
    assert len(by_name["ranpm_pm_report_filtered.json"].batch) == 3
    pd.testing.assert_frame_equal(
        by_name["again_filtered.json.gz"].batch.frame,
        by_name["ranpm_pm_report_filtered.json"].batch.frame,
    )
    for fb in batches:
        assert await fb.done() == inbox / "done" / fb.path.name
    assert sorted(p.name for p in inbox.iterdir() if p.is_file()) == []
    assert (inbox / "failed" / "broken.json").is_file()
    assert (inbox / "failed" / "broken.json.reason.txt").read_text() == (
        "broken.json: domain is 'fault', expected 'perf3gpp'\n"
    )
    assert (source.files_done, source.files_failed) == (3, 1)


async def test_pm_xml_files_by_default_streamed_and_bounded(samples: Path, tmp_path: Path) -> None:
    """The default decoder takes 3GPP PM XML from the path (plain or gzip, streamed from disk);
    a gzip file that would expand past ``max_file_bytes`` is dead-lettered with that reason."""
    sample = samples / "pm-xml" / "onap_A20181002.0000-1000-0015-1000_5G.xml"
    (tmp_path / "a.xml").write_bytes(sample.read_bytes())
    (tmp_path / "b.xml.gz").write_bytes(gzip.compress(sample.read_bytes()))
    (tmp_path / "huge.xml.gz").write_bytes(
        gzip.compress(
            sample.read_bytes().replace(b"</measCollecFile>", b" " * 10**6 + b"</measCollecFile>")
        )
    )
    for name in ("a.xml", "b.xml.gz"):
        _age(tmp_path / name)
    _age(tmp_path / "huge.xml.gz", 120)  # the oldest: failed before the others are yielded
    source = DirectorySource(
        tmp_path, poll_interval=POLL, max_file_bytes=len(sample.read_bytes()) + 1000
    )
    a, b = await _take(source, 2)
    pd.testing.assert_frame_equal(a.batch.frame, decode_pm_xml(sample).frame)
    pd.testing.assert_frame_equal(b.batch.frame, a.batch.frame)
    reason = (tmp_path / "failed" / "huge.xml.gz.reason.txt").read_text()
    assert reason.startswith("huge.xml.gz: gzip payload expands past")


# --- the rules, with a stub decoder -----------------------------------------------------------


def _stub(path: Path, max_bytes: int) -> PmBatch:
    return _stub_bytes(unwrap_gzip(path.read_bytes(), max_bytes))


def _stub_bytes(data: bytes) -> PmBatch:
    if not data.startswith(b"pm:"):
        raise DecodeError(f"not a stub file: {data[:12]!r}")
    frame = pd.DataFrame(
        {
            "cell": [data[3:].decode().strip()],
            "period_end": [pd.Timestamp("2025-01-06T12:00Z")],
            "granularity_s": pd.Series([900], dtype="int32"),
            "counter": ["c"],
            "value": [1.0],
            "suspect": [False],
        }
    )
    return PmBatch(frame)


def _names(batches: Sequence[FileBatch]) -> list[str]:
    return [fb.path.name for fb in batches]


async def test_a_file_being_written_is_taken_only_once_stable(tmp_path: Path) -> None:
    growing = tmp_path / "A.xml"
    growing.write_bytes(b"pm:")
    source = DirectorySource(tmp_path, poll_interval=0.2, decoder=_stub)

    async def writer() -> None:
        for part in (b"cell", b"-1", b"\n"):
            await asyncio.sleep(0.12)  # less than a poll interval between writes
            with growing.open("ab") as f:
                f.write(part)

    write = asyncio.create_task(writer())
    (fb,) = await _take(source, 1)
    await write
    assert fb.batch.frame["cell"].tolist() == ["cell-1"]  # never the half-written "pm:cel"


async def test_moved_in_files_are_taken_at_first_sight_oldest_first(tmp_path: Path) -> None:
    inbox, staging = tmp_path / "in", tmp_path / "staging"
    inbox.mkdir()
    staging.mkdir()
    for i, name in enumerate(["C.xml", "A.xml.gz", "B.xml"]):
        path = staging / name
        path.write_bytes(
            gzip.compress(b"pm:" + name.encode())
            if name.endswith(".gz")
            else b"pm:" + name.encode()
        )
        _age(path, 100 - i)  # C oldest
    for name in ["x.xml.part", ".hidden.xml", "notes.txt", "y.xml.tmp"]:
        (staging / name).write_bytes(b"pm:no")
        _age(staging / name)
    (staging / "dir.xml").mkdir()
    for path in staging.iterdir():
        os.replace(path, inbox / path.name)

    source = DirectorySource(inbox, poll_interval=10.0, decoder=_stub)  # one poll only
    batches = await _take(source, 3, limit_s=2)
    assert _names(batches) == ["C.xml", "A.xml.gz", "B.xml"]
    assert batches[1].batch.frame["cell"].tolist() == ["A.xml.gz"]


async def test_not_done_is_not_yielded_again_but_is_reread_after_a_restart(tmp_path: Path) -> None:
    (tmp_path / "A.xml").write_bytes(b"pm:a")
    (tmp_path / "B.xml").write_bytes(b"pm:b")
    _age(tmp_path / "A.xml", 90)
    _age(tmp_path / "B.xml", 60)
    first = DirectorySource(tmp_path, poll_interval=POLL, decoder=_stub)
    taken = await _take(first, 2)
    await taken[0].done()
    assert await _idle(first, 4 * POLL) == []  # B is in flight: not yielded twice

    # a crash before B's done(): a new source (the restarted process) reads B again, not A
    second = DirectorySource(tmp_path, poll_interval=POLL, decoder=_stub)
    (again,) = await _take(second, 1)
    assert again.path.name == "B.xml"
    await again.done()
    assert sorted(p.name for p in (tmp_path / "done").iterdir()) == ["A.xml", "B.xml"]

    # the same name delivered again later does not overwrite the earlier done file
    (tmp_path / "A.xml").write_bytes(b"pm:a2")
    _age(tmp_path / "A.xml")
    (fb,) = await _take(second, 1)
    assert await fb.done() == tmp_path / "done" / "A.xml.1"
    assert (tmp_path / "done" / "A.xml").read_bytes() == b"pm:a"


async def test_failures_go_to_failed_dir_with_a_reason(tmp_path: Path) -> None:
    inbox = tmp_path / "in"
    inbox.mkdir()
    (inbox / "bad.xml").write_bytes(b"garbage")
    (inbox / "crash.xml").write_bytes(b"pm:crash")
    (inbox / "badzip.xml.gz").write_bytes(b"\x1f\x8b\x08\x00garbage")
    (inbox / "ok.xml").write_bytes(b"pm:ok")
    for i, name in enumerate(["bad.xml", "crash.xml", "badzip.xml.gz", "ok.xml"]):
        _age(inbox / name, 100 - i)  # ok.xml is the newest: the failures come first

    def decoder(path: Path, max_bytes: int) -> PmBatch:
        if path.read_bytes() == b"pm:crash":
            raise RecursionError("maximum recursion depth exceeded")
        return _stub(path, max_bytes)

    failed = tmp_path / "dead"
    source = DirectorySource(
        inbox, poll_interval=POLL, decoder=decoder, failed_dir=failed, done_dir=tmp_path / "ok"
    )
    (fb,) = await _take(source, 1)
    assert fb.path.name == "ok.xml"
    await fb.done()
    assert (tmp_path / "ok" / "ok.xml").is_file()
    reasons = {p.name: p.read_text() for p in failed.glob("*.reason.txt")}
    assert reasons == {
        "bad.xml.reason.txt": "bad.xml: not a stub file: b'garbage'\n",
        "crash.xml.reason.txt": (
            "crash.xml: decoder failed: RecursionError: maximum recursion depth exceeded\n"
        ),
        "badzip.xml.gz.reason.txt": reasons["badzip.xml.gz.reason.txt"],
    }
    assert reasons["badzip.xml.gz.reason.txt"].startswith("badzip.xml.gz: bad gzip")
    assert sorted(p.name for p in failed.iterdir() if not p.name.endswith(".txt")) == [
        "bad.xml",
        "badzip.xml.gz",
        "crash.xml",
    ]
    assert list(inbox.glob("*.xml*")) == []


async def test_missing_directory_and_stop(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        await _take(DirectorySource(tmp_path / "nope", decoder=_stub), 1)
    (tmp_path / "A.xml").write_bytes(b"pm:a")
    _age(tmp_path / "A.xml")
    source = DirectorySource(tmp_path, poll_interval=POLL, decoder=_stub)
    seen = []
    async with asyncio.timeout(5):
        async for fb in source.batches():
            seen.append(fb)
            source.stop()
    assert _names(seen) == ["A.xml"]
