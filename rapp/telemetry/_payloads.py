"""Record payloads, before and around the decoder: gzip, the informational headers, and a
decode that a crashing decoder cannot break.

The rules (the bytes decide, not the ``gzip`` header; ``type-id`` and ``source-name`` never change
a decode) are in ``rapp.telemetry.kafka``'s module docstring; ``unwrap_gzip`` is also used for
files (``rapp.telemetry.watch``), which is why it takes bytes and not a record.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any, TypeAlias

from aiokafka import ConsumerRecord

from rapp.domain import PmBatch
from rapp.telemetry._gzip import GZIP_MAGIC, unwrap_gzip
from rapp.telemetry.ranpm import DecodeError

Decoder: TypeAlias = Callable[[Sequence[bytes]], tuple[PmBatch, list[tuple[int, DecodeError]]]]
"""Many payloads in, one batch out; a bad payload is reported by its index, never raised."""

HEADER_GZIP = "gzip"
HEADER_TYPE_ID = "type-id"
HEADER_SOURCE_NAME = "source-name"

# the source's logger: operators (and tests) set the level of ``rapp.telemetry.kafka``
log = logging.getLogger("rapp.telemetry.kafka")


def record_payload(record: ConsumerRecord[Any, Any], limit: int) -> bytes:
    """The bytes a decoder gets for ``record``: its value, unzipped when it is gzip."""
    value = record.value
    if value is None:
        raise DecodeError("record has no value (a tombstone)")
    data = bytes(value)
    if not data.startswith(GZIP_MAGIC):
        if log.isEnabledFor(logging.DEBUG) and _header(record, HEADER_GZIP) is not None:
            log.debug("%s has a gzip header but is not gzip; decoded as it is", _where(record))
        return data
    return unwrap_gzip(data, limit)


def safe_decode(
    decoder: Decoder, payloads: Sequence[bytes]
) -> tuple[PmBatch, list[tuple[int, DecodeError]]]:
    """``decoder(payloads)``, but an exception other than ``DecodeError`` (or a malformed
    result) never escapes: the payloads are decoded again one by one, and each one that makes
    the decoder raise is reported as a failure whose reason names the exception."""
    try:
        batch, failures = decoder(payloads)
        if all(0 <= i < len(payloads) for i, _ in failures) and isinstance(batch, PmBatch):
            return batch, failures
        log.error("decoder %r returned an impossible result; decoding one by one", decoder)
    except Exception as err:
        log.warning(
            "decoder %r raised %s on a poll of %d records; decoding them one by one",
            decoder,
            type(err).__name__,
            len(payloads),
        )
    batches: list[PmBatch] = []
    failures = []
    for i, payload in enumerate(payloads):
        try:
            one, bad = decoder([payload])
        except DecodeError as err:
            failures.append((i, err))
            continue
        except Exception as err:
            failures.append((i, DecodeError(f"decoder failed: {_exc_text(err)}")))
            continue
        if bad:
            failures.append((i, bad[0][1]))
        else:
            batches.append(one)
    return PmBatch.concat(batches), failures


def _exc_text(err: BaseException) -> str:
    text = str(err).splitlines()[0][:200] if str(err) else ""
    return f"{type(err).__name__}: {text}" if text else type(err).__name__


def check_headers(record: ConsumerRecord[Any, Any], payload: bytes, decoder: Decoder) -> None:
    """DEBUG lines where the informational headers disagree with the data (which wins)."""
    type_id = _header(record, HEADER_TYPE_ID)
    if type_id:
        claimed = type_id.decode(errors="replace").lower()
        head = payload[:64].lstrip(b"\xef\xbb\xbf \t\r\n")
        actual = "xml" if head.startswith(b"<") else "json" if head[:1] in (b"{", b"[") else None
        for kind in ("xml", "json"):
            if kind in claimed and actual is not None and actual != kind:
                log.debug(
                    "%s: type-id header %r says %s, the payload is %s",
                    _where(record),
                    claimed,
                    kind,
                    actual,
                )
    source = _header(record, HEADER_SOURCE_NAME)
    if source:
        name = source.decode(errors="replace")
        try:
            batch, bad = decoder([payload])
        except Exception:
            return
        if bad or not len(batch):
            return
        cells = batch.frame["cell"].unique()
        if not any(name in str(cell) for cell in cells):
            log.debug(
                "%s: source-name header %r names none of its %d cells (e.g. %s)",
                _where(record),
                name,
                len(cells),
                cells[0],
            )


def _header(record: ConsumerRecord[Any, Any], name: str) -> bytes | None:
    for key, value in record.headers or ():
        if key == name:
            return value if value is not None else b""
    return None


def _where(record: ConsumerRecord[Any, Any]) -> str:
    return f"{record.topic}[{record.partition}]@{record.offset}"
