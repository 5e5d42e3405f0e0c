"""Train, score and register models: what ``rapp train`` and ``rapp evaluate`` do.

Every figure a promotion is judged on comes from a held-out stretch at the end of the data
(``holdout``), never seen in training; the champion is scored on that same stretch before the
challenger is registered, so the gate compares like with like (``Registry.promote``). Baselines
(seasonal naive, Holt-Winters) are scored in the same run and kept in the card: a model that
does not beat them is visible as such.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from rapp.ml.backtest import BacktestResult, evaluate
from rapp.ml.card import ModelCard, dataset_sha256
from rapp.ml.detector import Detector
from rapp.ml.events import EventMetrics, evaluate_events, event_mask, pr_curve
from rapp.ml.forecaster import Forecaster
from rapp.ml.holt_winters import HoltWintersForecaster
from rapp.ml.naive import SeasonalNaiveForecaster
from rapp.ml.panel import Panel
from rapp.ml.registry import Registry, RegistryError
from rapp.ml.report import detector_report, forecaster_report

log = logging.getLogger(__name__)

Progress = Callable[[str], None]
LEAD = "1h"
HOLDOUT = pd.Timedelta(days=7)
"""A week: every hour of every weekday is scored once."""


@dataclass
class ForecasterRun:
    """A trained (or re-scored) forecaster, its backtest and the baselines' on the same data;
    ``notes`` go into the card (e.g. why the champion could not be scored alongside)."""

    model: Any
    result: BacktestResult
    baselines: dict[str, BacktestResult]
    metrics: dict[str, Any]
    train: Panel
    test: Panel
    notes: list[str] = field(default_factory=list)


def split(panel: Panel, holdout: pd.Timedelta) -> tuple[Panel, Panel]:
    """(train, test): the last ``holdout`` of the panel is the test; the rest trains."""
    n_test = int(pd.Timedelta(holdout) / panel.step)
    if not 0 < n_test < len(panel.times):
        raise ValueError(
            f"a holdout of {holdout} leaves nothing to train on in {len(panel.times)} ROPs of "
            f"{panel.step} ({panel.times[0]} .. {panel.times[-1]})"
        )
    return panel.window(0, -n_test), panel.window(-n_test, None)


def forecast_metrics(result: BacktestResult, lead: str = LEAD) -> dict[str, float]:
    """The card's figures, flat and numeric: the backtest's own (per-step lists become
    ``wape_by_step_1`` ...), plus the gate's ``wape_1h``; undefined figures are left out."""
    metrics: dict[str, float] = {}
    for key, value in result.to_dict().items():
        if key == "lead_minutes":  # what the per-step figures are indexed by, not a figure
            continue
        values = value if isinstance(value, list) else [value]
        for i, v in enumerate(values, 1):
            if isinstance(v, int | float) and np.isfinite(v):
                metrics[f"{key}_{i}" if isinstance(value, list) else key] = float(v)
    wape = _num(result.wape_at(lead))
    if wape is not None:
        metrics[f"wape_{lead}"] = wape
    return metrics


def train_forecaster(
    frame: pd.DataFrame,
    *,
    kpi: str = "prb_util_dl",
    holdout: pd.Timedelta = HOLDOUT,
    params: Mapping[str, Any] | None = None,
    progress: Progress = log.info,
) -> ForecasterRun:
    """Fit a ``Forecaster`` on all but the holdout and backtest it, and the baselines, on it."""
    panel = Panel.from_frame(frame, kpis=[kpi])
    train, test = split(panel, holdout)
    progress(
        f"data: {len(panel.cells)} cells, {len(panel.times)} ROPs of {panel.step}; training on "
        f"{train.times[0]:%Y-%m-%d} .. {train.times[-1]:%Y-%m-%d}, "
        f"held out {test.times[0]:%Y-%m-%d} .. {test.times[-1]:%Y-%m-%d}"
    )
    model = Forecaster(kpi=kpi, **dict(params or {}))
    progress(f"fitting {type(model).__name__} ({len(model.quantiles)} quantiles)")
    model.fit(train)
    progress("backtesting on the held-out data")
    return _scored(model, train, test, progress)


