"""Incidents: detector flags grouped per cell and explained by FM alarms or the KPI pattern.

An operator (and the planner) wants one thing per problem, not one flag per ROP nor an anomaly
and an alarm about the same fault. So consecutive flagged ROPs of a cell (short gaps bridged)
are one incident; when an alarm was active on that cell during it, the alarm names the kind and
its ids are listed; otherwise the KPIs name it: traffic collapsed (a sleeping cell, which raises
no alarm by definition), congestion, throughput degradation, uplink interference, or plainly
``anomaly``. Sleeping cells and faults call for healing; the planner turns those into actions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

from rapp.domain import PRB_UTIL_DL, PRB_UTIL_UL, Alarm
from rapp.ml.detector import Evidence
from rapp.telemetry.kpi import ACTIVE_UE_DL, RRC_CONN_MEAN, THP_DL, THP_UL


class IncidentKind(StrEnum):
    """Same names as the simulator's ground-truth event kinds, plus the unexplained."""

    SLEEPING_CELL = "sleeping_cell"
    HARDWARE_FAULT = "hardware_fault"
    FRONTHAUL_FAULT = "fronthaul_fault"
    CONGESTION_SURGE = "congestion_surge"
    KPI_DEGRADATION = "kpi_degradation"
    INTERFERENCE = "interference"
    ANOMALY = "anomaly"


HEALING_KINDS: frozenset[IncidentKind] = frozenset(
    {IncidentKind.SLEEPING_CELL, IncidentKind.HARDWARE_FAULT, IncidentKind.FRONTHAUL_FAULT}
)
"""Kinds that scaling cannot fix: the cell itself has to be restarted or repaired."""

_TRAFFIC_KPIS = (PRB_UTIL_DL, ACTIVE_UE_DL, RRC_CONN_MEAN)
_FRONTHAUL_WORDS = re.compile(
    r"fronthaul|\bfh\b|e?cpri|\blink\b|transport|synchroni[sz]|\bsync\b|\bptp\b|\blos\b|lof",
    re.IGNORECASE,
)


@dataclass(frozen=True, slots=True)
class Incident:
    """One problem on one cell, from its first to its last flagged ROP (period ends)."""

    cell: str
    kind: IncidentKind
    start: pd.Timestamp
    end: pd.Timestamp
    score: float
    """The largest anomaly score in the incident (1 = threshold)."""
    top_kpis: tuple[str, ...]
    """KPIs by mean |robust z| over the incident, largest first."""
    alarm_ids: tuple[str, ...] = ()
    needs_healing: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "cell": self.cell,
            "kind": self.kind.value,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "score": self.score,
            "top_kpis": list(self.top_kpis),
            "alarm_ids": list(self.alarm_ids),
            "needs_healing": self.needs_healing,
        }


def fault_kind(alarm: Alarm) -> IncidentKind:
    """Fronthaul when the alarm speaks of the link (eCPRI, sync, transport), else hardware."""
    words = " ".join((alarm.condition, alarm.text, alarm.event_type))
    if _FRONTHAUL_WORDS.search(words):
        return IncidentKind.FRONTHAUL_FAULT
    return IncidentKind.HARDWARE_FAULT


