"""The A1-PMS simulator's v2 API (``/a1-policy/v2``) over real HTTP, against ``pms-api.yaml``.

Every request these tests mean to be valid and every response is checked against the spec with
openapi-core. Where the real A1-PMS answers with a status the spec does not list for the
operation (a 400 for a policy that breaks its type's schema, a 404 for deleting a policy that
is not there, ...), the simulator does as A1-PMS does: ``UNLISTED`` names each such case, and
the check still holds those answers to the spec's ``error_information`` problem shape.
"""

from __future__ import annotations

import contextlib
import functools
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
import yaml
from fastapi import FastAPI
from openapi_core import Config, OpenAPI
from openapi_core.templating.responses.exceptions import ResponseNotFound

from simulators.a1pms import SimulatorConfig, create_app
from simulators.a1pms.registry import TYPES_DIR
from tests.conftest import serve
from tests.test_a1pms_simulator import (
    BASE as V3,
)
from tests.test_a1pms_simulator import (
    SpecCheck,
    assert_problem,
    capacity_policy,
    two_ric_config,
)

V2 = "/a1-policy/v2"

# Statuses the real A1-PMS sends that pms-api.yaml does not list for the operation.
UNLISTED: dict[tuple[str, str], set[int]] = {
    # A body that is not a policy_info, or whose policy_data breaks the type's schema; an
    # unknown RIC or type; a policy moved to another RIC (PolicyController.putPolicy), or, in
    # the simulator only, to another type or owner (see its README).
    ("PUT", "/policies"): {400, 404, 409},
    ("DELETE", "/policies/{policy_id}"): {404},
    # compatible_with_version without type_name, or not a version.
    ("GET", "/policy-types"): {400},
    # Both or neither of ric_id and managed_element_id (RicRepositoryController.getRic).
    ("GET", "/rics/ric"): {400},
}


@functools.cache
def load_v2_spec(path: Path) -> OpenAPI:
    # openapi-core knows neither application/problem+json nor how to read a '*/*' body (it
    # leaves it bytes, which no 'type: object' schema takes); every '*/*' answer here is JSON.
    config = Config(
        extra_media_type_deserializers={"application/problem+json": json.loads, "*/*": json.loads}
    )
    return OpenAPI.from_file_path(str(path), config=config)


def spec_document(specs: Path) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((specs / "a1pms" / "pms-api.yaml").read_text())
    return document


def template_of(path: str) -> str:
    """The spec's path template (without the v2 prefix) that a concrete v2 path matches."""
    relative = path.removeprefix(V2)
    for template in TEMPLATES:
        if re.fullmatch(re.sub(r"\{[^}]+\}", "[^/]+", template), relative):
            return template
    raise AssertionError(f"{path} is not a v2 path of the spec")


TEMPLATES = (
    "/status",
    "/rics",
    "/rics/ric",
    "/policy-types",
    "/policy-types/{policytype_id}",
    "/policies",
    "/policy-instances",
    "/policies/{policy_id}",
    "/policies/{policy_id}/status",
    "/services",
    "/services/{service_id}",
    "/services/{service_id}/keepalive",
)


class V2SpecCheck(SpecCheck):
    """``SpecCheck`` for pms-api.yaml, with A1-PMS's unlisted statuses held to the problem shape."""

    def __init__(self, spec: OpenAPI, error_schema: dict[str, Any]) -> None:
        super().__init__(spec)
        self._error = jsonschema.Draft7Validator(error_schema)
        self.unlisted: list[tuple[str, str, int]] = []

    def _response(self, response: httpx.Response) -> None:
        try:
            super()._response(response)
        except ResponseNotFound:
            key = (response.request.method, template_of(response.request.url.path))
            assert response.headers["content-type"] == "application/problem+json"
            problem = response.json()
            self._error.validate(problem)
            # An injected fault may carry any status at all (the simulator's README says so).
            if not problem.get("title", "").endswith("(injected fault)"):
                if response.status_code not in UNLISTED.get(key, set()):
                    raise
                self.unlisted.append((*key, response.status_code))
            self.responses += 1


