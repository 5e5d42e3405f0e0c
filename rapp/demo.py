"""`rapp demo`: the whole loop on one machine, on embedded defaults.

Starts, each as its own process on 127.0.0.1: a tansu Kafka-protocol broker, the A1-PMS simulator,
the rApp itself and the O1 telemetry simulator; seeds a Nephio deployment repository (a bare git
repo with one free5gc UPF package per site). Prints where to look, a status line as decisions
arrive, and stops everything on Ctrl-C.
"""

from __future__ import annotations

import asyncio
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

import httpx

from rapp.domain import Decision
from simulators.nephio import seed_repository


@dataclass
class DemoPlan:
    """Addresses, sizes and places of one demo run; every one settable from the CLI."""

    workdir: Path = Path("var/demo")
    api_port: int = 8080
    a1pms_port: int = 8081
    kafka_port: int = 9092
    cells: int = 200
    cells_per_gnb: int = 4
    gnbs_per_site: int = 5
    speed: float = 900.0
    backfill: str = "2d"
    seed: int = 1
    sleep_every: str = "6h"
    """One cell sleeps per this much simulated time, for the detector to find and heal."""
    duration: float | None = None
    topic: str = "pmreports"

    @property
    def sites(self) -> list[str]:
        n = math.ceil(self.cells / (self.cells_per_gnb * self.gnbs_per_site))
        return [f"site-{i:02d}" for i in range(1, n + 1)]

    @property
    def repo(self) -> Path:
        return self.workdir / "nephio" / "deployment.git"

    def rapp_env(self) -> dict[str, str]:
        w = self.workdir.resolve()
        return {
            "RAPP_KAFKA__BOOTSTRAP": f"127.0.0.1:{self.kafka_port}",
            "RAPP_KAFKA__TOPIC": self.topic,
            "RAPP_KAFKA__DLQ_TOPIC": f"{self.topic}.dlq",
            "RAPP_A1__URL": f"http://127.0.0.1:{self.a1pms_port}",
            "RAPP_NEPHIO__REMOTE": str(self.repo.resolve()),
            "RAPP_NEPHIO__WORKDIR": str(w / "nephio" / "work"),
            "RAPP_STORE__URL": f"sqlite:///{w / 'rapp.sqlite'}",
            "RAPP_ENACT__SYSTEM_DATABASE_URL": f"sqlite:///{w / 'dbos.sqlite'}",
            "RAPP_API__PORT": str(self.api_port),
        }


@dataclass
class _Child:
    name: str
    proc: subprocess.Popen[bytes]
    log: IO[bytes] = field(repr=False)


class Demo:
    """Starts the processes of a ``DemoPlan`` and stops them all, whatever happens."""

    def __init__(self, plan: DemoPlan) -> None:
        self.plan = plan
        self.children: list[_Child] = []

    def start(self) -> None:
        p = self.plan
        _check_ports_free(
            {"--api-port": p.api_port, "--a1pms-port": p.a1pms_port, "--kafka-port": p.kafka_port}
        )
        _fresh_workdir(p.workdir)
        packages = [f"free5gc-upf-{s}" for s in p.sites]
        seed_repository(p.repo, packages)
        py = sys.executable
        self._spawn("broker", [py, "-m", "simulators.broker", "--port", str(p.kafka_port)])
        self._spawn("a1pms", [py, "-m", "simulators.a1pms", "--port", str(p.a1pms_port)])
        _wait_port(p.kafka_port, "broker", self._alive)
        _wait_http(f"http://127.0.0.1:{p.a1pms_port}/a1-policy-management/v1/status", self._alive)
        asyncio.run(_create_topics(f"127.0.0.1:{p.kafka_port}", [p.topic, f"{p.topic}.dlq"]))
        self._spawn("rapp", [py, "-m", "rapp", "serve"], env=p.rapp_env())
        _wait_http(f"http://127.0.0.1:{p.api_port}/healthz", self._alive)
        o1 = [py, "-m", "simulators.o1", "--bootstrap", f"127.0.0.1:{p.kafka_port}"]
        o1 += ["--topic", p.topic, "--cells", str(p.cells), "--speed", str(p.speed)]
        o1 += ["--backfill", p.backfill, "--seed", str(p.seed), "--sleep-every", p.sleep_every]
        self._spawn("o1", o1)

    def where(self) -> str:
        p = self.plan
        return "\n".join(
            [
                "rapp demo is up (Ctrl-C stops everything):",
                f"  rApp API        http://127.0.0.1:{p.api_port}/api/v1/decisions  (docs: /docs)",
                f"  A1-PMS sim      http://127.0.0.1:{p.a1pms_port}/a1-policy-management/v1/policies",
                f"  Kafka broker    127.0.0.1:{p.kafka_port}  topic {p.topic}"
                f" (dead letters: {p.topic}.dlq)",
                f"  Nephio repo     {p.repo}  (git -C {p.repo} tag -l)",
                f"  logs            {p.workdir / 'logs'}/",
                f"  O1 simulator    {p.cells} cells, {len(p.sites)} sites, {p.speed:g}x real time",
            ]
        )

    def watch(self, out: IO[str]) -> None:
        """Print a status line whenever the journal changes, until a child dies or time is up."""
        p = self.plan
        deadline = None if p.duration is None else time.monotonic() + p.duration
        last = ""
        with httpx.Client(timeout=5) as client:
            while deadline is None or time.monotonic() < deadline:
                self._alive()
                try:
                    rows = client.get(
                        f"http://127.0.0.1:{p.api_port}/api/v1/decisions", params={"limit": 1000}
                    ).json()
                except (httpx.HTTPError, ValueError):
                    rows = []
                line = _status_line(rows)
                if line != last:
                    print(line, file=out, flush=True)
                    last = line
                time.sleep(2)

    def stop(self) -> None:
        for child in reversed(self.children):
            if child.proc.poll() is None:
                child.proc.send_signal(signal.SIGINT if child.name == "rapp" else signal.SIGTERM)
        for child in reversed(self.children):
            try:
                child.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                child.proc.kill()
                child.proc.wait()
            child.log.close()

    def _spawn(self, name: str, argv: Sequence[str], env: dict[str, str] | None = None) -> None:
        log = (self.plan.workdir / "logs" / f"{name}.log").open("wb")
        proc = subprocess.Popen(
            argv,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env={**os.environ, **(env or {})},
            start_new_session=True,  # Ctrl-C reaches the supervisor, which stops children in order
        )
        self.children.append(_Child(name, proc, log))

    def _alive(self) -> None:
        for child in self.children:
            if child.proc.poll() is not None:
                tail = (self.plan.workdir / "logs" / f"{child.name}.log").read_text(
                    errors="replace"
                )
                raise RuntimeError(
                    f"{child.name} exited with {child.proc.returncode}; last log lines:\n"
                    + "\n".join(tail.splitlines()[-15:])
                )


