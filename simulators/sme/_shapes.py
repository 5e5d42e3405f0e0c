"""Shape checks: what Go's json.Unmarshal into capifcore's structs would refuse ("invalid format").

Kept apart from the rules in ``capif`` because they are about JSON types, not CAPIF semantics.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit


def _is_str(value: Any) -> bool:
    return isinstance(value, str)


def _list_of_dicts(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, dict) for v in value)


def provider_shape_ok(body: Any) -> bool:
    if not isinstance(body, dict):
        return False
    for key in ("regSec", "apiProvDomInfo", "apiProvDomId"):
        if key in body and body[key] is not None and not _is_str(body[key]):
            return False
    funcs = body.get("apiProvFuncs")
    if funcs is None:
        return True
    if not _list_of_dicts(funcs):
        return False
    for func in funcs:
        for key in ("apiProvFuncRole", "apiProvFuncInfo", "apiProvFuncId"):
            if func.get(key) is not None and not _is_str(func[key]):
                return False
        reg = func.get("regInfo", {})
        if not isinstance(reg, dict) or not _is_str(reg.get("apiProvPubKey", "")):
            return False
    return True


def service_shape_ok(body: Any) -> bool:
    if not isinstance(body, dict) or not _is_str(body.get("apiName", "")):
        return False
    profiles = body.get("aefProfiles")
    if profiles is None:
        return True
    if not _list_of_dicts(profiles):
        return False
    for profile in profiles:
        if not _is_str(profile.get("aefId", "")) or not _list_of_dicts(profile.get("versions", [])):
            return False
        descs = profile.get("interfaceDescriptions", [])
        if descs is not None and not _list_of_dicts(descs):
            return False
        for desc in descs or []:
            port = desc.get("port")
            if port is not None and (not isinstance(port, int) or isinstance(port, bool)):
                return False
        for version in profile.get("versions", []):
            if not _is_str(version.get("apiVersion", "")):
                return False
            resources = version.get("resources")
            if resources is not None and not _list_of_dicts(resources):
                return False
            for res in resources or []:
                if not all(_is_str(res.get(k, "")) for k in ("commType", "resourceName", "uri")):
                    return False
    return True


def invoker_shape_ok(body: Any) -> bool:
    if not isinstance(body, dict):
        return False
    for key in ("apiInvokerInformation", "apiInvokerId", "notificationDestination"):
        if body.get(key) is not None and not _is_str(body[key]):
            return False
    onboarding = body.get("onboardingInformation", {})
    if not isinstance(onboarding, dict) or not _is_str(onboarding.get("apiInvokerPublicKey", "")):
        return False
    api_list = body.get("apiList")
    return api_list is None or _list_of_dicts(api_list) or isinstance(api_list, dict)


def requested_api_list(body: dict[str, Any]) -> list[dict[str, Any]]:
    """capifcore's ``APIList`` is a bare array; TS 29.222 wraps it as ``{serviceAPIDescriptions}``.
    Both are taken."""
    api_list = body.get("apiList")
    if isinstance(api_list, dict):
        api_list = api_list.get("serviceAPIDescriptions") or []
    return api_list or []


def uri_ok(value: str) -> bool:
    """Go's ``url.ParseRequestURI``: an absolute URI (scheme) or an absolute path."""
    if not value:
        return False
    if value.startswith("/"):
        return True
    parts = urlsplit(value)
    return bool(parts.scheme) and parts.scheme.isascii() and " " not in value
