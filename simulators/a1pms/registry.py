"""In-memory A1-PMS state: Near-RT RICs, policy types, policies and registered services.

The rules follow the O-RAN SC A1-PMS v3 behaviour (``pms-api-v3.yaml`` plus the Java service it
documents): policy objects are checked against the type's JSON schema, a duplicate id on create is
a conflict, a RIC that is synchronising is locked, and a supervised service that stops sending
keepalives loses its registration and all its policies. HTTP lives in ``app.py``; this module only
raises ``Problem`` so the rules can be tested without a server.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match

log = logging.getLogger(__name__)

TYPES_DIR = Path(__file__).resolve().parent / "types"
RIC_STATES = ("UNAVAILABLE", "AVAILABLE", "SYNCHRONIZING", "CONSISTENCY_CHECK")

_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")

# The request bodies, as the spec's schemas say, plus the checks A1-PMS makes in code (a
# boolean is not an integer, an interval cannot be negative).
_POLICY_INFO_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "nearRtRicId": {"type": "string", "minLength": 1},
        "policyTypeId": {"type": "string", "minLength": 1},
        "policyObject": {"type": "object"},
        "policyId": {"type": "string"},
        "serviceId": {"type": "string"},
        "transient": {"type": "boolean"},
    },
    "required": ["nearRtRicId", "policyTypeId", "policyObject"],
}
_SERVICE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "serviceId": {"type": "string", "minLength": 1},
        "keepAliveIntervalSeconds": {"type": "integer", "minimum": 0},
        "callbackUrl": {"type": "string"},
    },
    "required": ["serviceId"],
}


class Problem(Exception):
    """An RFC 7807 problem: the HTTP layer turns it into ``application/problem+json``."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.title = HTTPStatus(status).phrase
        self.detail = detail

    def to_dict(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        return body


@dataclass(frozen=True, slots=True)
class RicConfig:
    ric_id: str
    managed_element_ids: tuple[str, ...] = ()
    state: str = "AVAILABLE"
    policy_types: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """Which RICs exist, their state and the policy types each supports."""

    rics: tuple[RicConfig, ...]

    @classmethod
    def default(cls) -> SimulatorConfig:
        """One available RIC ``ric1`` that supports every shipped type."""
        return cls((RicConfig("ric1", policy_types=shipped_type_ids()),))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SimulatorConfig:
        rics = []
        for ric in data.get("rics", []):
            state = ric.get("state", "AVAILABLE")
            if state not in RIC_STATES:
                raise ValueError(f"RIC {ric.get('ricId')!r}: state {state!r} not in {RIC_STATES}")
            rics.append(
                RicConfig(
                    ric_id=ric["ricId"],
                    managed_element_ids=tuple(ric.get("managedElementIds", ())),
                    state=state,
                    policy_types=tuple(ric.get("policyTypes", shipped_type_ids())),
                )
            )
        return cls(tuple(rics))

    @classmethod
    def from_file(cls, path: str | Path) -> SimulatorConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))


def shipped_type_ids() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in TYPES_DIR.glob("*.json")))


def load_policy_type(type_id: str) -> dict[str, Any]:
    path = TYPES_DIR / f"{type_id}.json"
    if not path.is_file():
        raise ValueError(f"no policy type definition {path}")
    return json.loads(path.read_text())


@dataclass(slots=True)
class _Ric:
    ric_id: str
    managed_element_ids: list[str]
    state: str
    policy_types: list[str]

    def to_dict(self) -> dict[str, Any]:
        return {
            "ricId": self.ric_id,
            "managedElementIds": list(self.managed_element_ids),
            "state": self.state,
            "policyTypeIds": list(self.policy_types),
        }


@dataclass(slots=True)
class _Policy:
    policy_id: str
    ric_id: str
    type_id: str
    service_id: str
    transient: bool
    body: dict[str, Any]

    def to_info(self) -> dict[str, Any]:
        return {
            "policyId": self.policy_id,
            "nearRtRicId": self.ric_id,
            "policyTypeId": self.type_id,
            "serviceId": self.service_id,
            "transient": self.transient,
            "policyObject": self.body,
        }


@dataclass(slots=True)
class _Service:
    service_id: str
    keepalive_s: int
    callback_url: str | None
    last_activity: float


@dataclass(slots=True)
class _PolicyType:
    definition: dict[str, Any]
    validator: jsonschema.Draft7Validator = field(repr=False)


