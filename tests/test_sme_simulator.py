"""The SME / CAPIF core simulator: capifcore's ids, codes and discovery, the SMO's seeded
platform APIs, faults, and the CLI. Bodies are checked by hand against the TS 29.222 types
(required keys, types, enums) since the 3GPP spec files are not kept here."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from simulators.sme import (
    A1PMS_API_NAME,
    A1PMS_V3_RESOURCE,
    ICS_API_NAME,
    ICS_CONSUMER_RESOURCE,
    CapifProblem,
    create_app,
    seed_nonrtric,
    state,
)
from simulators.sme.platform import A1PMS_RESOURCES, ICS_RESOURCES
from tests.conftest import free_port, poll, serve

PROV = "/api-provider-management/v1/registrations"
PUB = "/published-apis/v1"
INV = "/api-invoker-management/v1/onboardedInvokers"
DISC = "/service-apis/v1/allServiceAPIs"

# --- TS 29.222 / 29.122 shapes, by hand ----------------------------------------------------------

COMM_TYPES = {"REQUEST_RESPONSE", "SUBSCRIBE_NOTIFY"}
OPERATIONS = {"GET", "POST", "PUT", "PATCH", "DELETE"}
SECURITY_METHODS = {"PSK", "PKI", "OAUTH"}
PROTOCOLS = {"HTTP_1_1", "HTTP_2"}
ROLES = {"AEF", "APF", "AMF"}


def check_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    """ProblemDetails (TS 29.122, RFC 7807): ``status`` as the HTTP one, ``cause`` a string."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == status
    assert isinstance(body["cause"], str)
    assert body["cause"]
    assert isinstance(body["title"], str)
    assert isinstance(body["detail"], str)
    return body


def check_service_api(api: dict[str, Any]) -> None:
    assert isinstance(api["apiName"], str)
    assert api["apiName"]
    assert isinstance(api["apiId"], str)
    assert isinstance(api["aefProfiles"], list)
    assert api["aefProfiles"]
    for profile in api["aefProfiles"]:
        assert isinstance(profile["aefId"], str)
        assert profile.get("protocol", "HTTP_1_1") in PROTOCOLS
        for desc in profile.get("interfaceDescriptions", []):
            assert isinstance(desc["port"], int)
            assert 0 <= desc["port"] <= 65535
            assert isinstance(desc.get("ipv4Addr", ""), str)
            assert set(desc.get("securityMethods", [])) <= SECURITY_METHODS
        assert isinstance(profile["versions"], list)
        assert profile["versions"]
        for version in profile["versions"]:
            assert isinstance(version["apiVersion"], str)
            for res in version.get("resources", []):
                assert isinstance(res["resourceName"], str)
                assert isinstance(res["uri"], str)
                assert res["commType"] in COMM_TYPES
                assert set(res.get("operations", [])) <= OPERATIONS


def check_discovered(body: dict[str, Any]) -> list[dict[str, Any]]:
    """DiscoveredAPIs: ``serviceAPIDescriptions`` (minItems 1) or nothing at all."""
    assert set(body) <= {"serviceAPIDescriptions", "suppFeat"}
    apis = body.get("serviceAPIDescriptions")
    if apis is None:
        return []
    assert isinstance(apis, list)
    assert apis
    for api in apis:
        check_service_api(api)
    return apis


def check_provider(body: dict[str, Any]) -> None:
    assert isinstance(body["apiProvDomId"], str)
    assert isinstance(body["regSec"], str)
    for func in body["apiProvFuncs"]:
        assert isinstance(func["apiProvFuncId"], str)
        assert func["apiProvFuncRole"] in ROLES
        assert isinstance(func["regInfo"]["apiProvPubKey"], str)


def check_invoker(body: dict[str, Any]) -> None:
    assert isinstance(body["apiInvokerId"], str)
    assert isinstance(body["notificationDestination"], str)
    assert isinstance(body["onboardingInformation"]["apiInvokerPublicKey"], str)
    for api in body.get("apiList", []):  # capifcore: a bare array of ServiceAPIDescription
        check_service_api(api)


# --- fixtures and helpers ----------------------------------------------------------------------


@pytest.fixture
def sme() -> Iterator[httpx.Client]:
    with serve(create_app()) as url, httpx.Client(base_url=url, timeout=10) as client:
        yield client


