"""VES REST listener: ``POST /eventListener/v7`` and ``/eventListener/v7/eventBatch``.

Follows the ONAP VES collector's conventions (onap/dcaegen2-collectors-ves,
src/main/java/org/onap/dcae/restapi/VesRestController.java and ApiException.java):

- HTTP basic auth when a user name is configured; otherwise open. A refusal is 401 with
  ``WWW-Authenticate: Basic`` and the collector's ``PolicyException`` body (``POL2000``).
- The body is checked against the VES 7.2.1 Common Event Format schema first, then decoded; a
  failure is 400 with the collector's error body, whose ``text`` here carries the precise reason
  (the collector only says "Bad Parameter (JSON does not conform to schema)") and whose
  ``variables`` hold the failing JSON path when there is one::

      {"requestError": {"ServiceException": {"messageId": "SVC0002", "text": "...",
                                             "variables": ["$.event.commonEventHeader"]}}}

  The exception type key is ``ServiceException``/``PolicyException`` (UpperCamel) because that is
  what the collector sends (its ApiExceptionTest pins it), although the VES specification prints
  it in lowerCamel; ``variables`` is left out when empty, as the collector does.
- 202 Accepted with an empty body once the sink has taken the batch (the rApp's sink returns
  once the PM is in state and the alarms are applied, before any decision is made); 503
  (``SVC1000``) when the sink fails, so that the sender retries; 413 (``SVC2000``) for a body
  over the limit; 415 for a content type other than JSON (the collector answers 400 there).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from rapp.telemetry.ranpm import DecodeError
from rapp.telemetry.ves import SchemaError, VesBatch, decode_ves, validate_ves

__all__ = ["ves_router"]

log = logging.getLogger(__name__)

Sink = Callable[[VesBatch], Awaitable[None]]

_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"type": "object"}}},
    }
}


def ves_router(
    sink: Sink,
    *,
    username: str | None = None,
    password: str | None = None,
    max_bytes: int = 16 * 2**20,
) -> APIRouter:
    """Routes that validate, decode and hand each accepted payload to ``sink`` as a VesBatch.

    ``username``/``password``: require HTTP basic auth with these (compared in constant time);
    no ``username`` means no auth. ``max_bytes``: the largest body accepted.
    """
    router = APIRouter(tags=["ves"])
    expected = None if username is None else (username.encode(), (password or "").encode())

    async def handle(request: Request, kind: str) -> Response:
        if expected is not None and not _authorised(request, *expected):
            return _error(
                401,
                "PolicyException",
                "POL2000",
                "Unauthorized user",
                headers={"WWW-Authenticate": 'Basic realm="VES Event Listener"'},
            )
        media = request.headers.get("content-type", "").partition(";")[0].strip().lower()
        if media != "application/json":
            return _error(
                415,
                "ServiceException",
                "SVC0002",
                f"Bad Parameter (Incorrect request Content-Type {media or 'none'!r}; "
                "expected application/json)",
            )
        body = await _read_body(request, max_bytes)
        if body is None:
            return _error(
                413,
                "ServiceException",
                "SVC2000",
                "The following service error occurred: %1. Error code is %2",
                ["Request Entity Too Large", "413"],
            )
        # parsing, the schema and decoding take long for a large batch: not on the event loop
        parsed = await asyncio.to_thread(_parse, body, kind)
        if isinstance(parsed, Response):
            return parsed
        batch = parsed
        try:
            await sink(batch)
        except Exception:
            log.exception("VES sink failed; answering 503 so that the sender retries")
            return _error(
                503,
                "ServiceException",
                "SVC1000",
                "No server resources (internal processing queue full)",
            )
        return Response(status_code=202)

    @router.post(
        "/eventListener/v7",
        status_code=202,
        summary="Receive one VES 7.x event",
        response_class=Response,
        openapi_extra=_BODY,
    )
    async def event(request: Request) -> Response:
        return await handle(request, "event")

    @router.post(
        "/eventListener/v7/eventBatch",
        status_code=202,
        summary="Receive a batch of VES 7.x events",
        response_class=Response,
        openapi_extra=_BODY,
    )
    async def event_batch(request: Request) -> Response:
        return await handle(request, "eventList")

    return router


def _parse(body: bytes, kind: str) -> VesBatch | JSONResponse:
    """The body as a VesBatch, or the 400 that says why it is not one."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as err:
        return _bad(f"Incorrect JSON payload: {err}")
    if not isinstance(doc, dict):
        return _bad(f"Incorrect JSON payload: a {type(doc).__name__}, not an object")
    other = "eventList" if kind == "event" else "event"
    if kind not in doc:
        where = "/eventListener/v7/eventBatch" if other == "eventList" else "/eventListener/v7"
        hint = f"; send {other!r} payloads to {where}" if other in doc else ""
        return _bad(f"payload has no {kind!r}{hint}", "$")
    try:
        validate_ves(doc)
    except SchemaError as err:
        return _bad(f"JSON does not conform to schema: {err.reason}", err.path)
    try:
        return decode_ves(doc, received_at=datetime.now(UTC))
    except DecodeError as err:
        return _bad(err.reason)


def _authorised(request: Request, user: bytes, pw: bytes) -> bool:
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        given = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    name, sep, secret = given.partition(b":")
    # evaluate both comparisons: no early exit that tells which half was wrong
    ok_user = secrets.compare_digest(name, user)
    ok_pw = secrets.compare_digest(secret, pw)
    return bool(sep) and ok_user and ok_pw


async def _read_body(request: Request, max_bytes: int) -> bytes | None:
    """The body, or None as soon as it is known to be over ``max_bytes``."""
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > max_bytes:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def _bad(reason: str, path: str | None = None) -> JSONResponse:
    return _error(400, "ServiceException", "SVC0002", reason, [path] if path else [])


def _error(
    status: int,
    kind: str,
    message_id: str,
    text: str,
    variables: list[str] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    exception: dict[str, Any] = {"messageId": message_id, "text": text}
    if variables:
        exception["variables"] = variables
    return JSONResponse({"requestError": {kind: exception}}, status_code=status, headers=headers)
