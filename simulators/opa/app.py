"""The subset of OPA's REST API (openpolicyagent.org/docs/rest-api) a sidecar client uses.

    GET    /health                     {} when policies compile
    PUT    /v1/policies/{id}           a module as text/plain; 400 with OPA's compile errors
    GET    /v1/policies                {"result": [{"id", "raw"}, ...]}
    DELETE /v1/policies/{id}
    PUT    /v1/data[/{path}]           a JSON document; 204
    POST   /v1/data/{path}             {"input": ...} -> {"result": ...}, or {} when undefined

Every change builds a fresh engine with every module and the data, so each request sees one
consistent store, as OPA's own store transactions make it (a client pushing several modules
one by one passes through intermediate sets, as it would with OPA). Builtin errors are always
strict here (OPA does that with ``?strict-builtin-errors``, which the rApp sends). Errors use
OPA's shape: ``{"code": "invalid_parameter" | "internal_error" | "resource_not_found",
"message": ...}``.
"""

from __future__ import annotations

import json
import re
import threading
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from opa_bindings import OpaEngine, OpaError, OpaUndefinedError

_LOCATION = re.compile(r"(?P<file>[^\s:]+):(?P<row>\d+):\s*(?P<code>rego_\w+_error):\s*(?P<msg>.+)")


class _Store:
    """Modules and data, and the engine compiled from them."""

    def __init__(self) -> None:
        self.modules: dict[str, str] = {}
        self.data: dict[str, Any] = {}
        self.lock = threading.Lock()
        self.engine = self._compile(self.modules, self.data)

    @staticmethod
    def _compile(modules: dict[str, str], data: dict[str, Any]) -> OpaEngine:
        engine = OpaEngine()
        try:
            engine.add_data(data)
            for name in sorted(modules):
                engine.add_policy(name, modules[name])
            engine.eval_query("true")  # compiles (type checks) now, not at the first query
        except OpaError:
            engine.close()
            raise
        return engine

    def commit(self, modules: dict[str, str], data: dict[str, Any]) -> None:
        engine = self._compile(modules, data)
        with self.lock:
            old, self.engine = self.engine, engine
            self.modules, self.data = modules, data
        old.close()


def create_app() -> FastAPI:
    app = FastAPI(title="OPA (simulated REST front, real OPA evaluation)")
    store = _Store()

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {}

    @app.get("/v1/policies")
    def list_policies() -> dict[str, Any]:
        return {"result": [{"id": i, "raw": raw} for i, raw in sorted(store.modules.items())]}

    @app.put("/v1/policies/{policy_id:path}")
    async def put_policy(policy_id: str, request: Request) -> Response:
        raw = (await request.body()).decode("utf-8", errors="replace")
        try:
            store.commit({**store.modules, policy_id: raw}, store.data)
        except OpaError as exc:
            return _compile_error(exc)
        return JSONResponse({})

    @app.delete("/v1/policies/{policy_id:path}")
    def delete_policy(policy_id: str) -> Response:
        if policy_id not in store.modules:
            return _error(
                404, "resource_not_found", f"storage_not_found_error: policy id {policy_id!r}"
            )
        modules = {k: v for k, v in store.modules.items() if k != policy_id}
        try:
            store.commit(modules, store.data)
        except OpaError as exc:
            return _compile_error(exc)
        return JSONResponse({})

    @app.put("/v1/data")
    @app.put("/v1/data/{path:path}")
    async def put_data(request: Request, path: str = "") -> Response:
        try:
            document = json.loads(await request.body())
        except json.JSONDecodeError as exc:
            return _error(400, "invalid_parameter", f"body contains malformed JSON: {exc}")
        data = json.loads(json.dumps(store.data))
        if path:
            node = data
            parts = [p for p in path.split("/") if p]
            for part in parts[:-1]:
                node = node.setdefault(part, {})
            node[parts[-1]] = document
        elif isinstance(document, dict):
            data = document
        else:
            return _error(400, "invalid_parameter", "the root document must be an object")
        try:
            store.commit(dict(store.modules), data)
        except OpaError as exc:
            return _compile_error(exc)
        return Response(status_code=204)

    @app.post("/v1/data/{path:path}")
    async def query(path: str, request: Request) -> Response:
        try:
            body = json.loads(await request.body() or b"{}")
        except json.JSONDecodeError as exc:
            return _error(400, "invalid_parameter", f"body contains malformed JSON: {exc}")
        if not isinstance(body, dict):
            return _error(400, "invalid_parameter", "body must be an object")
        with store.lock:
            engine = store.engine
        try:
            result = engine.eval_document(path.strip("/").replace("/", "."), body.get("input"))
        except OpaUndefinedError:
            return JSONResponse({})
        except OpaError as exc:
            return _error(500, "internal_error", exc.message)
        return JSONResponse({"result": result})

    return app


def _error(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"code": code, "message": message}, status_code=status)


def _compile_error(exc: OpaError) -> JSONResponse:
    errors = [
        {
            "code": m["code"],
            "message": m["msg"].strip(),
            "location": {"file": m["file"], "row": int(m["row"]), "col": 1},
        }
        for m in _LOCATION.finditer(exc.message)
    ]
    return JSONResponse(
        {
            "code": "invalid_parameter",
            "message": "error(s) occurred while compiling module(s)",
            "errors": errors,
        },
        status_code=400,
    )
