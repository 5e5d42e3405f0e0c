"""What a PM XML file says about its rows, outside the values: the root, the file header,
the managed element DN and each ``measInfo``'s counters and period.

Each ``measInfo`` takes its period end and granularity from its own ``granPeriod`` (``endTime``,
``duration``), so a file may mix several periods. ``endTime`` offsets are converted to UTC; an
``endTime`` without an offset is read as UTC. ``duration`` is an ISO 8601 duration of whole
seconds (``PT900S``, ``PT15M``, ``PT1H``). The DN that cells are joined to is the managed
element's, else the file sender's, else the header's ``dnPrefix``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from rapp.telemetry._dn import join_dn
from rapp.telemetry._pmxml_elements import check_placeholder, line_of, local_name
from rapp.telemetry._ranpm_errors import DecodeError

_ROOTS = {"measCollecFile": "TS 32.435", "measDataFile": "TS 28.532"}
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_US = timedelta(microseconds=1)
_US_MIN = 631_152_000_000_000  # 1990-01-01T00:00:00Z: the bounds the JSON and VES codecs use
_US_MAX = 4_102_444_800_000_000  # 2100-01-01T00:00:00Z
_DATETIME = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?(Z|[+-]\d\d:?\d\d)?", re.ASCII)
_DURATION = re.compile(
    r"P(?:(\d+)D)?(?:T(?=\d)(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d*)?)S)?)?", re.ASCII
)


@dataclass(slots=True)
class MeasInfo:
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


def check_root(root: Any) -> str:
    """Refuse a root that is not a PM file's; returns its namespace prefix (``{...}`` or "")."""
    if root is None:
        raise DecodeError("no root element")
    name = local_name(root.tag)
    if name not in _ROOTS:
        raise DecodeError(
            f"root element is <{name or root.tag}>{line_of(root)}, expected <measCollecFile> "
            "(TS 32.435) or <measDataFile> (TS 28.532)"
        )
    return root.tag[: -len(name)]


def read_header(header: Any) -> str:
    """The DN the file header names for its cells (sender, then ``dnPrefix``), or "";
    refuses a template placeholder in any of the header's attributes."""
    for el in header.iter():
        for key, value in el.attrib.items():
            check_placeholder(value, f"{local_name(el.tag)} {key}", el)
    sender_dn = ""
    for el in header:
        if local_name(el.tag) == "fileSender":
            sender_dn = el.get("localDn") or el.get("senderName") or ""
    return sender_dn or header.get("dnPrefix") or ""


class InfoReader:
    """Reads each ``measInfo``'s header, once per distinct header in a file.

    A file repeats the same measInfo header (counters, period) for every managed element; the
    parsed ``MeasInfo`` is kept by what the header's children say, so a repeat costs one pass over
    them instead of the checks and parsing. One per file: nothing outlives the file.
    """

    __slots__ = ("_infos", "_joiners", "_mv_tag")

    def __init__(self, ns: str) -> None:
        self._mv_tag = ns + "measValue"
        self._infos: dict[tuple[Any, ...], MeasInfo] = {}
        self._joiners: dict[str, Callable[[str], str]] = {}

    def read(self, mi: Any, me_dn: str | None, header_dn: str) -> MeasInfo:
        """``mi``'s counters, period and DN joiner, from its children before its first
        measValue."""
        dn = me_dn or header_dn
        key: list[Any] = [mi.get("measInfoId")]
        mv_tag = self._mv_tag
        for el in mi:
            tag = el.tag
            if tag == mv_tag:
                break
            key += (tag, el.text, *el.attrib.items())
        frozen = tuple(key)
        join = self._joiners.get(dn)
        if join is None:
            join = self._joiners[dn] = join_dn(dn)
        info = self._infos.get(frozen)
        if info is None:
            info = _read_info(mi, dn, join)
            if len(self._infos) < 4096:
                self._infos[frozen] = info
        elif info.dn != dn:
            info = replace(info, dn=dn, join=join)
        return info


def _read_info(mi: Any, dn: str, join: Callable[[str], str]) -> MeasInfo:
    gran = None
    names: list[str] = []
    by_p: dict[str, str] = {}
    ps: list[str] = []
    encoded_list = False
    check_placeholder(mi.get("measInfoId"), "measInfoId", mi)
    for el in mi:
        name = local_name(el.tag)
        if name == "measValue":
            break
        if name == "granPeriod":
            gran = el
        elif name == "measType":
            p = el.get("p")
            text = (el.text or "").strip()
            check_placeholder(p, "measType p", el)
            check_placeholder(text, "measType", el)
            key = p_key(p)
            if key is None:
                raise DecodeError(f"measType p={p!r}{line_of(el)} is not a positive integer")
            if key in by_p:
                raise DecodeError(f"measType p={p!r}{line_of(el)} is declared twice")
            if not text:
                raise DecodeError(f"measType p={p!r}{line_of(el)} has no name")
            by_p[key] = text
            by_p.setdefault(p, text)
            ps.append(p)
            names.append(text)
        elif name == "measTypes":
            encoded_list = True
            check_placeholder(el.text, "measTypes", el)
            names = (el.text or "").split()
    where = f"measInfo{_id(mi)}{line_of(mi)}"
    if gran is None:
        raise DecodeError(f"{where} has no granPeriod")
    end, duration = gran.get("endTime"), gran.get("duration")
    check_placeholder(end, "granPeriod endTime", gran)
    check_placeholder(duration, "granPeriod duration", gran)
    if not end:
        raise DecodeError(f"granPeriod of {where} has no endTime")
    if not duration:
        raise DecodeError(f"granPeriod of {where} has no duration")
    return MeasInfo(
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


def p_key(p: str | None) -> str | None:
    """``p`` as its canonical integer text (" 01" is "1"), or None when it is no valid p."""
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
    if not (_US_MIN <= us <= _US_MAX):
        raise DecodeError(
            f"granPeriod endTime {text!r} of {where} is outside 1990-2100: not a PM period"
        )
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