@pytest.fixture
def check(specs: Path) -> V2SpecCheck:
    error_schema = spec_document(specs)["components"]["schemas"]["error_information"]
    return V2SpecCheck(load_v2_spec(specs / "a1pms" / "pms-api.yaml"), error_schema)


@pytest.fixture
def app() -> FastAPI:
    return create_app()


def v2_client(url: str, check: V2SpecCheck, *, requests: bool = True) -> httpx.Client:
    """Responses always checked; requests too, unless the test sends malformed ones on purpose."""
    hooks: dict[str, list[Any]] = {"response": [check.response]}
    if requests:
        hooks["request"] = [check.request]
    return httpx.Client(base_url=url + V2, event_hooks=hooks)


@pytest.fixture
def served(app: FastAPI) -> Iterator[str]:
    with serve(app) as url:
        yield url


@pytest.fixture
def client(served: str, check: V2SpecCheck) -> Iterator[httpx.Client]:
    with v2_client(served, check) as c:
        yield c
    assert check.responses > 0


@pytest.fixture
def unchecked_requests(served: str, check: V2SpecCheck) -> Iterator[httpx.Client]:
    with v2_client(served, check, requests=False) as c:
        yield c


@pytest.fixture
def v3(served: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=served + V3) as c:
        yield c


def policy_info(policy_id: str = "p1", **overrides: Any) -> dict[str, Any]:
    """The v2 twin of ``capacity_policy``."""
    v3_info = capacity_policy(policy_id)
    info = {
        "policy_id": policy_id,
        "ric_id": v3_info["nearRtRicId"],
        "policytype_id": v3_info["policyTypeId"],
        "service_id": v3_info["serviceId"],
        "transient": False,
        "policy_data": v3_info["policyObject"],
    }
    info.update(overrides)
    return info


STD_DATA = {"scope": {"ueId": "ue1", "qosId": "qos1"}, "statement": {"priorityLevel": 5}}


@contextlib.contextmanager
def served_with(config: SimulatorConfig, check: V2SpecCheck) -> Iterator[httpx.Client]:
    with serve(create_app(config)) as url, v2_client(url, check) as c:
        yield c


# ------------------------------------------------------------------------------------------
# the spec's side: which paths, which unlisted statuses


def test_unlisted_statuses_are_really_unlisted(specs: Path) -> None:
    paths = spec_document(specs)["paths"]
    for (method, template), statuses in UNLISTED.items():
        listed = paths[V2 + template][method.lower()]["responses"]
        assert not statuses & {int(s) for s in listed}, (method, template)


def test_every_v2_path_is_served(specs: Path, app: FastAPI, check: V2SpecCheck) -> None:
    spec_paths = {
        (method.upper(), path.removeprefix(V2))
        for path, item in spec_document(specs)["paths"].items()
        if path.startswith(V2 + "/") and not path.startswith(V2 + "/configuration")
        for method in item
    }
    assert {template for _, template in spec_paths} == set(TEMPLATES)
    requests: dict[tuple[str, str], tuple[str, dict[str, Any] | None]] = {
        ("GET", "/status"): ("/status", None),
        ("GET", "/rics"): ("/rics", None),
        ("GET", "/rics/ric"): ("/rics/ric?ric_id=ric1", None),
        ("GET", "/policy-types"): ("/policy-types", None),
        ("GET", "/policy-types/{policytype_id}"): ("/policy-types/STD_1_0.2.0", None),
        ("PUT", "/policies"): ("/policies", policy_info("p2")),
        ("GET", "/policies"): ("/policies", None),
        ("GET", "/policy-instances"): ("/policy-instances", None),
        ("GET", "/policies/{policy_id}"): ("/policies/p1", None),
        ("DELETE", "/policies/{policy_id}"): ("/policies/p1", None),
        ("GET", "/policies/{policy_id}/status"): ("/policies/p1/status", None),
        ("PUT", "/services"): ("/services", {"service_id": "rapp"}),
        ("GET", "/services"): ("/services", None),
        ("PUT", "/services/{service_id}/keepalive"): ("/services/rapp/keepalive", None),
        ("DELETE", "/services/{service_id}"): ("/services/rapp", None),
    }
    assert set(requests) == spec_paths
    with serve(app) as url, v2_client(url, check) as c:
        for (method, _), (path, body) in requests.items():
            # Fresh fixtures each time, so that every request can succeed.
            c.put("/services", json={"service_id": "rapp"})
            if c.get("/policies/p1").status_code == 404:
                assert c.put("/policies", json=policy_info("p1")).status_code == 201
            r = c.request(method, path, json=body)
            assert r.status_code < 400, (method, path, r.text)
    assert check.unlisted == []


