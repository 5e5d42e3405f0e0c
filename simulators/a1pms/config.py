"""What a simulator instance serves: its Near-RT RICs, their states and policy types.

A RIC is either simulated in memory (its state and types come from here) or a real one reached
over A1-P v2.0.0 at its ``baseUrl``, the key O-RAN SC A1-PMS uses in its application
configuration (its state and types then come from the RIC, as A1-PMS learns them).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Literal, get_args

from simulators.a1pms.policy_types import shipped_type_ids

# Where the A1-PMS v3 API lives on a real A1-PMS, and so here.
BASE_PATH = "/a1-policy-management/v1"
RicState = Literal["UNAVAILABLE", "AVAILABLE", "SYNCHRONIZING", "CONSISTENCY_CHECK"]
RIC_STATES: tuple[str, ...] = get_args(RicState)

# Southbound defaults. Every A1-P call blocks the simulator until it returns (see registry.py),
# so the timeout is short; a RIC found unreachable is not tried again for the interval.
A1P_TIMEOUT_S = 5.0
RESYNC_INTERVAL_S = 5.0


@dataclass(frozen=True, slots=True)
class RicConfig:
    ric_id: str
    managed_element_ids: tuple[str, ...] = ()
    state: str = "AVAILABLE"
    policy_types: tuple[str, ...] = ()
    base_url: str | None = None
    """A1-P v2.0.0 root of a real Near-RT RIC (``/A1-P/v2`` is appended); None: in memory."""


@dataclass(frozen=True, slots=True)
class SimulatorConfig:
    """Which RICs exist, their state and the policy types each supports."""

    rics: tuple[RicConfig, ...]
    a1p_timeout_s: float = A1P_TIMEOUT_S
    """Seconds an A1-P call to a RIC with a ``baseUrl`` may take."""
    resync_interval_s: float = RESYNC_INTERVAL_S
    """Seconds before an UNAVAILABLE RIC with a ``baseUrl`` is synchronised again."""

    @classmethod
    def default(cls) -> SimulatorConfig:
        """One available RIC ``ric1`` that supports every shipped type."""
        return cls((RicConfig("ric1", policy_types=shipped_type_ids()),))

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SimulatorConfig:
        """This simulator's ``{"rics": [...]}``, or an O-RAN SC A1-PMS application configuration
        ``{"config": {"ric": [{"name", "baseUrl", "managedElementIds"}]}}`` as it is."""
        if "config" in data and "rics" not in data:
            rics = tuple(_from_a1pms(ric) for ric in data["config"].get("ric", []))
        else:
            rics = tuple(_ric(ric) for ric in data.get("rics", []))
        return cls(
            rics,
            a1p_timeout_s=float(data.get("a1pTimeoutSeconds", A1P_TIMEOUT_S)),
            resync_interval_s=float(data.get("resyncIntervalSeconds", RESYNC_INTERVAL_S)),
        )

    @classmethod
    def from_file(cls, path: str | Path) -> SimulatorConfig:
        return cls.from_dict(json.loads(Path(path).read_text()))

    def with_rics(self, urls: Iterable[tuple[str, str]]) -> SimulatorConfig:
        """This config with RICs reached over A1-P: each ``(ricId, baseUrl)`` replaces the RIC of
        that id (keeping its managed elements) or is added after the others."""
        rics = {r.ric_id: r for r in self.rics}
        for ric_id, url in urls:
            old = rics.get(ric_id)
            elements = old.managed_element_ids if old else ()
            rics[ric_id] = RicConfig(ric_id, elements, "UNAVAILABLE", (), _url(ric_id, url))
        return replace(self, rics=tuple(rics.values()))


def parse_ric_url(text: str) -> tuple[str, str]:
    """``ric2=http://127.0.0.1:8085`` -> ``("ric2", "http://127.0.0.1:8085")``."""
    ric_id, sep, url = text.partition("=")
    if not sep or not ric_id:
        raise ValueError(f"expected RIC_ID=URL, got {text!r}")
    return ric_id, _url(ric_id, url)


def _ric(ric: Mapping[str, Any]) -> RicConfig:
    ric_id = ric["ricId"]
    elements = tuple(ric.get("managedElementIds", ()))
    if ric.get("baseUrl") is not None:
        # A real RIC's state and types are what it says, not what a file says.
        fixed = sorted({"state", "policyTypes"} & ric.keys())
        if fixed:
            raise ValueError(f"RIC {ric_id!r}: {', '.join(fixed)} cannot be set with baseUrl")
        return RicConfig(ric_id, elements, "UNAVAILABLE", (), _url(ric_id, ric["baseUrl"]))
    state = ric.get("state", "AVAILABLE")
    if state not in RIC_STATES:
        raise ValueError(f"RIC {ric_id!r}: state {state!r} not in {RIC_STATES}")
    types = tuple(ric.get("policyTypes", shipped_type_ids()))
    return RicConfig(ric_id, elements, state, types)


def _from_a1pms(ric: Mapping[str, Any]) -> RicConfig:
    ric_id = ric["name"]
    elements = tuple(ric.get("managedElementIds", ()))
    return RicConfig(ric_id, elements, "UNAVAILABLE", (), _url(ric_id, ric["baseUrl"]))


def _url(ric_id: str, url: Any) -> str:
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise ValueError(f"RIC {ric_id!r}: baseUrl {url!r} is not an http(s) URL")
    return url.rstrip("/")
