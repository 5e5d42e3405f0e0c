"""The A1-PMS simulator in front of a Near-RT RIC simulator over A1-P v2.0.0, on real sockets.

The RIC is configured by URL; everything goes through the A1-PMS v3 API (checked against
``pms-api-v3.yaml``) and is looked at on the RIC directly. Every A1-P exchange the A1-PMS simulator
has with the RIC is checked against ``ORAN_A1-p_V2.0.0_api.yaml``, both directions.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_core import OpenAPI

from rapp.enact.a1 import A1Client, A1Policy
from simulators.a1pms import Problem, Registry, SimulatorConfig, create_app
from simulators.a1pms.config import parse_ric_url
from simulators.a1pms.southbound import RicRefused, RicUnreachable
from simulators.nearrtric import create_app as create_ric
from simulators.process import start_simulator
from tests.conftest import serve
from tests.test_a1pms_simulator import BASE, SpecCheck, assert_problem, load_spec
from tests.test_nearrtric import A1P, STD_1, STD_POLICY, A1PCheck, Recorder

CAPACITY = "RAPP_CAPACITY_1.0.0"


def capacity(decision: str = "d1", size: str = "5G") -> dict[str, Any]:
    return {
        "scope": {"nfId": "upf-site-03", "cellIdList": ["cell-1"]},
        "statement": {"action": "scale_out", "capacity": size, "decisionId": decision},
    }


class CheckedTransport(httpx.AsyncBaseTransport):
    """The rApp client's transport, checking each request and answer against the v3 spec."""

    def __init__(self, check: SpecCheck) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self._check = check

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._check.request(request)
        response = await self._inner.handle_async_request(request)
        response.request = request
        await self._check.aresponse(response)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


@dataclass
class Setup:
    pms: httpx.Client
    """The A1-PMS v3 API of the A1-PMS simulator (responses checked against the v3 spec)."""
    ric: httpx.Client
    """The Near-RT RIC simulator itself: A1-P and its admin API."""
    pms_url: str
    ric_url: str
    recorder: Recorder
    v3: SpecCheck
    stop_ric: Callable[[], None]
    """Stop the RIC's server now (its port is free again afterwards)."""


@pytest.fixture
def a1p_spec(specs: Path) -> OpenAPI:
    return load_spec(specs / "a1p" / "ORAN_A1-p_V2.0.0_api.yaml")


@contextmanager
def fronting(
    specs: Path, a1p_spec: OpenAPI, *, prepare: Callable[[httpx.Client], None] | None = None
) -> Iterator[Setup]:
    """A RIC, then an A1-PMS simulator with ``ric1`` in memory and ``ric2`` at the RIC's URL."""
    recorder = Recorder(create_ric())
    v3 = SpecCheck(load_spec(specs / "a1pms" / "pms-api-v3.yaml"))
    with ExitStack() as ric_server, ExitStack() as rest:
        ric_url = ric_server.enter_context(serve(recorder))
        ric = rest.enter_context(httpx.Client(base_url=ric_url))
        if prepare is not None:
            prepare(ric)
        config = SimulatorConfig.from_dict(
            {
                "rics": [
                    {"ricId": "ric1", "policyTypes": [STD_1]},
                    {"ricId": "ric2", "baseUrl": ric_url, "managedElementIds": ["upf-site-03"]},
                ],
                "resyncIntervalSeconds": 0,  # re-synchronise on the first call that needs it
                "a1pTimeoutSeconds": 2,
            }
        )
        app = create_app(config)
        rest.callback(app.state.registry.close)
        pms_url = rest.enter_context(serve(app))
        pms = rest.enter_context(
            httpx.Client(base_url=pms_url + BASE, event_hooks={"response": [v3.response]})
        )
        yield Setup(pms, ric, pms_url, ric_url, recorder, v3, ric_server.close)
    assert v3.responses > 0
    southbound = A1PCheck(a1p_spec)
    for exchange in recorder.exchanges:
        southbound.response(exchange)
    assert southbound.checked > 0
    assert southbound.deviations == []


@pytest.fixture
def setup(specs: Path, a1p_spec: OpenAPI) -> Iterator[Setup]:
    with fronting(specs, a1p_spec) as s:
        yield s


def ric_policy(s: Setup, policy_id: str, type_id: str = CAPACITY) -> httpx.Response:
    return s.ric.get(f"{A1P}/policytypes/{type_id}/policies/{policy_id}")