def test_v2_has_an_openapi_of_its_own(served: str) -> None:
    with httpx.Client(base_url=served) as c:
        v2_doc = c.get(f"{V2}/openapi.json").json()
        root_doc = c.get("/openapi.json").json()
    assert set(v2_doc["paths"]) == set(TEMPLATES)
    assert not any(p.startswith(V2) for p in root_doc["paths"])


# ------------------------------------------------------------------------------------------
# health, RICs, policy types


def test_status(client: httpx.Client) -> None:
    r = client.get("/status")
    assert r.status_code == 200
    assert r.json() == {"status": "success"}


def test_rics(check: V2SpecCheck) -> None:
    with served_with(two_ric_config(), check) as c:
        rics = c.get("/rics").json()["rics"]
        assert [r["ric_id"] for r in rics] == ["ric1", "ric2"]
        assert rics[0]["managed_element_ids"] == ["upf-site-03"]
        assert rics[0]["state"] == "AVAILABLE"
        assert "RAPP_CAPACITY_1.0.0" in rics[0]["policytype_ids"]
        assert rics[1] == {
            "ric_id": "ric2",
            "managed_element_ids": [],
            "state": "AVAILABLE",
            "policytype_ids": ["STD_1_0.2.0"],
        }

        only = c.get("/rics", params={"policytype_id": "RAPP_CAPACITY_1.0.0"}).json()["rics"]
        assert [r["ric_id"] for r in only] == ["ric1"]
        assert_problem(c.get("/rics", params={"policytype_id": "NOPE_1.0.0"}), 404, "NOPE")

        assert c.get("/rics/ric", params={"ric_id": "ric2"}).json() == rics[1]
        by_me = c.get("/rics/ric", params={"managed_element_id": "upf-site-03"}).json()
        assert by_me["ric_id"] == "ric1"
        assert_problem(c.get("/rics/ric", params={"ric_id": "nope"}), 404, "Near-RT RIC")
        assert_problem(c.get("/rics/ric", params={"managed_element_id": "nope"}), 404, "ME")
        both = {"ric_id": "ric1", "managed_element_id": "upf-site-03"}
        assert_problem(c.get("/rics/ric", params=both), 400, "Give one query parameter")
        assert_problem(c.get("/rics/ric"), 400, "Give one query parameter")
    assert ("GET", "/rics/ric", 400) in check.unlisted


def test_policy_types(check: V2SpecCheck) -> None:
    with served_with(two_ric_config(), check) as c:

        def ids(**params: str) -> list[str]:
            r = c.get("/policy-types", params=params)
            assert r.status_code == 200, r.text
            return list(r.json()["policytype_ids"])

        # ric2's STD_1_0.2.0 is also ric1's: each type once.
        assert sorted(ids()) == sorted(p.stem for p in TYPES_DIR.glob("*.json"))
        assert ids(ric_id="ric2") == ["STD_1_0.2.0"]
        assert_problem(c.get("/policy-types", params={"ric_id": "nope"}), 404, "nope")
        assert ids(type_name="RAPP_CAPACITY") == ["RAPP_CAPACITY_1.0.0"]
        assert ids(type_name="STD_1", compatible_with_version="0.1.0") == ["STD_1_0.2.0"]
        assert ids(type_name="STD_1", compatible_with_version="0.3.0") == []
        assert ids(type_name="STD_1", compatible_with_version="1.0.0") == []
        bad = {"type_name": "STD_1", "compatible_with_version": "one"}
        assert_problem(c.get("/policy-types", params=bad), 400, "semantic version")
        assert_problem(
            c.get("/policy-types", params={"compatible_with_version": "1.0.0"}),
            400,
            "compatible_with_version can only be used when type_name is given",
        )
        # The v2 spec lists no 400 for unknown parameters, and A1-PMS v2 ignores them.
        assert ids(nearRtRicId="ric2") == ids()


