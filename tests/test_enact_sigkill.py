"""SIGKILL the enacting process again and again: every decision still ends exactly once.

200 decisions over 20 NF packages are enacted by ``tests.enact_worker`` in a child process, which
the test kills with SIGKILL 20 times at random moments (seeded; the seed is printed) and starts
again each time, on the same DBOS system database, executor id and git clone; the 21st life is
left to finish. Then the journal, the A1-PMS and the deployment repository must read as if
nothing had been killed: one final outcome per decision, one A1 policy per NF holding its last
decision, one revision per enacted decision in ROP order, the tags contiguous and each package
at its last decision's capacity.

Everything is real: the A1-PMS simulator in its own process on 127.0.0.1, a bare git repository,
DBOS on SQLite. A kill takes the worker and every process under it (the saga's git runs in
sessions of their own, which a process-group kill would miss), as a pod kill would, but spares
the git server's side of a push (``git-receive-pack``, under the push as the remote is a path),
as a pod kill would too. Kills come in four kinds, shuffled: ``early`` (within 1.2 s of the
life starting to launch DBOS: mid-launch, mid-recovery, mid-queueing), ``timer`` (a random
moment once the work has reached a random point), ``push`` (likewise, then at the next
``git push`` seen under the worker) and ``a1`` (likewise, then inside the next A1 policy write
awaiting its answer, as seen by a TCP relay in front of the A1-PMS, whose writes are slowed a
little so that a kill can land inside one). Each kill is reported: what was in flight, and how
many revisions and A1 policies it left written but not recorded by DBOS (the cases where a
resumed step must find its work done rather than do it again).

``RAPP_TEST_SIGKILL_DECISIONS`` and ``RAPP_TEST_SIGKILL_KILLS`` change the numbers (defaults
200 and 20); ``RAPP_TEST_SIGKILL_SEED`` replays a kill plan (its moments still vary with timing).

The ``porch`` variant does the same with the packages published through Porch: the Porch
simulator, in its own process and never killed, writes the revisions into the same bare
repository with the same tags and ``kpt:`` lines, behind a relay like the A1-PMS's. Its
``push`` kills become ``porch`` kills (no git runs under the worker): inside the next Porch
write (create, resources, propose, approve, delete) awaiting its answer. Besides the checks
above, no PackageRevision may be left unpublished (an orphan draft or proposal) and no workspace
may have two revisions, as Porch lists them. Smaller, to keep the suite fast: 60 decisions over
10 NF packages, 6 kills (``RAPP_TEST_SIGKILL_PORCH_DECISIONS``, ``..._PORCH_KILLS``).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Literal, NoReturn

import httpx
import pytest

from rapp.domain import Action, Decision, Outcome, OutcomeState
from rapp.enact.nephio import GitPackageRepo
from rapp.enact.packages import read_capacity
from rapp.enact.porch import PorchPackages
from rapp.quantity import parse_quantity
from rapp.store import Journal
from simulators.nephio import seed_repository
from simulators.process import start_simulator
from tests.e2e_support import a1_policy_ids, tags_of, workspace_of

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
DECISIONS = int(os.environ.get("RAPP_TEST_SIGKILL_DECISIONS", "200"))
KILLS = int(os.environ.get("RAPP_TEST_SIGKILL_KILLS", "20"))
TARGETS = 20
PORCH_DECISIONS = int(os.environ.get("RAPP_TEST_SIGKILL_PORCH_DECISIONS", "60"))
PORCH_KILLS = int(os.environ.get("RAPP_TEST_SIGKILL_PORCH_KILLS", "6"))
PORCH_TARGETS = 10
PORCH_NS = "/apis/porch.kpt.dev/v1alpha1/namespaces/default"
PORCH_REPOSITORY = "deployment"
PORCH_WRITE_JITTER_S = 0.1
"""How far into a Porch write its kill may land: the simulator's writes commit and push to
git, tens to hundreds of ms here, so most kills land before the answer and some after."""
A1_BASE = "/a1-policy-management/v1"
A1_WRITE_DELAY_S = 0.15
"""Added to every A1 policy PUT and POST: an HTTP call on 127.0.0.1 is otherwise over in a few
ms, too short for a kill to land in. Enactments of different NFs overlap, so the run takes only
a few seconds longer."""
PROGRESS_TIMEOUT_S = 180
"""How long one life may take to reach its kill point: far beyond what progress needs."""

_BASE_ROP = datetime(2026, 11, 24, tzinfo=UTC)

KillKind = Literal["early", "timer", "push", "porch", "a1"]
Writer = Literal["git", "porch"]


@dataclass(frozen=True)
class Variant:
    """One package writer under the kills, and how much work it gets: the Porch variant is
    smaller because each Porch publish is several HTTP calls, each a git commit and push in the
    simulator, and the suite must stay fast."""

    writer: Writer
    decisions: int
    targets: int
    kills: int

    @property
    def publish_kind(self) -> KillKind:
        """The kill aimed at this writer's publish: a ``git push`` under the worker, or a Porch
        write seen by the relay (with Porch, no git runs under the worker)."""
        return "push" if self.writer == "git" else "porch"


GIT = Variant("git", DECISIONS, TARGETS, KILLS)
PORCH = Variant("porch", PORCH_DECISIONS, PORCH_TARGETS, PORCH_KILLS)


@dataclass(frozen=True)
class Kill:
    """When to kill one life: after ``after_done`` finished decisions and ``delay_s`` more
    (``early``: ``delay_s`` after the life says it is launching DBOS), then at once (``timer``,
    ``early``) or ``jitter_s`` into the next git push, Porch write or A1 write seen (``push``,
    ``porch``, ``a1``)."""

    kind: KillKind
    after_done: int
    delay_s: float
    jitter_s: float = 0.0


@dataclass
class Killed:
    """What one kill interrupted, for the report."""

    life: int
    kind: KillKind
    since_launching_s: float
    launched: bool
    done: int
    git: list[str]
    a1_calls: list[str]
    pushed_unrecorded: list[str] = field(default_factory=list)
    put_unrecorded: list[str] = field(default_factory=list)
    killed: bool = True
    """False: the life had finished everything before its kill came."""
    porch_calls: list[str] = field(default_factory=list)
    drafts: list[str] = field(default_factory=list)
    """Unpublished PackageRevisions left at the kill: the next life must carry them on or
    delete them (Porch variant only)."""


def capacity(step: int) -> str:
    """The package's capacity after ``step`` decisions: 5G, 10G, 20G, 10G, 20G ..."""
    return "5G" if step == 0 else ("10G" if step % 2 else "20G")


