"""The Rego gate: shipped policies, fail-closed evaluation, load errors and the test runner."""

from __future__ import annotations

import json
import re
import shutil
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from rapp.domain import Action, Decision, Verdict
from rapp.policy import (
    PolicyEngine,
    PolicyError,
    PolicySet,
    RegoPolicyEngine,
    load_policy_set,
    run_policy_tests,
)

POLICIES = Path(__file__).resolve().parents[1] / "policies"
ROP = datetime(2026, 11, 24, 10, 15, tzinfo=UTC)
EVIDENCE = {"forecast_max": 91.5, "threshold_high": 80.0, "threshold_low": 30.0}

MINIMAL = """package rapp.scaling

import rego.v1

verdict := {"allow": true, "reasons": [sprintf("%s at %s", [input.decision.target, input.now])]}
"""


def decision(
    capacity_from: str = "5G",
    capacity_to: str = "10G",
    *,
    action: Action = Action.SCALE_OUT,
    target: str = "free5gc-upf-site-03",
    evidence: dict[str, Any] | None = None,
) -> Decision:
    return Decision.new(
        action,
        target,
        ["ManagedElement=gnb-03,GNBDUFunction=1,NRCellDU=1"],
        ROP,
        capacity_from,
        capacity_to,
        EVIDENCE if evidence is None else evidence,
    )


@pytest.fixture(scope="module")
def engine() -> RegoPolicyEngine:
    return RegoPolicyEngine.from_directory(POLICIES)


@pytest.fixture
def policies(tmp_path: Path) -> Path:
    """A private copy of the shipped policies, free to edit."""
    return Path(shutil.copytree(POLICIES, tmp_path / "policies"))


def one(engine: PolicyEngine, d: Decision) -> Verdict:
    [verdict] = engine.evaluate([d], now=ROP)
    assert verdict.decision_id == d.id
    assert verdict.policy_revision == engine.revision
    return verdict


# --- the shipped policies ------------------------------------------------------------------


def test_shipped_rego_tests_all_pass() -> None:
    source = "\n".join(p.read_text() for p in POLICIES.glob("*_test.rego"))
    declared = set(re.findall(r"^(test_\w+)\s+if\b", source, re.MULTILINE))

    report = run_policy_tests(POLICIES)

    assert report.failures == ()
    assert report.passed == len(declared) == len(report.results)
    assert {r.name for r in report.results} == declared
    assert {r.package for r in report.results} == {
        "rapp.scaling_test",
        "rapp.api_test",
        "rapp.sanity_test",
    }
    assert report.summary() == f"{len(declared)} passed, 0 failed"


def test_engine_satisfies_protocol(engine: RegoPolicyEngine) -> None:
    assert isinstance(engine, PolicyEngine)
    assert re.fullmatch(r"[0-9a-f]{12}", engine.revision)


@pytest.mark.parametrize(
    ("d", "reason"),
    [
        (decision("5G", "10G"), "free5gc-upf-site-03: 5G -> 10G within [1G, 20G] for free5gc-upf"),
        (
            decision("10G", "5G", action=Action.SCALE_IN),
            "free5gc-upf-site-03: 10G -> 5G within [1G, 20G] for free5gc-upf",
        ),
        (
            decision("10G", "20G"),
            "free5gc-upf-site-03: 10G -> 20G within [1G, 20G] for free5gc-upf",
        ),
    ],
    ids=["scale-out", "scale-in", "exact-doubling"],
)
def test_allowed(engine: RegoPolicyEngine, d: Decision, reason: str) -> None:
    assert one(engine, d) == Verdict(d.id, True, (reason,), engine.revision)


