"""Registered services (rApps) and their keepalive supervision.

A service with ``keepAliveIntervalSeconds > 0`` is supervised: silent for longer than that, it is
due for removal. Which policies go with it is the registry's business, not this module's.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from simulators.a1pms.problem import Problem
from simulators.a1pms.validation import SERVICE_SCHEMA, check

log = logging.getLogger(__name__)


@dataclass(slots=True)
class Service:
    service_id: str
    keepalive_s: int
    callback_url: str | None
    last_activity: float


class Services:
    """The service registry, on a clock a test can drive."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._services: dict[str, Service] = {}

    def put(self, info: Any) -> bool:
        """PUT /services: True when the service is new."""
        check(SERVICE_SCHEMA, info, "Invalid ServiceRegistrationInfo")
        service_id = info["serviceId"]
        created = service_id not in self._services
        self._services[service_id] = Service(
            service_id=service_id,
            keepalive_s=info.get("keepAliveIntervalSeconds", 0),
            callback_url=info.get("callbackUrl"),
            last_activity=self._clock(),
        )
        log.info("service %s %s", service_id, "registered" if created else "updated")
        return created

    def get(self, service_id: str) -> Service:
        try:
            return self._services[service_id]
        except KeyError:
            raise Problem(404, f"Service not found: {service_id}") from None

    def keepalive(self, service_id: str) -> None:
        self.get(service_id).last_activity = self._clock()

    def touch(self, service_id: str) -> None:
        """Any operation by a registered service counts as a sign of life, as in A1-PMS."""
        service = self._services.get(service_id)
        if service is not None:
            service.last_activity = self._clock()

    def status(self, service_id: str | None = None) -> dict[str, Any]:
        """GET /services: the ``ServiceStatusList`` of one service or of all."""
        chosen: Iterable[Service] = (
            [self.get(service_id)] if service_id is not None else self._services.values()
        )
        now = self._clock()
        service_list = []
        for s in chosen:
            status: dict[str, Any] = {
                "serviceId": s.service_id,
                "keepAliveIntervalSeconds": s.keepalive_s,
                "timeSinceLastActivitySeconds": int(now - s.last_activity),
            }
            if s.callback_url is not None:
                status["callbackUrl"] = s.callback_url
            service_list.append(status)
        return {"serviceList": service_list}

    def silent(self, now: float | None = None) -> list[str]:
        """Ids of supervised services silent for longer than their interval at ``now``."""
        now = self._clock() if now is None else now
        return [
            s.service_id
            for s in self._services.values()
            if s.keepalive_s > 0 and now - s.last_activity > s.keepalive_s
        ]

    def remove(self, service_id: str) -> None:
        del self._services[service_id]

    def clear(self) -> int:
        """Forget every service; returns how many there were."""
        count = len(self._services)
        self._services.clear()
        return count
