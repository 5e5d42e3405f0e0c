"""VES 7.x codec (fault, 3GPP FaultSupervision, file-ready, PM streaming, perf3gpp) and
fetch_file, against the shared samples (values read by hand) and events built from the specs."""

from __future__ import annotations

import asyncio
import copy
import gzip
import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pandas as pd
import pytest
import yaml
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.routing import Route

from rapp.domain import FileReady, Severity
from rapp.telemetry.fetch import AllowList, fetch_file, redact_url
from rapp.telemetry.ranpm import DecodeError
from rapp.telemetry.ves import SCHEMA_PATH, SchemaError, decode_ves, validate_ves
from tests.conftest import SAMPLES, serve

VES = SAMPLES / "ves-fault"
T0 = datetime(2014, 10, 15, 13, 2, 52, tzinfo=UTC)  # 1413378172000000 us


def _load(name: str) -> dict:
    return json.loads((VES / name).read_bytes())


def _header(domain: str, **extra: object) -> dict:
    header = {
        "domain": domain,
        "eventId": f"{domain}-1",
        "eventName": f"{domain}_test",
        "sequence": 0,
        "priority": "Normal",
        "reportingEntityName": "SMO",
        "sourceName": "gNB-1",
        "startEpochMicrosec": 1_700_000_000_000_000,
        "lastEpochMicrosec": 1_700_000_000_000_000,
        "version": "4.1",
        "vesEventListenerVersion": "7.2.1",
    }
    header.update(extra)
    return header


# ---- the shipped schema


def test_shipped_schema_is_a_byte_copy(samples: Path) -> None:
    shared = samples / "schemas" / "CommonEventFormat_30.2.1_ONAP.json"
    assert SCHEMA_PATH.read_bytes() == shared.read_bytes()
    assert "dcaegen2-collectors-ves" in (SCHEMA_PATH.parent / "README.md").read_text()


# ---- fault domain, every sample file


def test_onap_fault_event(samples: Path) -> None:
    doc = _load("onap_ves7_fault_event.json")
    validate_ves(doc)
    batch = decode_ves((VES / "onap_ves7_fault_event.json").read_bytes())
    assert len(batch.pm) == 0
    assert batch.files == []
    [alarm] = batch.alarms
    assert alarm.alarm_id == "scfx0001vm002cap001/PilotNumberPoolExhaustion"
    assert alarm.source == alarm.object_dn == "scfx0001vm002cap001"
    assert alarm.condition == "PilotNumberPoolExhaustion"
    assert alarm.severity is Severity.CRITICAL
    assert not alarm.cleared
    assert alarm.event_time == T0
    assert alarm.text == "Calls cannot complete - pilot numbers are unavailable"
    assert alarm.event_type == ""


def test_onap_fault_batch(samples: Path) -> None:
    doc = _load("onap_ves7_batch_valid.json")
    validate_ves(doc)
    batch = decode_ves(doc)
    assert len(batch.alarms) == 2
    first, second = batch.alarms
    assert first.alarm_id == "scfx0001vm002cap001/PilotNumberPoolExhaustion"
    assert second.alarm_id == "scfx0001vm002cap001/RecordingServerUnreachable"
    assert [a.severity for a in batch.alarms] == [Severity.CRITICAL, Severity.CRITICAL]
    assert second.event_time == T0.replace(microsecond=10)
    assert second.text == "Recording server unreachable"


@pytest.mark.parametrize(
    "name", ["oran_oru_LinkFailureEvent.json", "oran_oru_LinkClearedEvent.json"]
)
def test_oru_templates_are_not_times(samples: Path, name: str) -> None:
    doc = _load(name)
    with pytest.raises(SchemaError) as schema_err:
        validate_ves(doc)
    assert schema_err.value.path == "$.event.commonEventHeader.startEpochMicrosec"
    assert "'@timestamp@' is not of type 'number'" in schema_err.value.reason
    with pytest.raises(DecodeError) as err:
        decode_ves((VES / name).read_bytes())
    assert "lastEpochMicrosec is '@timestamp@'" in err.value.reason
    assert "alarmAdditionalInformation.eventTime is '@eventTime@'" in err.value.reason


