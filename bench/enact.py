"""Time the enactment saga end to end, with SQLite and with PostgreSQL as DBOS's database.

    python bench/enact.py [--decisions 1000] [--targets 50] [--db sqlite|postgres] [--rate 50]
        [--writer git|porch] [--concurrency N]

Each decision runs the real saga (``rapp.enact.Enactor`` on DBOS): read the A1 policy, put it,
read its status back, publish the NF package revision to git (or through Porch, with
``--writer porch``), journal the outcome. The peers are the simulators with no delay: the
A1-PMS simulator in its own process on 127.0.0.1 (its CPU is not the benchmark's), a bare git
repository seeded with ``--targets`` NF packages at 5G and, for Porch, the Porch simulator over
it in its own process. The decisions are spread over the targets, ROPs 15 minutes apart per
target, each step of a 5G -> 10G -> 20G -> 10G ... ladder, so every target's queue runs them in
order and every one is valid when its turn comes. The journal is SQLite in both rows: only
DBOS's system database changes.

Per database (each in its own child process, so DBOS is launched once per process):

* warm-up: one decision per target, not timed (git clone, queue, connections);
* burst: ``--decisions`` decisions journalled, then queued as fast as ``Enactor.start`` takes
  them; decisions/s is their number over the time from the first verdict to the last done;
* paced: as many again, offered at ``--rate`` decisions/s (the target rate; 0 skips it), the
  latency the loop would see at that load.

Latency runs from the verdict (just before ``Enactor.start``) to the A1 status read back (the
end of the saga's ``rapp.a1.status`` step) and to done (DBOS marks the workflow finished: its
status row's ``updated_at``, after the package is published and the outcome journalled, i.e.
when ``get_result()`` could first return it). Both are read from DBOS's records, not from
``get_result()``, whose 1 s polling would blur them and, across 1000 handles, load the
database being measured; the same records give the median time queued and in each step.
Targets (issue 6): >= 50 decisions/s (burst) and a read-back p99 <= 2 s (paced) with no peer
delay. PostgreSQL is taken from ``RAPP_BENCH_POSTGRES`` (default
``postgresql://postgres@127.0.0.1:5432/test``); each run creates a fresh database there and
drops it afterwards; no server, no row.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from dbos import DBOS  # noqa: E402

from rapp.config import A1Settings, EnactSettings, NephioSettings, PorchSettings  # noqa: E402
from rapp.domain import Action, Decision  # noqa: E402
from rapp.enact import Enactor, launch, shutdown  # noqa: E402
from rapp.store import Journal  # noqa: E402
from simulators.nephio import seed_repository  # noqa: E402
from simulators.process import start_simulator  # noqa: E402

TARGET_RATE = 50.0
TARGET_P99_S = 2.0
POSTGRES = os.environ.get("RAPP_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
DATABASES = ("sqlite", "postgres")
_BASE_ROP = datetime(2026, 11, 24, tzinfo=UTC)
_UNFINISHED = frozenset({"PENDING", "ENQUEUED", "DELAYED"})
_STEPS = ("a1.read", "a1.put", "a1.status", "nephio.publish", "journal.outcome")
"""The saga's steps (``rapp.<name>``), timed from DBOS's step records."""


@dataclass
class Phase:
    """What one timed batch of decisions did."""

    name: str
    decisions: int
    wall_s: float
    queue_s: float
    latencies_s: list[float]
    readback_s: list[float]
    steps_ms: dict[str, float]
    states: dict[str, int]
    read_back: int
    unfinished: int
    examples: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return self.decisions / self.wall_s if self.wall_s > 0 else 0.0

    def percentile(self, q: float, *, readback: bool = False) -> float:
        values = self.readback_s if readback else self.latencies_s
        return float(np.percentile(values, q)) if values else float("nan")


def capacity(step: int) -> str:
    """The package's capacity after ``step`` decisions: 5G, 10G, 20G, 10G, 20G ..."""
    return "5G" if step == 0 else ("10G" if step % 2 else "20G")


