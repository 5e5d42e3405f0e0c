"""The streaming value parser of the PM XML codec: measValues into plain-list columns.

Values follow the ranpm codec: a plain decimal or scientific number; an empty ``r``, an empty
``measResults`` token list entry or ``NIL`` is "not available" (NaN, 32.435 allows a missing
value); a comma-separated list is a distribution (PDF) counter, one row per bin named
``counter[i]``; anything else, and any infinite number, is a ``DecodeError`` naming the line.
A measValue of plain numbers only takes one ``float`` pass; the rest are parsed value by value.
``<suspect>true</suspect>`` flags every row of its ``measValue``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd

from rapp.domain import PmBatch
from rapp.telemetry._numbers import NUMBER
from rapp.telemetry._pmxml_elements import check_placeholder, line_of, local_name
from rapp.telemetry._pmxml_header import MeasInfo, p_key
from rapp.telemetry._ranpm_errors import DecodeError

# values of one measValue joined by spaces, in the fast path's alphabet
_PLAIN = re.compile(r"[0-9 .eE+\-]+", re.ASCII).fullmatch
_NIL = {"", "NIL", "nil", "Nil"}


class Sink:
    """Rows as plain lists, one entry per row for counter/value and per measValue for the rest."""

    __slots__ = ("carry", "cells", "counters", "ends", "grans", "lens", "suspects", "values")

    def __init__(self) -> None:
        self.cells: list[str] = []
        self.lens: list[int] = []
        self.suspects: list[bool] = []
        self.ends: list[int] = []
        self.grans: list[int] = []
        self.counters: list[str] = []
        self.values: list[float] = []
        self.carry: pd.DataFrame | None = None
        """Rows past the last full chunk, put before the next ones."""

    def frame(self) -> pd.DataFrame:
        lens = np.asarray(self.lens, dtype=np.int64)
        ends = np.repeat(np.asarray(self.ends, dtype=np.int64), lens)
        return pd.DataFrame(
            {
                "cell": pd.Series(
                    np.repeat(np.asarray(self.cells, dtype=object), lens), dtype=object
                ),
                "period_end": pd.to_datetime(ends, unit="us", utc=True).as_unit("ns"),
                "granularity_s": np.repeat(np.asarray(self.grans, dtype=np.int32), lens),
                "counter": pd.Series(np.asarray(self.counters, dtype=object), dtype=object),
                "value": np.asarray(self.values, dtype=np.float64),
                "suspect": np.repeat(np.asarray(self.suspects, dtype=bool), lens),
            }
        )


def read_value(mv: Any, info: MeasInfo, ns: str, sink: Sink) -> int:
    """Append one measValue's rows to ``sink``; returns how many."""
    r_tag = ns + "r"
    suspect_tag = ns + "suspect"
    results_tag = ns + "measResults"
    suspect = False
    texts: list[str | None] = []
    ps: list[str | None] = []
    results: Any = None
    for k in mv:
        tag = k.tag
        if tag == r_tag:
            ps.append(k.get("p"))
            texts.append(k.text)
        elif tag == suspect_tag:
            suspect = _suspect(k)
        elif tag == results_tag:
            results = k
    ldn = mv.get("measObjLdn") or ""
    if ldn:
        check_placeholder(ldn, "measObjLdn", mv)
        cell = info.join(ldn)
    elif info.dn:
        cell = info.dn
    else:
        raise DecodeError(
            f"measValue{line_of(mv)} has an empty measObjLdn and the file names no managed "
            "element (managedElement/fileSender localDn, dnPrefix): no object to key it by"
        )

    if info.encoded_list:
        if results is None:
            if ps:
                raise DecodeError(
                    f"measValue{line_of(mv)} has <r> elements but its measInfo declares "
                    "<measTypes>, not <measType p=...>"
                )
            return 0
        tokens = (results.text or "").split()
        if len(tokens) != len(info.names):
            raise DecodeError(
                f"measResults{line_of(results)} has {len(tokens)} values for "
                f"{len(info.names)} measTypes"
            )
        counters = info.names
        texts = tokens  # type: ignore[assignment]
    else:
        if results is not None:
            raise DecodeError(
                f"measValue{line_of(mv)} has <measResults> but its measInfo declares "
                "<measType p=...>, not <measTypes>"
            )
        if ps == info.ps:
            counters = info.names
        else:
            by_p = info.by_p
            try:
                counters = [by_p[p] for p in ps]  # type: ignore[index]
            except (KeyError, TypeError):
                counters = [_counter_of(p, info, mv) for p in ps]
    if not texts:
        return 0
    values: list[float] | None = None
    try:
        # only digits, signs, dots, exponents and spaces: then float() accepts exactly the
        # plain numbers (it would also take "nan", "inf", "1_0" and Unicode digits)
        if _PLAIN(" ".join(texts)):  # type: ignore[arg-type]
            values = list(map(float, texts))  # type: ignore[arg-type]
            if max(values) == math.inf or min(values) == -math.inf:
                values = None
    except (TypeError, ValueError):  # an empty <r/>, or a malformed number
        values = None
    if values is not None:
        n = len(values)
        sink.counters += counters
        sink.values += values
    else:
        n = _slow_value(mv, counters, texts, info, results, sink)
    sink.cells.append(cell)
    sink.lens.append(n)
    sink.suspects.append(suspect)
    sink.ends.append(info.end_us)
    sink.grans.append(info.gran_s)
    return n


