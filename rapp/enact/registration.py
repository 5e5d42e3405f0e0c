"""The rApp's service registration at the A1-PMS, kept alive.

A registered service with ``keepAliveIntervalSeconds > 0`` is supervised: when its keepalives
stop for longer than that, the A1-PMS deletes the service and every policy it created. So the
rApp keeps calling keepalive well inside the interval, and when one finds the service gone (a
long pause, an A1-PMS restart) it registers again and puts back the policies that should be in
force: a silent loss of the Near-RT RIC's guidance is what supervision would otherwise cause.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import httpx

from rapp.config import A1Settings
from rapp.enact.a1 import A1Client, A1Error, A1Policy, PolicyInvalid

log = logging.getLogger(__name__)

Reassert = Callable[[], Awaitable[list[A1Policy]]]
"""What should be in force at the A1-PMS now (the latest enacted guidance of each NF and the
heals not withdrawn)."""


class Registration:
    """Registers the rApp's service and keeps it alive; see the module docstring."""

    def __init__(self, settings: A1Settings, in_force: Reassert) -> None:
        self._settings = settings
        self._in_force = in_force
        self.restored = 0
        """Policies put back after the service was found gone, since start."""
        self.problems: list[str] = []
        """What discovery found wrong with the configured RIC and policy types."""
        self._api = settings.api
        """The API version: as configured until the first registration found it out, so
        later keepalives do not probe again."""

    async def register(self) -> None:
        async with self._client() as a1:
            await a1.register_service(
                self._settings.service_id, keepalive_s=self._settings.keepalive_s
            )
            self._api = await a1.api()
            log.info(
                "registered at the A1-PMS (%s API) as %s (keepalive interval %d s)",
                self._api,
                self._settings.service_id,
                self._settings.keepalive_s,
            )
            try:
                self.problems = await self._discover(a1)
            except Exception as exc:  # registered: a failed look-around must not undo that
                self.problems = [f"could not list the A1-PMS's RICs: {exc}"]
            await self._put_back_missing(a1)
        for problem in self.problems:
            log.error("A1 discovery: %s; decisions for it will fail until this is fixed", problem)

    async def _put_back_missing(self, a1: A1Client) -> None:
        """Put back the guidance the A1-PMS lost: a clean stop deregisters the service and so
        deletes its policies, and supervision does the same after a long silence. Only the
        missing ones: a policy in place may be newer than the journal's view while a recovered
        enactment runs."""
        try:
            held = set(await a1.list_policies(service_id=self._settings.service_id))
            missing = [p for p in await self._in_force() if p.policy_id not in held]
        except Exception as exc:  # registered: a failed look must not undo that
            log.error("could not compare the A1-PMS's policies with the journal: %s", exc)
            return
        restored = 0
        for policy in missing:
            try:
                await a1.put_policy(policy)
                restored += 1
            except (A1Error, PolicyInvalid, httpx.HTTPError) as exc:
                # One policy the RIC refuses now (its type withdrawn) must not keep the
                # others out, nor stop registration: supervision would then delete them all.
                log.error("A1 policy %s not put back: %s", policy.policy_id, exc)
        self.restored += restored
        if missing:
            log.info("%d of %d missing A1 policies put back", restored, len(missing))

    async def deregister(self) -> None:
        """Delete the service at a clean stop (and so, at the A1-PMS, its policies); a failure
        is logged, never raised: supervision removes the service anyway once keepalives stop."""
        try:
            async with self._client() as a1:
                gone = await a1.deregister_service(self._settings.service_id)
        except (A1Error, httpx.HTTPError) as exc:
            log.warning("could not delete A1-PMS service %s: %s", self._settings.service_id, exc)
            return
        log.info(
            "A1-PMS service %s %s",
            self._settings.service_id,
            "deleted, with its policies" if gone else "was already gone",
        )

    async def _discover(self, a1: A1Client) -> list[str]:
        """Whether the A1-PMS knows the configured Near-RT RIC and it supports the rApp's
        policy types: a typo here would otherwise show only as every enactment failing."""
        s = self._settings
        rics = {ric.ric_id: ric for ric in await a1.rics()}
        ric = rics.get(s.ric_id)
        if ric is None:
            return [f"the A1-PMS knows no Near-RT RIC {s.ric_id!r} (it knows {sorted(rics)})"]
        return [
            f"Near-RT RIC {s.ric_id!r} ({ric.state}) does not support policy type {type_id!r}"
            for type_id in (s.policy_type_id, s.healing_policy_type_id)
            if type_id not in ric.policy_type_ids
        ]

    async def keep_alive(self) -> None:
        """Call keepalive at a third of the interval until cancelled; a failure is logged and
        the next call tried (the A1-PMS may be restarting)."""
        if self._settings.keepalive_s <= 0:
            return  # not supervised: nothing expires
        while True:
            await asyncio.sleep(self._settings.keepalive_s / 3)
            try:
                await self.beat()
            except Exception as exc:  # the journal or the A1-PMS: the next beat may fare better
                log.warning("A1-PMS keepalive failed, trying again: %s", exc)

    async def beat(self) -> bool:
        """One keepalive; True when the service had expired and was registered again, with
        its policies put back."""
        async with self._client() as a1:
            try:
                await a1.keepalive(self._settings.service_id)
                return False
            except A1Error as exc:
                if exc.status != 404:
                    raise
            log.warning(
                "the A1-PMS no longer knows service %s (its keepalive supervision deleted it, "
                "and its policies): registering again and putting them back",
                self._settings.service_id,
            )
            await a1.register_service(
                self._settings.service_id, keepalive_s=self._settings.keepalive_s
            )
            await self._put_back_missing(a1)
        return True

    def _client(self) -> A1Client:
        return A1Client.from_settings(self._settings, api=self._api)