def create(s: Setup, policy_id: str, body: dict[str, Any], **extra: Any) -> httpx.Response:
    info = {
        "policyId": policy_id,
        "nearRtRicId": "ric2",
        "policyTypeId": CAPACITY,
        "serviceId": "rapp",
        "policyObject": body,
        **extra,
    }
    return s.pms.post("/policies", json=info)


# ------------------------------------------------------------------------------------------


def test_types_are_discovered_and_the_ric_is_synchronised(specs: Path, a1p_spec: OpenAPI) -> None:
    def prepare(ric: httpx.Client) -> None:
        # A type only the RIC knows, and a policy A1-PMS does not know (A1-PMS deletes it).
        own = {"policySchema": {"type": "object", "required": ["x"]}}
        assert ric.put("/admin/policytypes/RIC_ONLY_1.0.0", json=own).status_code == 201
        assert ric.put(f"{A1P}/policytypes/{STD_1}/policies/stray", json=STD_POLICY).is_success

    with fronting(specs, a1p_spec, prepare=prepare) as s:
        ric2 = s.pms.get("/rics/ric2").json()
        assert ric2["state"] == "AVAILABLE"
        assert ric2["managedElementIds"] == ["upf-site-03"]
        assert ric2["policyTypeIds"] == s.ric.get(f"{A1P}/policytypes").json()
        assert "RIC_ONLY_1.0.0" in ric2["policyTypeIds"]
        assert s.pms.get("/rics/ric1").json()["policyTypeIds"] == [STD_1]

        on_ric2 = s.pms.get("/policy-types", params={"nearRtRicId": "ric2"}).json()
        assert {"policyTypeId": "RIC_ONLY_1.0.0", "nearRtRicId": "ric2"} in on_ric2
        definition = s.pms.get("/policy-types/RIC_ONLY_1.0.0").json()
        assert definition == s.ric.get(f"{A1P}/policytypes/RIC_ONLY_1.0.0").json()
        only = s.pms.get("/rics", params={"policyTypeId": "RIC_ONLY_1.0.0"}).json()["rics"]
        assert [r["ricId"] for r in only] == ["ric2"]

        assert s.ric.get(f"{A1P}/policytypes/{STD_1}/policies").json() == []


def test_policy_lifecycle_lands_on_the_ric(setup: Setup) -> None:
    s = setup
    created = create(s, "p1", capacity())
    assert created.status_code == 201
    assert ric_policy(s, "p1").json() == capacity()
    assert s.pms.get("/policies/p1").json() == capacity()
    assert s.pms.get("/policies", params={"nearRtRicId": "ric2"}).json() == [
        {"policyId": "p1", "nearRtRicId": "ric2"}
    ]

    updated = s.pms.put("/policies/p1", json=capacity(size="6G"))
    assert updated.status_code == 200
    assert ric_policy(s, "p1").json() == capacity(size="6G")

    assert s.pms.get("/policies/p1/status").json() == {"enforceStatus": "ENFORCED"}
    status = {"enforceStatus": "NOT_ENFORCED", "enforceReason": "STATEMENT_NOT_APPLICABLE"}
    assert s.ric.put("/admin/policies/p1/status", json=status).status_code == 200
    assert s.pms.get("/policies/p1/status").json() == status

    assert s.pms.delete("/policies/p1").status_code == 204
    assert ric_policy(s, "p1").status_code == 404
    assert_problem(s.pms.get("/policies/p1"), 404, "p1")

    # Refused by A1-PMS's own checks: nothing reaches the RIC.
    assert_problem(create(s, "bad", {"scope": {}}), 400, "Policy Type Schema validation")
    assert_problem(create(s, "p2", STD_POLICY, policyTypeId="NOPE_1.0.0"), 404, "NOPE_1.0.0")
    assert ric_policy(s, "bad").status_code == 404
    # The in-memory RIC beside it works as it always did.
    assert create(s, "m1", STD_POLICY, nearRtRicId="ric1", policyTypeId=STD_1).status_code == 201
    assert s.ric.get(f"{A1P}/policytypes/{STD_1}/policies").json() == []