def decisions(targets: Sequence[str], steps: range, count: int | None = None) -> list[Decision]:
    """Steps ``steps`` of every target's ladder, ROPs 15 min apart, interleaved across targets
    (all targets' step k before any step k + 1); the first ``count`` of them."""
    out = []
    for k in steps:
        for i, target in enumerate(targets):
            frm, to = capacity(k), capacity(k + 1)
            site = f"site-{i:03d}"
            out.append(
                Decision.new(
                    Action.SCALE_OUT if float(to[:-1]) > float(frm[:-1]) else Action.SCALE_IN,
                    target,
                    [f"SubNetwork={site},ManagedElement=gnb-{i:04d},GNBDUFunction=1,NRCellDU=1"],
                    _BASE_ROP + timedelta(minutes=15 * k),
                    frm,
                    to,
                    {"kpi": "prb_util_dl", "quantile": 0.9, "forecast_max": 91.0},
                )
            )
    return out[:count]


async def run_phase(
    name: str, enactor: Enactor, batch: Sequence[Decision], rate: float, timeout_s: float
) -> Phase:
    """Queue ``batch`` (all at once, or ``rate`` per second), wait for every workflow to end."""
    verdict: dict[str, float] = {}
    begun = time.time()
    watcher = asyncio.create_task(wait_done(name, [d.id for d in batch], timeout_s))
    for i, d in enumerate(batch):
        if rate > 0:
            await asyncio.sleep(max(0.0, begun + i / rate - time.time()))
        verdict[d.id] = time.time()
        await enactor.start(d)
    queue_s = time.time() - begun
    done = await watcher
    finished = [s for s in done.values() if s.status not in _UNFINISHED]
    ended = {s.workflow_id: (s.updated_at or 0) / 1000 for s in finished}
    outputs = [s.output if isinstance(s.output, dict) else {} for s in finished]
    states = Counter(o.get("state", "error") for o in outputs)
    odd = [f"{o.get('state')}: {o.get('detail')}" for o in outputs if o.get("state") != "enacted"]
    readback, steps_ms = await step_times(verdict, list(ended))
    return Phase(
        name=name,
        decisions=len(batch),
        wall_s=max(ended.values(), default=begun) - min(verdict.values()),
        queue_s=queue_s,
        latencies_s=sorted(ended[i] - verdict[i] for i in ended),
        readback_s=sorted(readback),
        steps_ms=steps_ms,
        states=dict(states),
        read_back=sum(str(o.get("detail", "")).endswith("; A1 ENFORCED") for o in outputs),
        unfinished=len(batch) - len(finished),
        examples=odd[:3],
    )


async def step_times(
    verdict: dict[str, float], ids: Sequence[str]
) -> tuple[list[float], dict[str, float]]:
    """From DBOS's step records: seconds from the verdict to the A1 status read back, per
    decision, and the median ms queued (verdict to first step) and spent in each step."""
    steps = await asyncio.gather(*(DBOS.list_workflow_steps_async(i) for i in ids))
    readback: list[float] = []
    spans: dict[str, list[float]] = {"queued": [], **{name: [] for name in _STEPS}}
    for wid, taken in zip(ids, steps, strict=True):
        first = min((s["started_at_epoch_ms"] or 0 for s in taken), default=0) / 1000
        spans["queued"].append(first - verdict[wid])
        for s in taken:
            short = next((n for n in _STEPS if s["function_name"].endswith(n)), None)
            if short is None or s["completed_at_epoch_ms"] is None:
                continue
            end = s["completed_at_epoch_ms"] / 1000
            spans[short].append(end - (s["started_at_epoch_ms"] or 0) / 1000)
            if short == "a1.status":
                readback.append(end - verdict[wid])
    return sorted(readback), {k: float(np.median(v)) * 1000 for k, v in spans.items() if v}


async def wait_done(name: str, ids: Sequence[str], timeout_s: float) -> dict[str, Any]:
    """The DBOS status of every workflow in ``ids`` once all have ended (or at the timeout),
    polled 4 times a second in one query without outputs; a progress line every 5 s."""
    deadline, shown = time.monotonic() + timeout_s, time.monotonic()
    statuses: dict[str, Any] = {}
    while True:
        await asyncio.sleep(0.25)
        rows = await DBOS.list_workflows_async(
            workflow_ids=list(ids), load_input=False, load_output=False
        )
        statuses = {s.workflow_id: s for s in rows}
        left = sum(statuses.get(i) is None or statuses[i].status in _UNFINISHED for i in ids)
        if left == 0 or time.monotonic() > deadline:
            rows = await DBOS.list_workflows_async(workflow_ids=list(ids), load_input=False)
            return {s.workflow_id: s for s in rows}
        if time.monotonic() - shown >= 5:
            shown = time.monotonic()
            progress(f"{name}: {len(ids) - left}/{len(ids)} done")


