"""The rApp's HTTP face: thin routes over the journal and the runtime's readiness."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import JSONResponse
from prometheus_client import CollectorRegistry, make_asgi_app

from rapp.alarms import AlarmBook
from rapp.domain import OutcomeState
from rapp.policy.bundle import read_bundle
from rapp.policy.engine import rfc3339
from rapp.policy.gate import PolicyGate
from rapp.policy.loader import PolicyError, PolicySet, load_policy_files
from rapp.store import FileReadyState, Journal

Readiness = Callable[[], Mapping[str, bool]]


def create_app(
    journal: Journal,
    readiness: Readiness,
    metrics: CollectorRegistry | None = None,
    *,
    ves: APIRouter | None = None,
    alarms: AlarmBook | None = None,
    models: Callable[[], Mapping[str, Any]] | None = None,
    anomalies: Callable[[], list[dict[str, Any]]] | None = None,
    policies: PolicyGate | None = None,
    api_keys: Mapping[str, str] | None = None,
) -> FastAPI:
    """The API over ``journal``; ``readiness`` names each dependency and whether it is up;
    ``metrics`` is served on ``/metrics`` in the Prometheus text format; ``ves`` is the VES
    event listener's router; ``alarms`` the active FM alarms; ``models`` what the loop's
    models are doing (serving version, shadow, errors, input drift); ``anomalies`` the incidents
    open at the latest decided ROP; ``policies`` the gate judging decisions; ``api_keys``
    (key -> role) turn on authorization of ``/api/v1`` by the policy set's ``rapp.api``."""
    app = FastAPI(
        title="rapp",
        summary="O-RAN rApp: forecast- and anomaly-driven, Rego-gated decisions over A1 and Nephio",
        version="0.1.0",
    )
    app.state.journal = journal
    app.state.readiness = readiness
    app.state.alarms = alarms or AlarmBook()
    app.state.models = models or dict
    app.state.anomalies = anomalies or list
    app.state.policies = policies
    app.state.api_keys = dict(api_keys or {})
    if metrics is not None:
        app.mount("/metrics", make_asgi_app(registry=metrics))

    @app.middleware("http")
    async def authorize(request: Request, call_next: Any) -> Any:
        """With API keys configured, every ``/api/v1`` call needs a known key, and what its
        role may do is the policy set's to say; health, metrics and the VES listener are not
        behind it (probes, Prometheus and the VES sender have their own arrangements)."""
        keys, gate = request.app.state.api_keys, request.app.state.policies
        if not keys or not request.url.path.startswith("/api/v1"):
            return await call_next(request)
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        role = keys.get(token) if scheme.lower() == "bearer" else None
        if role is None:
            return JSONResponse(
                {"detail": "an API key is needed: Authorization: Bearer <key>"},
                status_code=401,
                headers={"WWW-Authenticate": "Bearer"},
            )
        if gate is None or not gate.allows(request.method, request.url.path, role):
            return JSONResponse(
                {"detail": f"role {role} may not {request.method} {request.url.path}"},
                status_code=403,
            )
        return await call_next(request)

    if ves is not None:
        app.include_router(ves)

    @app.get("/healthz", tags=["health"])
    async def healthz() -> dict[str, str]:
        """Liveness: the process answers."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"])
    def readyz(request: Request) -> JSONResponse:
        """Readiness: every dependency the loop needs is up (503 otherwise, with which is not)."""
        checks = dict(request.app.state.readiness())
        ready = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ready else "not ready", "checks": checks},
            status_code=200 if ready else 503,
        )

    @app.get("/api/v1/decisions", tags=["decisions"])
    def list_decisions(
        journal: Annotated[Journal, Depends(_journal)],
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        state: Annotated[list[OutcomeState] | None, Query()] = None,
        target: str | None = None,
    ) -> list[dict[str, Any]]:
        """Newest first: each decision with its evidence, verdict (reasons) and outcome."""
        return journal.decisions(limit=limit, states=state or (), target=target)

    @app.get("/api/v1/file-ready", tags=["telemetry"])
    def list_file_ready(
        journal: Annotated[Journal, Depends(_journal)],
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
        state: Annotated[list[FileReadyState] | None, Query()] = None,
    ) -> list[dict[str, Any]]:
        """File-ready notifications, most recently changed first: whether each file was taken
        in, and why not for the failed ones (re-announce a file to retry it)."""
        return journal.file_ready_notifications(limit=limit, states=state or ())

    @app.get("/api/v1/models", tags=["models"])
    def models_status(request: Request) -> dict[str, Any]:
        """Per model role: which model serves (registry champion or the seasonal baseline),
        the shadow challenger, the last load or serve error, and input drift (PSI per feature,
        ``stable`` < 0.1 <= ``watch`` < 0.25 <= ``act``)."""
        return dict(request.app.state.models())

    @app.get("/api/v1/anomalies", tags=["models"])
    def list_anomalies(request: Request) -> list[dict[str, Any]]:
        """Incidents open at the latest decided ROP: cell, kind (an alarm's kind when one
        explains it), since when, score, the KPIs that moved, alarm ids, whether it needs
        healing rather than capacity."""
        return list(request.app.state.anomalies())

    @app.get("/api/v1/policies", tags=["policies"])
    def policy_status(gate: Annotated[PolicyGate, Depends(_policies)]) -> dict[str, Any]:
        """The active policy set: its revision, source and files, and the last reload (accepted,
        or rejected with the error while the previous set stays active)."""
        return gate.status()

    @app.get("/api/v1/policies/decisions", tags=["policies"])
    def policy_decision_log(
        journal: Annotated[Journal, Depends(_journal)],
        decision_id: str | None = None,
        cell: str | None = None,
        limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ) -> list[dict[str, Any]]:
        """The decision log, newest first, in OPA's decision-log shape (``decision_id``,
        ``path``, ``input``, ``result`` or ``error``, ``timestamp``, the revision under
        ``bundles``): every evaluation of the loop's decisions. ``decision_id`` is the log's
        own id or the rApp decision's; ``cell`` a cell DN the decision named."""
        return journal.decision_log.query(decision_id=decision_id, cell=cell, limit=limit)

    @app.put("/api/v1/policies", tags=["policies"])
    async def replace_policies(
        request: Request, gate: Annotated[PolicyGate, Depends(_policies)]
    ) -> JSONResponse:
        """Replace the policy set (operators): an OPA bundle (``application/gzip``) or
        ``{"files": {"name.rego": "...", "data.json": {...}}}``. Validated like a reload: it
        must compile and pass its own tests, or it is rejected (422, with the error) and the
        active set stays. An edit of the policy directory later takes over again."""
        if not request.app.state.api_keys:
            raise HTTPException(403, "configure api.keys to replace policies over the API")
        raw = await request.body()
        try:
            candidate = _candidate(raw, request.headers.get("content-type", ""))
        except PolicyError as exc:
            result = gate.record_rejection("api", str(exc))
            return JSONResponse(result.to_dict(), status_code=422)
        result = await gate.areplace(candidate, source="api")
        return JSONResponse(result.to_dict(), status_code=200 if result.accepted else 422)

    @app.post("/api/v1/policies/evaluate", tags=["policies"])
    async def policy_evaluate(
        gate: Annotated[PolicyGate, Depends(_policies)],
        body: Annotated[dict[str, Any], Body()],
    ) -> dict[str, Any]:
        """Dry run: the verdict the active set gives a decision (or a whole policy input,
        ``{"decision": ..., "now": ...}``); nothing is journalled or enacted."""
        document = body if "decision" in body else {"decision": body}
        document = {"now": rfc3339(datetime.now(UTC)), **document}
        if gate.engine.in_thread:  # an OPA sidecar: an HTTP round trip
            return (await asyncio.to_thread(gate.evaluate_input, document)).to_dict()
        # The embedded engine answers in microseconds; on the loop, as the decider calls it.
        return gate.evaluate_input(document).to_dict()

    @app.get("/api/v1/alarms", tags=["alarms"])
    def list_alarms(request: Request) -> list[dict[str, Any]]:
        """Active FM alarms (raised, not cleared), newest first."""
        return [a.to_dict() for a in request.app.state.alarms.active()]

    @app.get("/api/v1/decisions/{decision_id}", tags=["decisions"])
    def get_decision(
        decision_id: str, journal: Annotated[Journal, Depends(_journal)]
    ) -> dict[str, Any]:
        """One decision with its verdict and outcome."""
        found = journal.decision(decision_id)
        if found is None:
            raise HTTPException(404, f"no decision {decision_id}")
        return found

    return app


def _journal(request: Request) -> Journal:
    return request.app.state.journal


def _candidate(raw: bytes, content_type: str) -> PolicySet:
    """A policy set from a PUT body: a bundle's bytes, or files as JSON."""
    if "json" not in content_type:
        return read_bundle(raw, name="uploaded bundle")
    try:
        body = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise PolicyError(f"body is not JSON: {exc}") from None
    files = body.get("files") if isinstance(body, dict) else None
    if not isinstance(files, dict) or not files:
        raise PolicyError('body must be {"files": {"name.rego": "...", "data.json": {...}}}')
    return load_policy_files(files)


def _policies(request: Request) -> PolicyGate:
    gate = request.app.state.policies
    if gate is None:
        raise HTTPException(status_code=404, detail="no policy gate in this process")
    return gate
