"""The policy decision log: OPA's entry shape, kept in the journal (SQLite and PostgreSQL),
found by decision id and by cell, and served by the API."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from rapp.api import create_app
from rapp.decision_log import log_entries
from rapp.domain import Action, Decision
from rapp.policy import RegoPolicyEngine, load_policy_set
from rapp.policy.engine import rfc3339
from rapp.store import Journal
from tests.test_store import journal  # noqa: F401  (the SQLite and PostgreSQL journals)

POLICIES = Path(__file__).parents[1] / "policies"
NOW = datetime(2026, 11, 24, 10, 16, tzinfo=UTC)
CELL = "SubNetwork=site-03,ManagedElement=gnb-0011,GNBDUFunction=1,NRCellDU=2"


def decisions() -> list[Decision]:
    rop = datetime(2026, 11, 24, 10, 15, tzinfo=UTC)
    return [
        Decision.new(
            Action.SCALE_OUT,
            "free5gc-upf-site-03",
            [CELL],
            rop,
            "5G",
            "10G",
            {"forecast_max": 91.0},
        ),
        Decision.new(
            Action.SCALE_OUT,
            "free5gc-upf-site-07",
            ["other"],
            rop,
            "5G",
            "10G",
            {"forecast_max": 95.0},
        ),
        Decision.new(
            Action.SCALE_OUT,
            "free5gc-upf-site-01",
            ["x"],
            rop,
            "5G",
            "10G",
            {"forecast_max": float("nan")},
        ),  # not JSON: the engine cannot judge it
    ]


def logged() -> list[dict]:
    engine = RegoPolicyEngine(load_policy_set(POLICIES))
    batch = decisions()
    verdicts = engine.evaluate(batch, now=NOW)
    return log_entries(
        batch, verdicts, now=rfc3339(NOW), query=engine.query, labels={"engine": "regorus"}
    )


def test_entries_have_opas_shape_and_a_failed_evaluation_an_error() -> None:
    allowed, denied, failed = logged()
    assert set(allowed) == {
        "decision_id",
        "path",
        "input",
        "result",
        "timestamp",
        "bundles",
        "labels",
    }
    assert allowed["path"] == "rapp/scaling/verdict"
    assert allowed["input"]["now"] == "2026-11-24T10:16:00Z"
    assert allowed["input"]["decision"]["cells"] == [CELL]
    assert allowed["result"]["allow"] is True
    revision = load_policy_set(POLICIES).revision
    assert allowed["bundles"] == {"rapp": {"revision": revision}}
    assert denied["result"] == {
        "allow": False,
        "reasons": [
            "free5gc-upf-site-07: protected: site-07 is under change freeze for the stadium event"
        ],
    }
    assert "result" not in failed
    assert failed["error"]["message"].startswith("policy engine error: decision is not JSON")
    assert len({e["decision_id"] for e in (allowed, denied, failed)}) == 3


def test_the_journal_finds_entries_by_decision_and_by_cell(journal: Journal) -> None:  # noqa: F811
    entries = logged()
    journal.decision_log.record(entries)
    allowed = entries[0]
    rapp_id = allowed["input"]["decision"]["id"]
    assert journal.decision_log.query(decision_id=rapp_id) == [allowed]
    assert journal.decision_log.query(decision_id=allowed["decision_id"]) == [allowed]
    assert journal.decision_log.query(cell=CELL) == [allowed]
    assert journal.decision_log.query(cell="nowhere") == []
    assert len(journal.decision_log.query()) == 3
    [failed] = journal.decision_log.query(decision_id=entries[2]["decision_id"])
    assert failed["input"]["decision"]["evidence"]["forecast_max"] is None  # NaN kept as null
    assert len(journal.decision_log.query(limit=2)) == 2
    journal.decision_log.record([])  # nothing to write is not an error


def test_the_api_serves_the_log(tmp_path: Path) -> None:
    store = Journal(f"sqlite:///{tmp_path / 'journal.sqlite'}")
    entries = logged()
    store.decision_log.record(entries)
    client = TestClient(create_app(store, dict))
    by_cell = client.get("/api/v1/policies/decisions", params={"cell": CELL}).json()
    assert [e["decision_id"] for e in by_cell] == [entries[0]["decision_id"]]
    assert len(client.get("/api/v1/policies/decisions").json()) == 3
    store.close()
