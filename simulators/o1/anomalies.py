"""Labelled anomalies and data-quality artefacts, injected on demand into simulated traffic.

An anomaly is an *event* on one cell over a span of ROPs: it acts through the cell's radio
(``traffic.radio`` effects), so its KPIs move together as a real fault's would. Faults with an
alarm (``ALARMS``) also raise a VES fault on the cell's gNB at the start and clear it at the
end, the alarmed interface being the cell's DN. Artefacts are what a collection chain does to
good data (rows lost, rows flagged suspect, a counter reset): never anomalies, and never placed
on or next to an event, so a detector's score on either stays unambiguous.

The frames are the shared contract (``rapp/ml/panel.py``): events ``event_id, cell, kind,
start, end, alarm_id`` (period ends, both inclusive), artefacts ``cell, period_end, artefact``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from rapp.domain import Alarm, Severity
from simulators.o1.traffic import ANOMALY_STREAM, ARTEFACT_STREAM, CellPlan, Topology, stream

KINDS: tuple[str, ...] = (
    "sleeping_cell",
    "hardware_fault",
    "fronthaul_fault",
    "congestion_surge",
    "kpi_degradation",
    "interference",
)
ARTEFACTS: tuple[str, ...] = ("missing_rop", "suspect", "counter_reset")

DURATIONS: Mapping[str, tuple[int, int]] = {
    "sleeping_cell": (8, 48),
    "hardware_fault": (4, 24),
    "fronthaul_fault": (2, 12),
    "congestion_surge": (4, 12),
    "kpi_degradation": (8, 32),
    "interference": (4, 24),
}
"""Default shortest and longest span of each kind, in ROPs (both inclusive)."""

# kind -> {radio quantity: (low, high) multiplier}, drawn once per event
_EFFECTS: Mapping[str, Mapping[str, tuple[float, float]]] = {
    "sleeping_cell": {"demand": (0.001, 0.005), "thp_dl": (0.0, 0.03), "thp_ul": (0.0, 0.03)},
    "hardware_fault": {"demand": (0.25, 0.55), "thp_dl": (0.3, 0.6), "thp_ul": (0.4, 0.7)},
    "fronthaul_fault": {"demand": (0.03, 0.25), "thp_dl": (0.2, 0.5), "thp_ul": (0.2, 0.5)},
    "congestion_surge": {"demand": (2.5, 4.0)},
    "kpi_degradation": {"thp_dl": (0.3, 0.55), "thp_ul": (0.6, 0.9)},
    "interference": {"ul_load": (1.8, 3.0), "thp_ul": (0.2, 0.45)},
}
_SURGE_FLOOR = 2.2  # a surge asks at least this times capacity: PRBs pinned near 100 %


@dataclass(frozen=True)
class FaultAlarm:
    """How a kind of fault shows on the VES fault interface."""

    condition: str
    event_type: str
    event_name: str
    specific_problem: str
    severity: Severity
    source_type: str


ALARMS: Mapping[str, FaultAlarm] = {
    "hardware_fault": FaultAlarm(
        condition="EQUIPMENT_MALFUNCTION",
        event_type="equipmentAlarm",
        event_name="fault_gNB-RappSim_EquipmentMalfunction",
        specific_problem="Power amplifier faulty",
        severity=Severity.MAJOR,
        source_type="gNodeB",
    ),
    # alarm 28 of the O-RAN O-RU fault list, as in the O-RAN SC fronthaul recovery rApp
    "fronthaul_fault": FaultAlarm(
        condition="28",
        event_type="O-RAN-RU-Fault",
        event_name="fault_O-RAN-RU-Fault_Alarms_CUS_Link_Failure",
        specific_problem="CUS Link Failure",
        severity=Severity.CRITICAL,
        source_type="O-RU",
    ),
}


@dataclass(frozen=True)
class AnomalySpec:
    """How many anomalies, of which kinds, how long, and not before when."""

    count: int = 0
    kinds: tuple[str, ...] = KINDS
    durations: Mapping[str, tuple[int, int]] = field(default_factory=lambda: dict(DURATIONS))
    not_before: pd.Timedelta = field(default_factory=lambda: pd.Timedelta(0))
    """Keep the first part of the span clean (history for a detector to learn from)."""

    def __post_init__(self) -> None:
        if self.count < 0:
            raise ValueError(f"anomaly count must be >= 0, got {self.count}")
        unknown = sorted(set(self.kinds) - set(KINDS))
        if unknown or not self.kinds:
            raise ValueError(f"unknown anomaly kinds {unknown}; choose from {list(KINDS)}")
        for kind in self.kinds:
            low, high = self.durations.get(kind, DURATIONS[kind])
            if not 1 <= low <= high:
                raise ValueError(f"{kind}: durations need 1 <= low <= high, got {low, high}")


@dataclass(frozen=True)
class ArtefactSpec:
    """Rate of each artefact, as a fraction of (cell, ROP) rows."""

    missing_rop: float = 0.0
    suspect: float = 0.0
    counter_reset: float = 0.0

    def __post_init__(self) -> None:
        for name in ARTEFACTS:
            rate = getattr(self, name)
            if not 0.0 <= rate < 0.5:
                raise ValueError(f"artefact rate {name}={rate} must be in [0, 0.5)")

    @classmethod
    def uniform(cls, rate: float) -> ArtefactSpec:
        return cls(rate, rate, rate)


@dataclass(frozen=True, eq=False)
class Placement:
    """Where the events sit, as positions: ROP span ``[t0, t1]`` and cell, one per event."""

    kind: np.ndarray  # (E,) index into KINDS
    cell: np.ndarray
    t0: np.ndarray
    t1: np.ndarray

    def rows(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(event, ROP, cell) of every (cell, ROP) an event covers, all events at once."""
        length = self.t1 - self.t0 + 1
        event = np.repeat(np.arange(len(length)), length)
        offset = np.arange(int(length.sum())) - np.repeat(np.cumsum(length) - length, length)
        return event, self.t0[event] + offset, self.cell[event]


