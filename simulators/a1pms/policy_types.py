"""A1 policy types: the shipped definitions in ``types/``, their ids and versions.

A type id is ``typename_version`` (the version after the last underscore); a definition holds a
``policySchema`` (JSON Schema draft 7) that every policy object of the type must satisfy.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from simulators.a1pms.validation import raise_first

TYPES_DIR = Path(__file__).resolve().parent / "types"

_SEMVER = re.compile(r"^(\d+)\.(\d+)\.(\d+)$")

Version = tuple[int, int, int]


def shipped_type_ids() -> tuple[str, ...]:
    return tuple(sorted(p.stem for p in TYPES_DIR.glob("*.json")))


def load_policy_type(type_id: str) -> dict[str, Any]:
    path = TYPES_DIR / f"{type_id}.json"
    if not path.is_file():
        raise ValueError(f"no policy type definition {path}")
    definition: dict[str, Any] = json.loads(path.read_text())
    return definition


@dataclass(frozen=True, slots=True)
class PolicyType:
    """A loaded type definition with its schema compiled once."""

    type_id: str
    definition: dict[str, Any]
    validator: jsonschema.Draft7Validator = field(repr=False)

    @classmethod
    def load(cls, type_id: str) -> PolicyType:
        # A broken shipped schema must fail at start-up, not on the first policy.
        return cls.from_definition(type_id, load_policy_type(type_id))

    @classmethod
    def from_definition(cls, type_id: str, definition: Any) -> PolicyType:
        """A type as a file or a Near-RT RIC gives it; ``ValueError`` if it is no valid
        ``PolicyTypeObject`` (a ``policySchema`` that is a draft-7 JSON schema)."""
        schema = definition.get("policySchema") if isinstance(definition, dict) else None
        if not isinstance(schema, dict):
            raise ValueError(f"policy type {type_id}: no policySchema object")
        try:
            jsonschema.Draft7Validator.check_schema(schema)
        except jsonschema.SchemaError as e:
            raise ValueError(f"policy type {type_id}: invalid policySchema: {e.message}") from e
        return cls(type_id, definition, jsonschema.Draft7Validator(schema))

    def validate(self, policy_object: Any, verb: str) -> None:
        """Raise a 400 problem, worded as A1-PMS words it, if the object breaks the schema."""
        raise_first(
            self.validator.iter_errors(policy_object),
            f"Policy Type Schema validation failed in {verb}",
        )


def split_type_id(type_id: str) -> tuple[str, str]:
    """``typename_version`` -> (typename, version); the version is after the last underscore."""
    name, _, version = type_id.rpartition("_")
    return (name, version) if name else (type_id, "")


def semver(version: str) -> Version | None:
    m = _SEMVER.match(version)
    return (int(m[1]), int(m[2]), int(m[3])) if m else None


def is_compatible(have: Version | None, wanted: Version) -> bool:
    """Same major and not older: 1.9.1 is compatible with 1.0.0, not the other way around."""
    return have is not None and have[0] == wanted[0] and have[1:] >= wanted[1:]
