"""The nouns every stage shares.

Data flows one way: ``PmBatch`` (telemetry) -> KPI frame -> ``Forecast`` (ml) -> ``Decision``
(planner) -> ``Verdict`` (policy) -> ``Outcome`` (enact). Telemetry and forecasts are columnar
(pandas/numpy) because they cover every cell of a ROP; decisions onward are small typed records
because only a handful exist per ROP. Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, NewType

import numpy as np
import pandas as pd

CellId = NewType("CellId", str)
"""Full 3GPP DN of a cell: the reporting entity DN, a comma, then ``measObjInstId``."""

PRB_UTIL_DL = "prb_util_dl"
"""KPI name: downlink PRB utilisation in percent (TS 28.552 RRU.PrbUsedDl / RRU.PrbAvailDl)."""

PRB_UTIL_UL = "prb_util_ul"
"""KPI name: uplink PRB utilisation in percent."""

PM_COLUMNS: tuple[str, ...] = ("cell", "period_end", "granularity_s", "counter", "value", "suspect")


@dataclass(frozen=True, slots=True)
class PmBatch:
    """Raw PM counters, long form: one row per (cell, period end, counter).

    Columns (see ``PM_COLUMNS``): ``cell`` (str CellId), ``period_end`` (datetime64[ns, UTC], end
    of the granularity period), ``granularity_s`` (int32), ``counter`` (str, the name as sent),
    ``value`` (float64, NaN when absent), ``suspect`` (bool, the 3GPP suspect flag).
    """

    frame: pd.DataFrame

    @classmethod
    def empty(cls) -> PmBatch:
        return cls(
            pd.DataFrame(
                {
                    "cell": pd.Series([], dtype=object),
                    "period_end": pd.Series([], dtype="datetime64[ns, UTC]"),
                    "granularity_s": pd.Series([], dtype="int32"),
                    "counter": pd.Series([], dtype=object),
                    "value": pd.Series([], dtype="float64"),
                    "suspect": pd.Series([], dtype=bool),
                }
            )
        )

    @classmethod
    def concat(cls, batches: Iterable[PmBatch]) -> PmBatch:
        frames = [b.frame for b in batches if len(b.frame)]
        if not frames:
            return cls.empty()
        return cls(pd.concat(frames, ignore_index=True))

    def __len__(self) -> int:
        return len(self.frame)

    @property
    def cells(self) -> np.ndarray:
        return self.frame["cell"].unique()


class Severity(StrEnum):
    """X.733 / TS 28.532 perceived severity; VES ``NORMAL`` and 3GPP ``CLEARED`` both clear."""

    CRITICAL = "CRITICAL"
    MAJOR = "MAJOR"
    MINOR = "MINOR"
    WARNING = "WARNING"
    INDETERMINATE = "INDETERMINATE"
    CLEARED = "CLEARED"


@dataclass(frozen=True, slots=True)
class Alarm:
    """One FM alarm state change (raised, changed or cleared) for a managed object.

    ``alarm_id`` identifies the alarm across its raise, changes and clear: the 3GPP ``alarmId``
    when the notification has one, otherwise ``source`` + ``condition`` (+ the alarmed
    interface), which is how a VES clear names the alarm it clears.
    """

    alarm_id: str
    source: str
    """The NF or element that raised it (VES ``sourceName``, 3GPP ``href``/``systemDN``)."""
    object_dn: str
    """The alarmed object (3GPP ``objectInstance``; VES ``alarmInterfaceA`` or ``sourceName``)."""
    condition: str
    """VES ``alarmCondition`` or 3GPP ``probableCause``."""
    severity: Severity
    event_time: datetime
    text: str = ""
    """VES ``specificProblem`` or 3GPP ``specificProblem``/``additionalText``."""
    event_type: str = ""
    """VES ``eventType`` / 3GPP ``alarmType``, e.g. ``O-RAN-RU-Fault``, ``COMMUNICATIONS_ALARM``."""

    @property
    def cleared(self) -> bool:
        return self.severity is Severity.CLEARED

    def to_dict(self) -> dict[str, Any]:
        return {
            "alarm_id": self.alarm_id,
            "source": self.source,
            "object_dn": self.object_dn,
            "condition": self.condition,
            "severity": self.severity.value,
            "cleared": self.cleared,
            "event_time": self.event_time.isoformat(),
            "text": self.text,
            "event_type": self.event_type,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Alarm:
        return cls(
            alarm_id=data["alarm_id"],
            source=data["source"],
            object_dn=data["object_dn"],
            condition=data["condition"],
            severity=Severity(data["severity"]),
            event_time=datetime.fromisoformat(data["event_time"]),
            text=data.get("text", ""),
            event_type=data.get("event_type", ""),
        )


@dataclass(frozen=True, slots=True)
class FileReady:
    """A notification that a PM (or other) file is ready to be fetched and decoded."""

    url: str
    """``https://...``, ``sftp://...`` or a local path / ``file://`` URL."""
    source: str
    notified_at: datetime
    file_format: str = ""
    """As notified, e.g. ``XML``/``ASN.1``/``JSON`` or a 3GPP ``fileDataType``; often empty."""
    compression: str = ""
    """As notified, e.g. ``gzip``; the decoder also sniffs the bytes."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "url": self.url,
            "source": self.source,
            "notified_at": self.notified_at.isoformat(),
            "file_format": self.file_format,
            "compression": self.compression,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> FileReady:
        """Back from ``to_dict`` (the journal keeps notifications that way until fetched)."""
        return cls(
            url=data["url"],
            source=data["source"],
            notified_at=datetime.fromisoformat(data["notified_at"]),
            file_format=data.get("file_format", ""),
            compression=data.get("compression", ""),
        )


@dataclass(frozen=True, slots=True)
class Forecast:
    """Quantile forecasts of one KPI for many cells, issued at the end of one ROP.

    ``values[q, c, h]`` is quantile ``quantiles[q]`` for cell ``cells[c]`` at ``issued_at +
    (h + 1) * step``.
    """

    kpi: str
    issued_at: pd.Timestamp
    step: pd.Timedelta
    cells: pd.Index
    quantiles: tuple[float, ...]
    values: np.ndarray
    model: str = ""
    """Which model made it (e.g. ``forecaster v3``), for the decision's evidence."""

    def __post_init__(self) -> None:
        expected = (len(self.quantiles), len(self.cells))
        if self.values.ndim != 3 or self.values.shape[:2] != expected:
            raise ValueError(
                f"forecast values of shape {self.values.shape} do not match {expected}"
            )

    @property
    def horizon(self) -> int:
        return int(self.values.shape[2])

    def quantile(self, q: float) -> np.ndarray:
        """The (cells, horizon) matrix of quantile ``q``."""
        try:
            return self.values[self.quantiles.index(q)]
        except ValueError:
            raise KeyError(f"quantile {q} not forecast; have {self.quantiles}") from None


