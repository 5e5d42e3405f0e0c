"""Codec for O-RAN SC ranpm PM report JSON (the VES ``perf3gpp`` event shape) into ``PmBatch``.

One record is one PM report: ``event.commonEventHeader`` plus
``event.perf3gppFields.measDataCollection.measInfoList[].measValuesList[].measResults[]`` where
``p`` is the 1-based index into that measInfo's ``measTypes.sMeasTypesList``.

Time rule (headers from converters lie; trust the data): the period end is
``lastEpochMicrosec`` only when it is a sane time (1990..2100) *and* within one second of
``startEpochMicrosec + granularityPeriod``. Otherwise it is ``start + granularity``. When the start
is missing or insane but ``lastEpochMicrosec`` is sane, the period end is ``lastEpochMicrosec``.
Both insane is a ``DecodeError``. "Sane" is tried in microseconds, then milliseconds, then
seconds, because converters mislabel the unit: the shared O-RAN SC sample carries milliseconds
in ``*EpochMicrosec`` (951912000000 is 2000-03-01T12:00Z in ms, 1970-01-12 in us); the unit in
which ``last - start`` equals the granularity wins. All this keeps the period ends of all cells
of one ROP equal, which the per-cell state needs, even when a converter stamps
``lastEpochMicrosec`` with its own clock.

No upper bound ties ``period_end`` to the wall clock: a report "from the future" decodes as is
(the demo's simulated network clock runs ahead of wall time). Rejecting or holding back reports
too far ahead of now is the caller's choice, not the codec's.

Cell: ``measuredEntityDn`` joined with ``measObjInstId``. Some senders repeat the tail of the
entity DN in the instance id (``ManagedElement=ME-1,ENodeBFunction=1`` under ``...,ManagedElement=
ME-1``); when the id's first RDN occurs in the entity DN (same attribute type and value), only the
part of the entity DN before that RDN is joined, so no RDN appears twice.

Values: ``sValue`` strings (``iValue``/``rValue`` numbers are accepted too, as VES allows them).
A string must be a plain decimal or scientific number (``12``, ``-0.5``, ``1.2e3``): no spaces,
underscores, ``nan`` or ``inf`` spellings, which Python's ``float`` would accept. An empty string
is "not available" (NaN). A comma-separated list of such numbers is a distribution (PDF) counter
and becomes one row per bin named ``counter[i]``. Anything else, and any non-finite number, is a
``DecodeError``.
"""

from __future__ import annotations

import gzip
import json
import math
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from rapp.domain import PmBatch

_GZIP_MAGIC = b"\x1f\x8b"
_US_MIN = 631_152_000_000_000  # 1990-01-01T00:00:00Z in microseconds
_US_MAX = 4_102_444_800_000_000  # 2100-01-01T00:00:00Z
_TOLERANCE_US = 1_000_000
_SCALES = (1, 1_000, 1_000_000)  # to microseconds from: micro-, milli-, plain seconds
# a plain decimal or scientific number; ASCII so that float()'s Unicode digits are refused too
_NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
_RDN_SPLIT = re.compile(r"(?<!\\),")  # RDN separator: a comma not escaped by a backslash


