"""How the runtime takes PM in, in process: ordering against the commit, granularity, time jumps,
and push sources that must not decide while Kafka is behind.

One ``Runtime`` per process (its enactor is a DBOS class instance), so the module shares one and
each test starts from an empty cell state.
"""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from rapp.anomalies import AnomalyWatch
from rapp.config import Settings
from rapp.decide import Decider
from rapp.domain import Action, Decision, Outcome, OutcomeState, PmBatch, Verdict
from rapp.ml import Detector, Panel
from rapp.ml.forecasting import state_panel
from rapp.ml.live import LiveModel
from rapp.ml.naive import SeasonalNaiveForecaster
from rapp.ml.registry import Registry
from rapp.rollout import Rollout, Wave
from rapp.runtime import Runtime
from rapp.telemetry import decode_ranpm
from rapp.telemetry.kafka import SourceBatch
from simulators.o1 import wire
from simulators.o1.dataset import simulate
from tests.test_rollout import GRAN, T0, cells, decision, history

END = pd.Timestamp("2026-03-02T10:00Z")


@pytest.fixture(scope="module")
def runtime(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runtime]:
    d: Path = tmp_path_factory.mktemp("runtime")
    settings = Settings(
        store={"url": f"sqlite:///{d}/journal.sqlite"},
        nephio={"remote": str(d / "deploy.git"), "workdir": str(d / "work")},
        enact={"system_database_url": f"sqlite:///{d}/dbos.sqlite"},
        telemetry={"archive_dir": str(d / "archive")},
    )
    rt = Runtime(settings)
    yield rt
    rt.decode_pool.close()
    rt.journal.close()


@pytest.fixture
def fresh(runtime: Runtime) -> Runtime:
    runtime.state = None
    runtime._warned_granularities.clear()
    return runtime


def pm(cells: int, end: pd.Timestamp, gran: int = 900, used: float = 50.0) -> PmBatch:
    """Every cell's PRB counters for one period (the KPI the planner uses: PRB use DL)."""
    names = [f"ManagedElement=me,NRCellDU={i}" for i in range(cells)]
    counters = ["RRU.PrbUsedDl", "RRU.PrbAvailDl"]
    n = cells * len(counters)
    return PmBatch(
        pd.DataFrame(
            {
                "cell": np.repeat(names, len(counters)).astype(object),
                "period_end": pd.DatetimeIndex([end] * n).as_unit("ns"),
                "granularity_s": np.full(n, gran, dtype=np.int32),
                "counter": counters * cells,
                "value": np.tile([used, 100.0], cells),
                "suspect": np.zeros(n, dtype=bool),
            }
        )
    )


def skipped(rt: Runtime, reason: str) -> float:
    return (
        rt.metrics.registry.get_sample_value("rapp_pm_rows_skipped_total", {"reason": reason})
        or 0.0
    )


async def test_a_kafka_batch_is_in_state_before_its_offsets_are_committed(fresh: Runtime) -> None:
    seen_at_commit: list[int] = []

    async def commit() -> bool:
        assert fresh.state is not None
        seen_at_commit.append(len(fresh.state.cells))
        return True

    batch = SourceBatch(pm(6, END), records=2, dead_lettered=0, caught_up=False, commit=commit)
    assert await fresh.handle(batch) == []  # behind (caught_up False): no decision
    assert seen_at_commit == [6]
    window = fresh.state.window("prb_util_dl", END, 1) if fresh.state else None
    assert window is not None
    np.testing.assert_allclose(window[:, 0], 50.0)


