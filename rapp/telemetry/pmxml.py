"""Codec for 3GPP PM XML files into ``PmBatch``: TS 32.435 ``measCollecFile`` and TS 28.532
``measDataFile``.

Both 32.435 encodings are read: ``measType p=`` + ``r p=`` elements, and space-separated
``measTypes`` + ``measResults``. 28.532 has the same shape under another namespace, with
``measEntity`` for ``managedElement`` and ``fileSender senderName`` for ``localDn``. Namespaces
are not checked (vendors get them wrong); the root element name is.

Streaming: lxml ``iterparse`` with ``end`` events on ``measValue`` (and the few header elements);
each ``measValue`` is decoded and removed from the tree as soon as it ends, so memory stays
bounded however many cells one ``measInfo`` holds. ``iter_pm_xml`` yields batches of at most
``chunk_rows`` rows; a truncated file raises ``DecodeError`` only after the batches before the
cut have been yielded (``decode_pm_xml`` is all-or-nothing).

Input: bytes, a binary stream or a ``Path``; gzip is detected by its magic bytes. Anything
before the XML declaration (or, without one, before the first ``<``), e.g. a vendor's text
banner or a BOM, is dropped and its length logged at DEBUG.

Times: each ``measInfo`` takes its period end and granularity from its own ``granPeriod``
(``endTime``, ``duration``), so a file may mix several periods. ``endTime`` offsets are
converted to UTC; an ``endTime`` without an offset is read as UTC. ``duration`` is an ISO 8601
duration of whole seconds (``PT900S``, ``PT15M``, ``PT1H``).

Cell: the managed element DN (``managedElement``/``measEntity`` ``localDn``; when that is absent
or empty, ``fileSender`` ``localDn``/``senderName``; then the header's ``dnPrefix``) joined with
``measObjLdn`` by the same overlap-merge rule as the ranpm JSON codec. An empty (or missing)
``measObjLdn`` names the managed element itself: the cell id is that DN alone.

Values follow the ranpm codec: a plain decimal or scientific number; an empty ``r``, an empty
``measResults`` token list entry or ``NIL`` is "not available" (NaN, 32.435 allows a missing
value); a comma-separated list is a distribution (PDF) counter, one row per bin named
``counter[i]``; anything else, and any infinite number, is a ``DecodeError`` naming the line.
``<suspect>true</suspect>`` flags every row of its ``measValue``.

Template files (the O1 simulators' ``@placeholder@`` templates) are refused with the
placeholder and its line, rather than decoded into NaNs.
"""

from __future__ import annotations

import gzip
import io
import logging
import math
import re
import sys
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd
from lxml import etree

from rapp.domain import PmBatch
from rapp.telemetry.ranpm import NUMBER, DecodeError, join_dn

__all__ = ["decode_pm_xml", "iter_pm_xml"]

log = logging.getLogger(__name__)

_GZIP_MAGIC = b"\x1f\x8b"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_HEAD_LIMIT = 1 << 20  # look this far for the start of the XML before giving up
_READ_SIZE = 1 << 16
_ROOTS = {"measCollecFile": "TS 32.435", "measDataFile": "TS 28.532"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
# values of one measValue joined by spaces, in the fast path's alphabet
_PLAIN = re.compile(r"[0-9 .eE+\-]+", re.ASCII).fullmatch
_NIL = {"", "NIL", "nil", "Nil"}
_PLACEHOLDER = re.compile(r"@[A-Za-z][A-Za-z0-9_.-]*@")
_DATETIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)?", re.ASCII)
_DURATION = re.compile(
    r"P(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d*)?)S)?)?", re.ASCII
)
_HEADER_TAGS = ("fileHeader", "managedElement", "measEntity", "measInfo", "measValue", "measData")


def decode_pm_xml(source: bytes | BinaryIO | Path) -> PmBatch:
    """Decode one whole PM XML file (plain or gzip) into one long-form batch."""
    return PmBatch.concat(iter_pm_xml(source, chunk_rows=sys.maxsize))


