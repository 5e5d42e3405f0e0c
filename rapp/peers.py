"""Waiting for peers at start-up: a peer that is still starting is waited for with backoff; a
peer that refuses us (bad credentials, a wrong URL) stops the process at once."""

from __future__ import annotations

import logging
import ssl
from collections.abc import Awaitable, Callable, Generator
from pathlib import Path
from typing import TypeVar

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, wait_exponential

log = logging.getLogger("rapp.runtime")
T = TypeVar("T")


async def until_up(
    what: str, attempt: Callable[[], Awaitable[T]], transient: Callable[[BaseException], bool]
) -> T:
    """``attempt()`` until it succeeds, with capped exponential backoff, while its failures are
    ``transient`` (a peer still starting); anything else (bad credentials, a wrong URL) is raised
    at once so the operator sees it instead of a process that waits forever."""

    def waiting(state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning(
            "waiting for %s: %s (attempt %d, next in %.0fs)",
            what,
            str(exc).splitlines()[0] if exc else "?",
            state.attempt_number,
            state.upcoming_sleep,
        )

    async for try_ in AsyncRetrying(
        retry=retry_if_exception(transient),
        wait=wait_exponential(multiplier=1, max=30),
        before_sleep=waiting,
        reraise=True,
    ):
        with try_:
            return await attempt()
    raise AssertionError("unreachable: AsyncRetrying either returns or raises")


def ca_context(ca_file: Path | None) -> ssl.SSLContext | bool:
    """TLS verification against ``ca_file`` (a private CA), or the system's CAs."""
    return ssl.create_default_context(cafile=str(ca_file)) if ca_file else True


class TokenFile(httpx.Auth):
    """``Authorization: Bearer`` from a file read at every request: a mounted Secret or a
    projected service-account token is rotated on disk, and the next call uses the new one."""

    def __init__(self, path: Path) -> None:
        self.path = path

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response]:
        try:
            token = self.path.read_text("utf-8").strip()
        except OSError as exc:
            raise TokenUnreadable(
                f"cannot read token file {self.path}: {exc}", request=request
            ) from exc
        request.headers["Authorization"] = f"Bearer {token}"
        yield request


class TokenUnreadable(httpx.TransportError):
    """A token file that cannot be read: a Secret not mounted yet, or swapped mid-rotation.
    Handled like a peer out of reach (waited for, retried), not as a refusal."""
