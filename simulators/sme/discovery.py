"""Discover service (TS 29.222 §8.1): the query and capifcore's matching of published APIs."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from simulators.sme.problem import CapifProblem


@dataclass
class DiscoveryQuery:
    """The query of ``GET /service-apis/v1/allServiceAPIs`` (capifcore's
    ``GetAllServiceAPIsParams``); ``preferred-aef-loc`` and the features are parsed, not used."""

    api_invoker_id: str
    api_name: str | None = None
    api_version: str | None = None
    comm_type: str | None = None
    protocol: str | None = None
    aef_id: str | None = None
    data_format: str | None = None
    api_cat: str | None = None
    preferred_aef_loc: Any = None
    supported_features: str | None = None
    api_supported_features: str | None = None

    @classmethod
    def from_params(cls, params: dict[str, str]) -> DiscoveryQuery:
        invoker = params.get("api-invoker-id")
        if invoker is None:
            raise CapifProblem(
                400,
                "Invalid format for parameter api-invoker-id: "
                "query parameter 'api-invoker-id' is required",
            )
        loc: Any = None
        if params.get("preferred-aef-loc"):
            try:
                loc = json.loads(params["preferred-aef-loc"])
            except ValueError:
                raise CapifProblem(
                    400, "Error unmarshaling parameter 'preferred-aef-loc' as JSON"
                ) from None
        return cls(
            api_invoker_id=invoker,
            api_name=params.get("api-name"),
            api_version=params.get("api-version"),
            comm_type=params.get("comm-type"),
            protocol=params.get("protocol"),
            aef_id=params.get("aef-id"),
            data_format=params.get("data-format"),
            api_cat=params.get("api-cat"),
            preferred_aef_loc=loc,
            supported_features=params.get("supported-features"),
            api_supported_features=params.get("api-supported-features"),
        )

    def matches(self, api: dict[str, Any]) -> bool:
        """capifcore's ``matchesFilter``: api-name and api-cat on the API; the rest must all hold
        for one AEF profile. The whole description is returned, every profile included."""
        if self.api_name is not None and self.api_name != api.get("apiName"):
            return False
        if self.api_cat is not None and self.api_cat != api.get("serviceAPICategory"):
            return False
        return any(self._profile_matches(p) for p in api.get("aefProfiles") or [])

    def _profile_matches(self, profile: dict[str, Any]) -> bool:
        if self.aef_id is not None and self.aef_id != profile.get("aefId"):
            return False
        if self.protocol is not None and self.protocol != profile.get("protocol"):
            return False
        if self.data_format is not None and self.data_format != profile.get("dataFormat"):
            return False
        return self._version_and_comm_type(profile.get("versions") or [])

    def _version_and_comm_type(self, versions: list[dict[str, Any]]) -> bool:
        def has_comm_type(version: dict[str, Any]) -> bool:
            return any(r.get("commType") == self.comm_type for r in version.get("resources") or [])

        if self.api_version is not None:
            return any(
                v.get("apiVersion") == self.api_version
                and (self.comm_type is None or has_comm_type(v))
                for v in versions
            )
        if self.comm_type is not None:
            # capifcore's checkVersionAndCommType overwrites its result on every version, so only
            # the last version's resources count (and no versions is no match).
            return bool(versions) and has_comm_type(versions[-1])
        return True
