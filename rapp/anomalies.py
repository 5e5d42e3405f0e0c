"""``AnomalyWatch``: the registry's detector over the latest ROPs of every cell, as incidents.

The detector's per-cell profiles are learned offline on the network's own history (``rapp
export telemetry``, then ``rapp train detector``); the loop only scores. It keeps every KPI for
a few ROPs, enough to confirm a run (a detector may be trained on any of them), so watching
costs little memory whatever the forecaster's history needs, and correlates flags with the
alarms active now: an anomaly an alarm explains is one incident of the alarm's kind.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

from rapp.domain import Alarm
from rapp.ml.incidents import Incident, correlate
from rapp.ml.live import LiveModel
from rapp.ml.panel import Panel
from rapp.state import CellState
from rapp.telemetry.kpi import KPIS

log = logging.getLogger(__name__)


class AnomalyWatch:
    """Scores the last ``window`` ROPs with ``live``'s champion at each decided ROP and keeps
    the incidents still open at that ROP; with ``live``'s shadow challenger too, whose
    incidents (``shadow_incidents``) are only for comparing, never for healing."""

    def __init__(self, live: LiveModel, *, window: int = 8) -> None:
        self.live = live
        self.window = window
        self.state: CellState | None = None
        self.incidents: list[Incident] = []
        self.shadow_incidents: list[Incident] = []
        self._error: str | None = None
        self._shadow_error: str | None = None
        self._logged: set[tuple[str, pd.Timestamp]] = set()

    def ingest(self, kpis: pd.DataFrame, granularity_s: int) -> None:
        """Keep the detector's KPIs of a ``derive_kpis`` frame (only those ROPs are scored).
        Nothing is kept while no detector is promoted: the window fills within ``window``
        ROPs of a promotion, and until then the hot path does no work for it."""
        if self.live.get() is None:
            return
        if self.state is None:
            self.state = CellState(KPIS, granularity_s=granularity_s, retention=self.window)
        present = [k for k in KPIS if k in kpis.columns]
        self.state.ingest(kpis[present])

    def check(self, rop: pd.Timestamp, alarms: Iterable[Alarm]) -> list[Incident]:
        """Incidents open at ``rop`` (their last flagged ROP is ``rop``); none without a
        detector. A detector that fails is logged and reported, never raised to the loop."""
        detector = self.live.get()
        if detector is None or self.state is None:
            self.incidents, self.shadow_incidents = [], []
            return self.incidents
        alarms = list(alarms)
        panel = self._panel(rop)
        try:
            self.incidents = _carry_onsets(
                _open_at(detector, panel, alarms, rop), self.incidents, panel.step
            )
        except Exception as exc:  # the loop decides on forecasts whatever the detector does
            message = f"detector {self.live.version} not run: {type(exc).__name__}: {exc}"
            if message != self._error:
                log.error("%s", message)
            self._error = message
            self.incidents = []
        else:
            self._error = None
        self._check_shadow(panel, alarms, rop)
        known, self._logged = self._logged, {(i.cell, i.start) for i in self.incidents}
        for incident in self.incidents:
            if (incident.cell, incident.start) in known:
                continue  # logged when it opened; the API lists it while it stays open
            log.info(
                "incident %s on %s since %s (score %.1f; %s%s)",
                incident.kind.value,
                incident.cell,
                incident.start.isoformat(),
                incident.score,
                ", ".join(incident.top_kpis),
                f"; alarms {', '.join(incident.alarm_ids)}" if incident.alarm_ids else "",
            )
        return self.incidents

    def _check_shadow(self, panel: Panel, alarms: list[Alarm], rop: pd.Timestamp) -> None:
        """Score the shadow challenger (if any) on the same panel and log where it differs."""
        challenger = self.live.shadow()
        if challenger is None:
            self.shadow_incidents = []
            return
        try:
            self.shadow_incidents = _carry_onsets(
                _open_at(challenger, panel, alarms, rop), self.shadow_incidents, panel.step
            )
        except Exception as exc:
            message = (
                f"shadow detector {self.live.shadow_version} not run: {type(exc).__name__}: {exc}"
            )
            if message != self._shadow_error:
                log.warning("%s", message)
            self._shadow_error, self.shadow_incidents = message, []
            return
        self._shadow_error = None
        ours = {i.cell for i in self.incidents}
        theirs = {i.cell for i in self.shadow_incidents}
        if ours != theirs:
            log.info(
                "shadow detector %s at %s: incidents on %d cells, %d the champion has not,"
                " %d it has not",
                self.live.shadow_version,
                pd.Timestamp(rop).isoformat(),
                len(theirs),
                len(theirs - ours),
                len(ours - theirs),
            )

    def status(self) -> dict[str, Any]:
        return {
            "registry_name": self.live.name,
            "champion": self.live.version,
            "shadow": self.live.shadow_version,
            "error": self.live.error or self._error,
            "shadow_error": self._shadow_error,
            "open_incidents": len(self.incidents),
            "shadow_open_incidents": len(self.shadow_incidents),
        }

    def _panel(self, rop: pd.Timestamp) -> Panel:
        assert self.state is not None
        step = pd.Timedelta(seconds=self.state.granularity_s)
        times = pd.date_range(end=pd.Timestamp(rop), periods=self.window, freq=step)
        values = {k: self.state.window(k, rop, self.window).astype(np.float64) for k in KPIS}
        return Panel(self.state.cells, times, values)


def _open_at(detector: Any, panel: Panel, alarms: list[Alarm], rop: pd.Timestamp) -> list[Incident]:
    """The incidents ``detector`` finds in ``panel`` that are still open at ``rop``."""
    found = correlate(detector.evidence(panel), alarms)
    return [i for i in found if i.end == pd.Timestamp(rop)]


def _carry_onsets(
    found: list[Incident], before: list[Incident], step: pd.Timedelta
) -> list[Incident]:
    """``found`` with each incident that continues one open at the previous check starting when
    that one did: the watch sees only its last few ROPs, so a long outage would otherwise seem
    to start anew every ROP (and be logged, and healed, again)."""
    open_before = {i.cell: i for i in before}
    out = []
    for incident in found:
        earlier = open_before.get(incident.cell)
        if earlier is not None and earlier.start < incident.start <= earlier.end + step:
            incident = dataclasses.replace(incident, start=earlier.start)
        out.append(incident)
    return out
