"""Nephio deployment-repository simulator: seeds bare git repos with kpt packages laid out as Porch
publishes them, for demos and tests of the rApp's git package writer."""

from simulators.nephio.seed import BLUEPRINT, SEED_WORKSPACE, load_blueprint, seed_repository

__all__ = ["BLUEPRINT", "SEED_WORKSPACE", "load_blueprint", "seed_repository"]
