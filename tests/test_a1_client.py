"""The rApp's A1-PMS client against the simulator, over real HTTP, speaking v3 and v2.

Every request the client sends and every response it gets is checked against the spec of the
API it went to (``pms-api-v3.yaml`` or ``pms-api.yaml``), so the client cannot drift from either
spec even where the simulator is lenient. Most tests run once per API, with identical results.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, MutableMapping
from pathlib import Path
from typing import Any, Literal, cast

import httpx
import pytest
from fastapi import FastAPI

from rapp.enact.a1 import A1Client, A1Error, A1Policy, PolicyInvalid, RicInfo, is_transient
from simulators.a1pms import create_app
from tests.conftest import free_port, serve
from tests.test_a1pms_simulator import SpecCheck, load_spec, two_ric_config
from tests.test_a1pms_v2 import V2SpecCheck, load_v2_spec, spec_document

V3 = "/a1-policy-management/v1"
V2 = "/a1-policy/v2"

BODY: dict[str, Any] = {
    "scope": {"nfId": "upf-site-03", "cellIdList": ["cell-1"]},
    "statement": {"action": "scale_out", "capacity": "5G", "decisionId": "d0123456789abcde"},
}
STD_BODY = {"scope": {"ueId": "ue1", "qosId": "qos1"}, "statement": {"priorityLevel": 5}}


class CheckingTransport(httpx.AsyncBaseTransport):
    """Real HTTP, each exchange validated against its API's spec on the way, and recorded."""

    def __init__(self, checks: dict[str, SpecCheck]) -> None:
        self._checks = checks
        self._inner = httpx.AsyncHTTPTransport()
        self.sent: list[tuple[str, str]] = []
        """(method, path) of every request, in order."""

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append((request.method, request.url.path))
        check = next(
            (c for prefix, c in self._checks.items() if request.url.path.startswith(prefix)), None
        )
        if check is not None:
            check.request(request)
        response = await self._inner.handle_async_request(request)
        response.request = request
        if check is not None:
            await check.aresponse(response)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.fixture
def checks(specs: Path) -> dict[str, SpecCheck]:
    error_schema = spec_document(specs)["components"]["schemas"]["error_information"]
    return {
        V3: SpecCheck(load_spec(specs / "a1pms" / "pms-api-v3.yaml")),
        V2: V2SpecCheck(load_v2_spec(specs / "a1pms" / "pms-api.yaml"), error_schema),
    }


@pytest.fixture
def app() -> FastAPI:
    return create_app()


Api = Literal["v3", "v2"]


@pytest.fixture(params=["v3", "v2"])
def api(request: pytest.FixtureRequest) -> Api:
    return cast(Api, request.param)


@pytest.fixture
def transport(checks: dict[str, SpecCheck]) -> CheckingTransport:
    return CheckingTransport(checks)


@pytest.fixture
def served(app: FastAPI) -> Iterator[str]:
    with serve(app) as url:
        yield url


@pytest.fixture
async def a1(
    served: str, api: Api, transport: CheckingTransport, checks: dict[str, SpecCheck]
) -> AsyncIterator[A1Client]:
    async with A1Client(served, api=api, transport=transport) as client:
        yield client
    spoken = checks[V3 if api == "v3" else V2]
    assert spoken.requests > 0
    assert spoken.requests == spoken.responses
    # Only the API asked for was spoken.
    assert checks[V2 if api == "v3" else V3].requests == 0


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


# ------------------------------------------------------------------------------------------
# every method, over each API


async def test_ready(a1: A1Client, api: Api) -> None:
    assert await a1.ready() is True
    assert await a1.api() == api


@pytest.mark.parametrize("mode", ["auto", "v3", "v2"])
async def test_not_ready_when_unreachable(mode: Literal["auto", "v3", "v2"]) -> None:
    async with A1Client(f"http://127.0.0.1:{free_port()}", timeout=2, api=mode) as client:
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
    await a1.put_policy(policy("std", policy_type_id="STD_1_0.2.0", body=STD_BODY, transient=True))

    assert await a1.list_policies(service_id="rapp") == ["mine", "std"]
    assert await a1.list_policies(policy_type_id="STD_1_0.2.0") == ["std"]
    assert await a1.list_policies(service_id="other", policy_type_id="STD_1_0.2.0") == []
    assert await a1.get_policy("std") == STD_BODY

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
    assert await a1.policy_status(odd) == {"enforceStatus": "ENFORCED"}
    assert await a1.delete_policy(odd) is True


async def test_a1pms_refusal_raises_with_problem_detail(a1: A1Client) -> None:
    # A RIC the A1-PMS does not know: the client cannot tell, the A1-PMS refuses.
    with pytest.raises(A1Error, match="Near-RT RIC not found: ric9") as caught:
        await a1.put_policy(policy(ric_id="ric9"))
    error = caught.value
    assert error.status == 404
    assert error.problem["status"] == 404
    assert str(error).startswith("A1-PMS 404 Not Found: Near-RT RIC not found")
    assert not is_transient(error)
    assert await a1.list_policies() == []


