"""In-memory A1-PMS state: Near-RT RICs and their policies, over the types and services.

The rules follow the O-RAN SC A1-PMS v3 behaviour (``pms-api-v3.yaml`` plus the Java service it
documents): policy objects are checked against the type's JSON schema, a duplicate id on create is
a conflict, a RIC that is synchronising is locked, and a supervised service that stops sending
keepalives loses its registration and all its policies. HTTP lives in ``app.py``; this module only
raises ``Problem`` so the rules can be tested without a server. Policy types live in
``policy_types.py``, the service registry in ``services.py``.

A RIC configured with a ``baseUrl`` is a real Near-RT RIC driven over A1-P v2.0.0 (the calls are in
``southbound.py``, the synchronisation in ``ricsync.py``): its types are learnt from it at start-up
and at every synchronisation, and every policy create, update, delete and status read goes to it
before the registry changes. As in A1-PMS, such a RIC takes policy calls only when ``AVAILABLE``
(423 otherwise); one that does not answer becomes ``UNAVAILABLE`` and is synchronised again when
next needed, at most once per ``resync_interval_s`` (a stand-in for A1-PMS's RIC supervision).
How the RIC's errors map to v3 statuses: ``ricsync.forward``.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable
from typing import Any, TypeVar

from simulators.a1pms import ricsync
from simulators.a1pms.config import RIC_STATES, RicConfig, SimulatorConfig
from simulators.a1pms.model import Policy, Ric
from simulators.a1pms.policy_types import (
    TYPES_DIR,
    PolicyType,
    Version,
    is_compatible,
    semver,
    split_type_id,
)
from simulators.a1pms.problem import Problem
from simulators.a1pms.services import Services
from simulators.a1pms.southbound import A1P, A1PFactory, HttpA1P
from simulators.a1pms.validation import POLICY_INFO_SCHEMA, check

# Re-exported: these lived here before the split, and callers still import them from here.
__all__ = ["RIC_STATES", "TYPES_DIR", "Problem", "Registry", "RicConfig", "SimulatorConfig"]

log = logging.getLogger(__name__)

T = TypeVar("T")


class Registry:
    """All simulator state. Not thread-safe: the app calls it from its event loop only."""

    def __init__(
        self,
        config: SimulatorConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        a1p: A1PFactory = HttpA1P,
    ) -> None:
        """``a1p`` makes the A1-P client of each RIC with a ``baseUrl`` (tests pass a fake)."""
        self._clock = clock
        self._resync_interval = config.resync_interval_s
        self._types: dict[str, PolicyType] = {}
        self._rics: dict[str, Ric] = {}
        self._policies: dict[str, Policy] = {}
        self._statuses: dict[str, dict[str, Any]] = {}
        """Policy id -> the status its RIC reports, set through the admin API; else ENFORCED."""
        self._services = Services(clock)
        for ric in config.rics:
            if ric.base_url is not None:
                client = a1p(ric.base_url, config.a1p_timeout_s)
                self._rics[ric.ric_id] = Ric(
                    ric.ric_id, list(ric.managed_element_ids), "UNAVAILABLE", [], client
                )
                continue
            for type_id in ric.policy_types:
                if type_id not in self._types:
                    self._types[type_id] = PolicyType.load(type_id)
            self._rics[ric.ric_id] = Ric(
                ric.ric_id, list(ric.managed_element_ids), ric.state, list(ric.policy_types)
            )
        # A1-PMS synchronises every RIC at start-up; one that is not up yet is tried again later.
        for r in self._rics.values():
            if r.a1p is not None:
                self._synchronize(r)

    def close(self) -> None:
        """Close the A1-P clients of the RICs with a ``baseUrl``."""
        for ric in self._rics.values():
            if ric.a1p is not None:
                ric.a1p.close()

    def reset(self) -> tuple[int, int]:
        """Forget every policy and service (RICs and types stay); returns how many of each.

        Policies on RICs with a ``baseUrl`` are deleted there too (best effort)."""
        policies = len(self._policies)
        for policy in self._policies.values():
            self._delete_at_ric(policy)
        self._policies.clear()
        self._statuses.clear()
        services = self._services.clear()
        log.info("reset: %d policies and %d services removed", policies, services)
        return policies, services

    # --- RICs -------------------------------------------------------------------------------

    def set_ric_state(self, ric_id: str, state: str) -> dict[str, Any]:
        """Force a RIC's state. A RIC with a ``baseUrl`` must earn ``AVAILABLE``: asking for it
        synchronises the RIC now, and the outcome decides the state."""
        if state not in RIC_STATES:
            raise ValueError(f"state {state!r} not in {RIC_STATES}")
        ric = self._ric(ric_id)
        if ric.a1p is not None and state == "AVAILABLE":
            self._synchronize(ric)
            return ric.to_dict()
        ric.state = state
        log.info("Near-RT RIC %s is now %s", ric_id, state)
        return ric.to_dict()

    def synchronize(self, ric_id: str) -> dict[str, Any]:
        """Synchronise a RIC with a ``baseUrl`` now (types, then policies); a RIC in memory has
        nothing to learn. Returns the ``RicInfo`` after."""
        ric = self._ric(ric_id)
        if ric.a1p is not None:
            self._synchronize(ric)
        return ric.to_dict()

    def rics(self, policy_type_id: str | None = None) -> dict[str, Any]:
        for r in self._rics.values():
            self._supervise(r)
        if policy_type_id is not None and policy_type_id not in self._types:
            raise Problem(404, f"Policy type not found: {policy_type_id}")
        return {
            "rics": [
                r.to_dict()
                for r in self._rics.values()
                if policy_type_id is None or policy_type_id in r.policy_types
            ]
        }

    def ric(self, ric_id: str) -> dict[str, Any]:
        ric = self._ric(ric_id)
        self._supervise(ric)
        return ric.to_dict()

    def _ric(self, ric_id: str) -> Ric:
        try:
            return self._rics[ric_id]
        except KeyError:
            raise Problem(404, f"Near-RT RIC not found: {ric_id}") from None

    def _unlocked(self, ric: Ric) -> None:
        if ric.state == "SYNCHRONIZING":
            raise Problem(423, f"Near-RT RIC {ric.ric_id} is locked: state is {ric.state}")

    def _operational(self, ric: Ric, status: int = 423) -> None:
        """A RIC with a ``baseUrl`` takes policy calls only when AVAILABLE, as in A1-PMS; else
        ``status``: A1-PMS's 423, or 503 where the v3 spec lists no 423 (the status read)."""
        self._supervise(ric)
        if ric.state != "AVAILABLE":
            raise Problem(
                status, f"Near-RT RIC: is not operational, id: {ric.ric_id}, state: {ric.state}"
            )

    def _supervise(self, ric: Ric) -> None:
        """Synchronise an UNAVAILABLE RIC with a ``baseUrl`` if the interval has passed: A1-PMS
        supervises RICs on a timer; here it happens when a call next needs the RIC."""
        due = self._clock() - ric.last_attempt >= self._resync_interval
        if ric.a1p is not None and ric.state == "UNAVAILABLE" and due:
            self._synchronize(ric)

    def _synchronize(self, ric: Ric) -> None:
        ricsync.synchronize(ric, self._policies, self._types, self._clock())

    def _forward(self, ric: Ric, operation: str, call: Callable[[A1P], T]) -> T:
        return ricsync.forward(ric, operation, call, self._clock())

    def _delete_at_ric(self, policy: Policy) -> None:
        ricsync.delete_quietly(self._rics[policy.ric_id], policy, self._clock())

    # --- policy types -----------------------------------------------------------------------

    def policy_types(
        self,
        ric_id: str | None = None,
        type_name: str | None = None,
        compatible_with_version: str | None = None,
    ) -> list[dict[str, str]]:
        if compatible_with_version is not None and type_name is None:
            raise Problem(400, "compatibleWithVersion requires typeName")
        wanted = None
        if compatible_with_version is not None:
            wanted = semver(compatible_with_version)
            if wanted is None:
                raise Problem(400, f"Not a semantic version: {compatible_with_version}")
        rics = [self._ric(ric_id)] if ric_id is not None else list(self._rics.values())
        found: list[tuple[Version, str, str]] = []
        for ric in rics:
            for type_id in ric.policy_types:
                name, version = split_type_id(type_id)
                if type_name is not None and name != type_name:
                    continue
                have = semver(version)
                if wanted is not None and not is_compatible(have, wanted):
                    continue
                found.append((have or (0, 0, 0), type_id, ric.ric_id))
        if wanted is not None:
            # The spec: matching types come back sorted by version, ascending.
            found.sort(key=lambda t: t[0])
        return [{"policyTypeId": t, "nearRtRicId": r} for _, t, r in found]

    def policy_type(self, type_id: str) -> dict[str, Any]:
        try:
            return self._types[type_id].definition
        except KeyError:
            raise Problem(404, f"Policy type not found: {type_id}") from None

    # --- policies ---------------------------------------------------------------------------

    def policies(
        self,
        policy_type_id: str | None = None,
        ric_id: str | None = None,
        service_id: str | None = None,
        type_name: str | None = None,
    ) -> list[dict[str, str]]:
        if policy_type_id is not None and policy_type_id not in self._types:
            raise Problem(404, f"Policy type not found: {policy_type_id}")
        if ric_id is not None:
            self._ric(ric_id)
        return [
            {"policyId": p.policy_id, "nearRtRicId": p.ric_id}
            for p in self._policies.values()
            if (policy_type_id is None or p.type_id == policy_type_id)
            and (ric_id is None or p.ric_id == ric_id)
            and (service_id is None or p.service_id == service_id)
            and (type_name is None or split_type_id(p.type_id)[0] == type_name)
        ]

    def create_policy(self, info: Any) -> dict[str, Any]:
        """POST /policies: returns the stored PolicyObjectInformation (with its id)."""
        check(POLICY_INFO_SCHEMA, info, "Invalid PolicyObjectInformation")
        ric = self._ric(info["nearRtRicId"])
        if ric.a1p is not None:
            # Before the type check: a RIC not (yet) synchronised has no types, and its 404
            # would say "never" where A1-PMS says "not now" (423).
            self._operational(ric)
        type_id = info["policyTypeId"]
        if type_id not in ric.policy_types:
            raise Problem(404, f"Policy type {type_id} not supported by Near-RT RIC {ric.ric_id}")
        policy_id = info.get("policyId") or str(uuid.uuid4())
        if policy_id in self._policies:
            raise Problem(409, f"Policy already created with ID: {policy_id}")
        self._types[type_id].validate(info["policyObject"], "create")
        self._unlocked(ric)
        policy = Policy(
            policy_id=policy_id,
            ric_id=ric.ric_id,
            type_id=type_id,
            service_id=info.get("serviceId", ""),
            transient=info.get("transient", False),
            body=info["policyObject"],
        )
        if ric.a1p is not None:
            self._forward(
                ric, "create", lambda a1p: a1p.put_policy(type_id, policy_id, policy.body)
            )
        self._policies[policy_id] = policy
        self._services.touch(policy.service_id)
        log.info("policy %s created on %s (type %s)", policy_id, ric.ric_id, type_id)
        return policy.to_info()

    def policy(self, policy_id: str) -> dict[str, Any]:
        return self._policy(policy_id).body

    def update_policy(self, policy_id: str, body: Any) -> dict[str, Any]:
        """PUT /policies/{id}: the RIC and the type stay those of the existing policy."""
        policy = self._policy(policy_id)
        if not isinstance(body, dict):
            raise Problem(400, "Policy object must be a JSON object")
        self._types[policy.type_id].validate(body, "update")
        ric = self._rics[policy.ric_id]
        if ric.a1p is None:
            self._unlocked(ric)
        else:
            self._operational(ric)
            self._forward(
                ric, "update", lambda a1p: a1p.put_policy(policy.type_id, policy_id, body)
            )
        policy.body = body
        self._services.touch(policy.service_id)
        log.info("policy %s updated", policy_id)
        return policy.body

    def delete_policy(self, policy_id: str) -> None:
        policy = self._policy(policy_id)
        ric = self._rics[policy.ric_id]
        if ric.a1p is None:
            self._unlocked(ric)
        else:
            self._operational(ric)
            try:
                self._forward(
                    ric, "delete", lambda a1p: a1p.delete_policy(policy.type_id, policy_id)
                )
            except Problem as e:
                if e.status != 404:
                    raise
                # Not on the RIC (any more) is the outcome asked for: A1-PMS forgets it too.
                log.warning("policy %s was not on Near-RT RIC %s", policy_id, ric.ric_id)
        del self._policies[policy_id]
        self._services.touch(policy.service_id)
        log.info("policy %s deleted", policy_id)

    def policy_status(self, policy_id: str) -> dict[str, Any]:
        policy = self._policy(policy_id)
        ric = self._rics[policy.ric_id]
        if ric.a1p is not None:
            # A real RIC is asked every time; A1-PMS passes its answer on unchanged.
            self._operational(ric, 503)
            return self._forward(
                ric, "status", lambda a1p: a1p.policy_status(policy.type_id, policy_id)
            )
        # A simulated RIC enforces whatever it accepted, unless told otherwise (admin API).
        return dict(self._statuses.get(policy_id, {"enforceStatus": "ENFORCED"}))

    def set_policy_status(self, policy_id: str, status: dict[str, Any]) -> dict[str, Any]:
        """What the RIC will report for ``policy_id`` (existing or not yet created).

        Only for RICs in memory: a RIC with a ``baseUrl`` reports its own statuses."""
        self._statuses[policy_id] = dict(status)
        return dict(status)

    def _policy(self, policy_id: str) -> Policy:
        try:
            return self._policies[policy_id]
        except KeyError:
            raise Problem(404, f"Policy not found: {policy_id}") from None

    # --- services: registration in services.py, their policies here -------------------------

    def put_service(self, info: Any) -> bool:
        """PUT /services: True when the service is new."""
        return self._services.put(info)

    def keepalive(self, service_id: str) -> None:
        self._services.keepalive(service_id)

    def services(self, service_id: str | None = None) -> dict[str, Any]:
        return self._services.status(service_id)

    def delete_service(self, service_id: str) -> None:
        self._services.get(service_id)
        self._remove_service(service_id)

    def expire_services(self, now: float | None = None) -> list[str]:
        """Deregister every supervised service silent for longer than its interval.

        ``now`` is on the registry's clock (``time.monotonic`` unless one was given), so a test
        can move time forward instead of sleeping. Returns the ids removed.
        """
        expired = self._services.silent(now)
        for service_id in expired:
            log.warning("service %s missed its keepalive: deregistered", service_id)
            self._remove_service(service_id)
        return expired

    def _remove_service(self, service_id: str) -> None:
        self._services.remove(service_id)
        # Ignores the RIC lock on purpose: A1-PMS removes a dead service's policies regardless.
        doomed = [p for p, pol in self._policies.items() if pol.service_id == service_id]
        for policy_id in doomed:
            self._delete_at_ric(self._policies[policy_id])
            del self._policies[policy_id]
        log.info("service %s removed with %d policies", service_id, len(doomed))
