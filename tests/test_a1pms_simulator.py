"""The A1-PMS simulator over real HTTP, every response checked against ``pms-api-v3.yaml``."""

from __future__ import annotations

import functools
import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
import yaml
from fastapi import FastAPI
from openapi_core import Config, OpenAPI
from openapi_core.datatypes import RequestParameters
from openapi_core.validation.response.exceptions import MissingData
from werkzeug.datastructures import Headers, ImmutableMultiDict

from simulators.a1pms import Registry, RicConfig, SimulatorConfig, create_app
from simulators.a1pms.registry import TYPES_DIR
from tests.conftest import free_port, serve

BASE = "/a1-policy-management/v1"
SPEC_HOST = "https://example.com"  # the default {apiRoot} of the spec's only server

# ------------------------------------------------------------------------------------------
# openapi-core adapters for httpx (openapi-core ships them for requests, not httpx)


class HttpxOpenAPIRequest:
    """An httpx request seen as if it was sent to the spec's server, whatever host it hit."""

    def __init__(self, request: httpx.Request) -> None:
        self._request = request
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(parse_qs(request.url.query.decode(), keep_blank_values=True)),
            header=Headers(dict(request.headers)),
            cookie=ImmutableMultiDict(),
        )

    @property
    def host_url(self) -> str:
        return SPEC_HOST

    @property
    def path(self) -> str:
        # Still percent-encoded: a decoded "/" inside an id would change the route.
        return self._request.url.raw_path.split(b"?", 1)[0].decode("ascii")

    @property
    def method(self) -> str:
        return self._request.method.lower()

    @property
    def body(self) -> bytes | None:
        return self._request.content or None

    @property
    def content_type(self) -> str:
        return self._request.headers.get("content-type", "").lower()


class HttpxOpenAPIResponse:
    def __init__(self, response: httpx.Response) -> None:
        self._response = response

    @property
    def status_code(self) -> int:
        return self._response.status_code

    @property
    def content_type(self) -> str:
        return self._response.headers.get("content-type", "").lower()

    @property
    def headers(self) -> Headers:
        return Headers(dict(self._response.headers))

    @property
    def data(self) -> bytes | None:
        return self._response.content or None


@functools.cache
def load_spec(path: Path) -> OpenAPI:
    # openapi-core only knows application/json; the spec's errors are application/problem+json.
    config = Config(extra_media_type_deserializers={"application/problem+json": json.loads})
    return OpenAPI.from_file_path(str(path), config=config)


class SpecCheck:
    """Validates httpx traffic against the A1-PMS v3 spec and counts what it checked."""

    def __init__(self, spec: OpenAPI) -> None:
        self.spec = spec
        self.requests = 0
        self.responses = 0

    def request(self, request: httpx.Request) -> None:
        self.spec.validate_request(HttpxOpenAPIRequest(request))
        self.requests += 1

    def response(self, response: httpx.Response) -> None:
        response.read()
        self._response(response)

    async def aresponse(self, response: httpx.Response) -> None:
        await response.aread()
        self._response(response)

    def _response(self, response: httpx.Response) -> None:
        try:
            self.spec.validate_response(
                HttpxOpenAPIRequest(response.request), HttpxOpenAPIResponse(response)
            )
        except MissingData:
            # The spec gives DELETE /services/{id} a 204 with JSON content, which HTTP forbids
            # (RFC 9110 15.3.5); the real A1-PMS sends no body either.
            if response.status_code != 204 or response.content:
                raise
        self.responses += 1


# ------------------------------------------------------------------------------------------
# fixtures and helpers


@pytest.fixture
def check(specs: Path) -> SpecCheck:
    return SpecCheck(load_spec(specs / "a1pms" / "pms-api-v3.yaml"))


@pytest.fixture
def app() -> FastAPI:
    return create_app()