def test_policy_type_definition(client: httpx.Client) -> None:
    r = client.get("/policy-types/RAPP_CAPACITY_1.0.0")
    assert r.status_code == 200
    definition = json.loads((TYPES_DIR / "RAPP_CAPACITY_1.0.0.json").read_text())
    assert r.json() == {"policy_schema": definition["policySchema"]}
    assert_problem(client.get("/policy-types/NOPE_1.0.0"), 404, "Policy type not found")


# ------------------------------------------------------------------------------------------
# policies


def test_policy_lifecycle(client: httpx.Client, check: V2SpecCheck) -> None:
    info = policy_info("p1")
    created = client.put("/policies", json=info)
    assert created.status_code == 201
    assert created.json() == {}
    assert client.get("/policies/p1").json() == {
        "policy_id": "p1",
        "ric_id": "ric1",
        "policytype_id": "RAPP_CAPACITY_1.0.0",
        "policy_data": info["policy_data"],
        # No service_id: "rapp" is not registered, and the registry cannot tell (README).
    }
    assert client.get("/policies/p1/status").json() == {"status": {"enforceStatus": "ENFORCED"}}

    changed = json.loads(json.dumps(info))
    changed["policy_data"]["statement"]["capacity"] = "6G"
    updated = client.put("/policies", json=changed)
    assert updated.status_code == 200
    assert updated.json() == {}
    assert client.get("/policies/p1").json()["policy_data"] == changed["policy_data"]
    assert client.get("/policies").json() == {"policy_ids": ["p1"]}

    deleted = client.delete("/policies/p1")
    assert deleted.status_code == 200
    assert deleted.json() == {}
    assert_problem(client.get("/policies/p1"), 404, "Policy not found: p1")
    assert_problem(client.get("/policies/p1/status"), 404, "p1")
    assert_problem(client.delete("/policies/p1"), 404, "p1")
    assert check.unlisted == [("DELETE", "/policies/{policy_id}", 404)]


def test_owner_is_read_back_when_registered_or_none(client: httpx.Client) -> None:
    client.put("/services", json={"service_id": "rapp"})
    client.put("/policies", json=policy_info("owned"))
    client.put("/policies", json=policy_info("orphan", service_id=""))
    assert client.get("/policies/owned").json()["service_id"] == "rapp"
    assert client.get("/policies/orphan").json()["service_id"] == ""


