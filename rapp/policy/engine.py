"""The gate every decision passes before anything touches the network.

Fail closed: whatever goes wrong while judging a decision (an engine error, an undefined rule, a
result of the wrong shape, input that cannot be serialised) becomes a denial that says why, never
an exception that a caller might swallow and carry on enacting.
"""

from __future__ import annotations

import json
import logging
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import regorus

from rapp.domain import Decision, Verdict
from rapp.policy.deadline import LATE, Deadline
from rapp.policy.loader import PolicyError, PolicySet, compile_engine, load_policy_set

log = logging.getLogger(__name__)

DEFAULT_QUERY = "data.rapp.scaling.verdict"
ENGINE_ERROR = "policy engine error"
_OVERSTAYED = "no verdict within"


def failed_closed(verdict: Verdict) -> str | None:
    """Why the policy set could not judge a decision it then denied: ``deadline`` (it ran
    past ``policy.timeout_s``) or ``error`` (a runtime error in the set); None for a verdict
    the set gave."""
    reason = verdict.reasons[0] if verdict.reasons else ""
    if not reason.startswith(f"{ENGINE_ERROR}: "):
        return None
    return "deadline" if reason.startswith(f"{ENGINE_ERROR}: {_OVERSTAYED} ") else "error"


@runtime_checkable
class PolicyEngine(Protocol):
    """Judges decisions; backends are the embedded regorus engine or an OPA sidecar."""

    @property
    def revision(self) -> str:
        """Short hash of the policy set, so every verdict names what decided it."""
        ...

    def evaluate(
        self, decisions: Sequence[Decision], *, now: datetime | None = None
    ) -> list[Verdict]: ...


