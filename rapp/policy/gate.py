"""``PolicyGate``: the policy set the loop judges with, replaced only by one that proves itself.

Operators change policies while the rApp runs: by editing the policy directory (a ConfigMap
mount, which Kubernetes swaps in place), by dropping in an OPA bundle, or through the API. A
candidate set must compile and pass its own ``test_*`` rules before it judges anything; if it
does not, it is rejected with the error (``file:line:col`` where there is one), the last good
set stays active, and the rejection is logged and kept for the API. A rejected candidate is
not retried until its content changes.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rapp.domain import Decision, Verdict
from rapp.policy.bundle import load_bundle
from rapp.policy.engine import DEFAULT_QUERY, Judge, RegoPolicyEngine
from rapp.policy.loader import PolicyError, PolicySet, load_policy_set, read_policy_sources
from rapp.policy.testing import run_policy_set_tests

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Reload:
    """What became of one candidate policy set."""

    source: str
    """Where it came from: the directory, the bundle, or ``api``."""
    accepted: bool
    revision: str | None = None
    """The candidate's revision (None when it could not even be read)."""
    error: str | None = None
    tests: str | None = None
    """``N passed, N failed`` of the candidate's own tests."""
    at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def to_dict(self) -> dict[str, Any]:
        return {
            "source": self.source,
            "accepted": self.accepted,
            "revision": self.revision,
            "error": self.error,
            "tests": self.tests,
            "at": self.at.isoformat(),
        }


