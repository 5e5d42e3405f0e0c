"""The model registry: versioned model files with cards, a champion per name, a promotion gate.

Layout under the root (``models/`` by default)::

    <name>/current                 JSON: the champion's version, the champion stack, a log
    <name>/<version>/model.skops   the estimator (skops, never pickle)
    <name>/<version>/card.json     its ``ModelCard``
    <name>/<version>/README.md     the card rendered for people

Versions are ``v1``, ``v2``, ...: a counter, not a timestamp, because the number says which
model came after which whatever the clocks of the machines that trained them, and it is short
enough to type in ``rapp models promote forecaster v7``. A version folder is written under a
temporary name and renamed into place, so it appears complete or not at all, and two trainers
saving at once get different numbers (the loser of the rename takes the next one).

``current`` is replaced atomically (temporary file, fsync, ``os.replace``) under a per-name lock,
so a reader sees the old pointer or the new one, never half of either. It keeps the stack of
champions, so ``rollback`` can go back one step at a time, and a log of every change.

Loading never trusts the file: every type skops would have to construct is checked against an
allow-list of prefixes before anything is built, and a type outside it is refused by name.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import re
import shutil
import tempfile
import zipfile
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pandas as pd
import skops.io as sio
from sklearn.exceptions import NotFittedError
from sklearn.utils.validation import check_is_fitted

from rapp.ml.card import (
    Backtest,
    DataSummary,
    ModelCard,
    Promotion,
    dataset_sha256,
    jsonable,
    library_versions,
    user,
)
from rapp.ml.drift import DriftReference, FeatureData
from rapp.ml.gate import GATE_RULES, GateRule, judge
from rapp.ml.panel import Panel

log = logging.getLogger(__name__)

DEFAULT_ROOT = Path("models")
MODEL_FILE, CARD_FILE, README_FILE, POINTER_FILE = (
    "model.skops",
    "card.json",
    "README.md",
    "current",
)

TRUSTED_PREFIXES: tuple[str, ...] = ("sklearn.", "numpy.", "rapp.")
"""Modules whose types a model file may hold: our estimators and what they are built from."""
TRUSTED_BUILTINS: frozenset[str] = frozenset({"builtins.frozenset"})
"""Builtins skops asks about that only hold data (a prefix would let ``builtins.eval`` in)."""

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
_VERSION = re.compile(r"v([1-9][0-9]*)")


class RegistryError(Exception):
    """A registry operation that cannot be done, with the reason in the message."""


class ModelNotFoundError(RegistryError, LookupError):
    """No such model name or version."""


class UntrustedModelError(RegistryError):
    """A model file holds types outside the allow-list; it is not loaded."""


class PromotionRefusedError(RegistryError):
    """The challenger does not beat the champion on the same backtest (or cannot be compared)."""


class Registry:
    """Model versions and champions under one root folder."""

    def __init__(
        self,
        root: str | Path = DEFAULT_ROOT,
        *,
        trusted_prefixes: Sequence[str] = TRUSTED_PREFIXES,
        gate_rules: Mapping[str, GateRule] = GATE_RULES,
    ) -> None:
        self.root = Path(root)
        self.trusted_prefixes = tuple(trusted_prefixes)
        self.gate_rules = dict(gate_rules)

    # -- reading ------------------------------------------------------------------------------

    def names(self) -> list[str]:
        """Model names that have at least one version."""
        if not self.root.is_dir():
            return []
        return sorted(
            p.name for p in self.root.iterdir() if _NAME.fullmatch(p.name) and self.versions(p.name)
        )

    def versions(self, name: str) -> list[str]:
        """Complete versions of ``name``, oldest first."""
        folder = self.root / _checked_name(name)
        if not folder.is_dir():
            return []
        found = [
            p.name
            for p in folder.iterdir()
            if _VERSION.fullmatch(p.name) and (p / CARD_FILE).is_file()
        ]
        return sorted(found, key=_version_number)

    def current(self, name: str) -> str | None:
        """The champion version of ``name``, or None before the first promotion."""
        return self._pointer(name).get("version")

    def history(self, name: str) -> list[dict[str, Any]]:
        """Every promotion and rollback of ``name``, oldest first."""
        return list(self._pointer(name).get("log", []))

    def pointer_path(self, name: str) -> Path:
        return self.root / _checked_name(name) / POINTER_FILE

    def card(self, name: str, version: str | None = None) -> ModelCard:
        """The card of ``version`` (default: the champion)."""
        path = self._version_dir(name, version) / CARD_FILE
        try:
            return ModelCard.from_dict(json.loads(path.read_text()))
        except (OSError, ValueError) as exc:
            raise RegistryError(f"{path}: unreadable model card: {exc}") from None

    def load(self, name: str, version: str | None = None) -> Any:
        """The estimator of ``version`` (default: the champion), after checking its types."""
        folder = self._version_dir(name, version)
        model = self._read_model(folder / MODEL_FILE, str(folder / MODEL_FILE))
        expected = self.card(name, folder.name).estimator
        if _qualname(model) != expected:
            raise RegistryError(f"{folder}: holds a {_qualname(model)}, its card says {expected}")
        return model

    def _read_model(self, path: Path, what: str) -> Any:
        """Build the object in a skops file only if every type it needs is on the allow-list.

        ``what`` names the file in errors (a staging path would mean nothing to the reader).
        """
        try:
            untrusted = sio.get_untrusted_types(file=path)
        except Exception as exc:  # skops raises whatever the zip or JSON parser raises
            raise RegistryError(f"{what}: not a readable skops file: {exc}") from None
        refused = [t for t in untrusted if not self._trusted(t)]
        if refused:
            raise UntrustedModelError(
                f"{what}: refusing to load types outside the allow-list: {', '.join(refused)} "
                f"(allowed: {', '.join(p + '*' for p in self.trusted_prefixes)}, "
                f"{', '.join(sorted(TRUSTED_BUILTINS))})"
            )
        try:
            return sio.load(path, trusted=untrusted)
        except Exception as exc:
            raise RegistryError(f"{what}: cannot load the model: {exc}") from None

    # -- writing ------------------------------------------------------------------------------

    def save(
        self,
        estimator: Any,
        *,
        name: str,
        kind: str,
        training_data: FeatureData | None = None,
        metrics: Mapping[str, float] | None = None,
        backtest_data: FeatureData | None = None,
        backtest_sha256: str | None = None,
        drift_reference: DriftReference | None = None,
        author: str | None = None,
        notes: str = "",
    ) -> ModelCard:
        """Store a fitted estimator as the next version of ``name``; it is not promoted.

        ``metrics`` are backtest figures and need the backtest's data (or its hash), so they
        can be compared with another model's. The drift reference is fitted on a frame or
        ``Panel`` of training data unless one is given.
        """
        _checked_name(name)
        if kind not in self.gate_rules:
            raise ValueError(f"model kind must be one of {sorted(self.gate_rules)}, got {kind!r}")
        try:
            check_is_fitted(estimator)
        except NotFittedError:
            raise ValueError(f"refusing to store an unfitted {type(estimator).__name__}") from None
        except TypeError:
            raise ValueError(
                f"{type(estimator).__name__} is not a scikit-learn estimator"
            ) from None
        backtests: tuple[Backtest, ...] = ()
        if metrics is not None:
            backtests = (
                Backtest(_backtest_hash(backtest_data, backtest_sha256), dict(metrics), _now()),
            )
        if drift_reference is None and isinstance(training_data, Panel | pd.DataFrame):
            drift_reference = DriftReference.fit(training_data)
        folder = self.root / name
        folder.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".saving-", dir=folder))
        # mkdtemp makes it 0700: a runtime under another user (a pod reading a volume) must read it.
        staging.chmod(0o755)
        try:
            # Deflated: a detector's per-cell profiles shrink about fourfold, at no cost to load.
            sio.dump(estimator, staging / MODEL_FILE, compression=zipfile.ZIP_DEFLATED)
            # A file the runtime would refuse (or skops cannot rebuild) is caught here, at
            # training time, not when the runtime reloads its champion.
            self._read_model(staging / MODEL_FILE, f"{type(estimator).__name__} not stored")
            while True:
                version = f"v{self._last_number(name) + 1}"
                card = ModelCard(
                    name=name,
                    version=version,
                    kind=kind,
                    estimator=_qualname(estimator),
                    params=jsonable(estimator.get_params(deep=False)),
                    training=DataSummary.of(training_data) if training_data is not None else None,
                    backtests=backtests,
                    libraries=library_versions(),
                    author=author or user(),
                    notes=notes,
                    drift_reference=drift_reference,
                )
                _write_card(staging, card)
                try:
                    # rename(2) onto an existing non-empty folder fails: another saver won v<N>.
                    os.rename(staging, folder / version)
                    return card
                except OSError:
                    if not (folder / version).exists():
                        raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    def add_backtest(
        self,
        name: str,
        version: str,
        metrics: Mapping[str, float],
        *,
        backtest_data: FeatureData | None = None,
        backtest_sha256: str | None = None,
    ) -> ModelCard:
        """Record figures of another backtest (e.g. the champion re-scored on new data)."""
        with self._lock(name):
            card = self.card(name, version).with_backtest(
                Backtest(_backtest_hash(backtest_data, backtest_sha256), dict(metrics), _now())
            )
            _write_card(self._version_dir(name, version), card)
        return card

    def promote(
        self,
        name: str,
        version: str,
        *,
        override: bool = False,
        reason: str = "",
        by: str | None = None,
    ) -> ModelCard:
        """Make ``version`` the champion if it beats the current one on the same backtest.

        The first version of a name needs no champion to beat. ``override`` promotes a
        challenger the gate refuses, and needs a ``reason``; both go into its card (a challenger
        that passes the gate is recorded as promoted on merit, override or not).
        """
        if override and not reason.strip():
            raise RegistryError("an override needs a reason (it is recorded in the model card)")
        by = by or user()
        with self._lock(name):
            card = self.card(name, version)
            self.load(name, version)  # a champion the runtime could not load is no champion
            pointer = self._pointer(name)
            champion = pointer.get("version")
            if champion == version:
                raise RegistryError(f"{name} {version} is already the champion")
            rule = self.gate_rules[card.kind]
            verdict = judge(card, self.card(name, champion) if champion else None, rule)
            if verdict.refusal and not override:
                raise PromotionRefusedError(verdict.refusal)
            promotion = Promotion(
                at=_now(),
                by=by,
                override=bool(verdict.refusal),
                reason=reason,
                replaced=champion,
                metric=rule.metric if verdict.value is not None else None,
                value=verdict.value,
                champion_value=verdict.champion_value,
            )
            card = card.with_promotion(promotion)
            _write_card(self._version_dir(name, version), card)
            entry = {"action": "promote", "version": version, **promotion.to_dict()}
            self._write_pointer(name, [*pointer.get("champions", []), version], pointer, entry)
        return card

    def rollback(self, name: str, *, by: str | None = None, reason: str = "") -> str:
        """Make the previous champion current again; returns its version."""
        with self._lock(name):
            pointer = self._pointer(name)
            champions = list(pointer.get("champions", []))
            if len(champions) < 2:
                raise RegistryError(f"{name} has no previous champion to roll back to")
            retired, restored = champions[-1], champions[-2]
            self.card(name, restored)  # still there and readable
            entry = {
                "action": "rollback",
                "version": restored,
                "from": retired,
                "at": _now().isoformat(),
                "by": by or user(),
                "reason": reason,
            }
            self._write_pointer(name, champions[:-1], pointer, entry)
        return restored

    # -- internals ----------------------------------------------------------------------------

    def _trusted(self, type_name: str) -> bool:
        return type_name in TRUSTED_BUILTINS or type_name.startswith(self.trusted_prefixes)

    def _version_dir(self, name: str, version: str | None) -> Path:
        if version is None:
            version = self.current(name)
            if version is None:
                known = self.versions(name)
                raise ModelNotFoundError(
                    f"{name} has no champion yet (versions: {', '.join(known)})"
                    if known
                    else f"no model named {name!r}"
                )
        if not _VERSION.fullmatch(version):
            raise ModelNotFoundError(f"{version!r} is not a version (expected v1, v2, ...)")
        folder = self.root / _checked_name(name) / version
        if not (folder / CARD_FILE).is_file():
            known = self.versions(name)
            raise ModelNotFoundError(
                f"{name} has no version {version} (versions: {', '.join(known)})"
                if known
                else f"no model named {name!r}"
            )
        return folder

    def _last_number(self, name: str) -> int:
        folder = self.root / name
        numbers = [_version_number(p.name) for p in folder.iterdir() if _VERSION.fullmatch(p.name)]
        return max(numbers, default=0)

    def _pointer(self, name: str) -> dict[str, Any]:
        path = self.pointer_path(name)
        try:
            return json.loads(path.read_text())
        except FileNotFoundError:
            return {}
        except (OSError, ValueError) as exc:
            raise RegistryError(f"{path}: unreadable champion pointer: {exc}") from None

    def _write_pointer(
        self, name: str, champions: list[str], old: Mapping[str, Any], entry: dict[str, Any]
    ) -> None:
        pointer = {
            "version": champions[-1],
            "champions": champions,
            "log": [*old.get("log", []), entry],
        }
        _atomic_write(self.pointer_path(name), json.dumps(pointer, indent=2) + "\n")

    @contextmanager
    def _lock(self, name: str) -> Iterator[None]:
        """Serialise read-modify-write of one name's pointer and cards across processes."""
        folder = self.root / _checked_name(name)
        if not folder.is_dir():
            raise ModelNotFoundError(f"no model named {name!r}")
        with open(folder / ".lock", "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def _write_card(folder: Path, card: ModelCard) -> None:
    _atomic_write(folder / CARD_FILE, json.dumps(card.to_dict(), indent=2) + "\n")
    _atomic_write(folder / README_FILE, card.to_markdown())


def _atomic_write(path: Path, text: str) -> None:
    """Replace ``path`` so that readers see the old content or the new, never a torn file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.chmod(tmp, 0o644)  # mkstemp's 0600 would hide the file from a reader under another user
    try:
        with os.fdopen(fd, "w") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # the rename itself survives a power cut
    finally:
        os.close(dir_fd)


def _backtest_hash(data: FeatureData | None, sha256: str | None) -> str:
    if (data is None) == (sha256 is None):
        raise ValueError("backtest figures need exactly one of backtest_data or backtest_sha256")
    return sha256 if sha256 is not None else dataset_sha256(data)  # type: ignore[arg-type]


def _checked_name(name: str) -> str:
    if not _NAME.fullmatch(name or ""):
        raise ValueError(f"{name!r} is not a model name (letters, digits, '_', '.', '-')")
    return name


def _version_number(version: str) -> int:
    return int(version[1:])


def _qualname(obj: Any) -> str:
    cls = type(obj)
    return f"{cls.__module__}.{cls.__qualname__}"


def _now() -> datetime:
    return datetime.now(UTC)