class Action(StrEnum):
    SCALE_OUT = "scale_out"
    SCALE_IN = "scale_in"
    HEAL = "heal"
    """Cells of the target need healing (sleeping cell, hardware or fronthaul fault); the
    capacity stays as it is."""

    @property
    def scales(self) -> bool:
        """Whether the action changes the target's capacity."""
        return self is not Action.HEAL


def decision_id(target: str, action: Action, rop: datetime) -> str:
    """Stable id of the decision to apply ``action`` to ``target`` at the end of ``rop``.

    The same facts always give the same id, so a replayed ROP or a retried enactment can never
    create a second A1 policy or package revision. Lowercase hex: valid in DNS-1123 names.
    """
    key = f"{target}|{action.value}|{_utc(rop).isoformat()}"
    return "d" + hashlib.sha256(key.encode()).hexdigest()[:15]


@dataclass(frozen=True, slots=True)
class Decision:
    """A planned change to one network function, with its evidence: its capacity one ladder
    step up or down, or healing some of its cells (then both capacities are empty)."""

    id: str
    action: Action
    target: str
    """The NF package (its path in the Nephio deployment repository)."""
    cells: tuple[CellId, ...]
    """The cells whose forecasts drove the decision, or the cells to heal."""
    rop: datetime
    capacity_from: str
    """Kubernetes quantity before the change, e.g. ``5G``."""
    capacity_to: str
    evidence: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    @classmethod
    def new(
        cls,
        action: Action,
        target: str,
        cells: Iterable[str],
        rop: datetime,
        capacity_from: str,
        capacity_to: str,
        evidence: Mapping[str, Any] | None = None,
    ) -> Decision:
        return cls(
            id=decision_id(target, action, rop),
            action=action,
            target=target,
            cells=tuple(CellId(c) for c in cells),
            rop=_utc(rop),
            capacity_from=capacity_from,
            capacity_to=capacity_to,
            evidence=dict(evidence or {}),
        )

    @property
    def change(self) -> str:
        """What it changes, for a log line: ``5G->10G``, or ``2 cells (sleeping_cell)``."""
        if self.action.scales:
            return f"{self.capacity_from}->{self.capacity_to}"
        return f"{len(self.cells)} cells ({', '.join(self.evidence.get('kinds', []))})"

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form: the policy input, the journal row and the API body all use it."""
        return {
            "id": self.id,
            "action": self.action.value,
            "target": self.target,
            "cells": list(self.cells),
            "rop": self.rop.isoformat(),
            "capacity_from": self.capacity_from,
            "capacity_to": self.capacity_to,
            "evidence": dict(self.evidence),
            "created_at": self.created_at.isoformat(),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Decision:
        return cls(
            id=data["id"],
            action=Action(data["action"]),
            target=data["target"],
            cells=tuple(CellId(c) for c in data["cells"]),
            rop=datetime.fromisoformat(data["rop"]),
            capacity_from=data["capacity_from"],
            capacity_to=data["capacity_to"],
            evidence=dict(data.get("evidence", {})),
            created_at=datetime.fromisoformat(data["created_at"]),
        )


@dataclass(frozen=True, slots=True)
class Verdict:
    """What the policy set said about one decision."""

    decision_id: str
    allow: bool
    reasons: tuple[str, ...]
    policy_revision: str
    obligations: tuple[Mapping[str, Any], ...] = ()
    """What an allowed decision must become before it is enacted, e.g. ``{"set":
    {"capacity_to": "20G"}}`` (clamped to the class's maximum); see ``apply_obligations``."""

    def to_dict(self) -> dict[str, Any]:
        out = {
            "decision_id": self.decision_id,
            "allow": self.allow,
            "reasons": list(self.reasons),
            "policy_revision": self.policy_revision,
        }
        if self.obligations:
            out["obligations"] = [dict(o) for o in self.obligations]
        return out


class OutcomeState(StrEnum):
    PENDING = "pending"
    """Allowed and handed to the enactor; not finished yet."""
    ENACTED = "enacted"
    """A1 policy in place and package revision published."""
    COMPENSATED = "compensated"
    """A later step failed; the earlier ones were undone."""
    FAILED = "failed"
    """Failed and could not be fully undone: needs an operator."""
    DENIED = "denied"
    """Never enacted: the policy set said no."""
    HELD = "held"
    """Allowed, and held back while a canary of its ROP shows how such changes do."""
    DRY_RUN = "dry-run"
    """Rehearsed against the live peers (reads and checks only); nothing was changed."""
    SHADOW = "shadow"
    """Judged and journalled only (``enact.mode: shadow``); no peer was touched."""


@dataclass(frozen=True, slots=True)
class Outcome:
    """Where the enactment of one decision stands."""

    decision_id: str
    state: OutcomeState
    a1_policy_id: str | None = None
    package_revision: str | None = None
    """The published revision's git tag, e.g. ``free5gc-upf-site-03/v4``."""
    detail: str = ""
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_dict(self) -> dict[str, Any]:
        return {
            "decision_id": self.decision_id,
            "state": self.state.value,
            "a1_policy_id": self.a1_policy_id,
            "package_revision": self.package_revision,
            "detail": self.detail,
            "at": self.at.isoformat(),
        }


def _utc(ts: datetime) -> datetime:
    if ts.tzinfo is None:
        return ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC)
