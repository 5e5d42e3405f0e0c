import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from rapp.api import create_app
from rapp.domain import Action, Decision, Outcome, OutcomeState, Verdict
from rapp.store import Journal

POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


@pytest.fixture(params=["sqlite", "postgresql"])
def journal(request: pytest.FixtureRequest, tmp_path) -> Iterator[Journal]:
    if request.param == "sqlite":
        j = Journal(f"sqlite:///{tmp_path / 'journal.sqlite'}")
        yield j
        j.close()
        return
    # A schema of its own per test, so runs never see each other's rows.
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    j = Journal(f"{POSTGRES}?options=-csearch_path%3D{schema}")
    yield j
    j.close()
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


def decision(target: str, hour: int, action: Action = Action.SCALE_OUT) -> Decision:
    return Decision.new(
        action,
        target,
        ["cell-1"],
        datetime(2026, 3, 1, hour, tzinfo=UTC),
        "5G",
        "10G",
        {"forecast_max": 91.5},
    )


def test_decision_verdict_outcome_round_trip(journal: Journal):
    d = decision("upf-a", 10)
    assert journal.record_decision(d) is True
    assert journal.record_decision(d) is False  # replayed ROP: no second row
    journal.record_verdict(Verdict(d.id, True, ("within bounds",), "rev1"))
    journal.record_outcome(Outcome(d.id, OutcomeState.PENDING))
    journal.record_outcome(Outcome(d.id, OutcomeState.ENACTED, "rapp-upf-a", "upf-a/v2", "done"))
    [row] = journal.decisions()
    assert row["id"] == d.id
    assert row["evidence"] == {"forecast_max": 91.5}
    assert row["verdict"] == {
        "allow": True,
        "reasons": ["within bounds"],
        "policy_revision": "rev1",
    }
    assert row["outcome"]["state"] == "enacted"
    assert row["outcome"]["package_revision"] == "upf-a/v2"
    assert journal.outcome(d.id).state is OutcomeState.ENACTED
    assert journal.outcome("nope") is None


def test_decisions_newest_first_and_filtered(journal: Journal):
    early, late, other = (
        decision("upf-a", 8),
        decision("upf-a", 9),
        decision("upf-b", 9, Action.SCALE_IN),
    )
    for d in (early, late, other):
        journal.record_decision(d)
    journal.record_outcome(Outcome(early.id, OutcomeState.DENIED, detail="protected"))
    journal.record_outcome(Outcome(late.id, OutcomeState.ENACTED))
    assert [r["id"] for r in journal.decisions()] == [late.id, other.id, early.id]
    assert [r["id"] for r in journal.decisions(states=[OutcomeState.DENIED])] == [early.id]
    assert [r["id"] for r in journal.decisions(target="upf-b")] == [other.id]
    assert journal.decisions(target="upf-b")[0]["outcome"] is None
    assert len(journal.decisions(limit=1)) == 1


def test_api_serves_the_journal_and_readiness(tmp_path):
    journal = Journal(f"sqlite:///{tmp_path / 'j.sqlite'}")
    d = decision("upf-a", 10)
    journal.record_decision(d)
    journal.record_verdict(Verdict(d.id, False, ("upf-a is protected",), "rev1"))
    journal.record_outcome(Outcome(d.id, OutcomeState.DENIED, detail="upf-a is protected"))
    checks = {"kafka": False, "journal": True}
    client = TestClient(create_app(journal, lambda: checks))
    assert client.get("/healthz").json() == {"status": "ok"}
    not_ready = client.get("/readyz")
    assert not_ready.status_code == 503
    assert not_ready.json()["checks"]["kafka"] is False
    checks["kafka"] = True
    assert client.get("/readyz").status_code == 200
    [row] = client.get("/api/v1/decisions", params={"state": "denied"}).json()
    assert row["verdict"]["reasons"] == ["upf-a is protected"]
    assert client.get("/api/v1/decisions", params={"state": "enacted"}).json() == []
    assert client.get("/api/v1/decisions", params={"state": "bogus"}).status_code == 422
    one = client.get(f"/api/v1/decisions/{d.id}")
    assert one.status_code == 200
    assert one.json()["outcome"]["state"] == "denied"
    assert client.get("/api/v1/decisions/nope").status_code == 404
    journal.close()


def test_metrics_are_served_in_prometheus_text(tmp_path):
    from rapp.metrics import LoopMetrics

    metrics = LoopMetrics()
    metrics.decisions.labels("scale_out", "deny").inc(2)
    journal = Journal(f"sqlite:///{tmp_path / 'j.sqlite'}")
    client = TestClient(create_app(journal, dict, metrics.registry))
    body = client.get("/metrics/").text
    assert 'rapp_decisions_total{action="scale_out",verdict="deny"} 2.0' in body
    journal.close()


def test_outcomes_and_latest_decision_per_target(journal: Journal):
    a8, a9, b9 = decision("upf-a", 8), decision("upf-a", 9), decision("upf-b", 9, Action.SCALE_IN)
    for d in (a8, a9, b9):
        journal.record_decision(d)
    journal.record_outcome(Outcome(a9.id, OutcomeState.COMPENSATED, detail="stale"))
    assert {k: v.state for k, v in journal.outcomes([a8.id, a9.id]).items()} == {
        a9.id: OutcomeState.COMPENSATED
    }
    assert journal.outcomes([]) == {}
    latest = {d.target: d for d in journal.latest_by_target()}
    assert latest["upf-a"].id == a9.id
    assert latest["upf-b"].action is Action.SCALE_IN
