"""Input drift: how far the KPIs a model sees now have moved from those it was trained on.

The measure is the population stability index (PSI) per feature. ``DriftReference.fit`` keeps,
for every feature of the training data, quantile bin edges and the share of training values in
each bin; it is small and JSON-serialisable, so it travels inside the model card and the runtime
needs no training data to check drift. ``psi(reference, current)`` bins current values on the
same edges and compares the shares:

    PSI = sum over bins of (current - expected) * ln(current / expected)

Usual reading, used by ``drift_level``: below 0.1 the population is stable, 0.1 to 0.25 is worth
watching, 0.25 and above the model is scoring data it was not trained on and should be retrained
(``PSI_WATCH``, ``PSI_ACT``).

Bins: interior quantiles become edges, and every edge is also a bin of its own (values exactly
equal to it). KPIs pile up on exact values (PRB use clipped at 0 or 100 %, an idle cell's zero
throughput), and a constant feature has one edge only; with point bins a shift to either side of
such a value still shows. NaN (missing or suspect ROPs) is left out of both distributions: data
quality is reported elsewhere, and a gap is not a change of population.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import pandas as pd

from rapp.ml.panel import Panel

PSI_WATCH = 0.1
"""PSI from which a feature's drift is worth watching."""
PSI_ACT = 0.25
"""PSI from which the model should be retrained on recent data."""

DriftLevel = Literal["stable", "watch", "act", "unknown"]
FeatureData = pd.DataFrame | Panel | np.ndarray

# Floor for a bin's share: an empty bin on either side would make the log infinite, and one
# value in ten thousand is already far below what any bin of a 10-quantile grid holds.
_EPSILON = 1e-4
_NON_FEATURES = frozenset({"cell", "period_end", "suspect"})


