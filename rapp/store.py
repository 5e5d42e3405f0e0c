"""The journal: every decision, its verdict and its enactment outcome; every file-ready
notification and whether its file was taken in; the latest state of every FM alarm.

A decision is written before its enactment starts, under the same id as its workflow, so nothing
is lost between planning and acting. A file-ready notification is written before its file is
fetched, so a restart resumes it and a failure keeps it, with its reason, for an operator (the
notifications' dead-letter place). Alarms are written as they arrive, because their senders
do not repeat them: a restart must not forget a raised alarm. SQLite by default (one replica),
PostgreSQL by URL (several).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Collection, Sequence
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from rapp import _journal_rows as _rows
from rapp.decision_log import DecisionLog
from rapp.domain import Alarm, Decision, FileReady, Outcome, OutcomeState, Verdict
from rapp.redact import redact_url

_meta = sa.MetaData()

decisions = sa.Table(
    "decisions",
    _meta,
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("rop", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("target", sa.String(253), nullable=False, index=True),
    sa.Column("action", sa.String(32), nullable=False),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
)
verdicts = sa.Table(
    "verdicts",
    _meta,
    sa.Column("decision_id", sa.String(64), sa.ForeignKey("decisions.id"), primary_key=True),
    sa.Column("allow", sa.Boolean, nullable=False),
    sa.Column("reasons", sa.Text, nullable=False),
    sa.Column("policy_revision", sa.String(64), nullable=False),
)
outcomes = sa.Table(
    "outcomes",
    _meta,
    sa.Column("decision_id", sa.String(64), sa.ForeignKey("decisions.id"), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("a1_policy_id", sa.String(253)),
    sa.Column("package_revision", sa.String(253)),
    sa.Column("detail", sa.Text, nullable=False, default=""),
    sa.Column("at", sa.DateTime(timezone=True), nullable=False),
)

file_ready = sa.Table(
    "file_ready",
    _meta,
    # A hash of the URL, not the URL: URLs can outgrow what a PostgreSQL btree index takes.
    sa.Column("id", sa.String(64), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("source", sa.Text, nullable=False),
    sa.Column("notification", sa.Text, nullable=False),
    sa.Column("state", sa.String(16), nullable=False, index=True),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("reason", sa.Text, nullable=False, default=""),
    sa.Column("owner", sa.String(253), nullable=False),
    sa.Column("notified_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, index=True),
)

alarms = sa.Table(
    "alarms",
    _meta,
    sa.Column("id", sa.String(64), primary_key=True),  # a hash of the alarm id, as for URLs
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("cleared", sa.Boolean, nullable=False, index=True),
    sa.Column("event_time", sa.DateTime(timezone=True), nullable=False),
)


class FileReadyState(StrEnum):
    PENDING = "pending"
    """Announced; its file is being fetched, or will be at the next start."""
    DONE = "done"
    """Its file is in state."""
    FAILED = "failed"
    """Given up (the reason says why); announcing the file again retries it."""


class Journal:
    """Decisions, verdicts, outcomes and file-ready notifications, safe to call from any thread."""

    def __init__(self, url: str) -> None:
        if url.startswith("sqlite:///") and not url.startswith("sqlite:///:memory:"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        self.engine = sa.create_engine(url, pool_pre_ping=True)
        if self.engine.dialect.name == "sqlite":
            sa.event.listen(self.engine, "connect", _sqlite_pragmas)
        _meta.create_all(self.engine)
        self.decision_log = DecisionLog(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    def ping(self) -> bool:
        try:
            with self.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1"))
        except sa.exc.SQLAlchemyError:
            return False
        return True

    def record_decision(self, decision: Decision) -> bool:
        """Journal a decision; False if it was already there (a replayed ROP)."""
        row = {
            "id": decision.id,
            "rop": decision.rop,
            "target": decision.target,
            "action": decision.action.value,
            "body": json.dumps(decision.to_dict()),
            "created_at": decision.created_at,
        }
        stmt = self._insert(decisions).values(row).on_conflict_do_nothing()
        with self.engine.begin() as conn:
            # RETURNING, not rowcount: drivers disagree on rowcount for ON CONFLICT inserts.
            inserted = conn.execute(stmt.returning(decisions.c.id)).first()
        return inserted is not None

    def record_verdict(self, verdict: Verdict) -> None:
        row = {
            "decision_id": verdict.decision_id,
            "allow": verdict.allow,
            "reasons": json.dumps(list(verdict.reasons)),
            "policy_revision": verdict.policy_revision,
        }
        self._upsert(verdicts, row, "decision_id")

    def record_outcome(self, outcome: Outcome) -> None:
        row = {
            "decision_id": outcome.decision_id,
            "state": outcome.state.value,
            "a1_policy_id": outcome.a1_policy_id,
            "package_revision": outcome.package_revision,
            "detail": outcome.detail,
            "at": outcome.at,
        }
        self._upsert(outcomes, row, "decision_id")

    def outcome(self, decision_id: str) -> Outcome | None:
        with self.engine.connect() as conn:
            row = conn.execute(
                sa.select(outcomes).where(outcomes.c.decision_id == decision_id)
            ).first()
        return None if row is None else _rows.outcome(row)

    def outcomes(self, decision_ids: Sequence[str]) -> dict[str, Outcome]:
        """The outcomes recorded so far for these decisions."""
        if not decision_ids:
            return {}
        with self.engine.connect() as conn:
            rows = conn.execute(
                sa.select(outcomes).where(outcomes.c.decision_id.in_(list(decision_ids)))
            ).all()
        return {row.decision_id: _rows.outcome(row) for row in rows}

    def latest_by_target(self, *, enacted: bool = False) -> list[Decision]:
        """The newest decision of every target: what the planner last asked for each NF; with
        ``enacted``, the newest that was enacted (what the network holds)."""
        source = decisions
        if enacted:
            done = outcomes.c.state == OutcomeState.ENACTED.value
            source = decisions.join(outcomes, (outcomes.c.decision_id == decisions.c.id) & done)
        newest = (
            sa.select(decisions.c.target, sa.func.max(decisions.c.rop).label("rop"))
            .select_from(source)
            .group_by(decisions.c.target)
            .subquery()
        )
        query = (
            sa.select(decisions.c.body)
            .select_from(source)
            .join(
                newest,
                (decisions.c.target == newest.c.target) & (decisions.c.rop == newest.c.rop),
            )
        )
        with self.engine.connect() as conn:
            return [Decision.from_dict(json.loads(b)) for (b,) in conn.execute(query)]

    def decision(self, decision_id: str) -> dict[str, Any] | None:
        """One decision with its verdict and outcome, or None."""
        rows = self._views([decisions.c.id == decision_id], limit=1)
        return rows[0] if rows else None

    def decisions(
        self,
        *,
        limit: int = 100,
        states: Sequence[OutcomeState] = (),
        target: str | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first, each with its verdict and outcome (``None`` where not reached yet)."""
        where = []
        if states:
            where.append(outcomes.c.state.in_([s.value for s in states]))
        if target:
            where.append(decisions.c.target == target)
        return self._views(where, limit=limit)

    def recent_changes(
        self, targets: Collection[str], since: datetime
    ) -> dict[str, list[Decision]]:
        """Per target, its decisions of ROPs from ``since`` on that were allowed (enacted, or
        still under way): what each went through lately, newest first. One query for a
        whole ROP's decisions."""
        found: dict[str, list[Decision]] = {t: [] for t in targets}
        if not found:
            return found
        query = (
            sa.select(decisions.c.body)
            .join(outcomes, outcomes.c.decision_id == decisions.c.id)
            .where(
                decisions.c.target.in_(sorted(found)),
                decisions.c.rop >= since,
                outcomes.c.state.in_([OutcomeState.ENACTED.value, OutcomeState.PENDING.value]),
            )
            .order_by(decisions.c.rop.desc())
        )
        with self.engine.connect() as conn:
            for (body,) in conn.execute(query):
                decision = Decision.from_dict(json.loads(body))
                found[decision.target].append(decision)
        return found

    def record_file_ready(self, ready: FileReady, owner: str) -> bool:
        """Journal a notification as pending for ``owner`` (the replica that fetches it); True if
        that caller is to fetch it: a new URL, or one that failed before (retried from scratch).
        False for a URL pending or done: the same file announced twice is fetched once."""
        now = datetime.now(UTC)
        row = {
            "id": _url_key(ready.url),
            "url": ready.url,
            "source": ready.source,
            "notification": json.dumps(ready.to_dict()),
            "state": FileReadyState.PENDING.value,
            "attempts": 0,
            "reason": "",
            "owner": owner,
            "notified_at": ready.notified_at,
            "created_at": now,
            "updated_at": now,
        }
        insert = self._insert(file_ready).values(row).on_conflict_do_nothing()
        reopen = (
            sa.update(file_ready)
            .where(
                file_ready.c.id == row["id"],
                file_ready.c.state == FileReadyState.FAILED.value,
            )
            .values({k: v for k, v in row.items() if k not in ("id", "created_at")})
        )
        with self.engine.begin() as conn:
            if conn.execute(insert.returning(file_ready.c.id)).first() is not None:
                return True
            # Only one of several concurrent re-announcements finds it still failed.
            return conn.execute(reopen.returning(file_ready.c.id)).first() is not None

    def record_fetch_attempt(self, url: str) -> int:
        """Count one more fetch of ``url`` before it starts, so an attempt cut short by a crash
        counts too; the attempts made so far, this one included."""
        stmt = (
            sa.update(file_ready)
            .where(file_ready.c.id == _url_key(url))
            .values(attempts=file_ready.c.attempts + 1, updated_at=datetime.now(UTC))
            .returning(file_ready.c.attempts)
        )
        with self.engine.begin() as conn:
            attempts = conn.execute(stmt).scalar_one_or_none()
        if attempts is None:
            raise KeyError(f"no file-ready notification for {redact_url(url)} in the journal")
        return int(attempts)

    def record_fetch_result(self, url: str, state: FileReadyState, reason: str = "") -> None:
        """Where a fetch of ``url`` stands: done, failed (``reason`` says why), or still pending
        with the reason of the last transient failure."""
        stmt = (
            sa.update(file_ready)
            .where(file_ready.c.id == _url_key(url))
            .values(state=state.value, reason=reason, updated_at=datetime.now(UTC))
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)

    def pending_file_ready(self, owner: str) -> list[FileReady]:
        """The notifications ``owner`` had not finished (a restart in between), oldest first."""
        query = (
            sa.select(file_ready.c.notification)
            .where(
                file_ready.c.state == FileReadyState.PENDING.value,
                file_ready.c.owner == owner,
            )
            .order_by(file_ready.c.created_at, file_ready.c.id)
        )
        with self.engine.connect() as conn:
            return [FileReady.from_dict(json.loads(n)) for (n,) in conn.execute(query)]

    def file_ready_notifications(
        self, *, limit: int = 100, states: Sequence[FileReadyState] = ()
    ) -> list[dict[str, Any]]:
        """Most recently changed first, with state, attempts and reason; URLs without their
        user info (the journal keeps it to fetch, answers never show it)."""
        query = sa.select(file_ready).order_by(file_ready.c.updated_at.desc(), file_ready.c.id)
        if states:
            query = query.where(file_ready.c.state.in_([s.value for s in states]))
        with self.engine.connect() as conn:
            rows = conn.execute(query.limit(limit)).mappings().all()
        return [_rows.file_ready_view(row) for row in rows]

    def record_alarms(self, changes: Sequence[Alarm]) -> None:
        """Keep the newest state of each alarm: an older event (several replicas, a late
        delivery) never overwrites a newer one, and on a tie the clear wins, as in AlarmBook."""
        if not changes:
            return
        rows = {
            key: {
                "id": key,
                "body": json.dumps(a.to_dict()),
                "cleared": a.cleared,
                "event_time": a.event_time,
            }
            for a in changes
            for key in (_url_key(a.alarm_id),)
        }  # one row per alarm (an upsert may not touch a row twice); later changes are newer

        insert = self._insert(alarms)
        newer = sa.or_(
            insert.excluded.event_time > alarms.c.event_time,
            sa.and_(insert.excluded.event_time == alarms.c.event_time, insert.excluded.cleared),
        )
        stmt = insert.on_conflict_do_update(
            index_elements=["id"],
            set_={c: insert.excluded[c] for c in ("body", "cleared", "event_time")},
            where=newer,
        )
        with self.engine.begin() as conn:
            conn.execute(stmt, list(rows.values()))

    def alarms(self, *, cleared_since: datetime | None = None) -> list[Alarm]:
        """Every active alarm, and cleared ones since ``cleared_since`` (so a raise that arrives
        after its clear stays cleared across a restart)."""
        query = sa.select(alarms.c.body)
        if cleared_since is not None:
            query = query.where(sa.or_(~alarms.c.cleared, alarms.c.event_time >= cleared_since))
        else:
            query = query.where(~alarms.c.cleared)
        with self.engine.connect() as conn:
            return [Alarm.from_dict(json.loads(b)) for (b,) in conn.execute(query)]

    def _views(self, where: list[Any], *, limit: int) -> list[dict[str, Any]]:
        query = (
            sa.select(decisions.c.body, verdicts, outcomes)
            .select_from(
                decisions.outerjoin(verdicts, verdicts.c.decision_id == decisions.c.id).outerjoin(
                    outcomes, outcomes.c.decision_id == decisions.c.id
                )
            )
            .where(*where)
            .order_by(decisions.c.rop.desc(), decisions.c.target)
            .limit(limit)
        )
        with self.engine.connect() as conn:
            rows = conn.execute(query).mappings().all()
        return [_rows.decision_view(row) for row in rows]

    def _insert(self, table: sa.Table) -> Any:
        dialect = postgresql if self.engine.dialect.name == "postgresql" else sqlite
        return dialect.insert(table)

    def _upsert(self, table: sa.Table, row: dict[str, Any], key: str) -> None:
        stmt = self._insert(table).values(row)
        stmt = stmt.on_conflict_do_update(
            index_elements=[key], set_={k: v for k, v in row.items() if k != key}
        )
        with self.engine.begin() as conn:
            conn.execute(stmt)


def _url_key(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    # WAL lets the API read while the loop and the enactor write.
    cursor = dbapi_conn.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