def run_database(db: str, a1pms: str, args: argparse.Namespace) -> dict[str, Any]:
    """Both phases on one DBOS system database, in this process; a dict for the parent."""
    with tempfile.TemporaryDirectory(prefix="rapp-bench-enact-") as tmp:
        work = Path(tmp)
        if db == "sqlite":
            url, drop = f"sqlite:///{work / 'dbos.sqlite'}", None
        else:
            try:
                url, drop = create_postgres_database(f"rapp_bench_{os.getpid()}")
            except Exception as exc:  # no server, no row
                why = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
                return {"db": db, "skipped": f"PostgreSQL not reachable at {POSTGRES}: {why}"}
        try:
            return {"db": db, "phases": [asdict(p) for p in measure(url, work, a1pms, args)]}
        finally:
            if drop is not None:
                drop()


def measure(url: str, work: Path, a1pms: str, args: argparse.Namespace) -> list[Phase]:
    targets = [f"free5gc-upf-bench-{i:03d}" for i in range(args.targets)]
    progress(f"seeding {len(targets)} NF packages")
    seed_repository(work / "deployment.git", targets)
    journal = Journal(f"sqlite:///{work / 'journal.sqlite'}")
    nephio = NephioSettings(remote=str(work / "deployment.git"), workdir=work / "clone")
    porch = None
    if args.writer == "porch":
        # Porch in its own process over the seeded repository, as the A1-PMS is.
        porch_url, porch = start_simulator(
            "simulators.porch", "/healthz", "--repository", f"deployment={nephio.remote}",
            "--readiness-gate", "", "--workdir", str(work / "porch"),
        )  # fmt: skip
        nephio = NephioSettings(
            writer="porch", porch=PorchSettings(url=porch_url, repository="deployment")
        )
    enactor = Enactor(
        a1=A1Settings(url=a1pms), nephio=nephio, journal=journal, name="bench-enactor"
    )
    launch(EnactSettings(system_database_url=url, concurrency=args.concurrency or len(targets)))
    per_target = -(-args.decisions // len(targets))
    warm = decisions(targets, range(1))
    burst = decisions(targets, range(1, 1 + per_target), args.decisions)
    paced = decisions(targets, range(1 + per_target, 1 + 2 * per_target), args.decisions)
    for d in warm + burst + (paced if args.rate > 0 else []):
        journal.record_decision(d)
    try:

        async def run() -> list[Phase]:
            progress(f"warm-up: {len(warm)} decisions")
            await run_phase("warm-up", enactor, warm, 0, args.timeout)
            progress(f"burst: {len(burst)} decisions")
            phases = [await run_phase("burst", enactor, burst, 0, args.timeout)]
            if args.rate > 0:
                progress(f"paced: {len(paced)} decisions at {args.rate:g}/s")
                phases.append(await run_phase("paced", enactor, paced, args.rate, args.timeout))
            return phases

        return asyncio.run(run())
    finally:
        shutdown()
        journal.close()
        if porch is not None:
            porch.terminate()
            porch.wait(timeout=10)


def create_postgres_database(name: str) -> tuple[str, Any]:
    """A fresh database on the server of ``POSTGRES``: its URL and a function dropping it."""
    import psycopg
    from sqlalchemy.engine import make_url

    with psycopg.connect(POSTGRES, autocommit=True, connect_timeout=3) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
        conn.execute(f'CREATE DATABASE "{name}"')

    def drop() -> None:
        with psycopg.connect(POSTGRES, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    return make_url(POSTGRES).set(database=name).render_as_string(hide_password=False), drop


def run_child(db: str, args: argparse.Namespace) -> dict[str, Any]:
    """One database in a child process (DBOS launches once per process), a fresh A1-PMS."""
    url, sim = start_simulator(
        "simulators.a1pms", "/a1-policy-management/v1/status", "--log-level", "warning"
    )
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        try:
            command = [sys.executable, __file__, "--db", db, "--a1pms", url, "--out", out.name]
            command += ["--decisions", str(args.decisions), "--targets", str(args.targets)]
            command += ["--rate", str(args.rate), "--timeout", str(args.timeout)]
            command += ["--concurrency", str(args.concurrency), "--writer", args.writer]
            child = subprocess.run(command, cwd=ROOT, check=False)
        finally:
            sim.terminate()
            sim.wait(timeout=10)
        text = Path(out.name).read_text()
    if child.returncode != 0 or not text:
        return {"db": db, "skipped": f"the benchmark process failed (exit {child.returncode})"}
    return json.loads(text)


def report(results: Sequence[dict[str, Any]], args: argparse.Namespace) -> None:
    print(
        f"{args.decisions} decisions per phase over {args.targets} NFs, packages by "
        f"{args.writer}, no peer delay, "
        f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC; latency in s from the verdict to the A1 "
        "status read back, and to done (published, journalled)"
    )
    print(
        f"  {'database':9} {'phase':12} {'wall s':>7} {'queue s':>8} {'dec/s':>7}"
        f" {'read p50':>9} {'read p99':>9} {'done p50':>9} {'done p99':>9}"
        f" {'enacted':>8} {'read back':>10}"
    )
    for result in results:
        if "skipped" in result:
            print(f"  {result['db']:9} skipped: {result['skipped']}")
            continue
        for p in (Phase(**p) for p in result["phases"]):
            label = p.name if p.name == "burst" else f"{p.name} {args.rate:g}/s"
            print(
                f"  {result['db']:9} {label:12} {p.wall_s:7.2f} {p.queue_s:8.2f} {p.rate:7.1f}"
                f" {p.percentile(50, readback=True):9.3f} {p.percentile(99, readback=True):9.3f}"
                f" {p.percentile(50):9.3f} {p.percentile(99):9.3f}"
                f" {p.states.get('enacted', 0):8d} {p.read_back:10d}"
            )
    if any("phases" in r for r in results):
        print("  median ms per decision: queued (verdict to first step), then each step")
    for result in results:
        for p in (Phase(**p) for p in result.get("phases", [])):
            spans = "  ".join(f"{k} {v:.0f}" for k, v in p.steps_ms.items())
            print(f"  {result['db']:9} {p.name:12} {spans}")
            if p.unfinished or p.examples:
                print(f"    {p.unfinished} unfinished; {p.states}; e.g. {p.examples}")
    for result in results:
        for p in (Phase(**p) for p in result.get("phases", [])):
            db, p99 = result["db"], p.percentile(99, readback=True)
            if p.name == "burst":
                print(
                    f"  target {db}: {p.rate:.1f} decisions/s = {p.rate / TARGET_RATE:.2f}x the "
                    f"{TARGET_RATE:g}/s target ({_met(p.rate >= TARGET_RATE)}); "
                    f"burst read-back p99 {p99:.2f} s ({p.decisions} queued at once)"
                )
            else:
                print(
                    f"  target {db}: read-back p99 {p99:.2f} s at {args.rate:g}/s offered = "
                    f"{p99 / TARGET_P99_S:.2f}x the {TARGET_P99_S:g} s limit "
                    f"({_met(p99 <= TARGET_P99_S)}); done p99 {p.percentile(99):.2f} s"
                )


def progress(message: str) -> None:
    print(f"  .. {datetime.now(UTC):%H:%M:%S} {message}", flush=True)


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--decisions", type=int, default=1000)
    parser.add_argument("--targets", type=int, default=50)
    parser.add_argument("--db", choices=DATABASES, action="append", help="default: both")
    parser.add_argument("--rate", type=float, default=TARGET_RATE, help="paced phase, 0: none")
    parser.add_argument("--timeout", type=float, default=600, help="seconds per phase")
    parser.add_argument(
        "--concurrency", type=int, default=0, help="enactments in flight (default: --targets)"
    )
    parser.add_argument(
        "--writer", choices=("git", "porch"), default="git", help="how packages are published"
    )
    parser.add_argument("--a1pms", help=argparse.SUPPRESS)  # set for the child processes
    parser.add_argument("--out", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.decisions < 1 or args.targets < 1:
        parser.error("--decisions and --targets must be positive")
    if args.out:  # a child: one database, its figures to --out
        [db] = args.db
        Path(args.out).write_text(json.dumps(run_database(db, args.a1pms, args)))
        return
    results = []
    for db in args.db or DATABASES:
        progress(f"{db}: starting")
        results.append(run_child(db, args))
    report(results, args)


if __name__ == "__main__":
    main()
