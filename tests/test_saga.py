"""The enactment saga on a real DBOS (SQLite), a real A1-PMS simulator and real git repos:
each way it can end, and what it leaves behind at the A1-PMS and in the repository."""

from __future__ import annotations

import asyncio
import itertools
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from dbos import DBOS

from rapp.config import A1Settings, EnactSettings, NephioSettings
from rapp.domain import Action, Decision, OutcomeState
from rapp.enact import Enactor, launch, shutdown
from rapp.enact.desired import StaleDecision, scale_package
from rapp.enact.mutations import Mutations
from rapp.enact.nephio import GitPackageRepo
from rapp.enact.packages import read_capacity
from rapp.store import Journal
from simulators.a1pms import create_app as a1pms_app
from simulators.nephio import load_blueprint, seed_repository
from tests.conftest import serve
from tests.e2e_support import tags_of, workspace_of

_names = itertools.count()
TARGET = "free5gc-upf-site-03"


@pytest.fixture
def dbos(tmp_path: Path) -> Iterator[None]:
    # A system database per test: decision ids are deterministic, so tests would share workflows.
    launch(EnactSettings(system_database_url=f"sqlite:///{tmp_path / 'dbos.sqlite'}"))
    yield
    shutdown()


@pytest.fixture
def a1pms() -> Iterator[str]:
    with serve(a1pms_app()) as url:
        yield url


@dataclass
class World:
    repo: Path
    a1pms: str
    journal: Journal
    workdir: Path

    def enactor(self, enact: EnactSettings | None = None, **a1: str) -> Enactor:
        # DBOS names each instance for recovery: a fresh name per enactor in this process.
        return Enactor(
            a1=A1Settings(url=self.a1pms, **a1),
            nephio=NephioSettings(remote=str(self.repo), workdir=self.workdir),
            journal=self.journal,
            enact=enact,
            name=f"enactor-{next(_names)}",
        )


@pytest.fixture
def world(tmp_path: Path, a1pms: str, dbos: None) -> Iterator[World]:
    repo = tmp_path / "deployment.git"
    seed_repository(repo, [TARGET])
    journal = Journal(f"sqlite:///{tmp_path / 'journal.sqlite'}")
    yield World(repo, a1pms, journal, tmp_path / "work")
    journal.close()


def decision(target: str = TARGET, frm: str = "5G", to: str = "10G", hour: int = 9) -> Decision:
    return Decision.new(
        Action.SCALE_OUT if to != "2500M" else Action.SCALE_IN,
        target,
        ["SubNetwork=site-03,ManagedElement=gnb-0011,GNBDUFunction=1,NRCellDU=1"],
        datetime(2026, 11, 24, hour, tzinfo=UTC),
        frm,
        to,
        {"kpi": "prb_util_dl", "quantile": 0.9, "forecast_max": 91.0},
    )


def enact(enactor: Enactor, d: Decision) -> dict:
    return asyncio.run(_enact(enactor, d))


async def _enact(enactor: Enactor, d: Decision) -> dict:
    await enactor.start(d)
    handle = await DBOS.retrieve_workflow_async(d.id)
    return await handle.get_result()


def a1_policy(a1pms: str, policy_id: str) -> dict | None:
    r = httpx.get(f"{a1pms}/a1-policy-management/v1/policies/{policy_id}")
    return r.json() if r.status_code == 200 else None


def test_enacted_sets_the_policy_and_publishes_one_revision(world):
    d = decision()
    enactor = world.enactor()
    outcome = enact(enactor, d)
    assert outcome["state"] == "enacted"
    assert outcome["package_revision"] == f"{TARGET}/v2"
    assert outcome["detail"] == f"{TARGET}: capacity 5G -> 10G; A1 ENFORCED"  # read back
    assert a1_policy(world.a1pms, f"rapp-{TARGET}")["statement"]["decisionId"] == d.id
    assert world.journal.outcome(d.id).state is OutcomeState.ENACTED
    again = enact(enactor, d)  # same id: the same workflow, not a second enactment
    assert again["package_revision"] == f"{TARGET}/v2"
    assert tags_of(world.repo, TARGET) == [f"{TARGET}/v1", f"{TARGET}/v2"]


def test_package_failure_removes_a_policy_that_did_not_exist(world):
    d = decision(target="free5gc-upf-site-99")  # no such package in the repository
    outcome = enact(world.enactor(), d)
    assert outcome["state"] == "compensated"
    assert "package step failed" in outcome["detail"]
    assert "A1 policy removed" in outcome["detail"]
    assert a1_policy(world.a1pms, "rapp-free5gc-upf-site-99") is None


def test_stale_decision_restores_the_previous_policy(world):
    enactor = world.enactor()
    first = decision()
    assert enact(enactor, first)["state"] == "enacted"  # package now at 10G, policy says first
    stale = decision(frm="5G", to="2500M", hour=10)  # planned from 5G, but the package is at 10G
    outcome = enact(enactor, stale)
    assert outcome["state"] == "compensated"
    assert "planned from 5G" in outcome["detail"]
    assert a1_policy(world.a1pms, f"rapp-{TARGET}")["statement"]["decisionId"] == first.id
    assert tags_of(world.repo, TARGET) == [f"{TARGET}/v1", f"{TARGET}/v2"]