@pytest.fixture
def client(app: FastAPI, check: SpecCheck) -> Iterator[httpx.Client]:
    with (
        serve(app) as url,
        httpx.Client(base_url=url + BASE, event_hooks={"response": [check.response]}) as c,
    ):
        yield c
    assert check.responses > 0


def capacity_policy(policy_id: str | None = "p1", **overrides: Any) -> dict[str, Any]:
    info: dict[str, Any] = {
        "nearRtRicId": "ric1",
        "policyTypeId": "RAPP_CAPACITY_1.0.0",
        "serviceId": "rapp",
        "policyObject": {
            "scope": {"nfId": "upf-site-03", "cellIdList": ["cell-1", "cell-2"]},
            "statement": {
                "action": "scale_out",
                "capacity": "5G",
                "decisionId": "d0123456789abcde",
                "prbUtilisationDlP90": 87.5,
            },
        },
    }
    if policy_id is not None:
        info["policyId"] = policy_id
    info.update(overrides)
    return info


def std_policy(policy_id: str, **overrides: Any) -> dict[str, Any]:
    info = {
        "policyId": policy_id,
        "nearRtRicId": "ric1",
        "policyTypeId": "STD_1_0.2.0",
        "serviceId": "other",
        "policyObject": {
            "scope": {"ueId": "ue1", "qosId": "qos1"},
            "statement": {"priorityLevel": 5},
        },
    }
    info.update(overrides)
    return info


def assert_problem(response: httpx.Response, status: int, detail_part: str = "") -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    problem = response.json()
    assert problem["status"] == status
    assert {"type", "title", "detail"} <= problem.keys()
    assert detail_part in problem["detail"]
    return problem


def two_ric_config(**ric1: Any) -> SimulatorConfig:
    return SimulatorConfig.from_dict(
        {
            "rics": [
                {"ricId": "ric1", "managedElementIds": ["upf-site-03"], **ric1},
                {"ricId": "ric2", "state": "AVAILABLE", "policyTypes": ["STD_1_0.2.0"]},
            ]
        }
    )


# ------------------------------------------------------------------------------------------
# health, RICs, policy types


def test_status(client: httpx.Client) -> None:
    r = client.get("/status")
    assert r.status_code == 200
    assert r.json() == {"status": "success"}


def test_rics(check: SpecCheck) -> None:
    app = create_app(two_ric_config())
    with (
        serve(app) as url,
        httpx.Client(base_url=url + BASE, event_hooks={"response": [check.response]}) as c,
    ):
        rics = c.get("/rics").json()["rics"]
        assert [r["ricId"] for r in rics] == ["ric1", "ric2"]
        assert rics[0]["managedElementIds"] == ["upf-site-03"]
        assert rics[0]["state"] == "AVAILABLE"
        assert "RAPP_CAPACITY_1.0.0" in rics[0]["policyTypeIds"]

        only = c.get("/rics", params={"policyTypeId": "RAPP_CAPACITY_1.0.0"}).json()["rics"]
        assert [r["ricId"] for r in only] == ["ric1"]
        assert_problem(c.get("/rics", params={"policyTypeId": "NOPE_1.0.0"}), 404, "NOPE_1.0.0")

        assert c.get("/rics/ric2").json()["policyTypeIds"] == ["STD_1_0.2.0"]
        assert_problem(c.get("/rics/nope"), 404, "Near-RT RIC not found")
    assert check.responses == 5


