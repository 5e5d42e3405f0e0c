"""The VES REST listener over real HTTP: auth, 202/400/413/415/503 and what reaches the sink."""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from rapp.api.ves import ves_router
from rapp.domain import Severity
from rapp.telemetry.ves import VesBatch
from tests.conftest import SAMPLES, serve
from tests.test_ves import (
    _oru,
    legacy_file_ready,
    perf3gpp_event,
    pm_streaming_event,
    stnd_file_ready,
)

AUTH = ("sample1", "sample1")


class Sink:
    def __init__(self) -> None:
        self.batches: list[VesBatch] = []
        self.fail = False

    async def __call__(self, batch: VesBatch) -> None:
        if self.fail:
            raise RuntimeError("queue full")
        self.batches.append(batch)


@pytest.fixture(scope="module")
def listener() -> Iterator[tuple[str, str, Sink]]:
    sink = Sink()
    open_app, auth_app = FastAPI(), FastAPI()
    open_app.include_router(ves_router(sink, max_bytes=64 * 1024))
    auth_app.include_router(ves_router(sink, username=AUTH[0], password=AUTH[1]))
    with serve(open_app) as open_url, serve(auth_app) as auth_url:
        yield open_url, auth_url, sink


@pytest.fixture
def open_url(listener: tuple[str, str, Sink]) -> str:
    listener[2].batches.clear()
    listener[2].fail = False
    return listener[0]


@pytest.fixture
def auth_url(listener: tuple[str, str, Sink]) -> str:
    listener[2].batches.clear()
    listener[2].fail = False
    return listener[1]


@pytest.fixture
def sink(listener: tuple[str, str, Sink]) -> Sink:
    return listener[2]


def _post(url: str, doc: object, *, batch: bool = False, **kw: object) -> httpx.Response:
    path = "/eventListener/v7/eventBatch" if batch else "/eventListener/v7"
    return httpx.post(url + path, json=doc, **kw)  # type: ignore[arg-type]


def _error(response: httpx.Response, kind: str = "ServiceException") -> dict:
    assert response.headers["content-type"] == "application/json"
    return response.json()["requestError"][kind]


def test_fault_event_accepted(open_url: str, sink: Sink, samples: Path) -> None:
    doc = json.loads((SAMPLES / "ves-fault" / "onap_ves7_fault_event.json").read_bytes())
    response = _post(open_url, doc)
    assert response.status_code == 202
    assert response.content == b""
    [batch] = sink.batches
    assert [a.alarm_id for a in batch.alarms] == ["scfx0001vm002cap001/PilotNumberPoolExhaustion"]


def test_fault_batch_accepted(open_url: str, sink: Sink, samples: Path) -> None:
    doc = json.loads((SAMPLES / "ves-fault" / "onap_ves7_batch_valid.json").read_bytes())
    assert _post(open_url, doc, batch=True).status_code == 202
    [batch] = sink.batches
    assert len(batch.alarms) == 2


def test_oru_raise_then_clear(open_url: str, sink: Sink, samples: Path) -> None:
    for name in ("oran_oru_LinkFailureEvent.json", "oran_oru_LinkClearedEvent.json"):
        response = _post(open_url, _oru(name, epoch_us=1_614_766_210_000_000))
        assert response.status_code == 202, response.text
    raised, cleared = (b.alarms[0] for b in sink.batches)
    assert raised.alarm_id == cleared.alarm_id
    assert (raised.severity, cleared.severity) == (Severity.CRITICAL, Severity.CLEARED)


def test_oru_template_is_refused_by_the_schema(open_url: str, sink: Sink, samples: Path) -> None:
    doc = json.loads((SAMPLES / "ves-fault" / "oran_oru_LinkFailureEvent.json").read_bytes())
    response = _post(open_url, doc)
    assert response.status_code == 400
    error = _error(response)
    assert error["messageId"] == "SVC0002"
    assert "'@timestamp@' is not of type 'number'" in error["text"]
    assert error["variables"] == ["$.event.commonEventHeader.startEpochMicrosec"]
    assert sink.batches == []


def test_perf3gpp_through_the_listener(open_url: str, sink: Sink, samples: Path) -> None:
    assert _post(open_url, perf3gpp_event(samples)).status_code == 202
    [batch] = sink.batches
    assert len(batch.pm) == 36
    assert set(batch.pm.frame["granularity_s"]) == {900}


def test_file_ready_and_pm_streaming(open_url: str, sink: Sink) -> None:
    events = [
        legacy_file_ready()["event"],
        stnd_file_ready()["event"],
        pm_streaming_event()["event"],
    ]
    assert _post(open_url, {"eventList": events}, batch=True).status_code == 202
    [batch] = sink.batches
    assert len(batch.files) == 4
    assert len(batch.pm) == 3


