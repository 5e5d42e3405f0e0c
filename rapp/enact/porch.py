"""Publish package revisions through Porch (``porch.kpt.dev/v1alpha1``), as ``porchctl`` would.

The flow is the one in specs/porch/README.md: find the latest Published revision, create an
``edit`` draft from it under a workspace named after the decision, wait for its readiness gates,
replace its resources, propose, approve. The workspace name is the idempotency key, as with the
git writer: a retried or crash-recovered enactment finds its own revision (published: done;
draft or proposed: carried on from where it stopped), so a crash leaves no orphan draft and a
retry no second revision. Names and resourceVersions come from the server and are never built.

Porch answers a stale resourceVersion with HTTP 500 "the object has been modified" (not 409),
and 409 when another request on the same revision is in flight: both are re-read, re-applied
and retried with backoff. Other failures raise :class:`PublishError`, whose ``transient`` says
whether the saga should try the step again.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal

import httpx

from rapp.enact.nephio import PackageRevision, PublishError
from rapp.enact.packages import KPTFILE, PackageError
from rapp.peers import TokenFile, ca_context
from rapp.redact import redact_url

__all__ = ["PorchPackages"]

log = logging.getLogger(__name__)

API = "/apis/porch.kpt.dev/v1alpha1"
LATEST = "kpt.dev/latest-revision"
_STALE = "the object has been modified"
_TRANSIENT_STATUS = frozenset({429, 500, 502, 503, 504})
_REFUSALS = ("must ", "cannot ", "may not ", "not supported", "error rendering", "not found")

_Object = dict[str, Any]


class _Retry(PublishError):
    """Porch said the revision moved under us (stale resourceVersion, or a request in flight):
    re-read and try again; outside a retry loop, the saga's step retry does that."""

    def __init__(self, message: str = "Porch: modified or busy") -> None:
        super().__init__(message, transient=True)


