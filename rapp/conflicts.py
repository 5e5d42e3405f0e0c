"""One decision per target and ROP: when the planner and the healer both want the same NF.

Two changes to one network function in one ROP would race in its package and its A1 policy, so
before the gate one is kept, deterministically: healing before scaling (cells that are down
must come back before the NF's capacity means anything), scale-out before scale-in (when in
doubt, keep the service), then the decision naming more cells (the larger blast radius is the
more urgent), then the lower id. The others are journalled as denied, saying which decision
they lost to and why, so an operator sees every intent the loop had. The same order ranks the
decisions kept, for policies that limit how many change per ROP (``batch_context``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from rapp.domain import Action, Decision

_RANK = {Action.HEAL: 0, Action.SCALE_OUT: 1, Action.SCALE_IN: 2}
_WHY = {
    Action.HEAL: "healing comes before scaling",
    Action.SCALE_OUT: "scale-out comes before scale-in",
}
"""Why the winner's action beats a different action (a scale-in never beats another)."""


def resolve(decisions: Sequence[Decision]) -> tuple[list[Decision], list[tuple[Decision, str]]]:
    """The decisions to judge (input order kept) and the ones set aside, each with why."""
    best: dict[str, Decision] = {}
    for d in decisions:
        held = best.get(d.target)
        if held is None or _key(d) < _key(held):
            best[d.target] = d
    kept = [d for d in decisions if best[d.target] is d]
    lost = [(d, _reason(d, best[d.target])) for d in decisions if best[d.target] is not d]
    return kept, lost


def batch_context(decisions: Sequence[Decision], *, targets_known: int) -> list[dict[str, Any]]:
    """Per decision, where it stands in this ROP for policies that limit the blast radius:
    ``batch.rank`` (0 is the most urgent, by the order above), ``batch.size`` and
    ``batch.targets_known`` (the NFs the loop knows, at least those decided on)."""
    order = sorted(range(len(decisions)), key=lambda i: _key(decisions[i]))
    rank = {i: r for r, i in enumerate(order)}
    known = max(targets_known, len({d.target for d in decisions}))
    return [
        {"batch": {"rank": rank[i], "size": len(decisions), "targets_known": known}}
        for i in range(len(decisions))
    ]


def _key(d: Decision) -> tuple[int, int, str]:
    return _RANK[d.action], -len(d.cells), d.id


def _reason(loser: Decision, winner: Decision) -> str:
    if loser.action is winner.action:
        why = "the decision naming more cells comes first"
        if len(loser.cells) == len(winner.cells):
            why = "same action and cells: the lower id is kept"
    else:
        why = _WHY[winner.action]
    return (
        f"{loser.target}: conflict in this ROP: {winner.action.value} decision {winner.id} is"
        f" kept ({why})"
    )