@pytest.mark.parametrize(
    ("d", "reason"),
    [
        (
            decision(target="free5gc-upf-site-07"),
            "free5gc-upf-site-07: protected: site-07 is under change freeze for the stadium event",
        ),
        (
            decision("20G", "40G"),
            "free5gc-upf-site-03: 40G exceeds the maximum 20G for free5gc-upf",
        ),
        (
            decision("1G", "500M", action=Action.SCALE_IN),
            "free5gc-upf-site-03: 500M is below the minimum 1G for free5gc-upf",
        ),
        (
            decision("4G", "16G"),
            "free5gc-upf-site-03: 4G -> 16G changes capacity by more than the maximum factor 2"
            " for free5gc-upf",
        ),
        (
            decision("16G", "4G", action=Action.SCALE_IN),
            "free5gc-upf-site-03: 16G -> 4G changes capacity by more than the maximum factor 2"
            " for free5gc-upf",
        ),
        (
            decision("10G", "5G"),
            "free5gc-upf-site-03: scale_out must increase capacity, but 10G -> 5G does not",
        ),
        (
            decision("5G", "10G", action=Action.SCALE_IN),
            "free5gc-upf-site-03: scale_in must decrease capacity, but 5G -> 10G does not",
        ),
        (
            decision(target="open5gs-smf-site-03"),
            "open5gs-smf-site-03: no NF class matches this target (known classes: du, free5gc-upf)",
        ),
        (
            decision(evidence={"quantile": 0.9}),
            "free5gc-upf-site-03: required evidence forecast_max is missing",
        ),
        (
            decision("5G", "ten"),
            "free5gc-upf-site-03: capacity_to ten is not a Kubernetes quantity",
        ),
    ],
    ids=[
        "protected",
        "above-max",
        "below-min",
        "step-out",
        "step-in",
        "wrong-direction-out",
        "wrong-direction-in",
        "unknown-class",
        "missing-evidence",
        "bad-quantity",
    ],
)
def test_denied(engine: RegoPolicyEngine, d: Decision, reason: str) -> None:
    assert one(engine, d) == Verdict(d.id, False, (reason,), engine.revision)


def test_every_violation_is_reported_in_sorted_order(engine: RegoPolicyEngine) -> None:
    verdict = one(engine, decision("5G", "40G", target="free5gc-upf-site-07", evidence={}))

    assert not verdict.allow
    assert len(verdict.reasons) == 4
    assert list(verdict.reasons) == sorted(verdict.reasons)
    assert all(r.startswith("free5gc-upf-site-07: ") for r in verdict.reasons)


def test_batch_keeps_order_and_numpy_evidence_is_accepted(engine: RegoPolicyEngine) -> None:
    batch = [
        decision(evidence={"forecast_max": np.float32(91.5)}),
        decision(target="free5gc-upf-site-07"),
        decision("10G", "5G", action=Action.SCALE_IN),
    ]

    verdicts = engine.evaluate(batch)

    assert [v.decision_id for v in verdicts] == [d.id for d in batch]
    assert [v.allow for v in verdicts] == [True, False, True]
    assert engine.evaluate([]) == []


def test_evaluate_from_another_thread(engine: RegoPolicyEngine) -> None:
    # regorus engines panic when used off their creating thread; the engine must cope.
    results: list[list[Verdict]] = []
    worker = threading.Thread(target=lambda: results.append(engine.evaluate([decision()])))
    worker.start()
    worker.join()

    assert [v.allow for v in results[0]] == [True]


# --- revisions and data ----------------------------------------------------------------------


def test_revision_is_stable_and_follows_data(policies: Path) -> None:
    before = load_policy_set(policies)
    assert load_policy_set(policies).revision == before.revision

    data = json.loads((policies / "data.json").read_text())
    data["rapp"]["nf_classes"]["free5gc-upf"]["max"] = "8G"
    (policies / "data.json").write_text(json.dumps(data))
    engine = RegoPolicyEngine.from_directory(policies)

    assert engine.revision != before.revision
    verdict = one(engine, decision("5G", "10G"))
    assert verdict.reasons == ("free5gc-upf-site-03: 10G exceeds the maximum 8G for free5gc-upf",)


def test_revision_follows_rego_source(policies: Path) -> None:
    before = load_policy_set(policies).revision
    path = policies / "scaling.rego"
    path.write_text(path.read_text() + "\n# reviewed\n")

    assert load_policy_set(policies).revision != before


def test_input_carries_now_as_rfc3339_utc(tmp_path: Path) -> None:
    (tmp_path / "p.rego").write_text(MINIMAL)
    engine = RegoPolicyEngine.from_directory(tmp_path)

    [verdict] = engine.evaluate([decision()], now=datetime(2026, 11, 24, 11, 0, 5, tzinfo=UTC))

    assert verdict.reasons == ("free5gc-upf-site-03 at 2026-11-24T11:00:05Z",)


# --- load errors ---------------------------------------------------------------------------


def test_syntax_error_names_file_line_and_column(policies: Path) -> None:
    path = policies / "scaling.rego"
    lines = path.read_text().splitlines()
    at = next(i for i, line in enumerate(lines) if line.startswith("verdict :="))
    lines.insert(at, "broken if { input.x > }")
    path.write_text("\n".join(lines) + "\n")

    with pytest.raises(PolicyError) as caught:
        load_policy_set(policies)

    # Line numbers are 1-based and the column points at the "}" where an operand was expected.
    assert str(caught.value) == f"scaling.rego:{at + 1}:23: expecting expression"
    assert (caught.value.file, caught.value.line, caught.value.col) == ("scaling.rego", at + 1, 23)
    assert "Stack backtrace" not in str(caught.value)


