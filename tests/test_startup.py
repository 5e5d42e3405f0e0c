"""`rapp serve` as a process: waits for peers that are down, refuses bad configuration."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from simulators.a1pms import create_app as a1pms_app
from simulators.broker import Broker
from simulators.nephio import seed_repository
from tests.conftest import free_port, poll, serve

ROOT = Path(__file__).parents[1]


def env_for(
    tmp_path: Path, kafka_port: int, api_port: int, a1_port: int | None = None
) -> dict[str, str]:
    return {
        **os.environ,
        "RAPP_A1__URL": f"http://127.0.0.1:{a1_port or free_port()}",
        "RAPP_KAFKA__BOOTSTRAP": f"127.0.0.1:{kafka_port}",
        "RAPP_NEPHIO__REMOTE": str(tmp_path / "repo.git"),
        "RAPP_NEPHIO__WORKDIR": str(tmp_path / "work"),
        "RAPP_STORE__URL": f"sqlite:///{tmp_path / 'j.sqlite'}",
        "RAPP_ENACT__SYSTEM_DATABASE_URL": f"sqlite:///{tmp_path / 'd.sqlite'}",
        "RAPP_API__PORT": str(api_port),
    }


def readiness(api_port: int) -> tuple[int, dict] | None:
    try:
        r = httpx.get(f"http://127.0.0.1:{api_port}/readyz", timeout=2)
    except httpx.HTTPError:
        return None
    return r.status_code, r.json()["checks"]


def test_waits_for_kafka_and_the_a1pms_and_becomes_ready_when_they_appear(tmp_path: Path):
    seed_repository(tmp_path / "repo.git", ["free5gc-upf-site-01"])
    kafka, api, a1 = free_port(), free_port(), free_port()
    log = (tmp_path / "rapp.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "rapp", "serve"],
        env=env_for(tmp_path, kafka, api, a1),
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        status, checks = poll(lambda: (r := readiness(api)) and r[1]["nephio_repo"] and r)
        assert status == 503
        assert checks["kafka"] is False
        assert checks["a1pms"] is False
        assert proc.poll() is None  # still up, waiting
        log_text = poll(
            lambda: (
                "waiting for Kafka" in (t := (tmp_path / "rapp.log").read_text())
                and "waiting for A1-PMS" in t
                and t
            )
        )
        assert f"waiting for Kafka at 127.0.0.1:{kafka}" in log_text
        assert f"waiting for A1-PMS at http://127.0.0.1:{a1}" in log_text
        with Broker(port=kafka), serve(a1pms_app(), port=a1) as a1pms:
            status, checks = poll(lambda: (r := readiness(api)) and r[0] == 200 and r)
            assert all(checks.values())
            services = httpx.get(f"{a1pms}/a1-policy-management/v1/services").json()
            [service] = services["serviceList"]
            assert service["serviceId"] == "rapp"
            assert service["keepAliveIntervalSeconds"] == 60
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()


def test_bad_configuration_is_one_clear_line(tmp_path: Path):
    env = env_for(tmp_path, free_port(), free_port())
    env["RAPP_PLANNER__LOW"] = "95"
    result = subprocess.run(
        [sys.executable, "-m", "rapp", "serve"], env=env, cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 2
    assert result.stderr.startswith("rapp: cannot start:")
    assert "planner.low" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_repository_stops_with_the_reason_instead_of_waiting(tmp_path: Path):
    env = env_for(tmp_path, free_port(), free_port())  # no repository was seeded
    result = subprocess.run(
        [sys.executable, "-m", "rapp", "serve"],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "\nrapp: stopped: git fetch" in result.stderr
    assert str(tmp_path / "repo.git") in result.stderr
    assert "Traceback" not in result.stderr


def test_an_a1pms_that_refuses_the_registration_stops_it_with_the_reason(tmp_path: Path):
    """A 401 will not pass by waiting (every enactment would fail the same way): one line, exit
    1, as for refused Kafka credentials, instead of a pod that is never ready."""
    seed_repository(tmp_path / "repo.git", ["free5gc-upf-site-01"])
    kafka, api = free_port(), free_port()
    a1pms = a1pms_app()
    with Broker(port=kafka), serve(a1pms) as a1_url:
        refuse = {
            "status": 401,
            "path_prefix": "/a1-policy-management/v1/services",
            "methods": ["PUT"],
            "count": 100,
        }
        httpx.post(f"{a1_url}/admin/faults", json=refuse).raise_for_status()
        env = env_for(tmp_path, kafka, api) | {"RAPP_A1__URL": a1_url}
        result = subprocess.run(
            [sys.executable, "-m", "rapp", "serve"],
            env=env,
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=90,
        )
    assert result.returncode == 1, result.stderr[-2000:]
    assert "\nrapp: stopped: A1-PMS 401" in result.stderr
    assert "Traceback" not in result.stderr