def _oru(name: str, *, event_time: str | None = None, epoch_us: int | None = None) -> dict:
    doc = _load(name)
    if event_time is not None:
        doc["event"]["faultFields"]["alarmAdditionalInformation"]["eventTime"] = event_time
    if epoch_us is not None:
        doc["event"]["commonEventHeader"]["startEpochMicrosec"] = epoch_us
        doc["event"]["commonEventHeader"]["lastEpochMicrosec"] = epoch_us
    return doc


def test_oru_link_failure_and_clear(samples: Path) -> None:
    raised = decode_ves(_oru("oran_oru_LinkFailureEvent.json", event_time="2021-03-03T10:10:10Z"))
    cleared = decode_ves(
        _oru("oran_oru_LinkClearedEvent.json", event_time="2021-03-03T10:12:00.5+01:00")
    )
    [up], [down] = raised.alarms, cleared.alarms
    alarm_id = "ERICSSON-O-RU-11225/28/o-ran-fm:alarm-notif/fault-source"
    assert up.alarm_id == down.alarm_id == alarm_id
    assert up.severity is Severity.CRITICAL
    assert not up.cleared
    assert down.severity is Severity.CLEARED
    assert down.cleared
    assert up.source == "ERICSSON-O-RU-11225"
    assert up.object_dn == "o-ran-fm:alarm-notif/fault-source"
    assert up.condition == "28"
    assert up.event_type == "O-RAN-RU-Fault"
    assert up.event_time == datetime(2021, 3, 3, 10, 10, 10, tzinfo=UTC)
    assert down.event_time == datetime(2021, 3, 3, 9, 12, 0, 500000, tzinfo=UTC)


def test_oru_with_numeric_times_is_schema_valid_and_uses_the_header(samples: Path) -> None:
    doc = _oru("oran_oru_LinkClearedEvent.json", epoch_us=1_614_766_210_000_000)
    validate_ves(doc)
    [alarm] = decode_ves(doc).alarms
    assert alarm.cleared
    assert alarm.event_time == datetime(2021, 3, 3, 10, 10, 10, tzinfo=UTC)


def test_repeated_and_orphan_clears_are_reported_as_they_arrive(samples: Path) -> None:
    clear = _oru("oran_oru_LinkClearedEvent.json", epoch_us=1_614_766_210_000_000)["event"]
    batch = decode_ves({"eventList": [clear, copy.deepcopy(clear)]})
    assert [a.severity for a in batch.alarms] == [Severity.CLEARED, Severity.CLEARED]
    assert batch.alarms[0] == batch.alarms[1]


