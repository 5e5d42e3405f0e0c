"""A labelled, reproducible dataset of the simulated network: KPIs, ground truth, wire files.

``simulate(...)`` runs the whole chain (``traffic`` demand and radio, ``anomalies`` events and
artefacts, ``wire`` counters) over every cell and ROP at once and returns a ``Dataset``; the
same arguments give the same frames, a different seed a different network. The command::

    python -m simulators.o1.dataset --cells 200 --days 28 --seed 7 --anomalies 30 --out DIR

writes it for notebooks (Parquet or CSV) and as the wire formats the rApp reads.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from rapp.domain import Alarm
from rapp.telemetry.kpi import KPIS, SUSPECT
from simulators.o1 import anomalies as anom
from simulators.o1 import wire
from simulators.o1.traffic import (
    ARCHETYPES,
    ARTEFACT_STREAM,
    CellPlan,
    Topology,
    demand,
    radio,
    rop_ends,
    stream,
)

log = logging.getLogger("simulators.o1.dataset")

FORMATS: tuple[str, ...] = ("parquet", "csv", "ranpm", "xml", "ves")
WIRE_FORMATS: tuple[str, ...] = ("ranpm", "xml", "ves")
DEFAULT_START = pd.Timestamp("2026-01-05", tz="UTC")  # a Monday
_ALARM_COLUMNS = (
    "alarm_id",
    "source",
    "object_dn",
    "condition",
    "severity",
    "cleared",
    "event_time",
    "text",
    "event_type",
)


@dataclass(frozen=True, eq=False)
class Dataset:
    """What ``simulate`` made: the frames of the shared contract and the counters behind them.

    ``kpis``: one row per (cell, period_end) that was reported, cell-major and sorted, the nine
    KPIs and ``suspect`` (a suspect row's KPIs are NaN, as ``derive_kpis`` makes them);
    ``events`` and ``artefacts``: the ground truth; ``alarms``: the VES alarm changes, in time
    order; ``plan``: what each cell is (``cells()`` as a frame).
    """

    kpis: pd.DataFrame
    events: pd.DataFrame
    artefacts: pd.DataFrame
    alarms: list[Alarm]
    cube: wire.CounterCube
    plan: CellPlan

    def counters(self) -> pd.DataFrame:
        """The TS 28.552 counters of every reported row, same rows and order as ``kpis``."""
        frame = _keys(self.cube)
        for name in wire.COUNTERS:
            frame[name] = _column(self.cube.counters[name], self.cube.present)
        frame[SUSPECT] = _column(self.cube.suspect, self.cube.present)
        return frame

    def cells(self) -> pd.DataFrame:
        """One row per cell: its DN and the parameters it was drawn with."""
        p = self.plan
        return pd.DataFrame(
            {
                "cell": pd.Series(self.cube.topology.cell_dns, dtype=object),
                "archetype": pd.Series(np.array(ARCHETYPES, dtype=object)[p.archetype]),
                "peak_to_trough": p.peak_to_trough,
                "peak_load": p.peak_load,
                "growth_per_week": p.growth,
                "prbs": p.prbs,
                "capacity_mbps": p.capacity,
            }
        )

    def alarm_frame(self) -> pd.DataFrame:
        """The alarms as a table (``Alarm.to_dict`` per row), for notebooks."""
        return pd.DataFrame([a.to_dict() for a in self.alarms], columns=_ALARM_COLUMNS)

    def to_parquet(self, directory: str | Path) -> list[Path]:
        """``kpis``, ``events``, ``artefacts``, ``cells``, ``alarms`` as Parquet, and the VES
        alarm events as ``alarms.jsonl``."""
        return self._tables(Path(directory), ".parquet", lambda f, p: f.to_parquet(p, index=False))

    def to_csv(self, directory: str | Path) -> list[Path]:
        """As ``to_parquet``, in CSV (times ISO 8601 with offset)."""
        return self._tables(Path(directory), ".csv", lambda f, p: f.to_csv(p, index=False))

    def write_wire(
        self, directory: str | Path, formats: Iterable[str] = WIRE_FORMATS
    ) -> dict[str, int]:
        """Wire files under ``directory``: ``ranpm/`` (JSON lines per ROP), ``pm-xml/`` (one
        measCollecFile per ROP), ``ves/faults.jsonl``; returns files (events for ves) written."""
        out, wanted = Path(directory), list(formats)
        unknown = sorted(set(wanted) - set(WIRE_FORMATS))
        if unknown:
            raise ValueError(f"unknown wire formats {unknown}; choose from {list(WIRE_FORMATS)}")
        written: dict[str, int] = {}
        if "ranpm" in wanted:
            written["ranpm"] = wire.write_ranpm(self.cube, out / "ranpm", _progress("ranpm"))
        if "xml" in wanted:
            written["xml"] = wire.write_pm_xml(self.cube, out / "pm-xml", _progress("pm-xml"))
        if "ves" in wanted:
            written["ves"] = wire.write_ves(self.alarms, out / "ves" / "faults.jsonl")
        return written

    def summary(self) -> str:
        kinds = self.events["kind"].value_counts().sort_index()
        arts = self.artefacts["artefact"].value_counts().sort_index()
        return (
            f"{self.cube.topology.n_cells} cells x {len(self.cube.times)} ROPs "
            f"({self.cube.times[0] - self.cube.step:%Y-%m-%d %H:%M} to "
            f"{self.cube.times[-1]:%Y-%m-%d %H:%M} UTC), {len(self.kpis)} KPI rows; "
            f"{len(self.events)} events ({_counts(kinds)}); "
            f"{len(self.artefacts)} artefacts ({_counts(arts)}); {len(self.alarms)} alarm changes"
        )

    def _tables(
        self, directory: Path, suffix: str, write: Callable[[pd.DataFrame, Path], None]
    ) -> list[Path]:
        directory.mkdir(parents=True, exist_ok=True)
        paths = []
        tables = {
            "kpis": self.kpis,
            "events": self.events,
            "artefacts": self.artefacts,
            "cells": self.cells(),
            "alarms": self.alarm_frame(),
        }
        for name, frame in tables.items():
            path = directory / f"{name}{suffix}"
            write(frame, path)
            paths.append(path)
        ves = directory / "alarms.jsonl"
        wire.write_ves(self.alarms, ves)
        return [*paths, ves]


def simulate(
    n_cells: int = 200,
    start: str | pd.Timestamp = DEFAULT_START,
    days: float = 28,
    seed: int = 1,
    *,
    anomalies: int | anom.AnomalySpec = 0,
    artefacts: float | anom.ArtefactSpec = 0.0,
    holidays: Iterable[object] = (),
    step: str | pd.Timedelta = "15min",
    archetypes: Iterable[str] | None = None,
    cells_per_gnb: int = 4,
    gnbs_per_site: int = 5,
) -> Dataset:
    """Simulate ``n_cells`` cells for ``days`` days of ROPs, the first beginning at ``start``.

    ``anomalies``: a count (every kind in turn, default durations) or an ``AnomalySpec``;
    ``artefacts``: one rate for each artefact kind, or an ``ArtefactSpec``; ``holidays``: dates
    that look like a Sunday; ``archetypes``: fix the site archetypes (cycled) instead of drawing.
    """
    step = pd.Timedelta(step)
    if step <= pd.Timedelta(0) or pd.Timedelta(days=1) % step:
        raise ValueError(f"ROP length {step} must be positive and divide a day")
    n_rops = round(pd.Timedelta(days=days) / step)
    if n_rops < 2:
        raise ValueError(f"{days} days of {step} ROPs is fewer than two ROPs")
    spec = anomalies if isinstance(anomalies, anom.AnomalySpec) else anom.AnomalySpec(anomalies)
    rates = (
        artefacts
        if isinstance(artefacts, anom.ArtefactSpec)
        else anom.ArtefactSpec.uniform(float(artefacts))
    )
    topology = Topology(n_cells, cells_per_gnb, gnbs_per_site)
    plan = CellPlan.draw(topology, seed, archetypes)
    times = rop_ends(pd.Timestamp(start), n_rops, step)

    offered = demand(times, topology, plan, seed, holidays)
    placement = anom.place(spec, n_rops, n_cells, step, seed)
    effects = anom.effects(placement, offered, plan, seed) if spec.count else None
    physical = radio(offered, plan, seed, step, effects)
    del offered
    raw = wire.counters_from_radio(physical, plan.prbs)
    del physical
    marks = anom.artefacts(rates, (n_rops, n_cells), placement, seed)
    counters = wire.quantise(_corrupt(raw, marks, seed))
    cube = wire.CounterCube(topology, times, step, counters, ~marks.missing, marks.suspect)

    events = anom.events_frame(placement, times, topology)
    return Dataset(
        kpis=_kpi_frame(cube),
        events=events,
        artefacts=marks.frame(times, topology.cell_dns),
        alarms=anom.alarms(events, step, seed),
        cube=cube,
        plan=plan,
    )


def _corrupt(raw: dict[str, np.ndarray], marks: anom.Artefacts, seed: int) -> dict[str, np.ndarray]:
    """Counter resets read as zeros or a sharp drop; suspect rows carry junk (the node said so).
    The available PRBs are configuration, not a counter that resets. Changes ``raw`` in place,
    at the few marked rows only."""
    rng = stream(seed, ARTEFACT_STREAM + 100)
    t, c = np.nonzero(marks.reset | marks.suspect)
    scale = np.where(marks.suspect[t, c], rng.uniform(0.2, 3.0, len(t)), marks.reset_scale[t, c])
    for name, value in raw.items():
        if not name.startswith("RRU.PrbAvail"):
            value[t, c] *= scale
    return raw


def _keys(cube: wire.CounterCube) -> pd.DataFrame:
    """``cell`` and ``period_end`` of the reported rows, cell-major (sorted by cell, time)."""
    per_cell = cube.present.sum(axis=0)
    rop = np.broadcast_to(np.arange(len(cube.times)), cube.present.T.shape)[cube.present.T]
    return pd.DataFrame(
        {
            "cell": pd.Series(np.repeat(cube.topology.cell_dns, per_cell), dtype=object),
            "period_end": cube.times[rop],
        }
    )


def _column(matrix: np.ndarray, present: np.ndarray) -> np.ndarray:
    """A (ROPs, cells) matrix as the column of the reported rows, cell-major."""
    return matrix.T[present.T]


def _kpi_frame(cube: wire.CounterCube) -> pd.DataFrame:
    kpis = wire.derived_kpis(cube.counters)
    frame = _keys(cube)
    suspect = _column(cube.suspect, cube.present)
    for name in KPIS:
        column = _column(kpis[name], cube.present)
        column[suspect] = np.nan
        frame[name] = column
    frame[SUSPECT] = suspect
    return frame


def _progress(what: str) -> Callable[[int, int], None]:
    def report(done: int, total: int) -> None:
        if done == total or done % max(1, total // 10) == 0:
            log.info("%s: %d/%d ROPs written", what, done, total)

    return report


def _counts(counts: pd.Series) -> str:
    return ", ".join(f"{k} {v}" for k, v in counts.items()) or "none"


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(
        prog="python -m simulators.o1.dataset",
        description="Simulate a labelled RAN dataset and write it (see docs/simulator.md).",
    )
    p.add_argument("--cells", type=int, default=200)
    p.add_argument("--days", type=float, default=28)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--start", type=pd.Timestamp, default=DEFAULT_START, help="first ROP begins")
    p.add_argument("--anomalies", type=int, default=0, help="number of labelled anomalies")
    p.add_argument(
        "--artefacts", type=float, default=0.001, help="rate of each artefact kind per row"
    )
    p.add_argument("--clean-days", type=float, default=0, help="no anomaly in the first N days")
    p.add_argument("--holiday", action="append", default=[], help="a date that looks like Sunday")
    p.add_argument("--step", default="15min", help="ROP length, e.g. 15min, 5min")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument(
        "--format",
        action="append",
        choices=[*FORMATS, "all"],
        help="repeatable; default parquet",
    )
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)
    logging.basicConfig(level=args.log_level, format="%(asctime)s %(levelname)s %(message)s")
    formats = args.format or ["parquet"]
    if "all" in formats:
        formats = list(FORMATS)

    began = time.perf_counter()
    log.info("simulating %d cells x %g days, seed %d", args.cells, args.days, args.seed)
    spec = anom.AnomalySpec(args.anomalies, not_before=pd.Timedelta(days=args.clean_days))
    data = simulate(
        args.cells,
        args.start,
        args.days,
        args.seed,
        anomalies=spec,
        artefacts=args.artefacts,
        holidays=args.holiday,
        step=args.step,
    )
    log.info("simulated in %.1f s", time.perf_counter() - began)
    if "parquet" in formats:
        data.to_parquet(args.out)
        log.info("parquet tables in %s", args.out)
    if "csv" in formats:
        data.to_csv(args.out)
        log.info("csv tables in %s", args.out)
    written = data.write_wire(args.out, [f for f in formats if f in WIRE_FORMATS])
    (args.out / "summary.json").write_text(
        json.dumps({"summary": data.summary(), "wire": written, "seed": args.seed}, indent=1)
    )
    log.info("done in %.1f s: %s -> %s", time.perf_counter() - began, data.summary(), args.out)


if __name__ == "__main__":
    main()