class Judge:
    """What every backend shares: the input document, the verdict's shape, failing closed.

    A backend says how to get ready to evaluate (``_prepare``, whose ``PolicyError`` denies a
    whole batch) and how to evaluate one input document (``_evaluate``: the query's value, None
    when undefined, a ``PolicyError`` when the engine fails).
    """

    in_thread = False
    """Whether an evaluation blocks on I/O, so callers on an event loop run it in a thread
    (an OPA server); the embedded engines answer in microseconds and stay on their thread."""

    def __init__(self, policy_set: PolicySet, *, query: str = DEFAULT_QUERY) -> None:
        self._policy_set = policy_set
        self._query = query

    @property
    def revision(self) -> str:
        return self._policy_set.revision

    @property
    def policy_set(self) -> PolicySet:
        return self._policy_set

    @property
    def query(self) -> str:
        return self._query

    def evaluate(
        self,
        decisions: Sequence[Decision],
        *,
        now: datetime | None = None,
        context: Sequence[Mapping[str, Any]] | None = None,
    ) -> list[Verdict]:
        """A verdict per decision. ``context``, one mapping per decision, adds to its input
        beside ``decision`` and ``now`` (e.g. ``batch``: where it stands among this ROP's)."""
        stamp = rfc3339(now or datetime.now(UTC))
        extra = context if context is not None else [{}] * len(decisions)
        return self._judge_all(
            [
                self._document(decision, stamp, more)
                for decision, more in zip(decisions, extra, strict=True)
            ]
        )

    def evaluate_input(self, document: Mapping[str, Any]) -> Verdict:
        """The verdict on a raw input document (``{"decision": {...}, "now": ...}``), as an
        operator writes one for ``rapp policy eval``; fails closed like ``evaluate``."""
        decision = document.get("decision")
        decision_id = str(decision.get("id", "")) if isinstance(decision, Mapping) else ""
        try:
            text = json.dumps(document, allow_nan=False, default=_json_default)
        except Exception as exc:
            return self._fail(decision_id, f"input is not JSON: {exc}")
        [verdict] = self._judge_all([(decision_id, text)])
        return verdict

    def _prepare(self) -> Any:
        raise NotImplementedError

    def _evaluate(self, prepared: Any, document: str) -> Any:
        raise NotImplementedError

    def _document(
        self, decision: Decision, now: str, more: Mapping[str, Any]
    ) -> tuple[str, str | Verdict]:
        """The decision's id and its input as JSON text, or its denial if it has none."""
        try:
            text = json.dumps(
                {**more, "decision": decision.to_dict(), "now": now},
                allow_nan=False,
                default=_json_default,
            )
        except Exception as exc:
            return decision.id, self._fail(decision.id, f"decision is not JSON: {exc}")
        return decision.id, text

    def _judge_all(self, documents: Sequence[tuple[str, str | Verdict]]) -> list[Verdict]:
        """A verdict per (decision id, input text); a denial given already stays."""
        try:
            prepared = self._prepare()
        except PolicyError as exc:
            return [t if isinstance(t, Verdict) else self._fail(i, str(exc)) for i, t in documents]
        return [
            t if isinstance(t, Verdict) else self._judge_text(prepared, i, t) for i, t in documents
        ]

    def _judge_text(self, prepared: Any, decision_id: str, text: str) -> Verdict:
        try:
            result = self._evaluate(prepared, text)
        except PolicyError as error:
            return self._error_verdict(decision_id, error)
        except Exception as exc:  # whatever a backend raises, the decision is denied
            return self._fail(decision_id, f"{self._query}: {type(exc).__name__}: {exc}")
        return self._verdict(decision_id, result)

    def _error_verdict(self, decision_id: str, error: PolicyError) -> Verdict:
        # Errors without a source location (e.g. an unknown rule path) name the query instead.
        return self._fail(decision_id, str(error) if error.file else f"{self._query}: {error}")

    def _verdict(self, decision_id: str, result: Any) -> Verdict:
        problem = _shape_problem(result, self._query)
        if problem:
            return self._fail(decision_id, problem)
        return Verdict(
            decision_id=decision_id,
            allow=result["allow"],
            reasons=tuple(sorted(result["reasons"])),
            policy_revision=self.revision,
            obligations=tuple(result.get("obligations") or ()),
        )

    def _fail(self, decision_id: str, message: str) -> Verdict:
        return Verdict(
            decision_id=decision_id,
            allow=False,
            reasons=(f"{ENGINE_ERROR}: {message}",),
            policy_revision=self.revision,
        )