def test_policy_types(check: SpecCheck) -> None:
    app = create_app(two_ric_config())
    with (
        serve(app) as url,
        httpx.Client(base_url=url + BASE, event_hooks={"response": [check.response]}) as c,
    ):
        everything = c.get("/policy-types").json()
        assert {"policyTypeId": "STD_1_0.2.0", "nearRtRicId": "ric2"} in everything
        assert len(everything) == 5  # four types on ric1, one on ric2

        on_ric2 = c.get("/policy-types", params={"nearRtRicId": "ric2"}).json()
        assert on_ric2 == [{"policyTypeId": "STD_1_0.2.0", "nearRtRicId": "ric2"}]
        assert_problem(c.get("/policy-types", params={"nearRtRicId": "nope"}), 404, "nope")

        by_name = c.get("/policy-types", params={"typeName": "RAPP_CAPACITY"}).json()
        assert by_name == [{"policyTypeId": "RAPP_CAPACITY_1.0.0", "nearRtRicId": "ric1"}]

        query = {"typeName": "STD_1", "nearRtRicId": "ric1"}
        assert (
            len(c.get("/policy-types", params={**query, "compatibleWithVersion": "0.1.0"}).json())
            == 1
        )
        assert (
            c.get("/policy-types", params={**query, "compatibleWithVersion": "0.3.0"}).json() == []
        )
        assert (
            c.get("/policy-types", params={**query, "compatibleWithVersion": "1.0.0"}).json() == []
        )
        assert_problem(
            c.get("/policy-types", params={**query, "compatibleWithVersion": "one"}), 400
        )
        assert_problem(
            c.get("/policy-types", params={"compatibleWithVersion": "1.0.0"}), 400, "typeName"
        )
        assert_problem(
            c.get("/policy-types", params={"ricId": "ric1"}),
            400,
            "Unexpected query parameters: ricId",
        )


def test_policy_type_definition(client: httpx.Client) -> None:
    r = client.get("/policy-types/RAPP_CAPACITY_1.0.0")
    assert r.status_code == 200
    expected = json.loads((TYPES_DIR / "RAPP_CAPACITY_1.0.0.json").read_text())
    assert r.json() == expected
    assert r.json()["policySchema"]["$schema"] == "http://json-schema.org/draft-07/schema#"
    assert client.get("/policy-types/STD_2_0.2.0").json()["policySchema"]["title"] == "STD_2_0.2.0"
    assert_problem(client.get("/policy-types/NOPE_1.0.0"), 404, "Policy type not found")


def test_shipped_std_types_are_byte_copies_of_the_samples(samples: Path) -> None:
    for name, sample in (("STD_1_0.2.0", "std_1.json"), ("STD_2_0.2.0", "std_2.json")):
        assert (TYPES_DIR / f"{name}.json").read_bytes() == (samples / "a1" / sample).read_bytes()


# ------------------------------------------------------------------------------------------
# policies


def test_policy_lifecycle(client: httpx.Client) -> None:
    info = capacity_policy("p1")
    created = client.post("/policies", json=info)
    assert created.status_code == 201
    assert created.headers["location"] == f"{created.request.url}/p1"
    assert created.json() == {**info, "transient": False}

    assert client.get("/policies/p1").json() == info["policyObject"]
    assert client.get("/policies/p1/status").json() == {"enforceStatus": "ENFORCED"}

    changed = {
        **info["policyObject"],
        "statement": {**info["policyObject"]["statement"], "capacity": "6G"},
    }
    updated = client.put("/policies/p1", json=changed)
    assert updated.status_code == 200
    assert updated.json() == changed
    assert client.get("/policies/p1").json() == changed

    deleted = client.delete("/policies/p1")
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_problem(client.get("/policies/p1"), 404, "Policy not found: p1")
    assert_problem(client.delete("/policies/p1"), 404, "p1")
    assert_problem(client.put("/policies/p1", json=changed), 404, "p1")
    assert_problem(client.get("/policies/p1/status"), 404, "p1")


def test_create_without_id_generates_one(client: httpx.Client) -> None:
    created = client.post("/policies", json=capacity_policy(None, transient=True))
    assert created.status_code == 201
    policy_id = created.json()["policyId"]
    assert len(policy_id) == 36  # a UUID
    assert created.json()["transient"] is True
    assert created.headers["location"].endswith(f"/policies/{policy_id}")
    assert client.get(f"/policies/{policy_id}").status_code == 200