def _scored(model: Any, train: Panel, test: Panel, progress: Progress) -> ForecasterRun:
    """Backtest ``model`` over ``test`` next to the baselines fitted on ``train``: one run,
    one set of figures for the card (the baselines' WAPE 1h among them)."""
    result = evaluate(model, train, test)
    baselines = {}
    for name, baseline in (
        ("seasonal naive", SeasonalNaiveForecaster(kpi=model.kpi, horizon=model.horizon)),
        ("Holt-Winters", HoltWintersForecaster(kpi=model.kpi, horizon=model.horizon)),
    ):
        progress(f"baseline: {name}")
        baselines[name] = evaluate(baseline, train, test, fit=True)
    metrics = forecast_metrics(result)
    for name, b in baselines.items():
        wape = _num(b.wape_at(LEAD))
        if wape is not None:
            metrics[f"baseline_{_key(name)}_wape_{LEAD}"] = wape
    return ForecasterRun(model, result, baselines, metrics, train, test)


def register(
    registry: Registry,
    run: ForecasterRun,
    *,
    name: str,
    author: str | None = None,
    progress: Progress = log.info,
) -> ModelCard:
    """Save the run's model with its card; score the current champion on the same holdout
    first, so ``rapp models promote`` can compare the two."""
    backtest_hash = dataset_sha256(run.test)
    champion = registry.current(name)
    if champion is not None and registry.card(name, champion).backtest_on(backtest_hash) is None:
        try:
            scored = evaluate(registry.load(name, champion), run.train, run.test)
        except (RegistryError, ValueError) as exc:
            run.notes.append(f"champion {champion} could not be scored: {exc}")
        else:
            registry.add_backtest(
                name, champion, forecast_metrics(scored), backtest_sha256=backtest_hash
            )
            progress(
                f"champion {name} {champion} on the same holdout: "
                f"WAPE {LEAD} {scored.wape_at(LEAD):.2%}"
            )
    return registry.save(
        run.model,
        name=name,
        kind="forecaster",
        training_data=run.train,
        metrics=run.metrics,
        backtest_sha256=backtest_hash,
        author=author,
        notes="; ".join(run.notes),
    )


def evaluate_forecaster(
    model: Any,
    frame: pd.DataFrame,
    *,
    holdout: pd.Timedelta = HOLDOUT,
    progress: Progress = log.info,
) -> ForecasterRun:
    """Score an already trained ``model`` on the last ``holdout`` of ``frame`` (the rest is
    history for its features and fits the baselines)."""
    panel = Panel.from_frame(frame, kpis=[model.kpi])
    train, test = split(panel, holdout)
    progress(
        f"backtesting {type(model).__name__} on "
        f"{test.times[0]:%Y-%m-%d} .. {test.times[-1]:%Y-%m-%d}"
    )
    return _scored(model, train, test, progress)


def write_report(run: ForecasterRun, out: Path, title: str) -> Path:
    return forecaster_report(run.result, out, title=title, baselines=run.baselines)


@dataclass
class DetectorRun:
    """A trained (or re-scored) detector and its event-level figures on the holdout (None
    without ground truth: an unlabelled dataset can train a detector but not score it)."""

    model: Detector
    events: EventMetrics | None
    curve: pd.DataFrame | None
    metrics: dict[str, float]
    test: Panel
    train: Panel | None = None


