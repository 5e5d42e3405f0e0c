"""Enact one allowed decision as a durable saga: A1 policy first, then the NF package revision.

Each decision runs as a DBOS workflow whose id is the decision id, so starting it twice (a replayed
ROP, a second replica) runs it once. After a crash, DBOS resumes the workflow on the same executor
id: finished steps are not repeated, the interrupted one runs again. So every step here is
idempotent: the A1 policy id is derived from the target, ``put_policy`` creates or updates, and the
package writer finds the revision it already published for this decision's workspace.

The A1 status is read back before the package changes: a policy the Near-RT RIC does not
enforce is compensated while nothing else has moved. If the package step fails for good, the A1
step is compensated: the policy goes back to what it was before (or is deleted if it did not
exist), and the outcome says so. Once both peers have the change it is verified (the status
again, and the capacity the revision holds as published); a change that did not take is
reverted by a new revision and the A1 step compensated. Nothing is half-done and silent.
Peers that keep failing open a circuit breaker, and the decision waits durably for them.
docs/enactment.md has the whole story. A heal decision is the A1 step
alone: healing cells is the Near-RT RIC's work; its policy is withdrawn (``withdraw_heal``, on
the target's queue) once the incidents it named have closed.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import logging
import math
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager, asynccontextmanager
from dataclasses import asdict, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from dbos import DBOS, DBOSConfiguredInstance, Queue, SetEnqueueOptions, SetWorkflowID
from dbos._error import DBOSMaxStepRetriesExceeded  # not re-exported by dbos

from rapp.config import A1Settings, EnactSettings, NephioSettings
from rapp.domain import Action, Decision, Outcome, OutcomeState
from rapp.enact.a1 import A1Client, A1Policy, is_transient
from rapp.enact.breaker import CircuitBreaker, PeerUnavailable
from rapp.enact.desired import (
    PackageStore,
    a1_policy_for,
    heal_policy_id,
    not_enforced,
    package_store,
    scale_package,
)
from rapp.enact.mutations import Mutations
from rapp.enact.nephio import PublishError
from rapp.enact.packages import PackageError
from rapp.quantity import parse_quantity
from rapp.store import Journal

log = logging.getLogger(__name__)

T = TypeVar("T")

QUEUE = "rapp-enact"
"""DBOS queue of enactments, partitioned by target: one enactment per NF at a time, so the A1
policy and the package of an NF never take two decisions' values interleaved."""


def _retry_publish(exc: BaseException) -> bool:
    """Network trouble with the git server or Porch is retried; a refused or stale change is
    not."""
    return isinstance(exc, PeerUnavailable) or (isinstance(exc, PublishError) and exc.transient)


def _retry_a1(exc: BaseException) -> bool:
    return isinstance(exc, PeerUnavailable) or is_transient(exc)


_A1_STEP: dict[str, Any] = {"retries_allowed": True, "max_attempts": 5, "should_retry": _retry_a1}
_NEPHIO_STEP: dict[str, Any] = {
    "retries_allowed": True,
    "max_attempts": 5,
    "should_retry": _retry_publish,
}

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


