"""The simulated network on the wire: TS 28.552 counters, and every format the rApp reads.

Counters are quantised here the way a node reports them (PRB counts and peak connections are
integers, the rest has a fixed number of decimals), and the KPI frame is derived from the
quantised counters by ``derived_kpis``, the same arithmetic as ``rapp.telemetry.kpi``. Decoding
any export below with the rApp's own codecs therefore gives back the KPI frame exactly.

Formats, one writer each:

- ranpm PM report JSON (the shape of ``simulators.o1.report``: one report per gNB per ROP, as
  published on Kafka), written as one JSON-lines file per ROP;
- 3GPP TS 32.435 ``measCollecFile`` XML, one file per ROP, one ``measData`` per gNB;
- VES 7.2.1 ``fault`` domain events, one per line.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from xml.sax.saxutils import quoteattr

import numpy as np
import pandas as pd

from rapp.domain import Alarm, Severity
from simulators.o1.anomalies import ALARMS
from simulators.o1.report import MEAS_INFO_ID, report_document
from simulators.o1.traffic import Topology

COUNTERS: tuple[str, ...] = (
    "RRU.PrbUsedDl",
    "RRU.PrbAvailDl",
    "RRU.PrbUsedUl",
    "RRU.PrbAvailUl",
    "DRB.UEThpDl",
    "DRB.UEThpUl",
    "DRB.MeanActiveUeDl",
    "DRB.MeanActiveUeUl",
    "RRC.ConnMean",
    "RRC.ConnMax",
    "PEE.Energy",
)
"""The TS 28.552 counters that ``derive_kpis`` turns into the nine KPIs."""

# decimals each counter is reported with; None: an integer
_DECIMALS: Mapping[str, int | None] = {
    "RRU.PrbUsedDl": None,
    "RRU.PrbAvailDl": None,
    "RRU.PrbUsedUl": None,
    "RRU.PrbAvailUl": None,
    "DRB.UEThpDl": 1,
    "DRB.UEThpUl": 1,
    "DRB.MeanActiveUeDl": 2,
    "DRB.MeanActiveUeUl": 2,
    "RRC.ConnMean": 2,
    "RRC.ConnMax": None,
    "PEE.Energy": 4,
}
# KPI -> counter it is read from directly (the PRB KPIs are ratios, below)
_DIRECT: Mapping[str, str] = {
    "thp_dl": "DRB.UEThpDl",
    "thp_ul": "DRB.UEThpUl",
    "active_ue_dl": "DRB.MeanActiveUeDl",
    "active_ue_ul": "DRB.MeanActiveUeUl",
    "rrc_conn_mean": "RRC.ConnMean",
    "rrc_conn_max": "RRC.ConnMax",
    "energy_kwh": "PEE.Energy",
}
_REPORTER = "rapp-o1-sim"

Progress = Callable[[int, int], None]
"""Called with (ROPs written, ROPs in all) after each file."""


def quantise(counters: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Counters as a node reports them: integers rounded, the rest to fixed decimals."""
    out = {}
    for name in COUNTERS:
        places = _DECIMALS[name]
        value = np.maximum(np.asarray(counters[name], dtype=np.float64), 0.0)
        out[name] = np.rint(value) if places is None else np.round(value, places)
    return out


def counters_from_radio(kpis: Mapping[str, np.ndarray], prbs: np.ndarray) -> dict[str, np.ndarray]:
    """Raw counters (not yet quantised) from ``traffic.radio``'s physical KPIs."""
    avail = np.broadcast_to(prbs.astype(np.float64), kpis["prb_util_dl"].shape)
    raw = {
        "RRU.PrbUsedDl": kpis["prb_util_dl"] / 100.0 * avail,
        "RRU.PrbAvailDl": avail,
        "RRU.PrbUsedUl": kpis["prb_util_ul"] / 100.0 * avail,
        "RRU.PrbAvailUl": avail,
        "RRC.ConnMax": np.ceil(kpis["rrc_conn_max"]),
    }
    raw |= {counter: kpis[kpi] for kpi, counter in _DIRECT.items() if counter not in raw}
    return raw


