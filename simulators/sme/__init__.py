"""SME / CAPIF core simulator: TS 29.222 as O-RAN SC capifcore serves it (see README.md)."""

from simulators.sme.app import create_app, reset, state
from simulators.sme.capif import Capif, CapifProblem, DiscoveryQuery
from simulators.sme.platform import (
    A1PMS_API_NAME,
    A1PMS_V3_RESOURCE,
    ICS_API_NAME,
    ICS_CONSUMER_RESOURCE,
    onboard_invoker,
    seed_nonrtric,
)

__all__ = [
    "A1PMS_API_NAME",
    "A1PMS_V3_RESOURCE",
    "ICS_API_NAME",
    "ICS_CONSUMER_RESOURCE",
    "Capif",
    "CapifProblem",
    "DiscoveryQuery",
    "create_app",
    "onboard_invoker",
    "reset",
    "seed_nonrtric",
    "state",
]
