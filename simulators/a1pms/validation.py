"""Request bodies checked against JSON schemas, failures reported as 400 problems.

The schemas are the specs' ``PolicyObjectInformation`` and ``ServiceRegistrationInfo`` (v3) and
``policy_info`` and ``service_registration_info`` (v2), plus the checks A1-PMS makes in code (a
boolean is not an integer, an interval cannot be negative, an id is not empty).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match

from simulators.a1pms.problem import Problem

POLICY_INFO_SCHEMA: dict[str, Any] = {
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
SERVICE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "serviceId": {"type": "string", "minLength": 1},
        "keepAliveIntervalSeconds": {"type": "integer", "minimum": 0},
        "callbackUrl": {"type": "string"},
    },
    "required": ["serviceId"],
}

# v2 (pms-api.yaml): snake_case, and the policy id is the caller's, never generated.
POLICY_INFO_V2_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "ric_id": {"type": "string", "minLength": 1},
        "policy_id": {"type": "string", "minLength": 1},
        "policytype_id": {"type": "string", "minLength": 1},
        "policy_data": {"type": "object"},
        "service_id": {"type": "string"},
        "transient": {"type": "boolean"},
        "status_notification_uri": {"type": "string"},
    },
    "required": ["ric_id", "policy_id", "policytype_id", "policy_data"],
}
SERVICE_V2_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "service_id": {"type": "string", "minLength": 1},
        "keep_alive_interval_seconds": {"type": "integer", "minimum": 0},
        "callback_url": {"type": "string"},
    },
    "required": ["service_id"],
}


def check(schema: Mapping[str, Any], instance: Any, what: str) -> None:
    """Raise a 400 problem headed ``what`` when ``instance`` does not fit ``schema``."""
    raise_first(jsonschema.Draft7Validator(schema).iter_errors(instance), what)


def raise_first(errors: Iterable[jsonschema.ValidationError], what: str) -> None:
    """Raise a 400 problem for the most relevant of ``errors``, if there is one."""
    error = best_match(errors)
    if error is not None:
        raise Problem(400, f"{what}: {describe(error)}")


def describe(error: jsonschema.ValidationError) -> str:
    where = "/".join(str(p) for p in error.absolute_path)
    return f"{error.message} (at /{where})" if where else error.message
