"""Keep credentials out of what the rApp says: logs, errors, the journal, API answers."""

from __future__ import annotations

import re

_USERINFO = re.compile(r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)[^/\s'\"]*@")


def redact_url(text: str) -> str:
    """Every URL in ``text`` without its userinfo: ``https://user:token@host/r.git`` ->
    ``https://***@host/r.git``. Works on free text (git and httpx quote URLs in their errors)
    and leaves scp-like ``git@host:repo`` alone."""
    return _USERINFO.sub(r"\g<scheme>***@", text)
