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

Layout: this module is the public face and the event loop; ``_pmxml_input`` opens the stream,
``_pmxml_header`` reads the root, file header and each ``measInfo``, ``_pmxml_values`` parses the
``measValue`` rows into batches, and ``_pmxml_elements`` holds what both of those share.
"""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from lxml import etree

from rapp.domain import PmBatch
from rapp.telemetry._gzip import DEFAULT_MAX_PAYLOAD_BYTES
from rapp.telemetry._pmxml_elements import check_placeholder, local_name
from rapp.telemetry._pmxml_header import InfoReader, MeasInfo, check_root, read_header
from rapp.telemetry._pmxml_input import open_xml
from rapp.telemetry._pmxml_values import Sink, flush, read_value
from rapp.telemetry._ranpm_errors import DecodeError

__all__ = ["decode_pm_xml", "iter_pm_xml"]

_HEADER_TAGS = ("fileHeader", "managedElement", "measEntity", "measInfo", "measValue", "measData")


def decode_pm_xml(
    source: bytes | BinaryIO | Path, *, max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES
) -> PmBatch:
    """Decode one whole PM XML file (plain or gzip) into one long-form batch."""
    return PmBatch.concat(iter_pm_xml(source, chunk_rows=sys.maxsize, max_bytes=max_bytes))


def iter_pm_xml(
    source: bytes | bytearray | memoryview | BinaryIO | Path,
    *,
    chunk_rows: int = 200_000,
    max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
) -> Iterator[PmBatch]:
    """Stream a PM XML file as batches of at most ``chunk_rows`` rows, in file order; a gzip
    file that expands past ``max_bytes`` is refused as it is read."""
    if chunk_rows < 1:
        raise ValueError(f"chunk_rows must be positive, got {chunk_rows}")
    if isinstance(source, Path):
        try:
            with source.open("rb") as f:
                yield from _iter_stream(f, chunk_rows, max_bytes)
        except OSError as err:
            raise DecodeError(f"cannot read {source}: {err.strerror or err}") from None
    elif isinstance(source, bytes | bytearray | memoryview):
        yield from _iter_stream(io.BytesIO(bytes(source)), chunk_rows, max_bytes)
    elif hasattr(source, "read"):
        yield from _iter_stream(source, chunk_rows, max_bytes)
    else:
        raise DecodeError(f"source is {type(source).__name__}, not bytes, a binary stream or Path")


def _iter_stream(raw: Any, chunk_rows: int, max_bytes: int) -> Iterator[PmBatch]:
    stream = open_xml(raw, max_bytes)
    events = etree.iterparse(
        stream,
        events=("end",),
        tag=[f"{{*}}{t}" for t in _HEADER_TAGS],
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        huge_tree=False,
    )
    sink = Sink()
    rows = 0
    header_dn = ""
    me_dn: str | None = None
    info: MeasInfo | None = None
    infos = InfoReader("")
    ns = ""
    mv_tag = "measValue"
    checked_root = False
    try:
        for _, el in events:
            if not checked_root:
                ns = check_root(el.getroottree().getroot())
                mv_tag = ns + "measValue"
                infos = InfoReader(ns)
                checked_root = True
            tag = el.tag
            name = "measValue" if tag == mv_tag else local_name(tag)
            if name == "measValue":
                if info is None:
                    info = infos.read(el.getparent(), me_dn, header_dn)
                rows += read_value(el, info, ns, sink)
                el.getparent().remove(el)
                if rows >= chunk_rows:
                    yield from flush(sink, chunk_rows, final=False)
                    rows = 0 if sink.carry is None else len(sink.carry)
            elif name == "measInfo":
                if info is None:  # no measValue: still check what it says
                    infos.read(el, me_dn, header_dn)
                info = None
                parent = el.getparent()
                if parent is not None:
                    parent.remove(el)
            elif name in ("managedElement", "measEntity"):
                dn = el.get("localDn")
                check_placeholder(dn, f"{name} localDn", el)
                me_dn = dn or None
            elif name == "fileHeader":
                header_dn = read_header(el)
            elif name == "measData":
                parent = el.getparent()
                if parent is not None and local_name(parent.tag) != "fileHeader":
                    me_dn = None
                    parent.remove(el)
    except etree.XMLSyntaxError as err:
        raise DecodeError(_syntax_reason(err)) from None
    if not checked_root:
        check_root(events.root)
    yield from flush(sink, chunk_rows, final=True)


def _syntax_reason(err: etree.XMLSyntaxError) -> str:
    line, col = err.position if err.position else (None, None)
    msg = (err.msg or str(err)).strip()
    msg = re.sub(r",? line \d+, column \d+$", "", msg)
    if line:
        return f"not well-formed XML at line {line}, column {col}: {msg}"
    return f"not well-formed XML: {msg}"
