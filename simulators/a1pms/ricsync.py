"""A1-PMS's side of a Near-RT RIC with a ``baseUrl``: synchronising with it, and calling it.

Synchronisation is what A1-PMS's ``RicSynchronizationTask`` does: learn the RIC's types, delete
every policy on the RIC that A1-PMS does not know, and put back every one it does (so a restarted
RIC gets its policies again); transient policies do not survive it. A call's failure becomes the
v3 problem the registry raises (see ``forward``). The HTTP is in ``southbound.py``, the rules that
decide when to synchronise or call in ``registry.py``.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from simulators.a1pms.model import Policy, Ric
from simulators.a1pms.policy_types import PolicyType
from simulators.a1pms.problem import Problem
from simulators.a1pms.southbound import (
    A1P,
    RicBadAnswer,
    RicRefused,
    RicUnreachable,
    SouthboundError,
)

log = logging.getLogger(__name__)

T = TypeVar("T")

# A RIC's refusal is passed on where the v3 spec lists its status for the operation (A1-PMS passes
# the RIC's status on); any other status from the RIC (500, 507, ...) is an upstream failure: 502.
PASSED_ON: dict[str, frozenset[int]] = {
    "create": frozenset({400, 404, 409, 429, 503}),
    "update": frozenset({400, 404, 429, 503}),
    "delete": frozenset({400, 404, 429, 503}),
    "status": frozenset({400, 404, 429, 503}),
}


def forward(ric: Ric, operation: str, call: Callable[[A1P], T], now: float) -> T:
    """Make an A1-P call to the RIC; its failure is a v3 problem. No answer is 502 Bad Gateway
    (and the RIC becomes UNAVAILABLE), a refusal keeps its status where ``PASSED_ON`` says."""
    assert ric.a1p is not None
    try:
        return call(ric.a1p)
    except RicUnreachable as e:
        ric.state = "UNAVAILABLE"
        ric.last_attempt = now
        log.warning("Near-RT RIC %s is unreachable, now UNAVAILABLE: %s", ric.ric_id, e)
        raise Problem(502, f"Near-RT RIC {ric.ric_id} did not answer: {e}") from e
    except RicBadAnswer as e:
        raise Problem(502, f"Near-RT RIC {ric.ric_id} answered wrongly: {e}") from e
    except RicRefused as e:
        status = e.status if e.status in PASSED_ON[operation] else 502
        raise Problem(status, f"Near-RT RIC {ric.ric_id} answered {e}") from e


def delete_quietly(ric: Ric, policy: Policy, now: float) -> None:
    """Best effort, for a policy A1-PMS drops on its own (reset, its service gone). A RIC that is
    not AVAILABLE is skipped: its next synchronisation deletes what it should not hold."""
    if ric.a1p is None or ric.state != "AVAILABLE":
        return
    try:
        forward(ric, "delete", lambda a1p: a1p.delete_policy(policy.type_id, policy.policy_id), now)
    except Problem as e:
        if e.status != 404:
            log.warning("policy %s left on Near-RT RIC %s: %s", policy.policy_id, ric.ric_id, e)


def synchronize(
    ric: Ric, policies: dict[str, Policy], types: dict[str, PolicyType], now: float
) -> None:
    """Synchronise ``ric``, updating the registry's ``policies`` and ``types`` in place; the RIC
    is SYNCHRONIZING meanwhile, then AVAILABLE, or UNAVAILABLE if it did not work out."""
    assert ric.a1p is not None
    ric.state = "SYNCHRONIZING"
    ric.last_attempt = now
    try:
        found = fetch_types(ric.a1p, ric.ric_id)
        # Types are shared by id across RICs, as in A1-PMS; the latest definition wins.
        types.update(found)
        ric.policy_types = list(found)
        mine = [p for p in policies.values() if p.ric_id == ric.ric_id]
        for p in mine:
            if p.transient:
                del policies[p.policy_id]
        wanted = {p.policy_id: (p.type_id, p.body) for p in mine if not p.transient}
        for policy_id in reconcile(ric.a1p, ric.ric_id, ric.policy_types, wanted):
            del policies[policy_id]
    except SouthboundError as e:
        ric.state = "UNAVAILABLE"
        log.warning("Near-RT RIC %s: synchronisation failed: %s", ric.ric_id, e)
        return
    ric.state = "AVAILABLE"
    log.info("Near-RT RIC %s synchronised, policy types %s", ric.ric_id, ric.policy_types)


def fetch_types(a1p: A1P, ric_id: str) -> dict[str, PolicyType]:
    """The RIC's policy types, in its order. A type whose definition is unusable (no valid
    ``policySchema``) is left out with a warning rather than failing the whole RIC."""
    types: dict[str, PolicyType] = {}
    for type_id in a1p.policy_type_ids():
        try:
            types[type_id] = PolicyType.from_definition(type_id, a1p.policy_type(type_id))
        except ValueError as e:
            log.warning("Near-RT RIC %s: policy type left out: %s", ric_id, e)
    return types


def reconcile(
    a1p: A1P,
    ric_id: str,
    type_ids: list[str],
    wanted: Mapping[str, tuple[str, dict[str, Any]]],
) -> list[str]:
    """Make the RIC hold exactly ``wanted`` (policy id -> (type id, policy object)).

    Returns the ids the RIC refused to take back (a 4xx other than 429): such a policy cannot be
    recovered, and retrying it at every synchronisation would never end. (A1-PMS drops all of the
    RIC's policies then; dropping only the refused ones loses less.) Anything else that goes wrong
    (no answer, 5xx, 429) raises, failing the synchronisation.
    """
    for type_id in type_ids:
        for policy_id in a1p.policy_ids(type_id):
            if policy_id in wanted:
                continue
            log.info("Near-RT RIC %s: deleting policy %s unknown to A1-PMS", ric_id, policy_id)
            try:
                a1p.delete_policy(type_id, policy_id)
            except RicRefused as e:
                if e.status != 404:  # gone already is what was wanted
                    raise
    refused = []
    for policy_id, (type_id, body) in wanted.items():
        try:
            a1p.put_policy(type_id, policy_id, body)
        except RicRefused as e:
            if e.status >= 500 or e.status == 429:
                raise
            log.warning("Near-RT RIC %s refused policy %s back: %s", ric_id, policy_id, e)
            refused.append(policy_id)
    return refused