def ladder(targets: list[str], count: int) -> list[Decision]:
    """``count`` decisions: every target's step k before any target's step k + 1, ROPs 15 min
    apart per target, so each is valid when its target's queue reaches it."""
    out: list[Decision] = []
    step = 0
    while len(out) < count:
        for i, target in enumerate(targets):
            frm, to = capacity(step), capacity(step + 1)
            grow = parse_quantity(to) > parse_quantity(frm)
            cell = f"SubNetwork=site-{i:03d},ManagedElement=gnb-{i:04d},GNBDUFunction=1,NRCellDU=1"
            out.append(
                Decision.new(
                    Action.SCALE_OUT if grow else Action.SCALE_IN,
                    target,
                    [cell],
                    _BASE_ROP + timedelta(minutes=15 * step),
                    frm,
                    to,
                    {"kpi": "prb_util_dl", "quantile": 0.9, "forecast_max": 91.0},
                )
            )
        step += 1
    return out[:count]


def kill_plan(
    rng: random.Random, kills: int, decisions: int, publish: KillKind = "push"
) -> list[Kill]:
    """``kills`` kills, a quarter early, a quarter in the writer's publish (``publish``:
    ``push`` or ``porch``), a fifth in an A1 write, the rest at random points of the work.

    The points are counted in finished decisions, not seconds, so that the kills spread over
    the work on a slow machine and a fast one alike; the last lands before 80 % of it is done.
    A seed gives the same plan for either writer, but for the publish kind's name.
    """
    n_early, n_push, n_a1 = round(kills * 0.25), round(kills * 0.25), round(kills * 0.2)
    kinds: list[KillKind] = ["early"] * n_early + [publish] * n_push + ["a1"] * n_a1
    kinds = (kinds + ["timer"] * kills)[:kills]
    rng.shuffle(kinds)
    top = max(1, int(decisions * 0.8))
    points = iter(sorted(rng.randint(1, top) for k in kinds if k != "early"))
    # The jitter spreads a kill over the push (~50 ms: pack sent, refs updated on the server,
    # status back), the Porch write or the A1 write (its delay, then the answer).
    jitter = {
        "push": 0.05,
        "porch": PORCH_WRITE_JITTER_S,
        "a1": A1_WRITE_DELAY_S + 0.05,
        "timer": 0.0,
    }
    return [
        Kill(k, 0, rng.uniform(0.0, 1.2))
        if k == "early"
        else Kill(k, next(points), rng.uniform(0.0, 0.6), rng.uniform(0.0, jitter[k]))
        for k in kinds
    ]


def children(pid: int) -> list[int]:
    """The child processes of ``pid``, from /proc (no psutil here); none once it has ended."""
    kids: list[int] = []
    with contextlib.suppress(OSError):
        for task in os.scandir(f"/proc/{pid}/task"):
            with contextlib.suppress(OSError):
                kids += [int(c) for c in Path(task.path, "children").read_text().split()]
    return kids


