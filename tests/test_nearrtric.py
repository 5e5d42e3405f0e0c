"""The Near-RT RIC simulator over real HTTP, requests and responses checked against the A1-P
v2.0.0 spec (``ORAN_A1-p_V2.0.0_api.yaml``) with openapi-core."""

from __future__ import annotations

import json
import shutil
from collections.abc import Awaitable, Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI, Request, Response
from openapi_core import OpenAPI
from openapi_core.templating.responses.exceptions import ResponseNotFound

from simulators.a1pms.policy_types import TYPES_DIR as A1PMS_TYPES_DIR
from simulators.nearrtric import create_app
from simulators.nearrtric.ric import TYPES_DIR
from simulators.process import start_simulator
from tests.conftest import serve
from tests.test_a1pms_simulator import (
    HttpxOpenAPIRequest,
    HttpxOpenAPIResponse,
    assert_problem,
    load_spec,
)

A1P = "/A1-P/v2"
STD_1 = "STD_1_0.2.0"
Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
STD_POLICY = {"scope": {"ueId": "ue1", "qosId": "qos1"}, "statement": {"priorityLevel": 5}}


class A1PCheck:
    """Checks the requests sent to the RIC and its answers against the A1-P spec."""

    def __init__(self, spec: OpenAPI) -> None:
        self.spec = spec
        self.checked = 0
        self.deviations: list[httpx.Response] = []

    def response(self, response: httpx.Response) -> None:
        response.read()
        request = HttpxOpenAPIRequest(response.request)
        if not response.request.url.path.startswith(A1P):
            return  # /admin and /healthz are the simulator's own
        self.spec.validate_request(request)
        try:
            self.spec.validate_response(request, HttpxOpenAPIResponse(response))
        except ResponseNotFound:
            # The documented deviation (README): 404 for an unknown type where the spec lists
            # none. Kept aside so a test can say exactly which answers those were.
            if response.status_code != 404:
                raise
            self.deviations.append(response)
            return
        self.checked += 1