def test_fault_errors_are_precise(samples: Path) -> None:
    doc = _load("onap_ves7_batch_valid.json")
    doc["eventList"][1]["faultFields"]["eventSeverity"] = "SEVERE"
    with pytest.raises(
        DecodeError, match=r"^eventList\[1\]: faultFields.eventSeverity is 'SEVERE'"
    ):
        decode_ves(doc)
    doc = _load("onap_ves7_fault_event.json")
    del doc["event"]["faultFields"]["alarmCondition"]
    with pytest.raises(DecodeError, match=r"faultFields\.alarmCondition missing"):
        decode_ves(doc)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "empty payload"),
        (b"{not json", "not JSON"),
        (b"\x1f\x8b\x00\x00", "bad gzip"),
        (b"[]", "expected a JSON object"),
        (b"{}", "neither 'event' nor 'eventList'"),
        (b'{"eventList": {}}', "eventList is dict"),
        (b'{"event": {"commonEventHeader": {"domain": "heartbeat"}}}', "domain is 'heartbeat'"),
        (b'{"event": {"faultFields": {}}}', "event.commonEventHeader missing"),
    ],
)
def test_decode_errors(payload: bytes, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode_ves(payload)


def test_gzip_payload(samples: Path) -> None:
    raw = (VES / "onap_ves7_batch_valid.json").read_bytes()
    assert len(decode_ves(gzip.compress(raw)).alarms) == 2


def test_validate_names_the_failing_path() -> None:
    doc = {"event": {"commonEventHeader": _header("fault"), "faultFields": {}}}
    with pytest.raises(SchemaError) as err:
        validate_ves(doc)
    assert err.value.path == "$.event.faultFields"
    assert err.value.reason.startswith("$.event.faultFields: ")
    doc = {"event": {"commonEventHeader": _header("fault", priority="Urgent")}}
    with pytest.raises(SchemaError, match=r"\$.event.commonEventHeader.priority: 'Urgent'"):
        validate_ves(doc)
    with pytest.raises(SchemaError, match="neither"):
        validate_ves({})
    with pytest.raises(SchemaError, match="both"):
        validate_ves({"event": {}, "eventList": []})


# ---- stndDefined 3GPP-FaultSupervision


def _fault_mns_validator(samples: Path, name: str):  # type: ignore[no-untyped-def]
    from jsonschema import Draft4Validator

    spec = yaml.safe_load(
        (samples / "schemas" / "3gpp_TS28532_faultMnS_SA88-Rel16.yaml").read_text()
    )
    return Draft4Validator(
        {"$ref": f"#/components/schemas/{name}", "components": spec["components"]}
    )


def _stnd(namespace: str, data: dict, **header: object) -> dict:
    return {
        "event": {
            "commonEventHeader": _header("stndDefined", stndDefinedNamespace=namespace, **header),
            "stndDefinedFields": {"stndDefinedFieldsVersion": "1.0", "data": data},
        }
    }


def _new_alarm() -> dict:
    return {
        "href": "https://smo.example/3GPPManagement/ProvMnS/v1700/SubNetwork=1/ManagedElement=ME-1",
        "notificationId": 4711,
        "notificationType": "notifyNewAlarm",
        "eventTime": "2024-05-01T10:00:00.250Z",
        "systemDN": "DC=example,SubNetwork=1,ManagementNode=OAM-1",
        "alarmId": "ALM-42",
        "alarmType": "COMMUNICATIONS_ALARM",
        "probableCause": "lossOfSignal",
        "specificProblem": "fronthaul link down",
        "perceivedSeverity": "MAJOR",
        "additionalText": "port 3",
        "objectInstance": "SubNetwork=1,ManagedElement=ME-1,GNBDUFunction=1,NRCellDU=7",
    }


def _cleared_alarm() -> dict:
    return {
        "href": "https://smo.example/3GPPManagement/ProvMnS/v1700/SubNetwork=1/ManagedElement=ME-1",
        "notificationId": 4712,
        "notificationType": "notifyClearedAlarm",
        "eventTime": "2024-05-01T10:05:00Z",
        "systemDN": "DC=example,SubNetwork=1,ManagementNode=OAM-1",
        "alarmId": "ALM-42",
        "alarmType": "COMMUNICATIONS_ALARM",
        "probableCause": "lossOfSignal",
        "perceivedSeverity": "CLEARED",
    }


def test_3gpp_new_and_cleared_alarm(samples: Path) -> None:
    new, cleared = _new_alarm(), _cleared_alarm()
    assert not list(_fault_mns_validator(samples, "NotifyNewAlarm").iter_errors(new))
    assert not list(_fault_mns_validator(samples, "NotifyClearedAlarm").iter_errors(cleared))
    doc = {
        "eventList": [
            _stnd("3GPP-FaultSupervision", new)["event"],
            _stnd("3GPP-FaultSupervision", cleared)["event"],
        ]
    }
    validate_ves(doc)
    raised, clear = decode_ves(doc).alarms
    assert (
        raised.alarm_id == clear.alarm_id == "DC=example,SubNetwork=1,ManagementNode=OAM-1/ALM-42"
    )
    assert raised.severity is Severity.MAJOR
    assert clear.severity is Severity.CLEARED
    assert raised.object_dn == "SubNetwork=1,ManagedElement=ME-1,GNBDUFunction=1,NRCellDU=7"
    assert clear.object_dn == "SubNetwork=1,ManagedElement=ME-1"  # no objectInstance: from href
    assert raised.source == "DC=example,SubNetwork=1,ManagementNode=OAM-1"
    assert raised.condition == "lossOfSignal"
    assert raised.text == "fronthaul link down"
    assert raised.event_type == "COMMUNICATIONS_ALARM"
    assert raised.event_time == datetime(2024, 5, 1, 10, 0, 0, 250000, tzinfo=UTC)
    assert clear.event_time == datetime(2024, 5, 1, 10, 5, tzinfo=UTC)


def test_3gpp_changed_alarm_and_clear_whatever_its_severity() -> None:
    changed = _new_alarm() | {
        "notificationType": "notifyChangedAlarm",
        "perceivedSeverity": "MINOR",
    }
    [alarm] = decode_ves(_stnd("3GPP-FaultSupervision", changed)).alarms
    assert alarm.severity is Severity.MINOR
    odd_clear = _cleared_alarm() | {"perceivedSeverity": "MAJOR"}
    [alarm] = decode_ves(_stnd("3GPP-FaultSupervision", odd_clear)).alarms
    assert alarm.cleared


def test_3gpp_onap_collector_shape_falls_back_to_header_time() -> None:
    # as in onap/dcaegen2-collectors-ves src/test/resources/ves_stdnDefined_valid.json: integer
    # probableCause and href, "xyz" eventTime
    data = {
        "href": 1, "uri": "1", "notificationId": 1, "notificationType": "notifyNewAlarm",
        "eventTime": "xyz", "systemDN": "xyz", "probableCause": 1,
        "perceivedSeverity": "INDETERMINATE", "specificProblem": "xyz", "alarmId": "1",
        "alarmType": "COMMUNICATIONS_ALARM",
    }  # fmt: skip
    doc = _stnd("3GPP-FaultSupervision", data, lastEpochMicrosec=1413378172000000)
    validate_ves(doc)
    [alarm] = decode_ves(doc).alarms
    assert (alarm.alarm_id, alarm.condition, alarm.severity) == (
        "xyz/1",
        "1",
        Severity.INDETERMINATE,
    )
    assert alarm.object_dn == alarm.source == "xyz"
    assert alarm.event_time == T0


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"perceivedSeverity": "BAD"}, "data.perceivedSeverity is 'BAD'"),
        ({"alarmId": None}, "data.alarmId missing"),
        ({"probableCause": [1]}, "data.probableCause missing or not"),
        ({"notificationType": "notifyComments"}, "data.notificationType is 'notifyComments'"),
    ],
)
def test_3gpp_errors(change: dict, reason: str) -> None:
    with pytest.raises(DecodeError, match=reason):
        decode_ves(_stnd("3GPP-FaultSupervision", _new_alarm() | change))


