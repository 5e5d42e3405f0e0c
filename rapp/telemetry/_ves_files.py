"""VES file-ready notifications to ``FileReady``: the legacy ``notification`` domain and the
stndDefined ``notifyFileReady`` (flat, and the Rel-16 PerDataFileReportMnS ``header``/``body``).

One ``FileReady`` per file named; the field rules are in ``rapp.telemetry.ves``'s module
docstring.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rapp.domain import FileReady
from rapp.telemetry._ves_fields import (
    epoch_us,
    iso_time,
    optional_str,
    require_object,
    require_str,
    short,
)
from rapp.telemetry.ranpm import DecodeError


def notification_type(data: Mapping) -> Any:
    """``notificationType`` of a stndDefined ``data``, in either the flat or the Rel-16
    ``header``/``body`` form (it is how a file-ready notification is recognised)."""
    if "notificationType" in data:
        return data["notificationType"]
    head = data.get("header")
    return head.get("notificationType") if isinstance(head, Mapping) else None


def legacy_file_ready(header: Mapping, fields: Mapping) -> list[FileReady]:
    """The files of a ``notification`` domain event (``notificationFields``)."""
    source = require_str(header, "sourceName", "commonEventHeader")
    notified = epoch_us(header.get("lastEpochMicrosec"))
    if notified is None:
        raise DecodeError(
            f"commonEventHeader.lastEpochMicrosec is {short(header.get('lastEpochMicrosec'))},"
            " not a time"
        )
    maps = fields.get("arrayOfNamedHashMap")
    if not isinstance(maps, list) or not maps:
        raise DecodeError(
            f"notificationFields.arrayOfNamedHashMap missing or empty (changeType "
            f"{short(fields.get('changeType'))}): not a file-ready notification"
        )
    out = []
    for i, entry in enumerate(maps):
        where = f"notificationFields.arrayOfNamedHashMap[{i}]"
        if not isinstance(entry, Mapping):
            raise DecodeError(f"{where} is not an object")
        hm = require_object(entry, "hashMap", where)
        location = hm.get("location")
        if not isinstance(location, str) or not location:
            raise DecodeError(f"{where}.hashMap.location missing or empty")
        out.append(
            FileReady(
                url=location,
                source=source,
                notified_at=notified,
                file_format=optional_str(hm, "fileFormatType", f"{where}.hashMap"),
                compression=optional_str(hm, "compression", f"{where}.hashMap"),
            )
        )
    return out


def stnd_file_ready(header: Mapping, data: Mapping) -> list[FileReady]:
    """The files of a stndDefined ``notifyFileReady`` (``stndDefinedFields.data``)."""
    where = "stndDefinedFields.data"
    head = data.get("header") if isinstance(data.get("header"), Mapping) else data
    body = data.get("body") if isinstance(data.get("body"), Mapping) else data
    infos_where = f"{where}.body" if body is not data else where
    when = iso_time(head.get("eventTime")) or epoch_us(header.get("lastEpochMicrosec"))
    if when is None:
        raise DecodeError(
            f"no notification time: {where}.eventTime is {short(head.get('eventTime'))} and "
            f"commonEventHeader.lastEpochMicrosec is {short(header.get('lastEpochMicrosec'))}"
        )
    source = (
        optional_str(data, "systemDN", where)
        or optional_str(header, "sourceName", "commonEventHeader")
        or optional_str(data, "href", where)
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
                file_format=optional_str(info, "fileFormat", iwhere)
                or optional_str(info, "fileDataType", iwhere),
                compression=optional_str(info, "fileCompression", iwhere),
            )
        )
    return out
