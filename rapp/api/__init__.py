"""FastAPI app: health, readiness and the decision journal."""

from rapp.api.app import create_app

__all__ = ["create_app"]
