"""The fast path of the ranpm codec: typed msgspec decoding, values converted per batch.

A record is decoded by a typed msgspec decoder straight into the report's shape (``_Doc``), its
counter codes go into the batch's ``CounterTable``, and the values of the whole batch are
converted at once (``bulk_values``). Whatever this path does not take as an ordinary report (a
wrong type, ``iValue``, an empty or distribution value, a ``p`` out of range, ...) raises
``Fallback`` or is left to ``resolve``, and is decoded by the reference path's rules, so both
give the same rows and the same errors.
"""

from __future__ import annotations

from itertools import chain
from operator import attrgetter
from typing import Any

import msgspec
import numpy as np

from rapp.telemetry._dn import cached_joiner
from rapp.telemetry._gzip import GZIP_MAGIC, unwrap_gzip
from rapp.telemetry._numbers import parse_value, plain_floats
from rapp.telemetry._ranpm_errors import DecodeError
from rapp.telemetry._ranpm_packed import CounterTable, Record
from rapp.telemetry._ranpm_time import period_end


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


class Fallback(Exception):
    """The fast path does not take this record: decode it with the reference path."""


def decode_fast(payload: Any, table: CounterTable) -> Record:
    """One record the ordinary way, or ``Fallback`` when it is not an ordinary report."""
    if type(payload) is not bytes:
        raise Fallback
    data = payload
    if data[:2] == GZIP_MAGIC:
        try:
            data = unwrap_gzip(data)
        except DecodeError:
            raise Fallback from None  # the reference path says what is wrong
    try:
        doc = _DECODER.decode(data)
    except (msgspec.MsgspecError, ValueError, RecursionError):  # ValueError: e.g. bad UTF-8
        raise Fallback from None
    event = doc.event
    header = event.commonEventHeader
    mdc = event.perf3gppFields.measDataCollection
    gran = mdc.granularityPeriod
    if header.domain != "perf3gpp" or gran <= 0:
        raise Fallback
    try:
        end_us = period_end(header.startEpochMicrosec, header.lastEpochMicrosec, gran)
    except DecodeError:
        raise Fallback from None
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
                raise Fallback
            results = mv.measResults
            n = len(results)
            ps = list(map(_GET_P, results))
            if n <= n_types and (ps == ranges[n] if n < 257 else ps == list(range(1, n + 1))):
                offs.append(off)
            else:
                for p in ps:
                    if not 1 <= p <= n_types:
                        raise Fallback
                explicit[len(offs)] = [off + p - 1 for p in ps]
                offs.append(-1)
            # the common case without parsing the DN: the id's first attribute type does not
            # occur in the DN at all, so it cannot overlap (else join_dn decides)
            head = inst.partition(",")[0].partition("=")[0].strip()
            if head and head not in dn and "\\" not in inst:
                cells.append(prefix + inst)
            else:
                cells.append(cached_joiner(dn)(inst))
            counts.append(n)
            suspects.append(flag == "true" or flag is True)
            raw += map(_GET_S, results)
    return Record(cells, counts, suspects, offs, explicit, raw, end_us, gran)


def bulk_values(recs: list[Record]) -> np.ndarray | None:
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


def resolve(rec: Record, table: CounterTable) -> None:
    """Values of one record the bulk conversion did not take, the reference way."""
    if rec.values is not None:
        return
    raw = rec.raw
    floats = plain_floats(raw)
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
            bins = parse_value(v, cell, counter)
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
