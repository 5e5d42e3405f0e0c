"""Forecasts -> capacity decisions per network function, with hysteresis and a cool-down.

Cells roll up to the NF package that serves them (``Topology``). Each NF is a Schmitt trigger: it
scales out one ladder step when the forecast quantile of any of its cells goes above ``high``
within the horizon, and may not scale out again until it has come back below ``low`` and scaled
in; likewise the other way. So an NF moves between a busy-hour and a quiet-hour capacity instead
of ratcheting up the ladder while the load stays high, and between the thresholds nothing happens.
A proposal counts whether or not the policy allows it: a denied change is asked again when the
forecast next crosses the threshold, not every ROP. ``cooldown_rops`` spaces any two proposals.
"""

from __future__ import annotations

import itertools
import logging
import re
import string
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime

import numpy as np
import pandas as pd

from rapp.domain import Action, Decision, Forecast
from rapp.quantity import parse_quantity

log = logging.getLogger(__name__)


class Topology:
    """Maps cell DNs to the NF package serving them, by a regex over the DN and a name template."""

    def __init__(self, pattern: str, template: str) -> None:
        self.pattern = re.compile(pattern)
        if not self.pattern.groupindex:
            raise ValueError(f"topology pattern {pattern!r} has no named group for the template")
        fields = {f for _, f, _, _ in string.Formatter().parse(template) if f}
        if missing := fields - set(self.pattern.groupindex):
            raise ValueError(f"template fields {sorted(missing)} are not groups of {pattern!r}")
        self.template = template
        self._cache: tuple[pd.Index, pd.Series] | None = None

    def targets(self, cells: pd.Index) -> pd.Series:
        """The target of each cell (NaN where the DN does not match), aligned with ``cells``."""
        if self._cache is not None and self._cache[0].equals(cells):
            return self._cache[1]
        parts = pd.Series(cells, dtype=object).str.extract(self.pattern)
        targets = pd.Series("", index=parts.index, dtype=object)
        for literal, field, _, _ in string.Formatter().parse(self.template):
            targets = targets + literal
            if field:
                targets = targets + parts[field]
        self._cache = (cells, targets)
        return targets


