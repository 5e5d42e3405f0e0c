"""The rApp finds the A1-PMS and ICS through SME (CAPIF discovery), with its static URLs as the
fallback; and, deployed that way, it is ready once its peers are and leaves them cleanly."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from rapp import sme
from rapp.config import IcsSettings, Settings, SmeSettings
from simulators.a1pms import create_app as a1pms_app
from simulators.broker import Broker
from simulators.ics.app import create_app as ics_app
from simulators.nephio import seed_repository
from simulators.sme import create_app as sme_app
from tests.conftest import free_port, poll, serve

ROOT = Path(__file__).parents[1]
APP_ID = "rapp-7d2c"
A1PMS, ICS = "http://127.0.0.1:18081", "http://127.0.0.1:18083"
STATIC_A1, STATIC_ICS = "http://a1pms.static:8081", "http://ics.static:8083"


def settings_for(endpoint: str, **sme_fields: object) -> Settings:
    return Settings(
        a1={"url": STATIC_A1},
        ics=IcsSettings(enabled=True, url=STATIC_ICS),
        sme=SmeSettings(discovery_endpoint=endpoint, **{"app_id": APP_ID, **sme_fields}),
    )


def discovery_endpoint(url: str) -> str:
    # The rApp Manager passes it without a scheme.
    return f"{url.removeprefix('http://')}/service-apis/v1/allServiceAPIs"


async def test_peers_are_found_where_sme_says_they_are() -> None:
    with serve(sme_app(seed_a1pms=A1PMS, seed_ics=ICS, invokers=[APP_ID])) as url:
        found = await sme.resolve(settings_for(discovery_endpoint(url)))
    assert found.a1.url == A1PMS
    assert found.ics.url == ICS


async def test_what_an_smo_publishes_locates_the_a1pms_but_not_the_ics_data_consumer_api(
    caplog,
) -> None:
    """An SMO publishes the A1-PMS's v2 resources (found) and ICS's A1-EI ones only: its
    data-consumer API cannot be located, so ICS keeps its static URL, and the log says why."""
    app = sme_app(seed_a1pms=A1PMS, seed_ics=ICS, invokers=[APP_ID], rapp_roots=False)
    with serve(app) as url:
        found = await sme.resolve(settings_for(discovery_endpoint(url)))
    assert (found.a1.url, found.ics.url) == (A1PMS, STATIC_ICS)
    assert "SME publishes 'informationservice-http' without a resource under /data-consumer/v1" in (
        caplog.text
    )


@pytest.mark.parametrize(
    ("body", "why"),
    [
        (b"<html>502 Bad Gateway</html>", "is not a DiscoveredAPIs document"),
        (b"[]", "is not a DiscoveredAPIs document"),
        (
            b'{"serviceAPIDescriptions": [{"apiName": "a1-policy-http", "aefProfiles": 7}]}',
            "is not a DiscoveredAPIs document",
        ),
        (
            b'{"serviceAPIDescriptions": [{"apiName": "a1-policy-http", "aefProfiles": [{}]}]}',
            "has no interface to call it on",
        ),
    ],
)
async def test_an_answer_that_locates_nothing_keeps_the_static_url(
    body: bytes, why: str, caplog
) -> None:
    """Below the real SME tests above: bodies a gateway or a broken SME could give."""
    transport = httpx.MockTransport(lambda request: httpx.Response(200, content=body))
    settings = settings_for("sme:8095/service-apis/v1/allServiceAPIs").model_copy(
        update={"ics": IcsSettings(enabled=False)}
    )
    found = await sme.resolve(settings, transport=transport)
    assert found.a1.url == STATIC_A1
    assert why in caplog.text


@pytest.mark.parametrize(
    ("interface", "expected"),
    [
        ({"ipv6Addr": "fd00::1", "port": 8081}, "http://[fd00::1]:8081"),
        ({"ipv6Addr": "[fd00::1]", "port": 8081}, "http://[fd00::1]:8081"),
        ({"fqdn": "a1pms.nonrtric.svc", "port": 9080}, "http://a1pms.nonrtric.svc:9080"),
        (None, "http://a1pms.example"),  # domainName alone
    ],
)
async def test_every_way_capif_names_an_interface_gives_a_url(
    interface: dict | None, expected: str
) -> None:
    profile = {
        "aefId": "AEF_id_a1pms",
        "versions": [{"apiVersion": "", "resources": [{"uri": "/a1-policy/v2/policies"}]}],
    }
    if interface is None:
        profile["domainName"] = "a1pms.example"
    else:
        profile["interfaceDescriptions"] = [interface]
    answer = {"serviceAPIDescriptions": [{"apiName": "a1-policy-http", "aefProfiles": [profile]}]}
    transport = httpx.MockTransport(lambda request: httpx.Response(200, json=answer))
    found = await sme.discover(
        "sme:8095/x", "inv", "a1-policy-http", ("/a1-policy/v2",), transport=transport
    )
    assert found.base_url == expected


async def test_a_gateway_route_prefix_is_kept_in_the_base_url() -> None:
    """Published through the Service Manager, an API is at Kong's address under a route."""
    route = "/a1-policy-http/port-8081-hash-5a1c"
    with serve(sme_app(invokers=[APP_ID])) as url:
        capif = httpx.AsyncClient(base_url=url)
        provider = (
            await capif.post(
                "/api-provider-management/v1/registrations",
                json={
                    "apiProvDomInfo": "kong",
                    "apiProvFuncs": [
                        {
                            "apiProvFuncInfo": f"a1pms as {r}",
                            "apiProvFuncRole": r,
                            "regInfo": {"apiProvPubKey": r},
                        }
                        for r in ("APF", "AEF")
                    ],
                    "regSec": "a1pms-regsec",
                },
            )
        ).json()
        funcs = {f["apiProvFuncRole"]: f["apiProvFuncId"] for f in provider["apiProvFuncs"]}
        published = await capif.post(
            f"/published-apis/v1/{funcs['APF']}/service-apis",
            json={
                "apiName": "a1-policy-http",
                "aefProfiles": [
                    {
                        "aefId": funcs["AEF"],
                        "versions": [
                            {
                                "apiVersion": "",
                                "resources": [
                                    {
                                        "resourceName": "getPolicyTypes",
                                        "commType": "REQUEST_RESPONSE",
                                        "uri": f"{route}/a1-policy/v2/policy-types",
                                        "operations": ["GET"],
                                    }
                                ],
                            }
                        ],
                        "protocol": "HTTP_1_1",
                        "interfaceDescriptions": [{"ipv4Addr": "kong.kong", "port": 80}],
                    }
                ],
            },
        )
        await capif.aclose()
        assert published.status_code == 201, published.text
        found = await sme.resolve(
            settings_for(discovery_endpoint(url)).model_copy(
                update={"ics": IcsSettings(enabled=False)}
            )
        )
    assert found.a1.url == f"http://kong.kong:80{route}"


