"""``ModelCard``: what a stored model is, what it learned from, how well it scored, who shipped it.

A card sits next to every model file in the registry, as ``card.json`` for tools and as a
rendered ``README.md`` for people. It answers the questions asked before trusting a model: which
data (a hash, so "the same data" is checkable, not a file name), which parameters, which
library versions (a model file is only as portable as those), which backtest figures, and
whether it was promoted on merit or by override.

Backtest figures only compare when they were measured on the same data, so each set of figures
keeps the hash of the backtest data it came from; a card may hold several (the champion re-scored
on a challenger's backtest, for instance).
"""

from __future__ import annotations

import getpass
import hashlib
import importlib.metadata
import os
import platform
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd

import rapp
from rapp.ml.drift import DriftReference, FeatureData
from rapp.ml.panel import CELL, PERIOD_END, Panel

KINDS: tuple[str, ...] = ("forecaster", "detector")
CARD_FORMAT = 1


@dataclass(frozen=True)
class DataSummary:
    """A data set, identified by content: its sha256 and what it spans."""

    sha256: str
    start: datetime | None = None
    end: datetime | None = None
    cells: int = 0
    rows: int = 0

    @classmethod
    def of(cls, data: FeatureData) -> DataSummary:
        """Hash and span of a long KPI frame, a ``Panel`` or an array."""
        if isinstance(data, Panel):
            times = data.times
            start, end = (times[0], times[-1]) if len(times) else (None, None)
            return cls(
                dataset_sha256(data),
                _utc(start),
                _utc(end),
                len(data.cells),
                len(data.cells) * len(times),
            )
        if isinstance(data, pd.DataFrame):
            frame = data if PERIOD_END in data.columns else data.reset_index()
            start = end = None
            if PERIOD_END in frame.columns and len(frame):
                ends = pd.to_datetime(frame[PERIOD_END], utc=True)
                start, end = ends.min(), ends.max()
            cells = int(frame[CELL].nunique()) if CELL in frame.columns else 0
            return cls(dataset_sha256(data), _utc(start), _utc(end), cells, len(frame))
        array = np.asarray(data)
        return cls(dataset_sha256(array), rows=int(array.shape[0]) if array.ndim else 0)

    def to_dict(self) -> dict[str, Any]:
        return {
            "sha256": self.sha256,
            "start": _iso(self.start),
            "end": _iso(self.end),
            "cells": self.cells,
            "rows": self.rows,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DataSummary:
        return cls(
            str(data["sha256"]),
            _parse(data.get("start")),
            _parse(data.get("end")),
            int(data.get("cells", 0)),
            int(data.get("rows", 0)),
        )


@dataclass(frozen=True)
class Backtest:
    """Figures of one backtest, and the hash of the data they were measured on."""

    dataset_sha256: str
    metrics: Mapping[str, float]
    scored_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "dataset_sha256": self.dataset_sha256,
            "metrics": {k: float(v) for k, v in self.metrics.items()},
            "scored_at": _iso(self.scored_at),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Backtest:
        return cls(
            str(data["dataset_sha256"]),
            {str(k): float(v) for k, v in data["metrics"].items()},
            _parse(data["scored_at"]) or datetime.now(UTC),
        )


@dataclass(frozen=True)
class Promotion:
    """How a version became champion: on merit (figures) or by override (reason)."""

    at: datetime
    by: str
    override: bool = False
    reason: str = ""
    replaced: str | None = None
    metric: str | None = None
    value: float | None = None
    champion_value: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "at": _iso(self.at),
            "by": self.by,
            "override": self.override,
            "reason": self.reason,
            "replaced": self.replaced,
            "metric": self.metric,
            "value": self.value,
            "champion_value": self.champion_value,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Promotion:
        return cls(
            _parse(data["at"]) or datetime.now(UTC),
            str(data["by"]),
            bool(data.get("override", False)),
            str(data.get("reason", "")),
            data.get("replaced"),
            data.get("metric"),
            _float_or_none(data.get("value")),
            _float_or_none(data.get("champion_value")),
        )


@dataclass(frozen=True)
class ModelCard:
    """Everything recorded about one stored model version."""

    name: str
    version: str
    kind: str
    estimator: str
    params: Mapping[str, Any]
    training: DataSummary | None = None
    backtests: tuple[Backtest, ...] = ()
    libraries: Mapping[str, str] = field(default_factory=dict)
    author: str = field(default_factory=lambda: user())
    created: datetime = field(default_factory=lambda: datetime.now(UTC))
    notes: str = ""
    promotion: Promotion | None = None
    drift_reference: DriftReference | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"model kind must be one of {list(KINDS)}, got {self.kind!r}")

    @property
    def metrics(self) -> Mapping[str, float]:
        """Figures of the latest backtest (empty if never scored)."""
        return self.backtests[-1].metrics if self.backtests else {}

    @property
    def backtest_sha256(self) -> str | None:
        return self.backtests[-1].dataset_sha256 if self.backtests else None

    def backtest_on(self, dataset_sha256: str) -> Backtest | None:
        """The latest backtest measured on that data, if any."""
        for backtest in reversed(self.backtests):
            if backtest.dataset_sha256 == dataset_sha256:
                return backtest
        return None

    def with_backtest(self, backtest: Backtest) -> ModelCard:
        return replace(self, backtests=(*self.backtests, backtest))

    def with_promotion(self, promotion: Promotion) -> ModelCard:
        return replace(self, promotion=promotion)

    def to_dict(self) -> dict[str, Any]:
        return {
            "card_format": CARD_FORMAT,
            "name": self.name,
            "version": self.version,
            "kind": self.kind,
            "estimator": self.estimator,
            "params": jsonable(self.params),
            "training": self.training.to_dict() if self.training else None,
            "backtests": [b.to_dict() for b in self.backtests],
            "libraries": dict(self.libraries),
            "author": self.author,
            "created": _iso(self.created),
            "notes": self.notes,
            "promotion": self.promotion.to_dict() if self.promotion else None,
            "drift_reference": self.drift_reference.to_dict() if self.drift_reference else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ModelCard:
        try:
            return cls(
                name=str(data["name"]),
                version=str(data["version"]),
                kind=str(data["kind"]),
                estimator=str(data["estimator"]),
                params=dict(data.get("params") or {}),
                training=DataSummary.from_dict(data["training"]) if data.get("training") else None,
                backtests=tuple(Backtest.from_dict(b) for b in data.get("backtests") or ()),
                libraries=dict(data.get("libraries") or {}),
                author=str(data.get("author", "")),
                created=_parse(data.get("created")) or datetime.now(UTC),
                notes=str(data.get("notes", "")),
                promotion=Promotion.from_dict(data["promotion"]) if data.get("promotion") else None,
                drift_reference=(
                    DriftReference.from_dict(data["drift_reference"])
                    if data.get("drift_reference")
                    else None
                ),
            )
        except KeyError as exc:
            raise ValueError(f"model card lacks the field {exc}") from None

    def to_markdown(self) -> str:
        """The card for people: the registry writes it as the version's README.md."""
        lines = [
            f"# {self.name} {self.version}",
            "",
            f"A {self.kind}: `{self.estimator}`, by {self.author}, created {_iso(self.created)}.",
            "",
        ]
        if self.notes:
            lines += [self.notes, ""]
        lines += ["## Training data", ""]
        if self.training:
            t = self.training
            lines += [
                f"- sha256: `{t.sha256}`",
                f"- period: {_iso(t.start) or '?'} to {_iso(t.end) or '?'}",
                f"- cells: {t.cells}, rows: {t.rows}",
                "",
            ]
        else:
            lines += ["Not recorded.", ""]
        lines += ["## Backtests", ""]
        for backtest in self.backtests:
            lines += [
                f"On data `{backtest.dataset_sha256[:12]}`, scored {_iso(backtest.scored_at)}:",
                "",
                "| metric | value |",
                "|---|---|",
                *(f"| {k} | {v:.4g} |" for k, v in backtest.metrics.items()),
                "",
            ]
        if not self.backtests:
            lines += ["Not scored yet: it cannot be promoted on merit.", ""]
        lines += ["## Promotion", "", _promotion_text(self.promotion), ""]
        lines += ["## Parameters", "", "| parameter | value |", "|---|---|"]
        lines += [f"| {k} | `{v}` |" for k, v in jsonable(self.params).items()]
        lines += ["", "## Libraries", "", "| library | version |", "|---|---|"]
        lines += [f"| {k} | {v} |" for k, v in self.libraries.items()]
        drift = self.drift_reference
        lines += [
            "",
            "## Drift reference",
            "",
            f"PSI bins for {len(drift.features)} features: {', '.join(drift.features)}."
            if drift
            else "None: input drift cannot be checked for this model.",
            "",
        ]
        return "\n".join(lines)


def dataset_sha256(data: FeatureData) -> str:
    """A content hash of a data set, the same whatever the order of its rows or columns.

    A frame hashes its columns (names, dtypes, values) with rows sorted by ``cell`` and
    ``period_end`` when it has them; a ``Panel`` hashes its cells, times and KPI matrices; an
    array its shape, dtype and bytes. Hash the same kind of object on both sides of a comparison.
    """
    digest = hashlib.sha256()
    if isinstance(data, Panel):
        digest.update(b"panel\0")
        digest.update("\0".join(map(str, data.cells)).encode())
        digest.update(np.ascontiguousarray(data.times.asi8).tobytes())
        for name in sorted(data.values):
            digest.update(name.encode() + b"\0")
            digest.update(np.ascontiguousarray(data.values[name], dtype=np.float64).tobytes())
    elif isinstance(data, pd.DataFrame):
        frame = data.reset_index(drop=not _has_named_index(data))
        keys = [k for k in (CELL, PERIOD_END) if k in frame.columns]
        if keys:
            frame = frame.sort_values(keys, kind="stable")
        digest.update(b"frame\0")
        for column in sorted(frame.columns, key=str):
            series = frame[column]
            digest.update(f"{column}\0{series.dtype}\0".encode())
            hashed = pd.util.hash_pandas_object(series, index=False)
            digest.update(hashed.to_numpy().tobytes())
    else:
        array = np.ascontiguousarray(np.asarray(data))
        digest.update(f"array\0{array.shape}\0{array.dtype}\0".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def user() -> str:
    """The login name, for ``author`` and ``by`` when none is given.

    A container often runs under a numeric uid with no passwd entry, where ``getpass.getuser``
    raises; the uid is still worth recording.
    """
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return f"uid {os.getuid()}"


def library_versions() -> dict[str, str]:
    """Versions a model file depends on: loading it elsewhere needs compatible ones."""
    versions = {"python": platform.python_version()}
    for dist in ("numpy", "pandas", "scikit-learn", "skops"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    versions["rapp"] = rapp.__version__
    return versions


def jsonable(value: Any) -> Any:
    """``value`` as plain JSON types; anything else (a nested estimator, a function) as text."""
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray) and value.size <= 64:
        return value.tolist()
    return repr(value)


def _promotion_text(promotion: Promotion | None) -> str:
    if promotion is None:
        return "Never promoted."
    text = f"Promoted {_iso(promotion.at)} by {promotion.by}"
    if promotion.replaced:
        text += f", replacing {promotion.replaced}"
    if promotion.metric and promotion.value is not None:
        text += f"; {promotion.metric} {promotion.value:.4g}"
        if promotion.champion_value is not None:
            text += f" against {promotion.champion_value:.4g}"
    if promotion.override:
        text += f". **Override**: {promotion.reason or 'no reason given'}"
    return text + "."


def _has_named_index(frame: pd.DataFrame) -> bool:
    # derive_kpis' (cell, period_end) index is data; a default RangeIndex is not.
    return any(name is not None for name in frame.index.names)


def _utc(value: Any) -> datetime | None:
    if value is None or pd.isna(value):
        return None
    stamp = pd.Timestamp(value)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")
    return stamp.to_pydatetime()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse(value: Any) -> datetime | None:
    if value in (None, ""):
        return None
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _float_or_none(value: Any) -> float | None:
    return None if value is None else float(value)
