"""Bad input in every format but ranpm JSON (which ``test_telemetry_fuzz`` covers): 3GPP PM XML,
VES events (fault, 3GPP FaultSupervision, file-ready, perf3gpp) and the format sniffer.

The contract, for any input: the codec returns its result or raises ``DecodeError`` with a reason
a person can act on; nothing else escapes (no ``KeyError``, ``TypeError``, ``RecursionError``,
lxml exception, ...). Inputs: the real samples of ../shared/samples, then truncated, bit-flipped,
with a wrong-typed or missing value anywhere, structurally mutated (XML elements dropped,
duplicated, re-texted, re-attributed), huge and deeply nested. Plus the XML attacks a PM file
from outside must not get through: entity expansion and external entities.
"""

from __future__ import annotations

import copy
import gzip
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from rapp.api.ves import ves_router
from rapp.domain import PmBatch
from rapp.telemetry import DecodeError, decode_any, decode_ves
from rapp.telemetry.pmxml import decode_pm_xml
from tests.conftest import SAMPLES, serve
from tests.test_telemetry_fuzz import json_values
from tests.test_ves import _cleared_alarm, _new_alarm, _stnd, legacy_file_ready, stnd_file_ready

pytestmark = pytest.mark.skipif(not SAMPLES.is_dir(), reason="../shared/samples is not beside")

FUZZ = settings(
    max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)
NOW = datetime(2024, 5, 1, 10, 0, tzinfo=UTC)


def _read(path: Path) -> bytes:
    data = path.read_bytes()
    return gzip.decompress(data) if path.suffix == ".gz" else data


XML = {
    p.name: _read(p)
    for p in sorted((SAMPLES / "pm-xml").glob("*"))
    if SAMPLES.is_dir() and "template" not in p.name
}
VES_DOCS: list[dict[str, Any]] = (
    [
        json.loads(p.read_bytes())
        for p in sorted((SAMPLES / "ves-fault").glob("*.json"))
        if "oru" not in p.name  # the O-RU samples hold templates, not times: refused as a whole
    ]
    + [
        _stnd("3GPP-FaultSupervision", _new_alarm()),
        _stnd("3GPP-FaultSupervision", _cleared_alarm()),
        legacy_file_ready(),
        stnd_file_ready(),
        json.loads((SAMPLES / "pm-json" / "ranpm_pm_report.json").read_bytes()),
    ]
    if SAMPLES.is_dir()
    else []
)


def _contract(decode: Callable[[bytes], object], data: bytes) -> None:
    try:
        out = decode(data)
    except DecodeError as err:
        reason = err.reason
    else:
        assert out is not None
        return
    assert reason.strip(), "a DecodeError must say why"


def _xml(data: bytes) -> None:
    _contract(decode_pm_xml, data)


def _ves(data: bytes) -> None:
    _contract(lambda d: decode_ves(d, received_at=NOW), data)


def _any(data: bytes) -> None:
    _contract(lambda d: decode_any(d, received_at=NOW), data)


def test_every_sample_is_decodable_to_start_with() -> None:
    """The mutations below start from inputs that decode: otherwise they test nothing."""
    assert len(XML) >= 4
    for data in XML.values():
        assert len(decode_pm_xml(data)) > 0
    assert len(VES_DOCS) >= 7
    for doc in VES_DOCS:
        decode_ves(json.dumps(doc).encode(), received_at=NOW)


# --- PM XML ---------------------------------------------------------------------------------


@FUZZ
@given(st.sampled_from(sorted(XML)), st.floats(0, 1, exclude_max=True), st.booleans())
def test_xml_truncated_is_refused(name: str, where: float, zipped: bool) -> None:
    whole = gzip.compress(XML[name]) if zipped else XML[name]
    cut = whole[: int(where * len(whole))]
    if not zipped and cut.rstrip().endswith(b">") and b"</meas" in cut[-40:]:
        return  # cut right after a closing tag of the root: nothing is missing
    with pytest.raises(DecodeError):
        decode_pm_xml(cut)


