"""The demo network's KPI history, for training the detector that watches it.

``python -m simulators.o1.history --days 21 --out DIR`` writes ``DIR/kpis.parquet``: three
weeks of the ``Network`` the demo streams (same cells, same seed, same sleeping cells), derived
from its counters by the rApp's own ``derive_kpis``, i.e. what ``rapp export telemetry`` would
give after three weeks, and ``DIR/events.parquet``, the sleeping cells as ground truth. A
detector learns each cell's normal week, so it must be trained on the cells it will watch.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd

from rapp.domain import PmBatch
from rapp.telemetry import derive_kpis
from rapp.telemetry.kpi import KPIS
from simulators.o1.network import Network


def rop_ends(network: Network, end: pd.Timestamp, days: float) -> pd.DatetimeIndex:
    """``days`` of the network's period ends, the last at ``end``."""
    step = pd.Timedelta(seconds=network.granularity_s)
    return pd.date_range(
        end=pd.Timestamp(end), periods=int(pd.Timedelta(days=days) / step), freq=step
    )


def history(network: Network, times: pd.DatetimeIndex) -> pd.DataFrame:
    """The KPIs at ``times``, as the rApp derives them from the counters: indexed (cell,
    period_end), one column per KPI the counters give."""
    counters = network.counters(times)
    n = len(times) * network.n_cells
    cells = np.tile(np.array(network.cell_ids, dtype=object), len(times))
    frames = [
        pd.DataFrame(
            {
                "cell": cells,
                "period_end": np.repeat(times.as_unit("ns"), network.n_cells),
                "granularity_s": np.full(n, network.granularity_s, dtype=np.int32),
                "counter": name,
                "value": values.reshape(-1).astype(np.float64),
                "suspect": np.zeros(n, dtype=bool),
            }
        )
        for name, values in counters.items()
    ]
    kpis = derive_kpis(PmBatch(pd.concat(frames, ignore_index=True)))
    # Only the KPIs this network's counters give: a detector must not learn an all-NaN one.
    return kpis[[k for k in KPIS if kpis[k].notna().any()]]


def sleep_events(network: Network, times: pd.DatetimeIndex) -> pd.DataFrame:
    """The sleeping cells at ``times`` as the simulator's events frame (ground truth): one row
    per outage, first and last period end asleep."""
    asleep = network.asleep(times)
    edges = np.diff(np.pad(asleep, ((1, 1), (0, 0))).astype(np.int8), axis=0)
    cell, t0 = np.nonzero(edges.T == 1)  # row-major: by cell, then time
    t1 = np.nonzero(edges.T == -1)[1] - 1  # the same order, so the i-th end closes the i-th start
    return pd.DataFrame(
        {
            "event_id": np.arange(1, len(cell) + 1, dtype=np.int64),
            "cell": pd.Series(np.asarray(network.cell_ids, dtype=object)[cell], dtype=object),
            "kind": "sleeping_cell",
            "start": times[t0],
            "end": times[t1],
            "alarm_id": "",
        }
    )


def main(argv: Sequence[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m simulators.o1.history", description=__doc__)
    p.add_argument("--cells", type=int, default=200)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--days", type=float, default=21.0)
    p.add_argument("--end", type=pd.Timestamp, default=pd.Timestamp("2026-11-02T00:00Z"))
    p.add_argument(
        "--sleep-every", default="6h", help="one sleeping cell per this much time ('' for none)"
    )
    p.add_argument("--out", type=Path, required=True, help="directory for kpis/events.parquet")
    args = p.parse_args(argv)
    network = Network(
        args.cells,
        seed=args.seed,
        sleep_every=pd.Timedelta(args.sleep_every) if args.sleep_every else None,
    )
    times = rop_ends(network, args.end, args.days)
    kpis = history(network, times)
    events = sleep_events(network, times)
    args.out.mkdir(parents=True, exist_ok=True)
    kpis.reset_index().to_parquet(args.out / "kpis.parquet", index=False)
    events.to_parquet(args.out / "events.parquet", index=False)
    print(
        f"{args.out}: {len(kpis)} KPI rows ({args.cells} cells, {args.days:g} days),"
        f" {len(events)} sleeping cells"
    )


if __name__ == "__main__":
    main()