def test_v2_and_v3_share_one_state(client: httpx.Client, v3: httpx.Client) -> None:
    # Written over v2, read over v3.
    assert client.put("/policies", json=policy_info("from-v2")).status_code == 201
    assert v3.get("/policies/from-v2").json() == policy_info()["policy_data"]
    assert {"policyId": "from-v2", "nearRtRicId": "ric1"} in v3.get("/policies").json()

    # Written over v3, read and changed over v2.
    std = {"policyId": "from-v3", "nearRtRicId": "ric1", "policyTypeId": "STD_1_0.2.0"}
    assert v3.post("/policies", json={**std, "policyObject": STD_DATA}).status_code == 201
    assert client.get("/policies/from-v3").json() == {
        "policy_id": "from-v3",
        "ric_id": "ric1",
        "policytype_id": "STD_1_0.2.0",
        "service_id": "",
        "policy_data": STD_DATA,
    }
    assert client.get("/policies").json() == {"policy_ids": ["from-v2", "from-v3"]}
    louder = {**STD_DATA, "statement": {"priorityLevel": 9}}
    v2_update = {"policy_id": "from-v3", "ric_id": "ric1", "policytype_id": "STD_1_0.2.0"}
    assert client.put("/policies", json={**v2_update, "policy_data": louder}).status_code == 200
    assert v3.get("/policies/from-v3").json() == louder

    # Deleted over v2, gone over v3; deleted over v3, gone over v2.
    assert client.delete("/policies/from-v3").status_code == 200
    assert v3.get("/policies/from-v3").status_code == 404
    assert v3.delete("/policies/from-v2").status_code == 204
    assert client.get("/policies").json() == {"policy_ids": []}

    # Services, both ways: registered over one, kept alive and deleted over the other.
    assert client.put("/services", json={"service_id": "s2"}).status_code == 201
    assert v3.put("/services", json={"serviceId": "s3"}).status_code == 201
    assert {s["serviceId"] for s in v3.get("/services").json()["serviceList"]} == {"s2", "s3"}
    v2_services = client.get("/services").json()["service_list"]
    assert {s["service_id"] for s in v2_services} == {"s2", "s3"}
    assert v3.put("/services/s2/keepalive").status_code == 200
    assert client.put("/services/s3/keepalive").status_code == 200
    assert client.delete("/services/s3").status_code == 204
    assert v3.get("/services", params={"serviceId": "s3"}).status_code == 404


def test_synchronizing_ric_is_locked_over_v2(
    app: FastAPI, client: httpx.Client, check: V2SpecCheck
) -> None:
    assert client.put("/policies", json=policy_info("p1")).status_code == 201
    app.state.registry.set_ric_state("ric1", "SYNCHRONIZING")

    assert_problem(client.put("/policies", json=policy_info("p2")), 423, "locked")
    assert_problem(client.put("/policies", json=policy_info("p1")), 423, "SYNCHRONIZING")
    assert_problem(client.delete("/policies/p1"), 423)
    # Reads stay open while the RIC synchronises.
    assert client.get("/policies/p1").status_code == 200
    assert client.get("/rics/ric", params={"ric_id": "ric1"}).json()["state"] == "SYNCHRONIZING"
    assert check.unlisted == []  # 423 is a status the spec lists for all three

    app.state.registry.set_ric_state("ric1", "AVAILABLE")
    assert client.delete("/policies/p1").status_code == 200


@pytest.mark.parametrize(
    ("path", "value", "detail_part"),
    [
        (("statement", "capacity"), "5 gigs", "does not match"),
        (("statement", "action"), "scale_sideways", "is not one of"),
        (("scope", "cellIdList"), [], "should be non-empty"),
        (("scope", "colour"), "blue", "Additional properties are not allowed"),
    ],
)
def test_schema_invalid_policy_is_rejected(
    client: httpx.Client, check: V2SpecCheck, path: tuple[str, str], value: Any, detail_part: str
) -> None:
    info = policy_info("bad")
    info["policy_data"][path[0]][path[1]] = value
    problem = assert_problem(client.put("/policies", json=info), 400, detail_part)
    assert "Policy Type Schema validation failed in create" in problem["detail"]
    assert problem["instance"] == f"{V2}/policies"
    assert client.get("/policies").json() == {"policy_ids": []}

    assert client.put("/policies", json=policy_info("bad")).status_code == 201
    assert_problem(client.put("/policies", json=info), 400, "validation failed in update")
    assert client.get("/policies/bad").json()["policy_data"] == policy_info()["policy_data"]
    assert check.unlisted == [("PUT", "/policies", 400)] * 2


@pytest.mark.parametrize(
    ("body", "detail_part"),
    [
        ({k: v for k, v in policy_info().items() if k != "policy_id"}, "'policy_id' is a required"),
        ({k: v for k, v in policy_info().items() if k != "ric_id"}, "'ric_id' is a required"),
        ({**policy_info(), "policy_data": "{}"}, "is not of type 'object'"),
        ({**policy_info(), "transient": "no"}, "is not of type 'boolean'"),
        ({**policy_info(), "policy_id": ""}, "should be non-empty"),
        (["p1"], "is not of type 'object'"),
    ],
)
def test_malformed_policy_info_is_a_bad_request(
    unchecked_requests: httpx.Client, body: Any, detail_part: str
) -> None:
    problem = assert_problem(unchecked_requests.put("/policies", json=body), 400, detail_part)
    assert problem["detail"].startswith("Invalid policy_info")