async def test_a_stop_lets_the_batch_in_hand_finish_and_commit_then_takes_no_other(
    fresh: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    committed: list[str] = []

    async def commit(name: str) -> bool:
        await asyncio.sleep(0.3)  # a commit still on its way when SIGTERM arrives
        committed.append(name)
        return True

    def batch(name: str) -> SourceBatch:
        return SourceBatch(
            pm(3, END), records=1, dead_lettered=0, caught_up=False, commit=lambda: commit(name)
        )

    in_hand = asyncio.create_task(fresh.handle(batch("in hand")))
    await asyncio.sleep(0.05)
    await fresh.drain(timeout_s=10)
    assert committed == ["in hand"]  # finished and committed before the stop went on
    assert in_hand.done()
    try:
        late = asyncio.create_task(fresh.handle(batch("late")))
        await asyncio.sleep(0.5)
        assert not late.done()  # held: no batch starts after the drain
        late.cancel()
        assert committed == ["in hand"]
    finally:
        fresh._accepting.release()  # the module shares this runtime

    stuck = asyncio.create_task(fresh.handle(batch("stuck")))
    await asyncio.sleep(0.05)
    await fresh.drain(timeout_s=0.01)  # a batch that outlasts the deadline is left to re-read
    assert "stopping mid-batch" in caplog.text
    await stuck
    assert not fresh._accepting.locked()


async def test_pm_of_another_granularity_is_skipped_and_counted(fresh: Runtime) -> None:
    before = skipped(fresh, "granularity")
    mixed = PmBatch.concat([pm(4, END), pm(2, END + pd.Timedelta(minutes=5), gran=300)])
    fresh.ingest(mixed)
    assert fresh.state is not None
    assert fresh.state.granularity_s == 900
    assert len(fresh.state.cells) == 4  # the 5-min rows were not bucketed into 15-min ROPs
    assert skipped(fresh, "granularity") - before == 4  # 2 cells x 2 counters
    fresh.ingest(pm(2, END + pd.Timedelta(minutes=10), gran=300))
    assert skipped(fresh, "granularity") - before == 8


async def test_a_junk_future_record_is_counted_once_the_stream_moves_on(fresh: Runtime) -> None:
    before = skipped(fresh, "unconfirmed_jump")
    fresh.ingest(pm(8, END))
    junk = pm(1, pd.Timestamp("2099-01-01T00:00Z"))
    assert fresh.ingest(junk) == []
    assert fresh.state is not None
    assert fresh.state.latest_rop == END
    assert fresh.ingest(pm(8, END + pd.Timedelta(minutes=15))) == [END + pd.Timedelta(minutes=15)]
    assert skipped(fresh, "unconfirmed_jump") - before == 1  # the junk cell's one KPI row


async def test_push_sources_fill_state_but_do_not_decide_while_kafka_is_not_read(
    fresh: Runtime,
) -> None:
    """No Kafka source yet (as at start-up, before the backlog is read): not caught up."""
    assert not await fresh.caught_up()
    await fresh.offer(pm(3, END))
    await fresh.offer(pm(3, END + pd.Timedelta(minutes=15)))
    assert fresh.state is not None
    assert fresh.state.latest_rop == END + pd.Timedelta(minutes=15)
    assert not fresh._tasks  # no decision was spawned


async def test_every_ingested_batch_is_archived_for_retraining(fresh: Runtime) -> None:
    assert fresh.archive is not None
    later = END + pd.Timedelta(days=3)  # after whatever the other tests archived
    fresh.ingest(pm(5, later, used=20.0))
    fresh.ingest(pm(5, later + pd.Timedelta(minutes=15), used=30.0))
    fresh.ingest(pm(1, pd.Timestamp("2099-01-01T00:00Z")))  # a bad clock: held, not archived
    rows = fresh.archive.read(since=later.to_pydatetime())
    assert len(rows) == 10
    assert set(rows.groupby("period_end")["prb_util_dl"].mean()) == {20.0, 30.0}
    assert not rows["suspect"].any()


async def test_the_shadow_is_planned_on_a_copy_and_only_counted(
    fresh: Runtime, tmp_path: Path
) -> None:
    """A shadow forecaster that sees a busy site: its decisions are counted, never made, and
    the champion's cool-down clocks do not move."""
    site = [f"SubNetwork=busy,ManagedElement=me,NRCellDU={i}" for i in range(4)]
    ends = pd.date_range(END, periods=2 * 96, freq="15min")
    for end in ends:
        batch = pm(4, end, used=92.0)
        batch.frame["cell"] = batch.frame["cell"].map(
            dict(zip(sorted(set(batch.frame["cell"])), site, strict=True))
        )
        fresh.ingest(batch)
    assert fresh.state is not None
    registry = Registry(tmp_path)
    panel = state_panel(fresh.state, "prb_util_dl", ends[-1], 192)
    card = registry.save(
        SeasonalNaiveForecaster(horizon=4, band_origins=20).fit(panel),
        name="forecaster",
        kind="forecaster",
    )
    own = fresh.decider.forecaster.live
    fresh.decider.forecaster.live = LiveModel(
        registry, "forecaster", shadow=card.version, check_every=0
    )
    try:
        assert fresh.decider.forecaster.has_shadow
        counted = "rapp_shadow_decisions_total"
        before = fresh.metrics.registry.get_sample_value(counted, {"action": "scale_out"}) or 0
        clocks = dict(fresh.decider.planner._last_proposal)
        await fresh.decider._shadow(
            fresh.state, ends[-1], copy.deepcopy(fresh.decider.planner), served=[]
        )
        after = fresh.metrics.registry.get_sample_value(counted, {"action": "scale_out"})
        assert after == before + 1  # one NF (the busy site) would have been scaled out
        assert fresh.decider.planner._last_proposal == clocks
    finally:
        fresh.decider.forecaster.live = own


async def test_a_sleeping_cell_in_the_pm_stream_becomes_an_allowed_heal_decision(
    fresh: Runtime, tmp_path: Path
) -> None:
    """PM reports as the network sends them -> KPIs -> the promoted detector -> an incident ->
    the healer -> the operators' policy set, which allows healing one cell of a gNB-DU."""
    day = 96
    data = simulate(24, start="2026-01-05", days=15, seed=5)
    history = Panel.from_frame(data.kpis.set_index(["cell", "period_end"]).sort_index())
    registry = Registry(tmp_path)
    card = registry.save(
        Detector(random_state=0).fit(history.window(0, 14 * day)),
        name="detector",
        kind="detector",
    )
    registry.promote("detector", card.version)
    twin = registry.save(
        Detector(random_state=1).fit(history.window(0, 14 * day)), name="detector", kind="detector"
    )
    sleeper = data.cube.topology.cell_dns[5]
    silent = [c for c in wire.COUNTERS if "Avail" not in c]  # radio on, nobody served
    own = fresh.decider.watch
    watch = AnomalyWatch(LiveModel(registry, "detector", shadow=twin.version, check_every=0.0))
    fresh.decider.watch = watch
    counted = "rapp_shadow_decisions_total"
    before = fresh.metrics.registry.get_sample_value(counted, {"action": "heal"}) or 0
    try:
        rops = len(history.times)
        for t in range(rops - 8, rops):
            batch = PmBatch.concat(decode_ranpm(v) for _, v in wire.ranpm_reports(data.cube, t))
            f = batch.frame
            if t >= rops - 4:
                f.loc[(f["cell"] == sleeper) & f["counter"].isin(silent), "value"] = 0.0
            fresh.ingest(batch)
        decisions = await fresh.decider._heal(fresh.state, history.times[-1])
    finally:
        fresh.decider.watch = own
    [heal] = decisions
    assert (heal.action, heal.cells) == (Action.HEAL, (sleeper,))
    gnb = sleeper.split("ManagedElement=")[1].split(",")[0]
    assert heal.target == f"du-{gnb}"
    assert heal.evidence["kinds"] == ["sleeping_cell"]
    assert heal.evidence["model"] == f"detector {card.version}"
    # The shadow twin found the same cell: counted, and its copy of the healer kept the real
    # one's clocks as they were, so the champion's heal went out.
    assert [i.cell for i in watch.shadow_incidents] == [sleeper]
    assert fresh.metrics.registry.get_sample_value(counted, {"action": "heal"}) == before + 1
    [verdict] = fresh.decider.policy.evaluate(decisions, now=history.times[-1].to_pydatetime())
    assert verdict.allow, verdict.reasons
    assert verdict.reasons == (f"du-{gnb}: heal 1 cells (sleeping_cell), at most 2 for du",)


async def test_a_champion_that_reads_more_history_than_is_held_makes_the_state_hold_more(
    fresh: Runtime, tmp_path: Path
) -> None:
    ends = pd.date_range(END, periods=3 * 96, freq="15min")
    for end in ends:
        fresh.ingest(pm(4, end))
    assert fresh.state is not None
    held = fresh.state.retention
    registry = Registry(tmp_path)
    panel = state_panel(fresh.state, "prb_util_dl", ends[-1], 3 * 96)
    days = held // 96 + 1  # reads a day more than is held
    longer = SeasonalNaiveForecaster(horizon=4, band_origins=20, lookback=days).fit(panel)
    card = registry.save(longer, name="forecaster", kind="forecaster")
    registry.promote("forecaster", card.version)
    own = fresh.decider.forecaster.live
    fresh.decider.forecaster.live = LiveModel(registry, "forecaster", check_every=0)
    try:
        assert await fresh.decide(ends[-1]) == []  # 50 % everywhere: nothing to change
    finally:
        fresh.decider.forecaster.live = own
    assert held < days * 96 + 1 == fresh.state.retention
    window = fresh.state.window("prb_util_dl", ends[-1], 3 * 96)
    np.testing.assert_allclose(window, 50.0)  # the history held before is still there


def test_a_decision_set_aside_in_a_conflict_is_journalled_as_denied_with_why(
    fresh: Runtime,
) -> None:
    from datetime import UTC, datetime

    from rapp.conflicts import resolve
    from rapp.domain import Decision

    rop = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    heal = Decision.new(Action.HEAL, "nf-x", ["c1"], rop, "", "", {"kinds": ["sleeping_cell"]})
    scale = Decision.new(Action.SCALE_OUT, "nf-x", ["c1", "c2"], rop, "5G", "10G")
    kept, lost = resolve([scale, heal])
    assert kept == [heal]
    fresh.decider._journal_conflicts(lost)
    row = fresh.journal.decision(scale.id)
    assert row is not None
    assert row["verdict"]["allow"] is False
    assert row["verdict"]["reasons"] == [lost[0][1]]
    assert row["outcome"]["state"] == "denied"
    assert "healing comes before scaling" in row["outcome"]["detail"]


async def test_a_decision_the_policies_deny_takes_no_place_in_the_blast_radius(
    fresh: Runtime,
) -> None:
    """Three decisions, a network of two NFs (one change per ROP): the protected site-07
    names the most cells, so it would rank first; it is denied on its own, and the first
    allowed decision keeps the one place."""
    from datetime import UTC, datetime

    from rapp.domain import Decision

    rop = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    evidence = {"forecast_max": 91.0, "median_max": 85.0, "quantile": 0.9}

    def out(target: str, cells: int) -> Decision:
        names = [f"c{i}" for i in range(cells)]
        return Decision.new(Action.SCALE_OUT, target, names, rop, "5G", "10G", evidence)

    protected, first, second = (
        out("free5gc-upf-site-07", 9),
        out("free5gc-upf-site-01", 3),
        out("free5gc-upf-site-02", 1),
    )
    fresh.decider.capacity = {"free5gc-upf-site-01": "5G", "free5gc-upf-site-02": "5G"}
    try:
        verdicts, context = await fresh.decider.judge(
            [protected, first, second], END.to_pydatetime()
        )
    finally:
        fresh.decider.capacity = {}
    assert [v.allow for v in verdicts] == [False, True, False]
    assert verdicts[0].reasons == (
        "free5gc-upf-site-07: protected: site-07 is under change freeze for the stadium event",
    )
    assert "batch" not in context[0]  # judged on its own only
    assert context[0]["history"] == {"changes_last_hour": 0, "last_change": None}
    assert context[1]["batch"] == {"rank": 0, "size": 2, "targets_known": 2}
    assert verdicts[2].reasons == (
        "free5gc-upf-site-02: blast radius: decision 2 of 2 in this ROP, at most 1 (25% of 2 NFs)",
    )


async def test_a_target_changed_lately_is_told_so_and_the_pace_policy_holds_it(
    fresh: Runtime,
) -> None:
    from datetime import UTC, datetime, timedelta

    from rapp.domain import Decision, Outcome, OutcomeState

    now = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    evidence = {"forecast_max": 91.0, "median_max": 85.0, "quantile": 0.9}

    def out(minutes_ago: int, to: str = "10G") -> Decision:
        rop = now - timedelta(minutes=minutes_ago)
        return Decision.new(Action.SCALE_OUT, "free5gc-upf-site-09", ["c"], rop, "5G", to, evidence)

    earlier = out(15)
    fresh.journal.record_decision(earlier)
    fresh.journal.record_outcome(Outcome(earlier.id, OutcomeState.ENACTED))
    refused = out(20, to="20G")  # denied changes do not count
    fresh.journal.record_decision(refused)
    fresh.journal.record_outcome(Outcome(refused.id, OutcomeState.DENIED))
    [verdict], [context] = await fresh.decider.judge([out(0)], now)
    assert context["history"] == {
        "changes_last_hour": 1,
        "last_change": (now - timedelta(minutes=15)).isoformat().replace("+00:00", "Z"),
    }
    assert verdict.reasons == (
        "free5gc-upf-site-09: last changed 15 minutes ago, cool-down is 30 minutes",
    )


async def test_each_decision_is_judged_with_the_a1_policy_it_would_be_enacted_as(
    fresh: Runtime,
) -> None:
    """input.a1 is what the saga would send; an object its type's schema refuses (here: no
    cells in scope) is denied before anything is journalled as allowed, as is a type the
    operator has not approved."""
    from datetime import UTC, datetime

    from rapp.domain import Decision
    from rapp.enact import a1_policy_for

    rop = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    evidence = {"forecast_max": 91.0, "median_max": 85.0, "quantile": 0.9}
    good = Decision.new(Action.SCALE_OUT, "free5gc-upf-site-11", ["c1"], rop, "5G", "10G", evidence)
    cellless = Decision.new(Action.SCALE_OUT, "free5gc-upf-site-12", [], rop, "5G", "10G", evidence)
    verdicts, context = await fresh.decider.judge([good, cellless], rop)
    policy = a1_policy_for(good, fresh.decider.a1)
    assert context[0]["a1"] == {
        "policy_type_id": "RAPP_CAPACITY_1.0.0",
        "policy_id": policy.policy_id,
        "policy": policy.body,
    }
    assert verdicts[0].allow, verdicts[0].reasons
    assert verdicts[1].reasons == (
        "free5gc-upf-site-12: A1 policy rapp-free5gc-upf-site-12 does not validate against the "
        "schema of RAPP_CAPACITY_1.0.0",
    )

    approved = fresh.decider.a1
    fresh.decider.a1 = approved.model_copy(update={"policy_type_id": "RAPP_CAPACITY_2.0.0"})
    try:
        [verdict], _ = await fresh.decider.judge([good], rop)
    finally:
        fresh.decider.a1 = approved
    assert verdict.reasons == (
        "free5gc-upf-site-11: A1 policy type RAPP_CAPACITY_2.0.0 is not one this policy set "
        "knows (known: RAPP_CAPACITY_1.0.0, RAPP_HEALING_1.0.0)",
    )


async def test_the_policies_in_force_are_the_latest_enacted_and_the_heals_not_withdrawn(
    fresh: Runtime,
) -> None:
    """What the loop puts back when the A1-PMS lost its service: each NF's latest *enacted*
    guidance (a later denied decision changed nothing), and only heals still in force."""
    from datetime import UTC, datetime

    from rapp.domain import Decision, Outcome, OutcomeState

    journal = fresh.journal
    rop = datetime(2026, 3, 3, 9, 0, tzinfo=UTC)
    target = "free5gc-upf-site-31"
    enacted = Decision.new(Action.SCALE_OUT, target, ["c"], rop, "5G", "10G", {})
    denied = Decision.new(Action.SCALE_OUT, target, ["c"], rop.replace(hour=10), "10G", "20G", {})
    cell = "SubNetwork=site-31,ManagedElement=gnb-0031,GNBDUFunction=1,NRCellDU=1"
    heal = Decision.new(
        Action.HEAL, "du-gnb-0031", [cell], rop, "", "", {"kinds": ["sleeping_cell"]}
    )
    for d, state in ((enacted, OutcomeState.ENACTED), (denied, OutcomeState.DENIED)):
        journal.record_decision(d)
        journal.record_outcome(Outcome(d.id, state))
    journal.record_decision(heal)
    journal.record_outcome(Outcome(heal.id, OutcomeState.ENACTED))

    def mine(policies: list) -> dict[str, str]:
        return {
            p.policy_id: p.body["statement"]["decisionId"]
            for p in policies
            if p.policy_id in {f"rapp-{target}", "rapp-heal-du-gnb-0031"}
        }

    assert mine(await fresh.decider.policies_in_force()) == {f"rapp-{target}": enacted.id}
    fresh.decider.healer.in_force(heal)
    try:
        assert mine(await fresh.decider.policies_in_force()) == {
            f"rapp-{target}": enacted.id,
            "rapp-heal-du-gnb-0031": heal.id,
        }
    finally:
        fresh.decider.healer.withdrawn(heal.target)

    # An enactment in flight for the NF writes its policy itself: a put-back from the older
    # view could land after it, so the NF is left out until it ends.
    in_flight = Decision.new(
        Action.SCALE_OUT, target, ["c"], rop.replace(hour=11), "10G", "20G", {}
    )
    journal.record_decision(in_flight)
    journal.record_outcome(Outcome(in_flight.id, OutcomeState.PENDING))
    assert mine(await fresh.decider.policies_in_force()) == {}
    journal.record_outcome(Outcome(in_flight.id, OutcomeState.ENACTED))
    assert mine(await fresh.decider.policies_in_force()) == {f"rapp-{target}": in_flight.id}


async def test_in_shadow_mode_a_decision_is_journalled_and_nothing_is_started(
    fresh: Runtime,
) -> None:
    from rapp.domain import Decision, OutcomeState

    decider = fresh.decider
    target = "free5gc-upf-shadowed"
    d = Decision.new(Action.SCALE_OUT, target, [], END.to_pydatetime(), "5G", "10G")
    fresh.journal.record_decision(d)
    decider.mode = "shadow"
    try:
        # DBOS is not launched in this module: starting a workflow would raise.
        await decider._enact(d)
    finally:
        decider.mode = "enact"
    outcome = fresh.journal.outcome(d.id)
    assert (outcome.state, outcome.detail) == (OutcomeState.SHADOW, "shadow mode: not enacted")
    assert target not in decider.capacity  # believed from the packages, not from the decision
    assert d.id not in decider._in_flight


# -- gradual rollout: the Decider carrying a wave through ------------------------------------


async def carry(
    decider: Decider, monkeypatch: pytest.MonkeyPatch, canary_after: float
) -> tuple[list[Decision], Wave]:
    """A wave of 8 journalled decisions through split, hold and the judgement 4 ROPs later;
    enactment is recorded, not run (the saga has its own tests)."""
    monkeypatch.setattr(decider, "rollout", Rollout(min_wave=4, canary_rops=4))

    started: list[Decision] = []

    async def enact(d: Decision) -> None:
        started.append(d)

    monkeypatch.setattr(decider, "_enact", enact)
    monkeypatch.setattr(decider.enactor, "capacity", lambda target, fallback: fallback)
    rop = T0 + pd.Timedelta(days=len(decider.journal.decisions(limit=1000)))  # fresh ids
    wave = [decision(i, rop) for i in range(8)]
    now = {d.id for d in decider.rollout.split(wave, rop)}
    held = [d for d in wave if d.id not in now]
    verdicts = [Verdict(d.id, True, ("ok",), "test") for d in wave]
    decider._journal(wave, verdicts, [], {d.id for d in held})
    # Held decisions are journalled held from the start, never pending.
    assert {decider.journal.outcome(d.id).state for d in held} == {OutcomeState.HELD}
    for d in wave:
        if d.id in now:  # the canary, enacted
            decider.journal.record_outcome(Outcome(d.id, OutcomeState.ENACTED, detail="test"))
        else:
            decider.capacity[d.target] = d.capacity_to  # as decide() does for a held one
    [pending] = decider.rollout.waves
    # Judged against a history around T0 (the wave was cut on a later day, for fresh ids).
    decider.rollout.waves = [Wave(T0, pending.canary, pending.held)]
    state, _ = history(cells(pending.canary), cells(pending.held), canary_after=canary_after)
    await decider._advance_rollout(state, T0 + 4 * GRAN)
    return started, pending


async def test_the_decider_releases_the_held_decisions_after_a_good_canary(
    fresh: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    decider = fresh.decider
    started, wave = await carry(decider, monkeypatch, canary_after=1.0)
    assert {d.id for d in started} == {d.id for d in wave.held}
    detail = decider.journal.outcome(wave.held[0].id).detail
    assert detail.startswith("released: the canary did not do worse")


async def test_the_decider_rolls_a_bad_canary_back_and_drops_the_rest(
    fresh: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    decider = fresh.decider
    started, wave = await carry(decider, monkeypatch, canary_after=0.5)
    assert {d.evidence["rollback_of"] for d in started} == {d.id for d in wave.canary}
    assert all(d.capacity_to == "5G" for d in started)
    for d in wave.held:
        outcome = decider.journal.outcome(d.id)
        assert outcome.state is OutcomeState.DENIED
        assert outcome.detail.startswith("rolled back: the canary did worse (thp_dl x0.500")
        assert decider.capacity[d.target] == "5G"
    undo = started[0]
    assert decider.journal.outcome(undo.id) is not None  # journalled before it is enacted