async def test_locked_ric_raises(app: FastAPI, a1: A1Client) -> None:
    await a1.put_policy(policy("existing"))
    app.state.registry.set_ric_state("ric1", "SYNCHRONIZING")
    for attempt in (a1.put_policy(policy()), a1.put_policy(policy("existing"))):
        with pytest.raises(A1Error) as caught:
            await attempt
        assert caught.value.status == 423
        assert str(caught.value).startswith("A1-PMS 423 Locked: ")
        assert is_transient(caught.value)
    with pytest.raises(A1Error, match="423"):
        await a1.delete_policy("existing")


async def test_policy_type(a1: A1Client, api: Api) -> None:
    definition = await a1.policy_type("RAPP_CAPACITY_1.0.0")
    assert definition["policySchema"]["required"] == ["scope", "statement"]
    # v2 gives the policy schema alone.
    assert ("statusSchema" in definition) == (api == "v3")
    with pytest.raises(A1Error) as caught:
        await a1.policy_type("NOPE_1.0.0")
    assert caught.value.status == 404


async def test_service_registration_and_keepalive(app: FastAPI, a1: A1Client) -> None:
    await a1.register_service("rapp", keepalive_s=60, callback_url="http://rapp:8080/a1pms/events")
    registered = app.state.registry.services("rapp")["serviceList"][0]
    assert registered["callbackUrl"] == "http://rapp:8080/a1pms/events"
    await a1.register_service("rapp", keepalive_s=30)  # re-registering is fine
    await a1.keepalive("rapp")
    services = app.state.registry.services("rapp")["serviceList"]
    assert services[0]["keepAliveIntervalSeconds"] == 30
    with pytest.raises(A1Error) as caught:
        await a1.keepalive("stranger")
    assert caught.value.status == 404
    assert caught.value.problem["detail"] == "Service not found: stranger"


async def test_deregistering_deletes_the_service_and_the_policies_it_owns(a1: A1Client) -> None:
    await a1.register_service("rapp", keepalive_s=60)
    await a1.put_policy(policy("mine"))
    await a1.put_policy(policy("theirs", service_id="other"))
    assert await a1.deregister_service("rapp") is True
    with pytest.raises(A1Error) as caught:
        await a1.keepalive("rapp")
    assert caught.value.status == 404
    assert await a1.list_policies() == ["theirs"]
    assert await a1.deregister_service("rapp") is False  # already gone: not an error


async def test_a_token_file_is_read_at_every_request(tmp_path: Path) -> None:
    """A rotated Secret reaches the next call without a restart."""
    token = tmp_path / "token"
    seen: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        return httpx.Response(200, json={"success": True})

    transport = httpx.MockTransport(handler)
    async with A1Client("http://a1pms", api="v3", token_file=token, transport=transport) as a1:
        token.write_text("first\n")
        await a1.keepalive("rapp")
        token.write_text("second")
        await a1.keepalive("rapp")
    assert seen == ["Bearer first", "Bearer second"]


async def test_policy_status_is_read_back_as_the_ric_reports_it(
    app: FastAPI, api: Api, checks: dict[str, SpecCheck]
) -> None:
    with serve(app) as url:
        async with A1Client(url, api=api, transport=CheckingTransport(checks)) as a1:
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
    for check in checks.values():
        assert check.requests == check.responses


async def test_injected_outage_is_transient(served: str, a1: A1Client, api: Api) -> None:
    # The fault's prefix must name the API: its default is v3's.
    prefix = V3 if api == "v3" else V2
    async with httpx.AsyncClient(base_url=served) as admin:
        fault = {"status": 503, "path_prefix": f"{prefix}/policies", "methods": ["POST", "PUT"]}
        assert (await admin.post("/admin/faults", json=fault)).status_code == 201
    with pytest.raises(A1Error) as caught:
        await a1.put_policy(policy())
    assert caught.value.status == 503
    assert "Injected" in caught.value.problem["detail"]
    assert is_transient(caught.value)
    assert await a1.put_policy(policy()) == "created"


# ------------------------------------------------------------------------------------------
# discovery


