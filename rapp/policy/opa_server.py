"""``OpaServerEngine``: the policy set judged by an OPA server over its REST Data API.

For deployments that run OPA as a sidecar (one policy engine for several services, OPA's own
decision logs and bundles). The rApp still owns the set: it pushes the modules and data it has
tested (``PUT /v1/policies/{id}``, ``PUT /v1/data``) and removes any others, so every verdict's
revision names exactly what the server judged with. Each decision is one ``POST
/v1/data/{path}``; a timeout, a refused connection or an error status is a denial with the
error as its reason, like any engine failure.
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from rapp.policy.engine import DEFAULT_QUERY, Judge
from rapp.policy.loader import PolicyError, PolicySet


class OpaServerEngine(Judge):
    """``PolicyEngine`` over an OPA server at ``url`` (e.g. ``http://127.0.0.1:8181``)."""

    in_thread = True  # each evaluation is an HTTP round trip

    def __init__(
        self,
        policy_set: PolicySet,
        *,
        url: str,
        query: str = DEFAULT_QUERY,
        timeout_s: float = 1.0,
        push: bool = True,
    ) -> None:
        super().__init__(policy_set, query=query)
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self._client = httpx.Client(base_url=self.url, timeout=timeout_s)
        # Strict: a builtin error is an error (a denial here), not an undefined expression
        # that would quietly skip the deny rule it happened in.
        self._path = (
            "/v1/data/" + query.removeprefix("data.").replace(".", "/") + "?strict-builtin-errors"
        )
        if push:
            try:
                self._push(policy_set)
            except PolicyError:
                self._client.close()
                raise

    def close(self) -> None:
        self._client.close()

    def restore(self) -> None:
        """Push this engine's set again: after a candidate's push failed halfway, the server
        must not be left judging with part of the candidate."""
        self._push(self._policy_set)

    def _push(self, policy_set: PolicySet) -> None:
        try:
            # Data first: modules are compiled against it on the server.
            self._check(self._client.put("/v1/data", content=json.dumps(policy_set.data)))
            self._put_modules(policy_set.modules)
            listed = self._check(self._client.get("/v1/policies")).json().get("result", [])
            for stale in {p["id"] for p in listed} - set(policy_set.modules):
                self._check(self._client.delete(f"/v1/policies/{stale}"))
        except httpx.HTTPError as exc:
            raise PolicyError(f"OPA at {self.url}: {type(exc).__name__}: {exc}") from None

    def _put_modules(self, modules: dict[str, str]) -> None:
        """PUT every module. OPA compiles the whole set on each PUT, so a module that uses one
        not sent yet is refused: those are sent again after the others, until none is left or
        a round makes no progress (then the first refusal is a real error)."""
        pending = sorted(modules)
        while pending:
            refused: list[tuple[str, PolicyError]] = []
            for name in pending:
                try:
                    self._check(
                        self._client.put(
                            f"/v1/policies/{name}",
                            content=modules[name],
                            headers={"content-type": "text/plain"},
                        )
                    )
                except PolicyError as exc:
                    refused.append((name, exc))
            if len(refused) == len(pending):
                raise refused[0][1]
            pending = [name for name, _ in refused]

    def _prepare(self) -> None:
        return None

    def _evaluate(self, prepared: None, document: str) -> Any:
        try:
            response = self._client.post(
                self._path,
                content=f'{{"input":{document}}}',
                headers={"content-type": "application/json"},
            )
        except httpx.TimeoutException:
            raise PolicyError(
                f"OPA at {self.url} did not answer within {self.timeout_s}s"
            ) from None
        except httpx.HTTPError as exc:
            raise PolicyError(f"OPA at {self.url}: {type(exc).__name__}: {exc}") from None
        return self._check(response).json().get("result")

    def _check(self, response: httpx.Response) -> httpx.Response:
        if response.is_success:
            return response
        try:
            body = response.json()
        except ValueError:
            body = {}
        errors = body.get("errors") or []
        if errors and isinstance(errors[0], dict):
            where = errors[0].get("location") or {}
            raise PolicyError(
                str(errors[0].get("message", body.get("message", ""))),
                file=where.get("file"),
                line=where.get("row"),
                col=where.get("col"),
            )
        raise PolicyError(
            f"OPA at {self.url} answered {response.status_code}: "
            f"{body.get('message') or response.text[:200]}"
        )
