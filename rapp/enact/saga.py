"""Enact one allowed decision as a durable saga: A1 policy first, then the NF package revision.

Each decision runs as a DBOS workflow whose id is the decision id, so starting it twice (a replayed
ROP, a second replica) runs it once. After a crash, DBOS resumes the workflow on the same executor
id: finished steps are not repeated, the interrupted one runs again. So every step here is
idempotent: the A1 policy id is derived from the target, ``put_policy`` creates or updates, and the
package writer finds the revision it already published for this decision's workspace.

The A1 status is read back before the package changes: a policy the Near-RT RIC does not
enforce is compensated while nothing else has moved. If the package step fails for good, the A1
step is compensated: the policy goes back to what it was before (or is deleted if it did not
exist), and the outcome says so. Nothing is half-done and silent. A heal decision is the A1 step
alone: healing cells is the Near-RT RIC's work; its policy is withdrawn (``withdraw_heal``, on
the target's queue) once the incidents it named have closed.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any, TypeVar

from dbos import DBOS, DBOSConfiguredInstance, Queue, SetEnqueueOptions, SetWorkflowID
from dbos._error import DBOSMaxStepRetriesExceeded  # not re-exported by dbos

from rapp.config import A1Settings, EnactSettings, NephioSettings
from rapp.domain import PRB_UTIL_DL, Action, Decision, Outcome, OutcomeState
from rapp.enact.a1 import A1Client, A1Policy, is_transient
from rapp.enact.mutations import Mutations
from rapp.enact.nephio import GitPackageRepo, PublishError
from rapp.enact.packages import PackageError
from rapp.enact.porch import PorchPackages
from rapp.quantity import parse_quantity
from rapp.store import Journal

log = logging.getLogger(__name__)

T = TypeVar("T")

QUEUE = "rapp-enact"
"""DBOS queue of enactments, partitioned by target: one enactment per NF at a time, so the A1
policy and the package of an NF never take two decisions' values interleaved."""


class StaleDecision(Exception):
    """The package no longer holds the capacity the decision was planned from."""


def _retry_publish(exc: BaseException) -> bool:
    """Network trouble with the git server is retried; a refused or stale change is not."""
    return isinstance(exc, PublishError) and exc.transient


_EPOCH = datetime(2020, 1, 1, tzinfo=UTC)


