"""Porch (Nephio package orchestration) simulator: ``porch.kpt.dev/v1alpha1`` over real git
repositories, enforcing Porch's lifecycle and conflict rules, with an admin API for faults."""

from simulators.porch.app import BASE_PATH, create_app
from simulators.porch.errors import StatusError
from simulators.porch.store import DEFAULT_GATE, Store

__all__ = ["BASE_PATH", "DEFAULT_GATE", "StatusError", "Store", "create_app"]