async def test_an_invoker_sme_does_not_know_keeps_the_static_urls(caplog) -> None:
    caplog.set_level(logging.INFO)
    with serve(sme_app(seed_a1pms=A1PMS, seed_ics=ICS)) as url:  # nobody onboarded
        found = await sme.resolve(settings_for(discovery_endpoint(url)))
    assert (found.a1.url, found.ics.url) == (STATIC_A1, STATIC_ICS)
    assert (
        f"SME answered 404 for 'a1-policy-http': Invoker api_invoker_id_{APP_ID} not registered"
        in caplog.text
    )
    assert f"using the static a1 URL {STATIC_A1}" in caplog.text


@pytest.mark.parametrize("empty_list", [False, True], ids=["ts29222", "capifcore"])
async def test_an_api_not_published_keeps_its_static_url(empty_list: bool, caplog) -> None:
    """Found nothing is final, whether SME leaves the list out (TS 29.222) or empty (capifcore)."""
    with serve(sme_app(seed_a1pms=A1PMS, invokers=[APP_ID], empty_list=empty_list)) as url:
        found = await sme.resolve(settings_for(discovery_endpoint(url)))
    assert (found.a1.url, found.ics.url) == (A1PMS, STATIC_ICS)
    assert "SME has no API 'informationservice-http'" in caplog.text


async def test_an_sme_that_answers_503_is_waited_for() -> None:
    with serve(sme_app(seed_a1pms=A1PMS, seed_ics=ICS, invokers=[APP_ID])) as url:
        async with httpx.AsyncClient() as admin:
            fault = {"discovery_status": 503, "count": 2}
            (await admin.post(f"{url}/admin/faults", json=fault)).raise_for_status()
        found = await sme.resolve(settings_for(discovery_endpoint(url), wait_s=30))
    assert (found.a1.url, found.ics.url) == (A1PMS, ICS)