@dataclass(frozen=True)
class DriftReference:
    """Per-feature bin edges and expected shares, learned from training data.

    ``edges[f]`` are the sorted distinct interior quantiles of feature ``f``; ``expected[f]`` are
    the shares of training values in the ``2 * len(edges[f]) + 1`` bins: below the first edge,
    at it, between it and the next, ... above the last. A feature with no finite training
    value has no edges and no shares: its PSI is NaN.
    """

    features: tuple[str, ...]
    edges: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    expected: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    n_bins: int = 10

    @classmethod
    def fit(
        cls,
        data: FeatureData,
        *,
        feature_names: Sequence[str] | None = None,
        n_bins: int = 10,
    ) -> DriftReference:
        """The reference distribution of every feature in ``data``.

        ``data`` is a long KPI frame (every numeric column but ``cell``, ``period_end`` and
        ``suspect``), a ``Panel`` (every KPI, all cells and ROPs pooled) or a 2-D array
        (samples, features) with ``feature_names``.
        """
        if n_bins < 2:
            raise ValueError(f"n_bins must be at least 2, got {n_bins}")
        columns = _columns(data, feature_names)
        levels = np.arange(1, n_bins) / n_bins
        edges: dict[str, tuple[float, ...]] = {}
        expected: dict[str, tuple[float, ...]] = {}
        for name, values in columns.items():
            finite = values[np.isfinite(values)]
            if finite.size == 0:
                edges[name], expected[name] = (), ()
                continue
            cut = np.unique(np.quantile(finite, levels))
            edges[name] = tuple(float(e) for e in cut)
            expected[name] = tuple(float(s) for s in _shares(finite, cut))
        return cls(tuple(columns), edges, expected, n_bins)

    def only(self, features: Sequence[str]) -> DriftReference:
        """The reference of just ``features`` (those it has): the live loop keeps fewer KPIs
        in state than a model was trained on."""
        kept = tuple(f for f in self.features if f in set(features))
        return DriftReference(
            kept,
            {f: self.edges[f] for f in kept},
            {f: self.expected[f] for f in kept},
            self.n_bins,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_bins": self.n_bins,
            "features": {
                name: {"edges": list(self.edges[name]), "expected": list(self.expected[name])}
                for name in self.features
            },
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DriftReference:
        try:
            features = data["features"]
            return cls(
                tuple(features),
                {k: tuple(float(e) for e in v["edges"]) for k, v in features.items()},
                {k: tuple(float(s) for s in v["expected"]) for k, v in features.items()},
                int(data.get("n_bins", 10)),
            )
        except (KeyError, TypeError, AttributeError) as exc:
            raise ValueError(f"not a drift reference: missing or malformed {exc}") from None


def psi(reference: DriftReference, current: FeatureData) -> dict[str, float]:
    """PSI of each reference feature in ``current`` (same kinds of input as ``fit``).

    A 2-D array's columns are taken in the reference's feature order. NaN for a feature with
    no finite value on either side: there is nothing to compare, which is not "stable".
    """
    names = reference.features if isinstance(current, np.ndarray) else None
    columns = _columns(current, names)
    absent = [f for f in reference.features if f not in columns]
    if absent:
        raise ValueError(f"current data lacks features {absent}; it has {list(columns)}")
    out: dict[str, float] = {}
    for name in reference.features:
        values = columns[name]
        finite = values[np.isfinite(values)]
        expected = np.asarray(reference.expected[name], dtype=np.float64)
        if finite.size == 0 or expected.size == 0:
            out[name] = float("nan")
            continue
        actual = _shares(finite, np.asarray(reference.edges[name], dtype=np.float64))
        e, a = np.maximum(expected, _EPSILON), np.maximum(actual, _EPSILON)
        out[name] = float(np.sum((a - e) * np.log(a / e)))
    return out


def drift_level(value: float) -> DriftLevel:
    """``stable`` below ``PSI_WATCH``, ``watch`` below ``PSI_ACT``, else ``act``."""
    if not np.isfinite(value):
        return "unknown"
    if value < PSI_WATCH:
        return "stable"
    return "watch" if value < PSI_ACT else "act"


def _shares(values: np.ndarray, edges: np.ndarray) -> np.ndarray:
    """Share of ``values`` in each of the 2k+1 interval and point bins of ``k`` edges."""
    # left + right insertion points: 2i below edge i, 2i+1 exactly at it, 2i+2 just above.
    bins = np.searchsorted(edges, values, side="left") + np.searchsorted(
        edges, values, side="right"
    )
    counts = np.bincount(bins, minlength=2 * len(edges) + 1)
    return counts / values.size


def _columns(data: FeatureData, feature_names: Sequence[str] | None) -> dict[str, np.ndarray]:
    """Each feature of ``data`` as one flat float64 array."""
    if isinstance(data, Panel):
        return {k: np.asarray(v, dtype=np.float64).reshape(-1) for k, v in data.values.items()}
    if isinstance(data, pd.DataFrame):
        names = (
            list(feature_names)
            if feature_names is not None
            else [
                c
                for c in data.columns
                if c not in _NON_FEATURES
                and pd.api.types.is_numeric_dtype(data[c])
                and not pd.api.types.is_bool_dtype(data[c])
            ]
        )
        missing = [n for n in names if n not in data.columns]
        if missing:
            raise ValueError(f"frame lacks feature columns {missing}")
        if not names:
            raise ValueError("the frame has no numeric feature columns")
        return {str(n): data[n].to_numpy(dtype=np.float64, na_value=np.nan) for n in names}
    if isinstance(data, np.ndarray):
        matrix = np.asarray(data, dtype=np.float64)
        if matrix.ndim != 2:
            raise ValueError(f"an array must be 2-D (samples, features), got shape {data.shape}")
        if feature_names is None:
            raise ValueError("an array needs feature_names, one per column")
        if len(feature_names) != matrix.shape[1]:
            raise ValueError(
                f"{len(feature_names)} feature names for an array of {matrix.shape[1]} columns"
            )
        return {str(n): matrix[:, i] for i, n in enumerate(feature_names)}
    raise TypeError(
        f"drift data must be a DataFrame, a Panel or a 2-D array, not {type(data).__name__}"
    )