def test_unknown_function_is_a_load_error(policies: Path) -> None:
    path = policies / "scaling.rego"
    source = path.read_text().replace("units.parse(q)", "unit.parse(q)")
    path.write_text(source)
    line = 1 + source[: source.index("unit.parse")].count("\n")

    with pytest.raises(PolicyError, match=rf"^scaling\.rego:{line}:\d+: Unknown function"):
        load_policy_set(policies)


def test_unsafe_variable_is_a_load_error(tmp_path: Path) -> None:
    (tmp_path / "p.rego").write_text("package p\n\nimport rego.v1\n\nx if {\n\ty == 1\n}\n")

    with pytest.raises(PolicyError, match=r"^p\.rego:6:\d+: .*unsafe"):
        load_policy_set(tmp_path)


def test_bad_data_json_names_its_line(policies: Path) -> None:
    (policies / "data.json").write_text('{\n  "rapp": {\n    "nf_classes": ,\n  }\n}\n')

    with pytest.raises(PolicyError, match=r"^data\.json:3:\d+: "):
        load_policy_set(policies)


def test_empty_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"no \.rego files"):
        load_policy_set(tmp_path)


# --- fail closed ---------------------------------------------------------------------------


def _engine_with(tmp_path: Path, rego: str, **kw: Any) -> RegoPolicyEngine:
    (tmp_path / "p.rego").write_text(rego)
    return RegoPolicyEngine.from_directory(tmp_path, **kw)


def _assert_engine_error(verdict: Verdict, fragment: str) -> None:
    assert not verdict.allow
    [reason] = verdict.reasons
    assert reason.startswith("policy engine error: "), reason
    assert fragment in reason


def test_undefined_rule_fails_closed(engine: RegoPolicyEngine) -> None:
    other = RegoPolicyEngine(engine.policy_set, query="data.rapp.scaling.no_such_rule")
    _assert_engine_error(one(other, decision()), "data.rapp.scaling.no_such_rule: ")


def test_undefined_result_fails_closed(tmp_path: Path) -> None:
    rego = 'package rapp.scaling\n\nimport rego.v1\n\nverdict := {"allow": true} if input.x\n'
    _assert_engine_error(one(_engine_with(tmp_path, rego), decision()), "undefined")


def test_runtime_error_fails_closed_with_location(tmp_path: Path) -> None:
    rego = (
        "package rapp.scaling\n\nimport rego.v1\n\n"
        'verdict := {"allow": true, "reasons": [r]} if {\n'
        '\tr := sprintf("%d", [1 / count(input.decision.evidence)])\n'
        "}\n"
    )
    engine = _engine_with(tmp_path, rego)
    assert engine.compiled  # the RVM, which reads the error as undefined: the interpreter says
    verdict = one(engine, decision(evidence={}))
    _assert_engine_error(verdict, "p.rego:6:")
    assert "Stack backtrace" not in verdict.reasons[0]


def test_the_shipped_set_is_judged_on_the_compiled_program(engine: RegoPolicyEngine) -> None:
    assert engine.compiled
    assert one(engine, decision()).allow


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ('"yes"', "not an object"),
        ('{"allow": "true", "reasons": []}', "not a boolean"),
        ('{"allow": true, "reasons": "fine"}', "not a list of strings"),
        ('{"allow": true, "reasons": [1]}', "not a list of strings"),
    ],
)
def test_wrong_shape_fails_closed(tmp_path: Path, value: str, fragment: str) -> None:
    rego = f"package rapp.scaling\n\nimport rego.v1\n\nverdict := {value}\n"
    _assert_engine_error(one(_engine_with(tmp_path, rego), decision()), fragment)


def test_unserialisable_evidence_fails_closed(engine: RegoPolicyEngine) -> None:
    verdict = one(engine, decision(evidence={"forecast_max": float("nan")}))
    _assert_engine_error(verdict, "not JSON")


def test_hand_built_policy_set(tmp_path: Path) -> None:
    policy_set = PolicySet.create({"p.rego": MINIMAL}, {})
    engine = RegoPolicyEngine(policy_set)

    assert engine.revision == policy_set.revision
    assert one(engine, decision()).allow


# --- the test runner -----------------------------------------------------------------------