def test_duplicate_create_is_a_conflict(client: httpx.Client) -> None:
    assert client.post("/policies", json=capacity_policy("dup")).status_code == 201
    assert_problem(
        client.post("/policies", json=capacity_policy("dup")),
        409,
        "Policy already created with ID: dup",
    )
    assert [p["policyId"] for p in client.get("/policies").json()] == ["dup"]


@pytest.mark.parametrize(
    ("path", "value", "detail_part"),
    [
        (("statement", "capacity"), "5 gigs", "does not match"),
        (("statement", "action"), "scale_sideways", "is not one of"),
        (("statement", "prbUtilisationDlP90"), 140, "is greater than the maximum"),
        (("scope", "cellIdList"), [], "should be non-empty"),
        (("scope", "colour"), "blue", "Additional properties are not allowed"),
    ],
)
def test_schema_invalid_policy_is_rejected(
    client: httpx.Client, path: tuple[str, str], value: Any, detail_part: str
) -> None:
    info = capacity_policy("bad")
    info["policyObject"][path[0]][path[1]] = value
    problem = assert_problem(client.post("/policies", json=info), 400, detail_part)
    assert "Policy Type Schema validation failed in create" in problem["detail"]
    assert problem["instance"] == f"{BASE}/policies"
    assert client.get("/policies").json() == []


def test_schema_invalid_update_is_rejected(client: httpx.Client) -> None:
    info = capacity_policy("p1")
    assert client.post("/policies", json=info).status_code == 201
    broken = {"scope": info["policyObject"]["scope"], "statement": {"action": "scale_in"}}
    assert_problem(
        client.put("/policies/p1", json=broken), 400, "validation failed in update: 'capacity'"
    )
    assert_problem(client.put("/policies/p1", json=[1, 2]), 400, "JSON object")
    assert client.get("/policies/p1").json() == info["policyObject"]


def test_malformed_bodies_are_bad_requests(client: httpx.Client) -> None:
    headers = {"content-type": "application/json"}
    assert_problem(client.post("/policies", content=b"{not json", headers=headers), 400, "JSON")
    assert_problem(client.post("/policies", headers=headers), 400)
    missing = capacity_policy("p1")
    del missing["nearRtRicId"]
    assert_problem(client.post("/policies", json=missing), 400, "'nearRtRicId' is a required")
    assert_problem(
        client.post("/policies", json=capacity_policy("p1", policyObject="{}")),
        400,
        "is not of type 'object'",
    )
    assert_problem(client.post("/policies", json=capacity_policy("p1", transient="no")), 400)
    assert_problem(client.put("/policies/p1", content=b"[", headers=headers), 400)


def test_create_for_unknown_ric_or_unsupported_type(check: SpecCheck) -> None:
    app = create_app(two_ric_config())
    with (
        serve(app) as url,
        httpx.Client(base_url=url + BASE, event_hooks={"response": [check.response]}) as c,
    ):
        assert_problem(
            c.post("/policies", json=capacity_policy("p1", nearRtRicId="nope")),
            404,
            "Near-RT RIC not found: nope",
        )
        assert_problem(
            c.post("/policies", json=capacity_policy("p1", nearRtRicId="ric2")),
            404,
            "RAPP_CAPACITY_1.0.0 not supported by Near-RT RIC ric2",
        )
        assert_problem(
            c.post("/policies", json=capacity_policy("p1", policyTypeId="NOPE_1.0.0")), 404
        )
        assert c.post("/policies", json=std_policy("p2", nearRtRicId="ric2")).status_code == 201


