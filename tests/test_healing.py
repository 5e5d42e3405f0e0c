"""The healer: which incidents become heal decisions, for which NF, and how often."""

from __future__ import annotations

import pandas as pd
import pytest

from rapp.domain import Action, Decision, decision_id
from rapp.healing import Healer
from rapp.ml.incidents import HEALING_KINDS, Incident, IncidentKind
from rapp.planner import Topology

STEP = pd.Timedelta(minutes=15)
ROP = pd.Timestamp("2026-03-02T10:00Z")


def cell(gnb: int, k: int) -> str:
    return f"SubNetwork=site-01,ManagedElement=gnb-{gnb:04d},GNBDUFunction=1,NRCellDU={k}"


def incident(
    c: str,
    kind: IncidentKind = IncidentKind.SLEEPING_CELL,
    *,
    rops: int = 3,
    end: pd.Timestamp = ROP,
    score: float = 3.5,
) -> Incident:
    return Incident(
        cell=c,
        kind=kind,
        start=end - (rops - 1) * STEP,
        end=end,
        score=score,
        top_kpis=("prb_util_dl", "active_ue_dl"),
        needs_healing=kind in HEALING_KINDS,
    )


def healer(**kw: int) -> Healer:
    topology = Topology(r"SubNetwork=(?P<site>[^,]+),ManagedElement=(?P<gnb>[^,]+)", "du-{gnb}")
    return Healer(topology, **kw)


def test_healing_kinds_of_one_gnb_become_one_decision_with_their_evidence():
    cases = [
        incident(cell(1, 2)),
        incident(cell(1, 1), IncidentKind.FRONTHAUL_FAULT),
        incident(cell(2, 1), IncidentKind.CONGESTION_SURGE),  # scaling's, not healing's
        incident(cell(3, 1), IncidentKind.ANOMALY),
    ]
    [d] = healer().plan(cases, ROP, STEP, model="detector v2")
    assert (d.action, d.target, d.cells) == (Action.HEAL, "du-gnb-0001", (cell(1, 1), cell(1, 2)))
    assert (d.capacity_from, d.capacity_to) == ("", "")
    assert d.id == decision_id("du-gnb-0001", Action.HEAL, ROP.to_pydatetime())
    assert d.evidence["kinds"] == ["fronthaul_fault", "sleeping_cell"]
    assert d.evidence["model"] == "detector v2"
    assert [i["cell"] for i in d.evidence["incidents"]] == [cell(1, 1), cell(1, 2)]
    assert Decision.from_dict(d.to_dict()) == d  # journalled and read back whole


def test_an_incident_must_last_min_rops_and_still_be_open():
    h = healer(min_rops=3)
    assert h.plan([incident(cell(1, 1), rops=2)], ROP, STEP) == []
    assert h.plan([incident(cell(1, 1), end=ROP - STEP)], ROP, STEP) == []  # closed before
    [d] = h.plan([incident(cell(1, 1), rops=3)], ROP, STEP)
    assert d.cells == (cell(1, 1),)


def test_each_incident_is_healed_once_and_an_nf_waits_out_its_cool_down():
    h = healer(cooldown_rops=4)
    first = incident(cell(1, 1))
    assert len(h.plan([first], ROP, STEP)) == 1
    later = ROP + 4 * STEP
    still_open = incident(cell(1, 1), rops=7, end=later)  # the same incident, not healed again
    assert still_open.start == first.start
    assert h.plan([still_open], later, STEP) == []
    # A new incident on the same gNB inside the cool-down waits, then goes out on its own.
    other = incident(cell(1, 2), end=ROP + 2 * STEP)
    assert h.plan([other], ROP + 2 * STEP, STEP) == []
    other_later = incident(cell(1, 2), rops=5, end=later)
    [d] = h.plan([still_open, other_later], later, STEP)
    assert d.cells == (cell(1, 2),)
    # Another gNB is never held back by this one's cool-down.
    [elsewhere] = h.plan([incident(cell(2, 1), end=later + STEP)], later + STEP, STEP)
    assert elsewhere.target == "du-gnb-0002"


def test_the_same_outage_seen_through_a_fresh_window_is_not_healed_again_a_new_one_is():
    h = healer(cooldown_rops=2)
    assert len(h.plan([incident(cell(1, 1), rops=3)], ROP, STEP)) == 1
    for k in range(1, 5):  # still open; the watch's window shows it from a later ROP
        now = ROP + k * STEP
        assert h.plan([incident(cell(1, 1), rops=3, end=now)], now, STEP) == []
    closed = ROP + 4 * STEP
    for k in range(1, 4):  # closed for three ROPs
        assert h.plan([], closed + k * STEP, STEP) == []
    again = closed + 6 * STEP  # a new outage of the same cell: healed
    [d] = h.plan([incident(cell(1, 1), rops=2, end=again)], again, STEP)
    assert d.cells == (cell(1, 1),)