BATCH_HINT = "payload has no 'event'; send 'eventList' payloads to /eventListener/v7/eventBatch"
EVENT_HINT = "payload has no 'eventList'; send 'event' payloads to /eventListener/v7"
SCHEMA = "JSON does not conform to schema: $.event.commonEventHeader: "


@pytest.mark.parametrize(
    ("doc", "batch", "text", "variables"),
    [
        ({"eventList": []}, False, BATCH_HINT, ["$"]),
        ({"event": {}}, True, EVENT_HINT, ["$"]),
        ({"event": {"commonEventHeader": {}}}, False, SCHEMA, ["$.event.commonEventHeader"]),
        ([1], False, "Incorrect JSON payload: a list, not an object", None),
    ],
)
def test_400_reasons(
    open_url: str, doc: object, batch: bool, text: str, variables: list[str] | None
) -> None:
    response = _post(open_url, doc, batch=batch)
    assert response.status_code == 400
    error = _error(response)
    assert error["messageId"] == "SVC0002"
    assert error["text"].startswith(text)
    assert error.get("variables") == variables


def test_400_decode_failure_after_a_valid_schema(open_url: str, sink: Sink) -> None:
    doc = pm_streaming_event()
    doc["event"]["stndDefinedFields"]["data"]["measurements"][0][
        "measurement-type-instance-reference"
    ] = "/network-function/x"
    response = _post(open_url, doc)
    assert response.status_code == 400
    error = _error(response)
    assert error["text"].startswith("event: stndDefinedFields.data.measurements[0]: no cell")
    assert "variables" not in error
    assert sink.batches == []


def test_400_bad_json(open_url: str) -> None:
    response = httpx.post(
        open_url + "/eventListener/v7",
        content=b'{"event": ',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400
    assert _error(response)["text"].startswith("Incorrect JSON payload: Expecting value")


def test_415_non_json(open_url: str) -> None:
    response = httpx.post(
        open_url + "/eventListener/v7", content=b"<event/>", headers={"content-type": "text/xml"}
    )
    assert response.status_code == 415
    assert "'text/xml'" in _error(response)["text"]
    ok = httpx.post(
        open_url + "/eventListener/v7",
        content=json.dumps(legacy_file_ready()).encode(),
        headers={"content-type": "application/json; charset=utf-8"},
    )
    assert ok.status_code == 202


def test_413_huge_body(open_url: str, sink: Sink) -> None:
    doc = legacy_file_ready()
    doc["event"]["notificationFields"]["additionalFields"] = {"pad": "x" * 70_000}
    response = _post(open_url, doc)
    assert response.status_code == 413
    assert _error(response)["variables"] == ["Request Entity Too Large", "413"]

    def chunks() -> Iterator[bytes]:  # chunked: no Content-Length, refused while reading
        raw = json.dumps(doc).encode()
        for i in range(0, len(raw), 8192):
            yield raw[i : i + 8192]

    response = httpx.post(
        open_url + "/eventListener/v7",
        content=chunks(),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert sink.batches == []


def test_503_when_the_sink_fails(open_url: str, sink: Sink) -> None:
    sink.fail = True
    response = _post(open_url, legacy_file_ready())
    assert response.status_code == 503
    assert _error(response)["messageId"] == "SVC1000"


def test_auth_refused(auth_url: str, sink: Sink) -> None:
    doc = legacy_file_ready()
    for auth in (None, ("sample1", "wrong"), ("other", "sample1"), ("sample1", "")):
        response = _post(auth_url, doc, auth=auth)
        assert response.status_code == 401, auth
        assert response.headers["www-authenticate"].startswith("Basic")
        assert _error(response, "PolicyException") == {
            "messageId": "POL2000",
            "text": "Unauthorized user",
        }
    for header in ("Bearer abc", "Basic !!notbase64", "Basic " + "c2FtcGxlMQ=="):  # no colon
        response = httpx.post(
            auth_url + "/eventListener/v7", json=doc, headers={"authorization": header}
        )
        assert response.status_code == 401, header
    assert sink.batches == []


def test_auth_accepted(auth_url: str, sink: Sink) -> None:
    assert _post(auth_url, legacy_file_ready(), auth=AUTH).status_code == 202
    assert _post(auth_url, {"eventList": []}, batch=True, auth=AUTH).status_code == 202
    assert [len(b.files) for b in sink.batches] == [2, 0]


def test_gzip_request_body_is_not_json(open_url: str) -> None:
    # Content-Encoding is not negotiated by the collector either: a gzip body is bad JSON
    response = httpx.post(
        open_url + "/eventListener/v7",
        content=gzip.compress(b"{}"),
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400


def test_openapi_lists_the_routes(open_url: str) -> None:
    paths = httpx.get(open_url + "/openapi.json").json()["paths"]
    assert {"/eventListener/v7", "/eventListener/v7/eventBatch"} <= set(paths)