def provider_body(name: str = "kserve") -> dict[str, Any]:
    return {
        "apiProvDomInfo": f"{name} domain",
        "apiProvFuncs": [
            {
                "apiProvFuncInfo": f"{name} as APF",
                "apiProvFuncRole": "APF",
                "regInfo": {"apiProvPubKey": "APF-key"},
            },
            {
                "apiProvFuncInfo": f"{name} as AEF",
                "apiProvFuncRole": "AEF",
                "regInfo": {"apiProvPubKey": "AEF-key"},
            },
        ],
        "regSec": f"{name}-regsec",
    }


def service_body(aef_id: str, api_name: str = "kserve-predictor", port: int = 9000) -> dict:
    return {
        "apiName": api_name,
        "description": "a model server",
        "aefProfiles": [
            {
                "aefId": aef_id,
                "protocol": "HTTP_1_1",
                "interfaceDescriptions": [{"ipv4Addr": "10.0.0.7", "port": port}],
                "versions": [
                    {
                        "apiVersion": "v1",
                        "resources": [
                            {
                                "commType": "REQUEST_RESPONSE",
                                "operations": ["POST"],
                                "resourceName": "predict",
                                "uri": "/v1/models/es:predict",
                            }
                        ],
                    }
                ],
            }
        ],
    }


def invoker_body(info: str = "rapp instance 1", key: str = "key-1") -> dict[str, Any]:
    return {
        "apiInvokerInformation": info,
        "apiList": [{"apiName": "kserve-predictor"}],
        "notificationDestination": "http://rapp:8080/callback",
        "onboardingInformation": {"apiInvokerPublicKey": key},
    }


def register(sme: httpx.Client, name: str = "kserve") -> tuple[str, str, str]:
    """(apiProvDomId, APF id, AEF id) of a new provider."""
    r = sme.post(PROV, json=provider_body(name))
    assert r.status_code == 201, r.text
    funcs = {f["apiProvFuncRole"]: f["apiProvFuncId"] for f in r.json()["apiProvFuncs"]}
    return r.json()["apiProvDomId"], funcs["APF"], funcs["AEF"]


def discover(sme: httpx.Client, invoker: str, **query: str) -> httpx.Response:
    params = {"api-invoker-id": invoker} | {k.replace("_", "-"): v for k, v in query.items()}
    return sme.get(DISC, params=params)


# --- provider management -----------------------------------------------------------------------


def test_registration_ids_location_and_lifecycle(sme: httpx.Client) -> None:
    r = sme.post(PROV, json=provider_body())
    assert r.status_code == 201
    body = r.json()
    check_provider(body)
    assert body["apiProvDomId"] == "domain_id_kserve_domain"
    assert [f["apiProvFuncId"] for f in body["apiProvFuncs"]] == [
        "APF_id_kserve_as_APF",
        "AEF_id_kserve_as_AEF",
    ]
    assert r.headers["location"] == f"{sme.base_url}{PROV}/domain_id_kserve_domain"
    assert sme.get(f"{PROV}/domain_id_kserve_domain").json() == body

    check_problem(sme.post(PROV, json=provider_body()), 403)  # same regSec
    no_sec = {**provider_body("other"), "regSec": " "}
    assert "missing required regSec" in check_problem(sme.post(PROV, json=no_sec), 400)["cause"]
    bad_role = provider_body("third")
    bad_role["apiProvFuncs"][0]["apiProvFuncRole"] = "XYZ"
    check_problem(sme.post(PROV, json=bad_role), 400)
    check_problem(sme.post(PROV, content=b"not json"), 400)

    # PUT keeps known function ids, names new ones, refuses foreign ones.
    update = {
        **body,
        "apiProvFuncs": [*body["apiProvFuncs"], provider_body("x")["apiProvFuncs"][1]],
    }
    r = sme.put(f"{PROV}/domain_id_kserve_domain", json=update)
    assert r.status_code == 200
    assert r.json()["apiProvFuncs"][-1]["apiProvFuncId"] == "AEF_id_x_as_AEF"
    foreign = {**body, "apiProvFuncs": [{**body["apiProvFuncs"][0], "apiProvFuncId": "APF_id_z"}]}
    check_problem(sme.put(f"{PROV}/domain_id_kserve_domain", json=foreign), 400)
    check_problem(
        sme.put(f"{PROV}/domain_id_kserve_domain", json={**body, "apiProvDomId": "x"}), 400
    )
    check_problem(sme.put(f"{PROV}/nope", json=body), 400)
    assert sme.patch(f"{PROV}/domain_id_kserve_domain", json={}).status_code == 501

    assert sme.delete(f"{PROV}/domain_id_kserve_domain").status_code == 204
    assert sme.delete(f"{PROV}/domain_id_kserve_domain").status_code == 204
    check_problem(sme.get(f"{PROV}/domain_id_kserve_domain"), 404)


