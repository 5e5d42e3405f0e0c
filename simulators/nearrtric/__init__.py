"""Near-RT RIC simulator: the RIC side of O-RAN A1-P v2.0.0 (``/A1-P/v2``), in memory."""

from simulators.nearrtric.app import create_app
from simulators.nearrtric.ric import NearRtRic, PolicyType, Problem, load_types

__all__ = ["NearRtRic", "PolicyType", "Problem", "create_app", "load_types"]
