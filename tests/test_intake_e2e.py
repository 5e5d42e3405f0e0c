"""`rapp serve` taking telemetry in through its other doors: the VES listener (alarms, file-ready)
and a watched directory, with Kafka up but silent. Real processes, real HTTP."""

from __future__ import annotations

import copy
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import IO

import httpx
import pytest

from simulators.a1pms import create_app as a1pms_app
from simulators.broker import Broker
from simulators.ics import create_app as ics_app
from simulators.nephio import seed_repository
from tests.conftest import free_port, poll, serve
from tests.test_file_ready import Files

ROOT = Path(__file__).parents[1]
pytestmark = pytest.mark.e2e


def o_ru_event(samples: Path, name: str, epoch_us: int) -> dict:
    event = json.loads((samples / "ves-fault" / name).read_text())
    header = event["event"]["commonEventHeader"]
    header["startEpochMicrosec"] = header["lastEpochMicrosec"] = epoch_us  # templates in the sample
    return event


def metric(api: str, name: str) -> float:
    text = httpx.get(f"{api}/metrics/", timeout=5).text
    line = next(x for x in text.splitlines() if x.startswith(f"{name} "))
    return float(line.split()[1])


def test_ves_alarms_file_ready_and_watched_directory(tmp_path: Path, samples: Path):
    seed_repository(tmp_path / "repo.git", ["free5gc-upf-site-01"])
    watched = tmp_path / "incoming"
    watched.mkdir()
    port = free_port()
    api = f"http://127.0.0.1:{port}"
    files = Files((samples / "pm-xml" / "onap_A20181002.0000-1000-0015-1000_5G.xml").read_bytes())
    with (
        Broker(log_file=tmp_path / "broker.log") as broker,
        serve(ics_app()) as ics,
        serve(a1pms_app()) as a1pms,
        serve(files.app()) as files.url,
    ):
        env = {
            **os.environ,
            "RAPP_KAFKA__BOOTSTRAP": broker.bootstrap,
            "RAPP_NEPHIO__REMOTE": str(tmp_path / "repo.git"),
            "RAPP_NEPHIO__WORKDIR": str(tmp_path / "work"),
            "RAPP_STORE__URL": f"sqlite:///{tmp_path / 'j.sqlite'}",
            "RAPP_ENACT__SYSTEM_DATABASE_URL": f"sqlite:///{tmp_path / 'd.sqlite'}",
            "RAPP_API__PORT": str(port),
            "RAPP_VES__USERNAME": "sample",
            "RAPP_VES__PASSWORD": "secret",
            "RAPP_WATCH__DIRECTORY": str(watched),
            "RAPP_WATCH__PATTERN": "*.json",
            "RAPP_WATCH__POLL_INTERVAL": "0.2",
            "RAPP_ICS__ENABLED": "true",
            "RAPP_ICS__URL": ics,
            "RAPP_A1__URL": a1pms,  # readiness waits for the service registration
            # Where file-ready notifications may point: nothing is fetched otherwise.
            "RAPP_VES__FETCH_DIRS": json.dumps([str(samples / "pm-xml")]),
            "RAPP_VES__FETCH_HOSTS": json.dumps([files.url.removeprefix("http://")]),
            "RAPP_VES__FETCH_BACKOFF_S": "0.1",
        }
        log = (tmp_path / "rapp.log").open("wb")
        proc = _start(env, log, api)
        try:
            job = httpx.get(f"{ics}/data-consumer/v1/info-jobs/rapp-pm").json()
            assert job["job_definition"]["deliveryInfo"]["topic"] == "pmreports"
            auth = ("sample", "secret")
            listener = f"{api}/eventListener/v7"

            raised = o_ru_event(samples, "oran_oru_LinkFailureEvent.json", 1_700_000_000_000_000)
            assert httpx.post(listener, json=raised, auth=("sample", "wrong")).status_code == 401
            assert httpx.post(listener, json=raised, auth=auth).status_code == 202
            [active] = httpx.get(f"{api}/api/v1/alarms").json()
            assert active["source"] == "ERICSSON-O-RU-11225"
            assert active["condition"] == "28"
            assert active["severity"] == "CRITICAL"

            cleared = o_ru_event(samples, "oran_oru_LinkClearedEvent.json", 1_700_000_060_000_000)
            assert httpx.post(listener, json=cleared, auth=auth).status_code == 202
            assert httpx.get(f"{api}/api/v1/alarms").json() == []
            again = o_ru_event(samples, "oran_oru_LinkFailureEvent.json", 1_700_000_120_000_000)
            assert httpx.post(listener, json=again, auth=auth).status_code == 202

            bad = copy.deepcopy(raised)
            bad["event"]["faultFields"]["eventSeverity"] = "SEVERE"
            refused = httpx.post(listener, json=bad, auth=auth)
            assert refused.status_code == 400
            assert "eventSeverity" in json.dumps(refused.json())

            xml = samples / "pm-xml" / "onap_A20181002.0000-1000-0015-1000_5G.xml"
            header = raised["event"]["commonEventHeader"]
            ready = file_ready_event(header, str(xml))
            assert httpx.post(listener, json=ready, auth=auth).status_code == 202
            poll(lambda: metric(api, "rapp_cells"))
            assert metric(api, "rapp_cells") >= 3  # the sample file's cells are in state
            rows = metric(api, "rapp_pm_rows_total")
            file_ready = f"{api}/api/v1/file-ready"
            [done] = poll(lambda: httpx.get(file_ready, params={"state": "done"}).json())
            assert (done["url"], done["attempts"]) == (str(xml), 1)

            # Outside ves.fetch_dirs: refused, and kept with the reason for an operator.
            outside = tmp_path / xml.name
            shutil.copy(xml, outside)
            elsewhere = file_ready_event(header, str(outside))
            assert httpx.post(listener, json=elsewhere, auth=auth).status_code == 202
            [failed] = poll(lambda: httpx.get(file_ready, params={"state": "failed"}).json())
            assert failed["url"] == str(outside)
            assert failed["reason"].startswith(f"local file {outside} is outside ves.fetch_dirs")
            assert "RAPP_VES__FETCH_DIRS" in failed["reason"]

            # Over http from an allowed host that is busy at first: retried, then taken in.
            files.script["B.xml"] = [503]
            fetched = file_ready_event(header, f"{files.url}/B.xml")
            assert httpx.post(listener, json=fetched, auth=auth).status_code == 202
            poll(lambda: len(httpx.get(file_ready, params={"state": "done"}).json()) == 2)
            assert files.hits["B.xml"] == 2
            assert metric(api, 'rapp_file_ready_total{state="failed"}') == 1

            shutil.copy(samples / "pm-json" / "ranpm_pm_report.json", watched / "rop1.json")
            poll(lambda: (watched / "done" / "rop1.json").exists())
            assert metric(api, "rapp_pm_rows_total") > rows
            (watched / "junk.json").write_text('{"event": 1}')
            poll(lambda: (watched / "failed" / "junk.json").exists())
            reason = (watched / "failed" / "junk.json.reason.txt").read_text()
            assert reason.strip()
        finally:
            proc.terminate()
            proc.wait(timeout=30)
        # A clean shutdown takes the info-job back.
        assert httpx.get(f"{ics}/data-consumer/v1/info-jobs/rapp-pm").status_code == 404

        # The alarm raised again is still active after a restart (its sender will not repeat
        # it), and late deliveries of the older raise and clear do not change it.
        proc = _start(env, log, api)
        try:
            [active] = httpx.get(f"{api}/api/v1/alarms").json()
            assert active["event_time"] == "2023-11-14T22:15:20+00:00"
            for late in (raised, cleared):
                assert httpx.post(listener, json=late, auth=auth).status_code == 202
            assert httpx.get(f"{api}/api/v1/alarms").json() == [active]
        finally:
            proc.terminate()
            proc.wait(timeout=30)
            log.close()


def _start(env: dict[str, str], log: IO[bytes], api: str) -> subprocess.Popen[bytes]:
    """``rapp serve`` in a process of its own, once it is ready."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "rapp", "serve"],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    poll(lambda: httpx.get(f"{api}/readyz", timeout=2).status_code == 200 if _up(api) else False)
    return proc


def file_ready_event(header: dict, location: str) -> dict:
    """A legacy VES file-ready notification naming one file."""
    return {
        "event": {
            "commonEventHeader": {
                **header,
                "domain": "notification",
                "eventName": "Notification_gnb-Nokia_FileReady",
            },
            "notificationFields": {
                "notificationFieldsVersion": "2.0",
                "changeIdentifier": "PM_MEAS_FILES",
                "changeType": "FileReady",
                "arrayOfNamedHashMap": [
                    {
                        "name": Path(location).name,
                        "hashMap": {
                            "location": location,
                            "compression": "",
                            "fileFormatType": "org.3GPP.32.435#measCollec",
                            "fileFormatVersion": "V10",
                        },
                    }
                ],
            },
        }
    }


def _up(api: str) -> bool:
    try:
        httpx.get(f"{api}/healthz", timeout=1)
    except httpx.HTTPError:
        return False
    return True
