"""`rapp demo` end to end: a real tansu broker, real HTTP servers on 127.0.0.1, a real bare git
repository, the rApp as its own process. Asserts the issue's acceptance points 1 and 4."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer

from tests.conftest import free_port
from tests.e2e_support import (
    a1_policy_ids,
    only_scaled_fields_differ,
    package_docs,
    tags_of,
    workspace_of,
)

pytestmark = pytest.mark.e2e

GARBAGE = b'{"event": {"commonEventHeader": {"domain": "perf3gpp"}, "perf3gppFields": 42}}'


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory):
    workdir = tmp_path_factory.mktemp("demo") / "var"
    ports = {"api": free_port(), "a1pms": free_port(), "kafka": free_port()}
    log = (workdir.parent / "demo.log").open("w")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "rapp",
            "demo",
            "--workdir",
            str(workdir),
            "--api-port",
            str(ports["api"]),
            "--a1pms-port",
            str(ports["a1pms"]),
            "--kafka-port",
            str(ports["kafka"]),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=Path(__file__).parents[1],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    yield {"proc": proc, "workdir": workdir, "log": workdir.parent / "demo.log", **ports}
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            # The supervisor stops its children one after the other, each given 15 s: killed
            # sooner, it would leave them running (they are in sessions of their own).
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
    log.close()


def decisions(api_port: int) -> list[dict]:
    try:
        return httpx.get(
            f"http://127.0.0.1:{api_port}/api/v1/decisions?limit=1000", timeout=5
        ).json()
    except httpx.HTTPError:
        return []


def wait_for(predicate, timeout: float, demo) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if demo["proc"].poll() is not None:
            pytest.fail(f"demo exited early:\n{demo['log'].read_text()[-3000:]}")
        if predicate():
            return
        time.sleep(1)
    pytest.fail(f"timed out; demo log:\n{demo['log'].read_text()[-3000:]}")


def state_of(row: dict) -> str | None:
    return (row.get("outcome") or {}).get("state")


def test_loop_enacts_and_denies_within_120s(demo):
    def scaling() -> list[dict]:
        # Heals have their own test; an enacted heal must not stand in for a scaling one.
        return [r for r in decisions(demo["api"]) if r["action"] != "heal"]

    wait_for(lambda: {"enacted", "denied"} <= {state_of(r) for r in scaling()}, 120, demo)
    rows = scaling()
    # The shipped champion (models/forecaster) decides, and each decision says so.
    assert {r["evidence"]["model"] for r in rows} == {"forecaster v1"}
    assert {r["evidence"]["quantile"] for r in rows} == {0.9}

    denied = next(r for r in rows if state_of(r) == "denied")
    assert denied["verdict"]["allow"] is False
    assert denied["verdict"]["reasons"]
    assert all(denied["verdict"]["reasons"])
    assert denied["outcome"]["detail"] == "; ".join(denied["verdict"]["reasons"])

    enacted = next(r for r in rows if state_of(r) == "enacted")
    # Every evaluation is in the decision log, in OPA's shape, found by the decision's id.
    [entry] = httpx.get(
        f"http://127.0.0.1:{demo['api']}/api/v1/policies/decisions",
        params={"decision_id": enacted["id"]},
    ).json()
    assert entry["result"]["allow"] is True
    assert entry["input"]["decision"]["id"] == enacted["id"]
    assert entry["bundles"]["rapp"]["revision"] == enacted["verdict"]["policy_revision"]
    a1pms = f"http://127.0.0.1:{demo['a1pms']}"
    assert enacted["outcome"]["a1_policy_id"] in a1_policy_ids(a1pms)
    policy = httpx.get(
        f"{a1pms}/a1-policy-management/v1/policies/{enacted['outcome']['a1_policy_id']}"
    ).json()
    assert policy["scope"]["nfId"] == enacted["target"]

    repo = demo["workdir"] / "nephio" / "deployment.git"
    tag = enacted["outcome"]["package_revision"]
    package, _, version = tag.rpartition("/v")
    assert tag in tags_of(repo, package)
    assert workspace_of(repo, tag) == f"rapp-{enacted['id']}"
    previous = f"{package}/v{int(version) - 1}"
    assert only_scaled_fields_differ(repo, package, previous, tag) == []
    capacity = next(
        doc
        for (_, key), doc in package_docs(repo, tag, package).items()
        if key.startswith("Capacity/")
    )
    assert capacity["spec"]["maxDownlinkThroughput"] == enacted["capacity_to"]

    # A denied target was left alone: no policy for it, no revision past the seed.
    if not any(state_of(r) == "enacted" for r in rows if r["target"] == denied["target"]):
        assert f"rapp-{denied['target']}" not in a1_policy_ids(a1pms)
        assert tags_of(repo, denied["target"]) == [f"{denied['target']}/v1"]


def test_a_sleeping_cell_is_found_and_handed_to_the_near_rt_ric_to_heal(demo):
    """The demo network lets one cell fall asleep every six simulated hours (24 s at 900x);
    the shipped detector (models/detector, trained on that network) finds it with no alarm to
    help, the heal goes out over A1, without touching any package, and is withdrawn once the
    cell is awake again."""

    def heals() -> list[dict]:
        return [
            r
            for r in decisions(demo["api"])
            if r["action"] == "heal" and state_of(r) in {"enacted", "compensated", "failed"}
        ]

    wait_for(lambda: bool(heals()), 150, demo)
    heal = heals()[0]
    assert state_of(heal) == "enacted", heal["outcome"]
    assert heal["verdict"]["allow"] is True
    assert heal["evidence"]["model"] == "detector v1"
    assert heal["evidence"]["kinds"] == ["sleeping_cell"]
    assert (heal["capacity_from"], heal["capacity_to"]) == ("", "")
    [cell] = heal["cells"]
    gnb = cell.split("ManagedElement=")[1].split(",")[0]
    assert heal["target"] == f"du-{gnb}"
    assert [i["cell"] for i in heal["evidence"]["incidents"]] == [cell]

    assert heal["outcome"]["package_revision"] is None

    # A heal's policy lives while its cell sleeps: catch one in force (an earlier one may be
    # withdrawn already, or replaced by a later heal of the same DU), read it, see it go.
    a1pms = f"http://127.0.0.1:{demo['a1pms']}/a1-policy-management/v1/policies"
    live: list[tuple[dict, dict]] = []

    def in_force() -> bool:
        for h in heals():
            r = httpx.get(f"{a1pms}/{h['outcome']['a1_policy_id']}")
            if r.status_code == 200 and r.json()["statement"]["decisionId"] == h["id"]:
                live.append((h, r.json()))
                return True
        return False

    wait_for(in_force, 150, demo)
    heal, policy = live[-1]
    assert policy["scope"] == {"nfId": heal["target"], "cellIdList": heal["cells"]}
    assert policy["statement"]["action"] == "heal"
    assert policy["statement"]["incidentKinds"] == ["sleeping_cell"]

    # The cell wakes after six ROPs; once its incident has closed, the heal is withdrawn.
    url = f"{a1pms}/{heal['outcome']['a1_policy_id']}"
    wait_for(lambda: httpx.get(url).status_code == 404, 90, demo)


def test_malformed_record_goes_to_dead_letters_and_the_loop_goes_on(demo):
    wait_for(lambda: decisions(demo["api"]), 120, demo)
    bootstrap = f"127.0.0.1:{demo['kafka']}"

    async def inject_and_read() -> list:
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
        await producer.start()
        try:
            await producer.send_and_wait("pmreports", GARBAGE, key=b"gnb-bad")
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(
            "pmreports.dlq",
            bootstrap_servers=bootstrap,
            auto_offset_reset="earliest",
            group_id=None,
        )
        await consumer.start()
        try:
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                batch = await consumer.getmany(timeout_ms=1000)
                found = [r for rs in batch.values() for r in rs if r.value == GARBAGE]
                if found:
                    return found
            return []
        finally:
            await consumer.stop()

    [dead] = asyncio.run(inject_and_read())
    headers = dict(dead.headers)
    assert headers["rapp-dlq-reason"]
    assert headers["rapp-source-topic"] == b"pmreports"
    seen = len(decisions(demo["api"]))
    wait_for(lambda: len(decisions(demo["api"])) > seen, 60, demo)
    metrics = httpx.get(f"http://127.0.0.1:{demo['api']}/metrics/", timeout=5).text
    assert "rapp_dead_letters_total 1.0" in metrics


def test_ctrl_c_stops_every_process(demo):
    wait_for(lambda: decisions(demo["api"]), 120, demo)
    demo["proc"].send_signal(signal.SIGINT)
    assert demo["proc"].wait(timeout=40) == 0
    for port in (demo["api"], demo["a1pms"], demo["kafka"]):
        with pytest.raises(httpx.ConnectError):
            httpx.get(f"http://127.0.0.1:{port}/", timeout=2)
