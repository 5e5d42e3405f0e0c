"""The OPA-sidecar backend over real HTTP on 127.0.0.1, against an OPA REST server that
evaluates with the real OPA library (``simulators.opa``)."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI, Request

from rapp.domain import Action
from rapp.policy import PolicyError, PolicySet, RegoPolicyEngine, load_policy_set
from rapp.policy.gate import PolicyGate
from rapp.policy.opa_server import OpaServerEngine
from simulators.opa import create_app
from tests.conftest import free_port, serve
from tests.test_policy_differential import _decisions

POLICIES = Path(__file__).parents[1] / "policies"
NOW = datetime(2026, 11, 24, 10, 16, tzinfo=UTC)


@pytest.fixture(scope="module")
def opa() -> Iterator[str]:
    with serve(create_app()) as url:
        yield url


def test_the_sidecar_judges_like_the_embedded_engine(opa: str) -> None:
    policy_set = load_policy_set(POLICIES)
    remote = OpaServerEngine(policy_set, url=opa)
    try:
        decisions = _decisions(Action.SCALE_OUT, seed=11)[:300]
        ours = RegoPolicyEngine(policy_set).evaluate(decisions, now=NOW)
        theirs = remote.evaluate(decisions, now=NOW)
    finally:
        remote.close()
    assert theirs == ours
    assert {v.policy_revision for v in theirs} == {policy_set.revision}
    assert 0 < sum(v.allow for v in theirs) < len(theirs)


def test_the_rapp_pushes_exactly_its_set_and_a_broken_module_is_refused_where_it_breaks(
    opa: str,
) -> None:
    stray = httpx.put(f"{opa}/v1/policies/stray.rego", content="package stray\nx := 1\n")
    assert stray.status_code == 200
    OpaServerEngine(load_policy_set(POLICIES), url=opa).close()
    ids = {p["id"] for p in httpx.get(f"{opa}/v1/policies").json()["result"]}
    assert ids == {p.name for p in POLICIES.glob("*.rego")}

    broken = PolicySet.create({"bad.rego": "package bad\nimport rego.v1\n\nallow if {\n"}, {})
    with pytest.raises(PolicyError) as caught:
        OpaServerEngine(broken, url=opa, push=True)
    assert (caught.value.file, caught.value.line) == ("bad.rego", 5)


def test_an_unreachable_or_slow_server_is_a_denial_that_says_so() -> None:
    policy_set = load_policy_set(POLICIES)
    [decision] = _decisions(Action.SCALE_OUT, seed=3)[:1]
    closed = OpaServerEngine(policy_set, url=f"http://127.0.0.1:{free_port()}", push=False)
    [verdict] = closed.evaluate([decision], now=NOW)
    assert not verdict.allow
    assert verdict.reasons[0].startswith(
        "policy engine error: data.rapp.scaling.verdict: OPA at http://127.0.0.1:"
    )
    assert "ConnectError" in verdict.reasons[0]

    slow = FastAPI()
    asked: list[str] = []

    @slow.post("/v1/data/{path:path}")
    async def answer_late(path: str, request: Request) -> dict:
        asked.append(request.url.query)
        await asyncio.sleep(0.5)
        return {}

    with serve(slow) as url:
        late = OpaServerEngine(policy_set, url=url, timeout_s=0.1, push=False)
        [verdict] = late.evaluate([decision], now=NOW)
    assert not verdict.allow
    assert verdict.reasons == (
        f"policy engine error: {late.query}: OPA at {url} did not answer within 0.1s",
    )
    assert asked == ["strict-builtin-errors"]  # an error must be an error, not undefined


def test_the_gate_pushes_only_a_set_that_passed_its_tests_to_the_sidecar(
    opa: str, tmp_path: Path
) -> None:
    live = tmp_path / "policies"
    shutil.copytree(POLICIES, live)
    gate = PolicyGate(live, engine=lambda ps: OpaServerEngine(ps, url=opa))
    served = httpx.get(f"{opa}/v1/policies").json()["result"]
    (live / "scaling.rego").write_text("package rapp.scaling\nimport rego.v1\nverdict := {\n")
    rejected = gate.reload()
    assert rejected is not None
    assert not rejected.accepted
    assert httpx.get(f"{opa}/v1/policies").json()["result"] == served  # untouched
    [verdict] = gate.evaluate(_decisions(Action.SCALE_OUT, seed=5)[:1], now=NOW)
    assert verdict.policy_revision == gate.revision
    assert not any(r.startswith("policy engine error") for r in verdict.reasons)
    gate.engine.close()


def test_a_candidate_the_sidecar_refuses_halfway_is_pushed_back_out(
    opa: str, tmp_path: Path
) -> None:
    """regorus takes the candidate (its tests pass), OPA's type checker refuses one module
    after the candidate's data went in: the gate pushes the active set back, so the sidecar
    does not judge with the rejected data."""
    live = tmp_path / "policies"
    shutil.copytree(POLICIES, live)
    gate = PolicyGate(live, engine=lambda ps: OpaServerEngine(ps, url=opa))
    data = json.loads((live / "data.json").read_text())
    data["rapp"]["protected_targets"]["free5gc-upf-site-05"] = "new"
    (live / "data.json").write_text(json.dumps(data))
    (live / "zz_extra.rego").write_text('package zz\nimport rego.v1\nx := 1 + "a"\n')
    result = gate.reload()
    assert result is not None
    assert not result.accepted, result
    [decision] = _decisions(Action.SCALE_OUT, seed=5)[:1]
    site05 = dataclasses.replace(
        decision,
        target="free5gc-upf-site-05",
        capacity_from="5G",
        capacity_to="10G",
        evidence={"forecast_max": 91.0},
    )
    [verdict] = gate.evaluate([site05], now=NOW)
    assert not any("protected: new" in r for r in verdict.reasons), verdict
    gate.engine.close()