class PolicyGate:
    """Judges decisions with the active set; ``reload``/``replace`` swap in a proven one.

    ``source`` is a policy directory or an OPA bundle (``.tar.gz``). The first set must load:
    a rApp that cannot judge must not start. ``timeout_s`` is the embedded engine's deadline
    per decision (see ``RegoPolicyEngine``); ``engine`` replaces the embedded engine (a sidecar).
    """

    def __init__(
        self,
        source: Path,
        *,
        query: str = DEFAULT_QUERY,
        on_reload: Callable[[Reload], None] | None = None,
        engine: Callable[[PolicySet], Judge] | None = None,
        timeout_s: float | None = None,
    ) -> None:
        self.source = Path(source)
        self.query = query
        self._on_reload = on_reload
        self._make_engine = engine or (
            lambda ps: RegoPolicyEngine(ps, query=query, timeout_s=timeout_s)
        )
        self._lock = threading.Lock()
        policy_set = self._read()
        report = run_policy_set_tests(policy_set)
        if not report.ok:
            failed = "; ".join(f"{r.package}.{r.name}: {r.explanation}" for r in report.failures)
            raise PolicyError(f"{self.source}: policy tests fail ({report.summary()}): {failed}")
        self._engine = self._make_engine(policy_set)
        self._embedded = self._own_engine(policy_set, self._engine)
        # What was loaded, not what is on disk now: an edit made meanwhile is still to come.
        self._seen = policy_set.revision if not self.source.is_file() else self._revision_on_disk()
        self.last_reload = Reload(
            str(self.source), True, policy_set.revision, tests=report.summary()
        )

    @property
    def engine(self) -> Judge:
        return self._engine

    @property
    def revision(self) -> str:
        return self._engine.revision

    def evaluate(
        self,
        decisions: Sequence[Decision],
        *,
        now: datetime | None = None,
        context: Sequence[Mapping[str, Any]] | None = None,
    ) -> list[Verdict]:
        return self._engine.evaluate(decisions, now=now, context=context)

    def evaluate_input(self, document: Mapping[str, Any]) -> Verdict:
        return self._engine.evaluate_input(document)

    def reload(self) -> Reload | None:
        """Look at the source; try a changed set (None when nothing changed since last look)."""
        found = self._look()
        if found is None or isinstance(found, Reload):
            return found
        return self.replace(found, source=str(self.source))

    async def areload(self) -> Reload | None:
        """``reload`` for the event loop: reading, testing and pushing in a worker thread, the
        swap on the loop (see ``areplace``)."""
        found = await asyncio.to_thread(self._look)
        if found is None or isinstance(found, Reload):
            return found
        return await self.areplace(found, source=str(self.source))

    def replace(self, candidate: PolicySet, *, source: str) -> Reload:
        """Make ``candidate`` the active set if it compiles and passes its tests."""
        return self._install(self._prove(candidate, source), candidate, source)

    async def areplace(self, candidate: PolicySet, *, source: str) -> Reload:
        """``replace`` for the event loop. The swap happens on the loop, the thread that
        judges: the engines the old set compiled there are let go on the thread that made
        them, as regorus requires."""
        proven = await asyncio.to_thread(self._prove, candidate, source)
        return self._install(proven, candidate, source)

    def _look(self) -> PolicySet | Reload | None:
        try:
            revision = self._revision_on_disk()
        except PolicyError as exc:
            revision = f"unreadable: {exc}"
        if revision == self._seen:
            return None
        self._seen = revision
        try:
            return self._read()
        except PolicyError as exc:
            return self._record(Reload(str(self.source), False, error=str(exc)))

    def _prove(
        self, candidate: PolicySet, source: str
    ) -> tuple[Judge, RegoPolicyEngine, str] | Reload:
        """The candidate's engines and test summary, or its rejection (not yet recorded)."""
        try:
            # Tested on the embedded engine before any backend sees it: an OPA sidecar must
            # not be handed a set that has not proven itself.
            report = run_policy_set_tests(candidate)
        except PolicyError as exc:
            return Reload(source, False, candidate.revision, error=str(exc))
        if not report.ok:
            # One line per distinct error: a broken rule fails every test the same way.
            by_error: dict[str, list[str]] = {}
            for r in report.failures:
                by_error.setdefault(r.explanation, []).append(f"{r.package}.{r.name}")
            failed = "; ".join(
                f"{names[0]}{f' and {len(names) - 1} more' if len(names) > 1 else ''}: {error}"
                for error, names in by_error.items()
            )
            return Reload(
                source,
                False,
                candidate.revision,
                error=f"policy tests fail: {failed}",
                tests=report.summary(),
            )
        try:
            engine = self._make_engine(candidate)
        except PolicyError as exc:
            restore = getattr(self._engine, "restore", None)
            if restore is not None:  # a sidecar may hold part of the candidate now
                try:
                    restore()
                except PolicyError as again:
                    log.error("the active set could not be pushed back: %s", again)
            return Reload(source, False, candidate.revision, error=str(exc))
        return engine, self._own_engine(candidate, engine), report.summary()

    def _install(
        self,
        proven: tuple[Judge, RegoPolicyEngine, str] | Reload,
        candidate: PolicySet,
        source: str,
    ) -> Reload:
        if isinstance(proven, Reload):
            return self._record(proven)
        engine, embedded, tests = proven
        with self._lock:
            self._engine, self._embedded = engine, embedded
        # The old engine is not closed here: an evaluation may still be using it in a thread;
        # it goes with its last reference.
        return self._record(Reload(source, True, candidate.revision, tests=tests))

    def record_rejection(self, source: str, error: str) -> Reload:
        """A candidate that could not even be read (e.g. a bad upload): kept like any other."""
        return self._record(Reload(source, False, error=error))

    def allows(self, method: str, path: str, role: str) -> bool:
        """Whether the active set's ``data.rapp.api.allow`` lets ``role`` do ``method path``
        on the rApp's API; an error or an undefined answer is a refusal."""
        document = {"method": method, "path": path, "role": role}
        try:
            return self._embedded.eval_rule("data.rapp.api.allow", document) is True
        except PolicyError as exc:
            log.error("API authorization failed closed: %s", exc)
            return False

    def _own_engine(self, policy_set: PolicySet, judging: Judge) -> RegoPolicyEngine:
        """The embedded engine of ``policy_set``: the judge itself, unless a sidecar judges
        (the rApp's own API is still authorized in process)."""
        if isinstance(judging, RegoPolicyEngine):
            return judging
        return RegoPolicyEngine(policy_set, query=self.query)

    def status(self) -> dict[str, Any]:
        policy_set = self._engine.policy_set
        return {
            "revision": policy_set.revision,
            "source": str(self.source),
            "query": self.query,
            "files": sorted([*policy_set.modules, *(["data.json"] if policy_set.data else [])]),
            "last_reload": self.last_reload.to_dict(),
        }

    async def watch(self, every_s: float) -> None:
        """Reload whenever the source changes, until cancelled."""
        while True:
            await asyncio.sleep(every_s)
            await self.areload()

    def _read(self) -> PolicySet:
        if self.source.is_file():
            return load_bundle(self.source)
        return load_policy_set(self.source)

    def _revision_on_disk(self) -> str:
        """A cheap look at what the source holds now, without compiling it."""
        if self.source.is_file():
            return f"bundle {self.source.stat().st_mtime_ns} {self.source.stat().st_size}"
        return read_policy_sources(self.source).revision

    def _record(self, reload: Reload) -> Reload:
        self.last_reload = reload
        if reload.accepted:
            log.info(
                "policy set %s from %s is active (%s)", reload.revision, reload.source, reload.tests
            )
        else:
            log.error(
                "policy set %s from %s rejected, %s stays active: %s",
                reload.revision or "?",
                reload.source,
                self.revision,
                reload.error,
            )
        if self._on_reload is not None:
            self._on_reload(reload)
        return reload
