"""Field names in capifcore's spelling, whatever case the request used."""

from __future__ import annotations

from typing import Any

# Every field name of the capifcore types the simulator reads or answers. Go's encoding/json binds
# keys case-insensitively, so capifcore takes the SMO preload's "AefProfiles"/"ApiName"; keys are
# put back in these spellings on the way in, as the Go structs would marshal them.
_FIELDS = [
    "apiProvDomId",
    "apiProvDomInfo",
    "apiProvFuncs",
    "regSec",
    "suppFeat",
    "failReason",
    "apiProvFuncId",
    "apiProvFuncRole",
    "apiProvFuncInfo",
    "regInfo",
    "apiProvPubKey",
    "apiProvCert",
    "aefProfiles",
    "apiId",
    "apiName",
    "apiSuppFeats",
    "ccfId",
    "description",
    "pubApiPath",
    "serviceAPICategory",
    "shareableInfo",
    "supportedFeatures",
    "aefId",
    "aefLocation",
    "dataFormat",
    "domainName",
    "interfaceDescriptions",
    "protocol",
    "securityMethods",
    "versions",
    "ipv4Addr",
    "ipv6Addr",
    "port",
    "apiVersion",
    "custOperations",
    "expiry",
    "resources",
    "commType",
    "custOpName",
    "operations",
    "resourceName",
    "uri",
    "capifProvDoms",
    "isShareable",
    "ccfIds",
    "apiInvokerId",
    "apiInvokerInformation",
    "apiList",
    "notificationDestination",
    "onboardingInformation",
    "requestTestNotification",
    "websockNotifConfig",
    "apiInvokerCertificate",
    "apiInvokerPublicKey",
    "onboardingSecret",
]
_CANONICAL = {name.lower(): name for name in _FIELDS}


def canonical_keys(value: Any) -> Any:
    """``value`` with every known field name in capifcore's spelling (see ``_FIELDS``)."""
    if isinstance(value, dict):
        return {_CANONICAL.get(k.lower(), k): canonical_keys(v) for k, v in value.items()}
    if isinstance(value, list):
        return [canonical_keys(v) for v in value]
    return value