def test_ric_errors_map_to_v3_statuses(setup: Setup) -> None:
    s = setup

    def fault(status: int) -> None:
        assert s.ric.post("/admin/faults", json={"status": status}).status_code == 201

    fault(503)  # listed for POST /policies in v3: passed on
    assert_problem(create(s, "p1", capacity()), 503, "Near-RT RIC ric2 answered 503")
    assert_problem(s.pms.get("/policies/p1"), 404)  # not stored when the RIC said no
    fault(507)  # not listed in v3: the gateway's problem
    assert_problem(create(s, "p1", capacity()), 502, "answered 507")
    fault(429)
    assert_problem(create(s, "p1", capacity()), 429)
    assert create(s, "p1", capacity()).status_code == 201

    fault(409)  # an A1-P status for this read, but not a v3 one: 502
    assert_problem(s.pms.get("/policies/p1/status"), 502, "answered 409")
    fault(503)
    assert_problem(s.pms.put("/policies/p1", json=capacity(size="7G")), 503)
    assert ric_policy(s, "p1").json() == capacity()
    assert s.pms.get("/policies/p1").json() == capacity()  # unchanged in A1-PMS too

    # Deleted behind A1-PMS's back: the RIC's 404 is passed on for the status...
    assert s.ric.delete(f"{A1P}/policytypes/{CAPACITY}/policies/p1").status_code == 204
    assert_problem(s.pms.get("/policies/p1/status"), 404, "does not exist")
    # ...and a delete gets what it asked for.
    assert s.pms.delete("/policies/p1").status_code == 204
    assert s.pms.get("/rics/ric2").json()["state"] == "AVAILABLE"  # it answered every time


def test_ric_down_then_back(setup: Setup) -> None:
    s = setup
    assert create(s, "keep", capacity("d1")).status_code == 201
    assert create(s, "brief", capacity("d2"), transient=True).status_code == 201
    s.stop_ric()

    assert_problem(create(s, "p3", capacity("d3")), 502, "did not answer")
    ric2 = s.pms.get("/rics/ric2").json()
    assert ric2["state"] == "UNAVAILABLE"
    assert ric2["policyTypeIds"]  # what was learnt stays known
    # The v3 spec gives the status read no 423 (A1-PMS's own answer): 503, try again later.
    assert_problem(s.pms.get("/policies/keep/status"), 503, "state: UNAVAILABLE")
    assert_problem(s.pms.delete("/policies/keep"), 423, "not operational")
    assert s.pms.get("/policies/keep").json() == capacity("d1")  # A1-PMS still holds it

    # The RIC restarts, empty, on the same port; the next call that needs it re-synchronises
    # it, and A1-PMS puts its policies back, except the transient one.
    restarted = Recorder(create_ric())
    with serve(restarted, httpx.URL(s.ric_url).port):
        assert s.pms.get("/rics/ric2").json()["state"] == "AVAILABLE"
        assert s.ric.get(f"{A1P}/policytypes/{CAPACITY}/policies").json() == ["keep"]
        assert ric_policy(s, "keep").json() == capacity("d1")
        assert_problem(s.pms.get("/policies/brief"), 404)
        assert s.pms.get("/policies/keep/status").json() == {"enforceStatus": "ENFORCED"}
        assert s.pms.delete("/policies/keep").status_code == 204
        assert s.ric.get(f"{A1P}/policytypes/{CAPACITY}/policies").json() == []
    s.recorder.exchanges.extend(restarted.exchanges)


async def test_the_rapps_client_through_a1pms_to_the_ric(setup: Setup) -> None:
    s = setup
    policy = A1Policy("rapp-d1", "ric2", CAPACITY, "rapp", capacity("d1"))
    async with A1Client(s.pms_url, transport=CheckedTransport(s.v3)) as a1:
        assert await a1.ready()
        assert (await a1.policy_type(CAPACITY))["policySchema"]["title"] == CAPACITY
        assert await a1.put_policy(policy) == "created"
        assert ric_policy(s, "rapp-d1").json() == capacity("d1")

        changed = A1Policy("rapp-d1", "ric2", CAPACITY, "rapp", capacity("d1", "9G"))
        assert await a1.put_policy(changed) == "updated"  # 409 on POST, then PUT
        assert ric_policy(s, "rapp-d1").json() == capacity("d1", "9G")
        assert await a1.get_policy("rapp-d1") == capacity("d1", "9G")
        assert await a1.list_policies(service_id="rapp") == ["rapp-d1"]

        assert await a1.policy_status("rapp-d1") == {"enforceStatus": "ENFORCED"}
        status = {"enforceStatus": "NOT_ENFORCED", "enforceReason": "SCOPE_NOT_APPLICABLE"}
        s.ric.put("/admin/policies/rapp-d1/status", json=status)
        assert await a1.policy_status("rapp-d1") == status

        assert await a1.delete_policy("rapp-d1") is True
        assert ric_policy(s, "rapp-d1").status_code == 404
        assert await a1.delete_policy("rapp-d1") is False
        assert await a1.policy_status("rapp-d1") is None


