"""``CapifProblem``: how every refusal of the CAPIF core simulator is answered."""

from __future__ import annotations

from typing import Any

from simulators.problems import Problem


class CapifProblem(Problem):
    """A TS 29.122 ``ProblemDetails``: capifcore sends ``{"cause", "status"}``; the RFC 7807
    ``title``/``detail``/``type``/``instance`` are added so generic clients read it too."""

    def __init__(self, status: int, cause: str) -> None:
        super().__init__(status, cause)
        self.cause = cause

    def to_dict(self, instance: str | None = None) -> dict[str, Any]:
        return {**super().to_dict(instance), "cause": self.cause}
