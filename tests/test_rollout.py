"""Gradual rollout: which decisions go first, when the canary is judged, and what follows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rapp.domain import Action, Decision
from rapp.rollout import Rollout, Wave, rollback_of
from rapp.state import CellState
from rapp.telemetry.kpi import THP_DL

GRAN = pd.Timedelta(minutes=15)
T0 = pd.Timestamp("2026-11-24T08:00Z")


def decision(i: int, rop: pd.Timestamp = T0, action: Action = Action.SCALE_OUT) -> Decision:
    frm, to = ("5G", "10G") if action is Action.SCALE_OUT else ("", "")
    return Decision.new(action, f"upf-{i:02d}", [f"cell-{i:02d}"], rop.to_pydatetime(), frm, to)


def history(
    canary: list[str], control: list[str], *, canary_after: float, control_after: float = 1.0
) -> tuple[CellState, pd.Timestamp]:
    """Throughput 100 for every cell over 4 ROPs up to T0, then the given multiples of it for
    4 ROPs (a few cells missing some ROPs, as in life)."""
    state = CellState([THP_DL], granularity_s=900, retention=16)
    cells = canary + control
    for n in range(-3, 5):
        rop = T0 + n * GRAN
        scale = np.array(
            [1.0 if n <= 0 else (canary_after if c in canary else control_after) for c in cells]
        )
        idx = pd.MultiIndex.from_arrays([cells, [rop] * len(cells)], names=["cell", "period_end"])
        frame = pd.DataFrame({THP_DL: 100.0 * scale}, index=idx)
        state.ingest(frame.drop(index=(cells[-1], rop)) if n == 2 else frame)
    return state, T0 + 4 * GRAN


def test_a_wave_sends_a_canary_and_holds_the_rest_and_heals_are_never_held() -> None:
    rollout = Rollout(min_wave=4, canary_fraction=0.25)
    scaling = [decision(i) for i in range(8)]
    heal = decision(99, action=Action.HEAL)
    now = rollout.split([*scaling, heal], T0)
    assert heal in now
    canary = [d for d in now if d.action.scales]
    assert len(canary) == 2
    [wave] = rollout.waves
    assert [d.id for d in wave.canary] == [d.id for d in canary]
    assert {d.id for d in wave.held} == {d.id for d in scaling} - {d.id for d in canary}
    # The same ROP replayed picks the same canary.
    assert Rollout(min_wave=4, canary_fraction=0.25).split(scaling, T0) == canary


def test_a_small_wave_goes_out_whole() -> None:
    rollout = Rollout(min_wave=4)
    small = [decision(i) for i in range(3)]
    assert rollout.split(small, T0) == small
    assert rollout.waves == []


def test_a_wave_is_due_after_its_canary_rops() -> None:
    rollout = Rollout(min_wave=2, canary_rops=4)
    rollout.split([decision(i) for i in range(4)], T0)
    assert rollout.due(T0 + 3 * GRAN, GRAN) == []
    [wave] = rollout.due(T0 + 4 * GRAN, GRAN)
    assert wave.rop == T0
    assert rollout.waves == []  # handed over once


@pytest.fixture
def wave() -> Wave:
    canary = (decision(0), decision(1))
    held = tuple(decision(i) for i in range(2, 8))
    return Wave(T0, canary, held)


def cells(decisions: tuple[Decision, ...]) -> list[str]:
    return [str(d.cells[0]) for d in decisions]


def test_a_canary_that_keeps_pace_with_the_control_passes(wave: Wave) -> None:
    # Traffic falls 20% everywhere (the evening): not the canary's fault.
    state, now = history(cells(wave.canary), cells(wave.held), canary_after=0.8, control_after=0.8)
    judged = Rollout(canary_rops=4).judge(wave, state, now)
    assert judged.worse is False
    assert judged.reason == "thp_dl x0.800 on the canary, x0.800 on the control"


def test_a_canary_that_does_worse_than_the_control_fails(wave: Wave) -> None:
    state, now = history(cells(wave.canary), cells(wave.held), canary_after=0.7)
    judged = Rollout(canary_rops=4, tolerance=0.1).judge(wave, state, now)
    assert judged.worse is True
    # Within the tolerance it would have passed.
    assert Rollout(canary_rops=4, tolerance=0.35).judge(wave, state, now).worse is False


def test_lower_is_better_kpis_are_judged_the_other_way(wave: Wave) -> None:
    state, now = history(cells(wave.canary), cells(wave.held), canary_after=1.5)
    rollout = Rollout(canary_rops=4, kpis={THP_DL: "lower"})
    assert rollout.judge(wave, state, now).worse is True


def test_a_canary_without_history_is_not_judged(wave: Wave) -> None:
    state, now = history(["elsewhere"], ["also-elsewhere"], canary_after=1.0)
    assert Rollout(canary_rops=4).judge(wave, state, now).worse is None
    state, now = history(cells(wave.canary), cells(wave.held), canary_after=1.0)
    judged = Rollout(canary_rops=4, kpis={"energy_kwh": "lower"}).judge(wave, state, now)
    assert judged.worse is None
    assert "energy_kwh" in judged.reason


def test_a_rollback_is_the_opposite_step_under_its_own_id() -> None:
    d = decision(3)
    undo = rollback_of(d, T0 + 4 * GRAN, "thp_dl worse")
    assert (undo.action, undo.capacity_from, undo.capacity_to) == (Action.SCALE_IN, "10G", "5G")
    assert undo.id == "r" + d.id[1:]
    assert undo.evidence == {"rollback_of": d.id, "reason": "thp_dl worse"}
    assert (undo.target, undo.cells) == (d.target, d.cells)


def test_settings_are_checked() -> None:
    with pytest.raises(ValueError, match="canary_fraction"):
        Rollout(canary_fraction=1.0)
