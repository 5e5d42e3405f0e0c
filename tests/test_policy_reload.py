"""Hot reload of the policy set: a candidate judges nothing until it compiles and passes its
own tests; a bad one is rejected with where it is wrong, and the last good set keeps judging."""

from __future__ import annotations

import asyncio
import io
import json
import shutil
import tarfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from rapp.api import create_app
from rapp.domain import Action, Decision
from rapp.policy import PolicyError
from rapp.policy.bundle import read_bundle
from rapp.policy.gate import PolicyGate
from rapp.store import Journal

POLICIES = Path(__file__).parents[1] / "policies"
ROP = datetime(2026, 11, 24, 10, 15, tzinfo=UTC)


def ten_g(target: str = "free5gc-upf-site-03") -> Decision:
    return Decision.new(Action.SCALE_OUT, target, ["c"], ROP, "5G", "10G", {"forecast_max": 91.0})


@pytest.fixture
def live(tmp_path: Path) -> Path:
    """A copy of the shipped policies that tests edit, as an operator edits a ConfigMap."""
    shutil.copytree(POLICIES, tmp_path / "policies")
    return tmp_path / "policies"


def set_max(directory: Path, maximum: str) -> None:
    data = json.loads((directory / "data.json").read_text())
    data["rapp"]["nf_classes"]["free5gc-upf"]["max"] = maximum
    (directory / "data.json").write_text(json.dumps(data))


def test_a_syntax_error_is_rejected_at_its_line_and_the_last_good_set_keeps_judging(live):
    gate = PolicyGate(live)
    good = gate.revision
    assert gate.evaluate([ten_g()])[0].allow
    (live / "scaling.rego").write_text(
        (live / "scaling.rego")
        .read_text()
        .replace("deny contains msg if {", "deny contains msg if", 1)
    )
    result = gate.reload()
    assert result is not None
    assert not result.accepted
    assert result.error.startswith("scaling.rego:"), result.error
    line, col = (int(x) for x in result.error.split(":")[1:3])
    assert line > 1
    assert col >= 1
    assert gate.revision == good
    [verdict] = gate.evaluate([ten_g()])
    assert verdict.allow
    assert verdict.policy_revision == good
    assert gate.status()["last_reload"]["accepted"] is False
    assert gate.reload() is None  # the same broken content is not tried again


def test_a_set_whose_tests_fail_is_rejected_and_a_fixed_one_takes_over(live):
    gate = PolicyGate(live)
    good = gate.revision
    # A rule edit that breaks what its tests pin: every reason naming the maximum changes.
    scaling = (live / "scaling.rego").read_text()
    (live / "scaling.rego").write_text(scaling.replace("exceeds the maximum", "is over the max"))
    rejected = gate.reload()
    assert rejected is not None
    assert not rejected.accepted
    assert rejected.error.startswith("policy tests fail: ")
    assert rejected.error.endswith(" more: undefined")  # one line per distinct error
    assert not rejected.tests.endswith(" 0 failed")
    assert gate.revision == good

    # Fixed, and protect site-05 too.
    (live / "scaling.rego").write_text(scaling)
    data = json.loads((live / "data.json").read_text())
    data["rapp"]["protected_targets"]["free5gc-upf-site-05"] = "fibre works"
    (live / "data.json").write_text(json.dumps(data))
    accepted = gate.reload()
    assert accepted is not None
    assert accepted.accepted, accepted
    assert gate.revision == accepted.revision != good
    assert gate.evaluate([ten_g()])[0].allow
    [verdict] = gate.evaluate([ten_g("free5gc-upf-site-05")])
    assert not verdict.allow
    assert verdict.reasons == ("free5gc-upf-site-05: protected: fibre works",)


def test_an_operators_data_edit_takes_effect_without_touching_the_tests(live):
    """The rule tests judge against fixtures, so lowering a limit or freezing a site today, in
    data.json alone, is accepted and judges the next decision."""
    gate = PolicyGate(live)
    set_max(live, "8G")
    data = json.loads((live / "data.json").read_text())
    data["rapp"]["calendar"].append(
        {
            "start": "2026-11-24T00:00:00Z",
            "end": "2026-11-25T00:00:00Z",
            "targets": ["free5gc-upf-site-05"],
            "reason": "fibre cut",
        }
    )
    (live / "data.json").write_text(json.dumps(data))
    result = gate.reload()
    assert result is not None
    assert result.accepted, result.error
    [capped, frozen] = gate.evaluate([ten_g(), ten_g("free5gc-upf-site-05")], now=ROP)
    assert capped.reasons == ("free5gc-upf-site-03: 10G exceeds the maximum 8G for free5gc-upf",)
    assert "free5gc-upf-site-05: freeze until 2026-11-25T00:00:00Z: fibre cut" in frozen.reasons


def test_data_the_rules_cannot_read_is_rejected_with_each_problem_named(live):
    gate = PolicyGate(live)
    good = gate.revision
    set_max(live, "8 gigs")
    data = json.loads((live / "data.json").read_text())
    data["rapp"]["confidence"]["max_band"] = "narrow"
    (live / "data.json").write_text(json.dumps(data))
    result = gate.reload()
    assert result is not None
    assert not result.accepted
    assert result.tests.endswith(" 1 failed")  # only the data check: rule tests use fixtures
    assert "rapp.sanity_test.test_the_live_data_has_no_problems" in result.error
    assert "nf_classes.free5gc-upf.max: 8 gigs is not a Kubernetes quantity" in result.error
    assert "confidence.max_band: narrow must be a number from 0 to 1" in result.error
    assert gate.revision == good


