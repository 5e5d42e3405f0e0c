"""The simulated RAN and its load model: sites of gNBs of cells, each site with a daily shape.

Noise is a pure function of (seed, time, cell, stream), hashed with splitmix64, so asking for
the same ROP twice (backfill, then a restart, then a test) gives exactly the same numbers, and
nothing depends on the order in which ROPs were generated. Sleeping cells (``sleep_every``) are
drawn the same way: in each period of that length, one cell chosen by hash stops serving UEs for
``sleep_rops`` ROPs, its radio still on, and raises no alarm, which is what makes them hard.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

PRBS = 273  # 100 MHz carrier at 30 kHz SCS (TS 38.101-1 table 5.3.2-1)

# Hourly anchor points (percent DL PRB utilisation at hh:00, UTC), interpolated periodically.
# fmt: off
_SHAPES: dict[str, tuple[float, ...]] = {
    # evening peak, quiet small hours
    "residential": (30, 22, 17, 15, 15, 17, 25, 35, 40, 42, 45, 48,
                    50, 50, 52, 55, 60, 70, 80, 88, 92, 92, 85, 50),
    # midday peak, empty at night
    "office": (10, 8, 8, 8, 8, 10, 15, 30, 60, 78, 85, 90,
               92, 92, 90, 86, 75, 50, 25, 15, 12, 10, 10, 10),
    # commuter peaks around 08:00 and 18:00
    "transport": (15, 12, 10, 10, 12, 20, 45, 80, 93, 80, 55, 50,
                  50, 50, 50, 55, 70, 88, 93, 80, 50, 25, 20, 18),
    # always quiet: the scale-in candidate
    "rural": (10, 9, 9, 9, 9, 10, 12, 14, 15, 16, 16, 17,
              17, 17, 17, 17, 16, 16, 16, 15, 14, 13, 12, 11),
    "mall": (12, 10, 10, 10, 10, 12, 15, 20, 35, 55, 70, 80,
             87, 88, 85, 82, 85, 88, 80, 60, 40, 25, 18, 14),
    # bars and clubs: peaks after midnight
    "nightlife": (90, 93, 88, 70, 45, 25, 18, 15, 15, 18, 20, 22,
                  25, 25, 28, 30, 35, 45, 55, 65, 75, 82, 88, 90),
    # a stadium on match week: saturated all day, the hotspot
    "stadium": (94,) * 24,
}
# fmt: on
_NOISE_SIGMA: dict[str, float] = {"stadium": 0.012, "rural": 0.05}
_LEVEL_SPREAD: dict[str, float] = {"stadium": 0.02, "rural": 0.05}
_DEFAULT_SIGMA, _DEFAULT_SPREAD = 0.06, 0.10

# archetype of site-01, site-02, ...; repeats for larger networks (site-07 is the stadium)
SITE_PLAN: tuple[str, ...] = (
    "residential", "office", "transport", "rural", "mall",
    "nightlife", "stadium", "residential", "rural", "office",
)  # fmt: skip

_STREAM_DL, _STREAM_UL, _STREAM_THP, _STREAM_UE, _STREAM_SLEEP = 1, 2, 3, 4, 5


@dataclass(frozen=True, slots=True)
class Cell:
    site: str
    gnb: str
    local_id: int
    """k in ``NRCellDU=k`` (1-based within its gNB)."""


class Network:
    """A fixed topology plus a reproducible load model (vectorised over time and cells)."""

    def __init__(
        self,
        n_cells: int = 200,
        cells_per_gnb: int = 4,
        gnbs_per_site: int = 5,
        seed: int = 1,
        *,
        sleep_every: pd.Timedelta | None = None,
        sleep_rops: int = 6,
        granularity_s: int = 900,
    ) -> None:
        if min(n_cells, cells_per_gnb, gnbs_per_site) <= 0:
            raise ValueError("n_cells, cells_per_gnb and gnbs_per_site must be positive")
        self.sleep_s = int(pd.Timedelta(sleep_every).total_seconds()) if sleep_every else 0
        if self.sleep_s and not 0 < sleep_rops * granularity_s < self.sleep_s:
            raise ValueError(
                f"{sleep_rops} sleeping ROPs of {granularity_s} s do not fit in {sleep_every}"
            )
        self.sleep_rops, self.granularity_s = sleep_rops, granularity_s
        self.n_cells, self.seed = n_cells, seed
        self.cells_per_gnb, self.gnbs_per_site = cells_per_gnb, gnbs_per_site
        idx = np.arange(n_cells)
        gnb_idx = idx // cells_per_gnb
        site_idx = gnb_idx // gnbs_per_site
        self.cell_gnb = np.array([f"gnb-{g + 1:04d}" for g in gnb_idx], dtype=object)
        self.cell_site = np.array([f"site-{s + 1:02d}" for s in site_idx], dtype=object)
        self.cell_local = idx % cells_per_gnb + 1
        self.gnbs: list[str] = list(dict.fromkeys(self.cell_gnb))
        self.sites: list[str] = list(dict.fromkeys(self.cell_site))
        self.site_archetype = {s: SITE_PLAN[i % len(SITE_PLAN)] for i, s in enumerate(self.sites)}
        names = list(_SHAPES)
        arch = [self.site_archetype[s] for s in self.cell_site]
        self._arch_idx = np.array([names.index(a) for a in arch])
        self._anchors = np.array([_SHAPES[n] for n in names], dtype=float)  # (n_arch, 24)
        sigma = np.array([_NOISE_SIGMA.get(a, _DEFAULT_SIGMA) for a in arch])
        spread = np.array([_LEVEL_SPREAD.get(a, _DEFAULT_SPREAD) for a in arch])
        rng = np.random.default_rng(seed)
        self._level = 1.0 + spread * rng.uniform(-1.0, 1.0, n_cells)
        self._sigma = sigma
        self._ue_scale = rng.uniform(0.6, 1.4, n_cells)

    def reporting_entity_dn(self, gnb: str) -> str:
        site = self.cell_site[self.gnbs.index(gnb) * self.cells_per_gnb]
        return f"SubNetwork={site},ManagedElement={gnb}"

    @property
    def cell_ids(self) -> list[str]:
        """Full cell DNs, exactly as the rApp's codec builds them."""
        return [
            f"SubNetwork={s},ManagedElement={g},GNBDUFunction=1,NRCellDU={k}"
            for s, g, k in zip(self.cell_site, self.cell_gnb, self.cell_local, strict=True)
        ]

    def prb_util_dl(self, times: pd.DatetimeIndex) -> np.ndarray:
        """DL PRB utilisation in percent, shape (n_times, n_cells), clipped to [0, 100]."""
        hours = _hour_of_day(times)
        grid = np.arange(25)
        # periodic interpolation of every archetype at every time: (n_times, n_arch)
        shapes = np.stack(
            [np.interp(hours, grid, np.append(a, a[0])) for a in self._anchors], axis=1
        )
        base = shapes[:, self._arch_idx]  # (n_times, n_cells)
        noise = 1.0 + self._sigma * self._normal(times, _STREAM_DL)
        return np.clip(base * self._level * noise, 0.0, 100.0)

    def asleep(self, times: pd.DatetimeIndex) -> np.ndarray:
        """(n_times, n_cells) bool: the cell serves nobody at that period end."""
        out = np.zeros((len(times), self.n_cells), dtype=bool)
        if not self.sleep_s:
            return out
        secs = _epoch_seconds(times)
        period = secs // self.sleep_s
        key = _mix(_mix(np.uint64(self.seed)) ^ np.uint64(_STREAM_SLEEP))
        h = _mix(key ^ _mix(period.astype(np.uint64)))
        cell = (h % np.uint64(self.n_cells)).astype(np.int64)
        # Period ends inside the outage: it starts a hashed number of ROPs into the period.
        rops = self.sleep_s // self.granularity_s
        first = 1 + (_mix(h) % np.uint64(max(rops - self.sleep_rops, 1))).astype(np.int64)
        k = (secs - period * self.sleep_s) // self.granularity_s
        hit = (k >= first) & (k < first + self.sleep_rops)
        out[np.flatnonzero(hit), cell[hit]] = True
        return out

    def counters(self, times: pd.DatetimeIndex) -> dict[str, np.ndarray]:
        """All counters per (time, cell) as TS 28.552 names; PRB counts are integers."""
        asleep = self.asleep(times)
        dl = np.where(asleep, 0.0, self.prb_util_dl(times))
        ul = np.clip(dl * 0.45 * (1.0 + 0.08 * self._normal(times, _STREAM_UL)), 0.0, 100.0)
        used_dl = np.rint(dl / 100.0 * PRBS).astype(np.int64)
        used_ul = np.rint(ul / 100.0 * PRBS).astype(np.int64)
        avail = np.full_like(used_dl, PRBS)
        conn = np.rint(dl * 3.0 * self._ue_scale + 2.0 * np.abs(self._normal(times, _STREAM_UE)))
        conn[asleep] = 0.0
        # per-UE throughput (kbit/s) falls as the cell fills up
        thp = 250_000.0 * (1.0 - 0.7 * dl / 100.0) * (1.0 + 0.05 * self._normal(times, _STREAM_THP))
        thp[asleep] = 0.0  # no UE, no throughput sample
        return {
            "RRU.PrbUsedDl": used_dl,
            "RRU.PrbAvailDl": avail,
            "RRU.PrbUsedUl": used_ul,
            "RRU.PrbAvailUl": avail.copy(),
            "DRB.UEThpDl": np.round(np.maximum(thp, 0.0), 1),
            "RRC.ConnMean": conn.astype(np.int64),
        }

    def _normal(self, times: pd.DatetimeIndex, stream: int) -> np.ndarray:
        """Standard normals keyed by (seed, time, cell, stream), truncated at 3 sigma."""
        t = _epoch_seconds(times).astype(np.uint64)[:, None]
        c = np.arange(self.n_cells, dtype=np.uint64)[None, :]
        key = _mix(_mix(np.uint64(self.seed)) ^ np.uint64(stream))
        h1 = _mix(key ^ _mix(t) ^ _mix(c * np.uint64(2) + np.uint64(1)))
        u1, u2 = _unit(h1), _unit(_mix(h1 ^ key))
        z = np.sqrt(-2.0 * np.log(u1)) * np.cos(2.0 * np.pi * u2)
        return np.clip(z, -3.0, 3.0)


def _hour_of_day(times: pd.DatetimeIndex) -> np.ndarray:
    secs = _epoch_seconds(times)
    return (secs % 86_400) / 3_600.0


def _epoch_seconds(times: pd.DatetimeIndex) -> np.ndarray:
    idx = pd.DatetimeIndex(times)
    if idx.tz is None:
        idx = idx.tz_localize("UTC")
    return idx.as_unit("s").asi8.astype(np.int64)


def _mix(x: np.ndarray | np.uint64) -> np.ndarray:
    """splitmix64 finaliser: a good 64-bit hash, vectorised."""
    with np.errstate(over="ignore"):
        z = np.asarray(x, dtype=np.uint64) + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return z ^ (z >> np.uint64(31))


def _unit(x: np.ndarray) -> np.ndarray:
    """Uniform in (0, 1] from the top 53 bits, never 0 so log() is safe."""
    return ((x >> np.uint64(11)).astype(np.float64) + 1.0) / 9007199254740992.0
