"""Evaluation reports: one HTML page with its PNG plots, for people deciding on a promotion.

A forecaster's report shows forecast against actual with the quantile band for a busy, a median
and a quiet cell, the error by hour of day (next to the baselines scored on the same data), and
the figures of the model card. A detector's shows the event-level figures, recall per anomaly
kind and the precision-recall curve with its operating point. Plots are PNG files beside the
page (matplotlib, no display needed), so the folder can be attached to a ticket as it is.
"""

from __future__ import annotations

import html
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # no display on servers or in CI

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

from rapp.ml.backtest import BacktestResult
from rapp.ml.events import EventMetrics

_STYLE = """body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;color:#222}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;
text-align:right}th{background:#f3f3f3}td:first-child,th:first-child{text-align:left}
img{max-width:100%;border:1px solid #eee;margin:.5em 0}.ok{color:#17733a}.bad{color:#b3261e}"""


def forecaster_report(
    result: BacktestResult,
    out: str | Path,
    *,
    title: str,
    baselines: Mapping[str, BacktestResult] | None = None,
    lead: str = "1h",
) -> Path:
    """Write ``index.html`` and its plots into ``out``; returns the page's path."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    baselines = dict(baselines or {})
    step = max(1, min(result.horizon, int(pd.Timedelta(lead) / result.step)))
    _forecast_plot(result, step, folder / "forecast_vs_actual.png")
    _error_by_hour_plot(result, baselines, folder / "error_by_hour.png")
    rows = [("model", result), *baselines.items()]
    upper = max(result.quantiles)
    table = _table(
        ["", f"WAPE {lead}", "WAPE", "WAPE busy hour", "sMAPE", f"P{upper * 100:.0f} coverage"],
        [
            [
                name,
                _pct(r.wape_at(lead) if step <= r.horizon else np.nan),
                _pct(r.wape()),
                _pct(r.wape(r.at_busy_hour())),
                _pct(r.smape()),
                _pct(r.coverage(upper) if upper in r.quantiles else np.nan),
            ]
            for name, r in rows
        ],
    )
    gains = [
        f"<li>{_lead_gain(result, other, lead, name)}</li>" for name, other in baselines.items()
    ]
    body = f"""<h1>{html.escape(title)}</h1>
<p>{len(result.cells)} cells, {len(result.origins)} forecast origins from
{result.origins[0]:%Y-%m-%d %H:%M} to {result.origins[-1]:%Y-%m-%d %H:%M} UTC, {result.kpi},
horizon {result.horizon} ROPs of {result.step}.</p>
{table}<ul>{"".join(gains)}</ul>
<h2>Forecast against actual, {lead} ahead</h2><img src="forecast_vs_actual.png" alt="">
<h2>Error by hour of day</h2><img src="error_by_hour.png" alt="">"""
    return _page(folder, title, body)


def detector_report(
    metrics: EventMetrics,
    curve: pd.DataFrame,
    out: str | Path,
    *,
    title: str,
    operating_threshold: float | None = None,
) -> Path:
    """Write ``index.html`` with the event figures and the PR curve into ``out``."""
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    _pr_plot(curve, metrics, folder / "pr_curve.png", operating_threshold)
    figures = _table(
        ["figure", "value"],
        [
            ["events", str(metrics.n_events)],
            ["detected", str(metrics.n_detected)],
            ["precision", _pct(metrics.precision)],
            ["recall", _pct(metrics.recall)],
            ["F1", f"{metrics.f1:.3f}"],
            ["median detection delay", f"{metrics.median_delay_rops:g} ROPs"],
            ["false alarms per cell-week", f"{metrics.false_alarms_per_cell_week:.3f}"],
            ["artefacts flagged", f"{metrics.n_artefacts_flagged} of {metrics.n_artefacts}"],
        ],
    )
    kinds = _table(
        ["anomaly kind", "recall"], [[k, _pct(v)] for k, v in metrics.recall_by_kind.items()]
    )
    body = f"""<h1>{html.escape(title)}</h1>{figures}<h2>Recall by kind</h2>{kinds}