def iter_pm_xml(
    source: bytes | bytearray | memoryview | BinaryIO | Path, *, chunk_rows: int = 200_000
) -> Iterator[PmBatch]:
    """Stream a PM XML file as batches of at most ``chunk_rows`` rows, in file order."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be positive, got {chunk_rows}")
    if isinstance(source, Path):
        try:
            with source.open("rb") as f:
                yield from _iter_stream(f, chunk_rows)
        except OSError as err:
            raise DecodeError(f"cannot read {source}: {err.strerror or err}") from None
    elif isinstance(source, bytes | bytearray | memoryview):
        yield from _iter_stream(io.BytesIO(bytes(source)), chunk_rows)
    elif hasattr(source, "read"):
        yield from _iter_stream(source, chunk_rows)
    else:
        raise DecodeError(f"source is {type(source).__name__}, not bytes, a binary stream or Path")


# --- input: gzip, prologue junk -------------------------------------------------------------


class _Stream:
    """A read()-able stream that first returns ``head``, then the rest of ``raw``."""

    __slots__ = ("head", "raw")

    def __init__(self, head: bytes, raw: Any) -> None:
        self.head = head
        self.raw = raw

    def read(self, size: int = -1) -> bytes:
        if self.head:
            if size is None or size < 0 or size >= len(self.head):
                out, self.head = self.head, b""
            else:
                out, self.head = self.head[:size], self.head[size:]
            return out
        try:
            return self.raw.read(size if size and size > 0 else _READ_SIZE)
        except (OSError, EOFError, zlib.error) as err:
            raise DecodeError(_gzip_reason(err)) from None


def _gzip_reason(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    if len(text) > 120:
        text = text[:120] + "..."
    return f"bad gzip: {text}"


def _read(raw: Any, size: int) -> bytes:
    try:
        data = raw.read(size)
    except (OSError, EOFError, zlib.error) as err:
        raise DecodeError(_gzip_reason(err)) from None
    if not isinstance(data, bytes | bytearray):
        raise DecodeError(f"stream returned {type(data).__name__}, not bytes")
    return bytes(data)


def _open(raw: Any) -> _Stream:
    """Unwrap gzip and drop whatever precedes the XML; the stream starts at ``<``."""
    head = _read(raw, _READ_SIZE)
    if head[:2] == _GZIP_MAGIC:
        raw = gzip.GzipFile(fileobj=_Stream(head, raw), mode="rb")
        head = _read(raw, _READ_SIZE)
    if not head:
        raise DecodeError("empty input: no XML")
    if head[:2] in _UTF16_BOMS:
        return _Stream(head, raw)  # UTF-16: leave it to libxml2
    while True:
        lt = head.find(b"<")
        root = head.find(b"<meas")
        decl = head.find(b"<?xml", 0, root if root >= 0 else len(head))
        if decl >= 0 or (lt >= 0 and root >= 0) or len(head) >= _HEAD_LIMIT:
            break
        more = _read(raw, _READ_SIZE)
        if not more:
            break
        head += more
    start = decl if decl >= 0 else lt
    if start < 0:
        raise DecodeError(f"no XML found: no '<' in the first {len(head)} bytes")
    if start:
        log.debug("dropped %d bytes before the XML start", start)
    return _Stream(head[start:], raw)


# --- output columns --------------------------------------------------------------------------


class _Sink:
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


@dataclass(slots=True)
class _Info:
    """What one measInfo says about its measValues."""

    end_us: int
    gran_s: int
    names: list[str]
    by_p: dict[str, str]
    ps: list[str]
    """The ``p`` attributes in declaration order (the common case of a full, ordered row)."""
    encoded_list: bool
    """``measTypes``/``measResults`` (True) or ``measType``/``r`` (False)."""
    join: Callable[[str], str]
    dn: str


# --- the parse -------------------------------------------------------------------------------


def _local(tag: Any) -> str:
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


def _where(el: Any) -> str:
    line = getattr(el, "sourceline", None)
    return f" (line {line})" if line else ""


def _check_placeholder(value: str | None, what: str, el: Any) -> None:
    if value and "@" in value:
        m = _PLACEHOLDER.search(value)
        if m:
            raise DecodeError(
                f"unfilled template placeholder {m.group()} in {what}{_where(el)}: this is a "
                "PM file template (e.g. an O1 simulator's), not a PM file"
            )


def _iter_stream(raw: Any, chunk_rows: int) -> Iterator[PmBatch]:
    stream = _open(raw)
    events = etree.iterparse(
        stream,
        events=("end",),
        tag=[f"{{*}}{t}" for t in _HEADER_TAGS],
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
    )
    sink = _Sink()
    rows = 0
    header_dn = ""
    me_dn: str | None = None
    info: _Info | None = None
    joiners: dict[str, Callable[[str], str]] = {}
    ns = ""
    mv_tag = "measValue"
    checked_root = False
    try:
        for _, el in events:
            if not checked_root:
                ns = _check_root(el.getroottree().getroot())
                mv_tag = ns + "measValue"
                checked_root = True
            tag = el.tag
            name = "measValue" if tag == mv_tag else _local(tag)
            if name == "measValue":
                if info is None:
                    info = _read_info(el.getparent(), ns, me_dn, header_dn, joiners)
                rows += _read_value(el, info, ns, sink)
                el.getparent().remove(el)
                if rows >= chunk_rows:
                    yield from _flush(sink, chunk_rows, final=False)
                    rows = 0 if sink.carry is None else len(sink.carry)
            elif name == "measInfo":
                if info is None:  # no measValue: still check what it says
                    _read_info(el, ns, me_dn, header_dn, joiners)
                info = None
                parent = el.getparent()
                if parent is not None:
                    parent.remove(el)
            elif name in ("managedElement", "measEntity"):
                dn = el.get("localDn")
                _check_placeholder(dn, f"{name} localDn", el)
                me_dn = dn or None
            elif name == "fileHeader":
                header_dn = _read_header(el)
            elif name == "measData":
                parent = el.getparent()
                if parent is not None and _local(parent.tag) != "fileHeader":
                    me_dn = None
                    parent.remove(el)
    except etree.XMLSyntaxError as err:
        raise DecodeError(_syntax_reason(err)) from None
    if not checked_root:
        _check_root(events.root)
    yield from _flush(sink, chunk_rows, final=True)


def _syntax_reason(err: etree.XMLSyntaxError) -> str:
    line, col = err.position if err.position else (None, None)
    msg = (err.msg or str(err)).strip()
    msg = re.sub(r",? line \d+, column \d+$", "", msg)
    if line:
        return f"not well-formed XML at line {line}, column {col}: {msg}"
    return f"not well-formed XML: {msg}"


def _check_root(root: Any) -> str:
    if root is None:
        raise DecodeError("no root element")
    name = _local(root.tag)
    if name not in _ROOTS:
        raise DecodeError(
            f"root element is <{name or root.tag}>{_where(root)}, expected <measCollecFile> "
            "(TS 32.435) or <measDataFile> (TS 28.532)"
        )
    return root.tag[: -len(name)]


def _read_header(header: Any) -> str:
    for el in header.iter():
        for key, value in el.attrib.items():
            _check_placeholder(value, f"{_local(el.tag)} {key}", el)
    sender_dn = ""
    for el in header:
        if _local(el.tag) == "fileSender":
            sender_dn = el.get("localDn") or el.get("senderName") or ""
    return sender_dn or header.get("dnPrefix") or ""


def _read_info(
    mi: Any, ns: str, me_dn: str | None, header_dn: str, joiners: dict[str, Callable[[str], str]]
) -> _Info:
    gran = None
    names: list[str] = []
    by_p: dict[str, str] = {}
    ps: list[str] = []
    encoded_list = False
    _check_placeholder(mi.get("measInfoId"), "measInfoId", mi)
    for el in mi:
        name = _local(el.tag)
        if name == "measValue":
            break
        if name == "granPeriod":
            gran = el
        elif name == "measType":
            p = el.get("p")
            text = (el.text or "").strip()
            _check_placeholder(p, "measType p", el)
            _check_placeholder(text, "measType", el)
            key = _p_key(p)
            if key is None:
                raise DecodeError(f"measType p={p!r}{_where(el)} is not a positive integer")
            if key in by_p:
                raise DecodeError(f"measType p={p!r}{_where(el)} is declared twice")
            if not text:
                raise DecodeError(f"measType p={p!r}{_where(el)} has no name")
            by_p[key] = text
            by_p.setdefault(p, text)
            ps.append(p)
            names.append(text)
        elif name == "measTypes":
            encoded_list = True
            _check_placeholder(el.text, "measTypes", el)
            names = (el.text or "").split()
    where = f"measInfo{_id(mi)}{_where(mi)}"
    if gran is None:
        raise DecodeError(f"{where} has no granPeriod")
    end, duration = gran.get("endTime"), gran.get("duration")
    _check_placeholder(end, "granPeriod endTime", gran)
    _check_placeholder(duration, "granPeriod duration", gran)
    if not end:
        raise DecodeError(f"granPeriod of {where} has no endTime")
    if not duration:
        raise DecodeError(f"granPeriod of {where} has no duration")
    dn = me_dn or header_dn
    join = joiners.get(dn)
    if join is None:
        join = joiners[dn] = join_dn(dn)
    return _Info(
        end_us=_end_us(end, where),
        gran_s=_seconds(duration, where),
        names=names,
        by_p=by_p,
        ps=ps,
        encoded_list=encoded_list,
        join=join,
        dn=dn,
    )


def _id(mi: Any) -> str:
    mid = mi.get("measInfoId")
    return f" {mid!r}" if mid else ""


def _p_key(p: str | None) -> str | None:
    if p is None:
        return None
    try:
        n = int(p.strip())
    except ValueError:
        return None
    return str(n) if n >= 1 else None


_END_CACHE: dict[str, int] = {}


def _end_us(text: str, where: str) -> int:
    us = _END_CACHE.get(text)
    if us is not None:
        return us
    m = _DATETIME.fullmatch(text.strip())
    if not m:
        raise DecodeError(
            f"granPeriod endTime {text!r} of {where} is not an ISO 8601 date-time "
            "(e.g. 2024-01-01T12:15:00+02:00)"
        )
    base, frac, zone = m.groups()
    frac = (frac or "")[:7]
    zone = "+00:00" if zone in (None, "Z") else zone
    try:
        ts = datetime.fromisoformat(base + frac + zone)
    except ValueError as err:
        raise DecodeError(f"granPeriod endTime {text!r} of {where}: {err}") from None
    us = (ts - _EPOCH) // _US
    if len(_END_CACHE) < 4096:
        _END_CACHE[text] = us
    return us


def _seconds(text: str, where: str) -> int:
    m = _DURATION.fullmatch(text.strip())
    if not m or not any(m.groups()):
        raise DecodeError(
            f"granPeriod duration {text!r} of {where} is not an ISO 8601 duration (e.g. PT900S)"
        )
    d, h, mi, s = m.groups()
    total = int(d or 0) * 86400 + int(h or 0) * 3600 + int(mi or 0) * 60 + float(s or 0)
    if total <= 0 or total != int(total):
        raise DecodeError(
            f"granPeriod duration {text!r} of {where} is not a positive whole number of seconds"
        )
    return int(total)


def _read_value(mv: Any, info: _Info, ns: str, sink: _Sink) -> int:
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
        _check_placeholder(ldn, "measObjLdn", mv)
        cell = info.join(ldn)
    elif info.dn:
        cell = info.dn
    else:
        raise DecodeError(
            f"measValue{_where(mv)} has an empty measObjLdn and the file names no managed "
            "element (managedElement/fileSender localDn, dnPrefix): no object to key it by"
        )

    if info.encoded_list:
        if results is None:
            if ps:
                raise DecodeError(
                    f"measValue{_where(mv)} has <r> elements but its measInfo declares "
                    "<measTypes>, not <measType p=...>"
                )
            return 0
        tokens = (results.text or "").split()
        if len(tokens) != len(info.names):
            raise DecodeError(
                f"measResults{_where(results)} has {len(tokens)} values for "
                f"{len(info.names)} measTypes"
            )
        counters = info.names
        texts = tokens  # type: ignore[assignment]
    else:
        if results is not None:
            raise DecodeError(
                f"measValue{_where(mv)} has <measResults> but its measInfo declares "
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


def _counter_of(p: str | None, info: _Info, mv: Any) -> str:
    name = info.by_p.get(p) if p is not None else None
    if name is None:
        key = _p_key(p)
        name = info.by_p.get(key) if key is not None else None
    if name is None:
        line = _where(next((k for k in mv if k.get("p") == p), mv))
        _check_placeholder(p, "r p", mv)
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
    raise DecodeError(f"suspect is {el.text!r}{_where(el)}, expected true or false")


def _slow_value(
    mv: Any, counters: list[str], texts: list[Any], info: _Info, results: Any, sink: _Sink
) -> int:
    """Values with NaNs, distributions or errors; errors name the line of the bad value."""
    if results is not None:
        lines = [results] * len(texts)
    else:
        lines = [k for k in mv if _local(k.tag) == "r"]
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
            _check_placeholder(t, f"value of {counter}", el)
            raise DecodeError(f"non-numeric value {t!r} for {counter}{_where(el)}")
        bins = [math.nan if x in _NIL else float(x) for x in parts]
        if any(math.isinf(x) for x in bins):
            raise DecodeError(f"infinite value {t!r} for {counter}{_where(el)}")
        if len(parts) == 1:
            sink.counters.append(counter)
        else:
            sink.counters += [f"{counter}[{b}]" for b in range(len(bins))]
        sink.values += bins
        n += len(bins)
    return n


def _flush(sink: _Sink, chunk_rows: int, *, final: bool) -> Iterator[PmBatch]:
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


def _reset(sink: _Sink) -> None:
    sink.cells, sink.lens, sink.suspects, sink.ends, sink.grans = [], [], [], [], []
    sink.counters, sink.values = [], []
