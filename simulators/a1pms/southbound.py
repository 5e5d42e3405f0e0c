"""The A1-PMS simulator's southbound side: an A1-P v2.0.0 client for one Near-RT RIC.

Synchronous on purpose: the registry's methods are synchronous and called from the app's async
routes, so a call here holds the event loop until the RIC answers or the (short) timeout ends.
That is acceptable for a simulator with a handful of RICs; the RIC must not be served from the
same event loop (run it in its own process or thread, as ``python -m simulators.nearrtric`` and
the tests do). The URLs are the ones A1-PMS's ``StdA1ClientVersion2`` builds: ``baseUrl`` +
``/A1-P/v2/policytypes/...``.

The registry depends on the ``A1P`` protocol, not on HTTP, so its rules can be tested with a fake.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, Protocol
from urllib.parse import quote

import httpx

log = logging.getLogger(__name__)

A1P_PATH = "/A1-P/v2"


class SouthboundError(Exception):
    """An A1-P call that did not succeed."""


class RicUnreachable(SouthboundError):
    """No answer at all: refused, reset, timed out, or not HTTP."""


class RicRefused(SouthboundError):
    """The RIC answered with an error status; ``detail`` is what its ProblemDetails said."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(f"{status}: {detail}")
        self.status = status
        self.detail = detail


class RicBadAnswer(SouthboundError):
    """A 2xx whose body is not what A1-P says it is."""


class A1P(Protocol):
    """The A1-P v2.0.0 operations A1-PMS uses, as the registry needs them."""

    def policy_type_ids(self) -> list[str]: ...

    def policy_type(self, type_id: str) -> dict[str, Any]: ...

    def policy_ids(self, type_id: str) -> list[str]: ...

    def put_policy(self, type_id: str, policy_id: str, body: dict[str, Any]) -> bool:
        """True when the RIC created it (201), False when it updated it (200)."""
        ...

    def delete_policy(self, type_id: str, policy_id: str) -> None: ...

    def policy_status(self, type_id: str, policy_id: str) -> dict[str, Any]: ...

    def close(self) -> None: ...


A1PFactory = Callable[[str, float], A1P]
"""``(baseUrl, timeout_s) -> client``: how the registry gets a client per RIC."""


class HttpA1P:
    """``A1P`` over HTTP with httpx; one per RIC, keeping its connections alive."""

    def __init__(self, base_url: str, timeout_s: float) -> None:
        self._url = base_url.rstrip("/")
        self._http = httpx.Client(
            base_url=self._url + A1P_PATH,
            # Connecting should be quick; a refused or black-holed RIC must not hold the loop.
            timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 2.0)),
            headers={"Accept": "application/json"},
        )

    def __repr__(self) -> str:
        return f"HttpA1P({self._url!r})"

    def policy_type_ids(self) -> list[str]:
        return _strings(self._json("GET", "/policytypes", 200))

    def policy_type(self, type_id: str) -> dict[str, Any]:
        return _object(self._json("GET", f"/policytypes/{_seg(type_id)}", 200))

    def policy_ids(self, type_id: str) -> list[str]:
        return _strings(self._json("GET", f"/policytypes/{_seg(type_id)}/policies", 200))

    def put_policy(self, type_id: str, policy_id: str, body: dict[str, Any]) -> bool:
        response = self._send("PUT", _policy_path(type_id, policy_id), 200, 201, json=body)
        return response.status_code == 201

    def delete_policy(self, type_id: str, policy_id: str) -> None:
        self._send("DELETE", _policy_path(type_id, policy_id), 204, 200)

    def policy_status(self, type_id: str, policy_id: str) -> dict[str, Any]:
        return _object(self._json("GET", _policy_path(type_id, policy_id) + "/status", 200))

    def close(self) -> None:
        self._http.close()

    def _json(self, method: str, path: str, *ok: int) -> Any:
        response = self._send(method, path, *ok)
        try:
            return response.json()
        except ValueError:
            raise RicBadAnswer(f"{method} {path}: the answer is not JSON") from None

    def _send(self, method: str, path: str, *ok: int, **kwargs: Any) -> httpx.Response:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.TransportError as e:
            raise RicUnreachable(f"{method} {self._url}{A1P_PATH}{path}: {e!r}") from e
        log.debug("A1-P %s %s -> %d", method, path, response.status_code)
        if response.status_code in ok:
            return response
        if response.is_success:
            raise RicBadAnswer(f"{method} {path}: unexpected status {response.status_code}")
        raise RicRefused(response.status_code, _detail(response))


def _policy_path(type_id: str, policy_id: str) -> str:
    return f"/policytypes/{_seg(type_id)}/policies/{_seg(policy_id)}"


def _seg(value: str) -> str:
    """One path segment: ids may hold characters with a meaning in URLs."""
    return quote(value, safe="")


def _strings(body: Any) -> list[str]:
    if not isinstance(body, list) or not all(isinstance(s, str) for s in body):
        raise RicBadAnswer(f"expected an array of identifiers, got {body!r:.200}")
    return body


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise RicBadAnswer(f"expected a JSON object, got {body!r:.200}")
    return body


def _detail(response: httpx.Response) -> str:
    """What the RIC's ProblemDetails says; some RICs send none (the O-RAN SC simulator's 400)."""
    try:
        problem = response.json()
    except ValueError:
        return response.text[:200] or response.reason_phrase
    if isinstance(problem, dict):
        said = problem.get("detail") or problem.get("title")
        if isinstance(said, str) and said:
            return said
    return response.reason_phrase
