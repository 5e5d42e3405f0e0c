"""Tell a payload's format from its bytes, and decode whatever it is.

Headers lie (converter output often carries an empty domain or a hard-coded type), file names
lie, so the bytes decide: gzip magic is unwrapped first, ``<`` means 3GPP PM XML, and JSON is
told apart by its shape: a VES event whose domain is ``perf3gpp`` with ``measDataCollection`` is
an O-RAN SC ranpm report; any other VES event (or an ``eventList`` batch) goes to the VES codec.
"""

from __future__ import annotations

import json
import zlib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path

from rapp.domain import Alarm, FileReady, PmBatch
from rapp.telemetry._gzip import DEFAULT_MAX_PAYLOAD_BYTES, GZIP_MAGIC, unwrap_gzip
from rapp.telemetry.pmxml import decode_pm_xml
from rapp.telemetry.ranpm import DecodeError, decode_ranpm
from rapp.telemetry.ves import decode_ves

_HEAD = 4096


class Format(StrEnum):
    PM_XML = "pm-xml"
    RANPM_JSON = "ranpm-json"
    VES = "ves"


@dataclass(frozen=True)
class Decoded:
    """Everything one payload held: PM rows, alarm changes and file-ready notifications."""

    format: Format
    pm: PmBatch = field(default_factory=PmBatch.empty)
    alarms: list[Alarm] = field(default_factory=list)
    files: list[FileReady] = field(default_factory=list)


def sniff(payload: bytes, *, max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES) -> Format:
    """The format of ``payload`` (gzip or not, unzipped to at most ``max_bytes``), from its
    content alone."""
    data = unwrap_gzip(payload, max_bytes)
    if _is_xml(data[:_HEAD]):
        return Format.PM_XML
    return Format.RANPM_JSON if _is_ranpm(data) else Format.VES


def decode_file(path: Path, *, max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES) -> Decoded:
    """Decode a file of any supported format. PM XML (plain or gzip) is streamed from disk,
    never read whole; other formats are read, up to ``max_bytes``, and go to ``decode_any``."""
    try:
        with path.open("rb") as f:
            head = f.read(_HEAD)
        size = path.stat().st_size
    except OSError as err:
        raise DecodeError(f"cannot read {path}: {err.strerror or err}") from None
    try:
        if head.startswith(GZIP_MAGIC):  # enough of the unzipped start to tell XML from JSON
            head = zlib.decompressobj(wbits=31).decompress(head, _HEAD)
        xml = _is_xml(head)
    except zlib.error:
        xml = False  # decode_any says what is wrong with the gzip
    if xml:
        return Decoded(Format.PM_XML, pm=decode_pm_xml(path, max_bytes=max_bytes))
    if size > max_bytes:
        raise DecodeError(f"file is {size} bytes, more than the {max_bytes} allowed")
    return decode_any(path.read_bytes(), max_bytes=max_bytes)


def _is_xml(head: bytes) -> bool:
    head = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<") or b"<measCollecFile" in head or b"<measDataFile" in head:
        return True
    if head.startswith(b"{"):
        return False
    if b"<?xml" in head:
        return True  # text before the declaration, as some vendors write
    raise DecodeError(f"unknown format: starts with {head[:40]!r}")


def decode_any(
    payload: bytes,
    *,
    received_at: datetime | None = None,
    max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
) -> Decoded:
    """Decode a payload of any supported format; DecodeError says why one cannot be.

    ``received_at`` (default: now) stands in for a fault event's time when its own is junk; a
    gzip payload that would expand past ``max_bytes`` is refused while it is unzipped."""
    data = unwrap_gzip(payload, max_bytes)
    fmt = sniff(data)
    if fmt is Format.PM_XML:
        return Decoded(fmt, pm=decode_pm_xml(data))
    if fmt is Format.RANPM_JSON:
        return Decoded(fmt, pm=decode_ranpm(data))
    ves = decode_ves(data, received_at=received_at or datetime.now(UTC))
    return Decoded(fmt, pm=ves.pm, alarms=list(ves.alarms), files=list(ves.files))


def _is_ranpm(data: bytes) -> bool:
    try:
        doc = json.loads(data)
    except (ValueError, RecursionError):
        return False  # let the VES codec say what is wrong with it
    event = doc.get("event") if isinstance(doc, dict) else None
    if not isinstance(event, dict):
        return False
    fields = event.get("perf3gppFields")
    return isinstance(fields, dict) and "measDataCollection" in fields
