"""An OPA server for the rApp's sidecar mode: OPA's REST Policy, Data and Health APIs, evaluated
by the real OPA (its Go library), so a test or a benchmark talks HTTP to actual OPA semantics."""

from simulators.opa.app import create_app

__all__ = ["create_app"]
