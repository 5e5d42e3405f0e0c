"""SIGKILL in the middle of an enactment, then a restart: the enactment finishes exactly once.

The package step is held in the middle by a real git pre-receive hook in the deployment
repository, which blocks the first push; the rApp is killed while that push hangs.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from rapp.store import Journal
from simulators.a1pms import create_app as a1pms_app
from simulators.broker import Broker
from simulators.nephio import seed_repository
from tests.conftest import free_port, serve
from tests.e2e_support import a1_policy_ids, tags_of, workspace_of

pytestmark = pytest.mark.e2e

SITES = [f"site-{i:02d}" for i in range(1, 11)]
ROOT = Path(__file__).parents[1]


def hold_first_push(repo: Path, marker: Path) -> None:
    hook = repo / "hooks" / "pre-receive"
    hook.write_text(f'#!/bin/sh\nif [ ! -e "{marker}" ]; then touch "{marker}"; sleep 600; fi\n')
    hook.chmod(0o755)


def start_rapp(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", "rapp", "serve"],
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
        cwd=ROOT,
        env={**os.environ, **env, "PYTHONUNBUFFERED": "1"},
    )


def wait(predicate, timeout: float, what: str, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.5)
    pytest.fail(f"timed out waiting for {what}; rApp log:\n{log.read_text()[-4000:]}")


def test_sigkill_mid_enactment_then_restart_finishes_it_exactly_once(tmp_path: Path):
    repo = tmp_path / "deployment.git"
    seed_repository(repo, [f"free5gc-upf-{s}" for s in SITES])
    marker = tmp_path / "push-started"
    hold_first_push(repo, marker)
    log = tmp_path / "rapp.log"
    api = free_port()

    with Broker(log_file=tmp_path / "broker.log") as broker, serve(a1pms_app()) as a1pms:
        env = {
            "RAPP_KAFKA__BOOTSTRAP": broker.bootstrap,
            "RAPP_A1__URL": a1pms,
            "RAPP_NEPHIO__REMOTE": str(repo),
            "RAPP_NEPHIO__WORKDIR": str(tmp_path / "work"),
            "RAPP_STORE__URL": f"sqlite:///{tmp_path / 'rapp.sqlite'}",
            "RAPP_ENACT__SYSTEM_DATABASE_URL": f"sqlite:///{tmp_path / 'dbos.sqlite'}",
            "RAPP_API__PORT": str(api),
        }
        o1 = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "simulators.o1",
                "--bootstrap",
                broker.bootstrap,
                "--topic",
                "pmreports",
                "--speed",
                "900",
                "--backfill",
                "2d",
            ],
            stdout=(tmp_path / "o1.log").open("wb"),
            stderr=subprocess.STDOUT,
            cwd=ROOT,
        )
        rapp = start_rapp(env, log)
        try:
            wait(marker.exists, 120, "the first package push", log)
            time.sleep(0.5)
            rapp.send_signal(signal.SIGKILL)
            rapp.wait(timeout=10)

            journal = Journal(env["RAPP_STORE__URL"])
            in_flight = [
                r for r in journal.decisions(limit=1000) if r["outcome"]["state"] == "pending"
            ]
            assert in_flight, "the kill should have left an enactment in flight"
            held = in_flight[0]["id"]

            rapp = start_rapp(env, log)

            def finished() -> bool:
                outcome = journal.outcome(held)
                return outcome is not None and outcome.state.value != "pending"

            wait(finished, 120, f"decision {held} to finish after the restart", log)
            outcome = journal.outcome(held)
            assert outcome is not None
            assert outcome.state.value == "enacted", outcome
            journal.close()
        finally:
            for proc in (rapp, o1):
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT if proc is rapp else signal.SIGTERM)
                    try:
                        proc.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        proc.kill()
            # Release a push still parked in the hook, whoever owns it.
            subprocess.run(["pkill", "-f", f"{marker}"], check=False)

        target_tags = {
            t: workspace_of(repo, t) for s in SITES for t in tags_of(repo, f"free5gc-upf-{s}")
        }
        per_workspace = Counter(ws for ws in target_tags.values() if ws and ws.startswith("rapp-"))
        assert per_workspace[f"rapp-{held}"] == 1
        assert all(n == 1 for n in per_workspace.values()), per_workspace
        assert outcome.package_revision in target_tags

        policies = a1_policy_ids(a1pms)
        assert len(policies) == len(set(policies))
        assert outcome.a1_policy_id in policies
        assert (
            httpx.get(f"{a1pms}/a1-policy-management/v1/policies/{outcome.a1_policy_id}").json()[
                "statement"
            ]["decisionId"]
            != ""
        )
