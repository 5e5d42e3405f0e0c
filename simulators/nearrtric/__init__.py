"""Near-RT RIC simulator: the RIC side of O-RAN A1-P v2.0.0 (``/A1-P/v2``), in memory."""

from simulators.nearrtric.app import create_app
from simulators.nearrtric.ric import A1Problem, NearRtRic, PolicyType, load_types

__all__ = ["A1Problem", "NearRtRic", "PolicyType", "create_app", "load_types"]
