import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from rapp.api import create_app
from rapp.domain import (
    Action,
    Alarm,
    Decision,
    FileReady,
    Outcome,
    OutcomeState,
    Severity,
    Verdict,
)
from rapp.store import FileReadyState, Journal

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


def file_ready(url: str, source: str = "gnb-1") -> FileReady:
    return FileReady(url, source, datetime(2026, 3, 1, 10, 5, tzinfo=UTC), "XML", "gzip")


def test_file_ready_is_journalled_once_per_url(journal: Journal):
    url = "https://pm:s3cret@files.example/A.xml.gz"
    assert journal.record_file_ready(file_ready(url), "pod-0") is True
    assert journal.record_file_ready(file_ready(url), "pod-1") is False  # pending: not twice
    assert journal.record_fetch_attempt(url) == 1
    assert journal.record_fetch_attempt(url) == 2
    journal.record_fetch_result(url, FileReadyState.PENDING, "answered 503")
    assert journal.pending_file_ready("pod-0") == [file_ready(url)]
    assert journal.pending_file_ready("pod-1") == []
    [row] = journal.file_ready_notifications()
    assert {k: row[k] for k in ("url", "source", "state", "attempts", "reason", "owner")} == {
        "url": "https://***@files.example/A.xml.gz",
        "source": "gnb-1",
        "state": "pending",
        "attempts": 2,
        "reason": "answered 503",
        "owner": "pod-0",
    }
    assert row["notification"] == {**file_ready(url).to_dict(), "url": row["url"]}
    assert row["notified_at"] == "2026-03-01T10:05:00+00:00"

    journal.record_fetch_result(url, FileReadyState.DONE)
    assert journal.record_file_ready(file_ready(url), "pod-0") is False  # done: not again
    assert journal.pending_file_ready("pod-0") == []
    with pytest.raises(KeyError, match=r"https://\*\*\*@files\.example"):
        journal.record_fetch_attempt("https://pm:s3cret@files.example/other.xml")


def test_a_failed_file_ready_is_reopened_by_a_new_announcement(journal: Journal):
    url = "https://files.example/B.xml"
    journal.record_file_ready(file_ready(url), "pod-0")
    journal.record_fetch_attempt(url)
    journal.record_fetch_result(url, FileReadyState.FAILED, "answered 404")
    [failed] = journal.file_ready_notifications(states=[FileReadyState.FAILED])
    assert (failed["reason"], failed["attempts"]) == ("answered 404", 1)
    assert journal.record_file_ready(file_ready(url, "gnb-2"), "pod-1") is True
    assert journal.record_file_ready(file_ready(url, "gnb-2"), "pod-1") is False
    [row] = journal.file_ready_notifications()
    assert {k: row[k] for k in ("source", "state", "attempts", "reason", "owner")} == {
        "source": "gnb-2",
        "state": "pending",
        "attempts": 0,
        "reason": "",
        "owner": "pod-1",
    }
    assert journal.file_ready_notifications(states=[FileReadyState.FAILED]) == []


def test_file_ready_listed_most_recent_first(journal: Journal):
    urls = [f"https://files.example/{i}.xml" for i in range(3)]
    for url in urls:
        journal.record_file_ready(file_ready(url), "pod-0")
    journal.record_fetch_result(urls[0], FileReadyState.FAILED, "bad")
    assert journal.file_ready_notifications()[0]["url"] == urls[0]
    assert len(journal.file_ready_notifications(limit=2)) == 2
    pending = journal.file_ready_notifications(states=[FileReadyState.PENDING])
    assert sorted(r["url"] for r in pending) == urls[1:]
    long_url = "https://files.example/" + "x" * 5000  # beyond what a btree index takes
    assert journal.record_file_ready(file_ready(long_url), "pod-0") is True
    assert journal.pending_file_ready("pod-0")[-1].url == long_url


def _alarm(alarm_id: str, severity: Severity, minute: int) -> Alarm:
    at = datetime(2026, 3, 1, 10, minute, tzinfo=UTC)
    return Alarm(alarm_id, "O-RU-1", f"O-RU-1/{alarm_id}", "28", severity, at, "link down")


def test_alarms_keep_the_newest_state_whatever_the_order(journal: Journal):
    raised, cleared = _alarm("a", Severity.MAJOR, 1), _alarm("a", Severity.CLEARED, 2)
    other = _alarm("b", Severity.CRITICAL, 3)
    journal.record_alarms([cleared, other])
    journal.record_alarms([raised])  # delivered late: older than the clear, ignored
    assert journal.alarms() == [other]
    assert sorted(journal.alarms(cleared_since=cleared.event_time), key=str) == sorted(
        [cleared, other], key=str
    )
    assert journal.alarms(cleared_since=cleared.event_time + timedelta(seconds=1)) == [other]
    tie = _alarm("b", Severity.CLEARED, 3)  # same time as the raise: the clear wins
    journal.record_alarms([tie])
    journal.record_alarms([other])
    assert journal.alarms() == []
    again = _alarm("a", Severity.CRITICAL, 4)
    journal.record_alarms([again, _alarm("a", Severity.MINOR, 5)])  # both changes in one call
    [row] = journal.alarms()
    assert (row.alarm_id, row.severity, row.text) == ("a", Severity.MINOR, "link down")