def test_a_set_that_does_not_pass_its_tests_cannot_start_the_gate(live):
    set_max(live, "8 gigs")
    with pytest.raises(PolicyError, match=r"policy tests fail .* 8 gigs is not a Kubernetes"):
        PolicyGate(live)


def test_a_configmap_mount_is_read_once_not_through_its_hidden_data_dir(tmp_path):
    # Kubernetes: files are symlinks to ..data/, itself a link to a timestamped directory.
    mount = tmp_path / "mount"
    shutil.copytree(POLICIES, mount / "..2026_11_24_10_15_00.1")
    (mount / "..data").symlink_to("..2026_11_24_10_15_00.1")
    for f in POLICIES.iterdir():
        (mount / f.name).symlink_to(Path("..data") / f.name)
    gate = PolicyGate(mount)
    assert sorted(gate.engine.policy_set.modules) == sorted(p.name for p in POLICIES.glob("*.rego"))
    # An update swaps ..data to a new directory; the gate sees the new content.
    shutil.copytree(POLICIES, mount / "..2026_11_24_11_00_00.1")
    set_max(mount / "..2026_11_24_11_00_00.1", "8G")
    (mount / "..data").unlink()
    (mount / "..data").symlink_to("..2026_11_24_11_00_00.1")
    result = gate.reload()
    assert result is not None
    assert result.accepted, result.error
    [verdict] = gate.evaluate([ten_g()])
    assert verdict.reasons == ("free5gc-upf-site-03: 10G exceeds the maximum 8G for free5gc-upf",)


def bundle(directory: Path, extra: dict[str, bytes] | None = None) -> bytes:
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        files = {p.name: p.read_bytes() for p in directory.iterdir() if p.is_file()}
        files[".manifest"] = json.dumps({"revision": "r1", "roots": ["rapp"]}).encode()
        for name, content in {**files, **(extra or {})}.items():
            info = tarfile.TarInfo(f"/{name}")
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    return out.getvalue()


def test_an_opa_bundle_judges_like_its_directory_and_is_reloaded_when_replaced(live, tmp_path):
    path = tmp_path / "bundle.tar.gz"
    path.write_bytes(bundle(live))
    gate = PolicyGate(path)
    assert gate.revision == PolicyGate(live).revision  # same content, same revision
    set_max(live, "8G")
    path.write_bytes(bundle(live))
    result = gate.reload()
    assert result is not None
    assert result.accepted, result.error
    assert not gate.evaluate([ten_g()])[0].allow
    set_max(live, "8 gigs")
    path.write_bytes(bundle(live))
    result = gate.reload()
    assert result is not None
    assert not result.accepted
    assert "policy tests fail" in result.error


def test_a_bundle_puts_nested_data_at_its_directory_path_and_refuses_what_is_not_a_bundle():
    policy = b"package x\nimport rego.v1\nlimit := data.limits.site.max\n"
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name, content in {"x.rego": policy, "limits/site/data.json": b'{"max": 3}'}.items():
            info = tarfile.TarInfo(name)
            info.size = len(content)
            tar.addfile(info, io.BytesIO(content))
    assert read_bundle(raw.getvalue()).data == {"limits": {"site": {"max": 3}}}
    with pytest.raises(PolicyError, match=r"not a readable \.tar\.gz bundle"):
        read_bundle(b"PK\x03\x04 a zip, not a tarball")
    escape = io.BytesIO()
    with tarfile.open(fileobj=escape, mode="w:gz") as tar:
        info = tarfile.TarInfo("../evil.rego")
        info.size = len(policy)
        tar.addfile(info, io.BytesIO(policy))
    with pytest.raises(PolicyError, match="outside the bundle"):
        read_bundle(escape.getvalue())


async def test_the_watch_picks_up_an_edit_without_being_asked(live):
    reloads = []
    gate = PolicyGate(live, on_reload=reloads.append)
    task = asyncio.create_task(gate.watch(0.01))
    try:
        (live / "scaling.rego").write_text("package rapp.scaling\nimport rego.v1\nverdict := {\n")
        for _ in range(200):
            if reloads:
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
    [reload] = reloads
    assert not reload.accepted
    assert reload.error.startswith("scaling.rego:")


def test_the_api_shows_the_active_set_and_the_last_reload_and_evaluates_dry(live, tmp_path):
    gate = PolicyGate(live)
    journal = Journal(f"sqlite:///{tmp_path / 'journal.sqlite'}")
    client = TestClient(create_app(journal, dict, policies=gate))
    status = client.get("/api/v1/policies").json()
    assert status["revision"] == gate.revision
    assert status["files"] == sorted(p.name for p in POLICIES.iterdir())
    assert status["last_reload"]["accepted"] is True
    (live / "scaling.rego").write_text("package rapp.scaling\n\nverdict := {\n")
    gate.reload()
    status = client.get("/api/v1/policies").json()
    assert status["revision"] == gate.revision
    assert status["last_reload"]["accepted"] is False
    assert status["last_reload"]["error"].startswith("scaling.rego:")

    decision = {
        "action": "scale_out",
        "target": "free5gc-upf-site-03",
        "cells": ["c"],
        "capacity_from": "20G",
        "capacity_to": "40G",
        "evidence": {"forecast_max": 95},
    }
    verdict = client.post("/api/v1/policies/evaluate", json=decision).json()
    assert verdict["allow"] is False
    assert "free5gc-upf-site-03: 40G exceeds the maximum 20G for free5gc-upf" in verdict["reasons"]
    assert verdict["policy_revision"] == gate.revision
    assert journal.decisions() == []  # a dry run journals nothing
    journal.close()