def argv_of(pid: int) -> list[str]:
    with contextlib.suppress(OSError):
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
        return [a.decode(errors="replace") for a in raw.split(b"\0") if a]
    return []


def is_git_server(pid: int) -> bool:
    return any("receive-pack" in a or "upload-pack" in a for a in argv_of(pid))


def client_side(pid: int) -> list[int]:
    """Processes under ``pid``, recursively, except a git server's and what runs under it."""
    out: list[int] = []
    todo = [pid]
    while todo:
        for kid in children(todo.pop()):
            if not is_git_server(kid):
                out.append(kid)
                todo.append(kid)
    return out


def git_commands(pid: int) -> list[str]:
    """The git subcommands running under ``pid`` now, e.g. ``['push', 'pack-objects']``."""
    found = []
    for child in client_side(pid):
        argv = argv_of(child)
        if not argv or not argv[0].endswith("git"):
            continue
        rest = iter(argv[1:])
        for word in rest:
            if word in ("-c", "-C"):
                next(rest, None)  # its value
            elif not word.startswith("-"):
                found.append(word)
                break
    return found


class Relay:
    """A TCP relay in front of an HTTP peer (the A1-PMS, Porch) that knows which requests await
    their answer.

    The saga keeps its connections open between calls, so an open connection says nothing;
    the relay sees each request go up and its answer come back. It passes a closed side on, so
    the peer sees a killed client as it would without the relay.
    """

    def __init__(self, upstream: str) -> None:
        self._upstream = upstream.removeprefix("http://").rsplit(":", 1)
        self._waiting: dict[int, str] = {}
        self._lock = threading.Lock()  # the relay's loop writes, the test reads
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self.url = ""

    def __enter__(self) -> Relay:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def __exit__(self, *_: object) -> None:
        if self._server is not None:
            self._loop.call_soon_threadsafe(self._server.close)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()

    def in_flight(self) -> list[str]:
        """The requests (``PUT /path``) sent and not yet answered, now."""
        with self._lock:
            return list(self._waiting.values())

    def writes_in_flight(self) -> list[str]:
        """The requests in flight that change something: what a kill should cut off."""
        return [c for c in self.in_flight() if not c.startswith("GET")]

    async def _start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self._server.sockets[0].getsockname()[1]}"

    async def _relay(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        host, port = self._upstream
        try:
            peer_r, peer_w = await asyncio.open_connection(host, int(port))
        except OSError:
            client_w.close()
            return
        key = id(client_w)

        async def up() -> None:
            while data := await client_r.read(65536):
                # A request's first packet starts with its method; its body may follow apart.
                words = data.split(b" ", 2)
                if len(words) > 2 and words[0] in (b"GET", b"PUT", b"POST", b"DELETE"):
                    with self._lock:
                        self._waiting[key] = f"{words[0].decode()} {words[1].decode()}"
                peer_w.write(data)
                await peer_w.drain()

        async def down() -> None:
            while data := await peer_r.read(65536):
                with self._lock:
                    self._waiting.pop(key, None)
                client_w.write(data)
                await client_w.drain()

        # Whichever side closes (or breaks) first ends both, as one TCP connection would.
        pumps = [asyncio.ensure_future(up()), asyncio.ensure_future(down())]
        await asyncio.wait(pumps, return_when=asyncio.FIRST_COMPLETED)
        for pump in pumps:
            pump.cancel()
        await asyncio.gather(*pumps, return_exceptions=True)
        with self._lock:
            self._waiting.pop(key, None)
        for writer in (peer_w, client_w):
            with contextlib.suppress(OSError):
                writer.close()


def kill_tree(proc: subprocess.Popen[bytes]) -> None:
    """SIGKILL ``proc`` and every process under it but the git server's side of a push.

    Killing the worker's process group alone would leave the saga's git (each in a session
    of its own) running as orphans, racing the next life in the same clone: a pod kill takes
    them all. Everything is stopped before anything is killed, so nothing new is spawned
    meanwhile and nothing gets to react to a sibling's death.
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGSTOP)
    client: set[int] = set()
    while True:  # until stopping them reveals no new process
        found = set(client_side(proc.pid)) - client
        if not found:
            break
        for pid in found:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGSTOP)
        client |= found
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    for pid in client:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=10)


@dataclass
class Worker:
    """The lives of ``tests.enact_worker``: spawned, watched, killed; their stderr in one log."""

    tmp: Path
    args: list[str]
    seed: int
    log: Path = field(init=False)
    proc: subprocess.Popen[bytes] | None = None
    out: Path | None = None
    lives: int = 0

    def __post_init__(self) -> None:
        self.log = self.tmp / "worker.log"

    def spawn(self) -> subprocess.Popen[bytes]:
        self.lives += 1
        self.out = self.tmp / f"life-{self.lives:02d}.out"
        with self.log.open("ab") as log:
            log.write(f"===== life {self.lives} =====\n".encode())
        with self.out.open("wb") as out, self.log.open("ab") as err:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "tests.enact_worker", *self.args],
                stdout=out,
                stderr=err,
                cwd=ROOT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
                start_new_session=True,  # a group of its own: the test's is never signalled
            )
        return self.proc

    def said(self, word: str) -> float | None:
        """When this life printed ``word`` (by its clock), or None if it has not."""
        assert self.out is not None
        for line in self.out.read_text().splitlines():
            parts = line.split()
            if len(parts) >= 2 and parts[0] == word:
                return float(parts[1])
        return None

    def wait_for(
        self, what: str, predicate: Callable[[], bool], timeout_s: float, every_s: float
    ) -> None:
        """Poll ``predicate``; fail (with the log) if the life ends or the time runs out."""
        assert self.proc is not None
        deadline = time.monotonic() + timeout_s
        while not predicate():
            if self.proc.poll() is not None:
                self.fail(f"life {self.lives} exited ({self.proc.returncode}) before {what}")
            if time.monotonic() > deadline:
                self.fail(f"life {self.lives}: no {what} within {timeout_s:g} s")
            time.sleep(every_s)

    def kill(self) -> bool:
        """SIGKILL this life; False if it had already finished everything (a fast machine)."""
        assert self.proc is not None
        if self.proc.poll() == 0:
            return False
        if self.proc.poll() is not None:
            self.fail(f"life {self.lives} ended ({self.proc.returncode}) before its kill")
        kill_tree(self.proc)
        if self.proc.poll() is None:
            self.fail(f"life {self.lives} survived SIGKILL")
        return True

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            kill_tree(self.proc)

    def tail(self, chars: int = 6000) -> str:
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else ""

    def fail(self, why: str) -> NoReturn:
        pytest.fail(
            f"{why}\n(seed {self.seed}: rerun with RAPP_TEST_SIGKILL_SEED={self.seed}; files in "
            f"{self.tmp})\n--- worker stderr, last lines ---\n{self.tail()}",
            pytrace=False,
        )


def landed_unrecorded(
    dbos_db: Path, repo: Path, a1pms: str, target_of: dict[str, str]
) -> tuple[list[str], list[str]]:
    """Decisions whose revision is on the remote, and those whose A1 policy is at the A1-PMS,
    while DBOS has not recorded the step that wrote it: a kill between the write and its
    record, which the next life must find done and not do again. Read with the worker dead.

    Evidence for the report only, so DBOS's tables are read directly (a client would run
    threads and migrations here); if they change, the report says nothing.
    """
    steps: dict[str, set[str]] = {}
    with contextlib.suppress(sqlite3.Error), contextlib.closing(sqlite3.connect(dbos_db)) as db:
        rows = db.execute(
            "SELECT w.workflow_uuid, o.function_name FROM workflow_status w "
            "LEFT JOIN operation_outputs o ON o.workflow_uuid = w.workflow_uuid "
            "WHERE w.status IN ('PENDING', 'ENQUEUED')"
        )
        for workflow, step in rows:
            steps.setdefault(workflow, set()).add(step or "")
    tags = subprocess.run(
        ["git", f"--git-dir={repo}", "for-each-ref", "--format=%(contents)", "refs/tags"],
        capture_output=True,
        text=True,
        check=False,
    ).stdout
    published = set(re.findall(r'"workspaceName":"([^"]+)"', tags))
    pushed = [
        i
        for i, done in steps.items()
        if "rapp.nephio.publish" not in done and f"rapp-{i}" in published
    ]
    put = []
    for i, done in steps.items():
        # Only those between reading the policy and recording its write: one GET each.
        if "rapp.a1.read" not in done or "rapp.a1.put" in done or i not in target_of:
            continue
        r = httpx.get(f"{a1pms}{A1_BASE}/policies/rapp-{target_of[i]}", timeout=5)
        body = r.json() if r.status_code == 200 else {}
        if (body.get("policyObject") or body).get("statement", {}).get("decisionId") == i:
            put.append(i)
    return pushed, put


def finished(journal_db: Path) -> int:
    """Decisions whose journalled outcome is no longer pending, read beside the worker (WAL)."""
    with contextlib.closing(sqlite3.connect(journal_db, timeout=10)) as db:
        row = db.execute("SELECT count(*) FROM outcomes WHERE state != 'pending'").fetchone()
    return int(row[0])


def porch_revisions(porch: str) -> list[dict[str, Any]]:
    """Every PackageRevision of the deployment repository, as Porch lists them: drafts and
    proposals are Porch's to list (the simulator keeps them in memory and on branches)."""
    response = httpx.get(
        f"{porch}{PORCH_NS}/packagerevisions",
        params={"fieldSelector": f"spec.repository={PORCH_REPOSITORY}"},
        timeout=10,
    )
    response.raise_for_status()
    items: list[dict[str, Any]] = response.json().get("items") or []
    return items


