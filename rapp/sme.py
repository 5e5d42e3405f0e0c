"""Finding the Non-RT RIC's A1-PMS and ICS through SME (CAPIF discovery, 3GPP TS 29.222).

Deployed by the rApp Manager, the rApp is told its instance id and the SME discovery endpoint,
and it is onboarded as a CAPIF invoker of the platform's service APIs. At start it asks
``GET <endpoint>?api-invoker-id=api_invoker_id_<app id>&api-name=<name>`` for each peer and
builds the peer's base URL from the answer: ``http://<ipv4Addr>:<port>`` of the first AEF
interface, and the path before the API's own root in a resource ``uri`` (through the SME's
Service Manager the address is its gateway's and each uri carries a route prefix, so the uri
given is always used). The O-RAN SC SMO publishes the A1-PMS's v2 resources only, so the
A1 client's ``auto`` finds v2 there; it publishes ICS's A1-EI resources only, not the
data-consumer API the rApp needs, so there ICS keeps its static URL. Without an endpoint,
or when discovery fails, the static URLs stay: a rApp must still start where SME is absent
or down, and it says which URL it uses and why.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from rapp.config import Settings, SmeSettings

log = logging.getLogger(__name__)

A1PMS_API = "a1-policy-http"
ICS_API = "informationservice-http"
"""The ``apiName``\\ s the O-RAN SC SMO publishes the A1-PMS and ICS under (it-dep,
``servicemanager-preconfig-nonrtric.yaml``)."""

# The API roots the rApp's clients add themselves; whatever comes before one in a discovered
# uri (a gateway's route prefix) is part of the base URL.
_A1PMS_ROOTS = ("/a1-policy-management/v1", "/a1-policy/v2")
_ICS_ROOTS = ("/data-consumer/v1",)


class DiscoveryError(Exception):
    """SME did not name a usable endpoint for an API; ``transient`` when it may yet (a 5xx)."""

    def __init__(self, message: str, *, transient: bool = False) -> None:
        super().__init__(message)
        self.transient = transient


@dataclass(frozen=True)
class Discovered:
    """Where a peer was found, and through which published API."""

    api_name: str
    base_url: str


async def discover(
    endpoint: str,
    invoker_id: str,
    api_name: str,
    roots: tuple[str, ...],
    *,
    timeout_s: float = 10.0,
    transport: httpx.AsyncBaseTransport | None = None,
) -> Discovered:
    """The base URL of ``api_name`` as SME gives it to ``invoker_id``."""
    url = endpoint if "://" in endpoint else f"http://{endpoint}"
    async with httpx.AsyncClient(timeout=timeout_s, transport=transport) as http:
        response = await http.get(url, params={"api-invoker-id": invoker_id, "api-name": api_name})
    if response.status_code != 200:
        raise DiscoveryError(
            f"SME answered {response.status_code} for {api_name!r}: {_detail(response)}",
            transient=response.status_code >= 500,
        )
    try:
        body = response.json()
        found = [
            d
            for d in body.get("serviceAPIDescriptions") or []
            if isinstance(d, dict) and d.get("apiName") == api_name
        ]
        if not found:
            raise DiscoveryError(f"SME has no API {api_name!r} that {invoker_id} may invoke")
        return Discovered(api_name, _base_url(found[0], roots))
    except (ValueError, AttributeError, TypeError, KeyError) as exc:
        # A gateway's error page, or a body of another shape: nothing to locate the API by.
        raise DiscoveryError(
            f"SME's answer for {api_name!r} is not a DiscoveredAPIs document: {exc}"
        ) from None


def _base_url(description: dict[str, Any], roots: tuple[str, ...]) -> str:
    """The first AEF profile's address, and the path before the API's root in its uris. An
    API whose uris never hold the root cannot be located: a gateway routes each published
    resource alone, and the platform publishes ICS's A1-EI resources, not its data-consumer
    API, so guessing the address would fail later and less clearly."""
    name = description.get("apiName")
    for profile in description.get("aefProfiles") or []:
        address = _address(profile)
        if address is None:
            continue
        uris = [
            str(r.get("uri", ""))
            for version in profile.get("versions") or []
            for r in version.get("resources") or []
        ]
        prefix = _prefix(uris, roots)
        if prefix is None:
            raise DiscoveryError(
                f"SME publishes {name!r} without a resource under {' or '.join(roots)}"
            )
        return address + prefix
    raise DiscoveryError(f"SME's description of {name!r} has no interface to call it on")


def _address(profile: dict[str, Any]) -> str | None:
    """``http://host:port`` of the profile's first interface, or its domain name alone. The
    platform lists its plain HTTP port first (the A1-PMS's 8081 before 8433)."""
    for interface in profile.get("interfaceDescriptions") or []:
        host = interface.get("ipv4Addr") or interface.get("fqdn") or interface.get("ipv6Addr")
        if host and interface.get("port"):
            host = str(host).strip("[]")
            host = f"[{host}]" if ":" in host else host
            return f"http://{host}:{interface['port']}"
    domain = profile.get("domainName")
    return f"http://{domain}" if domain else None


def _prefix(uris: list[str], roots: tuple[str, ...]) -> str | None:
    """What comes before the API's root in the first uri that holds it: empty for a direct
    address, the gateway's route for one published through the Service Manager; None when no
    uri holds it."""
    for uri in uris:
        for root in roots:
            at = uri.find(root)
            if at >= 0:
                return uri[:at].rstrip("/")
    return None


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200] or "(no body)"
    return str(body.get("detail") or body.get("cause") or body.get("title") or body)[:200]


