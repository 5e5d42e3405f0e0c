"""Fixtures shared by the whole suite: free ports and real HTTP servers on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

import pytest
import uvicorn

T = TypeVar("T")
SHARED = Path(__file__).resolve().parents[2] / "shared"
SAMPLES = SHARED / "samples"
SPECS = SHARED / "specs"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def poll(predicate: Callable[[], T], timeout: float = 60) -> T:
    """The first truthy value of ``predicate()``, polled until ``timeout`` seconds pass."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"condition not met within {timeout}s")


@contextmanager
def serve(app: object, port: int | None = None) -> Iterator[str]:
    """Run an ASGI app under a real uvicorn server on 127.0.0.1; yields its base URL."""
    port = port or free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError(f"uvicorn did not start on port {port}")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture
def samples() -> Path:
    if not SAMPLES.is_dir():
        pytest.skip("../shared/samples is not beside this checkout")
    return SAMPLES


@pytest.fixture
def specs() -> Path:
    if not SPECS.is_dir():
        pytest.skip("../shared/specs is not beside this checkout")
    return SPECS
