"""The rApp's A1-PMS client against the simulator, over real HTTP.

Every request the client sends and every response it gets is checked against
``pms-api-v3.yaml``, so the client cannot drift from the spec even where the simulator is lenient.
"""

from __future__ import annotations

import copy
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from rapp.enact.a1 import A1Client, A1Error, A1Policy
from simulators.a1pms import create_app
from tests.conftest import free_port, serve
from tests.test_a1pms_simulator import SpecCheck, load_spec

BODY: dict[str, Any] = {
    "scope": {"nfId": "upf-site-03", "cellIdList": ["cell-1"]},
    "statement": {"action": "scale_out", "capacity": "5G", "decisionId": "d0123456789abcde"},
}


class CheckingTransport(httpx.AsyncBaseTransport):
    """Real HTTP, with each request and response validated against the spec on the way."""

    def __init__(self, check: SpecCheck) -> None:
        self._check = check
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self._check.request(request)
        response = await self._inner.handle_async_request(request)
        response.request = request
        await self._check.aresponse(response)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.fixture
def check(specs: Path) -> SpecCheck:
    return SpecCheck(load_spec(specs / "a1pms" / "pms-api-v3.yaml"))


@pytest.fixture
def app() -> FastAPI:
    return create_app()


@pytest.fixture
async def a1(app: FastAPI, check: SpecCheck) -> AsyncIterator[A1Client]:
    with serve(app) as url:
        async with A1Client(url, transport=CheckingTransport(check)) as client:
            yield client
    assert check.requests > 0
    assert check.requests == check.responses


def policy(policy_id: str = "d0123456789abcde", **overrides: Any) -> A1Policy:
    fields: dict[str, Any] = {
        "policy_id": policy_id,
        "ric_id": "ric1",
        "policy_type_id": "RAPP_CAPACITY_1.0.0",
        "service_id": "rapp",
        "body": copy.deepcopy(BODY),
    }
    fields.update(overrides)
    return A1Policy(**fields)


async def test_ready(a1: A1Client) -> None:
    assert await a1.ready() is True


async def test_not_ready_when_unreachable() -> None:
    async with A1Client(f"http://127.0.0.1:{free_port()}", timeout=2) as client:
        assert await client.ready() is False


async def test_put_policy_creates_then_updates(a1: A1Client) -> None:
    assert await a1.put_policy(policy()) == "created"
    assert await a1.put_policy(policy()) == "updated"

    bigger = copy.deepcopy(BODY)
    bigger["statement"]["capacity"] = "6G"
    assert await a1.put_policy(policy(body=bigger)) == "updated"
    assert await a1.list_policies() == ["d0123456789abcde"]
    assert await a1.get_policy("d0123456789abcde") == bigger


async def test_get_delete_list(a1: A1Client) -> None:
    assert await a1.get_policy("nope") is None
    await a1.put_policy(policy("mine"))
    await a1.put_policy(policy("theirs", service_id="other"))
    std = {"scope": {"ueId": "ue1", "qosId": "qos1"}, "statement": {"priorityLevel": 5}}
    await a1.put_policy(policy("std", policy_type_id="STD_1_0.2.0", body=std, transient=True))

    assert await a1.list_policies(service_id="rapp") == ["mine", "std"]
    assert await a1.list_policies(policy_type_id="STD_1_0.2.0") == ["std"]
    assert await a1.list_policies(service_id="other", policy_type_id="STD_1_0.2.0") == []
    assert await a1.get_policy("std") == std

    assert await a1.delete_policy("mine") is True
    assert await a1.delete_policy("mine") is False
    assert await a1.get_policy("mine") is None
    assert sorted(await a1.list_policies()) == ["std", "theirs"]


async def test_ids_with_url_characters(a1: A1Client) -> None:
    # No "/": servers (Starlette, Spring) decode %2F before routing, so it cannot work anywhere.
    odd = "decision 1?x&y=#z"
    assert await a1.put_policy(policy(odd)) == "created"
    assert await a1.get_policy(odd) == BODY
    assert await a1.list_policies() == [odd]
    assert await a1.delete_policy(odd) is True


