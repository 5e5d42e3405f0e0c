"""A Near-RT RIC's A1-P v2.0.0 state: policy types, policy instances and their statuses.

The rules follow ``ORAN_A1-p_V2.0.0_api.yaml`` and, where it is silent, the O-RAN SC A1
simulator (STD_2.0.0) that real A1-PMS deployments are tested against: a policy id is unique
across types, a policy object must satisfy its type's ``policySchema``, and an unknown type is 404
on every path below it. HTTP lives in ``app.py``; this module only raises ``Problem`` so the
rules can be tested without a server.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match

from simulators.problems import Problem

log = logging.getLogger(__name__)

TYPES_DIR = Path(__file__).resolve().parent / "types"

# What a RIC reports for a policy it accepted, until the admin API says otherwise.
DEFAULT_STATUS: dict[str, Any] = {"enforceStatus": "ENFORCED"}


@dataclass(frozen=True, slots=True)
class PolicyType:
    """A ``PolicyTypeObject`` with its schemas compiled once."""

    type_id: str
    definition: dict[str, Any]
    validator: jsonschema.Draft7Validator = field(repr=False)
    status_validator: jsonschema.Draft7Validator | None = field(repr=False)

    @classmethod
    def from_definition(cls, type_id: str, definition: Any) -> PolicyType:
        """Raise ``ValueError`` unless ``definition`` is a PolicyTypeObject with a valid schema."""
        if not isinstance(definition, dict) or not isinstance(definition.get("policySchema"), dict):
            raise ValueError(f"policy type {type_id}: no policySchema object")
        try:
            jsonschema.Draft7Validator.check_schema(definition["policySchema"])
        except jsonschema.SchemaError as e:
            raise ValueError(f"policy type {type_id}: invalid policySchema: {e.message}") from e
        status_validator = None
        status_schema = definition.get("statusSchema")
        if status_schema is not None:
            try:
                jsonschema.Draft7Validator.check_schema(status_schema)
                status_validator = jsonschema.Draft7Validator(status_schema)
            except jsonschema.SchemaError as e:
                # The O-RAN SC sample types ship a slightly broken statusSchema; serve it as is
                # and just do not check statuses against it.
                log.warning("policy type %s: statusSchema not checked: %s", type_id, e.message)
        return cls(
            type_id,
            definition,
            jsonschema.Draft7Validator(definition["policySchema"]),
            status_validator,
        )


def load_types(directory: Path = TYPES_DIR) -> dict[str, PolicyType]:
    """Every ``<type id>.json`` in ``directory``; a broken file stops start-up, not a request."""
    types: dict[str, PolicyType] = {}
    for path in sorted(directory.glob("*.json")):
        types[path.stem] = PolicyType.from_definition(path.stem, json.loads(path.read_text()))
    if not types:
        raise ValueError(f"no policy type files (*.json) in {directory}")
    return types


@dataclass(slots=True)
class Policy:
    type_id: str
    policy_id: str
    body: dict[str, Any]
    notification_destination: str | None


class NearRtRic:
    """All simulator state. Not thread-safe: the app calls it from its event loop only."""

    def __init__(self, types: dict[str, PolicyType], *, max_policies: int | None = None) -> None:
        self._types = dict(types)
        self._policies: dict[str, Policy] = {}
        """Policy id -> policy: ids are unique across types, as on the O-RAN SC simulator."""
        self._statuses: dict[str, dict[str, Any]] = {}
        self._max_policies = max_policies

    # --- policy types -----------------------------------------------------------------------

    def type_ids(self) -> list[str]:
        return list(self._types)

    def policy_type(self, type_id: str) -> dict[str, Any]:
        return self._type(type_id).definition

    def put_type(self, type_id: str, definition: Any) -> bool:
        """Add or replace a type (admin only: A1-P cannot); True when it is new."""
        try:
            loaded = PolicyType.from_definition(type_id, definition)
        except ValueError as e:
            raise Problem(400, str(e)) from None
        created = type_id not in self._types
        self._types[type_id] = loaded
        log.info("policy type %s %s", type_id, "added" if created else "replaced")
        return created

    def delete_type(self, type_id: str) -> None:
        self._type(type_id)
        if any(p.type_id == type_id for p in self._policies.values()):
            raise Problem(409, f"Policy type {type_id} still has policies")
        del self._types[type_id]
        log.info("policy type %s removed", type_id)

    def _type(self, type_id: str) -> PolicyType:
        try:
            return self._types[type_id]
        except KeyError:
            raise Problem(404, f"The policy type does not exist: {type_id}") from None

    # --- policies ---------------------------------------------------------------------------

    def policy_ids(self, type_id: str) -> list[str]:
        self._type(type_id)
        return [p.policy_id for p in self._policies.values() if p.type_id == type_id]

    def put_policy(
        self,
        type_id: str,
        policy_id: str,
        body: Any,
        notification_destination: str | None = None,
    ) -> bool:
        """Create or replace a policy; True when it was created."""
        policy_type = self._type(type_id)
        if not isinstance(body, dict):
            raise Problem(400, "The policy object must be a JSON object")
        error = best_match(policy_type.validator.iter_errors(body))
        if error is not None:
            raise Problem(400, f"Policy does not match the schema of {type_id}: {_say(error)}")
        existing = self._policies.get(policy_id)
        if existing is not None and existing.type_id != type_id:
            raise Problem(
                409, f"Policy id {policy_id} is already used by policy type {existing.type_id}"
            )
        full = self._max_policies is not None and len(self._policies) >= self._max_policies
        if existing is None and full:
            raise Problem(507, f"No room for more than {self._max_policies} policies")
        self._policies[policy_id] = Policy(type_id, policy_id, body, notification_destination)
        log.info("policy %s (%s) %s", policy_id, type_id, "updated" if existing else "created")
        return existing is None

    def policy(self, type_id: str, policy_id: str) -> dict[str, Any]:
        return self._policy(type_id, policy_id).body

    def delete_policy(self, type_id: str, policy_id: str) -> None:
        self._policy(type_id, policy_id)
        del self._policies[policy_id]
        log.info("policy %s (%s) deleted", policy_id, type_id)

    def status(self, type_id: str, policy_id: str) -> dict[str, Any]:
        self._policy(type_id, policy_id)
        return dict(self._statuses.get(policy_id, DEFAULT_STATUS))

    def set_status(self, policy_id: str, status: dict[str, Any]) -> str | None:
        """What the RIC reports for ``policy_id`` from now on (it may not exist yet).

        Returns the policy's ``notificationDestination``, if it has one: the caller notifies.
        """
        policy = self._policies.get(policy_id)
        if policy is not None:
            checker = self._types[policy.type_id].status_validator
            error = best_match(checker.iter_errors(status)) if checker else None
            if error is not None:
                raise Problem(400, f"Status does not match the statusSchema: {_say(error)}")
        self._statuses[policy_id] = dict(status)
        log.info("policy %s: status is now %s", policy_id, status)
        return policy.notification_destination if policy else None

    def reset(self) -> int:
        """Forget every policy and set status (types stay); returns how many policies."""
        count = len(self._policies)
        self._policies.clear()
        self._statuses.clear()
        return count

    def _policy(self, type_id: str, policy_id: str) -> Policy:
        self._type(type_id)
        policy = self._policies.get(policy_id)
        if policy is None or policy.type_id != type_id:
            raise Problem(404, f"The requested policy does not exist: {policy_id}")
        return policy


def _say(error: jsonschema.ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path)
    return f"{error.message} (at /{where})" if where else error.message
