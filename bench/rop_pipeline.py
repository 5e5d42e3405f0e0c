"""Time one ROP through the loop's hot path, per stage, for networks of growing size.

    python bench/rop_pipeline.py [--cells 200 10000 100000] [--history 96]

Stages: decode (ranpm JSON -> PmBatch), KPIs, state ingest, forecast (fit + predict over the
history window), plan, and the Rego gate per decision. The floor for decoding is the standard
library's json.loads over the same records, measured in the same run: the ratio says what the
codec costs beyond parsing JSON at all.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from rapp.domain import PRB_UTIL_DL
from rapp.ml import RopForecaster, SeasonalBaselineForecaster
from rapp.planner import Planner, Topology
from rapp.policy import RegoPolicyEngine
from rapp.state import CellState
from rapp.telemetry import decode_batch, derive_kpis
from simulators.o1.network import Network
from simulators.o1.report import rop_reports

ROOT = Path(__file__).resolve().parents[1]
GRAN = 900


def best_of(fn: Callable[[], object], repeat: int = 3) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeat):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return min(times), result


def run(cells: int, history: int) -> dict[str, float]:
    network = Network(n_cells=cells, seed=1)
    end = pd.Timestamp("2026-11-24T12:00Z")
    rops = [end - k * pd.Timedelta(seconds=GRAN) for k in range(history, -1, -1)]
    state = CellState([PRB_UTIL_DL], granularity_s=GRAN, retention=max(history + 1, 2))
    for rop in rops[:-1]:  # history, untimed
        batch, _ = decode_batch([v for _, v in rop_reports(network, rop, GRAN)])
        state.ingest(derive_kpis(batch))
    records = [v for _, v in rop_reports(network, rops[-1], GRAN)]

    floor_s, _ = best_of(lambda: [json.loads(r) for r in records])
    decode_s, (batch, failures) = best_of(lambda: decode_batch(records))
    assert not failures
    kpi_s, kpis = best_of(lambda: derive_kpis(batch))
    start = time.perf_counter()
    state.ingest(kpis)
    ingest_s = time.perf_counter() - start

    forecaster = RopForecaster(
        SeasonalBaselineForecaster(season_length=96, horizon=4),
        kpi=PRB_UTIL_DL,
        fit_window=history,
        refit_every=1,
    )
    forecast_s, forecast = best_of(lambda: forecaster.forecast(state, rops[-1]))
    topology = Topology(r"SubNetwork=(?P<site>[^,]+)", "free5gc-upf-{site}")
    ladder = ["1250M", "2500M", "5G", "10G", "20G", "40G"]

    def plan() -> list:
        return Planner(topology, ladder=ladder, default_capacity="5G").plan(forecast, {})

    plan_s, decisions = best_of(plan)
    engine = RegoPolicyEngine.from_directory(ROOT / "policies")
    gate_s, _ = best_of(lambda: engine.evaluate(decisions))
    return {
        "cells": cells,
        "reports": len(records),
        "floor_json_ms": floor_s * 1e3,
        "decode_ms": decode_s * 1e3,
        "decode_vs_floor": decode_s / floor_s,
        "kpis_ms": kpi_s * 1e3,
        "ingest_ms": ingest_s * 1e3,
        "forecast_ms": forecast_s * 1e3,
        "plan_ms": plan_s * 1e3,
        "decisions": len(decisions),
        "gate_us_per_decision": gate_s * 1e6 / max(len(decisions), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", type=int, nargs="+", default=[200, 10_000, 100_000])
    parser.add_argument("--history", type=int, default=96, help="ROPs of history in state")
    args = parser.parse_args()
    header = (
        f"{'cells':>8} {'reports':>8} {'json floor':>11} {'decode':>9} {'x floor':>8} "
        f"{'kpis':>8} {'ingest':>8} {'forecast':>9} {'plan':>7} {'decisions':>9} {'gate/dec':>9}"
    )
    print(header)
    for cells in args.cells:
        r = run(cells, args.history)
        total = sum(r[k] for k in ("decode_ms", "kpis_ms", "ingest_ms", "forecast_ms", "plan_ms"))
        print(
            f"{r['cells']:>8} {r['reports']:>8} {r['floor_json_ms']:>9.1f}ms "
            f"{r['decode_ms']:>7.1f}ms {r['decode_vs_floor']:>7.1f}x {r['kpis_ms']:>6.1f}ms "
            f"{r['ingest_ms']:>6.1f}ms {r['forecast_ms']:>7.1f}ms {r['plan_ms']:>5.1f}ms "
            f"{r['decisions']:>9} {r['gate_us_per_decision']:>7.0f}us"
            f"   (ROP total {total:.0f} ms)"
        )


if __name__ == "__main__":
    main()