def test_stnd_defined_without_namespace_or_unknown() -> None:
    doc = _stnd("x", {})
    del doc["event"]["commonEventHeader"]["stndDefinedNamespace"]
    with pytest.raises(DecodeError, match="stndDefinedNamespace missing"):
        decode_ves(doc)
    with pytest.raises(DecodeError, match="stndDefinedNamespace '3GPP-Heartbeat'"):
        decode_ves(_stnd("3GPP-Heartbeat", {"notificationType": "notifyHeartbeat"}))


# ---- file ready


def legacy_file_ready() -> dict:
    """As the ONAP/O-RAN SC datafile collector consumes it (VES notification domain)."""
    return {
        "event": {
            "commonEventHeader": _header(
                "notification",
                eventName="Notification_gnb-Nokia_FileReady",
                lastEpochMicrosec=1_700_000_900_000_000,
                sourceName="O-DU-1122",
            ),
            "notificationFields": {
                "notificationFieldsVersion": "2.0",
                "changeType": "FileReady",
                "changeIdentifier": "PM_MEAS_FILES",
                "arrayOfNamedHashMap": [
                    {
                        "name": "A20231114.2215+0000-2230+0000_O-DU-1122.xml.gz",
                        "hashMap": {
                            "location": "https://files.example/pm/A20231114.2215+0000-2230+0000_O-DU-1122.xml.gz",
                            "compression": "gzip",
                            "fileFormatType": "org.3GPP.32.435#measCollec",
                            "fileFormatVersion": "V10",
                        },
                    },
                    {
                        "name": "B.xml",
                        "hashMap": {
                            "location": "sftp://user:pw@10.0.0.1:22/B.xml",
                            "compression": "",
                            "fileFormatType": "org.3GPP.32.435#measCollec",
                            "fileFormatVersion": "V10",
                        },
                    },
                ],
            },
        }
    }