def test_at_most_max_cells_per_heal_the_worst_first_the_rest_after_the_cool_down():
    h = healer(max_cells=2, cooldown_rops=2)
    cases = [incident(cell(1, k), score=s) for k, s in ((1, 2.0), (2, 9.0), (3, 5.0))]
    [first] = h.plan(cases, ROP, STEP)
    assert first.cells == (cell(1, 2), cell(1, 3))
    later = ROP + 2 * STEP
    [second] = h.plan([incident(cell(1, k), rops=5, end=later) for k in (1, 2, 3)], later, STEP)
    assert second.cells == (cell(1, 1),)


def test_a_denied_heal_is_asked_again_after_the_cool_down_and_a_shadow_changes_nothing():
    h = healer(cooldown_rops=2)
    [denied] = h.plan([incident(cell(1, 1))], ROP, STEP)
    h.forget(denied)
    soon, later = ROP + STEP, ROP + 2 * STEP
    assert h.plan([incident(cell(1, 1), rops=4, end=soon)], soon, STEP) == []  # cool-down
    shadow = h.plan([incident(cell(1, 1), rops=5, end=later)], later, STEP, record=False)
    assert [d.cells for d in shadow] == [(cell(1, 1),)]
    [again] = h.plan([incident(cell(1, 1), rops=5, end=later)], later, STEP)  # not taken by it
    assert again.cells == (cell(1, 1),)


def test_recall_carries_cool_down_and_healed_incidents_over_a_restart():
    before = healer(cooldown_rops=4)
    [d] = before.plan([incident(cell(1, 1))], ROP, STEP)
    scale = Decision.new(Action.SCALE_OUT, "free5gc-upf-site-01", [cell(1, 1)], ROP, "5G", "10G")
    after = healer(cooldown_rops=4)
    after.recall([Decision.from_dict(d.to_dict()), scale])
    later = ROP + 4 * STEP
    assert after.plan([incident(cell(1, 1), rops=7, end=later)], later, STEP) == []
    assert after.plan([incident(cell(1, 2), end=ROP + STEP)], ROP + STEP, STEP) == []
    assert len(after.plan([incident(cell(1, 2), end=later)], later, STEP)) == 1


def test_a_cell_no_nf_serves_is_skipped_not_raised(caplog: pytest.LogCaptureFixture):
    stray = "ManagedElement=me,NRCellDU=9"  # no SubNetwork: the topology does not map it
    with caplog.at_level("WARNING"):
        assert healer().plan([incident(stray), incident(stray)], ROP, STEP) == []
    assert [r.getMessage() for r in caplog.records] == [
        f"cell {stray} needs healing but maps to no NF; not healed"
    ]


def test_bad_settings_are_refused():
    for bad in ({"min_rops": 0}, {"max_cells": 0}, {"forget_after_rops": 0}, {"cooldown_rops": -1}):
        with pytest.raises(ValueError, match="must be at least"):
            healer(**bad)


def test_a_heal_in_force_is_cleared_once_none_of_its_cells_is_open():
    h = healer(cooldown_rops=2)
    one, two = cell(1, 1), cell(1, 2)
    [d] = h.plan([incident(one), incident(two)], ROP, STEP)
    assert h.cleared(ROP) == []  # not allowed yet: nothing in force
    h.in_force(d)
    assert h.cleared(ROP) == []
    # One cell recovers, the other is still open: the heal stays.
    later = ROP + STEP
    h.plan([incident(two, rops=4, end=later)], later, STEP)
    assert h.cleared(later) == []
    # Both closed: the NF's heal is to be withdrawn, once.
    closed = later + STEP
    h.plan([], closed, STEP)
    assert h.cleared(closed) == ["du-gnb-0001"]
    assert h.cleared(closed) == ["du-gnb-0001"]  # until its withdrawal is under way
    h.withdrawn("du-gnb-0001")
    assert h.cleared(closed + STEP) == []


def test_a_denied_heal_is_never_in_force_and_a_recalled_one_is():
    h = healer()
    [d] = h.plan([incident(cell(1, 1))], ROP, STEP)
    h.forget(d)  # denied
    h.plan([], ROP + STEP, STEP)
    assert h.cleared(ROP + STEP) == []
    after = healer()
    after.recall([d])  # after a restart: maybe still in force
    after.plan([incident(cell(1, 1), rops=4, end=ROP + STEP)], ROP + STEP, STEP)
    assert after.cleared(ROP + STEP) == []  # still open
    after.plan([], ROP + 2 * STEP, STEP)
    assert after.cleared(ROP + 2 * STEP) == ["du-gnb-0001"]