def derived_kpis(counters: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The nine KPIs from counters, by the arithmetic of ``rapp.telemetry.kpi.derive_kpis``."""
    out = {}
    for kpi, used, avail in (
        ("prb_util_dl", "RRU.PrbUsedDl", "RRU.PrbAvailDl"),
        ("prb_util_ul", "RRU.PrbUsedUl", "RRU.PrbAvailUl"),
    ):
        denom = np.where(counters[avail] > 0, counters[avail], np.nan)
        out[kpi] = np.clip(100.0 * counters[used] / denom, 0.0, 100.0)
    out |= {kpi: np.asarray(counters[counter], np.float64) for kpi, counter in _DIRECT.items()}
    return out


@dataclass(frozen=True, eq=False)
class CounterCube:
    """Quantised counters of every (ROP, cell), with which rows were sent and which flagged."""

    topology: Topology
    times: pd.DatetimeIndex
    step: pd.Timedelta
    counters: Mapping[str, np.ndarray]  # name -> (ROPs, cells) float64
    present: np.ndarray  # (ROPs, cells) bool: False for a missing ROP
    suspect: np.ndarray  # (ROPs, cells) bool

    @property
    def granularity_s(self) -> int:
        return int(self.step.total_seconds())

    def rop_text(self, t: int) -> list[list[str]]:
        """Every counter of ROP ``t`` as the strings the wire carries, per counter per cell."""
        text = []
        for name in COUNTERS:
            row = self.counters[name][t]
            if _DECIMALS[name] is None:
                text.append([str(v) for v in row.astype(np.int64).tolist()])
            else:
                text.append([repr(v) for v in row.tolist()])
        return text


def ranpm_reports(cube: CounterCube, t: int) -> list[tuple[bytes, bytes]]:
    """(key, value) Kafka records of ROP ``t``: one ranpm report per gNB, cells that reported."""
    end_us = cube.times[t].value // 1_000
    text = cube.rop_text(t)
    topo = cube.topology
    gnbs, dns, locals_ = topo.gnbs, topo.gnb_dns, topo.cell_local_dns
    per_gnb = topo.cells_per_gnb
    out = []
    for g in np.unique(topo.cell_gnb[cube.present[t]]).tolist():
        cells = range(g * per_gnb, min((g + 1) * per_gnb, topo.n_cells))
        values = [
            {
                "measObjInstId": locals_[c],
                "suspectFlag": "true" if cube.suspect[t, c] else "false",
                "measResults": [{"p": p + 1, "sValue": text[p][c]} for p in range(len(COUNTERS))],
            }
            for c in cells
            if cube.present[t, c]
        ]
        doc = report_document(gnbs[g], dns[g], end_us, cube.granularity_s, list(COUNTERS), values)
        out.append((gnbs[g].encode(), json.dumps(doc, separators=(",", ":")).encode()))
    return out


def pm_xml(cube: CounterCube, t: int) -> bytes:
    """One TS 32.435 ``measCollecFile`` for ROP ``t``: a ``measData`` per gNB that reported."""
    end = cube.times[t]
    begin = end - cube.step
    duration = f"PT{cube.granularity_s}S"
    text = cube.rop_text(t)
    topo = cube.topology
    types = "".join(f'<measType p="{p + 1}">{n}</measType>' for p, n in enumerate(COUNTERS))
    parts = [
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<measCollecFile xmlns="http://www.3gpp.org/ftp/specs/archive/32_series/32.435#measCollec">'
        f'<fileHeader fileFormatVersion="32.435 V10.0" vendorName="{_REPORTER}">'
        f'<fileSender elementType="gNB"/><measCollec beginTime="{_iso(begin)}"/></fileHeader>'
    ]
    per_gnb = topo.cells_per_gnb
    for g in np.unique(topo.cell_gnb[cube.present[t]]).tolist():
        parts.append(
            f"<measData><managedElement localDn={quoteattr(topo.gnb_dns[g])}/>"
            f'<measInfo measInfoId="{MEAS_INFO_ID}"><job jobId="1"/>'
            f'<granPeriod duration="{duration}" endTime="{_iso(end)}"/>'
            f'<repPeriod duration="{duration}"/>{types}'
        )
        for c in range(g * per_gnb, min((g + 1) * per_gnb, topo.n_cells)):
            if not cube.present[t, c]:
                continue
            values = "".join(f'<r p="{p + 1}">{text[p][c]}</r>' for p in range(len(COUNTERS)))
            flag = "<suspect>true</suspect>" if cube.suspect[t, c] else ""
            parts.append(
                f"<measValue measObjLdn={quoteattr(topo.cell_local_dns[c])}>{values}{flag}"
                "</measValue>"
            )
        parts.append("</measInfo></measData>")
    parts.append(f'<fileFooter><measCollec endTime="{_iso(end)}"/></fileFooter></measCollecFile>\n')
    return "".join(parts).encode()


def pm_xml_name(cube: CounterCube, t: int) -> str:
    """TS 32.432 file name: ``A20260105.0000+0000-0015+0000_rapp-o1-sim.xml``."""
    end = cube.times[t]
    begin = end - cube.step
    return f"A{begin:%Y%m%d.%H%M}+0000-{end:%H%M}+0000_{_REPORTER}.xml"


def ves_fault(alarm: Alarm, sequence: int) -> dict[str, Any]:
    """A VES 7.2.1 ``fault`` event for one alarm state change (raise, or clear as NORMAL), with
    the cell DN as ``alarmInterfaceA`` so the alarm names the cell it is about."""
    spec = next((a for a in ALARMS.values() if a.condition == alarm.condition), None)
    if spec is None:
        raise ValueError(f"no VES shape for alarm condition {alarm.condition!r}")
    when_us = int(pd.Timestamp(alarm.event_time).value // 1_000)
    cleared = alarm.severity is Severity.CLEARED
    return {
        "event": {
            "commonEventHeader": {
                "domain": "fault",
                "eventId": f"fault-{alarm.source}-{when_us}-{sequence}",
                "eventName": spec.event_name,
                "eventType": spec.event_type,
                "sequence": sequence,
                "priority": "Normal" if cleared else "High",
                "reportingEntityName": _REPORTER,
                "sourceName": alarm.source,
                "startEpochMicrosec": when_us,
                "lastEpochMicrosec": when_us,
                "timeZoneOffset": "+00:00",
                "version": "4.1",
                "vesEventListenerVersion": "7.2.1",
            },
            "faultFields": {
                "faultFieldsVersion": "4.0",
                "alarmCondition": alarm.condition,
                "alarmInterfaceA": alarm.object_dn,
                "eventSourceType": spec.source_type,
                "specificProblem": alarm.text,
                "eventSeverity": "NORMAL" if cleared else alarm.severity.value,
                "vfStatus": "Active",
                "alarmAdditionalInformation": {"eventTime": _iso(alarm.event_time)},
            },
        }
    }


def ves_faults(alarms: list[Alarm]) -> list[dict[str, Any]]:
    """The VES events of a list of alarm changes; a raise is sequence 0, its clear 1."""
    return [ves_fault(a, 1 if a.severity is Severity.CLEARED else 0) for a in alarms]


def write_ranpm(cube: CounterCube, directory: Path, progress: Progress | None = None) -> int:
    """``<dir>/<period end>.jsonl`` per ROP, one gNB report per line; returns files written."""
    directory.mkdir(parents=True, exist_ok=True)
    total = len(cube.times)
    for t in range(total):
        lines = [value for _, value in ranpm_reports(cube, t)]
        name = f"{cube.times[t]:%Y%m%dT%H%M%SZ}.jsonl"
        (directory / name).write_bytes(b"\n".join(lines) + b"\n")
        if progress is not None:
            progress(t + 1, total)
    return total


def write_pm_xml(cube: CounterCube, directory: Path, progress: Progress | None = None) -> int:
    """One ``measCollecFile`` per ROP; returns files written."""
    directory.mkdir(parents=True, exist_ok=True)
    total = len(cube.times)
    for t in range(total):
        (directory / pm_xml_name(cube, t)).write_bytes(pm_xml(cube, t))
        if progress is not None:
            progress(t + 1, total)
    return total


def write_ves(alarms: list[Alarm], path: Path) -> int:
    """VES fault events as JSON lines, in time order; returns events written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    events = ves_faults(alarms)
    path.write_text("".join(json.dumps(e, separators=(",", ":")) + "\n" for e in events))
    return len(events)


def _iso(when: object) -> str:
    stamp = pd.Timestamp(when)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.strftime("%Y-%m-%dT%H:%M:%S+00:00")