def flag_runs(flags: np.ndarray, max_gap: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cell positions, first ROP, last ROP) of every run of flags, in cell then time order.

    Runs of one cell separated by at most ``max_gap`` unflagged ROPs are one run: a flapping
    anomaly (or a lost ROP in the middle of a fault) is still one problem.
    """
    flags = np.asarray(flags, dtype=bool)
    if flags.ndim != 2:
        raise ValueError(f"expected (cells, ROPs) flags, got shape {flags.shape}")
    cells, t = np.nonzero(flags)  # row-major: sorted by cell, then time
    if len(t) == 0:
        empty = np.array([], dtype=np.int64)
        return empty, empty, empty
    new = np.ones(len(t), dtype=bool)
    new[1:] = (cells[1:] != cells[:-1]) | (t[1:] - t[:-1] > max_gap + 1)
    firsts = np.flatnonzero(new)
    lasts = np.r_[firsts[1:] - 1, len(t) - 1]
    return cells[firsts], t[firsts], t[lasts]


@dataclass(frozen=True)
class _ActiveAlarm:
    alarm_id: str
    object_dn: str
    kind: IncidentKind
    raised: pd.Timestamp
    cleared: pd.Timestamp | None


def active_periods(alarms: Iterable[Alarm]) -> list[_ActiveAlarm]:
    """Raise-to-clear intervals from alarm state changes (any order, repeats allowed).

    An alarm raised again after a clear opens a new interval; a clear without a raise is
    ignored; an alarm still raised has no end.
    """
    by_id: dict[str, list[Alarm]] = {}
    for alarm in alarms:
        by_id.setdefault(alarm.alarm_id, []).append(alarm)
    periods: list[_ActiveAlarm] = []
    for alarm_id, changes in by_id.items():
        changes.sort(key=lambda a: (a.event_time, a.cleared))
        raised: Alarm | None = None
        for change in changes:
            if change.cleared and raised is not None:
                periods.append(_period(alarm_id, raised, change.event_time))
                raised = None
            elif not change.cleared and raised is None:
                raised = change
        if raised is not None:
            periods.append(_period(alarm_id, raised, None))
    return periods


def correlate(
    evidence: Evidence,
    alarms: Iterable[Alarm] = (),
    *,
    max_gap: int = 4,
    collapse_ratio: float = 0.25,
    pattern_z: float = 3.0,
    top: int = 3,
) -> list[Incident]:
    """Incidents from the detector's ``evidence`` and the FM ``alarms`` seen meanwhile.

    ``collapse_ratio``: traffic below this share of the expected is a collapse.
    ``pattern_z``: the mean |robust z| at which a KPI counts as clearly up or down when the
    pattern is classified.
    """
    cell_pos, first, last = flag_runs(evidence.flags, max_gap)
    if len(first) == 0:
        return []
    first = _back_to_onset(evidence.score, cell_pos, first)
    z_mean, ratio, peak = _run_statistics(evidence, cell_pos, first, last)
    kinds = _classify(evidence.kpis, z_mean, ratio, collapse_ratio, pattern_z)
    cells = evidence.cells.to_numpy(dtype=object)[cell_pos]
    begins = evidence.times[first] - evidence.step  # a ROP covers (end - step, end]
    ends = evidence.times[last]
    explained = _alarms_on_runs(active_periods(alarms), cells, begins, ends)
    order = np.argsort(-np.nan_to_num(np.abs(z_mean), nan=-1.0), axis=0, kind="stable")
    names = np.asarray(evidence.kpis, dtype=object)
    incidents = []
    for i in range(len(first)):  # one iteration per incident, which are few
        matched = explained[i]
        kind = matched[0].kind if matched else IncidentKind(kinds[i])
        incidents.append(
            Incident(
                cell=str(cells[i]),
                kind=kind,
                start=evidence.times[first[i]],
                end=ends[i],
                score=float(peak[i]),
                top_kpis=tuple(str(n) for n in names[order[: min(top, len(names)), i]]),
                alarm_ids=tuple(dict.fromkeys(a.alarm_id for a in matched)),
                needs_healing=kind in HEALING_KINDS,
            )
        )
    return incidents


def _back_to_onset(
    score: np.ndarray, cell_pos: np.ndarray, first: np.ndarray, limit: int = 8
) -> np.ndarray:
    """Move each run's start back over the deviating ROPs that preceded its first flag.

    A flag is raised once a deviation has persisted; the incident began when it started.
    One step back per iteration for every run at once; ``limit`` bounds the walk.
    """
    first = first.copy()
    for _ in range(limit):
        prev = np.clip(first - 1, 0, None)
        with np.errstate(invalid="ignore"):
            deviating = (first > 0) & (score[cell_pos, prev] >= 1.0)
        if not deviating.any():
            break
        first[deviating] -= 1
    return first


def _run_statistics(
    evidence: Evidence, cell_pos: np.ndarray, first: np.ndarray, last: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per run: mean z per KPI (kpis, runs), traffic ratio observed/expected per KPI
    (kpis, runs) and peak score (runs), over the run's flagged ROPs, with bincount."""
    flagged_cells, flagged_t = np.nonzero(evidence.flags)
    n_t = evidence.flags.shape[1]
    run_of = np.searchsorted(cell_pos * n_t + first, flagged_cells * n_t + flagged_t, "right") - 1
    n_runs = len(first)

    def mean(values: np.ndarray) -> np.ndarray:
        seen = ~np.isnan(values)
        total = np.bincount(run_of, np.where(seen, values, 0.0), minlength=n_runs)
        count = np.bincount(run_of, seen, minlength=n_runs)
        return np.divide(total, count, out=np.full(n_runs, np.nan), where=count > 0)

    def total(values: np.ndarray) -> np.ndarray:
        return np.bincount(run_of, np.nan_to_num(values), minlength=n_runs)

    z = evidence.z[:, flagged_cells, flagged_t]
    observed = evidence.observed[:, flagged_cells, flagged_t]
    expected = evidence.expected[:, flagged_cells, flagged_t]
    z_mean = np.stack([mean(row) for row in z])
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.stack([total(o) / total(e) for o, e in zip(observed, expected, strict=True)])
    peak = np.full(n_runs, -np.inf)
    np.maximum.at(peak, run_of, evidence.score[flagged_cells, flagged_t])
    return z_mean, ratio, peak