def test_a1_refusal_changes_nothing_and_says_so(world):
    outcome = enact(world.enactor(policy_type_id="NO_SUCH_TYPE_1.0.0"), decision())
    assert outcome["state"] == "failed"
    assert "A1 policy not applied" in outcome["detail"]
    assert tags_of(world.repo, TARGET) == [f"{TARGET}/v1"]


def test_a_heal_is_an_a1_policy_of_the_healing_type_and_no_package_revision(world):
    capacity = decision()
    heal = Decision.new(
        Action.HEAL,
        "du-gnb-0011",
        capacity.cells,
        capacity.rop,
        "",
        "",
        {"incidents": [{"cell": capacity.cells[0]}], "kinds": ["sleeping_cell"]},
    )
    enactor = world.enactor()
    assert enact(enactor, capacity)["state"] == "enacted"
    outcome = enact(enactor, heal)
    assert outcome["state"] == "enacted"
    assert outcome["a1_policy_id"] == "rapp-heal-du-gnb-0011"
    assert outcome["package_revision"] is None
    r = httpx.get(f"{world.a1pms}/a1-policy-management/v1/policies/rapp-heal-du-gnb-0011")
    assert r.json() == {
        "scope": {"nfId": "du-gnb-0011", "cellIdList": list(capacity.cells)},
        "statement": {"action": "heal", "decisionId": heal.id, "incidentKinds": ["sleeping_cell"]},
    }
    typed = httpx.get(
        f"{world.a1pms}/a1-policy-management/v1/policies",
        params={"policyTypeId": "RAPP_HEALING_1.0.0"},
    ).json()
    assert [p["policyId"] for p in typed] == ["rapp-heal-du-gnb-0011"]
    # The healing policy is its own: the capacity guidance and the package are untouched.
    assert a1_policy(world.a1pms, f"rapp-{TARGET}")["statement"]["decisionId"] == capacity.id
    assert tags_of(world.repo, TARGET) == [f"{TARGET}/v1", f"{TARGET}/v2"]


def test_scale_package_scales_uplink_by_the_same_ratio_and_detects_staleness():
    files, mutations = load_blueprint(), Mutations(NephioSettings().mutations)
    scaled = scale_package(files, decision(frm="5G", to="10G"), mutations)
    assert read_capacity(scaled).max_downlink == "10G"
    assert read_capacity(scaled).max_uplink == "10G"
    assert scale_package(scaled, decision(frm="5G", to="10G"), mutations) is scaled  # there
    with pytest.raises(StaleDecision, match="holds 10G"):
        scale_package(scaled, decision(frm="20G", to="40G"), mutations)


def test_a_policy_the_ric_does_not_enforce_is_undone_before_the_package_changes(world):
    d = decision()
    refused = {"enforceStatus": "NOT_ENFORCED", "enforceReason": "STATEMENT_NOT_APPLICABLE"}
    httpx.put(f"{world.a1pms}/admin/policies/rapp-{TARGET}/status", json=refused).raise_for_status()
    outcome = enact(world.enactor(), d)
    assert outcome["state"] == "compensated"
    assert outcome["detail"] == (
        "the Near-RT RIC does not enforce the A1 policy (STATEMENT_NOT_APPLICABLE); "
        "A1 policy removed"
    )
    assert outcome["package_revision"] is None
    assert a1_policy(world.a1pms, f"rapp-{TARGET}") is None
    assert tags_of(world.repo, TARGET) == [f"{TARGET}/v1"]
    assert world.journal.outcome(d.id).state is OutcomeState.COMPENSATED


def heal(target: str = "du-gnb-0011", hour: int = 9) -> Decision:
    cell = "SubNetwork=site-03,ManagedElement=gnb-0011,GNBDUFunction=1,NRCellDU=1"
    return Decision.new(
        Action.HEAL,
        target,
        [cell],
        datetime(2026, 11, 24, hour, tzinfo=UTC),
        "",
        "",
        {"kinds": ["sleeping_cell"], "incidents": [{"cell": cell, "kind": "sleeping_cell"}]},
    )


def test_a_heal_policy_is_withdrawn_after_its_heal_once_the_incidents_close(world):
    enactor = world.enactor()
    d = heal()

    async def heal_then_withdraw() -> bool:
        # Queued back to back: the withdrawal waits for the heal on the target's queue.
        await enactor.start(d)
        await enactor.withdraw_heal(d.target, d.rop)
        await (await DBOS.retrieve_workflow_async(d.id)).get_result()
        handle = await DBOS.retrieve_workflow_async(
            "withdraw-rapp-heal-du-gnb-0011-20261124T090000Z"
        )
        return await handle.get_result()

    assert asyncio.run(heal_then_withdraw()) is True
    assert world.journal.outcome(d.id).state is OutcomeState.ENACTED
    assert a1_policy(world.a1pms, "rapp-heal-du-gnb-0011") is None

    async def withdraw_again() -> bool:
        await enactor.withdraw_heal(d.target, datetime(2026, 11, 24, 10, tzinfo=UTC))
        handle = await DBOS.retrieve_workflow_async(
            "withdraw-rapp-heal-du-gnb-0011-20261124T100000Z"
        )
        return await handle.get_result()

    assert asyncio.run(withdraw_again()) is False  # gone already: nothing to do