class DecodeError(ValueError):
    """A record that cannot be decoded; ``reason`` is what goes into the dead-letter header."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(slots=True)
class _Columns:
    """Columns of one or more records, as plain lists so many records concatenate cheaply."""

    cell: list[str] = field(default_factory=list)
    counter: list[str] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    suspect: list[bool] = field(default_factory=list)
    period_end_us: list[int] = field(default_factory=list)
    granularity_s: list[int] = field(default_factory=list)

    def extend(self, other: _Columns) -> None:
        self.cell += other.cell
        self.counter += other.counter
        self.value += other.value
        self.suspect += other.suspect
        self.period_end_us += other.period_end_us
        self.granularity_s += other.granularity_s

    def to_batch(self) -> PmBatch:
        if not self.cell:
            return PmBatch.empty()
        ends = pd.to_datetime(np.asarray(self.period_end_us, dtype="int64"), unit="us", utc=True)
        frame = pd.DataFrame(
            {
                "cell": pd.Series(self.cell, dtype=object),
                "period_end": ends.as_unit("ns"),
                "granularity_s": np.asarray(self.granularity_s, dtype="int32"),
                "counter": pd.Series(self.counter, dtype=object),
                "value": np.asarray(self.value, dtype="float64"),
                "suspect": np.asarray(self.suspect, dtype=bool),
            }
        )
        return PmBatch(frame)


def decode_ranpm(payload: bytes) -> PmBatch:
    """Decode one ranpm PM report (plain or gzip) into a long-form batch."""
    return _parse(payload).to_batch()


def decode_batch(payloads: Sequence[bytes]) -> tuple[PmBatch, list[tuple[int, DecodeError]]]:
    """Decode many records into one batch; a bad record is reported by index, never fatal."""
    cols = _Columns()
    failures: list[tuple[int, DecodeError]] = []
    for i, payload in enumerate(payloads):
        try:
            cols.extend(_parse(payload))
        except DecodeError as err:
            failures.append((i, err))
    return cols.to_batch(), failures


def _parse(payload: bytes) -> _Columns:
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise DecodeError(f"payload is {type(payload).__name__}, not bytes")
    if not payload:
        raise DecodeError("empty payload")
    data = bytes(payload)
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error) as err:
            raise DecodeError(f"bad gzip: {err}") from None
    try:
        doc = json.loads(data)
    except UnicodeDecodeError as err:
        raise DecodeError(f"not UTF-8: {err.reason} at byte {err.start}") from None
    except json.JSONDecodeError as err:
        raise DecodeError(f"not JSON: {err.msg} at line {err.lineno} column {err.colno}") from None

    event = _obj(doc, "event", "record")
    header = _obj(event, "commonEventHeader", "event")
    domain = header.get("domain")
    if domain != "perf3gpp":
        raise DecodeError(f"domain is {domain!r}, expected 'perf3gpp'")
    fields = _obj(event, "perf3gppFields", "event")
    mdc = _obj(fields, "measDataCollection", "perf3gppFields")

    gran = mdc.get("granularityPeriod")
    if isinstance(gran, bool) or not isinstance(gran, int) or gran <= 0:
        raise DecodeError(f"granularityPeriod is {gran!r}, expected a positive integer (seconds)")
    period_end_us = _period_end_us(header, gran)

    dn = mdc.get("measuredEntityDn", "")
    if not isinstance(dn, str):
        raise DecodeError(f"measuredEntityDn is {type(dn).__name__}, expected a string")
    join = _joiner(dn)

    infos = mdc.get("measInfoList")
    if not isinstance(infos, list):
        raise DecodeError("measDataCollection.measInfoList missing or not a list")

    cells: list[str] = []
    counters: list[str] = []
    raw: list[Any] = []
    suspects: list[bool] = []
    for i, info in enumerate(infos):
        where = f"measInfoList[{i}]"
        if not isinstance(info, dict):
            raise DecodeError(f"{where} is not an object")
        types = _obj(info, "measTypes", where).get("sMeasTypesList")
        if not isinstance(types, list) or not all(isinstance(t, str) for t in types):
            raise DecodeError(f"{where}.measTypes.sMeasTypesList missing or not a list of strings")
        values = info.get("measValuesList")
        if not isinstance(values, list):
            raise DecodeError(f"{where}.measValuesList missing or not a list")
        n_types = len(types)
        for j, mv in enumerate(values):
            vwhere = f"{where}.measValuesList[{j}]"
            if not isinstance(mv, dict):
                raise DecodeError(f"{vwhere} is not an object")
            inst = mv.get("measObjInstId")
            if not isinstance(inst, str) or not inst:
                raise DecodeError(f"{vwhere}.measObjInstId missing or not a non-empty string")
            suspect = _suspect(mv.get("suspectFlag", "false"), vwhere)
            results = mv.get("measResults")
            if not isinstance(results, list):
                raise DecodeError(f"{vwhere}.measResults missing or not a list")
            try:
                ps = [r["p"] for r in results]
                vals = [_value_of(r) for r in results]
            except (KeyError, TypeError):
                raise DecodeError(f"{vwhere}.measResults has an entry without 'p'") from None
            for k, p in enumerate(ps):
                if isinstance(p, bool) or not isinstance(p, int) or not 1 <= p <= n_types:
                    raise DecodeError(
                        f"{vwhere}.measResults[{k}].p={p!r} out of range 1..{n_types}"
                    )
            cell = join(inst)
            cells += [cell] * len(ps)
            counters += [types[p - 1] for p in ps]
            raw += vals
            suspects += [suspect] * len(ps)

    cols = _Columns(cells, counters, [], suspects)
    cols.value = _floats(raw)
    if len(cols.value) != len(raw):  # distribution counters expanded into bins
        cols = _expand(cells, counters, raw, suspects)
    n = len(cols.cell)
    cols.period_end_us = [period_end_us] * n
    cols.granularity_s = [gran] * n
    return cols


def _obj(parent: Any, key: str, where: str) -> dict[str, Any]:
    if not isinstance(parent, dict):
        raise DecodeError(f"{where} is not a JSON object")
    value = parent.get(key)
    if not isinstance(value, dict):
        raise DecodeError(f"{key} missing or not an object in {where}")
    return value


def _rdns(dn: str) -> list[str]:
    return _RDN_SPLIT.split(dn) if "\\" in dn else dn.split(",")


def _rdn_key(rdn: str) -> tuple[str, str] | None:
    kind, eq, value = rdn.partition("=")
    return (kind.strip(), value.strip()) if eq else None


def _joiner(dn: str) -> Callable[[str], str]:
    """``inst -> cell``: ``dn`` prefixed to ``inst``, overlap-merged on ``inst``'s first RDN."""
    if not dn:
        return lambda inst: inst
    rdns = _rdns(dn)
    position: dict[tuple[str, str], int] = {}
    for i, rdn in enumerate(rdns):
        key = _rdn_key(rdn)
        if key is not None:
            position.setdefault(key, i)  # the first occurrence: the longest overlap
    prefix = f"{dn},"
    cache: dict[str, str] = {}

    def join(inst: str) -> str:
        first = _rdns(inst)[0] if "\\" in inst else inst.partition(",")[0]
        cell = cache.get(first)
        if cell is None:
            key = _rdn_key(first)
            at = position.get(key) if key is not None else None
            cell = prefix if at is None else "".join(f"{r}," for r in rdns[:at])
            cache[first] = cell
        return cell + inst

    return join