def unpublished(revisions: list[dict[str, Any]]) -> list[str]:
    """The revisions that are not Published (drafts, proposals), as ``name (Lifecycle)``; the
    main-branch placeholder Porch lists for each package counts as Published."""
    return [
        f"{r['metadata']['name']} ({r['spec'].get('lifecycle')})"
        for r in revisions
        if r["spec"].get("lifecycle") != "Published"
    ]


@dataclass(frozen=True)
class Scene:
    """Where the lives work: what a kill's report reads."""

    journal_db: Path
    dbos_db: Path
    repo: Path
    a1pms: str
    relay: Relay
    target_of: dict[str, str]
    porch: str | None = None
    """The Porch simulator itself (read past the relay), in the Porch variant."""
    porch_relay: Relay | None = None


def run_kill(worker: Worker, kill: Kill, scene: Scene) -> Killed:
    """Start a life and kill it as ``kill`` says; what it was doing at that moment."""
    journal_db = scene.journal_db
    proc = worker.spawn()
    worker.wait_for("'launching'", lambda: worker.said("launching") is not None, 60, 0.005)
    if kill.kind == "early":
        time.sleep(kill.delay_s)
    else:
        worker.wait_for("'launched'", lambda: worker.said("launched") is not None, 60, 0.01)
        worker.wait_for(
            f"{kill.after_done} finished decisions",
            lambda: finished(journal_db) >= kill.after_done,
            PROGRESS_TIMEOUT_S,
            0.1,
        )
        time.sleep(kill.delay_s)
    porch_relay = scene.porch_relay
    if kill.kind in ("push", "porch", "a1"):
        # Seen within ~2 ms of its start; if none comes within 5 s, killed anyway.
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and proc.poll() is None:
            if (
                (kill.kind == "push" and "push" in git_commands(proc.pid))
                or (kill.kind == "a1" and scene.relay.writes_in_flight())
                or (kill.kind == "porch" and porch_relay and porch_relay.writes_in_flight())
            ):
                time.sleep(kill.jitter_s)
                break
            time.sleep(0.002)
    running, a1_calls = git_commands(proc.pid), scene.relay.in_flight()
    porch_calls = porch_relay.in_flight() if porch_relay else []
    killed_at = time.time()
    if not worker.kill():
        running, a1_calls, porch_calls = [], [], []
    if any(not c.startswith("GET") for c in a1_calls):
        time.sleep(A1_WRITE_DELAY_S + 0.1)  # a write cut off lands after its delay, or never
    if any(not c.startswith("GET") for c in porch_calls):
        time.sleep(0.5)  # Porch finishes a write whose client is gone: let it land first
    pushed, put = landed_unrecorded(scene.dbos_db, scene.repo, scene.a1pms, scene.target_of)
    drafts = unpublished(porch_revisions(scene.porch)) if scene.porch else []
    launching = worker.said("launching") or killed_at
    return Killed(
        life=worker.lives,
        kind=kill.kind,
        since_launching_s=killed_at - launching,
        launched=worker.said("launched") is not None,
        done=finished(journal_db),
        git=running,
        a1_calls=a1_calls,
        pushed_unrecorded=pushed,
        put_unrecorded=put,
        killed=proc.returncode != 0,
        porch_calls=porch_calls,
        drafts=drafts,
    )


