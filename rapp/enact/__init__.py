"""Carrying allowed decisions out: A1 policies through A1-PMS, NF package revisions in Nephio."""

from rapp.enact.desired import a1_policy_for
from rapp.enact.saga import Enactor, launch, shutdown

__all__ = ["Enactor", "a1_policy_for", "launch", "shutdown"]