def test_legacy_file_ready() -> None:
    doc = legacy_file_ready()
    validate_ves(doc)
    files = decode_ves(doc).files
    assert [f.url for f in files] == [
        "https://files.example/pm/A20231114.2215+0000-2230+0000_O-DU-1122.xml.gz",
        "sftp://user:pw@10.0.0.1:22/B.xml",
    ]
    assert files[0].compression == "gzip"
    assert files[1].compression == ""
    assert {f.file_format for f in files} == {"org.3GPP.32.435#measCollec"}
    assert {f.source for f in files} == {"O-DU-1122"}
    assert files[0].notified_at == datetime(2023, 11, 14, 22, 28, 20, tzinfo=UTC)


def test_notification_that_is_not_file_ready() -> None:
    doc = legacy_file_ready()
    del doc["event"]["notificationFields"]["arrayOfNamedHashMap"]
    doc["event"]["notificationFields"]["changeType"] = "ConfigChange"
    with pytest.raises(DecodeError, match=r"arrayOfNamedHashMap missing or empty.*'ConfigChange'"):
        decode_ves(doc)


def stnd_file_ready() -> dict:
    return _stnd(
        "3GPP-FileDataReporting",
        {
            "href": "https://du.example/3GPPManagement/FileDataReportingMnS/v1700/files",
            "notificationId": 9,
            "notificationType": "notifyFileReady",
            "eventTime": "2023-11-14T22:30:05Z",
            "systemDN": "SubNetwork=1,ManagedElement=ME-1",
            "fileInfoList": [
                {
                    "fileLocation": "https://du.example/files/A20231114.2215-2230.xml.gz",
                    "fileSize": 12345,
                    "fileReadyTime": "2023-11-14T22:30:00Z",
                    "fileExpirationTime": "2023-11-15T22:30:00Z",
                    "fileCompression": "gzip",
                    "fileFormat": "XML",
                    "fileDataType": "Performance",
                },
                {"fileLocation": "/var/pm/B.xml", "fileDataType": "Performance"},
            ],
            "additionalText": "",
        },
    )


def test_stnd_defined_file_ready() -> None:
    doc = stnd_file_ready()
    validate_ves(doc)
    first, second = decode_ves(doc).files
    assert first == FileReady(
        url="https://du.example/files/A20231114.2215-2230.xml.gz",
        source="SubNetwork=1,ManagedElement=ME-1",
        notified_at=datetime(2023, 11, 14, 22, 30, 5, tzinfo=UTC),
        file_format="XML",
        compression="gzip",
    )
    assert (second.url, second.file_format, second.compression) == (
        "/var/pm/B.xml",
        "Performance",
        "",
    )


def test_stnd_defined_file_ready_rel16_header_body_form() -> None:
    data = {
        "header": {"notificationType": "notifyFileReady", "eventTime": "2023-11-14T22:30:05Z"},
        "body": {"fileInfoList": [{"fileLocation": "file:///pm/A.xml", "fileFormat": "XML"}]},
    }
    [f] = decode_ves(_stnd("3GPP-PerformanceAssurance", data)).files
    assert f.url == "file:///pm/A.xml"
    assert f.source == "gNB-1"
    data["body"]["fileInfoList"] = []
    with pytest.raises(DecodeError, match=r"data.body.fileInfoList missing or empty"):
        decode_ves(_stnd("3GPP-PerformanceAssurance", data))


# ---- O-RAN SC O-DU PM streaming