def _classify(
    kpis: tuple[str, ...],
    z_mean: np.ndarray,
    ratio: np.ndarray,
    collapse_ratio: float,
    pattern_z: float,
) -> np.ndarray:
    """Kind per run from its KPI pattern, for all runs at once (a missing KPI is no evidence)."""
    n_runs = z_mean.shape[1]

    def z(name: str) -> np.ndarray:
        return z_mean[kpis.index(name)] if name in kpis else np.full(n_runs, np.nan)

    def up(name: str) -> np.ndarray:
        return z(name) > pattern_z

    def down(name: str) -> np.ndarray:
        return z(name) < -pattern_z

    def steady(name: str) -> np.ndarray:
        return np.abs(z(name)) <= pattern_z

    traffic = [ratio[kpis.index(k)] for k in _TRAFFIC_KPIS if k in kpis]
    with np.errstate(invalid="ignore"):
        share = np.nanmax(np.stack(traffic), axis=0) if traffic else np.full(n_runs, np.nan)
        collapsed = share < collapse_ratio
        # UL hit clearly harder than DL, with more UL PRBs used for it: noise on the uplink.
        interference = down(THP_UL) & (z(THP_UL) < z(THP_DL) - pattern_z) & (z(PRB_UTIL_UL) > 1)
        # A saturated cell cannot show PRB rising much further; more users then show it.
        busier = up(PRB_UTIL_DL) | up(ACTIVE_UE_DL) | up(RRC_CONN_MEAN)
        congestion = down(THP_DL) & busier
        degradation = (down(THP_DL) | down(THP_UL)) & steady(PRB_UTIL_DL) & ~busier
    return np.select(
        [collapsed, interference, congestion, degradation],
        [
            IncidentKind.SLEEPING_CELL.value,
            IncidentKind.INTERFERENCE.value,
            IncidentKind.CONGESTION_SURGE.value,
            IncidentKind.KPI_DEGRADATION.value,
        ],
        default=IncidentKind.ANOMALY.value,
    )


def _alarms_on_runs(
    periods: list[_ActiveAlarm],
    cells: np.ndarray,
    begins: pd.DatetimeIndex,
    ends: pd.DatetimeIndex,
) -> list[list[_ActiveAlarm]]:
    """For each run, the alarms active on its cell at some time during it (earliest first).

    One vectorised test per alarm over every run: alarms are few, runs may be many.
    """
    matched: list[list[_ActiveAlarm]] = [[] for _ in range(len(cells))]
    cell_names = pd.Series(cells, dtype=object)
    for period in sorted(periods, key=lambda p: p.raised):
        on_cell = (cell_names == period.object_dn) | cell_names.str.startswith(
            period.object_dn + ","
        )
        during = period.raised <= ends
        if period.cleared is not None:
            during &= period.cleared > begins
        for i in np.flatnonzero(on_cell.to_numpy() & np.asarray(during)):
            matched[i].append(period)
    return matched


def _period(alarm_id: str, raised: Alarm, cleared: datetime | None) -> _ActiveAlarm:
    return _ActiveAlarm(
        alarm_id=alarm_id,
        object_dn=raised.object_dn,
        kind=fault_kind(raised),
        raised=_utc(raised.event_time),
        cleared=None if cleared is None else _utc(cleared),
    )


def _utc(moment: datetime) -> pd.Timestamp:
    stamp = pd.Timestamp(moment)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
