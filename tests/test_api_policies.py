"""The rApp's own API under its authorization policy, and replacing the policy set over it."""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from rapp.api import create_app
from rapp.policy.gate import PolicyGate
from rapp.store import Journal

POLICIES = Path(__file__).parents[1] / "policies"
KEYS = {"op-key": "operator", "view-key": "viewer"}


@pytest.fixture
def gate(tmp_path: Path) -> PolicyGate:
    return PolicyGate(Path(shutil.copytree(POLICIES, tmp_path / "policies")))


@pytest.fixture
def client(gate: PolicyGate, tmp_path: Path):
    journal = Journal(f"sqlite:///{tmp_path / 'journal.sqlite'}")
    yield TestClient(create_app(journal, dict, policies=gate, api_keys=KEYS))
    journal.close()


def as_(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def files(**changes: object) -> dict:
    out = {p.name: p.read_text() for p in POLICIES.glob("*.rego")}
    data = json.loads((POLICIES / "data.json").read_text())
    data["rapp"].update(changes)
    return {"files": {**out, "data.json": data}}


def test_roles_come_from_keys_and_what_they_may_do_from_the_policy(client, gate):
    assert client.get("/api/v1/decisions").status_code == 401
    assert client.get("/api/v1/decisions", headers=as_("nope")).status_code == 401
    assert client.get("/api/v1/decisions", headers=as_("view-key")).status_code == 200
    assert client.get("/healthz").status_code == 200  # probes are not behind keys
    refused = client.put("/api/v1/policies", json=files(), headers=as_("view-key"))
    assert refused.status_code == 403
    assert refused.json()["detail"] == "role viewer may not PUT /api/v1/policies"
    dry = client.post(
        "/api/v1/policies/evaluate",
        json={
            "action": "scale_out",
            "target": "x",
            "cells": [],
            "capacity_from": "5G",
            "capacity_to": "10G",
            "evidence": {},
        },
        headers=as_("view-key"),
    )
    assert dry.status_code == 200


def test_an_operator_replaces_the_set_and_a_broken_one_is_refused_with_its_place(client, gate):
    before = gate.revision
    protected = {
        "free5gc-upf-site-07": "site-07 is under change freeze for the stadium event",
        "free5gc-upf-site-05": "fibre works",
    }
    ok = client.put(
        "/api/v1/policies", json=files(protected_targets=protected), headers=as_("op-key")
    )
    assert ok.status_code == 200, ok.json()
    assert ok.json()["accepted"] is True
    assert gate.revision == ok.json()["revision"] != before
    assert (
        client.get("/api/v1/policies", headers=as_("op-key")).json()["last_reload"]["source"]
        == "api"
    )

    broken = files()
    broken["files"]["scaling.rego"] = broken["files"]["scaling.rego"].replace(
        "deny contains msg if {", "deny contains msg if", 1
    )
    refused = client.put("/api/v1/policies", json=broken, headers=as_("op-key"))
    assert refused.status_code == 422
    assert refused.json()["error"].startswith("scaling.rego:")
    assert gate.revision == ok.json()["revision"]  # the last good set stays


def test_a_bundle_upload_and_a_body_that_is_no_set_at_all(client, gate):
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for p in POLICIES.iterdir():
            data = p.read_bytes()
            info = tarfile.TarInfo(p.name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    bundle = client.put(
        "/api/v1/policies",
        content=out.getvalue(),
        headers={**as_("op-key"), "content-type": "application/gzip"},
    )
    assert bundle.status_code == 200, bundle.json()
    junk = client.put("/api/v1/policies", json={"nope": 1}, headers=as_("op-key"))
    assert junk.status_code == 422
    assert "body must be" in junk.json()["error"]
    text_data = files()
    text_data["files"]["data.json"] = '{"rapp": ,}'  # data.json as its text, broken
    bad = client.put("/api/v1/policies", json=text_data, headers=as_("op-key"))
    assert bad.status_code == 422
    assert bad.json()["error"].startswith("data.json:1:")


def test_without_keys_reading_is_open_and_replacing_is_refused(gate, tmp_path):
    journal = Journal(f"sqlite:///{tmp_path / 'j.sqlite'}")
    open_client = TestClient(create_app(journal, dict, policies=gate))
    assert open_client.get("/api/v1/policies").status_code == 200
    refused = open_client.put("/api/v1/policies", json=files())
    assert refused.status_code == 403
    assert "configure api.keys" in refused.json()["detail"]
    journal.close()