def _ref(du: str, cell: str, metric: str, sd: int, sst: int) -> str:
    # the form o-ran-sc/nonrtric-rapp-ransliceassurance smoversion/stub/simulator.go sends
    return (
        f"/o-ran-sc-du-hello-world:network-function/distributed-unit-functions[id='{du}']"
        f"/cell[id='{cell}']/supported-measurements[performance-measurement-type="
        f"'(urn:o-ran-sc:yang:o-ran-sc-du-hello-world?revision=2021-11-23){metric}']"
        f"/supported-snssai-subcounter-instances[slice-differentiator='{sd}'][slice-service-type='{sst}']"
    )


def _meas(cell: str, metric: str, sd: int, value: float) -> dict:
    ref = _ref("O-DU-1122", cell, metric, sd, 1)
    return {"measurement-type-instance-reference": ref, "value": value, "unit": "kbit/s"}


def pm_streaming_event() -> dict:
    return _stnd(
        "o-ran-sc-du-hello-world-pm-streaming-oas3",
        {
            "id": "pm-1",
            "start-time": "2022-02-07T16:47:30Z",
            "administrative-state": "unlocked",
            "operational-state": "enabled",
            "user-label": "pm",
            "job-tag": "my-job-tag",
            "granularity-period": 30,
            "measurements": [
                _meas("cell-1", "user-equipment-average-throughput-uplink", 1, 51232),
                _meas("cell-1", "user-equipment-average-throughput-downlink", 1, 702),
                _meas("cell-2", "user-equipment-average-throughput-uplink", 2, 7.5),
            ],
        },
        eventName="stndDefined_performanceMeasurementStreaming",
        eventType="performanceMeasurementStreaming",
        sourceName="O-DU-1122",
        startEpochMicrosec=1644252450000000,
        lastEpochMicrosec=1644252480000000,
    )  # fmt: skip


def test_pm_streaming_event() -> None:
    doc = pm_streaming_event()
    validate_ves(doc)
    frame = decode_ves(doc).pm.frame
    cell1 = (
        "/o-ran-sc-du-hello-world:network-function"
        "/distributed-unit-functions[id='O-DU-1122']/cell[id='cell-1']"
    )
    assert list(frame["cell"]) == [cell1, cell1, cell1.replace("cell-1", "cell-2")]
    assert list(frame["counter"]) == [
        "user-equipment-average-throughput-uplink{slice-differentiator=1,slice-service-type=1}",
        "user-equipment-average-throughput-downlink{slice-differentiator=1,slice-service-type=1}",
        "user-equipment-average-throughput-uplink{slice-differentiator=2,slice-service-type=1}",
    ]
    assert list(frame["value"]) == [51232.0, 702.0, 7.5]
    assert set(frame["period_end"]) == {pd.Timestamp("2022-02-07T16:48:00Z")}
    assert set(frame["granularity_s"]) == {30}
    assert frame["period_end"].dtype == "datetime64[ns, UTC]"
    assert frame["granularity_s"].dtype == "int32"
    assert not frame["suspect"].any()


def test_pm_streaming_template_form_and_granularity_fallback() -> None:
    # the path form of apexpolicyversion/SliceAssurance/events/StdDefinedEvent.json
    ref = (
        "/network-function/distributed-unit-functions[id='du-7']/cell[id='c-3']/supported-measurements"
        "/performance-measurement-type[.='user-equipment-average-throughput-downlink']"
        "/supported-snssai-subcounter-instances/slice-differentiator[.=5]"
    )
    doc = pm_streaming_event()
    data = doc["event"]["stndDefinedFields"]["data"]
    data["granularity-period"] = 0
    data["measurements"] = [{"measurement-type-instance-reference": ref, "value": 300}]
    frame = decode_ves(doc).pm.frame
    assert (
        frame["cell"][0] == "/network-function/distributed-unit-functions[id='du-7']/cell[id='c-3']"
    )
    assert (
        frame["counter"][0] == "user-equipment-average-throughput-downlink{slice-differentiator=5}"
    )
    assert frame["granularity_s"][0] == 30  # last - start