def test_malformed_json_is_a_bad_request(unchecked_requests: httpx.Client) -> None:
    headers = {"content-type": "application/json"}
    assert_problem(unchecked_requests.put("/policies", content=b"{no", headers=headers), 400)
    assert_problem(unchecked_requests.put("/services", content=b"[", headers=headers), 400)


def test_put_for_unknown_ric_or_type_or_another_ric(check: V2SpecCheck) -> None:
    with served_with(two_ric_config(), check) as c:
        assert_problem(
            c.put("/policies", json=policy_info(ric_id="nope")), 404, "Near-RT RIC not found"
        )
        assert_problem(
            c.put("/policies", json=policy_info(ric_id="ric2")),
            404,
            "RAPP_CAPACITY_1.0.0 not supported by Near-RT RIC ric2",
        )
        assert_problem(c.put("/policies", json=policy_info(policytype_id="NOPE_1.0.0")), 404)
        assert c.put("/policies", json=policy_info("p1")).status_code == 201
        moved = policy_info("p1", ric_id="ric2", policytype_id="STD_1_0.2.0", policy_data=STD_DATA)
        assert_problem(c.put("/policies", json=moved), 409, "Policy cannot change RIC")
        assert c.get("/policies/p1").json()["ric_id"] == "ric1"
    assert {status for *_, status in check.unlisted} == {404, 409}


def test_put_of_another_type_or_owner_is_refused(
    app: FastAPI, client: httpx.Client, check: V2SpecCheck
) -> None:
    # A1-PMS would replace the policy; the registry cannot change either in place (README).
    client.put("/services", json={"service_id": "a"})
    std1 = policy_info("p1", policytype_id="STD_1_0.2.0", service_id="a", policy_data=STD_DATA)
    assert client.put("/policies", json=std1).status_code == 201
    louder = {**STD_DATA, "statement": {"priorityLevel": 7}}

    other_type = {**std1, "policytype_id": "STD_2_0.2.0", "policy_data": louder}
    assert_problem(client.put("/policies", json=other_type), 409, "cannot change type")
    other_owner = {**std1, "service_id": "b", "policy_data": louder}
    assert_problem(client.put("/policies", json=other_owner), 409, "cannot change owner")
    no_type = {**std1, "policytype_id": "NOPE_1.0.0"}
    assert_problem(client.put("/policies", json=no_type), 404, "Policy type not found")
    assert client.get("/policies/p1").json() == {
        "policy_id": "p1",
        "ric_id": "ric1",
        "policytype_id": "STD_1_0.2.0",
        "service_id": "a",
        "policy_data": STD_DATA,
    }
    # The same type and owner: the data is replaced (and a changed transient is not).
    assert client.put("/policies", json={**std1, "policy_data": louder}).status_code == 200
    assert client.get("/policies/p1").json()["policy_data"] == louder
    assert [s for *_, s in check.unlisted] == [409, 409, 404]


