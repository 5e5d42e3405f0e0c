"""Gradual rollout: a ROP's many changes go to a canary subset first, the rest only if it did well.

When one ROP allows many scaling decisions at once (a busy hour starting everywhere), a mistake
in a model or a policy would hit the whole network together. So, with ``rollout.enabled``, a
wave of at least ``min_wave`` scaling decisions is split: a ``canary_fraction`` of them (picked
by decision id, so a replayed ROP picks the same) is enacted at once and the rest is held. After
``canary_rops`` ROPs the canary's cells are compared with the held decisions' cells, which are
the natural control: same ROP, same trend, not yet changed. If a KPI moved the wrong way for the
canary by more than ``tolerance`` relative to the control, the canary is rolled back and the
held decisions dropped; otherwise the held ones are released. Heals are never held: they repair.

Waves live in memory: after a restart, held decisions are dropped (the planner decides again
from the packages as they are), never released unjudged.
"""

from __future__ import annotations

import hashlib
import logging
import warnings
from dataclasses import dataclass, replace
from typing import Literal

import numpy as np
import pandas as pd

from rapp.domain import Action, Decision
from rapp.state import CellState

log = logging.getLogger(__name__)

Better = Literal["higher", "lower"]


@dataclass(frozen=True, slots=True)
class Wave:
    """One ROP's scaling decisions: the canary enacted at ``rop``, the rest held."""

    rop: pd.Timestamp
    canary: tuple[Decision, ...]
    held: tuple[Decision, ...]


@dataclass(frozen=True, slots=True)
class Judgement:
    """Whether the canary did worse than the control; ``worse`` None: it could not be told."""

    worse: bool | None
    reason: str


class Rollout:
    """Splits waves into canary and held decisions, and judges the canary when it is due."""

    def __init__(
        self,
        *,
        min_wave: int = 4,
        canary_fraction: float = 0.25,
        canary_rops: int = 4,
        kpis: dict[str, Better] | None = None,
        tolerance: float = 0.1,
    ) -> None:
        if not 0 < canary_fraction < 1 or min_wave < 2 or canary_rops < 1 or tolerance < 0:
            raise ValueError(
                "need 0 < canary_fraction < 1, min_wave >= 2, canary_rops >= 1, tolerance >= 0"
            )
        self.min_wave = min_wave
        self.canary_fraction = canary_fraction
        self.canary_rops = canary_rops
        self.kpis: dict[str, Better] = dict(kpis or {"thp_dl": "higher"})
        self.tolerance = tolerance
        self.waves: list[Wave] = []
        """Waves whose canary is out and not yet judged, oldest first."""

    def split(self, decisions: list[Decision], rop: pd.Timestamp) -> list[Decision]:
        """The decisions to enact now: all of them, or the canary of a wave (the rest held)."""
        scaling = [d for d in decisions if d.action.scales]
        if len(scaling) < self.min_wave:
            return decisions
        ranked = sorted(scaling, key=lambda d: hashlib.sha256(d.id.encode()).digest())
        n = max(1, int(len(ranked) * self.canary_fraction))
        canary, held = ranked[:n], ranked[n:]
        self.waves.append(Wave(rop, tuple(canary), tuple(held)))
        log.info("rollout at %s: %d canary, %d held", rop.isoformat(), len(canary), len(held))
        return [d for d in decisions if not d.action.scales] + canary

    def due(self, rop: pd.Timestamp, granularity: pd.Timedelta) -> list[Wave]:
        """Waves whose canary has run ``canary_rops`` ROPs by ``rop``; removed from the held."""
        ready = [w for w in self.waves if rop - w.rop >= granularity * self.canary_rops]
        self.waves = [w for w in self.waves if w not in ready]
        return ready

    def judge(self, wave: Wave, state: CellState, rop: pd.Timestamp) -> Judgement:
        """Compare each KPI's change (``canary_rops`` after the wave over as many before) on
        the canary's cells with the same on the held decisions' cells."""
        canary = _rows(state, wave.canary)
        control = _rows(state, wave.held)
        if not len(canary) or not len(control):
            return Judgement(None, "no KPI history for the canary's or the control's cells")
        verdicts = []
        for kpi, better in self.kpis.items():
            try:
                before = state.window(kpi, wave.rop, self.canary_rops)
                after = state.window(kpi, rop, self.canary_rops)
            except (KeyError, ValueError) as exc:
                return Judgement(None, f"{kpi}: not in the state's history ({exc})")
            c, k = _change(before, after, canary), _change(before, after, control)
            if not (np.isfinite(c) and np.isfinite(k)):
                return Judgement(None, f"{kpi}: too few values before and after the canary")
            if better == "higher":
                worse = c < k * (1 - self.tolerance)
            else:
                worse = c > k * (1 + self.tolerance)
            verdicts.append((worse, f"{kpi} x{c:.3f} on the canary, x{k:.3f} on the control"))
        reason = "; ".join(text for _, text in verdicts)
        return Judgement(any(w for w, _ in verdicts), reason)


def rollback_of(decision: Decision, rop: pd.Timestamp, reason: str) -> Decision:
    """The decision that undoes an enacted canary ``decision`` at ``rop``: the opposite step.
    Its id is the original's with an ``r`` prefix: never the planner's id for that ROP."""
    undo = Decision.new(
        Action.SCALE_IN if decision.action is Action.SCALE_OUT else Action.SCALE_OUT,
        decision.target,
        decision.cells,
        rop.to_pydatetime(),
        decision.capacity_to,
        decision.capacity_from,
        {"rollback_of": decision.id, "reason": reason},
    )
    return replace(undo, id="r" + decision.id[1:])


def _rows(state: CellState, decisions: tuple[Decision, ...]) -> np.ndarray:
    cells = pd.Index(sorted({str(c) for d in decisions for c in d.cells}))
    rows = state.cells.get_indexer(cells)
    return rows[rows >= 0]


def _change(before: np.ndarray, after: np.ndarray, rows: np.ndarray) -> float:
    """Mean after over mean before, across the cells of ``rows``: NaN when either is empty or
    the base is zero."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # the mean of nothing is NaN: an answer
        b, a = np.nanmean(before[rows]), np.nanmean(after[rows])
    return float(a / b) if b else float("nan")