async def test_schema_invalid_policy_raises_with_problem_detail(a1: A1Client) -> None:
    bad = copy.deepcopy(BODY)
    bad["statement"]["capacity"] = "lots"
    with pytest.raises(A1Error) as caught:
        await a1.put_policy(policy(body=bad))
    error = caught.value
    assert error.status == 400
    assert error.problem["status"] == 400
    assert "Policy Type Schema validation failed in create" in error.problem["detail"]
    assert str(error).startswith("A1-PMS 400 Bad Request: Policy Type Schema validation failed")
    assert await a1.list_policies() == []


async def test_update_that_fails_validation_raises(a1: A1Client) -> None:
    await a1.put_policy(policy())
    bad = copy.deepcopy(BODY)
    bad["statement"]["action"] = "scale_sideways"
    with pytest.raises(A1Error, match="validation failed in update"):
        await a1.put_policy(policy(body=bad))
    assert await a1.get_policy("d0123456789abcde") == BODY


async def test_locked_ric_raises(app: FastAPI, a1: A1Client) -> None:
    app.state.registry.set_ric_state("ric1", "SYNCHRONIZING")
    with pytest.raises(A1Error) as caught:
        await a1.put_policy(policy())
    assert caught.value.status == 423
    assert str(caught.value).startswith("A1-PMS 423 Locked: ")


async def test_unknown_ric_raises(a1: A1Client) -> None:
    with pytest.raises(A1Error, match="Near-RT RIC not found: ric9") as caught:
        await a1.put_policy(policy(ric_id="ric9"))
    assert caught.value.status == 404


async def test_policy_type(a1: A1Client) -> None:
    definition = await a1.policy_type("RAPP_CAPACITY_1.0.0")
    assert definition["policySchema"]["required"] == ["scope", "statement"]
    assert "statusSchema" in definition
    with pytest.raises(A1Error) as caught:
        await a1.policy_type("NOPE_1.0.0")
    assert caught.value.status == 404


async def test_service_registration_and_keepalive(app: FastAPI, a1: A1Client) -> None:
    await a1.register_service("rapp", keepalive_s=60, callback_url="http://rapp:8080/a1pms/events")
    await a1.register_service("rapp", keepalive_s=30)  # re-registering is fine
    await a1.keepalive("rapp")
    services = app.state.registry.services("rapp")["serviceList"]
    assert services[0]["keepAliveIntervalSeconds"] == 30
    with pytest.raises(A1Error) as caught:
        await a1.keepalive("stranger")
    assert caught.value.status == 404
    assert caught.value.problem["detail"] == "Service not found: stranger"


async def test_transport_errors_propagate() -> None:
    async with A1Client(f"http://127.0.0.1:{free_port()}", timeout=2) as client:
        with pytest.raises(httpx.ConnectError):
            await client.put_policy(policy())


def test_a1error_without_problem_body() -> None:
    error = A1Error(502)
    assert error.problem == {}
    assert str(error) == "A1-PMS 502 Bad Gateway: (no detail)"


async def test_policy_status_is_read_back_as_the_ric_reports_it(
    app: FastAPI, check: SpecCheck
) -> None:
    with serve(app) as url:
        async with A1Client(url, transport=CheckingTransport(check)) as a1:
            assert await a1.policy_status("mine") is None
            await a1.put_policy(policy("mine"))
            assert await a1.policy_status("mine") == {"enforceStatus": "ENFORCED"}
            refused = {"enforceStatus": "NOT_ENFORCED", "enforceReason": "OTHER_REASON"}
            async with httpx.AsyncClient(base_url=f"{url}/admin") as admin:
                set_status = await admin.put("/policies/mine/status", json=refused)
                assert set_status.status_code == 200
                assert set_status.json() == refused
                assert await a1.policy_status("mine") == refused
                (await admin.post("/reset")).raise_for_status()
            await a1.put_policy(policy("mine"))
            assert await a1.policy_status("mine") == {"enforceStatus": "ENFORCED"}
    assert check.requests == check.responses > 0