_MARKER = ".rapp-demo"


def _fresh_workdir(workdir: Path) -> None:
    """Empty ``workdir`` for a new run, refusing to wipe anything a demo did not create."""
    if workdir.exists() and any(workdir.iterdir()) and not (workdir / _MARKER).exists():
        raise RuntimeError(
            f"{workdir} is not empty and was not made by rapp demo; pick another --workdir"
        )
    if workdir.exists():
        shutil.rmtree(workdir)
    (workdir / "logs").mkdir(parents=True)
    (workdir / _MARKER).write_text("made by rapp demo; wiped at the next demo start\n")


def _check_ports_free(ports: dict[str, int]) -> None:
    busy = []
    for flag, port in ports.items():
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                busy.append(f"127.0.0.1:{port} (choose another with {flag})")
    if busy:
        raise RuntimeError("ports already in use: " + ", ".join(busy))


def _status_line(rows: list[dict]) -> str:
    counts: dict[str, int] = {}
    for row in rows:
        state = (row.get("outcome") or {}).get("state", "new")
        counts[state] = counts.get(state, 0) + 1
    if not rows:
        return "waiting for the first decision ..."
    summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
    newest = rows[0]
    verdict = newest.get("verdict") or {}
    reasons = "; ".join(verdict.get("reasons", []))
    change = Decision.from_dict(newest).change
    heals = sum(row["action"] == "heal" for row in rows)
    return (
        f"{len(rows)} decisions, {heals} heals ({summary}); newest: {newest['target']} "
        f"{newest['action']} {change}: {reasons}"
    )


def _wait_port(port: int, name: str, alive: Callable[[], None], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive()
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.1)
    raise RuntimeError(f"{name} did not listen on 127.0.0.1:{port} within {timeout}s")


def _wait_http(url: str, alive: Callable[[], None], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive()
        try:
            if httpx.get(url, timeout=2).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


async def _create_topics(bootstrap: str, topics: list[str]) -> None:
    """Create the topics up front, so the rApp's consumer sees them at its first metadata fetch."""
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        new = [
            NewTopic(t, num_partitions=3, replication_factor=1) for t in topics if t not in existing
        ]
        if new:
            await admin.create_topics(new)
    finally:
        await admin.close()


def run_demo(plan: DemoPlan, out: IO[str] = sys.stdout) -> None:
    demo = Demo(plan)
    try:
        print(f"starting the loop in {plan.workdir} ...", file=out, flush=True)
        demo.start()
        print(demo.where(), file=out, flush=True)
        demo.watch(out)
    except KeyboardInterrupt:
        print("\nstopping ...", file=out, flush=True)
    except RuntimeError as exc:
        print(f"rapp demo: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    finally:
        demo.stop()
