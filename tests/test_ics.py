"""ICS PmData job: the job builder, the async client, and the ICS simulator it talks to."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from rapp.ric import IcsClient, IcsError, pm_job
from simulators.ics import create_app
from tests.conftest import free_port, serve

ICS_SAMPLES = Path(__file__).resolve().parents[2] / "shared" / "samples" / "ics"
SIM_SCHEMA = (
    Path(__file__).resolve().parents[1] / "rapp" / "telemetry" / "schemas" / "typeSchemaPmData.json"
)
BASE = "/data-consumer/v1"


@pytest.fixture
def ics() -> Iterator[str]:
    with serve(create_app()) as url:
        yield url


def _sample(name: str) -> dict:
    if not ICS_SAMPLES.is_dir():
        pytest.skip("../shared/samples/ics is not beside this checkout")
    return json.loads((ICS_SAMPLES / name).read_text())


def test_pm_job_has_the_shape_of_the_ranpm_samples() -> None:
    job = pm_job(
        owner="console",
        topic="pmreports",
        bootstrap="kafka-1-kafka-bootstrap.nonrtric:9097",
        meas_types=["pmCounterNumber101"],
    )
    sample = _sample("jobDefinition_pmlog.json")
    assert job == {**sample, "job_result_uri": ""}
    assert {k: v for k, v in job["job_definition"].items() if k != "deliveryInfo"} == _sample(
        "jobDefinition_pmrapp.json"
    )["job_definition"]


def test_pm_job_filters_and_refusals() -> None:
    job = pm_job(
        owner="rapp",
        topic="t",
        bootstrap="b:9092",
        meas_types=["RRU.PrbUsedDl", "RRU.PrbTotDl"],
        source_names=["gnb-1"],
        measured_obj_class="NRCellCU",
    )
    flt = job["job_definition"]["filter"]
    assert flt["sourceNames"] == ["gnb-1"]
    assert flt["measTypeSpecs"] == [
        {"measuredObjClass": "NRCellCU", "measTypes": ["RRU.PrbUsedDl", "RRU.PrbTotDl"]}
    ]
    with pytest.raises(ValueError, match="meas_types"):
        pm_job(owner="rapp", topic="t", bootstrap="b", meas_types=[])
    with pytest.raises(ValueError, match="invalid at filter/sourceNames/0"):
        pm_job(owner="rapp", topic="t", bootstrap="b", meas_types=["x"], source_names=[3])  # type: ignore[list-item]


def test_simulator_ships_the_sample_schema() -> None:
    if not ICS_SAMPLES.is_dir():
        pytest.skip("../shared/samples/ics is not beside this checkout")
    assert json.loads(SIM_SCHEMA.read_text()) == json.loads(
        (ICS_SAMPLES / "typeSchemaPmData.json").read_text()
    )


async def test_client_lifecycle_against_the_simulator(ics: str) -> None:
    job = pm_job(owner="rapp", topic="pm", bootstrap="127.0.0.1:9092", meas_types=["a", "b"])
    async with IcsClient(ics, timeout=5) as client:
        assert await client.put_job("rapp-pm", job) == "created"
        assert await client.put_job("rapp-pm", job) == "updated"
        assert await client.get_job("rapp-pm") == job
        assert await client.job_status("rapp-pm") == {
            "info_job_status": "ENABLED",
            "producers": ["pm-producer-json2kafka"],
        }
        assert await client.delete_job("rapp-pm") is True
        assert await client.delete_job("rapp-pm") is False
        assert await client.get_job("rapp-pm") is None
        with pytest.raises(IcsError) as info:
            await client.job_status("rapp-pm")
        assert info.value.status == 404

        bad = {**job, "job_definition": {"filter": {}}}  # no deliveryInfo
        with pytest.raises(IcsError) as info:
            await client.put_job("bad", bad)
        assert info.value.status == 400
        assert "deliveryInfo" in info.value.detail


async def test_client_reports_an_ics_that_is_down() -> None:
    async with IcsClient(f"http://127.0.0.1:{free_port()}", timeout=1) as client:
        with pytest.raises(IcsError, match="ConnectError"):
            await client.put_job("j", {"info_type_id": "PmData"})


def test_simulator_paths_and_codes(ics: str) -> None:
    with httpx.Client(base_url=ics + BASE) as http:
        pmlog = _sample("jobDefinition_pmlog.json")
        assert http.put("/info-jobs/j1", json=pmlog).status_code == 201
        assert http.put("/info-jobs/j1", json=pmlog).status_code == 200
        # the pm-rapp sample has no deliveryInfo, which the type schema requires
        r = http.put("/info-jobs/j2", json=_sample("jobDefinition_pmrapp.json"))
        assert r.status_code == 400
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["status"] == 400
        assert "'deliveryInfo' is a required property" in r.json()["detail"]
        r = http.put(
            "/info-jobs/j2",
            json={**pmlog, "job_definition": {**pmlog["job_definition"], "extra": 1}},
        )
        assert r.status_code == 400
        assert "extra" in r.json()["detail"]
        for body in (
            [],
            {"job_owner": "x", "job_definition": {}},
            {**pmlog, "job_definition": "s"},
        ):
            assert http.put("/info-jobs/j3", json=body).status_code == 400
        assert http.put("/info-jobs/j3", content=b"{not json").status_code == 400
        assert http.put("/info-jobs/j3", json={**pmlog, "info_type_id": "Nope"}).status_code == 404

        other = {**pmlog, "job_owner": "other"}
        assert http.put("/info-jobs/j4", json=other).status_code == 201
        assert http.get("/info-jobs").json() == ["j1", "j4"]
        assert http.get("/info-jobs", params={"owner": "other"}).json() == ["j4"]
        assert http.get("/info-jobs", params={"infoTypeId": "PmData"}).json() == ["j1", "j4"]
        assert http.get("/info-jobs", params={"infoTypeId": "X"}).json() == []
        assert http.get("/info-jobs/j1").json()["job_definition"] == pmlog["job_definition"]
        assert http.get("/info-jobs/nope").status_code == 404
        assert http.get("/info-jobs/nope/status").status_code == 404
        assert http.delete("/info-jobs", params={"owner": "other"}).status_code == 204
        assert http.get("/info-jobs").json() == ["j1"]
        assert http.delete("/info-jobs/j1").status_code == 204
        assert http.delete("/info-jobs/j1").status_code == 404

        assert http.get("/info-types").json() == ["PmData"]
        t = http.get("/info-types/PmData").json()
        assert t["job_data_schema"] == json.loads(SIM_SCHEMA.read_text())
        assert (t["type_status"], t["no_of_producers"]) == ("ENABLED", 1)
        assert http.get("/info-types/Nope").status_code == 404
    assert httpx.get(ics + "/status").json() == {"status": "hunky dory"}


def test_simulator_without_producer_disables_jobs() -> None:
    with serve(create_app(producers=[])) as url, httpx.Client(base_url=url + BASE) as http:
        job = pm_job(owner="rapp", topic="pm", bootstrap="b", meas_types=["a"])
        assert http.put("/info-jobs/j", json=job).status_code == 201
        assert http.get("/info-jobs/j/status").json() == {
            "info_job_status": "DISABLED",
            "producers": [],
        }
        assert http.get("/info-types/PmData").json()["type_status"] == "DISABLED"


def test_python_m_simulators_ics() -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "simulators.ics", "--port", str(port), "--log-level", "warning"],
        cwd=Path(__file__).resolve().parents[1],
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                r = httpx.get(f"http://127.0.0.1:{port}/status", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        assert r.json() == {"status": "hunky dory"}
    finally:
        proc.terminate()
        proc.wait(timeout=10)