async def test_rics_and_policy_type_ids(api: Api, checks: dict[str, SpecCheck]) -> None:
    app = create_app(two_ric_config())
    app.state.registry.set_ric_state("ric2", "SYNCHRONIZING")
    with serve(app) as url:
        async with A1Client(url, api=api, transport=CheckingTransport(checks)) as a1:
            rics = await a1.rics()
            assert [r.ric_id for r in rics] == ["ric1", "ric2"]
            assert rics[1] == RicInfo("ric2", "SYNCHRONIZING", ("STD_1_0.2.0",))
            assert rics[0].state == "AVAILABLE"
            assert "RAPP_CAPACITY_1.0.0" in rics[0].policy_type_ids

            every = await a1.policy_type_ids()
            # STD_1_0.2.0 is on both RICs, and listed once.
            assert sorted(every) == sorted(rics[0].policy_type_ids)
            assert await a1.policy_type_ids("ric2") == ["STD_1_0.2.0"]
            assert await a1.policy_type_ids("ric1") == list(rics[0].policy_type_ids)
            with pytest.raises(A1Error) as caught:
                await a1.policy_type_ids("nope")
            assert caught.value.status == 404


# ------------------------------------------------------------------------------------------
# validation before sending


@pytest.mark.parametrize(
    ("change", "path", "reason"),
    [
        (("statement", "capacity", "lots"), "/statement/capacity", "does not match"),
        (("statement", "action", "scale_sideways"), "/statement/action", "is not one of"),
        (("scope", "cellIdList", []), "/scope/cellIdList", "should be non-empty"),
        (("scope", "nfId", None), "/scope", "'nfId' is a required property"),
    ],
)
async def test_invalid_policy_is_refused_before_anything_is_sent(
    a1: A1Client, transport: CheckingTransport, change: tuple[str, str, Any], path: str, reason: str
) -> None:
    bad = copy.deepcopy(BODY)
    section, key, value = change
    if value is None:
        del bad[section][key]
    else:
        bad[section][key] = value
    with pytest.raises(PolicyInvalid) as caught:
        await a1.put_policy(policy(body=bad))
    error = caught.value
    assert error.path == path
    assert reason in error.reason
    assert str(error).startswith(
        f"A1 policy d0123456789abcde does not fit type RAPP_CAPACITY_1.0.0 at {path}: "
    )
    assert isinstance(error, ValueError)
    assert not is_transient(error)
    # Only the type was read, to validate against; nothing was written.
    assert [path.rsplit("/", 2)[1:] for _, path in transport.sent] == [
        ["policy-types", "RAPP_CAPACITY_1.0.0"]
    ]


async def test_invalid_update_changes_nothing(a1: A1Client, transport: CheckingTransport) -> None:
    await a1.put_policy(policy())
    sent = list(transport.sent)
    bad = copy.deepcopy(BODY)
    bad["statement"]["surprise"] = True
    with pytest.raises(PolicyInvalid, match="Additional properties are not allowed") as caught:
        await a1.put_policy(policy(body=bad))
    assert caught.value.path == "/statement"
    assert transport.sent == sent  # the type was known: not one request
    assert await a1.get_policy("d0123456789abcde") == BODY


async def test_each_type_is_read_once_per_client(
    a1: A1Client, transport: CheckingTransport
) -> None:
    for n in range(3):
        await a1.put_policy(policy(f"p{n}"))
    await a1.put_policy(policy("s", policy_type_id="STD_1_0.2.0", body=STD_BODY))
    await a1.put_policy(policy("s", policy_type_id="STD_1_0.2.0", body=STD_BODY))
    type_reads = [p for m, p in transport.sent if m == "GET" and "/policy-types/" in p]
    assert [p.rsplit("/", 1)[1] for p in type_reads] == ["RAPP_CAPACITY_1.0.0", "STD_1_0.2.0"]


@pytest.mark.parametrize(
    ("api", "type_object"),
    [
        ("v3", {"policySchema": {"type": 5}}),
        # The v2 spec's own example has the schema as a string.
        ("v2", {"policy_schema": "{}"}),
    ],
)
async def test_a_type_without_a_usable_schema_refuses_the_policy(
    api: Api, type_object: dict[str, Any]
) -> None:
    # A test double: the simulator serves only valid schemas, as A1-PMS should.
    sent = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append((request.method, request.url.path))
        return httpx.Response(200, json=type_object)

    async with A1Client("http://a1pms", api=api, transport=httpx.MockTransport(handler)) as a1:
        with pytest.raises(PolicyInvalid, match="not a JSON") as caught:
            await a1.put_policy(policy(policy_type_id="BROKEN_1.0.0"))
    assert not is_transient(caught.value)
    prefix = V3 if api == "v3" else V2
    assert sent == [("GET", f"{prefix}/policy-types/BROKEN_1.0.0")]


# ------------------------------------------------------------------------------------------
# choosing the API


ASGIApp = Callable[[MutableMapping[str, Any], Any, Any], Awaitable[None]]