def _counter_of(p: str | None, info: MeasInfo, mv: Any) -> str:
    name = info.by_p.get(p) if p is not None else None
    if name is None:
        key = p_key(p)
        name = info.by_p.get(key) if key is not None else None
    if name is None:
        line = line_of(next((k for k in mv if k.get("p") == p), mv))
        check_placeholder(p, "r p", mv)
        declared = ", ".join(info.ps[:10]) + (", ..." if len(info.ps) > 10 else "")
        raise DecodeError(
            f"r p={p!r}{line} matches no measType of its measInfo (declared p: {declared})"
        )
    return name


def _suspect(el: Any) -> bool:
    text = (el.text or "").strip().lower()
    if text in ("true", "1"):
        return True
    if text in ("false", "0", ""):
        return False
    raise DecodeError(f"suspect is {el.text!r}{line_of(el)}, expected true or false")


def _slow_value(
    mv: Any, counters: list[str], texts: list[Any], info: MeasInfo, results: Any, sink: Sink
) -> int:
    """Values with NaNs, distributions or errors; errors name the line of the bad value."""
    if results is not None:
        lines = [results] * len(texts)
    else:
        lines = [k for k in mv if local_name(k.tag) == "r"]
    n = 0
    for counter, text, el in zip(counters, texts, lines, strict=True):
        t = (text or "").strip()
        if t in _NIL:
            sink.counters.append(counter)
            sink.values.append(math.nan)
            n += 1
            continue
        parts = [x.strip() for x in t.split(",")]
        if not all(x in _NIL or NUMBER.fullmatch(x) for x in parts):
            check_placeholder(t, f"value of {counter}", el)
            raise DecodeError(f"non-numeric value {t!r} for {counter}{line_of(el)}")
        bins = [math.nan if x in _NIL else float(x) for x in parts]
        if any(math.isinf(x) for x in bins):
            raise DecodeError(f"infinite value {t!r} for {counter}{line_of(el)}")
        if len(parts) == 1:
            sink.counters.append(counter)
        else:
            sink.counters += [f"{counter}[{b}]" for b in range(len(bins))]
        sink.values += bins
        n += len(bins)
    return n


def flush(sink: Sink, chunk_rows: int, *, final: bool) -> Iterator[PmBatch]:
    """Yield full chunks of ``chunk_rows`` rows (and, when ``final``, the rest)."""
    frame = sink.frame() if sink.values else None
    carry, sink.carry = sink.carry, None
    if carry is not None:
        frame = carry if frame is None else pd.concat([carry, frame], ignore_index=True)
    _reset(sink)
    if frame is None or not len(frame):
        return
    total = len(frame)
    if total <= chunk_rows and final:
        yield PmBatch(frame)
        return
    full = total // chunk_rows * chunk_rows
    for start in range(0, full, chunk_rows):
        yield PmBatch(frame.iloc[start : start + chunk_rows].reset_index(drop=True))
    if full < total:
        rest = frame.iloc[full:].reset_index(drop=True)
        if final:
            yield PmBatch(rest)
        else:
            sink.carry = rest


def _reset(sink: Sink) -> None:
    sink.cells, sink.lens, sink.suspects, sink.ends, sink.grans = [], [], [], [], []
    sink.counters, sink.values = [], []