<h2>Precision and recall as the threshold moves</h2><img src="pr_curve.png" alt="">"""
    return _page(folder, title, body)


def _forecast_plot(result: BacktestResult, step: int, path: Path) -> None:
    seen = np.isfinite(result.actuals)
    mean = np.where(seen, result.actuals, 0.0).sum(axis=(0, 2)) / np.maximum(
        seen.sum(axis=(0, 2)), 1
    )
    order = np.argsort(mean)
    picks = [order[-1], order[len(order) // 2], order[0]] if len(order) >= 3 else list(order)
    fig, axes = plt.subplots(len(picks), 1, figsize=(11, 2.6 * len(picks)), sharex=True)
    upper, lower = max(result.quantiles), min(result.quantiles)
    for ax, c, label in zip(
        np.atleast_1d(axes), picks, ("busiest", "median", "quietest"), strict=False
    ):
        s = result.series(str(result.cells[c]), step)
        ax.fill_between(
            s.index,
            s[f"p{lower * 100:.0f}"],
            s[f"p{upper * 100:.0f}"],
            alpha=0.25,
            label=f"P{lower * 100:.0f}-P{upper * 100:.0f}",
        )
        ax.plot(s.index, s["actual"], color="black", lw=0.8, label="actual")
        median = "p50" if "p50" in s else f"p{lower * 100:.0f}"
        ax.plot(s.index, s[median], lw=0.8, label="P50")
        ax.set_title(f"{label}: {result.cells[c]}", fontsize=8, loc="left")
        ax.set_ylabel(result.kpi)
    np.atleast_1d(axes)[0].legend(loc="upper right", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _error_by_hour_plot(
    result: BacktestResult, baselines: Mapping[str, BacktestResult], path: Path
) -> None:
    fig, ax = plt.subplots(figsize=(11, 3.2))
    for name, r in [("model", result), *baselines.items()]:
        by_hour = r.error_by_hour()
        ax.plot(by_hour.index, 100 * by_hour["wape"], marker="o", ms=3, label=name)
    ax.set_xlabel("hour of day (UTC) of the forecast target")
    ax.set_ylabel("WAPE %")
    ax.set_xticks(range(0, 24, 2))
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _pr_plot(
    curve: pd.DataFrame, metrics: EventMetrics, path: Path, threshold: float | None
) -> None:
    fig, ax = plt.subplots(figsize=(5.5, 4.5))
    ax.plot(curve["recall"], curve["precision"], marker=".", lw=1)
    ax.scatter(
        [metrics.recall],
        [metrics.precision],
        color="red",
        zorder=3,
        label="operating point" + (f" (score >= {threshold:.3g})" if threshold else ""),
    )
    ax.set_xlabel("event recall")
    ax.set_ylabel("event precision")
    ax.set_xlim(0, 1.02)
    ax.set_ylim(0, 1.02)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)


def _lead_gain(model: BacktestResult, other: BacktestResult, lead: str, name: str) -> str:
    ours, theirs = model.wape_at(lead), other.wape_at(lead)
    gain = 1 - ours / theirs if theirs else np.nan
    cls, word = ("ok", "lower") if gain > 0 else ("bad", "higher")
    return (
        f'<span class="{cls}">WAPE {lead} {_pct(ours)} vs {_pct(theirs)} for {html.escape(name)}'
        f": {abs(gain):.0%} {word}</span>"
    )


def _table(header: list[str], rows: list[list[Any]]) -> str:
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{html.escape(str(v))}</td>" for v in row) + "</tr>" for row in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def _pct(value: float) -> str:
    return "n/a" if value is None or not np.isfinite(value) else f"{100 * value:.1f} %"


def _page(folder: Path, title: str, body: str) -> Path:
    page = folder / "index.html"
    page.write_text(
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{_STYLE}</style></head><body>{body}</body></html>\n"
    )
    return page
