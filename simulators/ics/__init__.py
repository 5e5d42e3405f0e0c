"""A small Information Coordination Service (ICS / DME) simulator: the data-consumer API."""

from simulators.ics.app import PM_DATA, create_app

__all__ = ["PM_DATA", "create_app"]