def _order(rop: datetime) -> int:
    """A target's queue runs its workflows by ROP (minutes since 2020, as DBOS's priority:
    lower first), not by enqueue time alone: decisions re-queued together after a restart
    share a millisecond, and DBOS breaks that tie by workflow id, i.e. at random."""
    minutes = int((rop - _EPOCH).total_seconds() // 60) + 1
    return max(1, min(minutes, 2**31 - 1))


def _fraction(key: str, n: int) -> float:
    """A number in [0, 1) fixed by ``key`` and ``n``."""
    digest = hashlib.sha256(f"{key}/{n}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


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


def _not_enforced(status: dict[str, Any] | None) -> str | None:
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
    return mutations.apply(files, capacity_to=decision.capacity_to, ratio=want / planned_from)


def package_store(settings: NephioSettings) -> GitPackageRepo | PorchPackages:
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


@DBOS.dbos_class("rapp.Enactor")
class Enactor(DBOSConfiguredInstance):
    """The enactment workflow and its steps; one instance per process, created before launch."""

    def __init__(
        self,
        *,
        a1: A1Settings,
        nephio: NephioSettings,
        journal: Journal,
        name: str = "enactor",
    ) -> None:
        self._a1 = a1
        self._journal = journal
        self._packages = package_store(nephio)
        self._mutations = Mutations(nephio.mutations)
        self._queue: Queue | None = None
        super().__init__(name)

    @property
    def packages(self) -> GitPackageRepo | PorchPackages:
        return self._packages

    def capacities(self) -> dict[str, str]:
        """Current (downlink) capacity of every NF package in the deployment repository."""
        capacity: dict[str, str] = {}
        for package in self._packages.packages():
            try:
                capacity[package] = self._mutations.read(self._packages.read(package))
            except PackageError as exc:
                log.warning("package %s has no readable capacity: %s", package, exc)
        log.info("read capacity of %d NF packages", len(capacity))
        return capacity

    def capacity(self, target: str, fallback: str) -> str:
        """Current capacity of ``target``, or ``fallback`` when it cannot be read."""
        try:
            return self._mutations.read(self._packages.read(target))
        except (PackageError, PublishError) as exc:
            log.warning("cannot read the capacity of %s, assuming %s: %s", target, fallback, exc)
            return fallback

    async def start(self, decision: Decision) -> None:
        """Queue the workflow of ``decision`` (or find it queued); returns once it is durable."""
        queue = await self._ready_queue()
        with (
            SetWorkflowID(decision.id),
            SetEnqueueOptions(queue_partition_key=decision.target, priority=_order(decision.rop)),
        ):
            await queue.enqueue_async(self.enact, decision.to_dict())

    async def withdraw_heal(self, target: str, rop: datetime) -> None:
        """Queue the withdrawal of ``target``'s heal policy (its incidents closed at ``rop``),
        behind the target's enactments: a heal still queued is put first, then withdrawn."""
        queue = await self._ready_queue()
        policy_id = heal_policy_id(target)
        workflow_id = f"withdraw-{policy_id}-{rop.astimezone(UTC):%Y%m%dT%H%M%SZ}"
        with (
            SetWorkflowID(workflow_id),
            SetEnqueueOptions(queue_partition_key=target, priority=_order(rop)),
        ):
            await queue.enqueue_async(self.withdraw, policy_id)

    @DBOS.workflow(name="rapp.withdraw")
    async def withdraw(self, policy_id: str) -> bool:
        """Delete an A1 policy that is no longer needed; False if it was gone already."""
        deleted = await self._delete_policy(policy_id)
        log.info("A1 policy %s %s", policy_id, "withdrawn" if deleted else "was gone already")
        return deleted

    @DBOS.workflow(name="rapp.enact")
    async def enact(self, decision: dict[str, Any]) -> dict[str, Any]:
        d = Decision.from_dict(decision)
        policy = a1_policy_for(d, self._a1)
        outcome = await self._run(d, policy)
        await self._record(outcome.to_dict())
        log.info("decision %s %s: %s", d.id, outcome.state.value, outcome.detail)
        return outcome.to_dict()

    async def _run(self, d: Decision, policy: A1Policy) -> Outcome:
        try:
            previous = await self._patiently(d.id, self._read_policy, policy.policy_id)
        except Exception as exc:
            return Outcome(
                d.id, OutcomeState.FAILED, detail=f"A1-PMS unreachable, nothing changed: {exc}"
            )
        try:
            # Create-or-update is idempotent: an outage here is waited out, not undone.
            await self._patiently(d.id, self._put_policy, asdict(policy))
        except Exception as exc:
            # A lost response may hide an applied change: put the old policy back to be sure.
            return await self._undo(
                d, policy, previous, f"A1 policy not applied: {exc}", failed=True
            )
        # Verified before the package changes: a policy the Near-RT RIC does not enforce is
        # undone while nothing else has moved.
        try:
            status = await self._read_status(policy.policy_id)
        except Exception as exc:
            enforced = f"A1 status not read: {exc}"
        else:
            refused = _not_enforced(status)
            if refused is not None:
                return await self._undo(d, policy, previous, refused)
            enforced = f"A1 {(status or {}).get('enforceStatus', status)}"
        if d.action is Action.HEAL:
            # Healing is the Near-RT RIC's (compensate, then reset the cells); no package changes.
            return Outcome(
                d.id,
                OutcomeState.ENACTED,
                a1_policy_id=policy.policy_id,
                detail=f"{d.target}: {len(d.cells)} cells handed to the Near-RT RIC to heal; "
                f"{enforced}",
            )
        try:
            tag = await self._publish(d.to_dict())
        except Exception as exc:
            return await self._undo(d, policy, previous, f"package step failed: {exc}")
        return Outcome(
            d.id,
            OutcomeState.ENACTED,
            a1_policy_id=policy.policy_id,
            package_revision=tag,
            detail=f"{d.target}: capacity {d.capacity_from} -> {d.capacity_to}; {enforced}",
        )

    async def _patiently(
        self, decision_id: str, step: Callable[[Any], Awaitable[T]], argument: Any
    ) -> T:
        """``step(argument)`` until the A1-PMS answers. A step that gave up on transient
        errors (it retries those itself) means the peer is down: the decision waits, with
        durable sleeps (a restart resumes the wait), backing off to a minute, for at most
        ``a1.outage_wait_s``; its target's later decisions queue behind it, in order."""
        waited, attempt = 0.0, 0
        while True:
            try:
                return await step(argument)
            except DBOSMaxStepRetriesExceeded as exc:
                if waited >= self._a1.outage_wait_s:
                    raise
                # Jitter from the decision, not from random(): a replayed workflow must take
                # the same path, and decisions waiting together must not retry together.
                pause = min(60.0, 2.0 * 2**attempt) * (0.5 + _fraction(decision_id, attempt))
                log.warning("decision %s waits %.0f s for the A1-PMS (%s)", decision_id, pause, exc)
                await DBOS.sleep_async(pause)
                waited, attempt = waited + pause, attempt + 1

    async def _undo(
        self,
        d: Decision,
        policy: A1Policy,
        previous: dict[str, Any] | None,
        why: str,
        *,
        failed: bool = False,
    ) -> Outcome:
        """Compensate the A1 step; the outcome says what happened and whether the undo held."""
        try:
            await self._restore_policy(asdict(policy), previous)
        except Exception as exc:
            return Outcome(
                d.id,
                OutcomeState.FAILED,
                a1_policy_id=policy.policy_id,
                detail=f"{why}; A1 policy NOT restored, needs an operator: {exc}",
            )
        restored = "A1 policy restored" if previous is not None else "A1 policy removed"
        state = OutcomeState.FAILED if failed else OutcomeState.COMPENSATED
        return Outcome(d.id, state, a1_policy_id=policy.policy_id, detail=f"{why}; {restored}")

    @DBOS.step(name="rapp.a1.read", retries_allowed=True, max_attempts=5, should_retry=is_transient)
    async def _read_policy(self, policy_id: str) -> dict[str, Any] | None:
        async with self._client() as a1:
            return await a1.get_policy(policy_id)

    @DBOS.step(name="rapp.a1.put", retries_allowed=True, max_attempts=5, should_retry=is_transient)
    async def _put_policy(self, policy: dict[str, Any]) -> str:
        async with self._client() as a1:
            return await a1.put_policy(A1Policy(**policy))

    @DBOS.step(
        name="rapp.a1.status", retries_allowed=True, max_attempts=5, should_retry=is_transient
    )
    async def _read_status(self, policy_id: str) -> dict[str, Any] | None:
        async with self._client() as a1:
            status = await a1.policy_status(policy_id)
        # Checked here, inside the step: the workflow must never fail on a body's shape.
        return status if status is None or isinstance(status, dict) else {"status": status}

    async def _ready_queue(self) -> Queue:
        if self._queue is None:
            self._queue = await asyncio.to_thread(DBOS.retrieve_queue, QUEUE)
            if self._queue is None:
                raise RuntimeError(f"DBOS queue {QUEUE} is not registered: call launch() first")
        return self._queue

    @DBOS.step(
        name="rapp.a1.delete", retries_allowed=True, max_attempts=8, should_retry=is_transient
    )
    async def _delete_policy(self, policy_id: str) -> bool:
        async with self._client() as a1:
            return await a1.delete_policy(policy_id)

    @DBOS.step(
        name="rapp.a1.restore", retries_allowed=True, max_attempts=8, should_retry=is_transient
    )
    async def _restore_policy(
        self, policy: dict[str, Any], previous: dict[str, Any] | None
    ) -> None:
        async with self._client() as a1:
            if previous is None:
                await a1.delete_policy(policy["policy_id"])
            else:
                await a1.put_policy(A1Policy(**{**policy, "body": previous}))

    @DBOS.step(
        name="rapp.nephio.publish",
        retries_allowed=True,
        max_attempts=5,
        should_retry=_retry_publish,
    )
    async def _publish(self, decision: dict[str, Any]) -> str:
        d = Decision.from_dict(decision)
        revision = await asyncio.to_thread(
            self._packages.publish,
            d.target,
            f"rapp-{d.id}",
            lambda files: scale_package(files, d, self._mutations),
            message=f"rapp decision {d.id}: {d.action.value} {d.capacity_from} -> {d.capacity_to}",
            if_unchanged="latest",
        )
        return revision.tag

    @DBOS.step(name="rapp.journal.outcome", retries_allowed=True, max_attempts=10)
    async def _record(self, outcome: dict[str, Any]) -> None:
        o = Outcome(
            decision_id=outcome["decision_id"],
            state=OutcomeState(outcome["state"]),
            a1_policy_id=outcome["a1_policy_id"],
            package_revision=outcome["package_revision"],
            detail=outcome["detail"],
        )
        await asyncio.to_thread(self._journal.record_outcome, o)

    def _client(self) -> A1Client:
        # A client per step: recovered workflows run on DBOS's own event loop, and a connection
        # pool must not outlive the loop it was made on.
        return A1Client(self._a1.url, timeout=self._a1.timeout_s)


def launch(settings: EnactSettings, *, app_name: str = "rapp") -> None:
    """Start DBOS (after every ``Enactor`` exists); pending workflows of this executor resume."""
    url = settings.system_database_url
    if url.startswith("sqlite:///"):
        from pathlib import Path

        Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
    DBOS(
        config={
            "name": app_name,
            "system_database_url": url,
            "executor_id": settings.executor_id,
            "log_level": "WARNING",
        }
    )
    DBOS.launch()
    # 50 ms polling: at the 1 s default a queued enactment waits up to a second to start.
    DBOS.register_queue(QUEUE, partition_concurrency=1, polling_interval_sec=0.05)


def shutdown() -> None:
    DBOS.destroy(workflow_completion_timeout_sec=5)