def test_runner_reports_failing_and_erroring_tests(policies: Path) -> None:
    (policies / "extra_test.rego").write_text(
        "package rapp.extra_test\n\n"
        "import rego.v1\n\n"
        "import data.rapp.scaling\n\n"
        "test_passes if scaling.verdict.allow with input as {}\n"
        "\n"
        "test_undefined if { false }\n\n"
        "test_false := false\n\n"
        "test_errors if { x := 0; 1 / x }\n"
    )

    report = run_policy_tests(policies)
    results = {(r.package, r.name): r for r in report.results}

    assert report.summary() == f"{report.passed} passed, 4 failed"
    assert not report.ok
    assert not results[("rapp.extra_test", "test_passes")].passed  # {} has no decision: denied
    assert results[("rapp.extra_test", "test_undefined")].error == "undefined"
    assert results[("rapp.extra_test", "test_false")].error == "evaluated to False"
    assert "extra_test.rego:13:" in (results[("rapp.extra_test", "test_errors")].error or "")
    assert all(r.passed for r in report.results if r.package == "rapp.scaling_test")


def test_runner_stops_on_a_broken_policy(policies: Path) -> None:
    (policies / "scaling_test.rego").write_text("package rapp.scaling_test\n\ntest_x if {\n")

    with pytest.raises(PolicyError, match=r"^scaling_test\.rego:\d+:\d+: "):
        run_policy_tests(policies)


def test_a_builtin_error_in_a_deny_rule_denies_even_where_the_fast_path_would_allow(
    engine: RegoPolicyEngine,
) -> None:
    """The RVM reads a builtin error as undefined, so the deny rule that hit it vanishes and
    its answer is allow; the gate takes only denials from it and confirms an allow on the
    interpreter, which fails closed."""
    document = {
        "now": "2026-11-24T10:00:00Z",
        "decision": {
            "action": "scale_out",
            "target": "free5gc-upf-site-03",
            "cells": ["c"],
            "capacity_from": "5G",
            "capacity_to": "10G",
            "evidence": [1],  # not an object: object.get fails on it
        },
    }
    verdict = engine.evaluate_input(document)
    assert not verdict.allow
    assert verdict.reasons[0].startswith("policy engine error: scaling.rego:")
    assert "object.get" in verdict.reasons[0]


def test_the_shipped_a1_schemas_are_the_near_rt_rics_policy_types() -> None:
    """The policy types the operator approves in data.json are the ones the simulated Near-RT
    RIC serves: a drift between the two would deny every decision, or let through objects
    the RIC refuses."""
    shipped = load_policy_set(POLICIES).data["rapp"]["a1_policy_types"]
    served = POLICIES.parent / "simulators" / "a1pms" / "types"
    assert sorted(shipped) == ["RAPP_CAPACITY_1.0.0", "RAPP_HEALING_1.0.0"]
    for type_id, schema in shipped.items():
        assert schema == json.loads((served / f"{type_id}.json").read_text())["policySchema"]


def test_a_set_missing_a_check_it_names_denies_instead_of_skipping_the_check() -> None:
    """Deleting slices.rego (say, from a ConfigMap) must not let scale-ins past the SLAs: an
    untested set (``rapp policy eval --dir``) denies everything, naming the missing check."""
    shipped = load_policy_set(POLICIES)
    modules = {n: s for n, s in shipped.modules.items() if n != "slices.rego"}
    engine = RegoPolicyEngine(PolicySet.create(modules, shipped.data))
    [verdict] = engine.evaluate([decision("5G", "10G")])
    assert not verdict.allow
    assert verdict.reasons == (
        "free5gc-upf-site-03: the policy set has no deny rules for the checks slices, "
        "so nothing is allowed",
    )


def test_a_replaced_engine_is_let_go_on_the_threads_that_judged_with_it() -> None:
    """regorus objects may only be dropped on the thread that made them. A reloaded set's old
    engine, collected on another thread, must not drop them there (regorus refuses, and they
    leak); the judging thread lets them go at its next judgement."""
    import gc
    import sys
    from concurrent.futures import ThreadPoolExecutor

    from rapp.policy import engine as engine_module

    unraisable: list[str] = []
    previous = sys.unraisablehook
    sys.unraisablehook = lambda info: unraisable.append(repr(info.exc_value))
    try:
        with ThreadPoolExecutor(max_workers=1) as worker:
            old = RegoPolicyEngine.from_directory(POLICIES)
            assert worker.submit(old.evaluate, [decision()]).result()[0].allow
            del old
            gc.collect()  # collected here, on the main thread
            new = RegoPolicyEngine.from_directory(POLICIES)
            verdicts = worker.submit(new.evaluate, [decision()]).result()
            held = worker.submit(lambda: len(engine_module._THREADS.entries)).result()
    finally:
        sys.unraisablehook = previous
    assert verdicts[0].allow
    assert held == 1  # the old engine's objects are gone, dropped on the worker
    assert not [u for u in unraisable if "unsendable" in u], unraisable
