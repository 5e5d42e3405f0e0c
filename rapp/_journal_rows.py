"""Journal rows as the domain and the API see them (timestamps made aware, URLs redacted)."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from rapp.domain import Outcome, OutcomeState
from rapp.redact import redact_url


def outcome(row: Any) -> Outcome:
    return Outcome(
        decision_id=row.decision_id,
        state=OutcomeState(row.state),
        a1_policy_id=row.a1_policy_id,
        package_revision=row.package_revision,
        detail=row.detail,
        at=aware(row.at),
    )


def decision_view(row: Any) -> dict[str, Any]:
    view = json.loads(row["body"])
    view["verdict"] = (
        None
        if row["allow"] is None
        else {
            "allow": bool(row["allow"]),
            "reasons": json.loads(row["reasons"]),
            "policy_revision": row["policy_revision"],
        }
    )
    view["outcome"] = (
        None
        if row["state"] is None
        else {
            "state": row["state"],
            "a1_policy_id": row["a1_policy_id"],
            "package_revision": row["package_revision"],
            "detail": row["detail"],
            "at": aware(row["at"]).isoformat(),
        }
    )
    return view


def file_ready_view(row: Any) -> dict[str, Any]:
    notification = json.loads(row["notification"])
    notification["url"] = redact_url(notification["url"])
    return {
        "url": redact_url(row["url"]),
        "source": row["source"],
        "state": row["state"],
        "attempts": row["attempts"],
        "reason": row["reason"],
        "owner": row["owner"],
        "notified_at": aware(row["notified_at"]).isoformat(),
        "created_at": aware(row["created_at"]).isoformat(),
        "updated_at": aware(row["updated_at"]).isoformat(),
        "notification": notification,
    }


def aware(ts: datetime) -> datetime:
    """SQLite hands back naive datetimes; everything in the journal is UTC."""
    return ts if ts.tzinfo else ts.replace(tzinfo=UTC)