def test_the_command_line_fronts_a_ric() -> None:
    ric_url, ric_proc = start_simulator("simulators.nearrtric", "/healthz")
    try:
        pms_url, pms_proc = start_simulator(
            "simulators.a1pms", f"{BASE}/status", "--ric", f"ric1={ric_url}"
        )
        try:
            ric1 = httpx.get(f"{pms_url}{BASE}/rics/ric1").json()
            assert ric1["state"] == "AVAILABLE"
            assert ric1["policyTypeIds"] == httpx.get(f"{ric_url}{A1P}/policytypes").json()
        finally:
            pms_proc.terminate()
            pms_proc.wait(timeout=10)
    finally:
        ric_proc.terminate()
        ric_proc.wait(timeout=10)


# ------------------------------------------------------------------------------------------
# the registry's rules, with a fake RIC


class FakeRic:
    """An ``A1P`` in memory that fails on demand and notes the RIC's state while synchronising."""

    def __init__(self) -> None:
        self.types = {CAPACITY: {"policySchema": {"type": "object"}}}
        self.policies: dict[str, tuple[str, dict[str, Any]]] = {}
        self.failure: Exception | None = None
        self.registry: Registry | None = None
        self.states_seen: list[str] = []

    def _maybe_fail(self) -> None:
        if self.failure is not None:
            raise self.failure

    def policy_type_ids(self) -> list[str]:
        if self.registry is not None:
            self.states_seen.append(self.registry.ric("ric2")["state"])
        self._maybe_fail()
        return list(self.types)

    def policy_type(self, type_id: str) -> dict[str, Any]:
        return self.types[type_id]

    def policy_ids(self, type_id: str) -> list[str]:
        return [p for p, (t, _) in self.policies.items() if t == type_id]

    def put_policy(self, type_id: str, policy_id: str, body: dict[str, Any]) -> bool:
        self._maybe_fail()
        if type_id not in self.types:
            raise RicRefused(404, "no such type")
        created = policy_id not in self.policies
        self.policies[policy_id] = (type_id, body)
        return created

    def delete_policy(self, type_id: str, policy_id: str) -> None:
        self._maybe_fail()
        if self.policies.pop(policy_id, None) is None:
            raise RicRefused(404, "no such policy")

    def policy_status(self, type_id: str, policy_id: str) -> dict[str, Any]:
        self._maybe_fail()
        return {"enforceStatus": "ENFORCED"}

    def close(self) -> None:
        pass


@pytest.fixture
def fake() -> FakeRic:
    return FakeRic()


def registry_with(fake: FakeRic, resync_interval: float = 60.0) -> Registry:
    config = SimulatorConfig.from_dict(
        {
            "rics": [{"ricId": "ric2", "baseUrl": "http://ric.invalid"}],
            "resyncIntervalSeconds": resync_interval,
        }
    )
    registry = Registry(config, clock=lambda: 0.0, a1p=lambda url, timeout: fake)
    fake.registry = registry
    return registry


def info(policy_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "policyId": policy_id,
        "nearRtRicId": "ric2",
        "policyTypeId": CAPACITY,
        "policyObject": {"a": 1},
        **extra,
    }


def test_synchronizing_while_synchronising(fake: FakeRic) -> None:
    registry = registry_with(fake)
    assert registry.ric("ric2")["state"] == "AVAILABLE"
    assert registry.synchronize("ric2")["state"] == "AVAILABLE"
    assert fake.states_seen == ["SYNCHRONIZING"]

    fake.failure = RicUnreachable("down")
    assert registry.synchronize("ric2")["state"] == "UNAVAILABLE"
    assert registry.ric("ric2")["policyTypeIds"] == [CAPACITY]
    # Interval not over (the clock stands still): no new attempt, and policy calls are locked.
    with pytest.raises(Problem) as locked:
        registry.create_policy(info("p1"))
    assert locked.value.status == 423
    fake.failure = None
    assert registry.set_ric_state("ric2", "AVAILABLE")["state"] == "AVAILABLE"  # re-syncs