class Recorder:
    """ASGI wrapper around the RIC that keeps every exchange as an httpx response, so that what
    the A1-PMS simulator sends southbound can be checked against the A1-P spec afterwards."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app
        self.exchanges: list[httpx.Response] = []

    async def __call__(
        self,
        scope: Scope,
        receive: Callable[[], Awaitable[Message]],
        send: Callable[[Message], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        # Read the whole request first: a faulted request is answered without being read.
        messages = [await receive()]
        while messages[-1]["type"] == "http.request" and messages[-1].get("more_body"):
            messages.append(await receive())
        body = [m.get("body", b"") for m in messages]
        answer: dict[str, Any] = {"chunks": []}

        async def recv() -> Message:
            return messages.pop(0) if messages else await receive()

        async def snd(message: Message) -> None:
            if message["type"] == "http.response.start":
                answer["status"], answer["headers"] = message["status"], message["headers"]
            elif message["type"] == "http.response.body":
                answer["chunks"].append(message.get("body", b""))
            await send(message)

        await self.app(scope, recv, snd)
        query = scope["query_string"].decode()
        url = f"http://ric{scope['raw_path'].decode()}" + (f"?{query}" if query else "")
        headers = [(k.decode(), v.decode()) for k, v in scope["headers"]]
        request = httpx.Request(scope["method"], url, headers=headers, content=b"".join(body))
        response_headers = [(k.decode(), v.decode()) for k, v in answer["headers"]]
        self.exchanges.append(
            httpx.Response(
                answer["status"],
                headers=response_headers,
                content=b"".join(answer["chunks"]),
                request=request,
            )
        )


@pytest.fixture
def a1p_spec(specs: Path) -> OpenAPI:
    return load_spec(specs / "a1p" / "ORAN_A1-p_V2.0.0_api.yaml")


@pytest.fixture
def check(a1p_spec: OpenAPI) -> A1PCheck:
    return A1PCheck(a1p_spec)


@pytest.fixture
def ric_app() -> FastAPI:
    return create_app()


@pytest.fixture
def ric_url(ric_app: FastAPI) -> Iterator[str]:
    with serve(ric_app) as url:
        yield url


@pytest.fixture
def client(ric_url: str, check: A1PCheck) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=ric_url, event_hooks={"response": [check.response]}) as c:
        yield c
    assert check.checked > 0


def policy_path(policy_id: str, type_id: str = STD_1) -> str:
    return f"{A1P}/policytypes/{type_id}/policies/{policy_id}"


def test_policy_types(client: httpx.Client) -> None:
    assert client.get(f"{A1P}/policytypes").json() == [
        "RAPP_CAPACITY_1.0.0",
        "RAPP_HEALING_1.0.0",
        "STD_1_0.2.0",
        "STD_2_0.2.0",
    ]
    for path in TYPES_DIR.glob("*.json"):
        r = client.get(f"{A1P}/policytypes/{path.stem}")
        assert r.status_code == 200
        assert r.json() == json.loads(path.read_text())
    assert_problem(client.get(f"{A1P}/policytypes/NOPE_1.0.0"), 404, "NOPE_1.0.0")


def test_shipped_types_are_the_a1pms_simulators(samples: Path) -> None:
    # The demo behaves the same behind either simulator only while the types are the same.
    shipped = sorted(p.name for p in TYPES_DIR.glob("*.json"))
    assert shipped == sorted(p.name for p in A1PMS_TYPES_DIR.glob("*.json"))
    for name in shipped:
        assert (TYPES_DIR / name).read_bytes() == (A1PMS_TYPES_DIR / name).read_bytes()
    assert (TYPES_DIR / "STD_1_0.2.0.json").read_bytes() == (
        samples / "a1" / "std_1.json"
    ).read_bytes()


def test_policy_lifecycle(client: httpx.Client) -> None:
    created = client.put(policy_path("pi1"), json=STD_POLICY)
    assert created.status_code == 201
    assert created.headers["location"] == f"{client.base_url}{policy_path('pi1')}"
    assert created.json() == STD_POLICY
    assert client.get(policy_path("pi1")).json() == STD_POLICY
    assert client.get(f"{A1P}/policytypes/{STD_1}/policies").json() == ["pi1"]
    assert client.get(f"{A1P}/policytypes/STD_2_0.2.0/policies").json() == []
    assert client.get(policy_path("pi1") + "/status").json() == {"enforceStatus": "ENFORCED"}

    changed = {**STD_POLICY, "statement": {"priorityLevel": 6}}
    updated = client.put(policy_path("pi1"), json=changed)
    assert updated.status_code == 200
    assert "location" not in updated.headers
    assert client.get(policy_path("pi1")).json() == changed

    deleted = client.delete(policy_path("pi1"))
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_problem(client.get(policy_path("pi1")), 404, "pi1")
    assert_problem(client.delete(policy_path("pi1")), 404, "pi1")
    assert_problem(client.get(policy_path("pi1") + "/status"), 404, "pi1")
    assert client.get(f"{A1P}/policytypes/{STD_1}/policies").json() == []


def test_put_is_checked(client: httpx.Client, check: A1PCheck) -> None:
    broken = {"scope": {"ueId": 1}}
    assert_problem(client.put(policy_path("pi1"), json=broken), 400, "qosId")
    client.put(policy_path("pi1"), json=STD_POLICY)
    # Ids are unique across types, as on the O-RAN SC simulator; the spec's 409 says so.
    assert_problem(client.put(policy_path("pi1", "STD_2_0.2.0"), json=STD_POLICY), 409, STD_1)
    assert client.get(policy_path("pi1", "STD_2_0.2.0")).status_code == 404

    # The two documented deviations: an unknown type is 404 where the spec lists no 404.
    assert_problem(client.put(policy_path("x", "NOPE_1.0.0"), json=STD_POLICY), 404, "NOPE")
    assert_problem(client.get(f"{A1P}/policytypes/NOPE_1.0.0/policies"), 404, "NOPE")
    assert [(r.request.method, r.status_code) for r in check.deviations] == [
        ("PUT", 404),
        ("GET", 404),
    ]


def test_malformed_requests_are_problems(ric_url: str) -> None:
    # No spec hook here: these requests break the spec on purpose.
    with httpx.Client(base_url=ric_url) as c:
        not_json = c.put(policy_path("pi1"), content=b"{", headers={"content-type": "text/plain"})
        assert_problem(not_json, 400, "not JSON")
        assert_problem(c.put(policy_path("pi1"), json=[1]), 400, "JSON object")
        assert_problem(c.post(f"{A1P}/policytypes"), 405)
        assert_problem(c.get(f"{A1P}/nothing"), 404)
        assert c.get("/healthz").json() == {"status": "ok"}
        # Any 4xx/5xx can be injected, also one outside the spec or without a name.
        c.post("/admin/faults", json={"status": 499})
        assert_problem(c.get(f"{A1P}/policytypes"), 499, "Injected")


def test_status_set_by_admin_and_notified(client: httpx.Client) -> None:
    received: list[Any] = []
    receiver = FastAPI()

    @receiver.post("/status")
    async def receive_status(request: Request) -> Response:
        received.append(await request.json())
        return Response(status_code=204)

    with serve(receiver) as cb_url:
        r = client.put(
            f"{policy_path('p1', 'RAPP_CAPACITY_1.0.0')}",
            params={"notificationDestination": f"{cb_url}/status"},
            json={
                "scope": {"nfId": "upf-1", "cellIdList": ["c1"]},
                "statement": {"action": "scale_out", "capacity": "5G", "decisionId": "d1"},
            },
        )
        assert r.status_code == 201
        not_enforced = {"enforceStatus": "NOT_ENFORCED", "enforceReason": "OTHER_REASON"}
        admin = client.put("/admin/policies/p1/status", json=not_enforced)
        assert admin.json() == {"status": not_enforced, "notified": True}
    assert received == [not_enforced]
    status = client.get(policy_path("p1", "RAPP_CAPACITY_1.0.0") + "/status")
    assert status.json() == not_enforced

    # Checked against the type's statusSchema once the policy exists.
    assert_problem(client.put("/admin/policies/p1/status", json={"enforceStatus": "X"}), 400)
    # Set ahead of the policy: it is born with that status; no destination, no notification.
    ahead = client.put("/admin/policies/pi9/status", json={"enforceStatus": "NOT_ENFORCED"})
    assert ahead.json()["notified"] is False
    client.put(policy_path("pi9"), json=STD_POLICY)
    assert client.get(policy_path("pi9") + "/status").json() == {"enforceStatus": "NOT_ENFORCED"}


def test_injected_faults(client: httpx.Client) -> None:
    client.post("/admin/faults", json={"status": 503, "count": 2, "methods": ["GET"]})
    client.post("/admin/faults", json={"status": 429})
    assert [f["status"] for f in client.get("/admin/faults").json()["faults"]] == [503, 429]
    assert_problem(client.put(policy_path("pi1"), json=STD_POLICY), 429, "Injected")
    assert_problem(client.get(f"{A1P}/policytypes"), 503, "Injected")
    assert_problem(client.get(f"{A1P}/policytypes"), 503, "Injected")
    assert client.get(f"{A1P}/policytypes").status_code == 200

    client.post("/admin/faults", json={"delay_s": 0.05})
    assert client.get(f"{A1P}/policytypes").status_code == 200  # late, but served
    client.post("/admin/faults", json={"status": 500})
    assert client.delete("/admin/faults").status_code == 204
    assert client.get(f"{A1P}/policytypes").status_code == 200
    assert client.post("/admin/faults", json={"status": 200}).status_code == 400


def test_insufficient_storage(check: A1PCheck) -> None:
    with (
        serve(create_app(max_policies=1)) as url,
        httpx.Client(base_url=url, event_hooks={"response": [check.response]}) as c,
    ):
        assert c.put(policy_path("pi1"), json=STD_POLICY).status_code == 201
        assert c.put(policy_path("pi1"), json=STD_POLICY).status_code == 200  # an update fits
        assert_problem(c.put(policy_path("pi2"), json=STD_POLICY), 507, "1 policies")


def test_admin_types_and_reset(client: httpx.Client) -> None:
    definition = {"policySchema": {"type": "object", "required": ["x"]}}
    assert client.put("/admin/policytypes/T_1.0.0", json=definition).status_code == 201
    assert client.put("/admin/policytypes/T_1.0.0", json=definition).status_code == 200
    assert_problem(client.put("/admin/policytypes/B_1.0.0", json={"policySchema": 3}), 400)
    assert "T_1.0.0" in client.get(f"{A1P}/policytypes").json()
    assert client.get(f"{A1P}/policytypes/T_1.0.0").json() == definition
    assert client.put(policy_path("t1", "T_1.0.0"), json={"x": 1}).status_code == 201
    assert_problem(client.delete("/admin/policytypes/T_1.0.0"), 409, "still has policies")

    assert client.post("/admin/reset").json() == {"removedPolicies": 1}
    assert client.get(f"{A1P}/policytypes/T_1.0.0/policies").json() == []
    assert client.delete("/admin/policytypes/T_1.0.0").status_code == 204
    assert "T_1.0.0" not in client.get(f"{A1P}/policytypes").json()


def test_cli_serves_a_types_directory(tmp_path: Path) -> None:
    shutil.copy(TYPES_DIR / "STD_2_0.2.0.json", tmp_path / "MY_TYPE_1.0.0.json")
    url, proc = start_simulator("simulators.nearrtric", "/healthz", "--types", str(tmp_path))
    try:
        assert httpx.get(f"{url}{A1P}/policytypes").json() == ["MY_TYPE_1.0.0"]
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_a_types_directory_must_hold_valid_types(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no policy type files"):
        create_app(tmp_path)
    (tmp_path / "BAD_1.0.0.json").write_text(json.dumps({"policySchema": {"type": 5}}))
    with pytest.raises(ValueError, match="invalid policySchema"):
        create_app(tmp_path)
