"""A1 Policy Management Service simulator (O-RAN SC A1-PMS v3 API, in memory)."""

from simulators.a1pms.app import create_app
from simulators.a1pms.registry import Problem, Registry, RicConfig, SimulatorConfig

__all__ = ["Problem", "Registry", "RicConfig", "SimulatorConfig", "create_app"]