class Planner:
    """Decides capacity changes from a forecast; keeps only the cool-down clock as state."""

    def __init__(
        self,
        topology: Topology,
        *,
        ladder: Sequence[str],
        default_capacity: str,
        high: float = 80.0,
        low: float = 30.0,
        quantile: float = 0.9,
        cooldown_rops: int = 4,
    ) -> None:
        if default_capacity not in ladder:
            raise ValueError(f"default capacity {default_capacity} is not on the ladder {ladder}")
        self._steps = [parse_quantity(q) for q in ladder]
        if any(a >= b for a, b in itertools.pairwise(self._steps)):
            raise ValueError(f"capacity ladder {list(ladder)} must rise strictly")
        self.topology = topology
        self.ladder = list(ladder)
        self.default_capacity = default_capacity
        self.high = high
        self.low = low
        self.quantile = quantile
        self.cooldown_rops = cooldown_rops
        self._last_proposal: dict[str, pd.Timestamp] = {}
        self._last_action: dict[str, Action] = {}

    def recall(self, decisions: Iterable[Decision]) -> None:
        """Take back what was last proposed per target (after a restart, from the journal), so
        the hysteresis and cool-down carry on instead of starting over."""
        for d in sorted(decisions, key=lambda d: d.rop):
            self._last_proposal[d.target] = pd.Timestamp(d.rop)
            self._last_action[d.target] = d.action

    def plan(self, forecast: Forecast, capacity: Mapping[str, str]) -> list[Decision]:
        """Decisions for the ROP the forecast was issued at, in target order."""
        peak = pd.Series(
            np.nanmax(
                np.asarray(forecast.quantile(self.quantile), dtype=np.float64),
                axis=1,
                initial=-np.inf,
            ),
            index=forecast.cells,
        )
        columns = {"target": self.topology.targets(forecast.cells).to_numpy(), "peak": peak}
        if 0.5 in forecast.quantiles and self.quantile != 0.5:
            # The median beside the quantile scaled on: how wide the band is, for policies that
            # refuse to act on an uncertain forecast.
            columns["median"] = np.nanmax(
                np.asarray(forecast.quantile(0.5), dtype=np.float64), axis=1, initial=-np.inf
            )
        frame = pd.DataFrame(
            {k: np.asarray(v) for k, v in columns.items()}, index=forecast.cells
        ).dropna(subset=["target", "peak"])
        frame = frame[np.isfinite(frame["peak"])]
        if frame.empty:
            return []
        by_target = frame.groupby("target")["peak"]
        top = by_target.max()
        last = pd.Series(self._last_action, dtype=object).reindex(top.index)
        out_targets = top.index[(top > self.high) & (last != Action.SCALE_OUT)]
        in_targets = top.index[(top < self.low) & (last != Action.SCALE_IN)]
        # Only the few targets that cross a threshold are looked at one by one.
        members = frame.groupby("target").indices
        decisions = [
            self._decide(Action.SCALE_OUT, t, frame.iloc[members[t]], capacity, forecast)
            for t in out_targets
        ] + [
            self._decide(Action.SCALE_IN, t, frame.iloc[members[t]], capacity, forecast)
            for t in in_targets
        ]
        return sorted((d for d in decisions if d is not None), key=lambda d: d.target)

    def _decide(
        self,
        action: Action,
        target: str,
        cells: pd.DataFrame,
        capacity: Mapping[str, str],
        forecast: Forecast,
    ) -> Decision | None:
        """One ladder step for ``target``, whose cells (and their peaks) are ``cells``."""
        rop = forecast.issued_at
        if self._cooling(target, rop, forecast.step):
            return None
        current = capacity.get(target, self.default_capacity)
        to = self._next_step(current, action)
        if to is None:
            log.info(
                "%s: no %s step from %s on the ladder %s", target, action, current, self.ladder
            )
            return None
        named = cells.index
        if action is Action.SCALE_OUT:
            named = named[cells["peak"].to_numpy() > self.high]
        self._last_proposal[target] = rop
        self._last_action[target] = action
        # Fixed keys, whatever the KPI and quantile: policies and the enactor read them by name.
        evidence: dict[str, object] = {
            "kpi": forecast.kpi,
            "quantile": self.quantile,
            "forecast_max": round(float(cells["peak"].max()), 2),
            "forecast_min": round(float(cells["peak"].min()), 2),
            "threshold_high": self.high,
            "threshold_low": self.low,
            "horizon_rops": forecast.horizon,
            "cells_total": len(cells),
            "model": forecast.model or "unnamed",
        }
        if "median" in cells and np.isfinite(cells["median"]).any():
            evidence["median_max"] = round(float(cells["median"].max()), 2)
        return Decision.new(
            action,
            target,
            sorted(named),
            _as_datetime(rop),
            capacity_from=current,
            capacity_to=to,
            evidence=evidence,
        )

    def _next_step(self, current: str, action: Action) -> str | None:
        """The next ladder value above (or below) ``current``, which need not be on the ladder
        (an operator may have set any quantity); None at the end of the ladder."""
        try:
            have = parse_quantity(current)
        except ValueError:
            log.warning("capacity %r is not a Kubernetes quantity", current)
            return None
        if action is Action.SCALE_OUT:
            above = [q for q, v in zip(self.ladder, self._steps, strict=True) if v > have]
            return above[0] if above else None
        below = [q for q, v in zip(self.ladder, self._steps, strict=True) if v < have]
        return below[-1] if below else None

    def _cooling(self, target: str, rop: pd.Timestamp, step: pd.Timedelta) -> bool:
        last = self._last_proposal.get(target)
        return last is not None and (rop - last) < self.cooldown_rops * step


def _as_datetime(ts: pd.Timestamp | datetime) -> datetime:
    return pd.Timestamp(ts).to_pydatetime()
