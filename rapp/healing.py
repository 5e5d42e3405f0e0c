"""Incidents that scaling cannot fix -> heal decisions, one per network function per ROP.

A sleeping cell or a hardware or fronthaul fault needs its cell reset and its UEs carried by the
neighbours meanwhile; that is the Near-RT RIC's job, asked for over A1. The healer only decides
when to ask: an incident must have lasted ``min_rops`` flagged ROPs (one odd ROP is not worth a
reset), each incident is healed once (if healing did not clear it, asking again every ROP would
only reset the cell in a loop: that is for an operator, who sees it open in the API), and an NF
gets at most one heal decision per ``cooldown_rops`` (cells that open meanwhile wait and go in
the next one). Like the planner, it keeps only those clocks as state.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence

import pandas as pd

from rapp.domain import Action, Decision
from rapp.ml.incidents import Incident
from rapp.planner import Topology

log = logging.getLogger(__name__)


class Healer:
    """Decides which cells to heal from the incidents open at a ROP."""

    def __init__(self, topology: Topology, *, min_rops: int = 2, cooldown_rops: int = 8) -> None:
        if min_rops < 1 or cooldown_rops < 0:
            raise ValueError(
                f"min_rops ({min_rops}) must be at least 1, cooldown_rops ({cooldown_rops})"
                " at least 0"
            )
        self.topology = topology
        self.min_rops = min_rops
        self.cooldown_rops = cooldown_rops
        self._last_heal: dict[str, pd.Timestamp] = {}
        self._healed: set[tuple[str, pd.Timestamp]] = set()
        self._unmatched: set[str] = set()

    def recall(self, decisions: Iterable[Decision]) -> None:
        """Take back earlier heal decisions (after a restart, from the journal): their targets'
        cool-down and the incidents they already healed."""
        for d in decisions:
            if d.action is not Action.HEAL:
                continue
            rop = pd.Timestamp(d.rop)
            self._last_heal[d.target] = max(rop, self._last_heal.get(d.target, rop))
            for incident in d.evidence.get("incidents", ()):
                self._healed.add((incident["cell"], pd.Timestamp(incident["start"])))

    def plan(
        self,
        incidents: Sequence[Incident],
        rop: pd.Timestamp,
        step: pd.Timedelta,
        *,
        model: str = "",
    ) -> list[Decision]:
        """Heal decisions for the ROP ending at ``rop``, in target order."""
        rop = pd.Timestamp(rop)
        due = [
            i
            for i in incidents
            if i.needs_healing
            and i.end == rop
            and (i.end - i.start) >= (self.min_rops - 1) * step
            and (i.cell, i.start) not in self._healed
        ]
        if not due:
            return []
        targets = self.topology.targets(pd.Index([i.cell for i in due]))
        by_target: dict[str, list[Incident]] = {}
        for incident, target in zip(due, targets, strict=True):
            if isinstance(target, str):
                by_target.setdefault(target, []).append(incident)
            elif incident.cell not in self._unmatched:
                self._unmatched.add(incident.cell)
                log.warning("cell %s needs healing but maps to no NF; not healed", incident.cell)
        decisions = []
        for target in sorted(by_target):
            last = self._last_heal.get(target)
            if last is not None and rop - last < self.cooldown_rops * step:
                continue
            cases = sorted(by_target[target], key=lambda i: i.cell)
            self._last_heal[target] = rop
            self._healed.update((i.cell, i.start) for i in cases)
            decisions.append(_decision(target, cases, rop, model))
        return decisions


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
