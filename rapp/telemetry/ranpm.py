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

Speed: a record is first decoded by a typed msgspec decoder straight into the report's shape
(``_Doc``) and its columns are built in bulk for the whole batch (one float conversion, one
``np.repeat`` per column). Anything that decoder or the bulk checks do not accept as an ordinary
report (a wrong type, ``iValue``, an empty or distribution value, a ``p`` out of order, ...) is
decoded again by the reference path (``_parse``, stdlib ``json``), which gives the reasons and
the rarer forms above, so both paths give the same rows and the same errors.
"""

from __future__ import annotations

import gc
import gzip
import json
import math
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from itertools import chain
from operator import attrgetter
from typing import Any

import msgspec
import numpy as np
import pandas as pd

from rapp.domain import PmBatch

_GZIP_MAGIC = b"\x1f\x8b"
_US_MIN = 631_152_000_000_000  # 1990-01-01T00:00:00Z in microseconds
_US_MAX = 4_102_444_800_000_000  # 2100-01-01T00:00:00Z
_TOLERANCE_US = 1_000_000
_SCALES = (1, 1_000, 1_000_000)  # to microseconds from: micro-, milli-, plain seconds
# a plain decimal or scientific number; ASCII so that float()'s Unicode digits are refused too
NUMBER = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?", re.ASCII)
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
    packed, failures = decode_packed([payload])
    if failures:
        raise failures[0][1]
    return packed.to_batch()


def decode_batch(payloads: Sequence[bytes]) -> tuple[PmBatch, list[tuple[int, DecodeError]]]:
    """Decode many records into one batch; a bad record is reported by index, never fatal."""
    packed, failures = decode_packed(payloads)
    return packed.to_batch(), failures


# --- fast path: typed decoding into the report's shape, columns built per batch ------------


class _Result(msgspec.Struct, gc=False):
    p: int
    sValue: str | msgspec.UnsetType = msgspec.UNSET
    iValue: int | float | msgspec.UnsetType = msgspec.UNSET
    rValue: int | float | msgspec.UnsetType = msgspec.UNSET


class _MeasValue(msgspec.Struct, gc=False):
    measObjInstId: str
    measResults: list[_Result]
    suspectFlag: str | bool = "false"


class _MeasTypes(msgspec.Struct, gc=False):
    sMeasTypesList: list[str]


class _MeasInfo(msgspec.Struct, gc=False):
    measTypes: _MeasTypes
    measValuesList: list[_MeasValue]


class _Mdc(msgspec.Struct, gc=False):
    granularityPeriod: int
    measInfoList: list[_MeasInfo]
    measuredEntityDn: str = ""


class _Header(msgspec.Struct, gc=False):
    domain: Any = None
    startEpochMicrosec: Any = None
    lastEpochMicrosec: Any = None


class _Fields(msgspec.Struct, gc=False):
    measDataCollection: _Mdc


class _Event(msgspec.Struct, gc=False):
    commonEventHeader: _Header
    perf3gppFields: _Fields


class _Doc(msgspec.Struct, gc=False):
    event: _Event


_DECODER = msgspec.json.Decoder(_Doc)
_GET_P = attrgetter("p")
_GET_S = attrgetter("sValue")
_NUMBER_CHARS = b"0123456789.eE+-,"  # and the separator
_FLOATS = msgspec.json.Decoder(list[float])
_RANGES: list[list[int]] = [list(range(1, n + 1)) for n in range(257)]
_JOINERS: dict[str, Callable[[str], str]] = {}
_JOINERS_MAX = 65_536


class _Fallback(Exception):
    """The fast path does not take this record: decode it with the reference path."""


@dataclass(slots=True)
class _Rec:
    """One decoded record: per measValue (cell, row count, suspect, counter codes)."""

    cells: list[str]
    counts: list[int]
    suspect: list[bool]
    offs: list[int]
    """Per measValue: the counter-table offset of its measTypes when its rows are p = 1..n in
    order, else -1 and its codes are in ``explicit``."""
    explicit: dict[int, list[int]]
    raw: list[Any]
    end_us: int
    gran: int
    values: list[float] | None = None


class _Table:
    """Counter names of a batch, each measTypes list stored once; rows refer to them by code."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self._lists: dict[tuple[str, ...], int] = {}
        self._single: dict[str, int] = {}

    def offset(self, types: list[str]) -> int:
        key = tuple(types)
        off = self._lists.get(key)
        if off is None:
            off = self._lists[key] = len(self.names)
            self.names += types
        return off

    def code(self, name: str) -> int:
        code = self._single.get(name)
        if code is None:
            code = self._single[name] = len(self.names)
            self.names.append(name)
        return code