@pytest.mark.parametrize(
    ("ref", "value", "reason"),
    [
        ("/network-function/distributed-unit-functions[id='d']", 1, "no cell"),
        (
            "/network-function/cell[id='c']/supported-measurements",
            1,
            "no performance-measurement-type",
        ),
        ("/network-function/cell[id='c", 1, "unclosed"),
        (_ref("d", "c", "m", 1, 1), "12", r"value is '12', expected a number"),
    ],
)
def test_pm_streaming_errors(ref: str, value: object, reason: str) -> None:
    doc = pm_streaming_event()
    doc["event"]["stndDefinedFields"]["data"]["measurements"] = [
        {"measurement-type-instance-reference": ref, "value": value}
    ]
    with pytest.raises(DecodeError, match=reason):
        decode_ves(doc)


# ---- perf3gpp


def perf3gpp_event(samples: Path) -> dict:
    """The O-RAN SC ranpm sample made VES-schema-valid (it lacks five required header fields)."""
    doc = json.loads((samples / "pm-json" / "ranpm_pm_report.json").read_bytes())
    doc["event"]["commonEventHeader"].update(
        eventId="pm-1",
        priority="Normal",
        sequence=0,
        version="4.1",
        vesEventListenerVersion="7.2.1",
    )
    return doc


def test_perf3gpp_through_ranpm(samples: Path) -> None:
    doc = perf3gpp_event(samples)
    validate_ves(doc)
    frame = decode_ves(doc).pm.frame
    assert len(frame) == 36
    cell = (
        "SubNetwork=CountryNN,MeContext=MEC-Gbg-1,ManagedElement=RNC-Gbg-1,"
        "RncFunction=RF-1,UtranCell=Gbg-997"
    )
    row = frame[(frame["cell"] == cell) & (frame["counter"] == "attTCHSeizures")]
    assert list(row["value"]) == [813.0]
    assert set(frame["period_end"]) == {pd.Timestamp("2000-03-01T12:15:00Z")}
    assert set(frame["granularity_s"]) == {900}


def test_mixed_batch(samples: Path) -> None:
    events = [
        perf3gpp_event(samples)["event"],
        _load("onap_ves7_fault_event.json")["event"],
        legacy_file_ready()["event"],
        pm_streaming_event()["event"],
    ]
    batch = decode_ves({"eventList": events})
    assert (len(batch.pm), len(batch.alarms), len(batch.files)) == (39, 1, 2)
    assert len(batch) == 42


# ---- fetch_file


BODY = gzip.compress(b"<measCollecFile/>" * 1000)


def _files_app() -> Starlette:
    async def pm(request: Request) -> Response:
        return Response(BODY, media_type="application/gzip")

    async def private(request: Request) -> Response:
        if request.headers.get("authorization") != "Basic dXNlcjpzM2NyZXQ=":  # user:s3cret
            return Response(status_code=401)
        return Response(b"secret pm")

    async def endless(request: Request) -> StreamingResponse:
        async def chunks():  # type: ignore[no-untyped-def]
            for _ in range(1000):
                yield b"x" * 65536
                await asyncio.sleep(0)

        return StreamingResponse(chunks())  # no Content-Length: refused while streaming

    async def slow(request: Request) -> Response:
        await asyncio.sleep(1.5)
        return Response(b"late")

    return Starlette(
        routes=[
            Route("/pm.xml.gz", pm),
            Route("/private.xml", private),
            Route("/endless", endless),
            Route("/slow", slow),
        ]
    )


@pytest.fixture(scope="module")
def files_url() -> str:  # type: ignore[misc]
    with serve(_files_app()) as url:
        yield url


def _ready(url: str) -> FileReady:
    return FileReady(url=url, source="test", notified_at=datetime.now(UTC))


def _hosts(url: str) -> AllowList:
    """An allow-list of just the host:port ``url`` names."""
    return AllowList(hosts=(httpx.URL(url).netloc.decode().rpartition("@")[2],))


