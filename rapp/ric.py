"""Non-RT RIC presence: the ICS (DME) ``PmData`` information job that feeds the rApp's topic.

At start the runtime PUTs a ``PmData`` job (``pm_job``) to ICS's data-consumer API; the PM
producer then delivers the filtered reports to the job's Kafka topic. On a clean shutdown the
job is deleted, as O-RAN SC's pm-rapp does. ``IcsClient`` points at the real ICS or at
``simulators.ics`` by URL alone.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from functools import cache
from importlib import resources
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote

import httpx
from jsonschema import Draft4Validator
from jsonschema.exceptions import best_match

if TYPE_CHECKING:
    from rapp.config import IcsSettings

__all__ = ["PM_DATA", "IcsClient", "IcsError", "pm_job", "pm_job_schema"]

PM_DATA = "PmData"
_BASE = "/data-consumer/v1"


class IcsError(RuntimeError):
    """ICS answered with an error status (or not at all)."""

    def __init__(self, status: int | None, detail: str) -> None:
        self.status, self.detail = status, detail
        super().__init__(f"ICS {status}: {detail}" if status else f"ICS: {detail}")


@cache
def pm_job_schema() -> dict[str, Any]:
    """The ranpm producer's job-data schema of ``PmData`` (shipped in rapp/telemetry/schemas)."""
    text = (
        resources.files("rapp.telemetry")
        .joinpath("schemas", "typeSchemaPmData.json")
        .read_text("utf-8")
    )
    schema: dict[str, Any] = json.loads(text)
    return schema


def pm_job(
    *,
    owner: str,
    topic: str,
    bootstrap: str,
    meas_types: Sequence[str],
    measured_obj_class: str = "NRCellDU",
    source_names: Sequence[str] = (),
    meas_obj_inst_ids: Sequence[str] = (),
    measured_entity_dns: Sequence[str] = (),
    job_result_uri: str = "",
) -> dict[str, Any]:
    """A ``PmData`` consumer job, shaped as O-RAN SC pm-rapp's ``jobDefinition.json`` plus the
    ``deliveryInfo`` it adds (Kafka topic and bootstrap servers).

    ``job_definition`` is checked against the ``PmData`` type schema here, so a bad setting
    fails at start with the schema's message rather than as a 400 from ICS. ``job_result_uri``
    is required by the ICS API but unused for Kafka delivery; it is sent empty.
    """
    if not meas_types:
        raise ValueError("meas_types is empty: the job would ask for no counters")
    definition = {
        "filter": {
            "sourceNames": list(source_names),
            "measObjInstIds": list(meas_obj_inst_ids),
            "measTypeSpecs": [
                {"measuredObjClass": measured_obj_class, "measTypes": list(meas_types)}
            ],
            "measuredEntityDns": list(measured_entity_dns),
        },
        "deliveryInfo": {"topic": topic, "bootStrapServers": bootstrap},
    }
    error = best_match(Draft4Validator(pm_job_schema()).iter_errors(definition))
    if error is not None:
        where = "/".join(str(p) for p in error.absolute_path) or "(root)"
        raise ValueError(f"PmData job definition invalid at {where}: {error.message}")
    return {
        "info_type_id": PM_DATA,
        "job_owner": owner,
        "job_result_uri": job_result_uri,
        "job_definition": definition,
    }


def configured_pm_job(ics: IcsSettings, *, topic: str, bootstrap: str) -> dict[str, Any]:
    """The ``PmData`` job the ICS settings ask for, delivered to ``topic`` on ``bootstrap``:
    the one the rApp registers itself, and the one its rApp package carries."""
    return pm_job(
        owner=ics.owner,
        topic=topic,
        bootstrap=bootstrap,
        meas_types=ics.meas_types,
        measured_obj_class=ics.measured_obj_class,
        source_names=ics.source_names,
    )


class IcsClient:
    """The ICS data-consumer v1 API (``/data-consumer/v1``), async."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.base_url + _BASE, timeout=timeout, transport=transport
        )

    async def put_job(self, job_id: str, job: dict[str, Any]) -> Literal["created", "updated"]:
        """Create or replace the job: ``"created"`` (201) or ``"updated"`` (200)."""
        response = await self._request("PUT", f"/info-jobs/{_seg(job_id)}", json=job)
        if response.status_code == 201:
            return "created"
        if response.status_code == 200:
            return "updated"
        raise _error(response)

    async def delete_job(self, job_id: str) -> bool:
        """Delete the job: True when it was there, False when ICS did not know it (404)."""
        response = await self._request("DELETE", f"/info-jobs/{_seg(job_id)}")
        if response.status_code in (200, 204):
            return True
        if response.status_code == 404:
            return False
        raise _error(response)

    async def job_status(self, job_id: str) -> dict[str, Any]:
        """``{"info_job_status": "ENABLED"|"DISABLED", "producers": [...]}``."""
        response = await self._request("GET", f"/info-jobs/{_seg(job_id)}/status")
        if response.status_code != 200:
            raise _error(response)
        status: dict[str, Any] = response.json()
        return status

    async def get_job(self, job_id: str) -> dict[str, Any] | None:
        """The stored job, or None when ICS does not know it."""
        response = await self._request("GET", f"/info-jobs/{_seg(job_id)}")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise _error(response)
        job: dict[str, Any] = response.json()
        return job

    async def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        try:
            return await self._http.request(method, url, **kwargs)
        except httpx.HTTPError as err:
            raise IcsError(None, f"{method} {self.base_url}{_BASE}{url}: {err!r}") from err

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> IcsClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _seg(job_id: str) -> str:
    if not job_id:
        raise ValueError("empty job id")
    return quote(job_id, safe="")


def _error(response: httpx.Response) -> IcsError:
    try:
        body = response.json()
        detail = body.get("detail") if isinstance(body, dict) else None
    except ValueError:
        detail = None
    return IcsError(
        response.status_code, str(detail or response.text[:300] or response.reason_phrase)
    )
