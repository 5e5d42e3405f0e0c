"""RFC 7807 problems: the one way the simulator's rules say no.

The rules raise ``Problem``; the HTTP layer turns it into ``application/problem+json``, which is
what a real A1-PMS sends and what its clients parse.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any


class Problem(Exception):
    """An RFC 7807 problem: the HTTP layer turns it into ``application/problem+json``."""

    def __init__(self, status: int, detail: str, *, title: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title or HTTPStatus(status).phrase
        self.detail = detail

    def to_dict(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        return body
