"""The ICS data-consumer v1 API (``/data-consumer/v1``) from memory, as the rApp uses it.

Paths and codes as O-RAN SC ICS (``rappmanager:openapi/dme/ics-api.yaml``; research notes 4.3):

* ``PUT /data-consumer/v1/info-jobs/{infoJobId}``: 201 created, 200 updated; 400 when the body
  is not a ``consumer_job`` or its ``job_definition`` fails the type's job-data schema; 404 for
  an unknown ``info_type_id``; 409 when an existing job would change its type.
* ``GET|DELETE /data-consumer/v1/info-jobs/{infoJobId}``: 200 / 204, 404 when unknown.
* ``GET /data-consumer/v1/info-jobs/{infoJobId}/status``: ``{"info_job_status", "producers"}``.
* ``GET /data-consumer/v1/info-jobs[?infoTypeId=&owner=]``: list of ids;
  ``DELETE /data-consumer/v1/info-jobs?owner=``: 204, every job of that owner.
* ``GET /data-consumer/v1/info-types`` and ``/info-types/{infoTypeId}``:
  ``{"job_data_schema", "type_status", "no_of_producers"}``.
* ``GET /status``: ``{"status": "hunky dory"}``.

Errors are ``application/problem+json`` ``{"status", "detail"}``, as ICS's ``ErrorResponse``.
The one type served is ``PmData`` with the ranpm producer's schema (the copy the rApp ships in
``rapp/telemetry/schemas/typeSchemaPmData.json``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Body, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from jsonschema import Draft4Validator
from jsonschema.exceptions import best_match
from starlette.exceptions import HTTPException as StarletteHTTPException

from rapp.ric import pm_job_schema

__all__ = ["BASE", "PM_DATA", "Ics", "create_app"]

BASE = "/data-consumer/v1"
PM_DATA = "PmData"
PROBLEM_JSON = "application/problem+json"
JsonBody = Annotated[Any, Body()]


class IcsProblem(Exception):
    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status, self.detail = status, detail


@dataclass
class InfoType:
    type_id: str
    schema: dict[str, Any]
    producers: list[str]
    validator: Draft4Validator = field(init=False, repr=False)

    def __post_init__(self) -> None:
        Draft4Validator.check_schema(self.schema)
        self.validator = Draft4Validator(self.schema)


@dataclass
class Ics:
    """The simulator's state: info types and jobs."""

    types: dict[str, InfoType] = field(default_factory=dict)
    jobs: dict[str, dict[str, Any]] = field(default_factory=dict)

    def put_job(self, job_id: str, body: Any) -> bool:
        """Store the job; True when it is new."""
        job = _consumer_job(body)
        info_type = self.types.get(job["info_type_id"])
        if info_type is None:
            raise IcsProblem(404, f"Information type not found: {job['info_type_id']}")
        error = best_match(info_type.validator.iter_errors(job["job_definition"]))
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            raise IcsProblem(
                400, f"Json validation failure at job_definition/{where}: {error.message}"
            )
        old = self.jobs.get(job_id)
        if old is not None and old["info_type_id"] != job["info_type_id"]:
            raise IcsProblem(409, "Not allowed to change type for existing job")
        self.jobs[job_id] = job
        return old is None

    def job(self, job_id: str) -> dict[str, Any]:
        try:
            return self.jobs[job_id]
        except KeyError:
            raise IcsProblem(404, f"Could not find Information job: {job_id}") from None

    def info_type(self, type_id: str) -> InfoType:
        try:
            return self.types[type_id]
        except KeyError:
            raise IcsProblem(404, f"Information type not found: {type_id}") from None