def split_type_id(type_id: str) -> tuple[str, str]:
    """``typename_version`` -> (typename, version); the version is after the last underscore."""
    name, _, version = type_id.rpartition("_")
    return (name, version) if name else (type_id, "")


def _semver(version: str) -> tuple[int, int, int] | None:
    m = _SEMVER.match(version)
    return (int(m[1]), int(m[2]), int(m[3])) if m else None


def _check(schema: Mapping[str, Any], instance: Any, what: str) -> None:
    error = best_match(jsonschema.Draft7Validator(schema).iter_errors(instance))
    if error is not None:
        raise Problem(400, f"{what}: {_describe(error)}")


def _describe(error: jsonschema.ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path)
    return f"{error.message} (at /{where})" if where else error.message


class Registry:
    """All simulator state. Not thread-safe: the app calls it from its event loop only."""

    def __init__(
        self, config: SimulatorConfig, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._clock = clock
        self._types: dict[str, _PolicyType] = {}
        self._rics: dict[str, _Ric] = {}
        self._policies: dict[str, _Policy] = {}
        self._services: dict[str, _Service] = {}
        for ric in config.rics:
            for type_id in ric.policy_types:
                self._add_type(type_id)
            self._rics[ric.ric_id] = _Ric(
                ric.ric_id, list(ric.managed_element_ids), ric.state, list(ric.policy_types)
            )

    def _add_type(self, type_id: str) -> None:
        if type_id in self._types:
            return
        definition = load_policy_type(type_id)
        # A broken shipped schema must fail at start-up, not on the first policy.
        jsonschema.Draft7Validator.check_schema(definition["policySchema"])
        self._types[type_id] = _PolicyType(
            definition, jsonschema.Draft7Validator(definition["policySchema"])
        )

    # --- RICs -------------------------------------------------------------------------------

    def set_ric_state(self, ric_id: str, state: str) -> None:
        if state not in RIC_STATES:
            raise ValueError(f"state {state!r} not in {RIC_STATES}")
        self._ric(ric_id).state = state

    def rics(self, policy_type_id: str | None = None) -> dict[str, Any]:
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
        return self._ric(ric_id).to_dict()

    def _ric(self, ric_id: str) -> _Ric:
        try:
            return self._rics[ric_id]
        except KeyError:
            raise Problem(404, f"Near-RT RIC not found: {ric_id}") from None

    def _unlocked(self, ric: _Ric) -> None:
        if ric.state == "SYNCHRONIZING":
            raise Problem(423, f"Near-RT RIC {ric.ric_id} is locked: state is {ric.state}")

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
            wanted = _semver(compatible_with_version)
            if wanted is None:
                raise Problem(400, f"Not a semantic version: {compatible_with_version}")
        rics = [self._ric(ric_id)] if ric_id is not None else list(self._rics.values())
        found: list[tuple[tuple[int, int, int], str, str]] = []
        for ric in rics:
            for type_id in ric.policy_types:
                name, version = split_type_id(type_id)
                if type_name is not None and name != type_name:
                    continue
                have = _semver(version)
                if wanted is not None and not _compatible(have, wanted):
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
        _check(_POLICY_INFO_SCHEMA, info, "Invalid PolicyObjectInformation")
        ric = self._ric(info["nearRtRicId"])
        type_id = info["policyTypeId"]
        if type_id not in ric.policy_types:
            raise Problem(404, f"Policy type {type_id} not supported by Near-RT RIC {ric.ric_id}")
        policy_id = info.get("policyId") or str(uuid.uuid4())
        if policy_id in self._policies:
            raise Problem(409, f"Policy already created with ID: {policy_id}")
        self._validate(type_id, info["policyObject"], "create")
        self._unlocked(ric)
        policy = _Policy(
            policy_id=policy_id,
            ric_id=ric.ric_id,
            type_id=type_id,
            service_id=info.get("serviceId", ""),
            transient=info.get("transient", False),
            body=info["policyObject"],
        )
        self._policies[policy_id] = policy
        self._touch(policy.service_id)
        log.info("policy %s created on %s (type %s)", policy_id, ric.ric_id, type_id)
        return policy.to_info()

    def policy(self, policy_id: str) -> dict[str, Any]:
        return self._policy(policy_id).body

    def update_policy(self, policy_id: str, body: Any) -> dict[str, Any]:
        """PUT /policies/{id}: the RIC and the type stay those of the existing policy."""
        policy = self._policy(policy_id)
        if not isinstance(body, dict):
            raise Problem(400, "Policy object must be a JSON object")
        self._validate(policy.type_id, body, "update")
        self._unlocked(self._rics[policy.ric_id])
        policy.body = body
        self._touch(policy.service_id)
        log.info("policy %s updated", policy_id)
        return policy.body

    def delete_policy(self, policy_id: str) -> None:
        policy = self._policy(policy_id)
        self._unlocked(self._rics[policy.ric_id])
        del self._policies[policy_id]
        self._touch(policy.service_id)
        log.info("policy %s deleted", policy_id)

    def policy_status(self, policy_id: str) -> dict[str, Any]:
        self._policy(policy_id)
        # A simulated RIC enforces whatever it accepted.
        return {"enforceStatus": "ENFORCED"}

    def _policy(self, policy_id: str) -> _Policy:
        try:
            return self._policies[policy_id]
        except KeyError:
            raise Problem(404, f"Policy not found: {policy_id}") from None

    def _validate(self, type_id: str, body: Any, verb: str) -> None:
        error = best_match(self._types[type_id].validator.iter_errors(body))
        if error is not None:
            raise Problem(
                400, f"Policy Type Schema validation failed in {verb}: {_describe(error)}"
            )

    # --- services ---------------------------------------------------------------------------

    def put_service(self, info: Any) -> bool:
        """PUT /services: True when the service is new."""
        _check(_SERVICE_SCHEMA, info, "Invalid ServiceRegistrationInfo")
        service_id = info["serviceId"]
        created = service_id not in self._services
        self._services[service_id] = _Service(
            service_id=service_id,
            keepalive_s=info.get("keepAliveIntervalSeconds", 0),
            callback_url=info.get("callbackUrl"),
            last_activity=self._clock(),
        )
        log.info("service %s %s", service_id, "registered" if created else "updated")
        return created

    def keepalive(self, service_id: str) -> None:
        self._service(service_id).last_activity = self._clock()

    def services(self, service_id: str | None = None) -> dict[str, Any]:
        chosen: Iterable[_Service] = (
            [self._service(service_id)] if service_id is not None else self._services.values()
        )
        now = self._clock()
        service_list = []
        for s in chosen:
            status: dict[str, Any] = {
                "serviceId": s.service_id,
                "keepAliveIntervalSeconds": s.keepalive_s,
                "timeSinceLastActivitySeconds": int(now - s.last_activity),
            }
            if s.callback_url is not None:
                status["callbackUrl"] = s.callback_url
            service_list.append(status)
        return {"serviceList": service_list}

    def delete_service(self, service_id: str) -> None:
        self._service(service_id)
        self._remove_service(service_id)

    def expire_services(self, now: float | None = None) -> list[str]:
        """Deregister every supervised service silent for longer than its interval.

        ``now`` is on the registry's clock (``time.monotonic`` unless one was given), so a test
        can move time forward instead of sleeping. Returns the ids removed.
        """
        now = self._clock() if now is None else now
        expired = [
            s.service_id
            for s in self._services.values()
            if s.keepalive_s > 0 and now - s.last_activity > s.keepalive_s
        ]
        for service_id in expired:
            log.warning("service %s missed its keepalive: deregistered", service_id)
            self._remove_service(service_id)
        return expired

    def _remove_service(self, service_id: str) -> None:
        del self._services[service_id]
        # Ignores the RIC lock on purpose: A1-PMS removes a dead service's policies regardless.
        doomed = [p for p, pol in self._policies.items() if pol.service_id == service_id]
        for policy_id in doomed:
            del self._policies[policy_id]
        log.info("service %s removed with %d policies", service_id, len(doomed))

    def _service(self, service_id: str) -> _Service:
        try:
            return self._services[service_id]
        except KeyError:
            raise Problem(404, f"Service not found: {service_id}") from None

    def _touch(self, service_id: str) -> None:
        # Any operation by a registered service counts as a sign of life, as in A1-PMS.
        service = self._services.get(service_id)
        if service is not None:
            service.last_activity = self._clock()


def _compatible(have: tuple[int, int, int] | None, wanted: tuple[int, int, int]) -> bool:
    """Same major and not older: 1.9.1 is compatible with 1.0.0, not the other way around."""
    return have is not None and have[0] == wanted[0] and have[1:] >= wanted[1:]