async def resolve(
    settings: Settings, *, transport: httpx.AsyncBaseTransport | None = None
) -> Settings:
    """``settings`` with the A1-PMS and ICS URLs SME gives; unchanged without SME. Waits up
    to ``sme.wait_s`` for an SME that does not answer, then keeps the static URLs."""
    sme = settings.sme
    if not sme.discovery_endpoint:
        return settings
    invoker = sme.api_invoker_id
    if invoker is None:
        log.error(
            "SME discovery endpoint %s is set but no app id or invoker id: keeping the static "
            "A1-PMS and ICS URLs (set sme.app_id, which the rApp Manager passes as "
            "environment.appId)",
            sme.discovery_endpoint,
        )
        return settings
    peers = {"a1": (sme.a1pms_api, _A1PMS_ROOTS)}
    if settings.ics.enabled:
        peers["ics"] = (sme.ics_api, _ICS_ROOTS)
    found = {
        section: await _discover_waiting(sme, invoker, api, roots, transport)
        for section, (api, roots) in peers.items()
    }
    updates = {}
    for section, hit in found.items():
        current = getattr(settings, section)
        if hit is None:
            log.warning("using the static %s URL %s", section, current.url)
            continue
        log.info("SME: %s is at %s (API %r)", section, hit.base_url, hit.api_name)
        updates[section] = current.model_copy(update={"url": hit.base_url})
    return settings.model_copy(update=updates)


async def _discover_waiting(
    sme: SmeSettings,
    invoker: str,
    api: str,
    roots: tuple[str, ...],
    transport: httpx.AsyncBaseTransport | None,
) -> Discovered | None:
    """One API's discovery; an SME that cannot be reached or answers 5xx is retried until
    ``wait_s``; an answer without the API is final (retrying will not publish it)."""
    assert sme.discovery_endpoint is not None
    deadline, delay = time.monotonic() + sme.wait_s, 1.0
    while True:
        try:
            return await discover(
                sme.discovery_endpoint,
                invoker,
                api,
                roots,
                timeout_s=sme.timeout_s,
                transport=transport,
            )
        except (DiscoveryError, httpx.HTTPError) as exc:
            if isinstance(exc, DiscoveryError) and not exc.transient:
                log.error("SME discovery of %r: %s", api, exc)
                return None
            if time.monotonic() + delay > deadline:
                log.error(
                    "SME at %s unreachable (%s): giving up on discovery",
                    sme.discovery_endpoint,
                    exc,
                )
                return None
            log.warning("waiting for SME at %s: %s", sme.discovery_endpoint, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
