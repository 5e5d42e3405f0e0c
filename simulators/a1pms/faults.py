"""Fault injection: queued faults that the next matching A1-PMS requests get instead of service.

A fault matches a request by method and path prefix and lasts ``count`` requests. It can delay
the answer (``delay_s``), replace it with an RFC 7807 problem of any 4xx/5xx ``status``, or drop
the connection without answering (``drop_connection``), as a crashed or partitioned A1-PMS would.
Faults are queued through the admin API (``admin.py``); ``/admin`` paths are never faulted, so a
fault can always be cleared. The default ``path_prefix`` is the v3 API's: a fault for the v2 API
(``/a1-policy/v2``) must say so, and ``/a1-policy`` matches both (it prefixes the two).

``FaultMiddleware`` is plain ASGI and must be the outermost layer of the app (``app.py`` puts it
outside Starlette's error middleware): dropping needs the server's own ``send``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from http import HTTPStatus
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from simulators.a1pms.config import BASE_PATH
from simulators.a1pms.problem import Problem
from simulators.fault_queue import Fault
from simulators.fault_queue import FaultQueue as _FaultQueue

log = logging.getLogger(__name__)

ADMIN_PREFIX = "/admin"
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


class FaultSpec(BaseModel):
    """The body of ``POST /admin/faults``."""

    model_config = ConfigDict(extra="forbid")

    status: int | None = Field(
        None, ge=400, le=599, description="Answer with this status instead of serving"
    )
    count: int = Field(1, ge=1, description="How many matching requests get the fault")
    delay_s: float = Field(
        0.0, ge=0, le=300, description="Seconds to wait before answering (or dropping)"
    )
    path_prefix: str = Field(
        BASE_PATH,
        pattern="^/",
        description=(
            "Requests whose path starts with this match; the default is the v3 API only, "
            "'/a1-policy/v2' faults the v2 API and '/a1-policy' both"
        ),
    )
    methods: list[str] = Field(
        default_factory=list, description="Methods that match; empty for every method"
    )
    drop_connection: bool = Field(False, description="Close the connection without answering")

    @field_validator("methods")
    @classmethod
    def _known_methods(cls, methods: list[str]) -> list[str]:
        upper = sorted({m.upper() for m in methods})
        unknown = [m for m in upper if m not in HTTP_METHODS]
        if unknown:
            raise ValueError(f"unknown HTTP methods {unknown}; known: {list(HTTP_METHODS)}")
        return upper

    @field_validator("path_prefix")
    @classmethod
    def _not_admin(cls, prefix: str) -> str:
        if _is_admin(prefix):
            raise ValueError(f"{ADMIN_PREFIX} paths cannot be faulted")
        return prefix

    @model_validator(mode="after")
    def _does_one_thing(self) -> FaultSpec:
        if self.drop_connection and self.status is not None:
            raise ValueError("a fault either answers with a status or drops the connection")
        if self.status is None and not self.drop_connection and self.delay_s == 0:
            raise ValueError("a fault needs a status, a delay_s or drop_connection")
        return self


class FaultQueue(_FaultQueue[FaultSpec]):
    """Pending faults, oldest first; the admin API is never faulted."""

    def take(self, method: str, path: str) -> Fault[FaultSpec] | None:
        if _is_admin(path):
            return None
        wanted = method.upper()
        return self.take_first(
            lambda spec: (
                path.startswith(spec.path_prefix) and (not spec.methods or wanted in spec.methods)
            )
        )


class ConnectionDropped(Exception):
    """Raised after a response has started, which ASGI servers answer by closing the socket."""


class FaultMiddleware:
    """Applies the queue's faults to HTTP requests before the wrapped app sees them."""

    def __init__(self, app: ASGIApp, faults: FaultQueue) -> None:
        self.app = app
        self.faults = faults

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        fault = None
        if scope["type"] == "http":
            fault = self.faults.take(scope["method"], scope["path"])
        if fault is None:
            await self.app(scope, receive, send)
            return
        spec = fault.spec
        log.warning("fault %d hits %s %s", fault.id, scope["method"], scope["path"])
        if spec.delay_s:
            await asyncio.sleep(spec.delay_s)
        if spec.drop_connection:
            await _drop(send)
        elif spec.status is not None:
            await _answer(fault, spec.status, scope, receive, send)
        else:
            await self.app(scope, receive, send)


def _is_admin(path: str) -> bool:
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


async def _answer(fault: Fault, status: int, scope: Scope, receive: Receive, send: Send) -> None:
    # Read the request body first, so the connection stays usable for the next request.
    message: Message = {"type": "http.request", "more_body": True}
    while message["type"] == "http.request" and message.get("more_body", False):
        message = await receive()
    problem = Problem(
        status,
        f"Injected by the simulator's fault injection (fault {fault.id}, "
        f"{fault.remaining} more to come); the request was not served",
        title=f"{HTTPStatus(status).phrase} (injected fault)",
    )
    body = json.dumps(problem.to_dict(instance=scope["path"])).encode()
    headers = [
        (b"content-type", b"application/problem+json"),
        (b"content-length", str(len(body)).encode()),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _drop(send: Send) -> None:
    # uvicorn's send is a bound method of the request cycle, which holds the connection's
    # transport: closing it sends nothing at all, as a crashed server would.
    cycle = getattr(send, "__self__", None)
    transport = getattr(cycle, "transport", None)
    if isinstance(transport, asyncio.WriteTransport):
        transport.close()
        # Let the server see the connection go, so it does not answer on its own.
        for _ in range(10):
            if getattr(cycle, "disconnected", True):
                break
            await asyncio.sleep(0)
        return
    # Any other server: start a response and fail, which ASGI servers answer by closing the
    # connection; the client gets a status line but never a complete response.
    await send({"type": "http.response.start", "status": 503, "headers": []})
    raise ConnectionDropped("injected fault: connection dropped")
