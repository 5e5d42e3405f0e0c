"""The policy decision log: every evaluation of the gate, in OPA's decision-log shape.

An auditor asks "why was this allowed?" long after the fact, and a policy author asks "what did
my rule see?". Each entry holds what OPA's own decision logs hold (``decision_id``, ``path``,
``input``, ``result``, ``timestamp``, the policy revision under ``bundles``), so the same tools
read both; it is kept in the journal's database, indexed by the rApp's decision id and by cell.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa

from rapp.domain import Decision, Verdict
from rapp.policy.engine import rfc3339

_meta = sa.MetaData()

entries = sa.Table(
    "policy_decisions",
    _meta,
    sa.Column("id", sa.String(36), primary_key=True),  # OPA's decision_id
    sa.Column("rapp_decision", sa.String(64), nullable=False, index=True),
    sa.Column("timestamp", sa.DateTime(timezone=True), nullable=False, index=True),
    sa.Column("body", sa.Text, nullable=False),
)
entry_cells = sa.Table(
    "policy_decision_cells",
    _meta,
    sa.Column("entry", sa.String(36), sa.ForeignKey("policy_decisions.id"), primary_key=True),
    sa.Column("cell", sa.String(512), primary_key=True, index=True),
)

ENGINE_ERROR_PREFIX = "policy engine error: "


def log_entries(
    decisions: Sequence[Decision],
    verdicts: Sequence[Verdict],
    *,
    now: str,
    query: str,
    labels: Mapping[str, str] | None = None,
    context: Sequence[Mapping[str, Any]] | None = None,
) -> list[dict[str, Any]]:
    """One OPA-shaped entry per evaluation. A verdict the engine failed to give (fail closed)
    has no ``result`` and an ``error``, as OPA logs a failed query."""
    stamp = rfc3339(datetime.now(UTC))
    out = []
    extra = context if context is not None else [{}] * len(decisions)
    for decision, verdict, more in zip(decisions, verdicts, extra, strict=True):
        entry: dict[str, Any] = {
            "decision_id": str(uuid.uuid4()),
            "path": query.removeprefix("data.").replace(".", "/"),
            "input": {**more, "decision": decision.to_dict(), "now": now},
            "timestamp": stamp,
            "bundles": {"rapp": {"revision": verdict.policy_revision}},
            "labels": {"app": "rapp", **(labels or {})},
        }
        failed = [r for r in verdict.reasons if r.startswith(ENGINE_ERROR_PREFIX)]
        if failed and not verdict.allow:
            entry["error"] = {"code": "eval_error", "message": failed[0]}
        else:
            entry["result"] = {"allow": verdict.allow, "reasons": list(verdict.reasons)}
            if verdict.obligations:
                entry["result"]["obligations"] = [dict(o) for o in verdict.obligations]
        out.append(entry)
    return out


def _finite(value: Any) -> Any:
    """``value`` with NaN and infinities as null: the log is read as standard JSON (an API
    response, a log shipper), and a decision the engine refused for them must still be kept."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, Mapping):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    return value


class DecisionLog:
    """Entries in the journal's database; safe to call from any thread."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        _meta.create_all(engine)

    def record(self, logged: Iterable[Mapping[str, Any]]) -> None:
        rows, cells = [], []
        for entry in logged:
            decision = entry["input"]["decision"]
            rows.append(
                {
                    "id": entry["decision_id"],
                    "rapp_decision": str(decision.get("id", "")),
                    "timestamp": datetime.fromisoformat(entry["timestamp"]),
                    "body": json.dumps(_finite(entry), separators=(",", ":"), allow_nan=False),
                }
            )
            cells += [
                {"entry": entry["decision_id"], "cell": c} for c in dict.fromkeys(decision["cells"])
            ]
        if not rows:
            return
        with self.engine.begin() as conn:
            conn.execute(entries.insert(), rows)
            if cells:
                conn.execute(entry_cells.insert(), cells)

    def query(
        self, *, decision_id: str | None = None, cell: str | None = None, limit: int = 100
    ) -> list[dict[str, Any]]:
        """Newest first. ``decision_id`` matches the log's own id or the rApp decision's."""
        query = sa.select(entries.c.body).order_by(entries.c.timestamp.desc()).limit(limit)
        if decision_id is not None:
            query = query.where(
                (entries.c.id == decision_id) | (entries.c.rapp_decision == decision_id)
            )
        if cell is not None:
            query = query.where(
                entries.c.id.in_(sa.select(entry_cells.c.entry).where(entry_cells.c.cell == cell))
            )
        with self.engine.connect() as conn:
            return [json.loads(body) for (body,) in conn.execute(query)]