def test_keys_are_bound_case_insensitively_like_go(sme: httpx.Client) -> None:
    """The SMO preload posts "AefProfiles", "ApiName", "Uri"...; capifcore (Go) takes them."""
    _, apf, aef = register(sme)
    body = {
        "ApiName": "capitalised",
        "AefProfiles": [
            {
                "AefId": aef,
                "Versions": [
                    {
                        "ApiVersion": "",
                        "Resources": [
                            {"CommType": "REQUEST_RESPONSE", "ResourceName": "r", "Uri": "/r"}
                        ],
                    }
                ],
            }
        ],
    }
    r = sme.post(f"{PUB}/{apf}/service-apis", json=body)
    assert r.status_code == 201, r.text
    check_service_api(r.json())
    assert r.json()["aefProfiles"][0]["versions"][0]["resources"][0]["uri"] == "/r"


# --- publish -----------------------------------------------------------------------------------


def test_publish_codes_as_capifcore(sme: httpx.Client) -> None:
    _, apf, aef = register(sme)
    check_problem(sme.get(f"{PUB}/APF_id_unknown/service-apis"), 404)
    assert sme.get(f"{PUB}/{apf}/service-apis").json() == []

    r = sme.post(f"{PUB}/{apf}/service-apis", json=service_body(aef))
    assert r.status_code == 201
    api = r.json()
    check_service_api(api)
    assert api["apiId"] == "api_id_kserve-predictor"
    assert r.headers["location"] == f"{sme.base_url}{PUB}/{apf}/service-apis/{api['apiId']}"
    assert sme.get(f"{PUB}/{apf}/service-apis").json() == [api]
    assert sme.get(f"{PUB}/{apf}/service-apis/{api['apiId']}").json() == api

    unknown_apf = check_problem(
        sme.post(f"{PUB}/APF_id_x/service-apis", json=service_body(aef)), 403
    )
    assert "api is only available for publishers" in unknown_apf["cause"]
    duplicate = check_problem(sme.post(f"{PUB}/{apf}/service-apis", json=service_body(aef)), 403)
    assert "identical apiName" in duplicate["cause"]
    check_problem(sme.post(f"{PUB}/{apf}/service-apis", json=service_body(aef, api_name=" ")), 400)
    foreign_aef = service_body("AEF_id_someone_else", api_name="other")
    assert (
        "not registered"
        in check_problem(sme.post(f"{PUB}/{apf}/service-apis", json=foreign_aef), 404)["cause"]
    )
    check_problem(sme.post(f"{PUB}/{apf}/service-apis", json={"apiName": 7}), 400)

    # PUT takes description and aefProfiles only; the apiId must match.
    moved = service_body(aef, port=9999) | {"apiId": api["apiId"], "description": "moved"}
    r = sme.put(f"{PUB}/{apf}/service-apis/{api['apiId']}", json=moved)
    assert r.status_code == 200
    assert r.json()["aefProfiles"][0]["interfaceDescriptions"][0]["port"] == 9999
    assert r.json()["description"] == "moved"
    check_problem(sme.put(f"{PUB}/{apf}/service-apis/{api['apiId']}", json=service_body(aef)), 400)
    check_problem(sme.put(f"{PUB}/{apf}/service-apis/api_id_none", json=moved), 400)

    assert sme.delete(f"{PUB}/{apf}/service-apis/{api['apiId']}").status_code == 204
    check_problem(sme.get(f"{PUB}/{apf}/service-apis/{api['apiId']}"), 404)
    assert sme.delete(f"{PUB}/{apf}/service-apis/{api['apiId']}").status_code == 204