def without_v3(app: FastAPI) -> ASGIApp:
    """The simulator as an A1-PMS from before the J release: v3 paths are 404."""

    async def wrapped(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "http" and scope["path"].startswith(V3):
            body = json.dumps({"status": 404, "title": "Not Found", "detail": "no v3"}).encode()
            headers = [(b"content-type", b"application/problem+json")]
            await send({"type": "http.response.start", "status": 404, "headers": headers})
            await send({"type": "http.response.body", "body": body})
            return
        await app(scope, receive, send)

    return wrapped


async def test_auto_speaks_v3_where_it_is_served(
    app: FastAPI, transport: CheckingTransport
) -> None:
    with serve(app) as url:
        async with A1Client(url, transport=transport) as a1:
            assert await a1.ready() is True
            assert await a1.put_policy(policy()) == "created"
            assert await a1.api() == "v3"
    assert all(path.startswith(V3) for _, path in transport.sent)
    assert transport.sent.count(("GET", f"{V3}/status")) == 2  # the probe, then ready's own


async def test_auto_falls_back_to_v2_and_every_method_works(
    app: FastAPI, checks: dict[str, SpecCheck]
) -> None:
    # The v3 double's 404s are not in any spec: only v2 traffic is checked.
    transport = CheckingTransport({V2: checks[V2]})
    with serve(without_v3(app)) as url:
        async with A1Client(url, transport=transport) as a1:
            assert await a1.ready() is True
            assert await a1.api() == "v2"
            await a1.register_service("rapp", keepalive_s=60)
            await a1.keepalive("rapp")
            assert await a1.rics() == [
                RicInfo("ric1", "AVAILABLE", tuple(app.state.registry.ric("ric1")["policyTypeIds"]))
            ]
            assert "RAPP_CAPACITY_1.0.0" in await a1.policy_type_ids()
            assert "policySchema" in await a1.policy_type("RAPP_CAPACITY_1.0.0")
            assert await a1.put_policy(policy()) == "created"
            assert await a1.put_policy(policy()) == "updated"
            assert await a1.get_policy("d0123456789abcde") == BODY
            assert await a1.policy_status("d0123456789abcde") == {"enforceStatus": "ENFORCED"}
            assert await a1.list_policies(service_id="rapp") == ["d0123456789abcde"]
            assert await a1.delete_policy("d0123456789abcde") is True
            assert await a1.delete_policy("d0123456789abcde") is False
    # v3 was asked once, on the first call; everything after went to v2.
    assert transport.sent[0] == ("GET", f"{V3}/status")
    assert all(path.startswith(V2) for _, path in transport.sent[1:])
    assert checks[V2].requests == checks[V2].responses == len(transport.sent) - 1


async def test_auto_asks_again_after_a_failed_probe(app: FastAPI) -> None:
    port = free_port()
    async with A1Client(f"http://127.0.0.1:{port}", timeout=2) as a1:
        assert await a1.ready() is False
        with pytest.raises(httpx.ConnectError):
            await a1.list_policies()
        with serve(without_v3(app), port=port):
            assert await a1.ready() is True
            assert await a1.api() == "v2"


async def test_auto_probe_during_an_outage_is_transient(app: FastAPI) -> None:
    with serve(app) as url:
        async with httpx.AsyncClient(base_url=url) as admin:
            fault = {"status": 503, "path_prefix": f"{V3}/status"}
            assert (await admin.post("/admin/faults", json=fault)).status_code == 201
        async with A1Client(url) as a1:
            with pytest.raises(A1Error) as caught:
                await a1.list_policies()
            assert caught.value.status == 503
            assert is_transient(caught.value)
            assert await a1.list_policies() == []
            assert await a1.api() == "v3"


async def test_auto_against_something_that_is_no_a1pms() -> None:
    async def nothing_here(scope: MutableMapping[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return  # no lifespan support needed
        headers = [(b"content-type", b"text/html")]
        await send({"type": "http.response.start", "status": 404, "headers": headers})
        await send({"type": "http.response.body", "body": b"<h1>Not Found</h1>"})

    with serve(nothing_here) as url:
        async with A1Client(url) as a1:
            assert await a1.ready() is False
            with pytest.raises(A1Error) as caught:
                await a1.register_service("rapp")
    assert caught.value.status == 404
    assert caught.value.problem == {}
    assert not is_transient(caught.value)


def test_api_must_be_one_of_three() -> None:
    with pytest.raises(ValueError, match="'v4'"):
        A1Client("http://a1pms", api="v4")  # type: ignore[arg-type]


# ------------------------------------------------------------------------------------------
# errors


async def test_transport_errors_propagate(api: Api) -> None:
    async with A1Client(f"http://127.0.0.1:{free_port()}", timeout=2, api=api) as client:
        with pytest.raises(httpx.ConnectError):
            await client.put_policy(policy())


def test_a1error_without_problem_body() -> None:
    error = A1Error(502)
    assert error.problem == {}
    assert str(error) == "A1-PMS 502 Bad Gateway: (no detail)"