async def test_an_sme_that_is_down_is_given_up_on_after_its_wait(caplog) -> None:
    endpoint = f"127.0.0.1:{free_port()}/service-apis/v1/allServiceAPIs"
    found = await sme.resolve(settings_for(endpoint, wait_s=0))
    assert (found.a1.url, found.ics.url) == (STATIC_A1, STATIC_ICS)
    assert "unreachable" in caplog.text


async def test_without_an_app_id_discovery_is_not_attempted(caplog) -> None:
    settings = settings_for("sme:8095/service-apis/v1/allServiceAPIs", app_id=None)
    assert await sme.resolve(settings) == settings
    assert "no app id or invoker id" in caplog.text
    assert await sme.resolve(Settings()) == Settings()  # no SME configured: nothing asked


def test_the_rapp_served_through_sme_finds_its_peers_and_leaves_them_on_a_clean_stop(
    tmp_path: Path,
):
    """`rapp serve` as the rApp Manager deploys it: only the SME endpoint and app id point the
    way (the static URLs lead nowhere). It becomes ready through the peers SME names; SIGTERM
    deletes its A1-PMS service (with its policies) and its ICS job."""
    seed_repository(tmp_path / "repo.git", ["free5gc-upf-site-01"])
    a1pms, ics, kafka, api = a1pms_app(), ics_app(), free_port(), free_port()
    with serve(a1pms) as a1_url, serve(ics) as ics_url, Broker(port=kafka):
        capif = sme_app(seed_a1pms=a1_url, seed_ics=ics_url, invokers=[APP_ID])
        with serve(capif) as sme_url:
            nowhere = f"http://127.0.0.1:{free_port()}"
            env = {
                **os.environ,
                "RAPP_SME__DISCOVERY_ENDPOINT": discovery_endpoint(sme_url),
                "RAPP_SME__APP_ID": APP_ID,
                "RAPP_A1__URL": nowhere,
                "RAPP_ICS__ENABLED": "true",
                "RAPP_ICS__URL": nowhere,
                "RAPP_KAFKA__BOOTSTRAP": f"127.0.0.1:{kafka}",
                "RAPP_NEPHIO__REMOTE": str(tmp_path / "repo.git"),
                "RAPP_NEPHIO__WORKDIR": str(tmp_path / "work"),
                "RAPP_STORE__URL": f"sqlite:///{tmp_path / 'j.sqlite'}",
                "RAPP_ENACT__SYSTEM_DATABASE_URL": f"sqlite:///{tmp_path / 'd.sqlite'}",
                "RAPP_API__PORT": str(api),
            }
            log_path = tmp_path / "rapp.log"
            with log_path.open("wb") as log:
                proc = subprocess.Popen(
                    [sys.executable, "-m", "rapp", "serve"],
                    env=env,
                    cwd=ROOT,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
                try:
                    ready = poll(lambda: _ready(api), timeout=90)
                    assert all(ready.values()), ready
                    services = a1pms.state.registry.services()["serviceList"]
                    assert [s["serviceId"] for s in services] == ["rapp"]
                    assert list(ics.state.ics.jobs) == ["rapp-pm"]
                    # A policy under the rApp's service: it must not outlive the rApp.
                    put = httpx.post(
                        f"{a1_url}/a1-policy-management/v1/policies",
                        json={
                            "policyId": "guidance",
                            "nearRtRicId": "ric1",
                            "policyTypeId": "STD_1_0.2.0",
                            "serviceId": "rapp",
                            "policyObject": {
                                "scope": {"ueId": "u1", "qosId": "q1"},
                                "statement": {"priorityLevel": 1},
                            },
                        },
                    )
                    assert put.status_code == 201, put.text
                finally:
                    proc.send_signal(signal.SIGTERM)
                    code = proc.wait(timeout=60)
        text = log_path.read_text()
        assert code == 0, text
        assert f"SME: a1 is at {a1_url}" in text
        assert f"SME: ics is at {ics_url}" in text
        assert a1pms.state.registry.services()["serviceList"] == []
        assert ics.state.ics.jobs == {}
        policies = httpx.get(f"{a1_url}/a1-policy-management/v1/policies").json()
        assert policies == []
        assert "A1-PMS service rapp deleted, with its policies" in text


def _ready(port: int) -> dict[str, bool] | None:
    try:
        response = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=2)
    except httpx.HTTPError:
        return None
    return response.json()["checks"] if response.status_code == 200 else None
