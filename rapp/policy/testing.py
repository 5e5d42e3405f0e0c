"""Run the ``test_*`` rules of a policy directory, like ``opa test``, on the embedded engine.

Operators' tests must run on the same engine that judges decisions in production, so a policy
that passes here behaves the same when it gates the network.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

import regorus

from rapp.policy.loader import (
    TEST_PREFIX,
    PolicyError,
    PolicySet,
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
    output: tuple[str, ...] = ()
    """What the test printed (``print()``), shown for a failure as ``opa test`` does."""

    @property
    def explanation(self) -> str:
        """The error, with what the test printed: a data check prints each problem."""
        why = self.error or "failed"
        return f"{why}: {'; '.join(self.output)}" if self.output else why


@dataclass(frozen=True, slots=True)
class FileCoverage:
    """Which evaluable lines of one policy file the tests reached."""

    path: str
    covered: frozenset[int]
    not_covered: frozenset[int]

    @property
    def percent(self) -> float:
        total = len(self.covered) + len(self.not_covered)
        return 100.0 * len(self.covered) / total if total else 100.0

    def missed_ranges(self) -> str:
        """The lines no test reached, as ``3-5, 9``."""
        return _ranges(sorted(self.not_covered))


@dataclass(frozen=True, slots=True)
class TestReport:
    """All test results of one policy directory, in source order."""

    __test__ = False

    results: tuple[TestResult, ...]
    coverage: tuple[FileCoverage, ...] = field(default=())
    """Per policy file (tests excluded), when asked for: what the tests exercised."""

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


def run_policy_tests(directory: Path, *, coverage: bool = False) -> TestReport:
    """Evaluate every ``test_*`` rule of every package under ``directory``; with ``coverage``,
    also which lines of the policies (not the tests) they reached, like ``opa test --coverage``.

    Raises ``PolicyError`` when the set does not load, as ``opa test`` stops on a parse error.
    """
    return run_policy_set_tests(load_policy_set(Path(directory)), coverage=coverage)


def run_policy_set_tests(policy_set: PolicySet, *, coverage: bool = False) -> TestReport:
    """``run_policy_tests`` on a set already loaded (a reload checks its candidate this way)."""
    engine = compile_engine(policy_set)
    engine.set_enable_coverage(coverage)
    engine.set_gather_prints(True)
    tests = list(dict.fromkeys((pkg, rule) for pkg, rule in iter_rules(engine) if _is_test(rule)))
    results, reports = [], []
    for pkg, rule in tests:
        # A fresh clone per test: no input or state leaks from one test into the next.
        clone = engine.clone()
        result = _run_one(clone, pkg, rule)
        results.append(replace(result, output=tuple(clone.take_prints())))
        if coverage:
            reports.append(json.loads(clone.get_coverage_report_as_json()))
    return TestReport(tuple(results), _merge(reports) if coverage else ())


def _merge(reports: Iterable[dict]) -> tuple[FileCoverage, ...]:
    """One coverage per file over all tests: a line is covered if any test reached it."""
    covered: dict[str, set[int]] = {}
    seen: dict[str, set[int]] = {}
    for report in reports:
        for f in report["files"]:
            if f["path"].endswith("_test.rego"):
                continue
            covered.setdefault(f["path"], set()).update(f["covered"])
            seen.setdefault(f["path"], set()).update(f["covered"], f["not_covered"])
    return tuple(
        FileCoverage(path, frozenset(covered[path]), frozenset(seen[path] - covered[path]))
        for path in sorted(seen)
    )


def _ranges(lines: list[int]) -> str:
    spans: list[list[int]] = []
    for line in lines:
        if spans and line == spans[-1][1] + 1:
            spans[-1][1] = line
        else:
            spans.append([line, line])
    return ", ".join(f"{a}-{b}" if a != b else str(a) for a, b in spans)


def _is_test(rule: str) -> bool:
    # A ref head such as test_a.b is a partial object, not a test.
    return rule.startswith(TEST_PREFIX) and "." not in rule


def _run_one(engine: regorus.Engine, package: str, rule: str) -> TestResult:
    short = package.removeprefix("data.")
    started = time.perf_counter()
    try:
        value = engine.eval_rule(f"{package}.{rule}")
    except Exception as exc:
        error: str | None = str(PolicyError.from_engine(exc))
        passed = False
    else:
        passed = value is True
        error = None if passed else ("undefined" if value is None else f"evaluated to {value!r}")
    return TestResult(short, rule, passed, error, time.perf_counter() - started)
