"""Load a policy directory into a ``PolicySet`` and compile it with regorus.

Loading is where an operator's mistake should surface: a policy that does not parse, uses an
unsafe variable or calls a function that does not exist is rejected here with ``file:line:col``,
not discovered later as a stream of fail-closed denials.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import regorus

DATA_FILE = "data.json"
TEST_PREFIX = "test_"

# regorus renders errors like rustc: "--> file:line:col", a source excerpt, then "error: message".
_LOCATION = re.compile(r"-->\s*(?P<file>\S+?):(?P<line>\d+):(?P<col>\d+)\s*$", re.MULTILINE)
_MESSAGE = re.compile(r"^error:\s*(?P<message>.+?)\s*$", re.MULTILINE)
_BACKTRACE = "Stack backtrace:"


class PolicyError(Exception):
    """A policy set that cannot be used; ``str()`` is ``file:line:col: message`` when known."""

    def __init__(
        self,
        message: str,
        *,
        file: str | None = None,
        line: int | None = None,
        col: int | None = None,
    ) -> None:
        self.message = message
        self.file = file
        self.line = line
        self.col = col
        where = ":".join(str(p) for p in (file, line, col) if p is not None)
        super().__init__(f"{where}: {message}" if where else message)

    @classmethod
    def from_engine(cls, exc: BaseException) -> PolicyError:
        """Turn regorus's multi-line, backtrace-laden error text into one located message."""
        text = str(exc).split(_BACKTRACE, 1)[0].strip()
        message_match = _MESSAGE.search(text)
        if message_match:
            message = message_match["message"]
        else:
            message = next((ln.strip() for ln in text.splitlines() if ln.strip()), repr(exc))
        location = _LOCATION.search(text)
        if location is None:
            return cls(message)
        return cls(
            message,
            file=location["file"],
            line=int(location["line"]),
            col=int(location["col"]),
        )


@dataclass(frozen=True)
class PolicySet:
    """Rego modules and their data, with a revision that names exactly this content."""

    modules: dict[str, str]
    """File name (relative to the policy directory) -> Rego source."""
    data: dict[str, Any]
    revision: str

    @classmethod
    def create(cls, modules: Mapping[str, str], data: Mapping[str, Any]) -> PolicySet:
        return cls(dict(modules), dict(data), policy_revision(modules, data))


def policy_revision(modules: Mapping[str, str], data: Mapping[str, Any]) -> str:
    """Short sha256 over sources and canonical data, so whitespace in data.json does not count."""
    digest = hashlib.sha256()
    for name in sorted(modules):
        for part in (name, modules[name]):
            encoded = part.encode()
            # Length-prefixed so that moving text between name and source changes the hash.
            digest.update(len(encoded).to_bytes(8, "big"))
            digest.update(encoded)
    digest.update(json.dumps(data, sort_keys=True, separators=(",", ":")).encode())
    return digest.hexdigest()[:12]


def load_policy_set(directory: Path) -> PolicySet:
    """Read every ``*.rego`` (tests included) and ``data.json`` under ``directory``; check them."""
    policy_set = read_policy_sources(directory)
    check_policy_set(policy_set)
    return policy_set


def read_policy_sources(directory: Path) -> PolicySet:
    """The directory's modules and data, read but not compiled (cheap: a reload polls it)."""
    directory = Path(directory)
    if not directory.is_dir():
        raise PolicyError(f"policy directory {directory} does not exist")
    # Kubernetes mounts a ConfigMap as symlinks into a hidden "..data" directory; the files
    # are the visible links, so hidden paths are skipped (they would count every module twice).
    modules = {
        path.relative_to(directory).as_posix(): path.read_text(encoding="utf-8")
        for path in sorted(directory.rglob("*.rego"))
        if not any(part.startswith(".") for part in path.relative_to(directory).parts)
    }
    if not modules:
        raise PolicyError(f"no .rego files in {directory}")
    return PolicySet.create(modules, _read_data(directory / DATA_FILE))