def place(spec: AnomalySpec, n_rops: int, n_cells: int, step: pd.Timedelta, seed: int) -> Placement:
    """Spread ``spec.count`` events over cells and time, never two at once on a cell."""
    rng = stream(seed, ANOMALY_STREAM)
    n = spec.count
    first = int(np.ceil(pd.Timedelta(spec.not_before) / step))
    kinds = np.array([KINDS.index(k) for k in spec.kinds])[np.arange(n) % len(spec.kinds)]
    kinds = rng.permutation(kinds)
    bounds = np.array([spec.durations.get(KINDS[k], DURATIONS[KINDS[k]]) for k in kinds])
    bounds = bounds.reshape(n, 2)
    length = rng.integers(bounds[:, 0], bounds[:, 1] + 1) if n else np.zeros(0, np.int64)
    cell = rng.choice(n_cells, size=n, replace=n > n_cells)
    # a cell with m events gets m equal slots of the span, one event in each
    rank = pd.Series(cell).groupby(cell).cumcount().to_numpy()
    per_cell = np.bincount(cell, minlength=n_cells)[cell]
    slot = (n_rops - first) // np.maximum(per_cell, 1)
    short = slot < length
    if short.any():
        raise ValueError(
            f"cannot fit {n} anomalies (up to {per_cell.max()} on one cell, up to "
            f"{length.max()} ROPs long) into {n_rops - first} ROPs; simulate more days or cells"
        )
    t0 = first + rank * slot + rng.integers(0, slot - length + 1)
    order = np.lexsort((cell, t0))
    return Placement(kinds[order], cell[order], t0[order], (t0 + length - 1)[order])


def effects(
    placement: Placement, offered: np.ndarray, plan: CellPlan, seed: int
) -> dict[str, np.ndarray]:
    """Dense multipliers of the radio quantities each event touches (``traffic.radio``)."""
    rng = stream(seed, ANOMALY_STREAM + 100)  # apart from placement: magnitudes change alone
    event, t, c = placement.rows()
    kind = placement.kind
    out: dict[str, np.ndarray] = {}
    for quantity in ("demand", "ul_load", "thp_dl", "thp_ul"):
        bounds = np.array([_EFFECTS[name].get(quantity, (1.0, 1.0)) for name in KINDS])
        low, high = bounds[kind, 0], bounds[kind, 1]
        factor = rng.uniform(low, high)  # one draw per event and quantity, touched or not
        if ((low == 1.0) & (high == 1.0)).all():
            continue
        row_factor = factor[event]
        if quantity == "demand":
            surge = kind[event] == KINDS.index("congestion_surge")
            floor = _SURGE_FLOOR * plan.capacity[c] / np.maximum(offered[t, c], 1e-9)
            row_factor = np.where(surge, np.maximum(row_factor, floor), row_factor)
        matrix = np.ones(offered.shape, np.float32)
        matrix[t, c] = row_factor
        out[quantity] = matrix
    return out


