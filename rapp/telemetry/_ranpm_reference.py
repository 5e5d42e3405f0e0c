"""The reference decoder of ranpm PM reports: stdlib ``json``, every rule checked by hand.

It accepts every form the format allows (``iValue``/``rValue``, empty values, distributions,
``p`` in any order) and says why a record is refused. The fast path in ``_ranpm_fast`` hands it
whatever it does not take as an ordinary report, so the reasons given here are the codec's.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from rapp.domain import PmBatch
from rapp.telemetry._dn import join_dn
from rapp.telemetry._gzip import unwrap_gzip
from rapp.telemetry._numbers import parse_value, plain_floats
from rapp.telemetry._ranpm_errors import DecodeError
from rapp.telemetry._ranpm_time import period_end


@dataclass(slots=True)
class Columns:
    """Columns of one or more records, as plain lists so many records concatenate cheaply."""

    cell: list[str] = field(default_factory=list)
    counter: list[str] = field(default_factory=list)
    value: list[float] = field(default_factory=list)
    suspect: list[bool] = field(default_factory=list)
    period_end_us: list[int] = field(default_factory=list)
    granularity_s: list[int] = field(default_factory=list)

    def extend(self, other: Columns) -> None:
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


def parse(payload: bytes) -> Columns:
    """One record (plain or gzip) as columns; a ``DecodeError`` says what is wrong with it."""
    if not isinstance(payload, bytes | bytearray | memoryview):
        raise DecodeError(f"payload is {type(payload).__name__}, not bytes")
    if not payload:
        raise DecodeError("empty payload")
    data = bytes(payload)
    data = unwrap_gzip(data)
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
    period_end_us = period_end(
        header.get("startEpochMicrosec"), header.get("lastEpochMicrosec"), gran
    )

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

    cols = Columns(cells, counters, [], suspects)
    cols.value = plain_floats(raw)
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


def _expand(cells: list[str], counters: list[str], raw: list[Any], suspects: list[bool]) -> Columns:
    """Values that are not all plain numbers: NaNs, distributions as one row per bin named
    ``counter[i]``, or the ``DecodeError`` of the first bad one."""
    out = Columns()
    for cell, counter, v, suspect in zip(cells, counters, raw, suspects, strict=True):
        bins = parse_value(v, cell, counter)
        if len(bins) == 1 and not (isinstance(v, str) and "," in v):
            names = [counter]
        else:
            names = [f"{counter}[{b}]" for b in range(len(bins))]
        out.cell += [cell] * len(bins)
        out.counter += names
        out.value += bins
        out.suspect += [suspect] * len(bins)
    return out