@dataclass(slots=True)
class Packed:
    """Decoded columns before they become a DataFrame: compact (codes, per-cell runs) and cheap
    to pickle, which is how ``rapp.telemetry.pool`` workers hand results back."""

    cells: list[str]
    counts: np.ndarray
    suspect: np.ndarray
    counter_names: list[str]
    codes: np.ndarray
    values: np.ndarray
    rec_rows: np.ndarray
    rec_end_us: np.ndarray
    rec_gran: np.ndarray

    @classmethod
    def concat(cls, parts: Sequence[Packed]) -> Packed:
        if len(parts) == 1:
            return parts[0]
        shifted, base = [], 0
        for part in parts:
            shifted.append(part.codes + base)
            base += len(part.counter_names)
        return cls(
            cells=list(chain.from_iterable(p.cells for p in parts)),
            counts=np.concatenate([p.counts for p in parts]),
            suspect=np.concatenate([p.suspect for p in parts]),
            counter_names=list(chain.from_iterable(p.counter_names for p in parts)),
            codes=np.concatenate(shifted),
            values=np.concatenate([p.values for p in parts]),
            rec_rows=np.concatenate([p.rec_rows for p in parts]),
            rec_end_us=np.concatenate([p.rec_end_us for p in parts]),
            rec_gran=np.concatenate([p.rec_gran for p in parts]),
        )

    def to_batch(self) -> PmBatch:
        if not len(self.values):
            return PmBatch.empty()
        enabled = gc.isenabled()
        gc.disable()
        try:
            return self._to_batch()
        finally:
            if enabled:
                gc.enable()

    def _to_batch(self) -> PmBatch:
        cells = np.empty(len(self.cells), dtype=object)
        cells[:] = self.cells
        names = np.empty(len(self.counter_names), dtype=object)
        names[:] = self.counter_names
        ends = np.repeat(self.rec_end_us, self.rec_rows)
        frame = pd.DataFrame(
            {
                "cell": pd.Series(np.repeat(cells, self.counts), dtype=object),
                "period_end": pd.to_datetime(ends, unit="us", utc=True).as_unit("ns"),
                "granularity_s": np.repeat(self.rec_gran, self.rec_rows).astype("int32"),
                "counter": pd.Series(names.take(self.codes), dtype=object),
                "value": self.values,
                "suspect": np.repeat(self.suspect, self.counts),
            }
        )
        return PmBatch(frame)


def decode_packed(payloads: Sequence[bytes]) -> tuple[Packed, list[tuple[int, DecodeError]]]:
    """``decode_batch`` without the final DataFrame: what a pool worker returns."""
    # a ROP makes millions of short-lived containers and no reference cycles: the cyclic
    # collector's full passes over them cost more than the decoding (measured: 1.7x at 100k
    # one-cell reports), so it is paused for the duration and restored after
    enabled = gc.isenabled()
    gc.disable()
    try:
        return _decode_packed(payloads)
    finally:
        if enabled:
            gc.enable()


def _decode_packed(payloads: Sequence[bytes]) -> tuple[Packed, list[tuple[int, DecodeError]]]:
    table = _Table()
    recs: list[_Rec] = []
    failures: list[tuple[int, DecodeError]] = []
    for i, payload in enumerate(payloads):
        try:
            try:
                rec = _fast(payload, table)
            except _Fallback:
                rec = _from_columns(_parse(payload), table)
        except DecodeError as err:
            failures.append((i, err))
            continue
        recs.append(rec)
    values = _bulk_values(recs)
    if values is None:  # some record has an odd value: resolve record by record
        kept: list[_Rec] = []
        for i, rec in _indexed(recs, payloads, failures):
            try:
                if any(v is msgspec.UNSET for v in rec.raw):  # iValue/rValue: the reference way
                    rec = _from_columns(_parse(payloads[i]), table)
                _resolve(rec, table)
            except DecodeError as err:
                failures.append((i, err))
                continue
            kept.append(rec)
        failures.sort(key=lambda f: f[0])
        recs = kept
        values = np.fromiter(
            chain.from_iterable(r.values for r in recs),  # type: ignore[misc]
            dtype=np.float64,
        )
    return _pack(recs, table, values), failures


def _indexed(
    recs: list[_Rec], payloads: Sequence[bytes], failures: list[tuple[int, DecodeError]]
) -> list[tuple[int, _Rec]]:
    failed = {i for i, _ in failures}
    ok = [i for i in range(len(payloads)) if i not in failed]
    return list(zip(ok, recs, strict=True))


