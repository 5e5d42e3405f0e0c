"""RFC 7807 problems, shared by the simulators whose peers answer ``application/problem+json``
(the A1-PMS and the Near-RT RIC's A1-P side): the rules raise ``Problem``, and ``answer_problems``
makes every error of an app one, FastAPI's and Starlette's own included."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

PROBLEM_JSON = "application/problem+json"


class Problem(Exception):
    """An RFC 7807 problem: the HTTP layer turns it into ``application/problem+json``."""

    def __init__(self, status: int, detail: str, *, title: str | None = None) -> None:
        super().__init__(detail)
        self.status = status
        self.title = title or _phrase(status)
        self.detail = detail

    def to_dict(self, instance: str | None = None) -> dict[str, Any]:
        body: dict[str, Any] = {
            "type": "about:blank",
            "title": self.title,
            "status": self.status,
            "detail": self.detail,
        }
        if instance:
            body["instance"] = instance
        return body


def problem_response(problem: Problem, request: Request) -> JSONResponse:
    return JSONResponse(
        problem.to_dict(instance=request.url.path),
        status_code=problem.status,
        media_type=PROBLEM_JSON,
    )


def answer_problems(app: FastAPI) -> None:
    """Every error of ``app`` as an RFC 7807 problem."""
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_exception)


async def _on_problem(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, Problem)
    return problem_response(exc, request)


async def _on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    details = "; ".join(
        f"{'/'.join(str(p) for p in err.get('loc', ()))}: {err.get('msg', '')}"
        for err in exc.errors()
    )
    return problem_response(Problem(400, f"Malformed request: {details}"), request)


async def _on_http_exception(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    detail = exc.detail if isinstance(exc.detail, str) else _phrase(exc.status_code)
    response = problem_response(Problem(exc.status_code, detail), request)
    response.headers.update(exc.headers or {})
    return response


def _phrase(status: int) -> str:
    # An injected fault may use a status Python has no name for (e.g. 499).
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Error"
