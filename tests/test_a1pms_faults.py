"""The A1-PMS simulator's admin API over real HTTP: fault injection, RIC states, reset.

A1-PMS traffic goes through a client that checks every response against ``pms-api-v3.yaml``,
injected ones included; admin traffic (not in the spec) goes through a plain client.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from simulators.a1pms import create_app
from simulators.a1pms.config import RIC_STATES
from tests.conftest import serve
from tests.test_a1pms_simulator import BASE, SpecCheck, assert_problem, capacity_policy, load_spec

DROPPED = (httpx.RemoteProtocolError, httpx.ReadError)


@dataclass
class Sim:
    app: FastAPI
    a1: httpx.Client  # A1-PMS paths, spec-checked
    admin: httpx.Client  # /admin paths

    def fault(self, **spec: Any) -> dict[str, Any]:
        r = self.admin.post("/admin/faults", json=spec)
        assert r.status_code == 201, r.text
        return r.json()

    def pending(self) -> list[dict[str, Any]]:
        r = self.admin.get("/admin/faults")
        assert r.status_code == 200
        faults: list[dict[str, Any]] = r.json()["faults"]
        return faults


@pytest.fixture
def check(specs: Path) -> SpecCheck:
    return SpecCheck(load_spec(specs / "a1pms" / "pms-api-v3.yaml"))


@pytest.fixture
def sim(check: SpecCheck) -> Iterator[Sim]:
    app = create_app()
    with (
        serve(app) as url,
        httpx.Client(base_url=url + BASE, event_hooks={"response": [check.response]}) as a1,
        httpx.Client(base_url=url) as admin,
    ):
        yield Sim(app, a1, admin)


def assert_injected(response: httpx.Response, status: int) -> None:
    problem = assert_problem(response, status, "Injected")
    assert "injected" in problem["title"]
    assert problem["instance"] == response.request.url.path


# ------------------------------------------------------------------------------------------
# faults


def test_status_fault_hits_the_next_count_matching_requests(sim: Sim) -> None:
    posted = sim.fault(
        status=503,
        count=2,
        delay_s=0.0,
        path_prefix=f"{BASE}/policies",
        methods=["post", "PUT"],
        drop_connection=False,
    )
    assert posted == {
        "id": 1,
        "status": 503,
        "count": 2,
        "delay_s": 0.0,
        "path_prefix": f"{BASE}/policies",
        "methods": ["POST", "PUT"],
        "drop_connection": False,
    }
    # Neither the method nor the path matches: served, and the fault is not spent.
    assert sim.a1.get("/policies").status_code == 200
    assert sim.a1.put("/services", json={"serviceId": "rapp"}).status_code == 201
    assert sim.pending()[0]["count"] == 2

    assert_injected(sim.a1.post("/policies", json=capacity_policy("p1")), 503)
    assert sim.pending()[0]["count"] == 1
    assert_injected(sim.a1.put("/policies/p1", json=capacity_policy()["policyObject"]), 503)
    assert sim.pending() == []

    # Spent: the next request is served, and the faulted ones never reached the registry.
    assert sim.a1.post("/policies", json=capacity_policy("p1")).status_code == 201
    assert sim.a1.get("/policies/p1").json()["statement"]["capacity"] == "5G"


def test_faults_apply_oldest_first_one_per_request(sim: Sim) -> None:
    sim.fault(status=429, methods=["GET"])
    sim.fault(status=500, count=2)
    assert [f["id"] for f in sim.pending()] == [1, 2]
    assert_injected(sim.a1.get("/policies"), 429)
    assert_injected(sim.a1.get("/policies"), 500)
    assert_injected(sim.a1.get("/policies/nope"), 500)
    assert sim.a1.get("/policies").status_code == 200


def test_delay_alone_serves_the_request_late(sim: Sim) -> None:
    sim.fault(delay_s=0.3, methods=["POST"])
    started = time.monotonic()
    assert sim.a1.post("/policies", json=capacity_policy("p1")).status_code == 201
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    assert sim.a1.get("/policies/p1").status_code == 200
    assert time.monotonic() - started < 0.3


def test_delay_then_status(sim: Sim) -> None:
    sim.fault(status=503, delay_s=0.2)
    started = time.monotonic()
    assert_injected(sim.a1.get("/policy-types"), 503)
    assert time.monotonic() - started >= 0.2


def test_delay_makes_a_client_time_out(sim: Sim) -> None:
    sim.fault(delay_s=1.0)
    with pytest.raises(httpx.ReadTimeout):
        sim.a1.get("/policies", timeout=0.2)


def test_drop_connection_sends_no_response(sim: Sim) -> None:
    sim.fault(drop_connection=True, path_prefix=f"{BASE}/policies", methods=["POST"], count=2)
    for _ in range(2):
        with pytest.raises(DROPPED) as caught:
            sim.a1.post("/policies", json=capacity_policy("p1"))
        assert "without sending a response" in str(caught.value)
    assert sim.a1.get("/policies").json() == []
    assert sim.a1.post("/policies", json=capacity_policy("p1")).status_code == 201


def test_drop_connection_under_a_server_that_hides_its_transport(check: SpecCheck) -> None:
    # Any wrapper between uvicorn and the app hides the transport: the fault still drops.
    app = create_app()

    async def wrapper(scope: Any, receive: Any, send: Any) -> None:
        async def opaque_send(message: Any) -> None:
            await send(message)

        await app(scope, receive, opaque_send)

    with serve(wrapper) as url, httpx.Client(base_url=url) as c:
        assert c.post("/admin/faults", json={"drop_connection": True}).status_code == 201
        with pytest.raises(DROPPED):
            c.get(f"{BASE}/status")
        assert c.get(f"{BASE}/status").json() == {"status": "success"}


def test_list_and_clear_faults(sim: Sim) -> None:
    assert sim.pending() == []
    sim.fault(status=503, count=5)
    sim.fault(delay_s=0.1, path_prefix=f"{BASE}/services")
    assert [(f["id"], f["count"], f["methods"]) for f in sim.pending()] == [(1, 5, []), (2, 1, [])]
    cleared = sim.admin.delete("/admin/faults")
    assert cleared.status_code == 204
    assert cleared.content == b""
    assert sim.pending() == []
    assert sim.a1.get("/status").status_code == 200


def test_admin_paths_are_never_faulted(sim: Sim) -> None:
    sim.fault(status=503, path_prefix="/", count=3)
    assert sim.pending()[0]["count"] == 3  # admin requests did not spend it
    assert sim.admin.get("/admin/faults").status_code == 200
    assert_injected(sim.a1.get("/policies"), 503)
    assert_problem(sim.admin.get("/nowhere"), 503)  # any path under the prefix, routed or not
    assert sim.pending()[0]["count"] == 1


@pytest.mark.parametrize(
    ("spec", "detail_part"),
    [
        ({"status": 200}, "greater than or equal to 400"),
        ({"status": 600}, "less than or equal to 599"),
        ({"status": 503, "count": 0}, "count"),
        ({"delay_s": -1}, "delay_s"),
        ({"status": 503, "methods": ["FETCH"]}, "unknown HTTP methods"),
        ({"status": 503, "path_prefix": "policies"}, "path_prefix"),
        ({"status": 503, "path_prefix": "/admin/faults"}, "cannot be faulted"),
        ({"status": 503, "colour": "red"}, "colour"),
        ({}, "needs a status"),
        ({"status": 503, "drop_connection": True}, "either answers"),
        ([], "body"),
    ],
)
def test_bad_fault_is_a_bad_request(sim: Sim, spec: Any, detail_part: str) -> None:
    assert_problem(sim.admin.post("/admin/faults", json=spec), 400, detail_part)
    assert sim.pending() == []


# ------------------------------------------------------------------------------------------
# RIC state and reset


def test_ric_state_makes_423_reachable(sim: Sim) -> None:
    assert sim.a1.post("/policies", json=capacity_policy("p1")).status_code == 201
    r = sim.admin.put("/admin/rics/ric1/state", json={"state": "SYNCHRONIZING"})
    assert r.status_code == 200
    assert r.json()["state"] == "SYNCHRONIZING"
    assert sim.a1.get("/rics/ric1").json()["state"] == "SYNCHRONIZING"
    assert_problem(sim.a1.post("/policies", json=capacity_policy("p2")), 423, "locked")
    assert_problem(sim.a1.delete("/policies/p1"), 423)

    sim.admin.put("/admin/rics/ric1/state", json={"state": "AVAILABLE"})
    assert sim.a1.delete("/policies/p1").status_code == 204

    assert_problem(sim.admin.put("/admin/rics/nope/state", json={"state": "AVAILABLE"}), 404)
    assert_problem(sim.admin.put("/admin/rics/ric1/state", json={"state": "ASLEEP"}), 400)
    assert_problem(sim.admin.put("/admin/rics/ric1/state", json={}), 400)


def test_every_ric_state_can_be_set(sim: Sim) -> None:
    for state in RIC_STATES:
        r = sim.admin.put("/admin/rics/ric1/state", json={"state": state})
        assert r.json()["state"] == state
        assert sim.a1.get("/rics/ric1").json()["state"] == state


def test_reset_empties_policies_and_services(sim: Sim) -> None:
    assert sim.a1.put("/services", json={"serviceId": "rapp"}).status_code == 201
    for policy_id in ("p1", "p2"):
        assert sim.a1.post("/policies", json=capacity_policy(policy_id)).status_code == 201
    sim.admin.put("/admin/rics/ric1/state", json={"state": "CONSISTENCY_CHECK"})
    sim.fault(status=500, path_prefix=f"{BASE}/nothing")

    r = sim.admin.post("/admin/reset")
    assert r.status_code == 200
    assert r.json() == {"removedPolicies": 2, "removedServices": 1}
    assert sim.a1.get("/policies").json() == []
    assert sim.a1.get("/services").json() == {"serviceList": []}
    # RICs, their states and pending faults stay.
    assert sim.a1.get("/rics/ric1").json()["state"] == "CONSISTENCY_CHECK"
    assert len(sim.pending()) == 1
    assert sim.admin.post("/admin/reset").json() == {"removedPolicies": 0, "removedServices": 0}


def test_admin_api_is_documented_under_its_own_tag(sim: Sim) -> None:
    schema = sim.admin.get("/openapi.json").json()
    assert {t["name"] for t in schema["tags"]} == {"A1-PMS", "admin"}
    ops = {
        (method.upper(), path): op
        for path, item in schema["paths"].items()
        for method, op in item.items()
    }
    admin = {key for key, op in ops.items() if op["tags"] == ["admin"]}
    assert admin == {
        ("POST", "/admin/faults"),
        ("GET", "/admin/faults"),
        ("DELETE", "/admin/faults"),
        ("PUT", "/admin/rics/{ricId}/state"),
        ("POST", "/admin/rics/{ricId}/sync"),
        ("PUT", "/admin/policies/{policyId}/status"),
        ("POST", "/admin/reset"),
    }
    assert all(path.startswith(BASE) for (_, path) in set(ops) - admin)
    fault_schema = schema["components"]["schemas"]["FaultSpec"]["properties"]
    assert set(fault_schema) == {
        "status",
        "count",
        "delay_s",
        "path_prefix",
        "methods",
        "drop_connection",
    }
