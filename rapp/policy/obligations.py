"""Obligations: what an allowed decision must become before it is enacted.

A policy may allow a decision on a condition instead of refusing it outright, e.g. "scale out,
but to the class's maximum, not past it". The verdict then carries ``obligations``; the loop
applies them to the decision before it is journalled and enacted, and records them in its
evidence, so what is enacted is what the journal shows. Only what this module knows how to
apply is accepted: an obligation it does not understand turns the verdict into a denial, since
enacting without it would do what the policy did not allow.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from rapp.domain import Decision, Verdict
from rapp.quantity import parse_quantity

SETTABLE = frozenset({"capacity_to"})
"""Decision fields a ``{"set": {...}}`` obligation may change."""


def apply_obligations(decision: Decision, verdict: Verdict) -> tuple[Decision, Verdict]:
    """``decision`` as the verdict's obligations make it, and the verdict (a denial, saying
    why, when an obligation cannot be applied)."""
    if not verdict.allow or not verdict.obligations:
        return decision, verdict
    if not decision.action.scales:
        reason = f"{decision.target}: obligations {list(verdict.obligations)} on a heal"
        return decision, dataclasses.replace(verdict, allow=False, reasons=(reason,))
    changes: dict[str, Any] = {}
    for obligation in verdict.obligations:
        problem = _problem(obligation)
        if problem:
            reason = f"{decision.target}: obligation {dict(obligation)} not applied: {problem}"
            return decision, dataclasses.replace(verdict, allow=False, reasons=(reason,))
        changes.update(obligation["set"])
    evidence = {
        **decision.evidence,
        "obligations": [dict(o) for o in verdict.obligations],
        **{f"{field}_planned": getattr(decision, field) for field in changes},
    }
    return dataclasses.replace(decision, evidence=evidence, **changes), verdict


def _problem(obligation: Mapping[str, Any]) -> str | None:
    if set(obligation) != {"set"} or not isinstance(obligation["set"], Mapping):
        return 'only {"set": {field: value}} is understood'
    unknown = set(obligation["set"]) - SETTABLE
    if unknown:
        return f"fields {sorted(unknown)} cannot be set (settable: {sorted(SETTABLE)})"
    if "capacity_to" in obligation["set"]:
        value = obligation["set"]["capacity_to"]
        try:
            parse_quantity(value if isinstance(value, str) else "")
        except ValueError:
            return f"capacity_to {value!r} is not a Kubernetes quantity"
    return None