def load_policy_files(files: Mapping[str, Any]) -> PolicySet:
    """A set from file name -> content, as an upload carries it: ``*.rego`` sources and
    ``data.json`` (its text, or the document itself); checked like a directory."""
    modules = {n: t for n, t in files.items() if n.endswith(".rego") and isinstance(t, str)}
    if not modules:
        raise PolicyError("no .rego files in the set")
    data = files.get(DATA_FILE, {})
    if isinstance(data, str):
        data = _parse_data(data, DATA_FILE)
    elif not isinstance(data, dict):
        raise PolicyError("top level must be a JSON object", file=DATA_FILE, line=1, col=1)
    policy_set = PolicySet.create(modules, data)
    check_policy_set(policy_set)
    return policy_set


def _read_data(path: Path) -> dict[str, Any]:
    if not path.exists():
        return {}
    return _parse_data(path.read_text(encoding="utf-8"), path.name)


def _parse_data(text: str, name: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PolicyError(exc.msg, file=name, line=exc.lineno, col=exc.colno) from None
    if not isinstance(data, dict):
        raise PolicyError("top level must be a JSON object", file=name, line=1, col=1)
    return data


def compile_engine(policy_set: PolicySet) -> regorus.Engine:
    """A regorus engine with the set's modules and data, analysed and ready to clone.

    regorus engines are bound to the thread that made them, so callers build one per thread.
    """
    engine = regorus.Engine()
    try:
        engine.add_data_json(json.dumps(policy_set.data))
        for name in sorted(policy_set.modules):
            engine.add_policy(name, policy_set.modules[name])
        # The first evaluation runs regorus's analysis (unsafe variables, scheduling); doing it
        # here surfaces those errors at load and leaves clones nothing to redo.
        engine.eval_query("true")
    except Exception as exc:
        raise PolicyError.from_engine(exc) from None
    return engine


def check_policy_set(policy_set: PolicySet) -> None:
    """Raise ``PolicyError`` for anything regorus can find before evaluating a decision."""
    engine = compile_engine(policy_set)
    _check_functions(policy_set, list(_entry_points(engine)))


def _check_functions(policy_set: PolicySet, entry_points: list[str]) -> None:
    """Find calls to functions that do not exist (e.g. ``unit.parse``).

    The tree-walking interpreter only notices an unknown function when it reaches the call, so
    this borrows the RVM compiler, which resolves every call. That compiler does not support
    every construct (``with``, used by tests), so only its unknown-function errors count, and an
    unsupported rule is retried on its own so it cannot hide an error elsewhere.
    """
    if not entry_points:
        return
    data = json.dumps(policy_set.data)
    modules = sorted(policy_set.modules.items())
    batches = [entry_points]
    while batches:
        batch = batches.pop()
        try:
            regorus.Program.compile_from_modules(data, modules, batch)
        except Exception as exc:
            error = PolicyError.from_engine(exc)
            if error.message.startswith("Unknown function"):
                raise error from None
            if len(batch) > 1:
                batches.extend([entry] for entry in batch)


def _entry_points(engine: regorus.Engine) -> Iterator[str]:
    """``data.<package>.<rule>`` for every rule that is neither a function nor a test."""
    seen: set[str] = set()
    for package, rule in iter_rules(engine):
        path = f"{package}.{rule}"
        if not rule.startswith(TEST_PREFIX) and path not in seen:
            seen.add(path)
            yield path


def iter_rules(engine: regorus.Engine) -> Iterator[tuple[str, str]]:
    """(``data.<package>``, rule name) for each non-function rule definition, in source order."""
    for module in json.loads(engine.get_ast_as_json()):
        ast = module["ast"]
        package = _ref_path(ast["package"]["refr"])
        if package is None:
            continue
        for rule in ast.get("rules", []):
            spec = rule.get("Spec")
            if spec is None:
                continue
            kind, head = next(iter(spec["head"].items()))
            if kind == "Func":
                continue
            name = _ref_path(head["refr"])
            if name is not None:
                yield f"data.{package}", name


def _ref_path(ref: Mapping[str, Any]) -> str | None:
    """Dotted name of a ``Var`` / ``RefDot`` chain; None for bracketed refs we do not need."""
    if "Var" in ref:
        return str(ref["Var"]["value"])
    if "RefDot" in ref:
        parent = _ref_path(ref["RefDot"]["refr"])
        return None if parent is None else f"{parent}.{ref['RefDot']['field'][1]}"
    return None
