"""Gzip, undone with a bound: every path that unzips a payload or file goes through here.

A small gzip stream can expand a thousandfold; ``gzip.decompress`` would build the whole output
before anyone could check its size, so a bomb becomes an OOM kill of the consumer. Here the
output is bounded while it is produced.
"""

from __future__ import annotations

import zlib

from rapp.telemetry._ranpm_errors import DecodeError

DEFAULT_MAX_PAYLOAD_BYTES = 256 * 2**20
"""The most one payload or file may expand to (256 MiB: a 100k-cell ROP of XML is ~70 MB)."""
GZIP_MAGIC = b"\x1f\x8b"


def unwrap_gzip(data: bytes, limit: int = DEFAULT_MAX_PAYLOAD_BYTES) -> bytes:
    """``data`` itself, or its gzip content (all members) when it starts with the gzip magic.

    Never expands past ``limit`` bytes (a gzip bomb is a ``DecodeError``, not an OOM kill).
    """
    if not data.startswith(GZIP_MAGIC):
        return data
    out: list[bytes] = []
    size = 0
    rest = data
    try:
        while rest.startswith(GZIP_MAGIC):
            inflater = zlib.decompressobj(wbits=31)
            chunk = inflater.decompress(rest, limit - size + 1)
            size += len(chunk)
            out.append(chunk)
            if size > limit or inflater.unconsumed_tail:
                raise DecodeError(f"gzip payload expands past {limit} bytes")
            if not inflater.eof:
                raise DecodeError("bad gzip: truncated stream")
            rest = inflater.unused_data
    except zlib.error as err:
        raise DecodeError(f"bad gzip: {err}") from None
    if rest.strip(b"\x00"):
        raise DecodeError(f"bad gzip: {len(rest)} bytes of trailing garbage")
    return b"".join(out)
