"""The A1-PMS down for a minute (issue 6): no decision is lost, each waits durably, and the
backlog drains after recovery in order per target. Real processes: the A1-PMS simulator
killed and started again on the same port, DBOS on SQLite, real git."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from dbos import DBOS

from rapp.config import A1Settings, EnactSettings, NephioSettings
from rapp.domain import Action, Decision, OutcomeState
from rapp.enact import Enactor, launch, shutdown
from rapp.store import Journal
from simulators.nephio import seed_repository
from tests.conftest import free_port, poll
from tests.e2e_support import tags_of

ROOT = Path(__file__).resolve().parents[1]
OUTAGE_S = float(os.environ.get("RAPP_TEST_A1_OUTAGE_S", "60"))
TARGETS = ["free5gc-upf-site-21", "free5gc-upf-site-22"]
# Each step starts where the one before left the package: out of order, one would be stale.
STEPS = [("5G", "10G"), ("10G", "20G"), ("20G", "10G")]


class A1pms:
    """The simulator as its own process, on a fixed port, that can go down and come back."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "simulators.a1pms", "--port", str(self.port)],
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            poll(lambda: _up(f"{self.url}/a1-policy-management/v1/status"), 30)
        except BaseException:
            self.kill()
            raise

    def kill(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
            self.proc = None


@pytest.fixture
def a1pms() -> Iterator[A1pms]:
    sim = A1pms(free_port())
    sim.start()
    yield sim
    sim.kill()


def _up(url: str) -> bool:
    try:
        return httpx.get(url).is_success
    except httpx.HTTPError:
        return False


def test_a_minute_without_the_a1pms_loses_nothing_and_drains_in_order(
    tmp_path: Path, a1pms: A1pms
) -> None:
    repo = tmp_path / "deployment.git"
    seed_repository(repo, TARGETS)
    journal = Journal(f"sqlite:///{tmp_path / 'journal.sqlite'}")
    launch(EnactSettings(system_database_url=f"sqlite:///{tmp_path / 'dbos.sqlite'}"))
    try:
        enactor = Enactor(
            a1=A1Settings(url=a1pms.url, outage_wait_s=600),
            nephio=NephioSettings(remote=str(repo), workdir=tmp_path / "work"),
            journal=journal,
            name="outage-enactor",
        )
        decisions = [
            Decision.new(
                Action.SCALE_OUT if frm < to or to == "20G" else Action.SCALE_IN,
                target,
                ["c1"],
                datetime(2026, 11, 24, 9 + k, tzinfo=UTC),
                frm,
                to,
                {"forecast_max": 91.0},
            )
            for target in TARGETS
            for k, (frm, to) in enumerate(STEPS)
        ]
        for d in decisions:
            journal.record_decision(d)
        a1pms.kill()
        assert not _up(f"{a1pms.url}/a1-policy-management/v1/status")

        async def run() -> list[dict]:
            for d in decisions:
                await enactor.start(d)
            await asyncio.sleep(OUTAGE_S)
            # Down all along: nothing is decided yet, nothing failed.
            assert all(journal.outcome(d.id) is None for d in decisions)
            await asyncio.to_thread(a1pms.start)
            handles = [await DBOS.retrieve_workflow_async(d.id) for d in decisions]
            return [await h.get_result() for h in handles]

        started = time.monotonic()
        outcomes = asyncio.run(run())
        assert time.monotonic() - started >= OUTAGE_S
    finally:
        shutdown()
    assert [o["state"] for o in outcomes] == ["enacted"] * len(decisions), [
        (o["decision_id"], o["detail"]) for o in outcomes if o["state"] != "enacted"
    ]
    for target in TARGETS:
        # One revision per decision, in the decisions' order (10G, 20G, then 10G again).
        assert tags_of(repo, target) == [f"{target}/v{n}" for n in range(1, 5)]
        mine = [d for d in decisions if d.target == target]
        policy = httpx.get(f"{a1pms.url}/a1-policy-management/v1/policies/rapp-{target}").json()
        assert policy["statement"]["decisionId"] == mine[-1].id
        assert policy["statement"]["capacity"] == "10G"
    assert all(journal.outcome(d.id).state is OutcomeState.ENACTED for d in decisions)
    journal.close()
