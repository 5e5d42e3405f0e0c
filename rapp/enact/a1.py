"""The rApp's client for the A1 Policy Management Service: its v3 API, or v2 where that is all.

v3 (``/a1-policy-management/v1``) is what A1-PMS has served since the O-RAN SC J release; v2
(``/a1-policy/v2``) is all the releases before it serve. ``api="auto"`` asks v3's status path
once and falls back to v2 when v3 is not there (404); the answer holds for the client's life.
Callers get the same results whichever API is spoken (``_a1_wire.py`` holds the two dialects).

Every call is safe to repeat, because the enactment saga runs each step at least once:
``put_policy`` creates or updates under a caller-chosen id, ``delete_policy`` of an id that is
already gone is not an error. The client never retries: the saga owns retries, so timeouts and
connection errors surface as the httpx exceptions they are, and ``is_transient`` says which
failures are worth another try.

``put_policy`` checks the policy against its type's schema before it writes anything, so a
policy the Near-RT RIC would refuse fails here, with the failing path named, not at the RIC.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Literal, Self

import httpx
import jsonschema
from jsonschema.exceptions import best_match
from jsonschema.protocols import Validator

from rapp.enact._a1_wire import A1Error, A1Policy, RicInfo, V2Wire, V3Wire, Wire, expect
from rapp.peers import TokenFile, ca_context

if TYPE_CHECKING:
    from rapp.config import A1Settings

__all__ = ["A1Client", "A1Error", "A1Policy", "PolicyInvalid", "RicInfo", "is_transient"]

log = logging.getLogger(__name__)


class PolicyInvalid(ValueError):
    """A policy does not fit its type's ``policySchema``; found before anything was sent.

    ``path`` is a JSON pointer into the policy body (``/statement/capacity``; ``""`` for the
    body itself). Never transient: the same body fails the same way every time.
    """

    def __init__(self, policy: A1Policy, path: str, reason: str) -> None:
        self.policy_id = policy.policy_id
        self.policy_type_id = policy.policy_type_id
        self.path = path
        self.reason = reason
        super().__init__(
            f"A1 policy {policy.policy_id} does not fit type {policy.policy_type_id} "
            f"at {path or '/'}: {reason}"
        )


class A1Client:
    """Async client for the A1-PMS endpoints the rApp needs; one per process, reuse it."""

    def __init__(
        self,
        base_url: str,
        *,
        timeout: float = 10.0,
        api: Literal["auto", "v3", "v2"] = "auto",
        token_file: Path | None = None,
        ca_file: Path | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if api not in ("auto", "v3", "v2"):
            raise ValueError(f"api must be 'auto', 'v3' or 'v2', not {api!r}")
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            timeout=timeout,
            transport=transport,
            headers={"Accept": "application/json"},
            auth=TokenFile(token_file) if token_file else None,
            verify=ca_context(ca_file),
        )
        self._wire: Wire | None = None
        if api == "v3":
            self._wire = V3Wire(self._http)
        elif api == "v2":
            self._wire = V2Wire(self._http)
        self._probing = asyncio.Lock()
        self._validators: dict[str, Validator] = {}
        """Policy type id -> its compiled ``policySchema``: types do not change under an id."""

    @classmethod
    def from_settings(
        cls, settings: A1Settings, *, api: Literal["auto", "v3", "v2"] | None = None
    ) -> A1Client:
        """The client ``settings`` describe; ``api`` overrides the configured version (one
        found out earlier, so it is not probed again)."""
        return cls(
            settings.url,
            timeout=settings.timeout_s,
            api=api or settings.api,
            token_file=settings.token_file,
            ca_file=settings.ca_file,
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def api(self) -> Literal["v3", "v2"]:
        """The API this client speaks; with ``api="auto"``, asks the A1-PMS the first time."""
        return (await self._resolve()).api

    async def ready(self) -> bool:
        """True when A1-PMS answers its status check; False when it is down or unreachable."""
        try:
            wire = await self._resolve()
            response = await self._http.get(wire.status_path)
        except (httpx.TransportError, A1Error):
            # A readiness probe wants a yes or no, not an exception.
            return False
        return response.status_code == 200

    async def register_service(
        self, service_id: str, *, keepalive_s: int = 0, callback_url: str | None = None
    ) -> None:
        """Register (or re-register) the rApp; with ``keepalive_s > 0`` it must call keepalive."""
        await (await self._resolve()).register_service(service_id, keepalive_s, callback_url)

    async def keepalive(self, service_id: str) -> None:
        await (await self._resolve()).keepalive(service_id)

    async def deregister_service(self, service_id: str) -> bool:
        """Delete the service, and at the A1-PMS every policy it owns; False when it was
        already gone."""
        return await (await self._resolve()).deregister_service(service_id)

    async def rics(self) -> list[RicInfo]:
        """Every Near-RT RIC the A1-PMS manages, with its state and the types it supports."""
        return await (await self._resolve()).rics()

    async def policy_type_ids(self, ric_id: str | None = None) -> list[str]:
        """Ids of the policy types ``ric_id`` supports, or any RIC does; each id once.

        An unknown RIC is an ``A1Error`` (404), not an empty list.
        """
        return await (await self._resolve()).policy_type_ids(ric_id)

    async def policy_type(self, policy_type_id: str) -> dict[str, Any]:
        """The PolicyTypeObject: ``policySchema`` and, if the RIC gives one, ``statusSchema``
        (v2 has no ``statusSchema``)."""
        return await (await self._resolve()).policy_type(policy_type_id)

    async def get_policy(self, policy_id: str) -> dict[str, Any] | None:
        """The policy object (its data only), or None when no such policy exists."""
        return await (await self._resolve()).get_policy(policy_id)

    async def put_policy(self, policy: A1Policy) -> Literal["created", "updated"]:
        """Create the policy under its own id; if that id exists, replace its data.

        Raises ``PolicyInvalid`` before anything is written when the body does not fit the
        type's ``policySchema`` (the type is read once per client and remembered).
        """
        wire = await self._resolve()
        await self.check_policy(policy)
        return await wire.put_policy(policy)

    async def check_policy(self, policy: A1Policy) -> None:
        """Raise ``PolicyInvalid`` unless the body fits its type's ``policySchema`` (read from
        the A1-PMS once per type); writes nothing, so a dry run can ask it too."""
        try:
            validator = await self._validator(policy.policy_type_id)
        except jsonschema.SchemaError as exc:
            # Nothing can be checked against a broken schema, and nothing should be sent.
            raise PolicyInvalid(
                policy, "", f"the type's policySchema is not a JSON schema: {exc.message}"
            ) from exc
        error = best_match(validator.iter_errors(policy.body))
        if error is not None:
            raise PolicyInvalid(policy, _pointer(error.absolute_path), error.message)

    async def policy_status(self, policy_id: str) -> dict[str, Any] | None:
        """What the Near-RT RIC reports for the policy (its type's ``statusSchema``, e.g.
        ``{"enforceStatus": "ENFORCED"}``), or None when no such policy exists."""
        return await (await self._resolve()).policy_status(policy_id)

    async def delete_policy(self, policy_id: str) -> bool:
        """True when the policy was deleted, False when it did not exist."""
        return await (await self._resolve()).delete_policy(policy_id)

    async def list_policies(
        self, *, service_id: str | None = None, policy_type_id: str | None = None
    ) -> list[str]:
        """Ids of the policies matching every filter given."""
        return await (await self._resolve()).list_policies(service_id, policy_type_id)

    async def _resolve(self) -> Wire:
        if self._wire is None:
            async with self._probing:
                # Concurrent first calls wait for one probe instead of each sending their own.
                if self._wire is None:
                    self._wire = await self._probe()
        return self._wire

    async def _probe(self) -> Wire:
        """v3 if its status answers; v2 if v3's is 404 and v2's answers. A failure is raised
        and nothing is remembered, so the next call asks again."""
        v3 = V3Wire(self._http)
        response = await self._http.get(v3.status_path)
        if response.status_code != 404:
            expect(response, 200)
            return v3
        v2 = V2Wire(self._http)
        # 404 here too: not an A1-PMS at all (a wrong URL), which waiting will not mend.
        expect(await self._http.get(v2.status_path), 200)
        log.info("A1-PMS at %s serves no v3 API: speaking v2", self._http.base_url)
        return v2

    async def _validator(self, policy_type_id: str) -> Validator:
        validator = self._validators.get(policy_type_id)
        if validator is None:
            schema = (await self.policy_type(policy_type_id)).get("policySchema", {})
            if not isinstance(schema, dict | bool):
                raise jsonschema.SchemaError(f"{schema!r} is not a JSON object")
            # The schema's own $schema decides the draft; A1 policy types are draft 7.
            cls = jsonschema.validators.validator_for(schema, default=jsonschema.Draft7Validator)
            cls.check_schema(schema)
            validator = self._validators[policy_type_id] = cls(schema)
        return validator


# 409 is not here: put_policy already turns "exists" into an update, so a 409 that reaches a
# caller is a real conflict. 423 is "RIC synchronising": the spec says try again later.
_TRANSIENT_STATUS = frozenset({423, 429, 500, 502, 503, 504})


def is_transient(exc: BaseException) -> bool:
    """An A1-PMS briefly away (transport failures, the statuses the spec marks as transient):
    worth trying again; anything else (a refusal, a wrong URL, an invalid policy) is not."""
    if isinstance(exc, A1Error):
        return exc.status in _TRANSIENT_STATUS
    return isinstance(exc, httpx.TransportError)


def _pointer(path: Any) -> str:
    """A JSON pointer (RFC 6901) for a jsonschema error path."""
    return "".join("/" + str(p).replace("~", "~0").replace("/", "~1") for p in path)