async def test_fetch_http(files_url: str) -> None:
    assert await fetch_file(_ready(f"{files_url}/pm.xml.gz"), allow=_hosts(files_url)) == BODY
    async with httpx.AsyncClient() as client:
        assert (
            await fetch_file(
                _ready(f"{files_url}/pm.xml.gz"), allow=_hosts(files_url), client=client
            )
            == BODY
        )


async def test_fetch_http_userinfo_is_sent_and_redacted(files_url: str) -> None:
    host = files_url.removeprefix("http://")
    assert (
        await fetch_file(_ready(f"http://user:s3cret@{host}/private.xml"), allow=_hosts(files_url))
        == b"secret pm"
    )
    with pytest.raises(DecodeError) as err:
        await fetch_file(_ready(f"http://user:wrong@{host}/private.xml"), allow=_hosts(files_url))
    assert err.value.reason == f"GET http://***@{host}/private.xml answered 401"
    assert "wrong" not in err.value.reason


async def test_fetch_http_errors(files_url: str) -> None:
    with pytest.raises(DecodeError, match=r"answered 404"):
        await fetch_file(_ready(f"{files_url}/missing"), allow=_hosts(files_url))
    with pytest.raises(DecodeError, match=r"Content-Length \d+ is over the 10-byte limit"):
        await fetch_file(_ready(f"{files_url}/pm.xml.gz"), allow=_hosts(files_url), max_bytes=10)
    with pytest.raises(DecodeError, match=r"/endless: body is over the 1048576-byte limit"):
        await fetch_file(_ready(f"{files_url}/endless"), allow=_hosts(files_url), max_bytes=2**20)
    with pytest.raises(DecodeError, match=r"GET .*/slow timed out after 0.3 s"):
        await fetch_file(_ready(f"{files_url}/slow"), allow=_hosts(files_url), timeout=0.3)
    from tests.conftest import free_port

    closed = f"http://u:hunter2@127.0.0.1:{free_port()}/x"
    with pytest.raises(DecodeError) as err:
        await fetch_file(_ready(closed), allow=_hosts(closed))
    assert err.value.reason.startswith("GET http://***@127.0.0.1:")
    assert "failed" in err.value.reason
    assert "hunter2" not in err.value.reason


async def test_fetch_local(tmp_path: Path) -> None:
    path = tmp_path / "A.xml.gz"
    path.write_bytes(BODY)
    assert await fetch_file(_ready(str(path)), allow=AllowList(dirs=(tmp_path,))) == BODY
    assert await fetch_file(_ready(path.as_uri()), allow=AllowList(dirs=(tmp_path,))) == BODY
    with pytest.raises(DecodeError, match=r"is \d+ bytes, over the 10-byte limit"):
        await fetch_file(_ready(str(path)), allow=AllowList(dirs=(tmp_path,)), max_bytes=10)
    with pytest.raises(DecodeError, match=r"cannot read .*missing.xml: No such file"):
        await fetch_file(_ready(str(tmp_path / "missing.xml")), allow=AllowList(dirs=(tmp_path,)))
    with pytest.raises(DecodeError, match="names host 'otherhost'"):
        await fetch_file(_ready("file://otherhost/pm/A.xml"), allow=AllowList(dirs=(tmp_path,)))


async def test_fetch_sftp_is_refused_clearly() -> None:
    with pytest.raises(DecodeError) as err:
        await fetch_file(_ready("sftp://admin:pw@10.0.0.1:22/pm/A.xml"), allow=AllowList())
    assert err.value.reason == (
        "sftp is not supported; mount the file or use https (file sftp://***@10.0.0.1:22/pm/A.xml)"
    )
    with pytest.raises(DecodeError, match="unsupported URL scheme 'gopher'"):
        await fetch_file(_ready("gopher://x/y"), allow=AllowList())


def test_redact_url() -> None:
    assert redact_url("https://u:p@h:8443/a?b=1") == "https://***@h:8443/a?b=1"
    assert redact_url("https://h/a") == "https://h/a"
    assert redact_url("/local/path") == "/local/path"