@pytest.mark.parametrize(
    ("ric_status", "create", "update"),
    [
        (400, 400, 400),
        (404, 404, 404),
        (409, 409, 502),  # v3 lists 409 for POST /policies only
        (429, 429, 429),
        (503, 503, 503),
        (500, 502, 502),
        (507, 502, 502),
    ],
)
def test_ric_refusals_map_to_v3(fake: FakeRic, ric_status: int, create: int, update: int) -> None:
    registry = registry_with(fake)
    registry.create_policy(info("p0"))
    fake.failure = RicRefused(ric_status, "no")
    with pytest.raises(Problem) as created:
        registry.create_policy(info("p1"))
    assert created.value.status == create
    with pytest.raises(Problem) as updated:
        registry.update_policy("p0", {"a": 2})
    assert updated.value.status == update
    assert registry.policy("p0") == {"a": 1}
    assert registry.ric("ric2")["state"] == "AVAILABLE"  # it answered


def test_unreachable_ric(fake: FakeRic) -> None:
    registry = registry_with(fake, resync_interval=0)
    registry.create_policy(info("p0"))
    fake.failure = RicUnreachable("refused")
    with pytest.raises(Problem) as down:
        registry.delete_policy("p0")
    assert down.value.status == 502
    assert registry.ric("ric2")["state"] == "UNAVAILABLE"
    assert registry.policy("p0") == {"a": 1}
    fake.failure = None
    registry.delete_policy("p0")  # the RIC answers again: re-synchronised first, then deleted
    assert fake.policies == {}


def test_synchronisation_makes_the_ric_hold_a1pms_policies(fake: FakeRic) -> None:
    fake.policies["stray"] = (CAPACITY, {"s": 1})
    registry = registry_with(fake)
    assert fake.policies == {}  # A1-PMS did not know it
    registry.create_policy(info("keep"))
    registry.create_policy(info("brief", transient=True))
    registry.create_policy(info("lost"))
    fake.policies.clear()  # a RIC restart
    del fake.types[CAPACITY]
    fake.types["OTHER_1.0.0"] = {"policySchema": {}}
    fake.policies["x"] = ("OTHER_1.0.0", {})
    registry.synchronize("ric2")
    # Its type is gone, so the RIC refuses the policies back: they are dropped, like the
    # transient one; the stray policy of the other type is deleted.
    assert [p["policyId"] for p in registry.policies()] == []
    assert fake.policies == {}
    assert registry.ric("ric2")["policyTypeIds"] == ["OTHER_1.0.0"]
    assert registry.reset() == (0, 0)


def test_config_with_urls() -> None:
    ours = SimulatorConfig.from_dict(
        {"rics": [{"ricId": "r", "baseUrl": "http://ric:8085/"}], "a1pTimeoutSeconds": 1}
    )
    assert ours.rics[0].base_url == "http://ric:8085"
    assert ours.a1p_timeout_s == 1
    ric1 = {"name": "ric1", "baseUrl": "http://r1:8085/", "managedElementIds": ["me"]}
    a1pms = SimulatorConfig.from_dict({"config": {"ric": [ric1], "controller": []}})
    assert (a1pms.rics[0].ric_id, a1pms.rics[0].base_url) == ("ric1", "http://r1:8085")
    assert a1pms.rics[0].managed_element_ids == ("me",)
    with pytest.raises(ValueError, match="policyTypes cannot be set with baseUrl"):
        SimulatorConfig.from_dict(
            {"rics": [{"ricId": "r", "baseUrl": "http://x", "policyTypes": []}]}
        )
    with pytest.raises(ValueError, match="not an http"):
        SimulatorConfig.from_dict({"rics": [{"ricId": "r", "baseUrl": "ric:8085"}]})

    swapped = SimulatorConfig.default().with_rics([parse_ric_url("ric1=http://ric:8085")])
    assert [(r.ric_id, r.base_url, r.policy_types) for r in swapped.rics] == [
        ("ric1", "http://ric:8085", ())
    ]
    added = SimulatorConfig.default().with_rics([("ric2", "http://ric:8085")])
    assert [r.ric_id for r in added.rics] == ["ric1", "ric2"]
    with pytest.raises(ValueError, match="RIC_ID=URL"):
        parse_ric_url("http://ric:8085")
