"""A simulator in a process of its own, on 127.0.0.1: benchmarks use it so that the peer's CPU
is not counted as theirs."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

_ROOT = Path(__file__).resolve().parents[1]


def start_simulator(
    module: str, health_path: str, *args: str, timeout_s: float = 30.0
) -> tuple[str, subprocess.Popen[bytes]]:
    """``python -m <module> --port <free port> <args>``, once ``health_path`` answers 2xx:
    its base URL and the process (the caller ends it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    proc = subprocess.Popen(
        [sys.executable, "-m", module, "--port", str(port), *args],
        cwd=_ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}{health_path}", timeout=1).is_success:
                return url, proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    proc.wait()
    raise RuntimeError(f"{module} did not start within {timeout_s:g} s")