@FUZZ
@given(
    st.sampled_from(sorted(XML)),
    st.lists(st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 7)), min_size=1),
)
def test_xml_bit_flipped(name: str, flips: list[tuple[float, int]]) -> None:
    data = bytearray(XML[name])
    for where, bit in flips:
        data[int(where * len(data))] ^= 1 << bit
    _xml(bytes(data))
    _any(bytes(data))


_TEXTS = st.text(  # what XML can hold: no control characters or lone surrogates
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=30
) | st.sampled_from(
    ["", "NIL", "1,2,,3", "nan", "inf", "1e999", "-0", "@x@", "PT0S", "PT15.5S", "P1Y", "0", " 01 "]
)


@FUZZ
@given(st.sampled_from(sorted(XML)), st.data())
def test_xml_structurally_mutated(name: str, data: st.DataObject) -> None:
    """Elements dropped, duplicated or moved; any text or attribute value replaced."""
    root = etree.fromstring(XML[name].lstrip(), parser=etree.XMLParser(resolve_entities=False))
    elements = list(root.iter())
    for _ in range(data.draw(st.integers(1, 4))):
        el = data.draw(st.sampled_from(elements))
        action = data.draw(st.sampled_from(["text", "attr", "drop", "dup", "move"]))
        parent = el.getparent()
        if action == "text":
            el.text = data.draw(_TEXTS)
        elif action == "attr":
            key = data.draw(st.sampled_from([*el.attrib, "p", "measObjLdn", "endTime", "duration"]))
            el.set(key, data.draw(_TEXTS))
        elif parent is not None and action == "drop":
            parent.remove(el)
            elements = list(root.iter())
        elif parent is not None and action == "dup":
            parent.append(copy.deepcopy(el))
            elements = list(root.iter())
        elif parent is not None and action == "move":
            target = data.draw(st.sampled_from(elements))
            if el not in target.iterancestors() and target is not el:
                target.append(el)
                elements = list(root.iter())
    _xml(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


def test_xml_deeply_nested_and_huge() -> None:
    head = XML[sorted(XML)[0]].split(b"<measData>")[0]
    _xml(
        head
        + b"<measData>"
        + b"<a>" * 100_000
        + b"</a>" * 100_000
        + b"</measData></measCollecFile>"
    )
    big = XML["onap_A20181002.0000-1000-0015-1000_5G.xml"]
    with_huge_ldn = big.replace(b'measObjLdn="', b'measObjLdn="' + b"x" * 10_000_000, 1)
    _xml(with_huge_ldn)
    _xml(big.replace(b'<r p="1">', b'<r p="1">' + b"9" * 10_000_000, 1))


def test_xml_entities_are_neither_expanded_nor_fetched(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    sample = XML["onap_A20181002.0000-1000-0015-1000_5G.xml"]
    body = sample.split(b"?>", 1)[1]
    laughs = (
        b'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY a "aaaaaaaaaa">'
        + b"".join(
            f'<!ENTITY {chr(98 + i)} "{("&" + chr(97 + i) + ";") * 10}">'.encode() for i in range(8)
        )
        + b"]>"
        + body.replace(b'measObjLdn="', b'measObjLdn="&i;', 1)
    )
    xxe = (
        f'<?xml version="1.0"?><!DOCTYPE m [<!ENTITY s SYSTEM "{secret.as_uri()}">]>'.encode()
        + body.replace(b'measObjLdn="', b'measObjLdn="&s;', 1)
    )
    for doc in (laughs, xxe):
        try:
            batch = decode_pm_xml(doc)
        except DecodeError:
            continue  # refused outright: fine
        cells = " ".join(batch.frame["cell"].unique())
        assert "TOPSECRET" not in cells
        assert "aaaaaaaaaa" * 100 not in cells


# --- VES --------------------------------------------------------------------------------------


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, (*prefix, i))


VES_PATHS = [(i, p) for i, doc in enumerate(VES_DOCS) for p in _paths(doc) if p]


def _at(doc: Any, path: tuple[Any, ...]) -> tuple[Any, Any]:
    node = doc
    for key in path[:-1]:
        node = node[key]
    return node, path[-1]


@FUZZ
@given(st.sampled_from(VES_PATHS), json_values)
def test_ves_wrong_type_anywhere(where: tuple[int, tuple[Any, ...]], value: Any) -> None:
    doc = copy.deepcopy(VES_DOCS[where[0]])
    node, key = _at(doc, where[1])
    node[key] = value
    data = json.dumps(doc).encode()
    _ves(data)
    _any(data)


@FUZZ
@given(st.sampled_from(VES_PATHS))
def test_ves_missing_anything(where: tuple[int, tuple[Any, ...]]) -> None:
    doc = copy.deepcopy(VES_DOCS[where[0]])
    node, key = _at(doc, where[1])
    del node[key]
    _ves(json.dumps(doc).encode())


@FUZZ
@given(st.integers(0, 10**6), st.floats(0, 1, exclude_max=True), st.booleans())
def test_ves_truncated_is_refused(which: int, where: float, zipped: bool) -> None:
    whole = json.dumps(VES_DOCS[which % len(VES_DOCS)]).encode()
    whole = gzip.compress(whole) if zipped else whole
    with pytest.raises(DecodeError):
        decode_ves(whole[: int(where * len(whole))], received_at=NOW)


@FUZZ
@given(
    st.integers(0, 10**6),
    st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.integers(0, 7)), min_size=1, max_size=6
    ),
)
def test_ves_bit_flipped(which: int, flips: list[tuple[float, int]]) -> None:
    data = bytearray(json.dumps(VES_DOCS[which % len(VES_DOCS)]).encode())
    for where, bit in flips:
        data[int(where * len(data))] ^= 1 << bit
    _ves(bytes(data))
    _any(bytes(data))


