"""Obligations: an allowed decision becomes what the policy set allowed, or is denied."""

from __future__ import annotations

from datetime import UTC, datetime

from rapp.domain import Action, Decision, Verdict
from rapp.policy.obligations import apply_obligations

ROP = datetime(2026, 11, 24, 10, 15, tzinfo=UTC)


def scale_out() -> Decision:
    return Decision.new(
        Action.SCALE_OUT, "free5gc-upf-site-03", ["c"], ROP, "10G", "40G", {"forecast_max": 97.0}
    )


def verdict(*obligations: dict, allow: bool = True) -> Verdict:
    return Verdict(scale_out().id, allow, ("ok",), "rev", obligations=obligations)


def test_a_clamp_changes_the_decision_and_leaves_a_trace_in_its_evidence():
    d, v = apply_obligations(scale_out(), verdict({"set": {"capacity_to": "20G"}}))
    assert v.allow
    assert (d.capacity_from, d.capacity_to, d.id) == ("10G", "20G", scale_out().id)
    assert d.evidence["capacity_to_planned"] == "40G"
    assert d.evidence["obligations"] == [{"set": {"capacity_to": "20G"}}]
    assert d.evidence["forecast_max"] == 97.0
    assert v.to_dict()["obligations"] == [{"set": {"capacity_to": "20G"}}]


def test_no_obligation_or_a_denial_leaves_the_decision_alone():
    decision = scale_out()
    assert apply_obligations(decision, verdict()) == (decision, verdict())
    denied = verdict({"set": {"capacity_to": "20G"}}, allow=False)
    assert apply_obligations(decision, denied)[0] is decision


def test_an_obligation_that_cannot_be_applied_denies_saying_why():
    for obligation, fragment in (
        ({"notify": "ops"}, 'only {"set": {field: value}} is understood'),
        ({"set": {"target": "elsewhere"}}, "fields ['target'] cannot be set"),
        ({"set": {"capacity_to": "lots"}}, "capacity_to 'lots' is not a Kubernetes quantity"),
    ):
        decision = scale_out()
        d, v = apply_obligations(decision, verdict(obligation))
        assert d is decision
        assert not v.allow
        [reason] = v.reasons
        assert reason.startswith("free5gc-upf-site-03: obligation ")
        assert fragment in reason