def events_frame(placement: Placement, times: pd.DatetimeIndex, topology: Topology) -> pd.DataFrame:
    """The events frame of the contract; ``alarm_id`` as the rApp's VES codec will name it."""
    dns = topology.cell_dns[placement.cell]
    gnbs = topology.gnbs[topology.cell_gnb[placement.cell]]
    kinds = np.array(KINDS, dtype=object)[placement.kind]
    alarm_ids = [
        f"{g}/{ALARMS[k].condition}/{dn}" if k in ALARMS else ""
        for g, k, dn in zip(gnbs, kinds, dns, strict=True)
    ]
    return pd.DataFrame(
        {
            "event_id": np.arange(1, len(kinds) + 1, dtype=np.int64),
            "cell": pd.Series(dns, dtype=object),
            "kind": pd.Series(kinds, dtype=object),
            "start": times[placement.t0],
            "end": times[placement.t1],
            "alarm_id": pd.Series(alarm_ids, dtype=object),
        }
    )


def alarms(events: pd.DataFrame, step: pd.Timedelta, seed: int) -> list[Alarm]:
    """Raise (early in the first ROP of the event) and clear (late in its last) per alarmed
    event, in time order: what the gNBs send on the VES fault interface."""
    rng = stream(seed, ANOMALY_STREAM + 200)
    alarmed = events[events["alarm_id"] != ""]
    third = int(step.total_seconds() // 3)
    raise_s = rng.integers(0, third + 1, len(alarmed))
    clear_s = rng.integers(0, third + 1, len(alarmed))
    out: list[Alarm] = []
    for row, up, down in zip(alarmed.itertuples(index=False), raise_s, clear_s, strict=True):
        spec = ALARMS[row.kind]
        gnb = row.alarm_id.split("/", 1)[0]
        for when, severity in (
            (row.start - step + pd.Timedelta(seconds=int(up)), spec.severity),
            (row.end - pd.Timedelta(seconds=int(down)), Severity.CLEARED),
        ):
            out.append(
                Alarm(
                    alarm_id=row.alarm_id,
                    source=gnb,
                    object_dn=row.cell,
                    condition=spec.condition,
                    severity=severity,
                    event_time=when.to_pydatetime(),
                    text=spec.specific_problem,
                    event_type=spec.event_type,
                )
            )
    out.sort(key=lambda a: (a.event_time, a.alarm_id))
    return out


@dataclass(frozen=True, eq=False)
class Artefacts:
    """Masks over (ROPs, cells): rows lost, rows flagged suspect, rows read as reset."""

    missing: np.ndarray
    suspect: np.ndarray
    reset: np.ndarray
    reset_scale: np.ndarray
    """Per (ROP, cell) factor of a reset row's counters: 0 (zeros) or a sharp drop."""

    def frame(self, times: pd.DatetimeIndex, cell_dns: np.ndarray) -> pd.DataFrame:
        """The artefacts frame of the contract, sorted by cell, period end."""
        parts = []
        for name, mask in zip(ARTEFACTS, (self.missing, self.suspect, self.reset), strict=True):
            c, t = np.nonzero(mask.T)  # cell-major, like the KPI frame
            parts.append((c, t, np.full(len(c), name, dtype=object)))
        cells = np.concatenate([p[0] for p in parts])
        rops = np.concatenate([p[1] for p in parts])
        order = np.lexsort((rops, cells))
        return pd.DataFrame(
            {
                "cell": pd.Series(cell_dns[cells[order]], dtype=object),
                "period_end": times[rops[order]],
                "artefact": pd.Series(np.concatenate([p[2] for p in parts])[order], dtype=object),
            }
        )


def artefacts(
    spec: ArtefactSpec, shape: tuple[int, int], placement: Placement, seed: int
) -> Artefacts:
    """Artefacts at the spec's rates, off every event and the ROP either side of it."""
    rng = stream(seed, ARTEFACT_STREAM)
    n_t, _ = shape
    busy = np.zeros(shape, dtype=bool)
    _, t, c = placement.rows()
    for shift in (-1, 0, 1):
        busy[np.clip(t + shift, 0, n_t - 1), c] = True
    # missing rows come in runs of 1-4 ROPs (a node unreachable for a while), 2.5 on average
    start = rng.random(shape) < spec.missing_rop / 2.5
    run = rng.integers(1, 5, shape)
    missing = start.copy()
    for k in range(1, 4):
        missing[k:] |= start[:-k] & (run[:-k] > k)
    missing &= ~busy
    suspect = (rng.random(shape) < spec.suspect) & ~busy & ~missing
    reset = (rng.random(shape) < spec.counter_reset) & ~busy & ~missing & ~suspect
    # A reset is one ROP: two in a row would be a 30-minute drop, which no one can tell from
    # a short outage, so the second of a pair is not placed.
    reset[1:] &= ~reset[:-1]
    scale = np.where(rng.random(shape) < 0.5, 0.0, rng.uniform(0.05, 0.4, shape))
    return Artefacts(missing, suspect, reset, np.where(reset, scale, 1.0))
