"""Decisions on the same target in one ROP: one is kept, deterministically, the rest say why."""

from __future__ import annotations

from datetime import UTC, datetime

from rapp.conflicts import batch_context, resolve
from rapp.domain import Action, Decision

ROP = datetime(2026, 11, 24, 10, 15, tzinfo=UTC)


def d(action: Action, target: str, cells: int = 1, rop: datetime = ROP) -> Decision:
    capacities = ("", "") if action is Action.HEAL else ("5G", "10G")
    return Decision.new(action, target, [f"c{i}" for i in range(cells)], rop, *capacities)


def test_one_decision_per_target_healing_then_scale_out_then_more_cells():
    heal = d(Action.HEAL, "nf-a")
    out_a = d(Action.SCALE_OUT, "nf-a", cells=3)
    out_b = d(Action.SCALE_OUT, "nf-b", cells=1)
    in_b = d(Action.SCALE_IN, "nf-b", cells=5)
    alone = d(Action.SCALE_IN, "nf-c")
    kept, lost = resolve([out_a, heal, in_b, out_b, alone])
    assert kept == [heal, out_b, alone]  # input order kept
    reasons = {loser.id: why for loser, why in lost}
    assert reasons[out_a.id] == (
        f"nf-a: conflict in this ROP: heal decision {heal.id} is kept "
        "(healing comes before scaling)"
    )
    assert reasons[in_b.id] == (
        f"nf-b: conflict in this ROP: scale_out decision {out_b.id} is kept "
        "(scale-out comes before scale-in)"
    )


def test_the_same_action_twice_keeps_the_larger_blast_radius_then_the_lower_id():
    small, large = d(Action.SCALE_OUT, "nf", cells=1), d(Action.SCALE_OUT, "nf", cells=4)
    kept, [(loser, why)] = resolve([small, large])
    assert (kept, loser) == ([large], small)
    assert why.endswith("(the decision naming more cells comes first)")
    later = d(Action.SCALE_OUT, "nf", cells=4, rop=datetime(2026, 11, 24, 10, 30, tzinfo=UTC))
    kept, [(loser, why)] = resolve([later, large])
    assert kept == [min(later, large, key=lambda x: x.id)]
    assert why.endswith("(same action and cells: the lower id is kept)")
    assert resolve([]) == ([], [])


def test_the_batch_context_ranks_the_most_urgent_first_and_counts_the_known_nfs():
    out = d(Action.SCALE_OUT, "nf-a", cells=1)
    heal = d(Action.HEAL, "du-1")
    wide = d(Action.SCALE_OUT, "nf-b", cells=3)
    context = batch_context([out, heal, wide], targets_known=2)
    assert [c["batch"]["rank"] for c in context] == [2, 0, 1]
    assert {c["batch"]["size"] for c in context} == {3}
    assert {c["batch"]["targets_known"] for c in context} == {3}  # at least those decided on
    assert batch_context([out], targets_known=20)[0]["batch"]["targets_known"] == 20
