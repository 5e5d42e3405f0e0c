"""Cell ids from DNs: a measured entity's DN joined with an object instance id.

Shared by the ranpm JSON and the PM XML codecs, so a cell has the same id whichever format
reported it. Some senders repeat the tail of the entity DN in the instance id
(``ManagedElement=ME-1,ENodeBFunction=1`` under ``...,ManagedElement=ME-1``); when the id's first
RDN occurs in the entity DN (same attribute type and value), only the part of the entity DN
before that RDN is joined, so no RDN appears twice.
"""

from __future__ import annotations

import re
from collections.abc import Callable

_RDN_SPLIT = re.compile(r"(?<!\\),")  # RDN separator: a comma not escaped by a backslash
_JOINERS: dict[str, Callable[[str], str]] = {}
_JOINERS_MAX = 65_536


def join_dn(dn: str) -> Callable[[str], str]:
    """``inst -> cell``: ``dn`` prefixed to ``inst``, overlap-merged on ``inst``'s first RDN."""
    if not dn:
        return lambda inst: inst
    rdns = _rdns(dn)
    position: dict[tuple[str, str], int] = {}
    for i, rdn in enumerate(rdns):
        key = _rdn_key(rdn)
        if key is not None:
            position.setdefault(key, i)  # the first occurrence: the longest overlap
    prefix = f"{dn},"
    cache: dict[str, str] = {}

    def join(inst: str) -> str:
        first = _rdns(inst)[0] if "\\" in inst else inst.partition(",")[0]
        cell = cache.get(first)
        if cell is None:
            key = _rdn_key(first)
            at = position.get(key) if key is not None else None
            cell = prefix if at is None else "".join(f"{r}," for r in rdns[:at])
            cache[first] = cell
        return cell + inst

    return join


def cached_joiner(dn: str) -> Callable[[str], str]:
    """``join_dn(dn)``, kept across records: a stream repeats the same few entity DNs, and each
    joiner caches its own overlap decisions. Bounded: cleared when it holds too many DNs."""
    join = _JOINERS.get(dn)
    if join is None:
        if len(_JOINERS) >= _JOINERS_MAX:
            _JOINERS.clear()
        join = _JOINERS[dn] = join_dn(dn)
    return join


def _rdns(dn: str) -> list[str]:
    return _RDN_SPLIT.split(dn) if "\\" in dn else dn.split(",")


def _rdn_key(rdn: str) -> tuple[str, str] | None:
    kind, eq, value = rdn.partition("=")
    return (kind.strip(), value.strip()) if eq else None
