"""Codec for VES 7.x events (one ``{"event": ...}`` or a ``{"eventList": [...]}`` batch).

What comes out of one payload is a ``VesBatch``: PM rows, alarm state changes and file-ready
notifications. Domains:

``fault``
    One ``Alarm``. ``alarm_id`` = ``sourceName/alarmCondition`` (+ ``/alarmInterfaceA`` when
    present): that is how a VES clear names the alarm it clears. ``eventSeverity: NORMAL`` is
    ``Severity.CLEARED``. Time: ``lastEpochMicrosec`` (microseconds since the epoch, sane between
    1990 and 2100); when it is not a usable number, ``faultFields.alarmAdditionalInformation.
    eventTime`` if that parses as ISO 8601; otherwise a ``DecodeError`` naming both fields.
``stndDefined`` + ``3GPP-FaultSupervision``
    notifyNewAlarm / notifyChangedAlarm(General) / notifyClearedAlarm of TS 28.532 (faultMnS
    SA88-Rel16): ``alarmId``, ``objectInstance`` (else the DN in ``href``, else ``systemDN``),
    ``probableCause``, ``perceivedSeverity`` (always CLEARED on notifyClearedAlarm),
    ``eventTime`` (falls back to the header's ``lastEpochMicrosec``), ``specificProblem`` /
    ``additionalText``, ``alarmType``.
``stndDefined`` + ``o-ran-sc-du-hello-world-pm-streaming-oas3``
    O-RAN SC O-DU PM streaming: ``data.measurements[]`` rows become PM rows. See
    ``rapp.telemetry._ves_pm`` for the cell and counter naming.
``stndDefined`` with ``notificationType: notifyFileReady`` (namespaces such as
``3GPP-FileDataReporting``, ``3GPP-PerformanceAssurance``, ``3GPP-Provisioning``)
    One ``FileReady`` per ``fileInfoList[]`` entry (``fileLocation``, ``fileCompression``,
    ``fileFormat`` or else ``fileDataType``). Both the flat form (fields at the root of ``data``)
    and the Rel-16 PerDataFileReportMnS ``header``/``body`` form are read.
``perf3gpp``
    ``PmBatch`` through ``rapp.telemetry.ranpm`` (the same rules as the Kafka ranpm feed).
``notification`` (legacy file-ready, as the ONAP/O-RAN SC datafile collector consumes it)
    ``notificationFields.arrayOfNamedHashMap[]`` entries whose ``hashMap`` has ``location`` (plus
    ``compression``, ``fileFormatType``); ``notified_at`` from ``lastEpochMicrosec``.

Any other domain or namespace is a ``DecodeError``: the codec says why nothing came out. A batch
is all or nothing: the first bad event fails it, with its index in the reason.

Clears are reported as they arrive: a clear with no raise before it, or a second clear, is still
an ``Alarm`` with ``Severity.CLEARED``; pairing raises and clears is the state's job.

Templates in the shared samples. The O-RU fronthaul samples
(``ves-fault/oran_oru_Link{Failure,Cleared}Event.json``, from o-ran-sc/nonrtric-rapp-orufhrecovery)
are the *mapping templates* of an APEX policy, not captured events: ``startEpochMicrosec`` and
``lastEpochMicrosec`` are ``"@timestamp@"``, ``reportingEntityName`` is ``"@controllerName@"``,
``alarmAdditionalInformation`` holds ``"@eventTime@"``, ``"@type@"``, ``"@vendor@"`` and
``"@model@"``; and some values are descriptions of where the value comes from (``eventId``
``nt:network-topology/nt:topology/nt:node/nt:node-id``, ``alarmInterfaceA``
``o-ran-fm:alarm-notif/fault-source``, ``nfVendorName`` and ``eventSourceType`` naming
``ietf-hardware`` paths). The codec cannot tell the latter from real values and takes them as
strings; the ``@...@`` times fail with a ``DecodeError`` naming ``lastEpochMicrosec`` and
``eventTime``. Those samples also fail schema validation (the times are not numbers).

This module is the codec's face (envelope, batch, schema, the dispatch by domain and namespace);
each domain's reader is a private module: ``_ves_fault`` (both alarm forms), ``_ves_files``
(both file-ready forms), ``_ves_pm`` (PM streaming), with ``_ves_fields`` for the typed field
reads they share.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any

from rapp.domain import Alarm, FileReady, PmBatch
from rapp.telemetry._gzip import unwrap_gzip
from rapp.telemetry._ves_fault import FAULT_NAMESPACE, fault_alarm, fault_supervision_alarm
from rapp.telemetry._ves_fields import require_object
from rapp.telemetry._ves_files import legacy_file_ready, notification_type, stnd_file_ready
from rapp.telemetry._ves_pm import PM_STREAMING_NAMESPACE, streaming_pm
from rapp.telemetry.ranpm import DecodeError, decode_ranpm

__all__ = [
    "SCHEMA_PATH",
    "SchemaError",
    "VesBatch",
    "decode_ves",
    "validate_ves",
]

SCHEMA_PATH = Path(__file__).with_name("schemas") / "CommonEventFormat_30.2.1_ONAP.json"
"""VES 7.2.1 Common Event Format schema (byte copy from onap/dcaegen2-collectors-ves etc/)."""

_MAX_REASON = 300


class SchemaError(DecodeError):
    """The payload does not conform to the VES schema; ``path`` is the failing JSON path."""

    def __init__(self, reason: str, path: str) -> None:
        super().__init__(reason)
        self.path = path


@dataclass(frozen=True)
class VesBatch:
    """Everything decoded from one VES payload (one event or one ``eventList``)."""

    pm: PmBatch
    alarms: list[Alarm]
    files: list[FileReady]

    @classmethod
    def empty(cls) -> VesBatch:
        return cls(PmBatch.empty(), [], [])

    def __len__(self) -> int:
        return len(self.pm) + len(self.alarms) + len(self.files)


# --------------------------------------------------------------------------------------------
# schema validation


@cache
def _validator() -> Any:
    from jsonschema import Draft4Validator

    schema = json.loads(SCHEMA_PATH.read_bytes())
    Draft4Validator.check_schema(schema)
    return Draft4Validator(schema)


def validate_ves(payload: Mapping) -> None:
    """Validate against the shipped VES 7.2.1 Common Event Format schema.

    Raises ``SchemaError`` (a ``DecodeError``) whose reason starts with the failing JSON path,
    e.g. ``$.event.commonEventHeader.lastEpochMicrosec: '@timestamp@' is not of type 'number'``.
    The schema itself requires neither ``event`` nor ``eventList``; exactly one is required here.
    """
    from jsonschema.exceptions import best_match

    if not isinstance(payload, Mapping):
        raise SchemaError(f"$: payload is {type(payload).__name__}, not a JSON object", "$")
    has_event, has_list = "event" in payload, "eventList" in payload
    if has_event == has_list:
        what = "both" if has_event else "neither"
        raise SchemaError(f"$: payload has {what} of 'event' and 'eventList'", "$")
    error = best_match(_validator().iter_errors(payload))
    if error is not None:
        path = error.json_path
        raise SchemaError(_clip(f"{path}: {error.message}"), path)


# --------------------------------------------------------------------------------------------
# decoding


def decode_ves(payload: bytes | Mapping, *, received_at: datetime | None = None) -> VesBatch:
    """Decode one VES event (``{"event": ...}``, or a bare event with ``commonEventHeader``) or
    a batch (``{"eventList": [...]}``); bytes may be gzip. ``DecodeError`` on anything else.

    ``received_at``: when the payload arrived. A fault event whose own times are unusable
    (templates, junk) then takes this time instead of failing, with a warning: an alarm with an
    approximate time is worth more than a dead letter. Without it such an event is an error."""
    doc = _load(payload) if isinstance(payload, bytes | bytearray | memoryview) else payload
    if not isinstance(doc, Mapping):
        raise DecodeError(f"payload is {type(doc).__name__}, expected a JSON object")
    if "eventList" in doc:
        if "event" in doc:
            raise DecodeError("payload has both 'event' and 'eventList'")
        events = doc["eventList"]
        if not isinstance(events, list):
            raise DecodeError(f"eventList is {type(events).__name__}, expected an array")
        where = [f"eventList[{i}]" for i in range(len(events))]
    elif "event" in doc:
        events, where = [doc["event"]], ["event"]
    elif "commonEventHeader" in doc:
        events, where = [doc], ["event"]
    else:
        raise DecodeError("payload has neither 'event' nor 'eventList'")

    pms: list[PmBatch] = []
    alarms: list[Alarm] = []
    files: list[FileReady] = []
    for event, at in zip(events, where, strict=True):
        try:
            _decode_event(event, pms, alarms, files, received_at)
        except DecodeError as err:
            raise DecodeError(f"{at}: {err.reason}") from None
    return VesBatch(PmBatch.concat(pms), alarms, files)


def _load(data: bytes | bytearray | memoryview) -> Any:
    raw = bytes(data)
    if not raw:
        raise DecodeError("empty payload")
    raw = unwrap_gzip(raw)
    try:
        return json.loads(raw)
    except UnicodeDecodeError as err:
        raise DecodeError(f"not UTF-8: {err.reason} at byte {err.start}") from None
    except json.JSONDecodeError as err:
        raise DecodeError(f"not JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
    except RecursionError:
        raise DecodeError("not JSON: nested too deeply") from None


def _decode_event(
    event: Any,
    pms: list[PmBatch],
    alarms: list[Alarm],
    files: list[FileReady],
    received_at: datetime | None = None,
) -> None:
    if not isinstance(event, Mapping):
        raise DecodeError(f"event is {type(event).__name__}, expected an object")
    header = require_object(event, "commonEventHeader", "event")
    domain = header.get("domain")
    if domain == "fault":
        fields = require_object(event, "faultFields", "event")
        alarms.append(fault_alarm(header, fields, received_at))
    elif domain == "perf3gpp":
        pms.append(decode_ranpm(json.dumps({"event": event}).encode()))
    elif domain == "notification":
        fields = require_object(event, "notificationFields", "event")
        files.extend(legacy_file_ready(header, fields))
    elif domain == "stndDefined":
        fields = require_object(event, "stndDefinedFields", "event")
        _stnd_defined(header, fields, pms, alarms, files)
    else:
        raise DecodeError(
            f"commonEventHeader.domain is {domain!r}; this codec reads fault, stndDefined, "
            "perf3gpp and notification (file-ready)"
        )


def _stnd_defined(
    header: Mapping,
    fields: Mapping,
    pms: list[PmBatch],
    alarms: list[Alarm],
    files: list[FileReady],
) -> None:
    namespace = header.get("stndDefinedNamespace")
    if not isinstance(namespace, str) or not namespace:
        raise DecodeError("commonEventHeader.stndDefinedNamespace missing or empty")
    data = require_object(fields, "data", "stndDefinedFields")
    if namespace == FAULT_NAMESPACE:
        alarms.append(fault_supervision_alarm(header, data))
    elif namespace == PM_STREAMING_NAMESPACE:
        pms.append(streaming_pm(header, data))
    elif notification_type(data) == "notifyFileReady":
        files.extend(stnd_file_ready(header, data))
    else:
        raise DecodeError(
            f"stndDefinedNamespace {namespace!r} with notificationType "
            f"{notification_type(data)!r} is not read by this codec (reads "
            f"{FAULT_NAMESPACE}, {PM_STREAMING_NAMESPACE} and notifyFileReady)"
        )


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 3] + "..."
