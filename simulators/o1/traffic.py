"""Normal traffic of a simulated RAN: who the cells are, how much they are asked to carry, and
what their radio makes of it.

Demand (offered DL volume, Mbit/s averaged over the ROP) is the driver. Per cell it is the
product of a calendar shape (its archetype's daily profile for the kind of day: Monday to
Thursday, Friday, Saturday, Sunday; a holiday is a Sunday), the cell's peak-to-trough ratio, a
slow weekly trend, venue events (entertainment cells), a day-to-day level, multiplicative noise
and short bursts. Everything else (PRB use, UE counts, per-UE throughput, energy) follows from
demand through the cell's radio (``radio``), so the KPIs move together the way real ones do.

Times are UTC and local at once: one network, one time zone. Randomness comes from independent
streams of one seed (``stream``), so the same seed gives the same normal traffic whether or not
anomalies and artefacts are added on top.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

ARCHETYPES: tuple[str, ...] = ("residential", "office", "transport_hub", "entertainment", "mixed")
"""Cell archetypes; ``mixed`` blends the four pure ones with weights drawn per cell."""
PURE = ARCHETYPES[:4]
ENTERTAINMENT = PURE.index("entertainment")

# Hourly anchors (relative demand at hh:00), per day type: Mon-Thu, Friday, Saturday, Sunday.
# Hour 0 of a Saturday is Friday night. Each archetype is rescaled to [0, 1] over its week.
# fmt: off
_PROFILES: dict[str, tuple[tuple[float, ...], ...]] = {
    "residential": (
        (30, 20, 14, 10, 9, 10, 16, 30, 38, 36, 35, 37,
         40, 40, 41, 45, 52, 62, 72, 82, 90, 92, 80, 50),
        (30, 20, 14, 10, 9, 10, 16, 29, 36, 35, 35, 37,
         40, 40, 42, 46, 54, 64, 74, 84, 92, 96, 92, 68),
        (48, 34, 22, 15, 11, 10, 12, 18, 30, 42, 52, 58,
         62, 62, 60, 60, 62, 68, 76, 84, 90, 94, 88, 64),
        (52, 36, 24, 16, 12, 10, 11, 15, 25, 38, 50, 56,
         60, 60, 58, 58, 60, 66, 74, 82, 88, 88, 76, 48),
    ),
    "office": (
        (5, 4, 3, 3, 3, 4, 8, 25, 60, 85, 95, 100,
         92, 95, 98, 92, 80, 55, 30, 18, 12, 9, 7, 6),
        (6, 4, 3, 3, 3, 4, 8, 22, 55, 80, 90, 92,
         85, 85, 82, 72, 55, 35, 20, 14, 10, 8, 7, 6),
        (5, 4, 3, 3, 3, 3, 4, 6, 9, 12, 15, 16,
         16, 15, 14, 13, 12, 10, 9, 8, 7, 6, 5, 5),
        (5, 4, 3, 3, 3, 3, 3, 5, 7, 9, 11, 12,
         12, 12, 11, 10, 9, 8, 7, 7, 6, 5, 5, 4),
    ),
    "transport_hub": (
        (8, 4, 2, 2, 4, 15, 55, 95, 100, 70, 45, 42,
         45, 45, 44, 50, 70, 95, 100, 75, 45, 30, 22, 14),
        (8, 4, 2, 2, 4, 14, 50, 90, 95, 66, 45, 44,
         48, 48, 50, 58, 78, 95, 92, 72, 50, 38, 30, 20),
        (14, 8, 4, 3, 3, 6, 14, 24, 34, 42, 48, 52,
         55, 55, 54, 52, 50, 48, 45, 40, 36, 32, 26, 18),
        (12, 7, 4, 3, 3, 5, 10, 18, 26, 34, 40, 44,
         46, 46, 45, 44, 43, 42, 40, 36, 32, 26, 20, 14),
    ),
    "entertainment": (
        (20, 12, 8, 5, 4, 4, 5, 8, 12, 16, 20, 25,
         30, 30, 30, 32, 36, 42, 50, 55, 55, 50, 40, 28),
        (22, 14, 9, 6, 5, 4, 5, 8, 12, 16, 20, 26,
         32, 32, 34, 38, 45, 58, 72, 85, 92, 96, 100, 96),
        (88, 70, 45, 25, 12, 6, 5, 7, 12, 18, 25, 32,
         38, 40, 42, 46, 54, 66, 80, 92, 98, 100, 100, 96),
        (85, 65, 40, 22, 10, 5, 4, 6, 10, 16, 22, 28,
         34, 36, 36, 36, 38, 40, 42, 40, 36, 30, 24, 16),
    ),
}
# fmt: on
_ARCHETYPE_SHARE = (0.30, 0.20, 0.12, 0.13, 0.25)  # of sites, in ARCHETYPES order
_MIXED_CONCENTRATION = (3.0, 3.0, 1.0, 1.0)  # Dirichlet: mostly home + work, some of the rest
_BANDWIDTH_PRBS = (273, 217, 106)  # 100, 80, 40 MHz carriers at 30 kHz SCS (TS 38.101-1)
_BANDWIDTH_SHARE = (0.6, 0.2, 0.2)
_VENUE_EVENT_P = 0.12  # chance a given day is an event evening at an entertainment site
_EVENT_HOUR, _EVENT_WIDTH_H = 21.0, 1.5
_BURST_P, _BURST_GAIN = 0.004, (1.3, 1.8)

_RADIO_PARAMS = (
    "capacity",
    "ue_rate",
    "ul_ratio",
    "ul_ue_ratio",
    "conn_ratio",
    "thp_dl_peak",
    "thp_ul_peak",
    "idle_kw",
    "load_kw",
)

# independent random streams of one seed
PLAN_STREAM, DEMAND_STREAM, RADIO_STREAM, ANOMALY_STREAM, ARTEFACT_STREAM = range(5)


def stream(seed: int, which: int) -> np.random.Generator:
    """The generator of one stream: adding anomalies never shifts the normal traffic."""
    return np.random.default_rng([seed, which])


@dataclass(frozen=True, eq=False)
class Topology:
    """Sites of gNBs of cells, named as the rApp's codecs build cell DNs.

    Numbers are zero-padded to a width that fits the network, so sorting the DNs as strings
    (as ``derive_kpis`` does) keeps cells in generation order.
    """

    n_cells: int
    cells_per_gnb: int = 4
    gnbs_per_site: int = 5

    def __post_init__(self) -> None:
        if min(self.n_cells, self.cells_per_gnb, self.gnbs_per_site) <= 0:
            raise ValueError("n_cells, cells_per_gnb and gnbs_per_site must be positive")
        if self.cells_per_gnb > 9:
            raise ValueError("cells_per_gnb must be at most 9 (NRCellDU=1..9 sort as numbers)")

    @property
    def cell_gnb(self) -> np.ndarray:
        """Index of each cell's gNB."""
        return np.arange(self.n_cells) // self.cells_per_gnb

    @property
    def cell_site(self) -> np.ndarray:
        """Index of each cell's site."""
        return self.cell_gnb // self.gnbs_per_site

    @property
    def n_gnbs(self) -> int:
        return -(-self.n_cells // self.cells_per_gnb)

    @property
    def n_sites(self) -> int:
        return -(-self.n_gnbs // self.gnbs_per_site)

    @cached_property
    def gnbs(self) -> np.ndarray:
        """gNB names (``gnb-0001``), the VES ``sourceName`` and ranpm ``measuredEntityUserName``."""
        width = max(4, len(str(self.n_gnbs)))
        return np.array([f"gnb-{g + 1:0{width}d}" for g in range(self.n_gnbs)], dtype=object)

    @cached_property
    def gnb_dns(self) -> np.ndarray:
        """``SubNetwork=site-01,ManagedElement=gnb-0001`` per gNB: the managed element DN."""
        width = max(2, len(str(self.n_sites)))
        site = np.arange(self.n_gnbs) // self.gnbs_per_site
        names = zip(site.tolist(), self.gnbs.tolist(), strict=True)
        return np.array(
            [f"SubNetwork=site-{s + 1:0{width}d},ManagedElement={g}" for s, g in names],
            dtype=object,
        )

    @cached_property
    def cell_local_dns(self) -> np.ndarray:
        """``GNBDUFunction=1,NRCellDU=k``: the measured object under its gNB."""
        local = np.arange(self.n_cells) % self.cells_per_gnb + 1
        names = np.array([f"GNBDUFunction=1,NRCellDU={k}" for k in range(1, 10)], dtype=object)
        return names[local - 1]

    @cached_property
    def cell_dns(self) -> np.ndarray:
        """Full cell DNs, exactly as the rApp's codecs join entity DN and object."""
        return self.gnb_dns[self.cell_gnb] + "," + self.cell_local_dns


@dataclass(frozen=True, eq=False)
class CellPlan:
    """What each cell is (drawn once from the seed): archetype mix, ratios and radio."""

    archetype: np.ndarray  # (N,) index into ARCHETYPES
    weights: np.ndarray  # (N, 4) share of each pure profile
    peak_to_trough: np.ndarray  # (N,) weekly peak over weekly trough of the calendar shape
    peak_load: np.ndarray  # (N,) busy-hour demand over capacity
    growth: np.ndarray  # (N,) demand trend per week, e.g. 0.02 = +2 %/week
    noise: np.ndarray  # (N,) sigma of the per-ROP log-normal noise
    prbs: np.ndarray  # (N,) PRBs of the carrier
    capacity: np.ndarray  # (N,) cell DL capacity, Mbit/s
    ue_rate: np.ndarray  # (N,) DL demand of one active UE, Mbit/s
    ul_ratio: np.ndarray  # (N,) UL PRB load over DL PRB load
    ul_ue_ratio: np.ndarray  # (N,) UL active UEs over DL active UEs
    conn_ratio: np.ndarray  # (N,) RRC-connected UEs per active UE
    thp_dl_peak: np.ndarray  # (N,) per-UE DL throughput in an empty cell, kbit/s
    thp_ul_peak: np.ndarray  # (N,) per-UE UL throughput in an empty cell, kbit/s
    idle_kw: np.ndarray  # (N,) power drawn with no load
    load_kw: np.ndarray  # (N,) extra power at full load

    @classmethod
    def draw(
        cls, topology: Topology, seed: int, archetypes: Iterable[str] | None = None
    ) -> CellPlan:
        """A plan for every cell; ``archetypes`` fixes them per site (cycled) instead of drawing."""
        rng = stream(seed, PLAN_STREAM)
        n, site = topology.n_cells, topology.cell_site
        if archetypes is None:
            per_site = rng.choice(len(ARCHETYPES), size=topology.n_sites, p=_ARCHETYPE_SHARE)
        else:
            names = list(archetypes)
            unknown = sorted(set(names) - set(ARCHETYPES))
            if not names or unknown:
                raise ValueError(f"unknown archetypes {unknown}; choose from {list(ARCHETYPES)}")
            codes = np.array([ARCHETYPES.index(a) for a in names])
            per_site = codes[np.arange(topology.n_sites) % len(codes)]
        archetype = per_site[site]
        weights = np.zeros((n, len(PURE)))
        pure = archetype < len(PURE)
        weights[np.flatnonzero(pure), archetype[pure]] = 1.0
        weights[~pure] = rng.dirichlet(_MIXED_CONCENTRATION, size=int((~pure).sum()))
        prbs = rng.choice(np.array(_BANDWIDTH_PRBS), size=n, p=_BANDWIDTH_SHARE)
        return cls(
            archetype=archetype,
            weights=weights,
            peak_to_trough=np.exp(rng.uniform(np.log(3.0), np.log(15.0), n)),
            peak_load=rng.uniform(0.3, 0.85, n),
            growth=rng.uniform(-0.01, 0.04, n),
            noise=rng.uniform(0.04, 0.10, n),
            prbs=prbs,
            capacity=prbs * rng.uniform(2.2, 3.2, n),
            ue_rate=rng.uniform(10.0, 25.0, n),
            ul_ratio=rng.uniform(0.25, 0.5, n),
            ul_ue_ratio=rng.uniform(0.5, 0.8, n),
            conn_ratio=rng.uniform(3.0, 6.0, n),
            thp_dl_peak=rng.uniform(80_000.0, 250_000.0, n),
            thp_ul_peak=rng.uniform(15_000.0, 50_000.0, n),
            idle_kw=rng.uniform(0.8, 1.5, n),
            load_kw=rng.uniform(0.8, 1.6, n),
        )


def rop_ends(start: pd.Timestamp, n_rops: int, step: pd.Timedelta) -> pd.DatetimeIndex:
    """Period ends of ``n_rops`` ROPs, the first one beginning at ``start`` (UTC)."""
    first = pd.Timestamp(start)
    first = first.tz_localize("UTC") if first.tzinfo is None else first.tz_convert("UTC")
    return pd.date_range(first + step, periods=n_rops, freq=step).as_unit("ns")


def day_types(days: pd.DatetimeIndex, holidays: Iterable[object] = ()) -> np.ndarray:
    """0 Mon-Thu, 1 Friday, 2 Saturday, 3 Sunday; a holiday is a Sunday."""
    kind = np.minimum(np.maximum(days.day_of_week.to_numpy() - 3, 0), 3)
    off = {pd.Timestamp(h).date() for h in holidays}
    kind[np.array([d.date() in off for d in days], dtype=bool)] = 3
    return kind


def demand(
    times: pd.DatetimeIndex,
    topology: Topology,
    plan: CellPlan,
    seed: int,
    holidays: Iterable[object] = (),
) -> np.ndarray:
    """Offered DL demand, Mbit/s, shape (ROPs, cells): the normal traffic, before anomalies."""
    rng = stream(seed, DEMAND_STREAM)
    n_t, n_c = len(times), topology.n_cells
    step = times[1] - times[0] if n_t > 1 else pd.Timedelta(minutes=15)
    mid = times - step / 2  # a ROP's shape is the one of its middle
    day0 = mid[0].normalize()
    hours = (mid - day0).total_seconds().to_numpy() / 3600.0
    n_days = int(hours[-1] // 24) + 2
    calendar = pd.date_range(day0, periods=n_days, freq="D")
    kinds = day_types(calendar, holidays)

    # anchors of every pure profile laid along the calendar, then interpolated: (ROPs, 4)
    table = np.array([_PROFILES[a] for a in PURE], dtype=float)  # (4, day type, 24)
    lo = table.min(axis=(1, 2), keepdims=True)
    table = (table - lo) / (table.max(axis=(1, 2), keepdims=True) - lo)
    anchors = table[:, kinds, :].reshape(len(PURE), -1)
    grid = np.arange(anchors.shape[1])
    shapes = np.stack([np.interp(hours, grid, a) for a in anchors], axis=1)

    shape = shapes @ plan.weights.T  # (ROPs, cells), 0 at the weekly trough, 1 at the peak
    trough = 1.0 / plan.peak_to_trough
    level = (trough + (1.0 - trough) * shape) * (plan.peak_load * plan.capacity)

    # venue events: an entertainment site's event evening, a bump around 21:00
    venue = rng.random((n_days, topology.n_sites)) < _VENUE_EVENT_P
    day_idx = (hours // 24).astype(np.int64)
    bump = np.exp(-0.5 * ((hours % 24 - _EVENT_HOUR) / _EVENT_WIDTH_H) ** 2)
    gain = rng.uniform(0.8, 2.0, n_c) * plan.weights[:, ENTERTAINMENT]
    event = venue[day_idx][:, topology.cell_site] * (bump[:, None] * gain[None, :])

    weeks = (hours - hours[0]) / (24.0 * 7.0)
    trend = np.exp(np.outer(weeks, np.log1p(plan.growth)))
    daily = np.exp(0.04 * rng.standard_normal((n_days, n_c)))[day_idx]
    noise = np.exp(plan.noise * rng.standard_normal((n_t, n_c)) - plan.noise**2 / 2)
    burst = rng.random((n_t, n_c)) < _BURST_P
    burst[1:] |= burst[:-1] & (rng.random((n_t - 1, n_c)) < 0.5)  # some last two ROPs
    surge = np.where(burst, rng.uniform(*_BURST_GAIN, (n_t, n_c)), 1.0)
    return level * (1.0 + event) * trend * daily * noise * surge


def soft_load(x: np.ndarray) -> np.ndarray:
    """Load (0..1) of a cell asked for ``x`` times its capacity: linear, then saturating."""
    x2 = x * x
    return x / np.sqrt(np.sqrt(1.0 + x2 * x2))


def radio(
    offered: np.ndarray,
    plan: CellPlan,
    seed: int,
    step: pd.Timedelta,
    effects: Mapping[str, np.ndarray] | None = None,
) -> dict[str, np.ndarray]:
    """Physical KPIs (float, (ROPs, cells)) of the cells given the demand they are offered.

    ``effects`` multiplies intermediate quantities (``demand``, ``ul_load``, ``thp_dl``,
    ``thp_ul``), which is how anomalies act: through the same physics as normal traffic.
    """
    fx = effects or {}
    rng = stream(seed, RADIO_STREAM)
    shape = offered.shape

    def jitter(sigma: float) -> np.ndarray:
        # 1 + sigma z: log-normal to first order at these sigmas, and far cheaper than exp
        z = rng.standard_normal(shape, dtype=np.float32)
        z *= np.float32(sigma)
        z += np.float32(1.0)
        return z

    # float32 from here: the counters are quantised far coarser than its precision
    p = {name: np.asarray(getattr(plan, name), np.float32) for name in _RADIO_PARAMS}
    carried = np.asarray(offered * fx.get("demand", 1.0), np.float32)
    load_dl = soft_load(carried / p["capacity"])
    load_ul = soft_load(load_dl * p["ul_ratio"] * jitter(0.08) * fx.get("ul_load", 1.0))
    active_dl = carried / p["ue_rate"] * jitter(0.05)
    thp_dl = p["thp_dl_peak"] * (1.0 - 0.85 * load_dl * np.sqrt(load_dl)) * jitter(0.05)
    thp_ul = p["thp_ul_peak"] * (1.0 - 0.8 * load_ul * np.sqrt(load_ul)) * jitter(0.06)
    conn = active_dl * p["conn_ratio"] * jitter(0.03)
    hours = np.float32(step.total_seconds() / 3600.0)
    return {
        "prb_util_dl": 100.0 * load_dl,
        "prb_util_ul": 100.0 * load_ul,
        "thp_dl": thp_dl * fx.get("thp_dl", 1.0),
        "thp_ul": thp_ul * fx.get("thp_ul", 1.0),
        "active_ue_dl": active_dl,
        "active_ue_ul": active_dl * p["ul_ue_ratio"] * jitter(0.05),
        "rrc_conn_mean": conn,
        "rrc_conn_max": conn * (1.2 + 0.15 * np.abs(rng.standard_normal(shape, np.float32))),
        "energy_kwh": (p["idle_kw"] + p["load_kw"] * load_dl) * hours,
    }