def test_list_policies_filters(check: V2SpecCheck) -> None:
    with served_with(two_ric_config(), check) as c:
        for info in (
            policy_info("a"),
            policy_info("b", service_id="other"),
            policy_info("c", policytype_id="STD_1_0.2.0", service_id="other", policy_data=STD_DATA),
            policy_info(
                "d",
                ric_id="ric2",
                policytype_id="STD_1_0.2.0",
                service_id="other",
                policy_data=STD_DATA,
            ),
        ):
            assert c.put("/policies", json=info).status_code == 201

        def ids(**params: str) -> list[str]:
            r = c.get("/policies", params=params)
            assert r.status_code == 200, r.text
            return sorted(r.json()["policy_ids"])

        assert ids() == ["a", "b", "c", "d"]
        assert ids(service_id="rapp") == ["a"]
        assert ids(service_id="other") == ["b", "c", "d"]
        assert ids(service_id="nobody") == []
        assert ids(policytype_id="STD_1_0.2.0") == ["c", "d"]
        assert ids(type_name="RAPP_CAPACITY") == ["a", "b"]
        assert ids(ric_id="ric2") == ["d"]
        assert ids(ric_id="ric1", service_id="other", policytype_id="STD_1_0.2.0") == ["c"]
        assert_problem(c.get("/policies", params={"policytype_id": "NOPE_1.0.0"}), 404)
        assert_problem(c.get("/policies", params={"ric_id": "nope"}), 404)
        # Unknown parameters are ignored: the v2 spec lists no 400 for them.
        assert ids(serviceId="rapp") == ids()

        instances = c.get("/policy-instances", params={"ric_id": "ric2"}).json()["policies"]
        assert instances == [
            {
                "policy_id": "d",
                "ric_id": "ric2",
                "policytype_id": "STD_1_0.2.0",
                "policy_data": STD_DATA,
            }
        ]
        every = c.get("/policy-instances").json()["policies"]
        assert [p["policy_id"] for p in every] == ["a", "b", "c", "d"]
        by_type = c.get("/policy-instances", params={"type_name": "STD_1"}).json()["policies"]
        assert [p["policy_id"] for p in by_type] == ["c", "d"]
        assert c.get("/policy-instances", params={"service_id": "x"}).json() == {"policies": []}
        # This operation's 404 is application/json in the spec, unlike every other one.
        missing = c.get("/policy-instances", params={"policytype_id": "NOPE_1.0.0"})
        assert missing.status_code == 404
        assert missing.headers["content-type"] == "application/json"
        assert missing.json()["detail"] == "Policy type not found: NOPE_1.0.0"


# ------------------------------------------------------------------------------------------
# services and their supervision


def test_service_registration(client: httpx.Client) -> None:
    registration = {
        "service_id": "rapp",
        "keep_alive_interval_seconds": 60,
        "callback_url": "http://r/cb",
    }
    first = client.put("/services", json=registration)
    assert (first.status_code, first.json()) == (201, {})
    again = client.put("/services", json={**registration, "keep_alive_interval_seconds": 30})
    assert (again.status_code, again.json()) == (200, {})
    assert client.put("/services", json={"service_id": "quiet"}).status_code == 201

    services = {s["service_id"]: s for s in client.get("/services").json()["service_list"]}
    assert services["rapp"] == {
        "service_id": "rapp",
        "keep_alive_interval_seconds": 30,
        "callback_url": "http://r/cb",
        "time_since_last_activity_seconds": 0,
    }
    assert services["quiet"]["keep_alive_interval_seconds"] == 0
    assert "callback_url" not in services["quiet"]
    one = client.get("/services", params={"service_id": "quiet"}).json()["service_list"]
    assert [s["service_id"] for s in one] == ["quiet"]
    assert_problem(client.get("/services", params={"service_id": "nope"}), 404, "nope")

    keepalive = client.put("/services/rapp/keepalive")
    assert (keepalive.status_code, keepalive.json()) == (200, {})
    assert_problem(client.put("/services/nope/keepalive"), 404, "Service not found")


@pytest.mark.parametrize(
    "body",
    [
        {"keep_alive_interval_seconds": 10},
        {"serviceId": "camel"},
        {"service_id": ""},
        {"service_id": "s", "keep_alive_interval_seconds": -1},
        {"service_id": "s", "keep_alive_interval_seconds": "10"},
        {"service_id": "s", "keep_alive_interval_seconds": True},
        ["s"],
    ],
)
def test_bad_service_registration(unchecked_requests: httpx.Client, body: Any) -> None:
    r = unchecked_requests.put("/services", json=body)
    assert_problem(r, 400, "Invalid service_registration_info")


