"""What a simulator instance serves: its Near-RT RICs, their states and policy types."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

from simulators.a1pms.policy_types import shipped_type_ids

# Where the A1-PMS v3 API lives on a real A1-PMS, and so here.
BASE_PATH = "/a1-policy-management/v1"
RicState = Literal["UNAVAILABLE", "AVAILABLE", "SYNCHRONIZING", "CONSISTENCY_CHECK"]
RIC_STATES: tuple[str, ...] = get_args(RicState)


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