# --- invoker management ------------------------------------------------------------------------


def test_onboarding_ids_duplicates_and_validation(sme: httpx.Client) -> None:
    _, apf, aef = register(sme)
    sme.post(f"{PUB}/{apf}/service-apis", json=service_body(aef))
    sme.post(f"{PUB}/{apf}/service-apis", json=service_body(aef, api_name="not-asked-for"))

    r = sme.post(INV, json=invoker_body())
    assert r.status_code == 201
    invoker = r.json()
    check_invoker(invoker)
    assert invoker["apiInvokerId"] == "api_invoker_id_rapp_instance_1"
    assert r.headers["location"] == f"{sme.base_url}{INV}/api_invoker_id_rapp_instance_1"
    assert [a["apiName"] for a in invoker["apiList"]] == ["kserve-predictor"]

    dup = check_problem(sme.post(INV, json=invoker_body(info="another")), 403)
    assert dup["cause"] == (
        "Unable to onboard invoker due to invoker with identical public key already onboarded"
    )
    no_dest = invoker_body(key="k2") | {"notificationDestination": ""}
    assert "NotificationDestination" in check_problem(sme.post(INV, json=no_dest), 400)["cause"]
    no_key = invoker_body(key="")
    assert "ApiInvokerPublicKey" in check_problem(sme.post(INV, json=no_key), 400)["cause"]

    without_info = {k: v for k, v in invoker_body(key="k3").items() if k != "apiInvokerInformation"}
    r = sme.post(INV, json=without_info)
    assert r.status_code == 201
    assert r.json()["apiInvokerId"].startswith("api_invoker_id_")
    assert "apiList" in r.json()

    update = invoker | {"notificationDestination": "http://rapp:9090/cb"}
    r = sme.put(f"{INV}/{invoker['apiInvokerId']}", json=update)
    assert r.status_code == 200
    assert r.json()["notificationDestination"].endswith("/cb")
    check_problem(sme.put(f"{INV}/api_invoker_id_other", json=update), 400)
    gone = update | {"apiInvokerId": "api_invoker_id_gone"}
    check_problem(sme.put(f"{INV}/api_invoker_id_gone", json=gone), 404)
    assert sme.patch(f"{INV}/{invoker['apiInvokerId']}", json={}).status_code == 501

    assert sme.delete(f"{INV}/{invoker['apiInvokerId']}").status_code == 204
    assert sme.delete(f"{INV}/{invoker['apiInvokerId']}").status_code == 204
    check_problem(discover(sme, invoker["apiInvokerId"]), 404)


# --- discovery ---------------------------------------------------------------------------------


def test_provider_publish_onboard_discover(sme: httpx.Client) -> None:
    _, apf, aef = register(sme)
    sme.post(f"{PUB}/{apf}/service-apis", json=service_body(aef))
    invoker = sme.post(INV, json=invoker_body()).json()["apiInvokerId"]

    r = discover(sme, invoker, api_name="kserve-predictor")
    assert r.status_code == 200
    [api] = check_discovered(r.json())
    profile = api["aefProfiles"][0]
    assert profile["interfaceDescriptions"] == [{"ipv4Addr": "10.0.0.7", "port": 9000}]
    [resource] = profile["versions"][0]["resources"]
    assert (resource["resourceName"], resource["uri"]) == ("predict", "/v1/models/es:predict")

    assert check_discovered(discover(sme, invoker, api_name="nothing").json()) == []
    assert discover(sme, invoker, api_name="nothing").json() == {}

    unknown = check_problem(discover(sme, "api_invoker_id_nobody"), 404)
    assert unknown["cause"] == "Invoker api_invoker_id_nobody not registered"
    check_problem(sme.get(DISC), 400)
    check_problem(discover(sme, invoker, preferred_aef_loc="{not json"), 400)

    # Unpublishing takes it out of discovery.
    sme.delete(f"{PUB}/{apf}/service-apis/api_id_kserve-predictor")
    assert discover(sme, invoker).json() == {}


