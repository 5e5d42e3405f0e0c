"""Kubernetes ``Status`` errors, worded exactly as kube-apiserver and Porch word them.

Porch's clients (porchctl, kubectl, the Nephio controllers, our rApp) tell failures apart by HTTP
code, ``reason`` and message text, so each constructor here mirrors one apimachinery helper
(``apierrors.NewNotFound``, ``NewInvalid``, ``NewInternalError``, ...) byte for byte. Note the
Porch quirk that matters most: the registry wraps engine errors in ``NewInternalError``, so a
stale resourceVersion reaches the client as **500 InternalError**, not 409.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Literal

GROUP = "porch.kpt.dev"
CONFIG_GROUP = "config.porch.kpt.dev"
STALE_TEXT = (
    "the object has been modified; please apply your changes to the latest version and try again"
)
"""engine.OptimisticLockErrorMsg."""


class StatusError(Exception):
    """A failed request, rendered as a ``v1 Status`` object by the HTTP layer."""

    def __init__(
        self, code: int, reason: str, message: str, details: dict[str, Any] | None = None
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = details

    def to_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
        }
        if self.details is not None:
            body["details"] = self.details
        body["code"] = self.code
        return body


@dataclass(frozen=True, slots=True)
class FieldError:
    """One ``field.Error`` of a 422: ``Invalid`` carries the offending value, ``Forbidden`` not."""

    kind: Literal["Invalid", "Forbidden"]
    field: str
    detail: str
    value: Any = None

    def body(self) -> str:
        """``field.Error.ErrorBody()``."""
        if self.kind == "Forbidden":
            return f"Forbidden: {self.detail}"
        return f"Invalid value: {_go_value(self.value)}: {self.detail}"

    def __str__(self) -> str:
        return f"{self.field}: {self.body()}"


def _go_value(value: Any) -> str:
    # Go prints strings with %q and simple types with %v; a struct (a whole spec) with %#v,
    # which Python cannot imitate, so it is shown as compact JSON instead.
    if isinstance(value, str):
        return json.dumps(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if value is None:
        return "null"
    return json.dumps(value, separators=(",", ":"), sort_keys=True)


def _details(resource: str, name: str, group: str = GROUP) -> dict[str, Any]:
    return {"name": name, "group": group, "kind": resource}


def not_found(resource: str, name: str, group: str = GROUP) -> StatusError:
    """``apierrors.NewNotFound``: ``packagerevisions.porch.kpt.dev "x" not found``."""
    return StatusError(
        404, "NotFound", f'{resource}.{group} "{name}" not found', _details(resource, name, group)
    )


def repository_not_found(name: str) -> StatusError:
    return not_found("repositories", name, CONFIG_GROUP)


def route_not_found() -> StatusError:
    return StatusError(404, "NotFound", "the server could not find the requested resource", {})


def method_not_allowed() -> StatusError:
    return StatusError(
        405, "MethodNotAllowed", "the server does not allow this method on the requested resource"
    )


def bad_request(message: str) -> StatusError:
    return StatusError(400, "BadRequest", message)


def invalid(kind: str, name: str, errors: list[FieldError]) -> StatusError:
    """``apierrors.NewInvalid``: 422 whose message aggregates every field error."""
    texts = list(dict.fromkeys(str(e) for e in errors))
    summary = texts[0] if len(texts) == 1 else "[" + ", ".join(texts) + "]"
    causes = [
        {"reason": f"FieldValue{e.kind}", "message": e.body(), "field": e.field} for e in errors
    ]
    details = {"name": name, "group": GROUP, "kind": kind, "causes": causes}
    return StatusError(422, "Invalid", f'{kind}.{GROUP} "{name}" is invalid: {summary}', details)


def internal(message: str) -> StatusError:
    """``apierrors.NewInternalError``: how Porch's registry reports every engine failure."""
    return StatusError(
        500,
        "InternalError",
        f"Internal error occurred: {message}",
        {"causes": [{"message": message}]},
    )


def conflict(resource: str, name: str, message: str) -> StatusError:
    """``apierrors.NewConflict``: 409 ``Operation cannot be fulfilled on ...``."""
    return StatusError(
        409,
        "Conflict",
        f'Operation cannot be fulfilled on {resource}.{GROUP} "{name}": {message}',
        _details(resource, name),
    )


def stale(resource: str, name: str) -> StatusError:
    """A stale resourceVersion: the engine's Conflict, wrapped by the registry into a 500."""
    return internal(conflict(resource, name, STALE_TEXT).message)


def missing_resource_version() -> StatusError:
    return internal("resourceVersion must be specified for an update")


def in_flight(resource: str, name: str, what: str, key: str) -> StatusError:
    """Porch's per-revision TryLock failed: a real 409 (``GenericConflictErrorMsg``)."""
    return conflict(resource, name, f'another request is already in progress on {what} "{key}"')


def creation_in_flight(
    namespace: str, repository: str, package: str, workspace: str
) -> StatusError:
    """Two creates of the same package and workspace at once (``creationConflictError``)."""
    text = (
        "another request is already in progress to create package revision with details "
        f'namespace="{namespace}", repository="{repository}", package="{package}",'
        f'workspace="{workspace}"'
    )
    return conflict("packagerevisions", "(new creation)", text)


def forbidden(resource: str, name: str, message: str) -> StatusError:
    return StatusError(
        403,
        "Forbidden",
        f'{resource}.{GROUP} "{name}" is forbidden: {message}',
        _details(resource, name),
    )


def already_exists(resource: str, name: str, message: str) -> StatusError:
    """409 AlreadyExists. Real Porch sends this text as a 500; specs/porch/README.md wants 409."""
    return StatusError(409, "AlreadyExists", message, _details(resource, name))
