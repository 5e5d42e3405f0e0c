"""The registry's records: a Near-RT RIC as A1-PMS sees it, and a policy A1-PMS holds."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from simulators.a1pms.southbound import A1P


@dataclass(slots=True)
class Ric:
    ric_id: str
    managed_element_ids: list[str]
    state: str
    policy_types: list[str]
    a1p: A1P | None = None
    """The RIC's A1-P client when it has a ``baseUrl``; None when it is simulated in memory."""
    last_attempt: float = float("-inf")
    """When a synchronisation last started or a call last found the RIC unreachable."""

    def to_dict(self) -> dict[str, Any]:
        return {
            "ricId": self.ric_id,
            "managedElementIds": list(self.managed_element_ids),
            "state": self.state,
            "policyTypeIds": list(self.policy_types),
        }


@dataclass(slots=True)
class Policy:
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