@DBOS.dbos_class("rapp.Enactor")
class Enactor(DBOSConfiguredInstance):
    """The enactment workflow and its steps; one instance per process, created before launch."""

    def __init__(
        self,
        *,
        a1: A1Settings,
        nephio: NephioSettings,
        journal: Journal,
        enact: EnactSettings | None = None,
        name: str = "enactor",
    ) -> None:
        self._a1 = a1
        self._nephio = nephio
        self._journal = journal
        self._mode = (enact or EnactSettings()).mode
        self._packages = package_store(nephio)
        self._mutations = Mutations(nephio.mutations)
        self._queue: Queue | None = None
        self._clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, A1Client] = (
            weakref.WeakKeyDictionary()
        )
        self._pool = ThreadPoolExecutor(max_workers=64, thread_name_prefix="rapp-packages")
        breaker = enact or EnactSettings()
        self.breakers = {
            peer: CircuitBreaker(
                peer, threshold=breaker.breaker_threshold, cooldown_s=breaker.breaker_cooldown_s
            )
            for peer in ("A1-PMS", "Nephio")
        }
        super().__init__(name)

    async def aclose(self) -> None:
        """Release the A1 connections of this event loop, the package writer's threads and its
        connections (after DBOS is shut down; clients of a loop already gone go with it)."""
        loop = asyncio.get_running_loop()
        for client_loop, client in list(self._clients.items()):
            if client_loop is loop:
                await client.aclose()
        self._clients.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)
        self._packages.close()

    @property
    def packages(self) -> PackageStore:
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
            # The mode goes in as an argument: a recovered workflow keeps the mode it began in.
            await queue.enqueue_async(self.enact, decision.to_dict(), self._mode)

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
    async def enact(self, decision: dict[str, Any], mode: str = "enact") -> dict[str, Any]:
        d = Decision.from_dict(decision)
        policy = a1_policy_for(d, self._a1)
        if mode == "dry-run":
            outcome = await self._rehearse(d, policy)
        elif mode == "shadow":  # e.g. a pending decision re-queued after a switch to shadow
            outcome = Outcome(d.id, OutcomeState.SHADOW, detail="shadow mode: not enacted")
        else:
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
            refused = not_enforced(status)
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
        wait = self._nephio.outage_wait_s
        try:
            published = await self._patiently(d.id, self._publish, d.to_dict(), wait_s=wait)
        except Exception as exc:
            try:
                await self._abandon(d.to_dict())
            except Exception as left:  # the undo and the outcome matter more than the draft
                log.warning("decision %s left an unpublished draft: %s", d.id, left)
            return await self._undo(d, policy, previous, f"package step failed: {exc}")
        tag = published["tag"]
        refused = await self._verify(d, policy.policy_id, published["capacity"])
        if refused is not None:
            if published.get("ours", True):
                reverted = await self._revert_package(d, tag)
            else:  # never revert another writer's revision
                reverted = f"the package held {d.capacity_to} already: nothing to revert"
            return await self._undo(d, policy, previous, f"{refused}; {reverted}")
        return Outcome(
            d.id,
            OutcomeState.ENACTED,
            a1_policy_id=policy.policy_id,
            package_revision=tag,
            detail=f"{d.target}: capacity {d.capacity_from} -> {d.capacity_to}; {enforced}",
        )

    async def _verify(self, d: Decision, policy_id: str, held: str | None) -> str | None:
        """Why the enactment did not take, read back once both peers have it, or None. A read
        that fails is not a refusal: the change stands, as it did before the read."""
        try:
            status = await self._read_status(policy_id)
            if held is None:  # an earlier try published it: read what it holds
                held = await self._read_capacity(d.target)
            took = parse_quantity(held) == parse_quantity(d.capacity_to)
        except Exception as exc:
            log.warning("decision %s not verified: %s", d.id, exc)
            return None
        if not took:
            return f"{d.target} holds {held} after the revision, not {d.capacity_to}"
        return not_enforced(status)

    async def _revert_package(self, d: Decision, tag: str) -> str:
        """Undo the package change by a new revision that applies the inverse edit (published
        revisions are never rewritten); what happened, for the outcome's detail."""
        try:
            wait = self._nephio.outage_wait_s
            revert = await self._patiently(d.id, self._publish, d.to_dict(), True, wait_s=wait)
        except Exception as exc:
            try:
                await self._abandon(d.to_dict(), True)
            except Exception as left:
                log.warning("decision %s left an unpublished revert draft: %s", d.id, left)
            return f"revision {tag} NOT reverted, needs an operator: {exc}"
        return f"revision {tag} reverted by {revert['tag']}"

    async def _rehearse(self, d: Decision, policy: A1Policy) -> Outcome:
        """The dry run: every read and check the enactment would make, and no write."""
        try:
            previous = await self._read_policy(policy.policy_id)
            await self._check_policy(asdict(policy))
            plan = await self._plan(d.to_dict()) if d.action.scales else ""
        except Exception as exc:
            return Outcome(d.id, OutcomeState.DRY_RUN, detail=f"dry run: would fail: {exc}")
        verb = "update" if previous is not None else "create"
        detail = f"dry run: would {verb} A1 policy {policy.policy_id}" + (
            f"; would publish {plan}" if plan else ""
        )
        return Outcome(d.id, OutcomeState.DRY_RUN, a1_policy_id=policy.policy_id, detail=detail)

    async def _patiently(
        self,
        decision_id: str,
        step: Callable[..., Awaitable[T]],
        *arguments: Any,
        wait_s: float | None = None,
    ) -> T:
        """``step(*arguments)`` until its peer answers. A step that gave up on transient
        errors (it retries those itself, and an open circuit counts as one) means the peer is
        down: the decision waits, with durable sleeps (a restart resumes the wait), backing
        off to a minute, for at most ``wait_s`` (default ``a1.outage_wait_s``); its target's
        later decisions queue behind it, in order."""
        budget = self._a1.outage_wait_s if wait_s is None else wait_s
        waited, attempt = 0.0, 0
        while True:
            try:
                return await step(*arguments)
            except DBOSMaxStepRetriesExceeded as exc:
                if waited >= budget:
                    raise
                # Jitter from the decision, not from random(): a replayed workflow must take
                # the same path, and decisions waiting together must not retry together.
                pause = min(60.0, 2.0 * 2**attempt) * (0.5 + _fraction(decision_id, attempt))
                log.warning("decision %s waits %.0f s for its peer (%s)", decision_id, pause, exc)
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

    @DBOS.step(name="rapp.a1.read", **_A1_STEP)
    async def _read_policy(self, policy_id: str) -> dict[str, Any] | None:
        async with self._client() as a1:
            with self._guard_a1():
                return await a1.get_policy(policy_id)

    @DBOS.step(name="rapp.a1.put", **_A1_STEP)
    async def _put_policy(self, policy: dict[str, Any]) -> str:
        async with self._client() as a1:
            with self._guard_a1():
                return await a1.put_policy(A1Policy(**policy))

    @DBOS.step(name="rapp.a1.status", **_A1_STEP)
    async def _read_status(self, policy_id: str) -> dict[str, Any] | None:
        async with self._client() as a1:
            with self._guard_a1():
                status = await a1.policy_status(policy_id)
        # Checked here, inside the step: the workflow must never fail on a body's shape.
        return status if status is None or isinstance(status, dict) else {"status": status}

    async def _ready_queue(self) -> Queue:
        if self._queue is None:
            self._queue = await asyncio.to_thread(DBOS.retrieve_queue, QUEUE)
            if self._queue is None:
                raise RuntimeError(f"DBOS queue {QUEUE} is not registered: call launch() first")
        return self._queue

    @DBOS.step(name="rapp.a1.delete", retries_allowed=True, max_attempts=8, should_retry=_retry_a1)
    async def _delete_policy(self, policy_id: str) -> bool:
        async with self._client() as a1:
            with self._guard_a1():
                return await a1.delete_policy(policy_id)

    @DBOS.step(name="rapp.a1.restore", retries_allowed=True, max_attempts=8, should_retry=_retry_a1)
    async def _restore_policy(
        self, policy: dict[str, Any], previous: dict[str, Any] | None
    ) -> None:
        async with self._client() as a1:
            with self._guard_a1():
                if previous is None:
                    await a1.delete_policy(policy["policy_id"])
                else:
                    await a1.put_policy(A1Policy(**{**policy, "body": previous}))

    @DBOS.step(name="rapp.nephio.publish", **_NEPHIO_STEP)
    async def _publish(self, decision: dict[str, Any], revert: bool = False) -> dict[str, Any]:
        """Publish the decision's package edit (or, with ``revert``, its inverse) as a new
        revision; the workspace names it, so a retry finds what an earlier try published."""
        d = Decision.from_dict(decision)
        workspace, message = f"rapp-{d.id}", f"rapp decision {d.id}: {d.action.value}"
        if revert:
            d = replace(d, capacity_from=d.capacity_to, capacity_to=d.capacity_from)
            workspace, message = f"{workspace}-revert", f"rapp revert of decision {d.id}"
        with self._guard_nephio():
            revision = await self._in_pool(
                self._packages.publish,
                d.target,
                workspace,
                lambda files: scale_package(files, d, self._mutations),
                message=f"{message} {d.capacity_from} -> {d.capacity_to}",
                if_unchanged="latest",
            )
        # What the revision holds, as published (after Porch's render): the verification
        # reads it here rather than fetching the package again. The revision is out: a body
        # that cannot be read must not fail the step now.
        held = None
        if revision.files is not None:
            try:
                held = self._mutations.read(revision.files)
            except PackageError as exc:
                log.warning(
                    "revision %s published, its capacity not readable: %s", revision.tag, exc
                )
        # Not ours when the package held the capacity already: the latest is someone else's.
        return {"tag": revision.tag, "capacity": held, "ours": revision.workspace == workspace}

    @DBOS.step(name="rapp.nephio.read", **_NEPHIO_STEP)
    async def _read_capacity(self, target: str) -> str:
        with self._guard_nephio():
            files = await self._in_pool(self._packages.read, target)
        return self._mutations.read(files)

    @DBOS.step(name="rapp.nephio.abandon", **_NEPHIO_STEP)
    async def _abandon(self, decision: dict[str, Any], revert: bool = False) -> bool:
        """Remove what an unfinished publish left (a Porch draft), so nothing is orphaned."""
        d = Decision.from_dict(decision)
        workspace = f"rapp-{d.id}-revert" if revert else f"rapp-{d.id}"
        with self._guard_nephio():
            return await self._in_pool(self._packages.abandon, d.target, workspace)

    @DBOS.step(name="rapp.nephio.plan", **_NEPHIO_STEP)
    async def _plan(self, decision: dict[str, Any]) -> str:
        """What publishing the decision would change (the dry run's package step)."""
        d = Decision.from_dict(decision)
        with self._guard_nephio():
            files = await self._in_pool(self._packages.read, d.target)
        after = scale_package(files, d, self._mutations)
        changed = sorted(name for name in after if after[name] != files.get(name))
        if not changed:
            return f"nothing for {d.target}: it holds {d.capacity_to} already"
        return f"{d.target} {d.capacity_from} -> {d.capacity_to} ({', '.join(changed)})"

    @DBOS.step(name="rapp.a1.check", **_A1_STEP)
    async def _check_policy(self, policy: dict[str, Any]) -> None:
        """The dry run's A1 step: the policy's type exists and its schema takes the policy."""
        async with self._client() as a1:
            with self._guard_a1():
                await a1.check_policy(A1Policy(**policy))

    async def _in_pool(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking package call on the enactor's own threads: publishes wait there for
        the writer and are pushed together, so there must be room for as many as are in
        flight (asyncio's default pool has cpu + 4 threads)."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    def _guard_a1(self) -> AbstractContextManager[None]:
        return self.breakers["A1-PMS"].guard(is_transient)

    def _guard_nephio(self) -> AbstractContextManager[None]:
        return self.breakers["Nephio"].guard(lambda e: isinstance(e, PublishError) and e.transient)

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

    @asynccontextmanager
    async def _client(self) -> AsyncIterator[A1Client]:
        """The A1 client of the running event loop, kept for the loop's life: recovered
        workflows run on DBOS's own loop, and a connection pool must not outlive the loop it
        was made on; within one, connections (and the API version found) are reused."""
        loop = asyncio.get_running_loop()
        client = self._clients.get(loop)
        if client is None:
            client = A1Client.from_settings(self._a1)
            self._clients[loop] = client
        yield client


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
    # The limits are DBOS's, kept in its database: they hold across every replica.
    limiter = None
    if settings.rate_per_s:
        burst = math.ceil(settings.rate_per_s)
        limiter = {"limit": burst, "period": burst / settings.rate_per_s}
    DBOS.register_queue(
        QUEUE,
        partition_concurrency=1,
        global_concurrency=settings.concurrency,
        limiter=limiter,
        polling_interval_sec=0.05,
    )


def shutdown() -> None:
    DBOS.destroy(workflow_completion_timeout_sec=5)