def porch_call(request: str) -> str:
    """A Porch request as the step of a publish it is: ``create``, ``resources``, ``propose``
    (a PUT of the revision), ``approve``, ``delete`` or ``read``."""
    method, _, path = request.partition(" ")
    path = path.split("?")[0]
    if method == "GET":
        return "read"
    if method == "POST":
        return "create"
    if method == "DELETE":
        return "delete"
    if "/packagerevisionresources/" in path:
        return "resources"
    return "approve" if path.endswith("/approval") else "propose"


def lifecycles(drafts: list[str]) -> list[str]:
    """``['2 Draft', '1 Proposed']`` from ``unpublished``'s ``name (Lifecycle)`` entries."""
    counts = Counter(d.rpartition(" (")[2].rstrip(")") for d in drafts)
    return [f"{n} {lifecycle}" for lifecycle, n in sorted(counts.items())]


def report(kills: list[Killed], seed: int) -> str:
    lines = [f"seed {seed}; each kill, in s after the life began launching DBOS:"]
    seen_pushed: set[str] = set()
    seen_put: set[str] = set()
    new_pushed = new_put = 0
    for k in kills:
        what = [f"git {' '.join(sorted(set(k.git)))}"] if k.git else []
        methods = Counter(c.split()[0] for c in k.a1_calls)
        what += (
            [f"A1 {', '.join(f'{n} {m}' for m, n in sorted(methods.items()))}"] if methods else []
        )
        calls = Counter(porch_call(c) for c in k.porch_calls)
        what += (
            [f"Porch {', '.join(f'{n} {c}' for c, n in sorted(calls.items()))}"] if calls else []
        )
        phase = "" if k.launched else " (inside DBOS.launch)"
        phase += "" if k.killed else " (not killed: it had finished everything)"
        # Only what this kill cut off: a life killed before redoing the step leaves it as it was.
        pushed = [i for i in k.pushed_unrecorded if i not in seen_pushed]
        put = [i for i in k.put_unrecorded if i not in seen_put]
        seen_pushed |= set(pushed)
        seen_put |= set(put)
        new_pushed, new_put = new_pushed + len(pushed), new_put + len(put)
        landed = [f"{len(pushed)} pushed revisions"] if pushed else []
        landed += [f"{len(put)} A1 writes"] if put else []
        lines.append(
            f"  life {k.life:2d} {k.kind:5} at {k.since_launching_s:6.3f} s{phase}, "
            f"{k.done:4d} done; in flight: {'; '.join(what) or 'no git, no A1, no Porch call'}"
            + (f"; landed, not recorded: {', '.join(landed)}" if landed else "")
            + (f"; left unpublished: {', '.join(left)}" if (left := lifecycles(k.drafts)) else "")
        )
    mid_push = sum("push" in k.git for k in kills)
    mid_git = sum(bool(k.git) for k in kills)
    mid_a1 = sum(bool(k.a1_calls) for k in kills)
    mid_porch = sum(bool(k.porch_calls) for k in kills)
    drafts = sum(bool(k.drafts) for k in kills)
    lines.append(
        f"  {mid_push} kills mid-push, {mid_git} mid-git, {mid_a1} mid-A1-call, {mid_porch} "
        f"mid-Porch-call, {drafts} leaving a Porch draft or proposal; they cut off "
        f"{new_pushed} pushed revisions and {new_put} written A1 policies before DBOS recorded "
        "them (the next life must find those done)"
    )
    return "\n".join(lines)