def _suspect(flag: Any, where: str) -> bool:
    if flag in ("true", True):
        return True
    if flag in ("false", False):
        return False
    raise DecodeError(f"{where}.suspectFlag is {flag!r}, expected 'true' or 'false'")


def _value_of(result: dict[str, Any]) -> Any:
    if "sValue" in result:
        return result["sValue"]
    if "iValue" in result:
        return result["iValue"]
    if "rValue" in result:
        return result["rValue"]
    return ""  # a result with no value at all: not available


def _sane(us: int) -> bool:
    return _US_MIN <= us <= _US_MAX


def _period_end_us(header: dict[str, Any], gran: int) -> int:
    start, last = header.get("startEpochMicrosec"), header.get("lastEpochMicrosec")
    start_ok = isinstance(start, int) and not isinstance(start, bool)
    last_ok = isinstance(last, int) and not isinstance(last, bool)
    # the unit in which last - start equals the granularity is the one the sender meant
    for scale in _SCALES:
        if start_ok and last_ok and _sane(start * scale) and _sane(last * scale):
            expected = start * scale + gran * 1_000_000
            if abs(last * scale - expected) <= _TOLERANCE_US:
                return int(last * scale)
    for scale in _SCALES:
        if start_ok and _sane(start * scale):
            return int(start * scale + gran * 1_000_000)
    for scale in _SCALES:
        if last_ok and _sane(last * scale):
            return int(last * scale)
    raise DecodeError(f"no sane time: startEpochMicrosec={start!r}, lastEpochMicrosec={last!r}")


def _floats(raw: list[Any]) -> list[float]:
    """Fast path: every value one finite plain number. Falls back (returns []) on the first odd
    one (empty, a distribution, or an error), which ``_expand`` then handles or reports."""
    match = _NUMBER.fullmatch
    out: list[float] = []
    for v in raw:
        kind = type(v)
        if kind is str:
            if not match(v):
                return []
            x = float(v)
        elif kind is int or kind is float:  # not bool, which is an int subclass
            try:
                x = float(v)
            except OverflowError:
                return []
        else:
            return []
        if not math.isfinite(x):
            return []
        out.append(x)
    return out


def _expand(
    cells: list[str], counters: list[str], raw: list[Any], suspects: list[bool]
) -> _Columns:
    out = _Columns()
    for cell, counter, v, suspect in zip(cells, counters, raw, suspects, strict=True):
        bins = _parse_value(v, cell, counter)
        if len(bins) == 1 and not (isinstance(v, str) and "," in v):
            names = [counter]
        else:
            names = [f"{counter}[{b}]" for b in range(len(bins))]
        out.cell += [cell] * len(bins)
        out.counter += names
        out.value += bins
        out.suspect += [suspect] * len(bins)
    return out


def _parse_value(v: Any, cell: str, counter: str) -> list[float]:
    if isinstance(v, bool) or not isinstance(v, str | int | float):
        raise DecodeError(f"non-numeric value {v!r} for {counter} of {cell}")
    if isinstance(v, int | float):
        try:
            x = float(v)
        except OverflowError:
            x = math.inf
        if not math.isfinite(x):
            raise DecodeError(f"non-finite value {v!r} for {counter} of {cell}")
        return [x]
    if not v:
        return [math.nan]
    texts = v.split(",")
    if not all(_NUMBER.fullmatch(t) for t in texts):
        raise DecodeError(f"non-numeric sValue {v!r} for {counter} of {cell}")
    parts = [float(t) for t in texts]
    if any(math.isinf(x) for x in parts):
        raise DecodeError(f"infinite sValue {v!r} for {counter} of {cell}")
    return parts
