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
    ``_streaming_pm`` for the cell and counter naming.
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
"""

from __future__ import annotations

import gzip
import json
import logging
import math
import re
import urllib.parse
import zlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rapp.domain import Alarm, FileReady, PmBatch, Severity
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

FAULT_NAMESPACE = "3GPP-FaultSupervision"
PM_STREAMING_NAMESPACE = "o-ran-sc-du-hello-world-pm-streaming-oas3"

_GZIP_MAGIC = b"\x1f\x8b"
_US_MIN = 631_152_000_000_000  # 1990-01-01T00:00:00Z in microseconds
_US_MAX = 4_102_444_800_000_000  # 2100-01-01T00:00:00Z
_VES_SEVERITY = {
    "CRITICAL": Severity.CRITICAL,
    "MAJOR": Severity.MAJOR,
    "MINOR": Severity.MINOR,
    "WARNING": Severity.WARNING,
    "NORMAL": Severity.CLEARED,
}
_ALARM_NOTIFICATIONS = {
    "notifyNewAlarm",
    "notifyChangedAlarm",
    "notifyChangedAlarmGeneral",
    "notifyClearedAlarm",
}
_MAX_REASON = 300

log = logging.getLogger(__name__)


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
    if raw[:2] == _GZIP_MAGIC:
        try:
            raw = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as err:
            raise DecodeError(f"bad gzip: {err}") from None
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
    header = _obj(event, "commonEventHeader", "event")
    domain = header.get("domain")
    if domain == "fault":
        alarms.append(_fault(header, _obj(event, "faultFields", "event"), received_at))
    elif domain == "perf3gpp":
        pms.append(decode_ranpm(json.dumps({"event": event}).encode()))
    elif domain == "notification":
        files.extend(_legacy_file_ready(header, _obj(event, "notificationFields", "event")))
    elif domain == "stndDefined":
        _stnd_defined(header, _obj(event, "stndDefinedFields", "event"), pms, alarms, files)
    else:
        raise DecodeError(
            f"commonEventHeader.domain is {domain!r}; this codec reads fault, stndDefined, "
            "perf3gpp and notification (file-ready)"
        )


# ---- fault


def _fault(header: Mapping, fields: Mapping, received_at: datetime | None) -> Alarm:
    source = _str(header, "sourceName", "commonEventHeader")
    condition = _str(fields, "alarmCondition", "faultFields")
    severity_text = fields.get("eventSeverity")
    severity = _VES_SEVERITY.get(severity_text) if isinstance(severity_text, str) else None
    if severity is None:
        raise DecodeError(
            f"faultFields.eventSeverity is {severity_text!r}, expected one of "
            + ", ".join(_VES_SEVERITY)
        )
    interface = fields.get("alarmInterfaceA", "")
    if not isinstance(interface, str):
        raise DecodeError("faultFields.alarmInterfaceA is not a string")
    alarm_id = f"{source}/{condition}" + (f"/{interface}" if interface else "")
    return Alarm(
        alarm_id=alarm_id,
        source=source,
        object_dn=interface or source,
        condition=condition,
        severity=severity,
        event_time=_fault_time(header, fields, received_at),
        text=_opt_str(fields, "specificProblem", "faultFields"),
        event_type=_opt_str(header, "eventType", "commonEventHeader"),
    )


def _fault_time(header: Mapping, fields: Mapping, received_at: datetime | None) -> datetime:
    last = header.get("lastEpochMicrosec")
    when = _epoch_us(last)
    if when is not None:
        return when
    info = fields.get("alarmAdditionalInformation")
    event_time = info.get("eventTime") if isinstance(info, Mapping) else None
    parsed = _iso(event_time)
    if parsed is not None:
        return parsed
    if received_at is not None:
        log.warning(
            "fault from %s has no usable time (lastEpochMicrosec %s, eventTime %s): using the "
            "time it was received",
            header.get("sourceName"),
            _short(last),
            _short(event_time),
        )
        return received_at
    raise DecodeError(
        f"no event time: commonEventHeader.lastEpochMicrosec is {_short(last)} (not microseconds "
        f"between 1990 and 2100) and faultFields.alarmAdditionalInformation.eventTime is "
        f"{_short(event_time)} (not ISO 8601)"
    )


# ---- stndDefined


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
    data = _obj(fields, "data", "stndDefinedFields")
    if namespace == FAULT_NAMESPACE:
        alarms.append(_3gpp_alarm(header, data))
    elif namespace == PM_STREAMING_NAMESPACE:
        pms.append(_streaming_pm(header, data))
    elif _notification_type(data) == "notifyFileReady":
        files.extend(_stnd_file_ready(header, data))
    else:
        raise DecodeError(
            f"stndDefinedNamespace {namespace!r} with notificationType "
            f"{_notification_type(data)!r} is not read by this codec (reads "
            f"{FAULT_NAMESPACE}, {PM_STREAMING_NAMESPACE} and notifyFileReady)"
        )


def _notification_type(data: Mapping) -> Any:
    if "notificationType" in data:
        return data["notificationType"]
    head = data.get("header")
    return head.get("notificationType") if isinstance(head, Mapping) else None


def _3gpp_alarm(header: Mapping, data: Mapping) -> Alarm:
    where = "stndDefinedFields.data"
    kind = data.get("notificationType")
    if kind not in _ALARM_NOTIFICATIONS:
        raise DecodeError(
            f"{where}.notificationType is {_short(kind)}, expected one of "
            + ", ".join(sorted(_ALARM_NOTIFICATIONS))
        )
    alarm_id = data.get("alarmId")
    if isinstance(alarm_id, bool) or not isinstance(alarm_id, str | int) or alarm_id == "":
        raise DecodeError(f"{where}.alarmId missing or not a non-empty string")
    cause = data.get("probableCause")
    if isinstance(cause, bool) or not isinstance(cause, str | int):
        raise DecodeError(f"{where}.probableCause missing or not a string or integer")
    if kind == "notifyClearedAlarm":
        severity = Severity.CLEARED
    else:
        text = data.get("perceivedSeverity")
        try:
            severity = Severity(text)
        except ValueError:
            raise DecodeError(
                f"{where}.perceivedSeverity is {_short(text)}, expected one of "
                + ", ".join(s.value for s in Severity)
            ) from None
    event_time = _iso(data.get("eventTime")) or _epoch_us(header.get("lastEpochMicrosec"))
    if event_time is None:
        raise DecodeError(
            f"no event time: {where}.eventTime is {_short(data.get('eventTime'))} (not ISO "
            f"8601) and commonEventHeader.lastEpochMicrosec is "
            f"{_short(header.get('lastEpochMicrosec'))}"
        )
    system_dn = _opt_str(data, "systemDN", where)
    href = data.get("href")
    href_dn = _dn_from_href(href) if isinstance(href, str) else ""
    object_dn = _opt_str(data, "objectInstance", where) or href_dn or system_dn
    source = system_dn or _opt_str(header, "sourceName", "commonEventHeader") or object_dn
    text = _opt_str(data, "specificProblem", where) or _opt_str(data, "additionalText", where)
    return Alarm(
        alarm_id=str(alarm_id),
        source=source,
        object_dn=object_dn,
        condition=str(cause),
        severity=severity,
        event_time=event_time,
        text=text,
        event_type=_opt_str(data, "alarmType", where),
    )


def _dn_from_href(href: str) -> str:
    """``https://host/3GPPManagement/ProvMnS/v1/SubNetwork=1/ManagedElement=1`` ->
    ``SubNetwork=1,ManagedElement=1``; an href with no RDN in its path is kept as is."""
    path = urllib.parse.urlsplit(href).path if "://" in href else href
    rdns = [urllib.parse.unquote(p) for p in path.split("/") if "=" in p]
    return ",".join(rdns) if rdns else href


# ---- O-RAN SC O-DU PM streaming

# The event shape follows o-ran-sc/nonrtric-rapp-ransliceassurance, smoversion/messages/
# stdVesMessage.go (StdDefinedMessage -> StndDefinedFields.Data: "granularity-period",
# "measurements"[] of {"measurement-type-instance-reference", "value", "unit"}), the template
# apexpolicyversion/SliceAssurance/events/StdDefinedEvent.json and the instance references made
# by smoversion/stub/simulator.go (getMeasTypeInstanceRef) and parsed by
# smoversion/internal/structures/sliceassurance.go (AddOrUpdateMetric).


def _streaming_pm(header: Mapping, data: Mapping) -> PmBatch:
    """One PM row per ``data.measurements[]`` entry.

    Cell: the instance reference up to and including its ``cell[...]`` step, e.g.
    ``/o-ran-sc-du-hello-world:network-function/distributed-unit-functions[id='O-DU-1211']/
    cell[id='cell-1']`` (a YANG instance path; the stream carries no 3GPP DN). Counter: the
    ``performance-measurement-type`` without its ``(urn...)`` revision and module prefix, with
    the sub-counter keys that follow it, e.g. ``user-equipment-average-throughput-uplink
    {slice-differentiator=1,slice-service-type=1}``. Period end: ``lastEpochMicrosec``.
    Granularity: ``data.granularity-period`` (seconds) when positive, else ``lastEpochMicrosec -
    startEpochMicrosec``.
    """
    where = "stndDefinedFields.data"
    last = header.get("lastEpochMicrosec")
    end = _epoch_us(last)
    if end is None:
        raise DecodeError(f"commonEventHeader.lastEpochMicrosec is {_short(last)}, not a time")
    gran = data.get("granularity-period")
    if isinstance(gran, bool) or not isinstance(gran, int | float) or gran <= 0:
        start = header.get("startEpochMicrosec")
        span = _number(last) - _number(start) if _epoch_us(start) is not None else math.nan
        if not span > 0:
            raise DecodeError(
                f"{where}.granularity-period is {_short(gran)} and commonEventHeader "
                "start/lastEpochMicrosec give no positive interval"
            )
        gran = span / 1e6
    measurements = data.get("measurements")
    if not isinstance(measurements, list):
        raise DecodeError(f"{where}.measurements missing or not an array")
    cells: list[str] = []
    counters: list[str] = []
    values: list[float] = []
    for i, m in enumerate(measurements):
        mwhere = f"{where}.measurements[{i}]"
        if not isinstance(m, Mapping):
            raise DecodeError(f"{mwhere} is not an object")
        ref = m.get("measurement-type-instance-reference")
        if not isinstance(ref, str) or not ref:
            raise DecodeError(f"{mwhere}.measurement-type-instance-reference missing or empty")
        cell, counter = _parse_instance_reference(ref, mwhere)
        value = m.get("value")
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise DecodeError(f"{mwhere}.value is {_short(value)}, expected a number")
        x = float(value)
        if not math.isfinite(x):
            raise DecodeError(f"{mwhere}.value is not finite")
        cells.append(cell)
        counters.append(counter)
        values.append(x)
    return _pm_frame(cells, counters, values, end, round(gran))


_NAME = re.compile(r"[^/\[\]]+")


def _yang_steps(ref: str, where: str) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """Split an instance path into (text of the path so far, node name, [(key, value)])."""
    steps: list[tuple[str, str, list[tuple[str, str]]]] = []
    i, n = 0, len(ref)
    while i < n:
        if ref[i] != "/":
            raise DecodeError(f"{where}: bad instance reference at {i}: {_short(ref)}")
        m = _NAME.match(ref, i + 1)
        if m is None:
            raise DecodeError(f"{where}: empty node name at {i} in {_short(ref)}")
        name, i = m.group(), m.end()
        predicates: list[tuple[str, str]] = []
        while i < n and ref[i] == "[":
            j, quote = i + 1, ""
            while j < n and (quote or ref[j] != "]"):
                if ref[j] in "'\"" and (not quote or ref[j] == quote):
                    quote = "" if quote else ref[j]
                j += 1
            if j >= n:
                raise DecodeError(f"{where}: unclosed '[' in {_short(ref)}")
            key, eq, value = ref[i + 1 : j].partition("=")
            if not eq:
                raise DecodeError(f"{where}: predicate without '=' in {_short(ref)}")
            value = value.strip()
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            predicates.append((key.strip(), value))
            i = j + 1
        steps.append((ref[:i], name, predicates))
    return steps


def _local(name: str) -> str:
    return name.rpartition(":")[2]


def _parse_instance_reference(ref: str, where: str) -> tuple[str, str]:
    steps = _yang_steps(ref, where)
    cell = next((text for text, name, _ in steps if _local(name) == "cell"), None)
    if cell is None:
        raise DecodeError(f"{where}: no cell[...] step in {_short(ref)}")
    mtype: str | None = None
    subs: list[str] = []
    for _, name, predicates in steps:
        if mtype is None:
            for key, value in predicates:
                if key == "performance-measurement-type" or (
                    key == "." and _local(name) == "performance-measurement-type"
                ):
                    mtype = value
            continue
        subs += [f"{_local(name) if k == '.' else k}={v}" for k, v in predicates]
    if not mtype:
        raise DecodeError(f"{where}: no performance-measurement-type in {_short(ref)}")
    if mtype.startswith("(") and ")" in mtype:  # (urn:...?revision=...)name
        mtype = mtype[mtype.index(")") + 1 :]
    counter = _local(mtype) + ("{" + ",".join(subs) + "}" if subs else "")
    return cell, counter


def _pm_frame(
    cells: Sequence[str], counters: Sequence[str], values: Sequence[float], end: datetime, gran: int
) -> PmBatch:
    if not cells:
        return PmBatch.empty()
    n = len(cells)
    stamp = pd.Timestamp(end).as_unit("ns")
    return PmBatch(
        pd.DataFrame(
            {
                "cell": pd.Series(list(cells), dtype=object),
                "period_end": pd.Series([stamp] * n, dtype="datetime64[ns, UTC]"),
                "granularity_s": np.full(n, gran, dtype="int32"),
                "counter": pd.Series(list(counters), dtype=object),
                "value": np.asarray(values, dtype="float64"),
                "suspect": np.zeros(n, dtype=bool),
            }
        )
    )


# ---- file ready


def _legacy_file_ready(header: Mapping, fields: Mapping) -> list[FileReady]:
    source = _str(header, "sourceName", "commonEventHeader")
    notified = _epoch_us(header.get("lastEpochMicrosec"))
    if notified is None:
        raise DecodeError(
            f"commonEventHeader.lastEpochMicrosec is {_short(header.get('lastEpochMicrosec'))},"
            " not a time"
        )
    maps = fields.get("arrayOfNamedHashMap")
    if not isinstance(maps, list) or not maps:
        raise DecodeError(
            f"notificationFields.arrayOfNamedHashMap missing or empty (changeType "
            f"{_short(fields.get('changeType'))}): not a file-ready notification"
        )
    out = []
    for i, entry in enumerate(maps):
        where = f"notificationFields.arrayOfNamedHashMap[{i}]"
        if not isinstance(entry, Mapping):
            raise DecodeError(f"{where} is not an object")
        hm = _obj(entry, "hashMap", where)
        location = hm.get("location")
        if not isinstance(location, str) or not location:
            raise DecodeError(f"{where}.hashMap.location missing or empty")
        out.append(
            FileReady(
                url=location,
                source=source,
                notified_at=notified,
                file_format=_opt_str(hm, "fileFormatType", f"{where}.hashMap"),
                compression=_opt_str(hm, "compression", f"{where}.hashMap"),
            )
        )
    return out


def _stnd_file_ready(header: Mapping, data: Mapping) -> list[FileReady]:
    where = "stndDefinedFields.data"
    head = data.get("header") if isinstance(data.get("header"), Mapping) else data
    body = data.get("body") if isinstance(data.get("body"), Mapping) else data
    infos_where = f"{where}.body" if body is not data else where
    when = _iso(head.get("eventTime")) or _epoch_us(header.get("lastEpochMicrosec"))
    if when is None:
        raise DecodeError(
            f"no notification time: {where}.eventTime is {_short(head.get('eventTime'))} and "
            f"commonEventHeader.lastEpochMicrosec is {_short(header.get('lastEpochMicrosec'))}"
        )
    source = (
        _opt_str(data, "systemDN", where)
        or _opt_str(header, "sourceName", "commonEventHeader")
        or _opt_str(data, "href", where)
    )
    infos = body.get("fileInfoList")
    if not isinstance(infos, list) or not infos:
        raise DecodeError(f"{infos_where}.fileInfoList missing or empty")
    out = []
    for i, info in enumerate(infos):
        iwhere = f"{infos_where}.fileInfoList[{i}]"
        if not isinstance(info, Mapping):
            raise DecodeError(f"{iwhere} is not an object")
        location = info.get("fileLocation")
        if not isinstance(location, str) or not location:
            raise DecodeError(f"{iwhere}.fileLocation missing or empty")
        out.append(
            FileReady(
                url=location,
                source=source,
                notified_at=when,
                file_format=_opt_str(info, "fileFormat", iwhere)
                or _opt_str(info, "fileDataType", iwhere),
                compression=_opt_str(info, "fileCompression", iwhere),
            )
        )
    return out


# ---- helpers


def _obj(parent: Mapping, key: str, where: str) -> Mapping:
    value = parent.get(key)
    if not isinstance(value, Mapping):
        raise DecodeError(f"{where}.{key} missing or not an object")
    return value


def _str(parent: Mapping, key: str, where: str) -> str:
    value = parent.get(key)
    if not isinstance(value, str) or not value:
        raise DecodeError(f"{where}.{key} missing or not a non-empty string")
    return value


def _opt_str(parent: Mapping, key: str, where: str) -> str:
    value = parent.get(key, "")
    if value is None:
        return ""
    if not isinstance(value, str):
        raise DecodeError(f"{where}.{key} is {type(value).__name__}, expected a string")
    return value


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return math.nan
    return float(value)


def _epoch_us(value: Any) -> datetime | None:
    """Microseconds since the epoch (VES ``*EpochMicrosec``) if a number in 1990..2100."""
    us = _number(value)
    if not (_US_MIN <= us <= _US_MAX):  # also False for NaN
        return None
    return datetime.fromtimestamp(int(us) // 1_000_000, UTC).replace(
        microsecond=int(us) % 1_000_000
    )


def _iso(value: Any) -> datetime | None:
    if not isinstance(value, str) or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _clip(text: str) -> str:
    return text if len(text) <= _MAX_REASON else text[: _MAX_REASON - 3] + "..."