@pytest.mark.parametrize(
    "payload",
    [
        b'{"event":' * 10_000 + b"1" + b"}" * 10_000,
        b'{"eventList":' + b"[" * 10_000 + b"]" * 10_000 + b"}",
        json.dumps(
            {"event": {"commonEventHeader": {"domain": "fault" + "x" * 10_000_000}}}
        ).encode(),
        json.dumps({"eventList": [{"event": {}}] * 100_000}).encode(),
    ],
    ids=["nested-object", "nested-list", "huge-string", "huge-batch"],
)
def test_ves_deeply_nested_and_huge(payload: bytes) -> None:
    with pytest.raises(DecodeError):
        decode_ves(payload, received_at=NOW)
    _any(payload)


@FUZZ
@given(st.binary(max_size=300))
def test_sniffer_on_arbitrary_bytes(data: bytes) -> None:
    _any(data)
    _any(b"<" + data)
    _any(b"{" + data)


def test_sniffed_results_are_the_right_kind() -> None:
    """Sanity for the contract above: decode_any still decodes what it should."""
    for data in XML.values():
        assert isinstance(decode_any(data).pm, PmBatch)
        assert len(decode_any(gzip.compress(data)).pm) == len(decode_pm_xml(data))


# --- the VES listener over real HTTP: a bad event is a 400, never a 5xx -----------------------


@pytest.fixture(scope="module")
def listener_url() -> Iterator[str]:
    async def sink(batch: object) -> None:
        assert batch is not None

    app = FastAPI()
    app.include_router(ves_router(sink))
    with serve(app) as url:
        yield url


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck), derandomize=True)
@given(st.sampled_from(VES_PATHS), json_values, st.booleans())
def test_listener_answers_400_or_202_to_any_mutation(
    listener_url: str, where: tuple[int, tuple[Any, ...]], value: Any, drop: bool
) -> None:
    doc = copy.deepcopy(VES_DOCS[where[0]])
    node, key = _at(doc, where[1])
    if drop:
        del node[key]
    else:
        node[key] = value
    batch = "eventList" in doc
    path = "/eventListener/v7/eventBatch" if batch else "/eventListener/v7"
    response = httpx.post(listener_url + path, json=doc, timeout=30)
    assert response.status_code in (202, 400), response.text
    if response.status_code == 400:
        assert response.json()["requestError"]["ServiceException"]["text"]
