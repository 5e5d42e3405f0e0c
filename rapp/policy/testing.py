"""Run the ``test_*`` rules of a policy directory, like ``opa test``, on the embedded engine.

Operators' tests must run on the same engine that judges decisions in production, so a policy
that passes here behaves the same when it gates the network.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import regorus

from rapp.policy.loader import (
    TEST_PREFIX,
    PolicyError,
    compile_engine,
    iter_rules,
    load_policy_set,
)


@dataclass(frozen=True, slots=True)
class TestResult:
    """One ``test_*`` rule: it passes only when it evaluates to ``true``."""

    __test__ = False  # not a pytest test class, despite the name

    package: str
    """Without the ``data.`` prefix, as ``opa test`` prints it."""
    name: str
    passed: bool
    error: str | None = None
    duration_s: float = 0.0


@dataclass(frozen=True, slots=True)
class TestReport:
    """All test results of one policy directory, in source order."""

    __test__ = False

    results: tuple[TestResult, ...]

    @property
    def passed(self) -> int:
        return sum(r.passed for r in self.results)

    @property
    def failed(self) -> int:
        return len(self.results) - self.passed

    @property
    def ok(self) -> bool:
        return self.failed == 0

    @property
    def failures(self) -> tuple[TestResult, ...]:
        return tuple(r for r in self.results if not r.passed)

    def summary(self) -> str:
        return f"{self.passed} passed, {self.failed} failed"


def run_policy_tests(directory: Path) -> TestReport:
    """Evaluate every ``test_*`` rule of every package under ``directory``.

    Raises ``PolicyError`` when the set does not load, as ``opa test`` stops on a parse error.
    """
    engine = compile_engine(load_policy_set(Path(directory)))
    tests = list(dict.fromkeys((pkg, rule) for pkg, rule in iter_rules(engine) if _is_test(rule)))
    return TestReport(tuple(_run_one(engine, pkg, rule) for pkg, rule in tests))


def _is_test(rule: str) -> bool:
    # A ref head such as test_a.b is a partial object, not a test.
    return rule.startswith(TEST_PREFIX) and "." not in rule


def _run_one(engine: regorus.Engine, package: str, rule: str) -> TestResult:
    short = package.removeprefix("data.")
    started = time.perf_counter()
    try:
        # A fresh clone per test: no input or state leaks from one test into the next.
        value = engine.clone().eval_rule(f"{package}.{rule}")
    except Exception as exc:
        error: str | None = str(PolicyError.from_engine(exc))
        passed = False
    else:
        passed = value is True
        error = None if passed else ("undefined" if value is None else f"evaluated to {value!r}")
    return TestResult(short, rule, passed, error, time.perf_counter() - started)