class RegoPolicyEngine(Judge):
    """``PolicyEngine`` on the embedded regorus engine.

    Two regorus paths, one verdict: the query compiled to an RVM program answers a denial in
    about 70 us; everything else is judged by the tree-walking interpreter (about 180 us). The
    RVM reads a builtin error as undefined, so a deny rule that fails there simply vanishes: an
    RVM *allow* could be an error the interpreter would refuse on. So only RVM denials are
    final; an allow, an undefined result (or one holding the RVM's undefined marker) is judged
    again by the interpreter, which fails closed with the error's location. A set the RVM
    compiler cannot take runs on the interpreter alone. Engines are per thread: regorus objects
    may not cross threads (pyo3 panics).

    With ``timeout_s``, decisions are judged in a child process of the engine's own, and one
    that takes longer is denied with the deadline as its reason (``rapp.policy.deadline``).
    """

    def __init__(
        self,
        policy_set: PolicySet,
        *,
        query: str = DEFAULT_QUERY,
        timeout_s: float | None = None,
    ) -> None:
        super().__init__(policy_set, query=query)
        # Compiled now so a broken set fails at start-up, not at the first decision; not kept,
        # because this may be a worker thread (a reload), and a regorus engine must be
        # dropped on the thread that made it. Each thread that judges compiles its own.
        compile_engine(policy_set)
        self._program = _program(policy_set, query)
        self._data = json.dumps(policy_set.data)
        self._deadline: Deadline | None = None
        if timeout_s is not None:
            self._deadline = Deadline(policy_set, self._program, query, timeout_s)
            # Its child process ends with this engine (a reload replaces it), or at exit.
            weakref.finalize(self, self._deadline.close)

    @property
    def in_thread(self) -> bool:  # type: ignore[override]
        """With a deadline, a caller waits on a child process: off the event loop, then."""
        return self._deadline is not None

    @property
    def overstayed(self) -> int:
        """Decisions denied because the set ran past the deadline."""
        return 0 if self._deadline is None else self._deadline.overstayed

    @classmethod
    def from_directory(cls, directory: Path, **kw: Any) -> RegoPolicyEngine:
        return cls(load_policy_set(directory), **kw)

    def eval_rule(self, rule: str, document: Mapping[str, Any]) -> Any:
        """The value of ``rule`` for ``document`` on the interpreter (None when undefined);
        for queries other than the verdict, e.g. the API's authorization."""
        engine, _ = self._prepare()
        clone = engine.clone()
        try:
            clone.set_input_json(json.dumps(document))
            return clone.eval_rule(rule)
        except Exception as exc:
            raise PolicyError.from_engine(exc) from None

    @property
    def compiled(self) -> bool:
        """Whether decisions run on the RVM (else on the interpreter alone)."""
        return self._program is not None

    def _prepare(self) -> _Prepared:
        return _this_thread(self, lambda: _build(self._policy_set, self._program, self._data))

    def _judge_all(self, documents: Sequence[tuple[str, str | Verdict]]) -> list[Verdict]:
        if self._deadline is None:
            return super()._judge_all(documents)
        texts = [(i, t) for i, t in documents if isinstance(t, str)]
        answers = iter(self._deadline.map([t for _, t in texts]))
        timeout = self._deadline.timeout_s
        verdicts = []
        for decision_id, text in documents:
            if isinstance(text, Verdict):
                verdicts.append(text)
                continue
            answer = next(answers)
            if answer is LATE:
                why = f"{_OVERSTAYED} {timeout:g} s: the policy set runs too long"
                verdicts.append(self._fail(decision_id, why))
            elif isinstance(answer, PolicyError):
                verdicts.append(self._error_verdict(decision_id, answer))
            else:
                verdicts.append(self._verdict(decision_id, answer))
        return verdicts

    def _evaluate(self, prepared: _Prepared, document: str) -> Any:
        return evaluate_document(prepared, document, self._query)


_Prepared = tuple[regorus.Engine, Any]
"""The interpreter and, when the set compiles to one, the RVM loaded with its program."""

_THREADS = threading.local()
"""Each thread's regorus objects, by the engine they judge for. Module-level on purpose: a
``threading.local`` owned by an engine would, when the engine is collected, drop every
thread's objects on the collecting thread, which regorus refuses ("unsendable") and leaks;
this one lives as long as the process, and a thread's entries go with the thread."""


def _this_thread(owner: object, build: Callable[[], _Prepared]) -> _Prepared:
    """``owner``'s regorus objects for the calling thread, built on first use. Entries of
    engines since collected (a reloaded policy set) are dropped here, on their own thread."""
    entries: dict[int, tuple[weakref.ref[object], _Prepared]] = getattr(_THREADS, "entries", {})
    _THREADS.entries = entries
    for key in [k for k, (ref, _) in entries.items() if ref() is None]:
        del entries[key]
    entry = entries.get(id(owner))
    if entry is None or entry[0]() is not owner:
        entry = (weakref.ref(owner), build())
        entries[id(owner)] = entry
    return entry[1]


def _build(policy_set: PolicySet, program: bytes | None, data: str) -> _Prepared:
    """The regorus objects one thread judges with (they may not cross threads)."""
    engine = compile_engine(policy_set)
    vm = None
    if program is not None:
        loaded, _ = regorus.Program.deserialize_binary(program)
        vm = regorus.Rvm()
        vm.load_program(loaded)
        vm.set_data_json(data)
    return engine, vm