@pytest.mark.parametrize("variant", [GIT, PORCH], ids=lambda v: v.writer)
def test_sigkill_during_enactments_then_restart_enacts_each_decision_once(
    tmp_path: Path, variant: Variant
) -> None:
    seed = int(os.environ.get("RAPP_TEST_SIGKILL_SEED") or random.SystemRandom().randrange(2**32))
    print(f"\nRAPP_TEST_SIGKILL_SEED={seed} ({variant.writer} writer)", flush=True)
    n = variant.decisions
    plan = kill_plan(random.Random(seed), variant.kills, n, variant.publish_kind)

    targets = [f"free5gc-upf-kill-{i:02d}" for i in range(min(variant.targets, n))]
    decisions = ladder(targets, n)
    repo = tmp_path / "deployment.git"
    seed_repository(repo, targets)
    journal_db = tmp_path / "journal.sqlite"
    journal = Journal(f"sqlite:///{journal_db}")
    # As the loop journals them before they are enacted: the decision, then a pending outcome.
    for d in decisions:
        journal.record_decision(d)
        journal.record_outcome(Outcome(d.id, OutcomeState.PENDING, detail="enactment started"))
    (tmp_path / "decisions.json").write_text(json.dumps([d.to_dict() for d in decisions]))

    with contextlib.ExitStack() as cleanup:  # undone last first, failed or not
        cleanup.callback(journal.close)
        a1pms, sim = start_simulator(
            "simulators.a1pms", f"{A1_BASE}/status", "--log-level", "warning"
        )
        cleanup.callback(sim.wait, timeout=10)
        cleanup.callback(sim.kill)
        delay = {"delay_s": A1_WRITE_DELAY_S, "count": 10**9, "methods": ["PUT", "POST"]}
        delay["path_prefix"] = f"{A1_BASE}/policies"
        httpx.post(f"{a1pms}/admin/faults", json=delay, timeout=5).raise_for_status()
        relay = cleanup.enter_context(Relay(a1pms))

        options = {
            "--a1pms": relay.url,
            "--journal": f"sqlite:///{journal_db}",
            "--dbos": f"sqlite:///{tmp_path / 'dbos.sqlite'}",
            "--decisions": str(tmp_path / "decisions.json"),
            "--executor-id": "sigkill",
            "--summary": str(tmp_path / "summary.json"),
            "--timeout": str(60 + 3 * n),
        }
        porch: str | None = None
        porch_relay: Relay | None = None
        if variant.writer == "porch":
            # Started after the seeding: the simulator reads the repository once, at its start.
            porch, porch_sim = start_simulator(
                "simulators.porch",
                "/healthz",
                "--repository",
                f"{PORCH_REPOSITORY}={repo}",
                "--workdir",
                str(tmp_path / "porch-work"),
                "--log-level",
                "warning",
            )
            cleanup.callback(porch_sim.wait, timeout=10)
            cleanup.callback(porch_sim.kill)
            porch_relay = cleanup.enter_context(Relay(porch))
            options["--porch"] = porch_relay.url
        else:
            options |= {"--remote": str(repo), "--workdir": str(tmp_path / "clone")}
        worker = Worker(tmp_path, [a for pair in options.items() for a in pair], seed)
        cleanup.callback(worker.stop)

        target_of = {d.id: d.target for d in decisions}
        scene = Scene(
            journal_db, tmp_path / "dbos.sqlite", repo, a1pms, relay, target_of, porch, porch_relay
        )
        kills = [run_kill(worker, k, scene) for k in plan]
        print(report(kills, seed), flush=True)

        last = worker.spawn()  # left to finish everything
        try:
            code = last.wait(timeout=120 + 3 * n)
        except subprocess.TimeoutExpired:
            worker.fail(
                f"the last life did not finish within {120 + 3 * n} s "
                f"({finished(journal_db)}/{n} done)"
            )
        if code != 0:
            summary = tmp_path / "summary.json"
            statuses = summary.read_text() if summary.exists() else "none written"
            worker.fail(f"the last life exited {code}; DBOS statuses: {statuses}")

        problems = check_everything(tmp_path, repo, a1pms, journal, decisions, targets, porch)
        if problems:
            worker.fail(
                f"{len(problems)} problem(s) after {variant.kills} kills "
                f"({variant.writer} writer):\n  "
                + "\n  ".join(problems[:60])
                + f"\n{report(kills, seed)}"
            )


