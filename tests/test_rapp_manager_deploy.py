"""What the rApp Manager does with the package at deploy time, replayed against the simulated
SME and ICS: the package's SME and DME files are accepted as they are, and the rApp, told only
its instance id and the discovery endpoint, finds its peers through the invoker the package
onboarded. The steps follow rappmanager's ``SmeDeployer`` (regSec suffixed with the instance id,
every AEF profile given the registered AEF's id, each invoker of the array onboarded) and its
DME deployer (the consumer job PUT under the consumer's file name)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from rapp import sme
from rapp.config import IcsSettings, Settings, SmeSettings
from rapp.csar import package_files, plan_from
from rapp.csar.descriptors import RAPP_INSTANCE_ID
from rapp.csar.instance import DME_CONSUMER, SME_API, SME_INVOKER, SME_PROVIDER
from simulators.ics.app import create_app as ics_app
from simulators.sme import create_app as sme_app
from tests.conftest import serve

CHART = Path(__file__).parents[1] / "charts" / "rapp"
INSTANCE_ID = "3c9e1f5a-rapp-instance"
A1PMS, ICS = "http://127.0.0.1:18081", "http://127.0.0.1:18083"


def _file(files: dict[str, bytes], path: str) -> Any:
    """A package file as the rApp Manager reads it: placeholders filled in for the instance."""
    return json.loads(files[path].decode().replace(RAPP_INSTANCE_ID, INSTANCE_ID))


async def test_the_package_deploys_into_sme_and_ics_and_the_rapp_then_finds_its_peers() -> None:
    files = package_files(plan_from(Settings(), CHART))
    capif, ics = sme_app(seed_a1pms=A1PMS, seed_ics=ICS), ics_app()
    with serve(capif) as sme_url, serve(ics) as ics_url:
        async with httpx.AsyncClient(base_url=sme_url) as http:
            provider = _file(files, f"Files/Sme/providers/{SME_PROVIDER}.json")
            provider["regSec"] += INSTANCE_ID
            registered = await http.post("/api-provider-management/v1/registrations", json=provider)
            assert registered.status_code == 201, registered.text
            funcs = {
                f["apiProvFuncRole"]: f["apiProvFuncId"] for f in registered.json()["apiProvFuncs"]
            }

            api = _file(files, f"Files/Sme/serviceapis/{SME_API}.json")
            for profile in api["aefProfiles"]:
                profile["aefId"] = funcs["AEF"]
            published = await http.post(f"/published-apis/v1/{funcs['APF']}/service-apis", json=api)
            assert published.status_code == 201, published.text

            invoker_ids = []
            for invoker in _file(files, f"Files/Sme/invokers/{SME_INVOKER}.json"):
                onboarded = await http.post(
                    "/api-invoker-management/v1/onboardedInvokers", json=invoker
                )
                assert onboarded.status_code == 201, onboarded.text
                invoker_ids.append(onboarded.json()["apiInvokerId"])
            assert invoker_ids == [f"api_invoker_id_{INSTANCE_ID}"]

            # The rApp's own API is discoverable by its invoker, at the Service the chart makes.
            mine = await http.get(
                "/service-apis/v1/allServiceAPIs",
                params={"api-invoker-id": invoker_ids[0], "api-name": SME_API},
            )
            (description,) = mine.json()["serviceAPIDescriptions"]
            (interface,) = description["aefProfiles"][0]["interfaceDescriptions"]
            assert interface == {"ipv4Addr": "rapp.nonrtric.svc.cluster.local", "port": 8080}

        async with httpx.AsyncClient(base_url=ics_url) as http:
            job = _file(files, f"Files/Dme/infoconsumers/{DME_CONSUMER}.json")
            created = await http.put(f"/data-consumer/v1/info-jobs/{DME_CONSUMER}", json=job)
            assert created.status_code == 201, created.text

        # The chart's environment.appId and smeDiscoveryEndpoint, as the rApp Manager fills them.
        settings = Settings(
            ics=IcsSettings(enabled=True, url="http://static.invalid"),
            sme=SmeSettings(
                app_id=INSTANCE_ID,
                discovery_endpoint=f"{sme_url.removeprefix('http://')}/service-apis/v1/allServiceAPIs",
            ),
        )
        found = await sme.resolve(settings)
    assert (found.a1.url, found.ics.url) == (A1PMS, ICS)
    assert DME_CONSUMER in ics.state.ics.jobs
