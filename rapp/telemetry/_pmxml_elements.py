"""Element helpers both halves of the PM XML codec use: local names and error wording.

Errors name the line of the offending element, and a value still holding an ``@placeholder@``
is refused as a template (the O1 simulators ship PM file templates) rather than reported as a
bad number or decoded into NaNs.
"""

from __future__ import annotations

import re
from typing import Any

from rapp.telemetry._ranpm_errors import DecodeError

_PLACEHOLDER = re.compile(r"@[A-Za-z][A-Za-z0-9_.-]*@")


def local_name(tag: Any) -> str:
    """The tag without its namespace; "" for comments and processing instructions."""
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


def line_of(el: Any) -> str:
    """`` (line N)`` for an error message, or "" when lxml does not know the line."""
    line = getattr(el, "sourceline", None)
    return f" (line {line})" if line else ""


def check_placeholder(value: str | None, what: str, el: Any) -> None:
    """Refuse ``value`` when it holds an unfilled template placeholder."""
    if value and "@" in value:
        m = _PLACEHOLDER.search(value)
        if m:
            raise DecodeError(
                f"unfilled template placeholder {m.group()} in {what}{line_of(el)}: this is a "
                "PM file template (e.g. an O1 simulator's), not a PM file"
            )