def state_of(outcomes: dict[str, Outcome], d: Decision) -> OutcomeState | None:
    return outcomes[d.id].state if d.id in outcomes else None


def check_everything(
    tmp: Path,
    repo: Path,
    a1pms: str,
    journal: Journal,
    decisions: list[Decision],
    targets: list[str],
    porch: str | None = None,
) -> list[str]:
    """Every way the end state can be wrong, as sentences (empty: all is well).

    With ``porch`` (the Porch variant) the repository checks hold as they are, since the
    simulator publishes with the same tags and ``kpt:`` lines (its approval commits are merges,
    which nothing here relies on), and Porch's own view is checked too: every revision
    Published (no orphan draft or proposal), one revision per workspace, the same revisions as
    the tags, each package at its last decision's capacity as the rApp reads it through Porch.
    """
    problems: list[str] = []

    # The journal: one outcome per decision, and a final one.
    with contextlib.closing(sqlite3.connect(tmp / "journal.sqlite")) as db:
        rows = db.execute("SELECT decision_id, count(*) FROM outcomes GROUP BY decision_id")
        per_decision = dict(rows.fetchall())
    outcomes = journal.outcomes([d.id for d in decisions])
    for d in decisions:
        if per_decision.get(d.id, 0) != 1:
            problems.append(f"decision {d.id} has {per_decision.get(d.id, 0)} outcomes")
        o = outcomes.get(d.id)
        if o is None:
            problems.append(f"decision {d.id} ({d.target}) has no outcome: lost")
        elif o.state not in (OutcomeState.ENACTED, OutcomeState.COMPENSATED):
            problems.append(f"decision {d.id} ({d.target}) ended {o.state.value}: {o.detail}")
        elif o.state is OutcomeState.COMPENSATED:
            # Allowed (the checks below say whether it spoilt the end state), but nothing here
            # should cause one: printed with its reason.
            print(f"decision {d.id} ({d.target}) compensated: {o.detail}", flush=True)

    by_target: dict[str, list[Decision]] = {t: [] for t in targets}
    for d in sorted(decisions, key=lambda d: d.rop):
        by_target[d.target].append(d)

    # The A1-PMS: one policy per target, holding its last decision.
    ids = Counter(a1_policy_ids(a1pms))
    for stray in sorted(set(ids) - {f"rapp-{t}" for t in targets}):
        problems.append(f"A1 policy {stray} belongs to no target")
    for target, ds in by_target.items():
        policy_id, last = f"rapp-{target}", ds[-1]
        if ids[policy_id] != 1:
            problems.append(f"A1 policy {policy_id} listed {ids[policy_id]} times")
            continue
        body = httpx.get(f"{a1pms}{A1_BASE}/policies/{policy_id}", timeout=5).json()
        statement = (body.get("policyObject") or body).get("statement", {})
        if statement.get("capacity") != last.capacity_to or statement.get("decisionId") != last.id:
            problems.append(
                f"A1 policy {policy_id} holds {statement.get('capacity')} of decision "
                f"{statement.get('decisionId')}, not {last.capacity_to} of the last, {last.id}"
            )

    # The deployment repository: one revision per enacted decision, in ROP order, no gaps.
    verify = GitPackageRepo(str(repo), tmp / "verify")
    for target, ds in by_target.items():
        tags = tags_of(repo, target)
        numbers = sorted(int(t.rpartition("/v")[2]) for t in tags)
        if numbers != list(range(1, len(numbers) + 1)):
            problems.append(f"{target}: tags are not contiguous: {numbers}")
        workspaces = [workspace_of(repo, f"{target}/v{n}") for n in numbers]
        twice = {w: n for w, n in Counter(workspaces).items() if n > 1}
        if twice:
            problems.append(f"{target}: workspaces with more than one revision: {twice}")
        ours = [w for w in workspaces if w and w.startswith("rapp-")]
        # In ROP order: an enacted decision's revision; a compensated one's revision and the
        # revision reverting it (the saga reverts by a new revision), or nothing at all.
        want: list[str] = []
        for d in ds:
            if state_of(outcomes, d) is OutcomeState.ENACTED:
                want.append(f"rapp-{d.id}")
                tag = outcomes[d.id].package_revision
                if tag not in tags or workspace_of(repo, tag) != f"rapp-{d.id}":
                    problems.append(f"{target}: decision {d.id} journalled revision {tag}")
            elif f"rapp-{d.id}" in ours:
                want += [f"rapp-{d.id}", f"rapp-{d.id}-revert"]
        if ours != want:
            problems.append(
                f"{target}: the revisions' workspaces {ours} are not the enacted decisions' "
                f"in ROP order {want}"
            )
        try:
            have = read_capacity(verify.read(target)).max_downlink
        except Exception as exc:  # reported with the rest, not raised alone
            problems.append(f"{target}: package not readable at the tip: {exc}")
            continue
        if parse_quantity(have) != parse_quantity(ds[-1].capacity_to):
            problems.append(
                f"{target}: package holds {have}, its last decision {ds[-1].capacity_to}"
            )
        if porch is not None:
            problems += porch_package_problems(porch, target, numbers, ds[-1])

    # A push cut off at any point must leave the repository whole and unlocked.
    fsck = subprocess.run(
        ["git", f"--git-dir={repo}", "fsck", "--no-progress"], capture_output=True, check=False
    )
    if fsck.returncode != 0:
        problems.append(f"git fsck of the deployment repository: {fsck.stderr.decode()[-800:]}")
    problems += [f"the repository still holds a lock: {p}" for p in repo.rglob("*.lock")]
    if porch is not None:
        problems += porch_problems(porch, repo)
    return problems


