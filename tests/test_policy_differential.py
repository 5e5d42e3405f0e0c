"""The embedded engine (regorus) must decide exactly as Open Policy Agent does.

The reference is OPA itself, its Go library in process (``OpaLibraryEngine``). Every ``test_*``
rule of the shipped policies, and a thousand generated decisions per action, go through both;
the verdicts (allow and every reason) must be equal. The divergences known between the two are
pinned at the end, each with the way the shipped policies stay clear of it (docs/policies.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
import regorus

from rapp.config import A1Settings
from rapp.domain import Action, Decision
from rapp.enact import a1_policy_for
from rapp.policy import (
    PolicyError,
    PolicySet,
    RegoPolicyEngine,
    load_policy_set,
    run_policy_tests,
)
from rapp.policy.opa_library import OpaLibraryEngine

POLICIES = Path(__file__).parents[1] / "policies"
N = 1000


@pytest.fixture(scope="module")
def opa() -> Iterator[OpaLibraryEngine]:
    engine = OpaLibraryEngine(load_policy_set(POLICIES))
    yield engine
    engine.close()


@pytest.fixture(scope="module")
def embedded() -> RegoPolicyEngine:
    return RegoPolicyEngine(load_policy_set(POLICIES))


def test_every_policy_test_passes_on_both_engines(opa: OpaLibraryEngine) -> None:
    report = run_policy_tests(POLICIES)
    assert report.results, "no test_* rules found"
    embedded = {f"{r.package}.{r.name}": r.passed for r in report.results}
    reference = {name: opa.eval_rule(f"data.{name}") is True for name in embedded}
    assert reference == embedded
    assert all(embedded.values()), report.failures


# What a decision may hold, the odd and the wrong included: policies must deny those with a
# reason, the same reason on both engines.
_TARGETS = [
    "free5gc-upf-site-03",
    "free5gc-upf-site-02",  # serves two slices with guarantees
    "free5gc-upf-site-07",  # protected
    "free5gc-upfx-site-01",  # no class: the prefix needs a boundary
    "open5gs-smf-site-02",
    "du-gnb-0003",
    "du",
    "",
]
_QUANTITIES = ["1G", "1250M", "2500M", "5G", "10G", "20G", "40G", "500M", "1.5G", "2Gi", "0"]
_QUANTITIES += ["7", "100m", "lots", "", "5 G", "-1G", "1e9", "3.5Ti"]
_LADDER = ["1250M", "2500M", "5G", "10G", "20G"]
_PROTECTED_CELL = "SubNetwork=site-02,ManagedElement=gnb-0008,GNBDUFunction=1,NRCellDU=3"
_TARGETS.append("free5gc-upf-site-04")  # in a maintenance window at one of the instants
_KINDS = ["sleeping_cell", "hardware_fault", "fronthaul_fault", "congestion_surge", "anomaly"]


def _decisions(action: Action, seed: int) -> list[Decision]:
    rng = np.random.default_rng(seed)
    rop = datetime(2026, 11, 24, 10, 15, tzinfo=UTC)
    out = []
    for i in range(N):
        target = str(rng.choice(_TARGETS))
        n_cells = int(rng.integers(0, 5))
        cells = [
            f"SubNetwork=site-01,ManagedElement=gnb-0003,GNBDUFunction=1,NRCellDU={k}"
            for k in range(n_cells)
        ]
        if rng.random() < 0.1:
            cells.append(_PROTECTED_CELL)
        evidence: dict[str, object] = {}
        if action is Action.HEAL:
            frm = to = "" if rng.random() < 0.9 else str(rng.choice(_QUANTITIES))
            if rng.random() < 0.9:
                kinds = sorted(set(rng.choice(_KINDS, size=int(rng.integers(1, 3))).tolist()))
                evidence["kinds"] = kinds
            if rng.random() < 0.9:
                evidence["incidents"] = [{"cell": c, "kind": "sleeping_cell"} for c in cells]
            evidence["score_max"] = round(float(rng.uniform(0.5, 40)), 2)
        else:
            frm, to = (str(q) for q in rng.choice(_QUANTITIES, size=2))
            if rng.random() < 0.3:  # one ladder step the right way, as the planner plans
                step = int(rng.integers(0, len(_LADDER) - 1))
                frm, to = _LADDER[step], _LADDER[step + 1]
                if action is Action.SCALE_IN:
                    frm, to = to, frm
            if rng.random() < 0.9:
                evidence["forecast_max"] = round(float(rng.uniform(-5, 120)), 2)
            if rng.random() < 0.7:
                evidence["median_max"] = round(float(rng.uniform(0, 100)), 2)
            evidence["quantile"] = float(rng.choice([0.5, 0.9, 0.95]))
        out.append(
            Decision.new(
                action,
                target,
                cells,
                rop + timedelta(minutes=15 * i),
                capacity_from=frm,
                capacity_to=to,
                evidence=evidence,
            )
        )
    return out


def _batches(n: int, seed: int) -> list[dict]:
    """Where each decision stands in its ROP (the blast radius) and what its target went
    through lately (the pace), each for some of the decisions only."""
    rng = np.random.default_rng(seed)
    out: list[dict] = []
    for _ in range(n):
        size, known = int(rng.integers(1, 8)), int(rng.integers(1, 40))
        batch = {"rank": int(rng.integers(0, size)), "size": size, "targets_known": known}
        extra: dict = {"batch": batch} if rng.random() < 0.67 else {}
        if rng.random() < 0.6:  # what the target went through lately (the pace policy)
            minutes = int(rng.integers(1, 90))
            last = f"2026-11-24T{9 + minutes // 60:02d}:{minutes % 60:02d}:00Z"
            changes = int(rng.integers(0, 4))
            extra["history"] = {
                "changes_last_hour": changes,
                "last_change": last if changes else None,
            }
        out.append(extra)
    return out


def _a1_parts(decisions: list[Decision], seed: int) -> list[dict]:
    """The A1 policy each decision would be enacted as (``input.a1``, as the loop sends it)
    for most; some spoiled (a required field gone, a wrong type, an unknown policy type)."""
    rng = np.random.default_rng(seed)
    out: list[dict] = []
    for d in decisions:
        r = rng.random()
        if r < 0.2:
            out.append({})
            continue
        p = a1_policy_for(d, A1Settings())
        part = {
            "policy_type_id": p.policy_type_id,
            "policy_id": p.policy_id,
            "policy": json.loads(json.dumps(p.body)),
        }
        if r < 0.3:
            del part["policy"]["statement"]["decisionId"]
        elif r < 0.4:
            part["policy"]["scope"]["cellIdList"] = "all"
        elif r < 0.45:
            part["policy_type_id"] = "ORAN_QoSTarget_2.0.0"
        out.append({"a1": part})
    return out


_INSTANTS = [
    datetime(2026, 11, 24, 10, 16, tzinfo=UTC),
    datetime(2026, 11, 30, 2, 0, tzinfo=UTC),
    datetime(2026, 12, 25, 12, 0, tzinfo=UTC),
]


@pytest.mark.parametrize("action", list(Action), ids=lambda a: a.value)
def test_generated_decisions_get_the_same_verdicts(
    action: Action, opa: OpaLibraryEngine, embedded: RegoPolicyEngine
) -> None:
    decisions = _decisions(action, seed=list(Action).index(action))
    ours, theirs = [], []
    # An ordinary day, inside the site-04 maintenance window, inside the year-end freeze.
    for k, now in enumerate(_INSTANTS):
        part = decisions[k :: len(_INSTANTS)]
        context = [
            {**b, **a} for b, a in zip(_batches(len(part), k), _a1_parts(part, k), strict=True)
        ]
        ours += embedded.evaluate(part, now=now, context=context)
        theirs += opa.evaluate(part, now=now, context=context)
    decisions = [d for k in range(len(_INSTANTS)) for d in decisions[k :: len(_INSTANTS)]]
    differ = [
        (d.to_dict(), a, b) for d, a, b in zip(decisions, ours, theirs, strict=True) if a != b
    ]
    assert differ == [], f"{len(differ)} of {N} differ; first: {differ[:3]}"
    # The generator reaches both outcomes and many reasons, so agreement means something.
    assert 0 < sum(v.allow for v in ours) < N
    assert len({r for v in ours for r in v.reasons}) > 20
    assert not any(r.startswith("policy engine error") for v in ours for r in v.reasons)


def _sleep_inputs(seed: int) -> list[dict]:
    """Energy-saving decisions as raw inputs (the loop plans none yet: a dry run's shape),
    at every minute of the day, with classes and neighbour loads partly missing or odd."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(N):
        cells = [f"NRCellDU={k}" for k in range(int(rng.integers(0, 4)))]
        classes = {c: str(rng.choice(["small", "macro", "femto"])) for c in cells}
        loads: object = {c: round(float(rng.uniform(0, 100)), 1) for c in cells}
        if rng.random() < 0.1:
            loads = "high"
        for per_cell in (classes, loads):
            if isinstance(per_cell, dict) and per_cell and rng.random() < 0.1:
                per_cell.pop(next(iter(per_cell)))
        decision = {
            "id": f"s{i}",
            "action": "sleep",
            "target": str(rng.choice(["du-gnb-0003", "du", "free5gc-upf-site-03", "odd-nf"])),
            "cells": cells,
            "rop": "2026-11-24T10:15:00+00:00",
            "evidence": {"cell_classes": classes, "neighbour_load": loads},
        }
        if rng.random() < 0.05:
            decision["capacity_to"] = "1G"
        minute = int(rng.integers(0, 24 * 60))
        document: dict = {"decision": decision}
        if rng.random() < 0.95:
            document["now"] = f"2026-11-24T{minute // 60:02d}:{minute % 60:02d}:00Z"
        out.append(document)
    return out


def test_generated_sleep_decisions_get_the_same_verdicts(
    opa: OpaLibraryEngine, embedded: RegoPolicyEngine
) -> None:
    inputs = _sleep_inputs(seed=7)
    ours = [embedded.evaluate_input(d) for d in inputs]
    theirs = [opa.evaluate_input(d) for d in inputs]
    differ = [(d, a, b) for d, a, b in zip(inputs, ours, theirs, strict=True) if a != b]
    assert differ == [], f"{len(differ)} of {N} differ; first: {differ[:3]}"
    assert 0 < sum(v.allow for v in ours) < N
    assert len({r.split(": ", 1)[1] for v in ours for r in v.reasons}) > 20
    assert not any(r.startswith("policy engine error") for v in ours for r in v.reasons)


def test_clamping_with_obligations_is_judged_alike() -> None:
    shipped = load_policy_set(POLICIES)
    data = json.loads(json.dumps(shipped.data))
    data["rapp"]["nf_classes"]["free5gc-upf"]["clamp_to_max"] = True
    clamping = PolicySet.create(shipped.modules, data)
    reference = OpaLibraryEngine(clamping)
    try:
        decisions = _decisions(Action.SCALE_OUT, seed=21)
        ours = RegoPolicyEngine(clamping).evaluate(decisions, now=_INSTANTS[0])
        theirs = reference.evaluate(decisions, now=_INSTANTS[0])
    finally:
        reference.close()
    assert ours == theirs
    assert any(v.obligations for v in ours)


# -- known divergences, pinned ------------------------------------------------------------------

_DIVERGENT = """package divergent
import rego.v1
float_sum_equal if 0.1 + 0.2 == 0.3
two_decimals := sprintf("%.2f", [1])
negative := sprintf("%d", [floor(-8.5)])
"""


def _both(rule: str) -> tuple[object, object]:
    engine = regorus.Engine()
    engine.add_policy("divergent.rego", _DIVERGENT)
    reference = OpaLibraryEngine(PolicySet.create({"divergent.rego": _DIVERGENT}, {}))
    try:
        return engine.eval_rule(f"data.divergent.{rule}"), reference.eval_rule(
            f"data.divergent.{rule}"
        )
    finally:
        reference.close()


def test_float_sums_are_binary_floats_in_regorus_and_decimals_in_opa() -> None:
    # Shipped policies compare quantities as integers (units.parse) and never add floats.
    assert _both("float_sum_equal") == (None, True)


def test_sprintf_of_a_negative_integer_doubles_its_sign_in_regorus() -> None:
    # Shipped policies print only what they have clamped at zero or above.
    assert _both("negative") == ("--9", "-9")


def test_sprintf_of_an_integer_with_a_float_verb_is_a_go_quirk_in_opa() -> None:
    # Shipped policies format numbers with %v, which both engines print alike.
    assert _both("two_decimals") == ("1", "%!f(int64=01)")


def test_the_reference_refuses_a_broken_policy_at_its_file_and_line() -> None:
    broken = PolicySet.create({"bad.rego": "package bad\nimport rego.v1\n\nallow if {\n"}, {})
    with pytest.raises(PolicyError) as caught:
        OpaLibraryEngine(broken)
    assert (caught.value.file, caught.value.line) == ("bad.rego", 5)
    assert "unexpected eof" in caught.value.message


def test_regorus_loses_partial_set_contributions_over_modules_under_with_in_a_rule() -> None:
    """Pinned: in this layout (``deny`` of one package over four modules, loaded in this order),
    regorus drops the protected-cell denial when a rule evaluates ``deny with input as``; OPA
    keeps it. The shipped policies give each concern its own package instead."""
    folder = Path(__file__).parent / "data" / "regorus_partial_set"
    modules = {p.name: p.read_text() for p in sorted(folder.glob("*.rego"))}
    modules["probe.rego"] = (
        "package probe\nimport rego.v1\nimport data.rapp.scaling\n"
        "p := d if { d := scaling.deny with input as "
        '{"decision": {"target": "free5gc-upf-site-03", "action": "scale_out", "cells": ["X"],'
        ' "capacity_from": "5G", "capacity_to": "10G", "evidence": {"forecast_max": 1}},'
        ' "now": "2026-11-24T10:15:03Z"} }\n'
    )
    data = {
        **load_policy_set(POLICIES).data,
        "rapp": {**load_policy_set(POLICIES).data["rapp"], "protected_cells": {"X": "test"}},
    }
    expected = {"free5gc-upf-site-03: cell X is protected: test"}
    engine = regorus.Engine()
    engine.add_data_json(json.dumps(data))
    for name in sorted(modules):
        engine.add_policy(name, modules[name])
    reference = OpaLibraryEngine(PolicySet.create(modules, data))
    try:
        assert set(reference.eval_rule("data.probe.p")) == expected
    finally:
        reference.close()
    assert engine.eval_rule("data.probe.p") == set()  # the divergence
    # The production path (input set on the engine) is right.
    engine.set_input_json(
        json.dumps(
            {
                "decision": {
                    "target": "free5gc-upf-site-03",
                    "action": "scale_out",
                    "cells": ["X"],
                    "capacity_from": "5G",
                    "capacity_to": "10G",
                    "evidence": {"forecast_max": 1},
                },
                "now": "2026-11-24T10:15:03Z",
            }
        )
    )
    assert engine.eval_rule("data.rapp.scaling.deny") == expected


def test_not_of_a_builtin_on_an_undefined_reference_is_true_in_regorus_undefined_in_opa() -> None:
    # Shipped policies give such calls a default first: is_number(object.get(x, "k", null)).
    source = "package d\nimport rego.v1\nlimits := data.conf.a\nflag if not is_number(limits.k)\n"
    policy_set = PolicySet.create({"d.rego": source}, {"conf": {"a": {"x": 1}}})
    engine = regorus.Engine()
    engine.add_data_json(json.dumps(policy_set.data))
    engine.add_policy("d.rego", source)
    reference = OpaLibraryEngine(policy_set)
    try:
        assert (engine.eval_rule("data.d.flag"), reference.eval_rule("data.d.flag")) == (True, None)
    finally:
        reference.close()