def test_discovery_filters_as_capifcore(sme: httpx.Client) -> None:
    _, apf, aef = register(sme)
    first = service_body(aef, api_name="one") | {"serviceAPICategory": "ml"}
    second = service_body(aef, api_name="two")
    second["aefProfiles"][0]["versions"] = [
        {
            "apiVersion": "v1",
            "resources": [
                {"commType": "SUBSCRIBE_NOTIFY", "resourceName": "n", "uri": "/n"},
            ],
        },
        {
            "apiVersion": "v2",
            "resources": [{"commType": "REQUEST_RESPONSE", "resourceName": "r", "uri": "/r"}],
        },
    ]
    second["aefProfiles"][0]["dataFormat"] = "JSON"
    for body in (first, second):
        assert sme.post(f"{PUB}/{apf}/service-apis", json=body).status_code == 201
    # Discovery is not limited to the invoker's apiList (which only names "kserve-predictor").
    invoker = sme.post(INV, json=invoker_body()).json()["apiInvokerId"]

    def names(**query: str) -> list[str]:
        return [a["apiName"] for a in check_discovered(discover(sme, invoker, **query).json())]

    assert names() == ["one", "two"]
    assert names(api_cat="ml") == ["one"]
    assert names(aef_id=aef) == ["one", "two"]
    assert names(aef_id="AEF_id_other") == []
    assert names(api_version="v2") == ["two"]
    assert names(api_version="v1", comm_type="SUBSCRIBE_NOTIFY") == ["two"]
    assert names(api_version="v2", comm_type="SUBSCRIBE_NOTIFY") == []
    # Without api-version only the last version's resources count, as capifcore's loop.
    assert names(comm_type="REQUEST_RESPONSE") == ["one", "two"]
    assert names(comm_type="SUBSCRIBE_NOTIFY") == []
    assert names(protocol="HTTP_1_1") == ["one", "two"]
    assert names(protocol="HTTP_2") == []
    assert names(data_format="JSON") == ["two"]
    assert names(preferred_aef_loc='{"dcId": "dc1"}') == ["one", "two"]  # parsed, not used


def test_empty_list_mode_answers_as_capifcore() -> None:
    app = create_app(empty_list=True, seed_a1pms="http://127.0.0.1:8081", invokers=["r"])
    with serve(app) as url, httpx.Client(base_url=url) as sme:
        r = discover(sme, "api_invoker_id_r", api_name="none")
        assert r.json() == {"serviceAPIDescriptions": []}


# --- the platform seed -------------------------------------------------------------------------


def _resources(api: dict[str, Any]) -> dict[str, str]:
    [profile] = api["aefProfiles"]
    [version] = profile["versions"]
    return {r["resourceName"]: r["uri"] for r in version["resources"]}


def test_seeded_platform_apis_are_discoverable() -> None:
    app = create_app(
        seed_a1pms="http://127.0.0.1:8081",
        seed_ics="http://localhost:8083",
        invokers=["my rapp"],
    )
    assert app.state.seeded_invokers == {"my rapp": "api_invoker_id_my_rapp"}
    with serve(app) as url, httpx.Client(base_url=url) as sme:
        [a1pms] = check_discovered(
            discover(sme, "api_invoker_id_my_rapp", api_name=A1PMS_API_NAME).json()
        )
        [ics] = check_discovered(
            discover(sme, "api_invoker_id_my_rapp", api_name=ICS_API_NAME).json()
        )

    assert a1pms["apiId"] == "api_id_a1-policy-http"
    [profile] = a1pms["aefProfiles"]
    assert profile["aefId"] == "AEF_id_policymanagementservice_as_AEF"
    assert profile["interfaceDescriptions"] == [
        {"ipv4Addr": "127.0.0.1", "port": 8081, "securityMethods": ["PKI"]}
    ]
    assert profile["versions"][0]["apiVersion"] == ""
    uris = _resources(a1pms)
    assert uris["getPolicyTypes"] == "/a1-policy/v2/policy-types"
    assert uris["Policy"] == "/a1-policy/v2/policies/{policy_id}"
    assert uris[A1PMS_V3_RESOURCE] == "/a1-policy-management/v1"
    assert len(uris) == len({r[0] for r in A1PMS_RESOURCES}) + 1

    assert ics["aefProfiles"][0]["interfaceDescriptions"][0] == {
        "ipv4Addr": "localhost",
        "port": 8083,
        "securityMethods": ["PKI"],
    }
    assert ics["aefProfiles"][0]["versions"][0]["apiVersion"] == "v1"
    assert _resources(ics)[ICS_CONSUMER_RESOURCE] == "/data-consumer/v1"
    assert _resources(ics)["EITypeIdentifiers"] == "/A1-EI/eitypes"
    assert len(_resources(ics)) == len(ICS_RESOURCES) + 1


