"""A1 Policy Management Service simulator (O-RAN SC A1-PMS v3 API, in memory), with an admin API."""

from simulators.a1pms.app import create_app
from simulators.a1pms.config import RicConfig, SimulatorConfig
from simulators.a1pms.problem import Problem
from simulators.a1pms.registry import Registry

__all__ = ["Problem", "Registry", "RicConfig", "SimulatorConfig", "create_app"]