class PorchPackages:
    """The NF packages of one Porch repository; the same face as ``GitPackageRepo``."""

    def __init__(
        self,
        url: str,
        *,
        namespace: str = "default",
        repository: str = "deployment",
        token_file: Path | None = None,
        ca_file: Path | None = None,
        timeout_s: float = 30.0,
        ready_timeout_s: float = 60.0,
        attempts: int = 8,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.namespace = namespace
        self.repository = repository
        self.attempts = max(1, attempts)
        self._ready_timeout = ready_timeout_s
        self._http = httpx.Client(
            base_url=f"{self.url}{API}/namespaces/{namespace}",
            timeout=timeout_s,
            verify=ca_context(ca_file),
            # Read per call: a projected service-account token is rotated on disk.
            auth=TokenFile(token_file) if token_file else None,
            transport=transport,
            headers={"Accept": "application/json"},
        )

    def close(self) -> None:
        self._http.close()

    # -- reading ---------------------------------------------------------------------------

    def packages(self) -> list[str]:
        """Packages of the repository that have a Published revision."""
        return sorted({_spec(r)["packageName"] for r in self._latest()})

    def read(self, package: str) -> dict[str, str]:
        """Files of the package's latest Published revision."""
        latest = self._latest_of(package)
        if latest is None:
            raise PackageError(f"no published revision of {package!r} in {self.repository!r}")
        return self._resources(_name(latest))[1]

    def latest_revision(self, package: str) -> PackageRevision | None:
        latest = self._latest_of(package)
        return None if latest is None else _revision(latest)

    def find_revision(self, package: str, workspace: str) -> PackageRevision | None:
        """The Published revision made under ``workspace``, if there is one."""
        mine = self._by_workspace(package, workspace)
        return _revision(mine) if mine and _spec(mine)["lifecycle"] == "Published" else None

    # -- writing ---------------------------------------------------------------------------

    def publish(
        self,
        package: str,
        workspace: str,
        mutate: Callable[[dict[str, str]], dict[str, str]],
        *,
        message: str = "",
        if_unchanged: Literal["raise", "latest"] = "raise",
    ) -> PackageRevision:
        """Publish ``mutate(files)`` as the package's next revision, once per workspace.

        ``message`` is logged only: Porch writes its own commit messages.
        """
        if if_unchanged not in ("raise", "latest"):
            raise ValueError(f"if_unchanged must be 'raise' or 'latest', not {if_unchanged!r}")
        draft = self._by_workspace(package, workspace)
        if draft is not None and _spec(draft)["lifecycle"] == "Published":
            return _revision(draft)  # done before a crash or a lost response
        latest = self._latest_of(package)
        if latest is None:
            raise PackageError(f"no published revision of {package!r} in {self.repository!r}")
        if draft is not None and _source(draft) != _name(latest):
            # Ours, but cut from a revision that is no longer the latest: publishing it would
            # undo whatever was published since. Start again from the latest.
            self._discard(_name(draft))
            draft = None
        if draft is None:
            draft = self._create_draft(package, workspace, _name(latest))
            if _source(draft) != _name(latest):  # the stale one could not be deleted
                raise PublishError(f"stale draft {_name(draft)} still in the way", transient=True)
        name = _name(draft)
        try:
            self._wait_ready(name)
            changed = self._edit(name, mutate, base=self._resources(_name(latest))[1])
        except Exception as exc:
            if not (isinstance(exc, PublishError) and exc.transient):
                self._discard(name)  # a refused edit must not leave its draft behind
            raise
        if not changed:
            self._discard(name)
            if if_unchanged == "raise":
                raise PackageError(f"no change to {package}")
            return _revision(latest)
        self._transition(name, "Proposed", subresource="")
        now = self._latest_of(package)
        if now is not None and _name(now) != _name(latest):
            # Someone published while we drafted: approving would undo their revision. Drop
            # ours; the step's retry cuts a new draft from theirs and applies the edit again.
            self._discard(name)
            raise PublishError(f"{package} moved on to {_name(now)} while drafting", transient=True)
        published = self._transition(name, "Published", subresource="/approval")
        revision = _spec(published).get("revision")
        log.info("published %s revision %s (%s)", package, revision, message)
        return _revision(published, files=self._resources(name)[1])  # as Porch rendered them

    def abandon(self, package: str, workspace: str) -> bool:
        """Delete the unpublished draft of ``workspace`` (a decision given up on); True if
        there was one. A published revision is left alone: reverting is a new revision."""
        mine = self._by_workspace(package, workspace)
        if mine is None or _spec(mine)["lifecycle"] == "Published":
            return False
        self._discard(_name(mine))
        return True

    def _create_draft(self, package: str, workspace: str, source: str) -> _Object:
        body = {
            "apiVersion": "porch.kpt.dev/v1alpha1",
            "kind": "PackageRevision",
            "metadata": {"namespace": self.namespace},
            "spec": {
                "packageName": package,
                "repository": self.repository,
                "workspaceName": workspace,
                "lifecycle": "Draft",
                "tasks": [{"type": "edit", "edit": {"sourceRef": {"name": source}}}],
            },
        }
        for attempt in self._backoff("create a draft of", package):
            with attempt:
                response = self._call("POST", "/packagerevisions", json=body)
                if response.status_code == 409 or _says_exists(response):
                    # Ours from an earlier try whose answer was lost, or one in flight.
                    found = self._by_workspace(package, workspace)
                    if found is not None:
                        return found
                    raise _Retry
                return _expect(response, 201, 200)
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait_ready(self, name: str) -> None:
        """Porch does not enforce readiness gates; clients wait for every gate to be True."""
        deadline = time.monotonic() + self._ready_timeout
        pause = 0.05
        while True:
            pr = _expect(self._call("GET", f"/packagerevisions/{name}"), 200)
            if _is_ready(pr):
                return
            if time.monotonic() > deadline:
                gates = [g.get("conditionType") for g in _spec(pr).get("readinessGates", [])]
                raise PublishError(
                    f"draft {name} not ready after {self._ready_timeout:g} s (gates {gates})",
                    transient=True,
                )
            time.sleep(pause)
            pause = min(pause * 2, 1.0)

    def _edit(
        self, name: str, mutate: Callable[[dict[str, str]], dict[str, str]], *, base: dict[str, str]
    ) -> bool:
        """Apply ``mutate`` to the draft's files; False when the result equals ``base`` (the
        published revision it came from), i.e. there is nothing to publish."""
        for attempt in self._backoff("update the resources of", name):
            with attempt:
                resources, files = self._resources(name)
                after = mutate(dict(files))
                _check_files(after)
                if after != files:
                    spec = dict(resources["spec"], resources=after)
                    response = self._call(
                        "PUT", f"/packagerevisionresources/{name}", json={**resources, "spec": spec}
                    )
                    _expect(response, 200)
                    _check_render(response.json(), name)
                return after != base
        raise AssertionError("unreachable")  # pragma: no cover

    def _transition(self, name: str, lifecycle: str, *, subresource: str) -> _Object:
        """Move the revision to ``lifecycle`` (re-read before each try: every write moves its
        resourceVersion); a revision already there (a lost answer) is fine."""
        for attempt in self._backoff(f"move to {lifecycle}", name):
            with attempt:
                pr = _expect(self._call("GET", f"/packagerevisions/{name}"), 200)
                if _spec(pr)["lifecycle"] == lifecycle:
                    return pr
                if lifecycle == "Published" and _spec(pr)["lifecycle"] != "Proposed":
                    raise PublishError(
                        f"{name} is {_spec(pr)['lifecycle']}, not Proposed: cannot approve it"
                    )
                pr["spec"] = dict(_spec(pr), lifecycle=lifecycle)
                path = f"/packagerevisions/{name}{subresource}"
                return _expect(self._call("PUT", path, json=pr), 200)
        raise AssertionError("unreachable")  # pragma: no cover

    def _discard(self, name: str) -> None:
        """Delete an unpublished draft; a failure here is logged, not raised over the cause."""
        try:
            response = self._call("DELETE", f"/packagerevisions/{name}")
            if response.status_code not in (200, 202, 404):
                _expect(response, 200)
        except PublishError as exc:
            log.warning("draft %s left behind: %s", name, exc)

    # -- HTTP ------------------------------------------------------------------------------

    def _resources(self, name: str) -> tuple[_Object, dict[str, str]]:
        prr = _expect(self._call("GET", f"/packagerevisionresources/{name}"), 200)
        files = _spec(prr).get("resources") or {}
        return prr, {str(k): str(v) for k, v in files.items()}

    def _list(self, **selectors: str) -> list[_Object]:
        fields = {"spec.repository": self.repository, **selectors}
        params = {"fieldSelector": ",".join(f"{k}={v}" for k, v in fields.items())}
        response = self._call("GET", "/packagerevisions", params=params)
        items: list[_Object] = _expect(response, 200).get("items") or []
        return items

    def _latest(self) -> list[_Object]:
        published = self._list(**{"spec.lifecycle": "Published"})
        return [r for r in published if (r["metadata"].get("labels") or {}).get(LATEST) == "true"]

    def _latest_of(self, package: str) -> _Object | None:
        published = self._list(**{"spec.packageName": package, "spec.lifecycle": "Published"})
        return max(published, key=lambda r: int(_spec(r).get("revision") or 0), default=None)

    def _by_workspace(self, package: str, workspace: str) -> _Object | None:
        hits = self._list(**{"spec.packageName": package, "spec.workspaceName": workspace})
        return hits[0] if hits else None

    def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        try:
            return self._http.request(method, path, **kwargs)
        except httpx.TransportError as exc:
            where = redact_url(self.url)
            msg = f"Porch at {where}: {type(exc).__name__}: {exc}"
            raise PublishError(msg, transient=True) from exc

    def _backoff(self, what: str, name: str) -> Iterator[_Attempt]:
        for n in range(self.attempts):
            attempt = _Attempt()
            yield attempt
            if not attempt.retry:
                return
            time.sleep(min(0.05 * 2**n, 2.0) * random.uniform(0.5, 1.5))
        raise PublishError(
            f"could not {what} {name}: Porch reported it modified or busy {self.attempts} times",
            transient=True,
        )


class _Attempt:
    """One try of a backoff loop: a ``_Retry`` raised inside it asks for another."""

    def __init__(self) -> None:
        self.retry = False

    def __enter__(self) -> _Attempt:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: object, tb: object) -> bool:
        self.retry = exc_type is _Retry
        return self.retry