def test_list_policies_filters(check: SpecCheck) -> None:
    app = create_app(two_ric_config())
    with (
        serve(app) as url,
        httpx.Client(base_url=url + BASE, event_hooks={"response": [check.response]}) as c,
    ):
        for info in (
            capacity_policy("a"),
            capacity_policy("b", serviceId="other"),
            std_policy("c"),
            std_policy("d", nearRtRicId="ric2"),
        ):
            assert c.post("/policies", json=info).status_code == 201

        def ids(**params: str) -> list[str]:
            r = c.get("/policies", params=params)
            assert r.status_code == 200
            return sorted(p["policyId"] for p in r.json())

        assert ids() == ["a", "b", "c", "d"]
        assert ids(serviceId="rapp") == ["a"]
        assert ids(serviceId="other") == ["b", "c", "d"]
        assert ids(serviceId="nobody") == []
        assert ids(policyTypeId="STD_1_0.2.0") == ["c", "d"]
        assert ids(typeName="RAPP_CAPACITY") == ["a", "b"]
        assert ids(nearRtRicId="ric2") == ["d"]
        assert ids(nearRtRicId="ric1", serviceId="other", policyTypeId="STD_1_0.2.0") == ["c"]
        assert {"policyId": "d", "nearRtRicId": "ric2"} in c.get("/policies").json()

        assert_problem(c.get("/policies", params={"policyTypeId": "NOPE_1.0.0"}), 404)
        assert_problem(c.get("/policies", params={"nearRtRicId": "nope"}), 404)
        assert_problem(
            c.get("/policies", params={"service": "rapp"}), 400, "Unexpected query parameters"
        )


def test_synchronizing_ric_is_locked(app: FastAPI, client: httpx.Client) -> None:
    info = capacity_policy("p1")
    assert client.post("/policies", json=info).status_code == 201
    app.state.registry.set_ric_state("ric1", "SYNCHRONIZING")

    assert_problem(client.post("/policies", json=capacity_policy("p2")), 423, "locked")
    assert_problem(client.put("/policies/p1", json=info["policyObject"]), 423, "SYNCHRONIZING")
    assert_problem(client.delete("/policies/p1"), 423)
    # Reads stay open while the RIC synchronises.
    assert client.get("/policies/p1").status_code == 200
    assert client.get("/rics/ric1").json()["state"] == "SYNCHRONIZING"

    app.state.registry.set_ric_state("ric1", "AVAILABLE")
    assert client.delete("/policies/p1").status_code == 204


def test_synchronizing_state_from_config(check: SpecCheck) -> None:
    app = create_app(two_ric_config(state="SYNCHRONIZING"))
    with (
        serve(app) as url,
        httpx.Client(base_url=url + BASE, event_hooks={"response": [check.response]}) as c,
    ):
        assert_problem(c.post("/policies", json=capacity_policy("p1")), 423)
        assert c.post("/policies", json=std_policy("p2", nearRtRicId="ric2")).status_code == 201


# ------------------------------------------------------------------------------------------
# services


def test_service_registration(client: httpx.Client) -> None:
    registration = {
        "serviceId": "rapp",
        "keepAliveIntervalSeconds": 60,
        "callbackUrl": "http://r/cb",
    }
    first = client.put("/services", json=registration)
    assert first.status_code == 201
    again = client.put("/services", json={**registration, "keepAliveIntervalSeconds": 30})
    assert again.status_code == 200
    assert client.put("/services", json={"serviceId": "quiet"}).status_code == 201

    services = {s["serviceId"]: s for s in client.get("/services").json()["serviceList"]}
    assert services["rapp"] == {
        "serviceId": "rapp",
        "keepAliveIntervalSeconds": 30,
        "callbackUrl": "http://r/cb",
        "timeSinceLastActivitySeconds": 0,
    }
    assert services["quiet"]["keepAliveIntervalSeconds"] == 0
    one = client.get("/services", params={"serviceId": "quiet"}).json()["serviceList"]
    assert [s["serviceId"] for s in one] == ["quiet"]
    assert_problem(client.get("/services", params={"serviceId": "nope"}), 404, "nope")

    keepalive = client.put("/services/rapp/keepalive")
    assert keepalive.status_code == 200
    assert keepalive.json() == {}
    assert_problem(client.put("/services/nope/keepalive"), 404, "Service not found")