def test_a_dry_run_reads_and_checks_everything_and_changes_nothing(world):
    outcome = enact(world.enactor(EnactSettings(mode="dry-run")), decision())
    assert outcome["state"] == "dry-run"
    assert outcome["detail"] == (
        f"dry run: would create A1 policy rapp-{TARGET}; would publish {TARGET} 5G -> 10G "
        "(capacity.yaml, upfdeployment.yaml)"
    )
    assert a1_policy(world.a1pms, f"rapp-{TARGET}") is None
    assert tags_of(world.repo, TARGET) == [f"{TARGET}/v1"]
    assert world.journal.outcome(decision().id).state is OutcomeState.DRY_RUN


def test_a_dry_run_reports_what_would_fail_without_failing(world):
    enactor = world.enactor(EnactSettings(mode="dry-run"))
    bad = decision(frm="20G", to="40G")  # the package holds 5G: stale
    assert enact(enactor, bad)["detail"].startswith("dry run: would fail: ")
    assert "planned from 20G" in world.journal.outcome(bad.id).detail
    cellless = Decision.new(Action.SCALE_OUT, TARGET, [], decision(hour=11).rop, "5G", "10G")
    detail = enact(enactor, cellless)["detail"]
    assert detail.startswith(f"dry run: would fail: A1 policy rapp-{TARGET} does not fit type")
    assert "/scope/cellIdList" in detail
    assert tags_of(world.repo, TARGET) == [f"{TARGET}/v1"]


def refuse_after_publish(repo: Path, a1pms: str, policy_id: str, marker: Path) -> None:
    """A git hook that, on the first push, has the Near-RT RIC stop enforcing the policy: the
    status read before the package step says ENFORCED, the one after it NOT_ENFORCED."""
    script = marker.with_suffix(".py")
    script.write_text(
        "import httpx\n"
        f"httpx.put({a1pms!r} + '/admin/policies/{policy_id}/status',\n"
        "    json={'enforceStatus': 'NOT_ENFORCED', 'enforceReason': 'OTHER_REASON'},\n"
        ").raise_for_status()\n"
    )
    hook = repo / "hooks" / "post-receive"
    hook.write_text(
        f"#!/bin/sh\n[ -e '{marker}' ] && exit 0\ntouch '{marker}'\n"
        f"exec '{sys.executable}' '{script}'\n"
    )
    hook.chmod(0o755)


def test_a_change_refused_after_the_package_step_is_reverted_by_a_new_revision(world, tmp_path):
    refuse_after_publish(world.repo, world.a1pms, f"rapp-{TARGET}", tmp_path / "refused")
    d = decision()
    outcome = enact(world.enactor(), d)
    assert outcome["state"] == "compensated"
    assert "does not enforce the A1 policy (OTHER_REASON)" in outcome["detail"]
    assert f"revision {TARGET}/v2 reverted by {TARGET}/v3" in outcome["detail"]
    assert "A1 policy removed" in outcome["detail"]
    # Published revisions are never rewritten: v2 stays, v3 puts the capacity back.
    assert tags_of(world.repo, TARGET) == [f"{TARGET}/v1", f"{TARGET}/v2", f"{TARGET}/v3"]
    assert workspace_of(world.repo, f"{TARGET}/v3") == f"rapp-{d.id}-revert"
    files = GitPackageRepo(str(world.repo), tmp_path / "check").read(TARGET)
    assert read_capacity(files) == read_capacity(load_blueprint())
    assert a1_policy(world.a1pms, f"rapp-{TARGET}") is None


def test_an_open_circuit_makes_decisions_wait_and_they_go_through_after(world):
    # The A1-PMS fails the next 6 policy reads; the circuit opens after 2 and probes 1 s later.
    httpx.post(
        f"{world.a1pms}/admin/faults",
        json={"status": 503, "count": 6, "path_prefix": "/a1-policy-management/v1/policies"},
    ).raise_for_status()
    enactor = world.enactor(EnactSettings(breaker_threshold=2, breaker_cooldown_s=1.0))
    outcome = enact(enactor, decision())
    assert outcome["state"] == "enacted"
    breaker = enactor.breakers["A1-PMS"]
    assert breaker.opened >= 1
    assert breaker.state.value == "closed"
    left = httpx.get(f"{world.a1pms}/admin/faults").json()["faults"]
    assert sum(f["count"] for f in left) == 0


def test_a_pending_decision_started_in_shadow_mode_touches_no_peer(world):
    outcome = enact(world.enactor(EnactSettings(mode="shadow")), decision())
    assert (outcome["state"], outcome["detail"]) == ("shadow", "shadow mode: not enacted")
    assert a1_policy(world.a1pms, f"rapp-{TARGET}") is None
    assert tags_of(world.repo, TARGET) == [f"{TARGET}/v1"]