def evaluate_document(prepared: _Prepared, document: str, query: str) -> Any:
    """The value of ``query`` for one input document (None when undefined): the RVM's if it
    is a denial, else the interpreter's. Raises ``PolicyError`` when the engine fails."""
    engine, vm = prepared
    if vm is not None:
        try:
            vm.set_input_json(document)
            result = json.loads(vm.execute())
        except Exception:
            result = _UNDEFINED  # the interpreter says what went wrong
        # Only a denial is taken from the RVM: it reads a builtin error as undefined, so a
        # deny rule that failed there would vanish and could turn into an allow. An allow is
        # confirmed by the interpreter, which fails on the error (closed).
        if not _has_undefined(result) and _denies(result):
            return result
    try:
        clone = engine.clone()
        clone.set_input_json(document)
        return clone.eval_rule(query)
    except Exception as exc:
        raise PolicyError.from_engine(exc) from None
    except BaseException as exc:
        # A Rust panic inside regorus arrives as pyo3's PanicException, a BaseException.
        if type(exc).__name__ != "PanicException":
            raise
        raise PolicyError(f"engine panic: {PolicyError.from_engine(exc)}") from None


_UNDEFINED = "<undefined>"
"""What an RVM program returns for an undefined result (or a builtin error)."""


def _denies(result: Any) -> bool:
    return isinstance(result, Mapping) and result.get("allow") is False


def _has_undefined(result: Any) -> bool:
    """Whether an RVM result is, or holds, its undefined marker: the RVM has been seen to put
    one into a set where the interpreter (and OPA) leave the element out."""
    if result == _UNDEFINED:
        return True
    if isinstance(result, Mapping):
        reasons = result.get("reasons")
        return isinstance(reasons, list) and _UNDEFINED in reasons
    return False


def _program(policy_set: PolicySet, query: str) -> bytes | None:
    """The RVM program for ``query`` over the set's policies (tests left out: they are not
    what decides), serialised (a program object may not cross threads; each thread loads its
    own), or None when the RVM compiler cannot take the set."""
    modules = sorted(
        (name, source)
        for name, source in policy_set.modules.items()
        if not name.endswith("_test.rego")
    )
    try:
        program = regorus.Program.compile_from_modules(
            json.dumps(policy_set.data), modules, [query]
        )
        return bytes(program.serialize_binary())
    except Exception as exc:
        log.info("policy set %s runs on the interpreter: %s", policy_set.revision, exc)
        return None


def _shape_problem(result: Any, query: str) -> str | None:
    """Why ``result`` is not ``{"allow": bool, "reasons": [str, ...]}``, or None if it is."""
    if result is None:
        return f"{query} is undefined"
    if not isinstance(result, Mapping):
        return f"{query} is {type(result).__name__}, not an object"
    allow, reasons = result.get("allow"), result.get("reasons")
    if not isinstance(allow, bool):
        return f"{query}.allow is {allow!r}, not a boolean"
    if not isinstance(reasons, list | tuple) or not all(isinstance(r, str) for r in reasons):
        return f"{query}.reasons is {reasons!r}, not a list of strings"
    obligations = result.get("obligations", [])
    if not isinstance(obligations, list | tuple) or not all(
        isinstance(o, Mapping) for o in obligations
    ):
        return f"{query}.obligations is {obligations!r}, not a list of objects"
    return None


def rfc3339(ts: datetime) -> str:
    """``ts`` as the policies see ``now``: RFC 3339 in UTC with a ``Z``."""
    if ts.tzinfo is None:
        ts = ts.replace(tzinfo=UTC)
    return ts.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _json_default(value: Any) -> Any:
    # Planner evidence is often numpy scalars; .item() gives the plain Python number.
    if hasattr(value, "item"):
        return value.item()
    if isinstance(value, datetime):
        return rfc3339(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")