@pytest.mark.parametrize(
    "body",
    [
        {"keepAliveIntervalSeconds": 10},
        {"serviceId": ""},
        {"serviceId": "s", "keepAliveIntervalSeconds": -1},
        {"serviceId": "s", "keepAliveIntervalSeconds": "10"},
        ["s"],
    ],
)
def test_bad_service_registration(client: httpx.Client, body: Any) -> None:
    assert_problem(client.put("/services", json=body), 400, "ServiceRegistrationInfo")


def test_delete_service_deletes_its_policies(client: httpx.Client) -> None:
    assert client.put("/services", json={"serviceId": "rapp"}).status_code == 201
    assert client.post("/policies", json=capacity_policy("mine")).status_code == 201
    assert client.post("/policies", json=std_policy("theirs")).status_code == 201

    r = client.delete("/services/rapp")
    assert r.status_code == 204
    assert r.content == b""
    assert [p["policyId"] for p in client.get("/policies").json()] == ["theirs"]
    assert client.get("/services").json() == {"serviceList": []}
    assert_problem(client.delete("/services/rapp"), 404)


def test_expire_services_removes_silent_services_and_their_policies() -> None:
    now = [1000.0]
    registry = Registry(SimulatorConfig.default(), clock=lambda: now[0])
    registry.put_service({"serviceId": "silent", "keepAliveIntervalSeconds": 10})
    registry.put_service({"serviceId": "chatty", "keepAliveIntervalSeconds": 10})
    registry.put_service({"serviceId": "unsupervised", "keepAliveIntervalSeconds": 0})
    registry.create_policy(capacity_policy("s1", serviceId="silent"))
    registry.create_policy(capacity_policy("s2", serviceId="silent"))
    registry.create_policy(capacity_policy("c1", serviceId="chatty"))
    registry.create_policy(capacity_policy("u1", serviceId="unsupervised"))

    now[0] = 1008.0
    registry.keepalive("chatty")
    assert registry.expire_services(1010.0) == []  # exactly on the deadline is still alive
    assert registry.expire_services(1010.5) == ["silent"]
    assert [p["policyId"] for p in registry.policies()] == ["c1", "u1"]
    assert {s["serviceId"] for s in registry.services()["serviceList"]} == {
        "chatty",
        "unsupervised",
    }

    # A policy change by a registered service counts as a sign of life, as in A1-PMS.
    now[0] = 1017.0
    registry.update_policy("c1", capacity_policy()["policyObject"])
    assert registry.expire_services(1026.0) == []
    assert registry.expire_services(1027.5) == ["chatty"]
    assert registry.expire_services(10**9) == []
    assert [p["policyId"] for p in registry.policies()] == ["u1"]


def test_background_supervision_expires_services(check: SpecCheck) -> None:
    app = create_app(keepalive_check_interval=0.05)
    with (
        serve(app) as url,
        httpx.Client(base_url=url + BASE, event_hooks={"response": [check.response]}) as c,
    ):
        c.put("/services", json={"serviceId": "rapp", "keepAliveIntervalSeconds": 1})
        assert c.post("/policies", json=capacity_policy("p1")).status_code == 201
        deadline = time.monotonic() + 5
        while c.get("/policies", params={"serviceId": "rapp"}).json():
            assert time.monotonic() < deadline, "the service's policy outlived its keepalive"
            time.sleep(0.05)
        assert_problem(c.get("/services", params={"serviceId": "rapp"}), 404)


# ------------------------------------------------------------------------------------------
# errors outside the spec's paths, configuration, the command line


def test_unknown_path_and_method_are_problem_json(app: FastAPI) -> None:
    with serve(app) as url, httpx.Client(base_url=url) as c:
        assert_problem(c.get(f"{BASE}/nope"), 404)
        assert_problem(c.patch(f"{BASE}/status"), 405)