def test_delete_service_deletes_its_policies(client: httpx.Client) -> None:
    assert client.put("/services", json={"service_id": "rapp"}).status_code == 201
    assert client.put("/policies", json=policy_info("mine")).status_code == 201
    theirs = policy_info("theirs", service_id="other")
    assert client.put("/policies", json=theirs).status_code == 201

    r = client.delete("/services/rapp")
    assert r.status_code == 204
    assert r.content == b""
    assert client.get("/policies").json() == {"policy_ids": ["theirs"]}
    assert client.get("/services").json() == {"service_list": []}
    assert_problem(client.delete("/services/rapp"), 404)


def test_keepalive_over_v2_keeps_a_service_and_silence_expires_it(
    app: FastAPI, client: httpx.Client
) -> None:
    registry = app.state.registry
    body = {"service_id": "rapp", "keep_alive_interval_seconds": 10}
    assert client.put("/services", json=body).status_code == 201
    assert client.put("/policies", json=policy_info("p1")).status_code == 201

    # A keepalive over v2 restarts the clock; silence past the interval ends the service.
    assert client.put("/services/rapp/keepalive").status_code == 200
    assert registry.expire_services(now=time.monotonic() + 9) == []
    assert registry.expire_services(now=time.monotonic() + 11) == ["rapp"]
    assert_problem(client.get("/policies/p1"), 404)
    assert_problem(client.get("/services", params={"service_id": "rapp"}), 404)
    assert_problem(client.put("/services/rapp/keepalive"), 404, "Service not found")


def test_background_supervision_expires_v2_services(check: V2SpecCheck) -> None:
    app = create_app(keepalive_check_interval=0.05)
    with serve(app) as url, v2_client(url, check) as c:
        c.put("/services", json={"service_id": "rapp", "keep_alive_interval_seconds": 1})
        assert c.put("/policies", json=policy_info("p1")).status_code == 201
        deadline = time.monotonic() + 5
        while c.get("/policies", params={"service_id": "rapp"}).json()["policy_ids"]:
            assert time.monotonic() < deadline, "the service's policy outlived its keepalive"
            time.sleep(0.05)
        assert_problem(c.get("/services", params={"service_id": "rapp"}), 404)


# ------------------------------------------------------------------------------------------
# faults, Accept, unknown paths


def test_faults_reach_v2_only_when_their_prefix_says_so(served: str) -> None:
    with httpx.Client(base_url=served) as c:

        def fault(**spec: Any) -> None:
            assert c.post("/admin/faults", json=spec).status_code == 201

        fault(status=503)  # the default prefix: v3 only
        assert c.get(f"{V2}/status").status_code == 200
        assert c.get(f"{V3}/status").status_code == 503

        fault(status=503, path_prefix=V2, methods=["PUT"])
        assert c.get(f"{V2}/policies").status_code == 200
        injected = c.put(f"{V2}/policies", json=policy_info())
        problem = assert_problem(injected, 503, "Injected")
        assert problem["instance"] == f"{V2}/policies"
        assert c.get(f"{V2}/policies").json() == {"policy_ids": []}

        fault(status=429, count=2, path_prefix="/a1-policy")  # both APIs
        assert c.get(f"{V2}/status").status_code == 429
        assert c.get(f"{V3}/status").status_code == 429
        assert c.get(f"{V2}/status").status_code == 200


def test_accept_is_ignored_as_no_v2_operation_lists_406(client: httpx.Client) -> None:
    headers = {"Accept": "text/plain"}
    assert client.put("/policies", json=policy_info(), headers=headers).status_code == 201
    assert client.get("/policies/p1", headers=headers).status_code == 200
    assert client.get("/policy-types", headers=headers).status_code == 200


def test_unknown_v2_path_and_method_are_problem_json(served: str) -> None:
    with httpx.Client(base_url=served) as c:
        assert_problem(c.get(f"{V2}/nope"), 404)
        assert_problem(c.get(f"{V2}/rics/ric1"), 404)  # v3's shape, not v2's
        assert_problem(c.patch(f"{V2}/status"), 405)
