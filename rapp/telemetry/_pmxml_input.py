"""Opening a PM XML input: gzip unwrapped, and whatever precedes the XML dropped.

Vendors put text banners or a BOM before the XML declaration, and a ``.gz`` name is no proof of
gzip, so the first bytes decide: gzip by its magic, then the stream is started at the XML
declaration (or, without one, at the first ``<``) and the dropped length is logged at DEBUG.
"""

from __future__ import annotations

import gzip
import logging
import zlib
from typing import Any

from rapp.telemetry._gzip import DEFAULT_MAX_PAYLOAD_BYTES
from rapp.telemetry._ranpm_errors import DecodeError

log = logging.getLogger("rapp.telemetry.pmxml")  # the codec's logger, as before the split

_GZIP_MAGIC = b"\x1f\x8b"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")
_HEAD_LIMIT = 1 << 20  # look this far for the start of the XML before giving up
_READ_SIZE = 1 << 16


class _Bounded:
    """A gzip stream that refuses to expand past ``limit`` bytes (a bomb is a DecodeError)."""

    __slots__ = ("limit", "raw", "size")

    def __init__(self, raw: Any, limit: int) -> None:
        self.raw = raw
        self.limit = limit
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        want = _READ_SIZE if size is None or size < 0 else size
        data = self.raw.read(min(want, self.limit - self.size + 1))
        self.size += len(data)
        if self.size > self.limit:
            raise DecodeError(f"gzip payload expands past {self.limit} bytes")
        return data


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


def open_xml(raw: Any, limit: int = DEFAULT_MAX_PAYLOAD_BYTES) -> _Stream:
    """Unwrap gzip (to at most ``limit`` bytes) and drop whatever precedes the XML; the stream
    starts at ``<``."""
    head = _read(raw, _READ_SIZE)
    if head[:2] == _GZIP_MAGIC:
        raw = _Bounded(gzip.GzipFile(fileobj=_Stream(head, raw), mode="rb"), limit)
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