def _fast(payload: Any, table: _Table) -> _Rec:
    if type(payload) is not bytes:
        raise _Fallback
    data = payload
    if data[:2] == _GZIP_MAGIC:
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError, zlib.error):
            raise _Fallback from None
    try:
        doc = _DECODER.decode(data)
    except (msgspec.MsgspecError, ValueError, RecursionError):  # ValueError: e.g. bad UTF-8
        raise _Fallback from None
    event = doc.event
    header = event.commonEventHeader
    mdc = event.perf3gppFields.measDataCollection
    gran = mdc.granularityPeriod
    if header.domain != "perf3gpp" or gran <= 0:
        raise _Fallback
    try:
        end_us = _end_us(header.startEpochMicrosec, header.lastEpochMicrosec, gran)
    except DecodeError:
        raise _Fallback from None
    dn = mdc.measuredEntityDn
    prefix = f"{dn}," if dn else ""

    cells: list[str] = []
    counts: list[int] = []
    suspects: list[bool] = []
    offs: list[int] = []
    explicit: dict[int, list[int]] = {}
    raw: list[Any] = []
    ranges = _RANGES
    for info in mdc.measInfoList:
        types = info.measTypes.sMeasTypesList
        n_types = len(types)
        off = table.offset(types)
        for mv in info.measValuesList:
            inst = mv.measObjInstId
            flag = mv.suspectFlag
            if not inst or not (flag == "false" or flag == "true" or type(flag) is bool):
                raise _Fallback
            results = mv.measResults
            n = len(results)
            ps = list(map(_GET_P, results))
            if n <= n_types and ps == ranges[n] if n < 257 else ps == list(range(1, n + 1)):
                offs.append(off)
            else:
                for p in ps:
                    if not 1 <= p <= n_types:
                        raise _Fallback
                explicit[len(offs)] = [off + p - 1 for p in ps]
                offs.append(-1)
            # the common case without parsing the DN: the id's first attribute type does not
            # occur in the DN at all, so it cannot overlap (else join_dn decides)
            head = inst.partition(",")[0].partition("=")[0].strip()
            if head and head not in dn and "\\" not in inst:
                cells.append(prefix + inst)
            else:
                cells.append(_cached_joiner(dn)(inst))
            counts.append(n)
            suspects.append(flag == "true" or flag is True)
            raw += map(_GET_S, results)
    return _Rec(cells, counts, suspects, offs, explicit, raw, end_us, gran)


def _cached_joiner(dn: str) -> Callable[[str], str]:
    join = _JOINERS.get(dn)
    if join is None:
        if len(_JOINERS) >= _JOINERS_MAX:
            _JOINERS.clear()
        join = _JOINERS[dn] = join_dn(dn)
    return join


def _bulk_values(recs: list[_Rec]) -> np.ndarray | None:
    """Every value of every record at once, or None when one is not a plain finite number."""
    if any(r.values is not None for r in recs):
        return None
    raw = list(chain.from_iterable(r.raw for r in recs))
    try:
        text = ",".join(raw)  # TypeError: an UNSET (iValue/rValue) or a number
    except TypeError:
        return None
    # only the characters of plain numbers and the separators (no spaces, underscores, letters
    # but e/E). Then, when the whole is a JSON array of exactly one number per value, every
    # value is a JSON number, a subset of NUMBER (an empty value or a distribution cannot
    # give the same count: "" makes ",," and "1,2" makes two numbers)
    if not text.isascii():
        return None
    data = text.encode()
    if data.translate(None, _NUMBER_CHARS):
        return None
    values: np.ndarray | None = None
    try:
        floats = _FLOATS.decode(b"[" + data + b"]")
        if len(floats) == len(raw):
            values = np.array(floats, dtype=np.float64)
    except msgspec.MsgspecError:
        pass
    if values is None:
        # still only number characters, but not all JSON numbers ("+1", ".5", "7.") or an
        # empty value / a distribution among them: with these characters float() accepts
        # exactly the strings NUMBER matches, and raises for "", "1,2", "1.2.3"
        try:
            values = np.fromiter(map(float, raw), dtype=np.float64, count=len(raw))
        except ValueError:
            return None
    if not np.isfinite(values).all():
        return None
    return values