def test_config_file(tmp_path: Path) -> None:
    path = tmp_path / "a1pms.json"
    path.write_text(json.dumps({"rics": [{"ricId": "r9", "policyTypes": ["STD_2_0.2.0"]}]}))
    assert SimulatorConfig.from_file(path).rics == (
        RicConfig("r9", (), "AVAILABLE", ("STD_2_0.2.0",)),
    )
    with pytest.raises(ValueError, match="state"):
        SimulatorConfig.from_dict({"rics": [{"ricId": "r", "state": "ASLEEP"}]})
    with pytest.raises(ValueError, match="no policy type definition"):
        Registry(SimulatorConfig.from_dict({"rics": [{"ricId": "r", "policyTypes": ["X_1.0.0"]}]}))


def test_command_line(tmp_path: Path) -> None:
    config = tmp_path / "a1pms.json"
    config.write_text(json.dumps({"rics": [{"ricId": "cli-ric", "state": "AVAILABLE"}]}))
    port = free_port()
    root = Path(__file__).resolve().parents[1]
    args = [sys.executable, "-m", "simulators.a1pms", "--port", str(port), "--config", str(config)]
    with subprocess.Popen(
        args, cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    ) as proc:
        try:
            deadline = time.monotonic() + 10
            while True:
                try:
                    r = httpx.get(f"http://127.0.0.1:{port}{BASE}/rics/cli-ric")
                    break
                except httpx.TransportError:
                    assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                    assert time.monotonic() < deadline
                    time.sleep(0.05)
            assert r.json()["ricId"] == "cli-ric"
        finally:
            proc.terminate()
            proc.wait(timeout=10)


# ------------------------------------------------------------------------------------------
# conformance details: Accept, unknown query parameters, the capacity quantity


def spec_operations(specs: Path) -> dict[tuple[str, str], dict[str, Any]]:
    document = yaml.safe_load((specs / "a1pms" / "pms-api-v3.yaml").read_text())
    return {
        (method.upper(), path): op
        for path, item in document["paths"].items()
        for method, op in item.items()
        if method in {"get", "put", "post", "delete"}
    }


# One concrete request per implemented operation; "p1" exists, "rapp" is registered.
REQUESTS: dict[tuple[str, str], tuple[str, dict[str, Any] | None]] = {
    ("GET", "/status"): ("/status", None),
    ("GET", "/rics"): ("/rics", None),
    ("GET", "/rics/{ricId}"): ("/rics/ric1", None),
    ("GET", "/policy-types"): ("/policy-types", None),
    ("GET", "/policy-types/{policyTypeId}"): ("/policy-types/STD_1_0.2.0", None),
    ("GET", "/policies"): ("/policies", None),
    ("POST", "/policies"): ("/policies", capacity_policy("p2")),
    ("GET", "/policies/{policyId}"): ("/policies/p1", None),
    ("PUT", "/policies/{policyId}"): ("/policies/p1", capacity_policy()["policyObject"]),
    ("DELETE", "/policies/{policyId}"): ("/policies/p1", None),
    ("GET", "/policies/{policyId}/status"): ("/policies/p1/status", None),
    ("GET", "/services"): ("/services", None),
    ("PUT", "/services"): ("/services", {"serviceId": "rapp"}),
    ("PUT", "/services/{serviceId}/keepalive"): ("/services/rapp/keepalive", None),
    ("DELETE", "/services/{serviceId}"): ("/services/rapp", None),
}


@pytest.mark.parametrize(
    "accept",
    [
        "text/plain",
        "application/xml, text/html",
        "application/problem+json",
        "application/json;q=0, */*",
        "application/json; q=0",
        "*/*;q=0",
    ],
)
def test_accept_without_json_is_406_where_the_spec_lists_406(
    specs: Path, check: SpecCheck, accept: str
) -> None:
    operations = spec_operations(specs)
    # Every operation but the configuration API (which the simulator does not serve).
    assert set(REQUESTS) == {k for k in operations if not k[1].startswith("/configuration")}
    app = create_app()
    with (
        serve(app) as url,
        httpx.Client(base_url=url + BASE, event_hooks={"response": [check.response]}) as c,
    ):
        for (method, template), (path, body) in REQUESTS.items():
            # Fresh fixtures each time, so every request could succeed but for its Accept.
            c.put("/services", json={"serviceId": "rapp"})
            if c.get("/policies/p1").status_code == 404:
                assert c.post("/policies", json=capacity_policy("p1")).status_code == 201
            c.delete("/policies/p2")
            r = c.request(method, path, json=body, headers={"Accept": accept})
            if "406" in operations[method, template]["responses"]:
                assert_problem(r, 406, "Only application/json is allowed")
            else:
                assert r.status_code < 400, (method, path, r.text)


