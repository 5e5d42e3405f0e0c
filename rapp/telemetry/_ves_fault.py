"""VES alarms to ``Alarm``: the ``fault`` domain and the 3GPP FaultSupervision stndDefined event.

Both are one alarm state change per event; the field rules are in ``rapp.telemetry.ves``'s
module docstring, which is the one place a reader of the codec looks for them.
"""

from __future__ import annotations

import logging
import urllib.parse
from collections.abc import Mapping
from datetime import datetime

from rapp.domain import Alarm, Severity
from rapp.telemetry._ves_fields import (
    epoch_us,
    iso_time,
    optional_str,
    require_str,
    short,
)
from rapp.telemetry.ranpm import DecodeError

FAULT_NAMESPACE = "3GPP-FaultSupervision"

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

# the codec's logger: operators set the level of ``rapp.telemetry.ves``, not of its parts
log = logging.getLogger("rapp.telemetry.ves")


def fault_alarm(header: Mapping, fields: Mapping, received_at: datetime | None) -> Alarm:
    """The ``Alarm`` of a ``fault`` domain event (``faultFields``)."""
    source = require_str(header, "sourceName", "commonEventHeader")
    condition = require_str(fields, "alarmCondition", "faultFields")
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
        text=optional_str(fields, "specificProblem", "faultFields"),
        event_type=optional_str(header, "eventType", "commonEventHeader"),
    )


def _fault_time(header: Mapping, fields: Mapping, received_at: datetime | None) -> datetime:
    last = header.get("lastEpochMicrosec")
    when = epoch_us(last)
    if when is not None:
        return when
    info = fields.get("alarmAdditionalInformation")
    event_time = info.get("eventTime") if isinstance(info, Mapping) else None
    parsed = iso_time(event_time)
    if parsed is not None:
        return parsed
    if received_at is not None:
        log.warning(
            "fault from %s has no usable time (lastEpochMicrosec %s, eventTime %s): using the "
            "time it was received",
            header.get("sourceName"),
            short(last),
            short(event_time),
        )
        return received_at
    raise DecodeError(
        f"no event time: commonEventHeader.lastEpochMicrosec is {short(last)} (not microseconds "
        f"between 1990 and 2100) and faultFields.alarmAdditionalInformation.eventTime is "
        f"{short(event_time)} (not ISO 8601)"
    )


def fault_supervision_alarm(header: Mapping, data: Mapping) -> Alarm:
    """The ``Alarm`` of a TS 28.532 alarm notification (``stndDefinedFields.data``)."""
    where = "stndDefinedFields.data"
    kind = data.get("notificationType")
    if not isinstance(kind, str) or kind not in _ALARM_NOTIFICATIONS:
        raise DecodeError(
            f"{where}.notificationType is {short(kind)}, expected one of "
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
                f"{where}.perceivedSeverity is {short(text)}, expected one of "
                + ", ".join(s.value for s in Severity)
            ) from None
    event_time = iso_time(data.get("eventTime")) or epoch_us(header.get("lastEpochMicrosec"))
    if event_time is None:
        raise DecodeError(
            f"no event time: {where}.eventTime is {short(data.get('eventTime'))} (not ISO "
            f"8601) and commonEventHeader.lastEpochMicrosec is "
            f"{short(header.get('lastEpochMicrosec'))}"
        )
    system_dn = optional_str(data, "systemDN", where)
    href = data.get("href")
    href_dn = _dn_from_href(href) if isinstance(href, str) else ""
    object_dn = optional_str(data, "objectInstance", where) or href_dn or system_dn
    source = system_dn or optional_str(header, "sourceName", "commonEventHeader") or object_dn
    text = optional_str(data, "specificProblem", where) or optional_str(
        data, "additionalText", where
    )
    return Alarm(
        # 3GPP alarmIds are unique per producer only: scope them by it, or two NEs' alarm "1"
        # would raise and clear each other.
        alarm_id=f"{source}/{alarm_id}",
        source=source,
        object_dn=object_dn,
        condition=str(cause),
        severity=severity,
        event_time=event_time,
        text=text,
        event_type=optional_str(data, "alarmType", where),
    )


def _dn_from_href(href: str) -> str:
    """``https://host/3GPPManagement/ProvMnS/v1/SubNetwork=1/ManagedElement=1`` ->
    ``SubNetwork=1,ManagedElement=1``; an href with no RDN in its path is kept as is."""
    path = urllib.parse.urlsplit(href).path if "://" in href else href
    rdns = [urllib.parse.unquote(p) for p in path.split("/") if "=" in p]
    return ",".join(rdns) if rdns else href
