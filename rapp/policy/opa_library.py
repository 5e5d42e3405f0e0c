"""``OpaLibraryEngine``: the policy set judged by the real Open Policy Agent, in process.

This is OPA itself (v1.20, its Go library through ``opa-golib-python-bindings``), so it is the
reference the embedded engine is held to: the differential tests run every policy test and
thousands of generated decisions through both and expect the same verdicts. It is installed by
``make install`` (``pip install --no-deps --ignore-requires-python``: the wheel declares Python
3.14 but runs on 3.11), and imported only when used.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from rapp.policy.engine import DEFAULT_QUERY, Judge
from rapp.policy.loader import PolicyError, PolicySet, load_policy_set

# OPA words errors "<code>: N error(s) occurred: file:line: rego_<kind>_error: message".
_LOCATED = re.compile(
    r"(?P<file>[^\s:]+\.rego):(?P<line>\d+):\s*(?:rego_\w+_error:\s*)?(?P<msg>.+)"
)


class OpaLibraryEngine(Judge):
    """``PolicyEngine`` on the real OPA Go library (one engine, OPA serialises evaluations)."""

    def __init__(self, policy_set: PolicySet, *, query: str = DEFAULT_QUERY) -> None:
        from opa_bindings import OpaEngine, OpaError  # the reference is optional at run time

        super().__init__(policy_set, query=query)
        self._error_type = OpaError
        self._engine = OpaEngine()
        try:
            self._engine.add_data(policy_set.data)
            for name in sorted(policy_set.modules):
                self._engine.add_policy(name, policy_set.modules[name])
        except OpaError as exc:
            self._engine.close()
            raise opa_error(exc) from None
        self._path = query.removeprefix("data.")

    @classmethod
    def from_directory(cls, directory: Path, **kw: Any) -> OpaLibraryEngine:
        return cls(load_policy_set(directory), **kw)

    def close(self) -> None:
        self._engine.close()

    def eval_rule(self, rule: str, document: Any = None) -> Any:
        """The value of ``data.<rule>`` (None when undefined), for tests and tools."""
        from opa_bindings import OpaUndefinedError

        try:
            return self._engine.eval_document(rule.removeprefix("data."), document)
        except OpaUndefinedError:
            return None
        except self._error_type as exc:
            raise opa_error(exc) from None

    def _prepare(self) -> None:
        return None

    def _evaluate(self, prepared: None, document: str) -> Any:
        return self.eval_rule(self._path, json.loads(document))


def opa_error(exc: Exception) -> PolicyError:
    """OPA's error as a ``PolicyError`` located at ``file:line`` when OPA says where."""
    text = getattr(exc, "message", str(exc))
    located = _LOCATED.search(text)
    if located is None:
        return PolicyError(text.strip().splitlines()[0] if text.strip() else repr(exc))
    return PolicyError(located["msg"].strip(), file=located["file"], line=int(located["line"]))
