"""What an allowed decision becomes at each peer: its A1 policy and its package edit.

Pure functions of the decision and the settings, kept apart from the saga that carries them
out: the policy gate judges exactly the A1 policy that would be sent (``a1_policy_for``), and a
replayed workflow must compute the same objects as the first run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal, Protocol

from rapp.config import A1Settings, NephioSettings
from rapp.domain import PRB_UTIL_DL, Action, Decision
from rapp.enact.a1 import A1Policy
from rapp.enact.mutations import Mutations
from rapp.enact.nephio import GitPackageRepo, PackageRevision
from rapp.enact.porch import PorchPackages
from rapp.quantity import parse_quantity


class PackageStore(Protocol):
    """Where NF packages are read and published: ``GitPackageRepo`` or ``PorchPackages``."""

    def packages(self) -> list[str]: ...

    def read(self, package: str) -> dict[str, str]: ...

    def latest_revision(self, package: str) -> PackageRevision | None: ...

    def find_revision(self, package: str, workspace: str) -> PackageRevision | None: ...

    def publish(
        self,
        package: str,
        workspace: str,
        mutate: Callable[[dict[str, str]], dict[str, str]],
        *,
        message: str = "",
        if_unchanged: Literal["raise", "latest"] = "raise",
    ) -> PackageRevision: ...

    def abandon(self, package: str, workspace: str) -> bool: ...

    def close(self) -> None: ...


class StaleDecision(Exception):
    """The package no longer holds the capacity the decision was planned from."""


def heal_policy_id(target: str) -> str:
    """The A1 policy asking the Near-RT RIC to heal ``target``'s cells: one per NF."""
    return f"rapp-heal-{target}"


def a1_policy_for(decision: Decision, settings: A1Settings) -> A1Policy:
    """The A1 policy carrying a decision: one per target and purpose, so a later decision
    updates it (a heal does not overwrite the capacity guidance, nor the other way round)."""
    statement: dict[str, Any] = {"action": decision.action.value, "decisionId": decision.id}
    if decision.action is Action.HEAL:
        policy_id, type_id = heal_policy_id(decision.target), settings.healing_policy_type_id
        statement["incidentKinds"] = list(decision.evidence.get("kinds", []))
    else:
        policy_id, type_id = f"rapp-{decision.target}", settings.policy_type_id
        statement["capacity"] = decision.capacity_to
        peak = decision.evidence.get("forecast_max")
        if decision.evidence.get("kpi") == PRB_UTIL_DL and isinstance(peak, int | float):
            statement["prbUtilisationDlP90"] = min(max(float(peak), 0.0), 100.0)
    return A1Policy(
        policy_id=policy_id,
        ric_id=settings.ric_id,
        policy_type_id=type_id,
        service_id=settings.service_id,
        body={
            "scope": {"nfId": decision.target, "cellIdList": list(decision.cells)},
            "statement": statement,
        },
    )


def not_enforced(status: dict[str, Any] | None) -> str | None:
    """Why a policy just put is not in force (its status says so, or it is gone), or None.
    A status without ``enforceStatus`` (a type with another status schema) is taken as is."""
    if status is None:
        return "the A1 policy was gone right after it was put"
    if status.get("enforceStatus") == "NOT_ENFORCED":
        reason = status.get("enforceReason", "no reason given")
        return f"the Near-RT RIC does not enforce the A1 policy ({reason})"
    return None


def scale_package(
    files: dict[str, str], decision: Decision, mutations: Mutations
) -> dict[str, str]:
    """The package files with the decision's capacity, through the package's declared mutation
    (for the free5gc UPF: downlink as decided, uplink by the same ratio, the NFDeployment kept
    in step).

    Unchanged files come back when the package already holds the decided capacity (a replay, or
    an operator got there first); a package at neither end of the decision is stale.
    """
    current = mutations.read(files)
    have, want = parse_quantity(current), parse_quantity(decision.capacity_to)
    if have == want:
        return files
    planned_from = parse_quantity(decision.capacity_from)
    if have != planned_from:
        raise StaleDecision(
            f"{decision.target} holds {current}, "
            f"but the decision was planned from {decision.capacity_from}"
        )
    # From zero there is no ratio: fields that scale with it cannot follow (replicas can).
    ratio = want / planned_from if planned_from else None
    return mutations.apply(files, capacity_to=decision.capacity_to, ratio=ratio)


def package_store(settings: NephioSettings) -> PackageStore:
    """Where NF packages are published: Porch, or a deployment repository written by git."""
    if settings.writer == "porch":
        porch = settings.porch
        return PorchPackages(
            porch.url,
            namespace=porch.namespace,
            repository=porch.repository,
            token_file=porch.token_file,
            ca_file=porch.ca_file,
            timeout_s=porch.timeout_s,
            ready_timeout_s=porch.ready_timeout_s,
        )
    return GitPackageRepo(
        settings.remote,
        settings.workdir,
        branch=settings.branch,
        author_name=settings.author_name,
        author_email=settings.author_email,
    )
