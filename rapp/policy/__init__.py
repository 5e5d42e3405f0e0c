"""Policy gate: operator-written Rego judges every decision before it is enacted."""

from rapp.policy.engine import PolicyEngine, RegoPolicyEngine, failed_closed
from rapp.policy.loader import PolicyError, PolicySet, load_policy_set
from rapp.policy.testing import TestReport, TestResult, run_policy_tests

__all__ = [
    "PolicyEngine",
    "PolicyError",
    "PolicySet",
    "RegoPolicyEngine",
    "TestReport",
    "TestResult",
    "failed_closed",
    "load_policy_set",
    "run_policy_tests",
]
