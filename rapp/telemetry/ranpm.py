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
(``_ranpm_fast._Doc``) and its columns are built in bulk for the whole batch (one float
conversion, one ``np.repeat`` per column). Anything that decoder or the bulk checks do not
accept as an ordinary report (a wrong type, ``iValue``, an empty or distribution value, a ``p``
out of order, ...) is decoded again by the reference path (stdlib ``json``), which gives the
reasons and the rarer forms above, so both paths give the same rows and the same errors.

Layout: this module is the codec's public face and runs the two paths over a batch; the parts
are ``_ranpm_fast`` (msgspec), ``_ranpm_reference`` (stdlib ``json``), ``_ranpm_packed``
(compact records, ``Packed``), ``_ranpm_time`` (the time rule), ``_numbers`` (the value rules)
and ``_dn`` (the cell rule), the last two shared with the PM XML codec.
"""

from __future__ import annotations

import gc
from collections.abc import Sequence
from itertools import chain

import msgspec
import numpy as np

from rapp.domain import PmBatch
from rapp.telemetry._dn import join_dn
from rapp.telemetry._numbers import NUMBER
from rapp.telemetry._ranpm_errors import DecodeError
from rapp.telemetry._ranpm_fast import Fallback, bulk_values, decode_fast, resolve
from rapp.telemetry._ranpm_packed import CounterTable, Packed, Record, from_columns, pack
from rapp.telemetry._ranpm_reference import parse

__all__ = [
    "NUMBER",
    "DecodeError",
    "Packed",
    "decode_batch",
    "decode_packed",
    "decode_ranpm",
    "join_dn",
]

# the names tests reach in for, from before the codec was split into modules
_parse, _bulk_values, _Rec = parse, bulk_values, Record


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
    table = CounterTable()
    recs: list[Record] = []
    failures: list[tuple[int, DecodeError]] = []
    for i, payload in enumerate(payloads):
        try:
            try:
                rec = decode_fast(payload, table)
            except Fallback:
                rec = from_columns(parse(payload), table)
        except DecodeError as err:
            failures.append((i, err))
            continue
        recs.append(rec)
    values = bulk_values(recs)
    if values is None:  # some record has an odd value: resolve record by record
        kept: list[Record] = []
        for i, rec in _indexed(recs, payloads, failures):
            try:
                if any(v is msgspec.UNSET for v in rec.raw):  # iValue/rValue: the reference way
                    rec = from_columns(parse(payloads[i]), table)
                resolve(rec, table)
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
    return pack(recs, table, values), failures


def _indexed(
    recs: list[Record], payloads: Sequence[bytes], failures: list[tuple[int, DecodeError]]
) -> list[tuple[int, Record]]:
    failed = {i for i, _ in failures}
    ok = [i for i in range(len(payloads)) if i not in failed]
    return list(zip(ok, recs, strict=True))
