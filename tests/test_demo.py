"""The demo's status line: what someone watching the demo reads every time the journal moves."""

from __future__ import annotations

from datetime import UTC, datetime

from rapp.demo import _status_line
from rapp.domain import Action, Decision

ROP = datetime(2026, 11, 24, 10, 15, tzinfo=UTC)


def row(decision: Decision, state: str, reasons: list[str]) -> dict:
    """A decision as ``GET /api/v1/decisions`` lists it."""
    allow = state != "denied"
    return {
        **decision.to_dict(),
        "verdict": {"allow": allow, "reasons": reasons},
        "outcome": {"state": state},
    }


def test_the_status_line_counts_outcomes_and_heals_and_describes_the_newest():
    assert _status_line([]) == "waiting for the first decision ..."
    scale = Decision.new(Action.SCALE_OUT, "free5gc-upf-site-01", ["c"], ROP, "5G", "10G")
    heal = Decision.new(
        Action.HEAL, "du-gnb-0003", ["a", "b"], ROP, "", "", {"kinds": ["sleeping_cell"]}
    )
    rows = [row(heal, "enacted", ["du-gnb-0003: ok"]), row(scale, "denied", ["no"])]
    assert _status_line(rows) == (
        "2 decisions, 1 heals (1 denied, 1 enacted); newest: du-gnb-0003 heal"
        " 2 cells (sleeping_cell): du-gnb-0003: ok"
    )
    assert _status_line(rows[1:]).endswith("newest: free5gc-upf-site-01 scale_out 5G->10G: no")