@pytest.mark.parametrize(
    "accept",
    [
        None,
        "",
        "*/*",
        "application/*",
        "application/json",
        "application/json; charset=utf-8",
        "text/html, application/json;q=0.1",
        "application/json;q=0.5, */*;q=0",
        "text/plain, */*;q=0.01",
    ],
)
def test_accept_with_json_is_served(client: httpx.Client, accept: str | None) -> None:
    headers = {} if accept is None else {"Accept": accept}
    if accept is None:
        client.headers.pop("accept", None)
    assert client.post("/policies", json=capacity_policy("p1"), headers=headers).status_code == 201
    assert client.get("/policies", headers=headers).status_code == 200
    assert client.get("/policies/p1/status", headers=headers).status_code == 200
    assert client.delete("/policies/p1", headers=headers).status_code == 204


def test_unknown_query_parameters_are_400_only_where_the_spec_lists_400(
    specs: Path, client: httpx.Client
) -> None:
    operations = spec_operations(specs)
    for path in ("/rics", "/services"):
        assert "400" not in operations["GET", path]["responses"]
        r = client.get(path, params={"bogus": "1"})
        assert r.status_code == 200, r.text
    for path in ("/policies", "/policy-types"):
        assert "400" in operations["GET", path]["responses"]
        assert_problem(client.get(path, params={"bogus": "1"}), 400, "bogus")


KUBERNETES_SUFFIXES = ("", "m", "k", "Ki", "M", "Mi", "G", "Gi", "T", "Ti", "P", "Pi", "E", "Ei")


@pytest.mark.parametrize("capacity", [f"{n}{s}" for s in KUBERNETES_SUFFIXES for n in ("5", "1.5")])
def test_capacity_takes_every_kubernetes_quantity_suffix(
    client: httpx.Client, capacity: str
) -> None:
    info = capacity_policy("p1")
    info["policyObject"]["statement"]["capacity"] = capacity
    assert client.post("/policies", json=info).status_code == 201


@pytest.mark.parametrize("capacity", ["5K", "5g", "5GB", "1.", ".5G", "-1G", "5 G", "1e3", ""])
def test_capacity_refuses_what_is_not_a_quantity(client: httpx.Client, capacity: str) -> None:
    info = capacity_policy("p1")
    info["policyObject"]["statement"]["capacity"] = capacity
    assert_problem(client.post("/policies", json=info), 400, "does not match")


def test_capacity_pattern_is_the_rego_gates() -> None:
    rego = (Path(__file__).resolve().parents[1] / "policies" / "scaling.rego").read_text()
    match = re.search(r"^_quantity_pattern := `([^`]*)`", rego, re.MULTILINE)
    assert match, "policies/scaling.rego no longer defines _quantity_pattern"
    definition = json.loads((TYPES_DIR / "RAPP_CAPACITY_1.0.0.json").read_text())
    capacity = definition["policySchema"]["properties"]["statement"]["properties"]["capacity"]
    assert capacity["pattern"] == match[1]


def test_public_face_survives_the_split() -> None:
    import simulators.a1pms as package
    from simulators.a1pms import registry

    assert package.Problem is registry.Problem
    assert package.SimulatorConfig is registry.SimulatorConfig
    assert package.RicConfig is registry.RicConfig
    assert registry.TYPES_DIR.is_dir()