def train_detector(
    frame: pd.DataFrame,
    *,
    events: pd.DataFrame | None = None,
    artefacts: pd.DataFrame | None = None,
    holdout: pd.Timedelta = HOLDOUT,
    params: Mapping[str, Any] | None = None,
    progress: Progress = log.info,
) -> DetectorRun:
    """Fit a ``Detector`` on all but the holdout (known anomalies left out of "normal") and
    score its flags on the holdout against the ground truth, when there is one."""
    model = Detector(**dict(params or {}))
    panel = Panel.from_frame(frame, kpis=[k for k in model.kpis if k in frame.columns])
    train, test = split(panel, holdout)
    known = event_mask(events, train.cells, train.times) if events is not None else None
    progress(
        f"fitting Detector on {len(train.cells)} cells, {train.times[0]:%Y-%m-%d} .. "
        f"{train.times[-1]:%Y-%m-%d}"
        + (
            f", {int(known.any(axis=1).sum())} cells with known anomalies left out"
            if known is not None
            else ""
        )
    )
    model.fit(train, known)
    run = score_detector(model, test, events=events, artefacts=artefacts, progress=progress)
    run.train = train
    return run


def evaluate_detector(
    model: Detector,
    frame: pd.DataFrame,
    *,
    events: pd.DataFrame,
    artefacts: pd.DataFrame | None = None,
    holdout: pd.Timedelta = HOLDOUT,
    progress: Progress = log.info,
) -> DetectorRun:
    """Score an already trained detector on the last ``holdout`` of ``frame`` (the same panel
    ``train_detector`` holds out, so the figures file under the same hash)."""
    kpis = [k for k in model.kpis_ if k in frame.columns]
    _, test = split(Panel.from_frame(frame, kpis=kpis), holdout)
    return score_detector(model, test, events=events, artefacts=artefacts, progress=progress)


def score_detector(
    model: Detector,
    test: Panel,
    *,
    events: pd.DataFrame | None,
    artefacts: pd.DataFrame | None = None,
    progress: Progress = log.info,
) -> DetectorRun:
    """Flags on ``test`` against ``events``: the card's figures and the PR curve."""
    if events is None:
        progress("no ground truth (events): the detector is trained but not scored")
        return DetectorRun(model, None, None, {}, test)
    progress(f"scoring on {test.times[0]:%Y-%m-%d} .. {test.times[-1]:%Y-%m-%d}")
    evidence = model.evidence(test)  # score and flags from one pass
    metrics = evaluate_events(evidence.flags, test.cells, test.times, events, artefacts)
    curve = pr_curve(evidence.score, test.cells, test.times, events, min_run=model.min_run)
    flat = {
        k: float(v)
        for k, v in metrics.to_dict().items()
        if isinstance(v, int | float) and not isinstance(v, bool) and np.isfinite(v)
    }
    flat |= {f"recall_{kind}": float(v) for kind, v in metrics.recall_by_kind.items()}
    return DetectorRun(model, metrics, curve, flat, test)


def register_detector(
    registry: Registry,
    run: DetectorRun,
    *,
    name: str,
    events: pd.DataFrame | None = None,
    artefacts: pd.DataFrame | None = None,
    author: str | None = None,
) -> ModelCard:
    """Save the detector; its figures are filed under the holdout's hash, like forecasters',
    after the champion is scored on the same holdout (with the same ground truth)."""
    backtest_hash = dataset_sha256(run.test) if run.metrics else None
    champion = registry.current(name)
    if (
        backtest_hash
        and events is not None
        and champion is not None
        and registry.card(name, champion).backtest_on(backtest_hash) is None
    ):
        try:
            champion_model = registry.load(name, champion)
            scored = score_detector(champion_model, run.test, events=events, artefacts=artefacts)
        except (RegistryError, ValueError, KeyError) as exc:
            log.warning("champion %s %s could not be scored: %s", name, champion, exc)
        else:
            registry.add_backtest(name, champion, scored.metrics, backtest_sha256=backtest_hash)
    return registry.save(
        run.model,
        name=name,
        kind="detector",
        training_data=run.train,
        metrics=run.metrics or None,
        backtest_sha256=backtest_hash,
        author=author,
    )


def write_detector_report(run: DetectorRun, out: Path, title: str) -> Path | None:
    if run.events is None or run.curve is None:
        return None
    return detector_report(run.events, run.curve, out, title=title, operating_threshold=1.0)


def _key(name: str) -> str:
    return name.lower().replace(" ", "_").replace("-", "_")


def _num(value: float) -> float | None:
    value = float(value)
    return value if np.isfinite(value) else None