def _spec(obj: Mapping[str, Any]) -> dict[str, Any]:
    spec: dict[str, Any] = obj.get("spec") or {}
    return spec


def _name(obj: Mapping[str, Any]) -> str:
    return str(obj["metadata"]["name"])


def _revision(pr: Mapping[str, Any], files: dict[str, str] | None = None) -> PackageRevision:
    spec = _spec(pr)
    n = int(spec.get("revision") or 0)
    tag = f"{spec['packageName']}/v{n}"
    workspace = spec.get("workspaceName", "")
    return PackageRevision(spec["packageName"], n, tag, _name(pr), workspace, files)


def _source(pr: Mapping[str, Any]) -> str | None:
    """The revision an edit draft was cut from."""
    for task in _spec(pr).get("tasks") or []:
        if task.get("type") == "edit":
            return str(((task.get("edit") or {}).get("sourceRef") or {}).get("name"))
    return None


def _is_ready(pr: Mapping[str, Any]) -> bool:
    conditions = {
        c.get("type"): c.get("status") for c in (pr.get("status") or {}).get("conditions") or []
    }
    gates = [g.get("conditionType") for g in _spec(pr).get("readinessGates") or []]
    return all(conditions.get(g) == "True" for g in gates)


def _says_exists(response: httpx.Response) -> bool:
    """Porch reports a duplicate workspace as a 500 ("workspaceNames must be unique")."""
    return response.status_code == 500 and "must be unique" in response.text


def _check_files(files: Mapping[str, str]) -> None:
    if KPTFILE not in files:
        raise PackageError("refusing a package without a Kptfile at its root")


def _check_render(prr: Mapping[str, Any], name: str) -> None:
    error = ((prr.get("status") or {}).get("renderStatus") or {}).get("error")
    if error:
        raise PackageError(f"Porch could not render {name}: {error}")


def _expect(response: httpx.Response, *ok: int) -> _Object:
    if response.status_code in ok:
        body: _Object = response.json() if response.content else {}
        return body
    message = _message(response)
    if response.status_code == 409 or (response.status_code == 500 and _STALE in message):
        raise _Retry
    raise PublishError(
        f"Porch {response.request.method} {response.request.url.path}: "
        f"{response.status_code} {message}",
        transient=response.status_code in _TRANSIENT_STATUS and not _refusal(message),
    )


def _refusal(message: str) -> bool:
    """Porch wraps its refusals in HTTP 500 InternalError as well ("source revision must be
    published", "error rendering package", "package must contain Kptfile"): those will not
    pass by themselves, unlike a 500 from a server in trouble."""
    text = message.lower()
    return any(word in text for word in _REFUSALS)


def _message(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("message", body)) if isinstance(body, dict) else str(body)
