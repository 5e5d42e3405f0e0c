"""SIGKILL in the middle of an enactment, then a restart: the enactment finishes exactly once.

The package step is held in the middle by a real git pre-receive hook in the deployment
repository, which blocks the first push; the rApp is killed while that push hangs.
"""

from __future__ import annotations

import contextlib
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
    """The first push waits in the hook, which leaves its pid in ``marker`` to be released by."""
    hook = repo / "hooks" / "pre-receive"
    hook.write_text(
        f'#!/bin/sh\nif [ ! -e "{marker}" ]; then echo $$ > "{marker}"; exec sleep 600; fi\n'
    )
    hook.chmod(0o755)


def release(marker: Path) -> None:
    """End the held hook (the push it holds then fails), so no process outlives the test."""
    with contextlib.suppress(OSError, ValueError):
        os.kill(int(marker.read_text()), signal.SIGTERM)


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
            wait(lambda: marker.exists() and marker.read_text().strip(), 120, "a held push", log)
            rapp.send_signal(signal.SIGKILL)
            rapp.wait(timeout=10)

            journal = Journal(env["RAPP_STORE__URL"])
            in_flight = [
                r for r in journal.decisions(limit=1000) if r["outcome"]["state"] == "pending"
            ]
            assert in_flight, "the kill should have left an enactment in flight"
            held = {r["id"]: r["target"] for r in in_flight}

            rapp = start_rapp(env, log)

            def finished() -> bool:
                outcomes = journal.outcomes(list(held))
                return len(outcomes) == len(held) and all(
                    o.state.value != "pending" for o in outcomes.values()
                )

            wait(finished, 120, f"decisions {sorted(held)} to finish after the restart", log)
            outcomes = journal.outcomes(list(held))
            assert {o.state.value for o in outcomes.values()} == {"enacted"}, outcomes

            target_tags = {
                t: workspace_of(repo, t) for s in SITES for t in tags_of(repo, f"free5gc-upf-{s}")
            }
            per_workspace = Counter(w for w in target_tags.values() if w and w.startswith("rapp-"))
            assert all(n == 1 for n in per_workspace.values()), per_workspace
            for decision_id, outcome in outcomes.items():
                assert per_workspace[f"rapp-{decision_id}"] == 1
                assert outcome.package_revision in target_tags

            # One A1 policy per target, carrying the held decision or a later enacted one of
            # the same target: never a second copy.
            policies = a1_policy_ids(a1pms)
            rows = journal.decisions(limit=1000)
            for decision_id, target in held.items():
                policy_id = outcomes[decision_id].a1_policy_id
                assert policies.count(policy_id) == 1
                body = httpx.get(f"{a1pms}/a1-policy-management/v1/policies/{policy_id}").json()
                enacted_here = {
                    r["id"]
                    for r in rows
                    if r["target"] == target and (r["outcome"] or {}).get("state") == "enacted"
                }
                assert body["statement"]["decisionId"] in enacted_here
            journal.close()
        finally:
            for proc in (rapp, o1):
                if proc.poll() is None:
                    proc.send_signal(signal.SIGINT if proc is rapp else signal.SIGTERM)
                    try:
                        proc.wait(timeout=30)
                    except subprocess.TimeoutExpired:
                        proc.kill()
            release(marker)