def porch_package_problems(porch: str, target: str, tags: list[int], last: Decision) -> list[str]:
    """What Porch says of one package against the tags: the same revisions, and its latest
    at ``last``'s capacity, as the rApp's Porch client reads it (it is what the next decision
    would be planned from)."""
    problems: list[str] = []
    listed = [
        r
        for r in porch_revisions(porch)
        if r["spec"].get("packageName") == target and int(r["spec"].get("revision") or 0) > 0
    ]
    numbers = sorted(int(r["spec"]["revision"]) for r in listed)
    if numbers != tags:
        problems.append(f"{target}: Porch lists revisions {numbers}, the tags are {tags}")
    client = PorchPackages(porch, repository=PORCH_REPOSITORY)
    try:
        have = read_capacity(client.read(target)).max_downlink
    except Exception as exc:  # reported with the rest, not raised alone
        return [*problems, f"{target}: latest revision not readable through Porch: {exc}"]
    finally:
        client.close()
    if parse_quantity(have) != parse_quantity(last.capacity_to):
        problems.append(
            f"{target}: Porch's latest revision holds {have}, its last decision {last.capacity_to}"
        )
    return problems


def porch_problems(porch: str, repo: Path) -> list[str]:
    """No orphan and no double in Porch: every PackageRevision Published (a kill must not
    leave a draft or proposal that no life carries on or deletes), none left on a draft or
    proposal branch in git, and no package with two revisions of one workspace (a publish
    replayed after a kill must find its revision, not cut another)."""
    revisions = porch_revisions(porch)
    problems = [f"Porch revision not published: {r}" for r in unpublished(revisions)]
    branches = subprocess.run(
        [
            *("git", f"--git-dir={repo}", "for-each-ref", "--format=%(refname)"),
            *("refs/heads/drafts", "refs/heads/proposed", "refs/heads/deletionProposed"),
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    problems += [f"branch left in the repository: {b}" for b in branches]
    published = Counter(
        (r["spec"].get("packageName"), r["spec"].get("workspaceName"))
        for r in revisions
        if int(r["spec"].get("revision") or 0) > 0
    )
    problems += [
        f"Porch: {pkg} has {count} revisions of workspace {ws}"
        for (pkg, ws), count in sorted(published.items())
        if count > 1
    ]
    return problems