def test_seed_without_rapp_roots_and_on_a_state() -> None:
    app = create_app()
    published = seed_nonrtric(state(app), "http://a1pms:8081", None, rapp_roots=False)
    assert published == {A1PMS_API_NAME: "api_id_a1-policy-http"}
    [api] = state(app).all_published()
    assert A1PMS_V3_RESOURCE not in _resources(api)
    # Seeding twice is refused at registration (same regSec), as capifcore would.
    with pytest.raises(CapifProblem, match="identical regSec"):
        seed_nonrtric(state(app), "http://a1pms:8081")


def test_reset_reseeds_and_forgets_the_rest() -> None:
    app = create_app(seed_ics="http://127.0.0.1:8083", invokers=["r"])
    with serve(app) as url, httpx.Client(base_url=url) as sme:
        _, apf, aef = register(sme)
        sme.post(f"{PUB}/{apf}/service-apis", json=service_body(aef))
        assert len(check_discovered(discover(sme, "api_invoker_id_r").json())) == 2
        r = sme.post("/admin/reset")
        assert r.json() == {
            "published": {ICS_API_NAME: "api_id_informationservice-http"},
            "invokers": {"r": "api_invoker_id_r"},
        }
        assert [
            a["apiName"] for a in check_discovered(discover(sme, "api_invoker_id_r").json())
        ] == [ICS_API_NAME]
        sme.post("/admin/reset", params={"keep_seed": "false"})
        check_problem(discover(sme, "api_invoker_id_r"), 404)
        assert sme.get("/admin/state").json() == {"providers": {}, "published": {}, "invokers": {}}


# --- faults and the CLI ------------------------------------------------------------------------


def test_discovery_faults() -> None:
    app = create_app(seed_a1pms="http://127.0.0.1:8081", invokers=["r"])
    with serve(app) as url, httpx.Client(base_url=url) as sme:
        r = sme.post("/admin/faults", json={"discovery_status": 503, "count": 2})
        assert r.status_code == 201
        assert r.json()["status"] == 503
        assert r.json()["api"] == "discovery"
        assert sme.get("/healthz").json() == {"status": "ok"}  # not a CAPIF path
        assert sme.post(INV, json=invoker_body(info="x", key="kx")).status_code == 201
        for _ in range(2):
            check_problem(discover(sme, "api_invoker_id_r"), 503)
        assert discover(sme, "api_invoker_id_r").status_code == 200

        sme.post("/admin/faults", json={"api": "any", "status": 500, "count": 5})
        assert len(sme.get("/admin/faults").json()["faults"]) == 1
        assert sme.delete("/admin/faults").status_code == 204
        assert discover(sme, "api_invoker_id_r").status_code == 200

        sme.post("/admin/faults", json={"delay_s": 0.2})
        assert discover(sme, "api_invoker_id_r").elapsed.total_seconds() >= 0.2
        assert sme.post("/admin/faults", json={"count": 1}).status_code == 400
        bad = {"discovery_status": 503, "api": "publish"}
        assert sme.post("/admin/faults", json=bad).status_code == 400


def test_cli_seeds_and_onboards() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulators.sme",
            "--port",
            str(port),
            "--seed-a1pms",
            "http://127.0.0.1:8081",
            "--seed-ics",
            "http://127.0.0.1:8083",
            "--invoker",
            "cli rapp",
            "--log-level",
            "warning",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                return httpx.get(f"{url}/healthz").status_code == 200
            except httpx.HTTPError:
                return proc.poll() is not None

        poll(up, timeout=30)
        assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
        r = httpx.get(f"{url}{DISC}", params={"api-invoker-id": "api_invoker_id_cli_rapp"})
        names = sorted(a["apiName"] for a in check_discovered(r.json()))
        assert names == [A1PMS_API_NAME, ICS_API_NAME]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