def _consumer_job(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise IcsProblem(400, "Could not parse the body: a consumer_job object is expected")
    for key in ("info_type_id", "job_owner"):
        if not isinstance(body.get(key), str) or not body[key]:
            raise IcsProblem(400, f"Missing or invalid required field: {key}")
    if "job_definition" not in body or not isinstance(body["job_definition"], dict):
        raise IcsProblem(400, "Missing or invalid required field: job_definition (an object)")
    for key in ("job_result_uri", "status_notification_uri"):
        if key in body and not isinstance(body[key], str):
            raise IcsProblem(400, f"Invalid field: {key} must be a string")
    known = {
        "info_type_id",
        "job_owner",
        "job_definition",
        "job_result_uri",
        "status_notification_uri",
    }
    return {k: v for k, v in body.items() if k in known}


def load_pm_data_type(producers: list[str] | None = None) -> InfoType:
    schema = pm_job_schema()
    return InfoType(PM_DATA, schema, ["pm-producer-json2kafka"] if producers is None else producers)


def create_app(producers: list[str] | None = None) -> FastAPI:
    """A fresh simulator; its state is ``app.state.ics``. ``producers`` of the PmData type:
    none makes the type (and every job of it) DISABLED."""
    ics = Ics(types={PM_DATA: load_pm_data_type(producers)})
    app = FastAPI(title="ICS simulator", description="O-RAN SC ICS data-consumer v1, in memory.")
    app.state.ics = ics

    @app.exception_handler(IcsProblem)
    async def _problem(request: Request, exc: IcsProblem) -> JSONResponse:
        return _problem_response(exc.status, exc.detail)

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        return _problem_response(exc.status_code, str(exc.detail))

    @app.get("/status")
    async def status() -> dict[str, str]:
        return {"status": "hunky dory"}

    @app.put(BASE + "/info-jobs/{info_job_id}")
    async def put_job(info_job_id: str, request: Request) -> JSONResponse:
        try:
            body = json.loads(await request.body())
        except ValueError:
            raise IcsProblem(400, "Could not parse the body: not JSON") from None
        created = ics.put_job(info_job_id, body)
        return JSONResponse({}, status_code=201 if created else 200)

    @app.get(BASE + "/info-jobs/{info_job_id}")
    async def get_job(info_job_id: str) -> dict[str, Any]:
        return ics.job(info_job_id)

    @app.delete(BASE + "/info-jobs/{info_job_id}", status_code=204)
    async def delete_job(info_job_id: str) -> Response:
        ics.job(info_job_id)
        del ics.jobs[info_job_id]
        return Response(status_code=204)

    @app.get(BASE + "/info-jobs/{info_job_id}/status")
    async def job_status(info_job_id: str) -> dict[str, Any]:
        job = ics.job(info_job_id)
        producers = ics.types[job["info_type_id"]].producers
        return {"info_job_status": "ENABLED" if producers else "DISABLED", "producers": producers}

    @app.get(BASE + "/info-jobs")
    async def list_jobs(infoTypeId: str | None = None, owner: str | None = None) -> list[str]:
        return [
            job_id
            for job_id, job in ics.jobs.items()
            if (infoTypeId is None or job["info_type_id"] == infoTypeId)
            and (owner is None or job["job_owner"] == owner)
        ]

    @app.delete(BASE + "/info-jobs", status_code=204)
    async def delete_owner_jobs(owner: str) -> Response:
        for job_id in [j for j, job in ics.jobs.items() if job["job_owner"] == owner]:
            del ics.jobs[job_id]
        return Response(status_code=204)

    @app.get(BASE + "/info-types")
    async def list_types() -> list[str]:
        return list(ics.types)

    @app.get(BASE + "/info-types/{info_type_id}")
    async def get_type(info_type_id: str) -> dict[str, Any]:
        info_type = ics.info_type(info_type_id)
        return {
            "job_data_schema": info_type.schema,
            "type_status": "ENABLED" if info_type.producers else "DISABLED",
            "no_of_producers": len(info_type.producers),
        }

    return app


def _problem_response(status: int, detail: str) -> JSONResponse:
    return JSONResponse(
        {"status": status, "detail": detail}, status_code=status, media_type=PROBLEM_JSON
    )