def _resolve(rec: _Rec, table: _Table) -> None:
    """Values of one record the bulk conversion did not take, the reference way."""
    if rec.values is not None:
        return
    raw = rec.raw
    floats = _floats(raw)
    if len(floats) == len(raw):
        rec.values = floats
        return
    names = table.names
    counts: list[int] = []
    offs: list[int] = []
    explicit: dict[int, list[int]] = {}
    values: list[float] = []
    k = 0
    for m, (cell, n) in enumerate(zip(rec.cells, rec.counts, strict=True)):
        off = rec.offs[m]
        codes = list(range(off, off + n)) if off >= 0 else rec.explicit[m]
        out_codes: list[int] = []
        for code, v in zip(codes, raw[k : k + n], strict=True):
            counter = names[code]
            bins = _parse_value(v, cell, counter)
            if len(bins) == 1 and not (isinstance(v, str) and "," in v):
                out_codes.append(code)
            else:
                out_codes += [table.code(f"{counter}[{b}]") for b in range(len(bins))]
            values += bins
        k += n
        explicit[m] = out_codes
        offs.append(-1)
        counts.append(len(out_codes))
    rec.counts, rec.offs, rec.explicit, rec.values = counts, offs, explicit, values


def _from_columns(cols: _Columns, table: _Table) -> _Rec:
    """A record the reference path decoded, as per-cell runs (values already final)."""
    cells: list[str] = []
    counts: list[int] = []
    suspects: list[bool] = []
    codes: list[int] = []
    for cell, counter, suspect in zip(cols.cell, cols.counter, cols.suspect, strict=True):
        if cells and cells[-1] == cell and suspects[-1] == suspect:
            counts[-1] += 1
        else:
            cells.append(cell)
            counts.append(1)
            suspects.append(suspect)
        codes.append(table.code(counter))
    explicit: dict[int, list[int]] = {}
    k = 0
    for m, n in enumerate(counts):
        explicit[m] = codes[k : k + n]
        k += n
    end_us = cols.period_end_us[0] if cols.period_end_us else 0
    gran = cols.granularity_s[0] if cols.granularity_s else 0
    return _Rec(cells, counts, suspects, [-1] * len(cells), explicit, [], end_us, gran, cols.value)


def _pack(recs: list[_Rec], table: _Table, values: np.ndarray) -> Packed:
    cells: list[str] = []
    counts: list[int] = []
    suspect: list[bool] = []
    offs: list[int] = []
    explicit: list[tuple[int, list[int]]] = []
    for rec in recs:
        base = len(offs)
        cells += rec.cells
        counts += rec.counts
        suspect += rec.suspect
        offs += rec.offs
        if rec.explicit:
            explicit += [(base + m, c) for m, c in rec.explicit.items()]
    counts_a = np.asarray(counts, dtype=np.int64)
    offs_a = np.asarray(offs, dtype=np.int64)
    total = int(counts_a.sum())
    starts = np.cumsum(counts_a) - counts_a
    # rows of a measValue with p = 1..n: its measTypes offset + 0..n-1
    codes = np.repeat(offs_a - starts, counts_a) + np.arange(total, dtype=np.int64)
    for m, c in explicit:
        codes[starts[m] : starts[m] + counts_a[m]] = c
    rec_rows = np.fromiter((sum(r.counts) for r in recs), dtype=np.int64, count=len(recs))
    return Packed(
        cells=cells,
        counts=counts_a,
        suspect=np.asarray(suspect, dtype=bool),
        counter_names=table.names,
        codes=codes.astype(np.int32),
        values=values,
        rec_rows=rec_rows,
        rec_end_us=np.asarray([r.end_us for r in recs], dtype=np.int64),
        rec_gran=np.asarray([r.gran for r in recs], dtype=np.int32),
    )


# --- reference path ------------------------------------------------------------------------


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
    except RecursionError:
        raise DecodeError("not JSON a PM report can be: nested too deeply") from None

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
    period_end_us = _end_us(header.get("startEpochMicrosec"), header.get("lastEpochMicrosec"), gran)

    dn = mdc.get("measuredEntityDn", "")
    if not isinstance(dn, str):
        raise DecodeError(f"measuredEntityDn is {type(dn).__name__}, expected a string")
    join = join_dn(dn)

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


def join_dn(dn: str) -> Callable[[str], str]:
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


def _end_us(start: Any, last: Any, gran: int) -> int:
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
    match = NUMBER.fullmatch
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
    if not all(NUMBER.fullmatch(t) for t in texts):
        raise DecodeError(f"non-numeric sValue {v!r} for {counter} of {cell}")
    parts = [float(t) for t in texts]
    if any(math.isinf(x) for x in parts):
        raise DecodeError(f"infinite sValue {v!r} for {counter} of {cell}")
    return parts
