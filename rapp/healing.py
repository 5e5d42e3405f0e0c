"""Incidents that scaling cannot fix -> heal decisions, one per network function per ROP.

A sleeping cell or a hardware or fronthaul fault needs its cell reset and its UEs carried by the
neighbours meanwhile; that is the Near-RT RIC's job, asked for over A1. The healer only decides
when to ask: an incident must have lasted ``min_rops`` flagged ROPs (one odd ROP is not worth a
reset), each incident is healed once (if healing did not clear it, asking again every ROP would
only reset the cell in a loop: that is for an operator, who sees it open in the API), an NF gets
at most one heal decision per ``cooldown_rops`` and at most ``max_cells`` cells in it, the
highest scores first (cells that wait go in the next one). A heal the policy set denies is asked
again after the cool-down. A heal stays in force (its A1 policy) until none of the cells it
named has an incident open any more; ``cleared`` then names the NF, so the loop withdraws it.
Like the planner, it keeps only those clocks as state.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd

from rapp.domain import Action, Decision
from rapp.ml.incidents import Incident
from rapp.planner import Topology

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class _Healed:
    """An incident a heal was decided for: since when it was open, and when last seen open."""

    start: pd.Timestamp
    seen: pd.Timestamp


class Healer:
    """Decides which cells to heal from the incidents open at a ROP."""

    def __init__(
        self,
        topology: Topology,
        *,
        min_rops: int = 2,
        cooldown_rops: int = 8,
        max_cells: int = 2,
        forget_after_rops: int = 12,
    ) -> None:
        if min_rops < 1 or cooldown_rops < 0 or max_cells < 1 or forget_after_rops < 1:
            raise ValueError(
                f"min_rops ({min_rops}), max_cells ({max_cells}) and forget_after_rops"
                f" ({forget_after_rops}) must be at least 1, cooldown_rops ({cooldown_rops})"
                " at least 0"
            )
        self.topology = topology
        self.min_rops = min_rops
        self.cooldown_rops = cooldown_rops
        self.max_cells = max_cells
        self.forget_after_rops = forget_after_rops
        """How long a healed cell's incident is remembered after it was last seen open: longer
        than the anomaly watch's window, so a restart does not heal the same outage again."""
        self._last_heal: dict[str, pd.Timestamp] = {}
        self._healed: dict[str, _Healed] = {}
        self._in_force: dict[str, frozenset[str]] = {}
        """NF -> the cells its heal in force names (the latest allowed one replaced any before)."""
        self._unmatched: set[str] = set()

    def recall(self, decisions: Iterable[Decision]) -> None:
        """Take back earlier heal decisions (after a restart, from the journal): their targets'
        cool-down and the incidents they healed."""
        for d in decisions:
            if d.action is not Action.HEAL:
                continue
            rop = pd.Timestamp(d.rop)
            self._last_heal[d.target] = max(rop, self._last_heal.get(d.target, rop))
            for incident in d.evidence.get("incidents", ()):
                self._healed[incident["cell"]] = _Healed(pd.Timestamp(incident["start"]), rop)
            # Maybe withdrawn already, or never allowed: withdrawing again changes nothing.
            self._in_force[d.target] = frozenset(d.cells)

    def in_force(self, decision: Decision) -> None:
        """An enacted heal: it replaces the NF's earlier one until its incidents close."""
        self._in_force[decision.target] = frozenset(decision.cells)

    def cleared(self, rop: pd.Timestamp) -> list[str]:
        """The NFs whose heal in force names no cell with an incident still open at ``rop``
        (call after ``plan`` for that ROP): their heal is to be withdrawn (``withdrawn``)."""
        rop = pd.Timestamp(rop)
        return sorted(
            target
            for target, cells in self._in_force.items()
            if not any(c in self._healed and self._healed[c].seen >= rop for c in cells)
        )

    @property
    def in_force_targets(self) -> frozenset[str]:
        """The NFs with a heal in force (its A1 policy should exist)."""
        return frozenset(self._in_force)

    def withdrawn(self, target: str) -> None:
        """``target``'s heal is on its way out: no longer in force."""
        self._in_force.pop(target, None)

    def forget(self, decision: Decision) -> None:
        """A heal that did not go out (the policy set denied it, or its enactment failed): its
        cells are asked for again once the target's cool-down is over."""
        for cell in decision.cells:
            self._healed.pop(cell, None)

    def plan(
        self,
        incidents: Sequence[Incident],
        rop: pd.Timestamp,
        step: pd.Timedelta,
        *,
        model: str = "",
        record: bool = True,
    ) -> list[Decision]:
        """Heal decisions for the ROP ending at ``rop``, in target order. Call it every ROP,
        incidents or not: that is how healed incidents that closed are forgotten. With
        ``record=False`` (a shadow detector's incidents) nothing is remembered or logged."""
        rop = pd.Timestamp(rop)
        healed = self._seen(incidents, rop, step) if record else self._healed
        due = [
            i
            for i in incidents
            if i.needs_healing
            and i.end == rop
            and (i.end - i.start) >= (self.min_rops - 1) * step
            and not _same(healed.get(i.cell), i, step)
        ]
        if not due:
            return []
        by_target: dict[str, list[Incident]] = {}
        targets = self.topology.targets(pd.Index([i.cell for i in due]))
        for incident, target in zip(due, targets, strict=True):
            if isinstance(target, str):
                by_target.setdefault(target, []).append(incident)
            elif record and incident.cell not in self._unmatched:
                self._unmatched.add(incident.cell)
                log.warning("cell %s needs healing but maps to no NF; not healed", incident.cell)
        decisions = []
        for target in sorted(by_target):
            last = self._last_heal.get(target)
            if last is not None and rop - last < self.cooldown_rops * step:
                continue
            worst = sorted(by_target[target], key=lambda i: (-i.score, i.cell))[: self.max_cells]
            cases = sorted(worst, key=lambda i: i.cell)
            if record:
                self._last_heal[target] = rop
                self._healed.update({i.cell: _Healed(i.start, rop) for i in cases})
            decisions.append(_decision(target, cases, rop, model))
        return decisions

    def _seen(
        self, incidents: Sequence[Incident], rop: pd.Timestamp, step: pd.Timedelta
    ) -> dict[str, _Healed]:
        """Note which healed incidents are still open; forget those closed long enough."""
        for incident in incidents:
            known = self._healed.get(incident.cell)
            if _same(known, incident, step):
                self._healed[incident.cell] = _Healed(known.start, rop)  # type: ignore[union-attr]
        horizon = self.forget_after_rops * step
        self._healed = {c: h for c, h in self._healed.items() if rop - h.seen <= horizon}
        return self._healed


def _same(healed: _Healed | None, incident: Incident, step: pd.Timedelta) -> bool:
    """Whether ``incident`` is the one healed: open when it was last seen (a later start is
    the same outage seen through a fresh window, e.g. after a restart)."""
    return healed is not None and incident.start <= healed.seen + step


def _decision(target: str, cases: list[Incident], rop: pd.Timestamp, model: str) -> Decision:
    # Fixed keys, like the planner's: policies and the enactor read them by name.
    evidence = {
        "incidents": [i.to_dict() for i in cases],
        "kinds": sorted({i.kind.value for i in cases}),
        "score_max": round(max(i.score for i in cases), 2),
        "model": model or "unnamed",
    }
    return Decision.new(
        Action.HEAL,
        target,
        [i.cell for i in cases],
        rop.to_pydatetime(),
        capacity_from="",
        capacity_to="",
        evidence=evidence,
    )
