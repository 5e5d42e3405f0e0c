import numpy as np
import pandas as pd
import pytest

from rapp.domain import Action, Forecast, decision_id
from rapp.planner import Planner, Topology

LADDER = ["1G", "2G", "5G", "10G", "20G"]
ROP = pd.Timestamp("2026-03-01T12:00Z")
CELLS = pd.Index(
    [
        f"SubNetwork=site-{s},ManagedElement=gnb-{s}{g},GNBDUFunction=1,NRCellDU={c}"
        for s in ("01", "02", "03")
        for g in (1, 2)
        for c in (1, 2)
    ]
)


def forecast_with(p90_by_site: dict[str, float], rop: pd.Timestamp = ROP) -> Forecast:
    p90 = np.array(
        [[p90_by_site[c.split(",")[0].removeprefix("SubNetwork=site-")]] * 4 for c in CELLS]
    )
    values = np.stack([p90 - 10, p90])
    return Forecast("prb_util_dl", rop, pd.Timedelta(minutes=15), CELLS, (0.5, 0.9), values)


def planner(**kw) -> Planner:
    topology = Topology(r"SubNetwork=(?P<site>[^,]+)", "free5gc-upf-{site}")
    return Planner(topology, ladder=LADDER, default_capacity="5G", **kw)


def test_scale_out_above_high_scale_in_below_low_nothing_in_between():
    decisions = planner().plan(forecast_with({"01": 92.0, "02": 50.0, "03": 12.0}), {})
    by_target = {d.target: d for d in decisions}
    assert set(by_target) == {"free5gc-upf-site-01", "free5gc-upf-site-03"}
    out, in_ = by_target["free5gc-upf-site-01"], by_target["free5gc-upf-site-03"]
    assert (out.action, out.capacity_from, out.capacity_to) == (Action.SCALE_OUT, "5G", "10G")
    assert (in_.action, in_.capacity_from, in_.capacity_to) == (Action.SCALE_IN, "5G", "2G")
    assert out.evidence["forecast_max"] == 92.0
    assert out.evidence["median_max"] == 82.0  # the P50 beside it: how wide the band is
    assert len(out.cells) == 4
    assert all("site-01" in c for c in out.cells)
    assert out.id == decision_id("free5gc-upf-site-01", Action.SCALE_OUT, ROP.to_pydatetime())


def test_only_cells_above_the_threshold_are_named_on_scale_out():
    fc = forecast_with({"01": 50.0, "02": 50.0, "03": 50.0})
    fc.values[1, 0, 2] = 95.0
    [decision] = planner().plan(fc, {})
    assert decision.cells == (CELLS[0],)


def test_uses_current_capacity_and_stops_at_the_ends_of_the_ladder():
    p = planner()
    decisions = p.plan(
        forecast_with({"01": 95.0, "02": 95.0, "03": 5.0}),
        {"free5gc-upf-site-01": "20G", "free5gc-upf-site-02": "2G", "free5gc-upf-site-03": "1G"},
    )
    assert [(d.target, d.capacity_from, d.capacity_to) for d in decisions] == [
        ("free5gc-upf-site-02", "2G", "5G")
    ]


STEP = pd.Timedelta(minutes=15)


def test_hysteresis_no_second_scale_out_until_the_load_has_come_back_down():
    p = planner(cooldown_rops=1)
    busy = {"01": 95, "02": 50, "03": 50}
    assert len(p.plan(forecast_with(busy), {})) == 1
    for k in (1, 2, 3):  # still busy: already scaled out, nothing more
        assert p.plan(forecast_with(busy, ROP + k * STEP), {"free5gc-upf-site-01": "10G"}) == []
    assert p.plan(forecast_with({"01": 50, "02": 50, "03": 50}, ROP + 4 * STEP), {}) == []
    [quiet] = p.plan(
        forecast_with({"01": 10, "02": 50, "03": 50}, ROP + 5 * STEP),
        {"free5gc-upf-site-01": "10G"},
    )
    assert (quiet.action, quiet.capacity_from, quiet.capacity_to) == (Action.SCALE_IN, "10G", "5G")
    [again] = p.plan(forecast_with(busy, ROP + 6 * STEP), {"free5gc-upf-site-01": "5G"})
    assert again.action is Action.SCALE_OUT


def test_cooldown_spaces_proposals_for_a_target():
    p = planner(cooldown_rops=4)
    assert len(p.plan(forecast_with({"01": 95, "02": 50, "03": 50}), {})) == 1
    for k in (1, 2, 3):  # the load collapsed at once, but the cool-down holds
        assert p.plan(forecast_with({"01": 5, "02": 50, "03": 50}, ROP + k * STEP), {}) == []
    [later] = p.plan(forecast_with({"01": 5, "02": 50, "03": 50}, ROP + 4 * STEP), {})
    assert later.action is Action.SCALE_IN


def test_same_facts_same_ids():
    a = planner().plan(forecast_with({"01": 95, "02": 5, "03": 50}), {})
    b = planner().plan(forecast_with({"01": 95, "02": 5, "03": 50}), {})
    assert [d.id for d in a] == [d.id for d in b]


def test_cells_outside_the_topology_are_ignored_and_bad_config_is_refused():
    fc = forecast_with({"01": 95, "02": 50, "03": 50})
    odd = Forecast(
        fc.kpi,
        fc.issued_at,
        fc.step,
        pd.Index(["ManagedElement=x"] * len(CELLS)),
        fc.quantiles,
        fc.values,
    )
    assert planner().plan(odd, {}) == []
    with pytest.raises(ValueError, match="named group"):
        Topology(r"SubNetwork=[^,]+", "upf")
    with pytest.raises(ValueError, match="ladder"):
        Planner(Topology(r"(?P<s>x)", "{s}"), ladder=LADDER, default_capacity="3G")


def test_recall_carries_the_hysteresis_over_a_restart():
    busy = {"01": 95, "02": 50, "03": 50}
    [first] = planner().plan(forecast_with(busy), {})
    restarted = planner()
    restarted.recall([first])
    later = ROP + 10 * STEP
    assert restarted.plan(forecast_with(busy, later), {"free5gc-upf-site-01": "10G"}) == []
    assert len(planner().plan(forecast_with(busy, later), {})) == 1  # without recall it repeats


def test_capacities_off_the_ladder_step_to_the_next_value_and_bad_ladders_are_refused():
    decisions = planner().plan(
        forecast_with({"01": 95, "02": 5, "03": 50}),
        {"free5gc-upf-site-01": "7G", "free5gc-upf-site-02": "6000M"},
    )
    assert [(d.capacity_from, d.capacity_to) for d in decisions] == [("7G", "10G"), ("6000M", "5G")]
    with pytest.raises(ValueError, match="rise strictly"):
        Planner(Topology(r"(?P<s>x)", "{s}"), ladder=["5G", "2G"], default_capacity="5G")
