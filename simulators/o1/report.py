"""Encode one ROP of counters as O-RAN SC ranpm PM report JSON, one report per gNB.

The shape is exactly that of ``shared/samples/pm-json/ranpm_pm_report_filtered.json`` (the
output of the ranpm pm-file-converter / pm-producer), so the rApp's codec is exercised on what a
real Non-RT RIC delivers. Values are strings, ``p`` is the 1-based index into sMeasTypesList.
"""

from __future__ import annotations

import json
from collections.abc import Mapping

import numpy as np
import pandas as pd

from simulators.o1.network import Network

MEAS_INFO_ID = "PM=1,PmGroup=NRCellDU_GNBDU"
EVENT_NAME = "perf3gpp_gnb-RappSim_pmMeasResult"


def encode_reports(
    network: Network,
    period_end: pd.Timestamp,
    values: Mapping[str, np.ndarray],
    granularity_s: int = 900,
    suspect: np.ndarray | None = None,
) -> list[tuple[bytes, bytes]]:
    """(key, value) records for one ROP: key is the gNB name so its reports stay ordered.

    ``values`` maps counter name to an array of shape (n_cells,) (or (1, n_cells)), as returned
    by ``Network.counters`` for this ROP; ``suspect`` flags cells as suspect.
    """
    end = pd.Timestamp(period_end)
    end = end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")
    end_us = int(end.value) // 1_000  # Timestamp.value is always nanoseconds
    names = list(values)
    # strings once for the whole ROP (vectorised), then sliced per gNB
    text = [_as_strings(np.asarray(values[n]).reshape(-1)) for n in names]
    flags = np.zeros(network.n_cells, dtype=bool) if suspect is None else np.asarray(suspect)
    per_gnb = network.cells_per_gnb
    out: list[tuple[bytes, bytes]] = []
    for g, gnb in enumerate(network.gnbs):
        lo, hi = g * per_gnb, min((g + 1) * per_gnb, network.n_cells)
        meas_values = [
            {
                "measObjInstId": f"GNBDUFunction=1,NRCellDU={network.cell_local[c]}",
                "suspectFlag": "true" if flags[c] else "false",
                "measResults": [{"p": p + 1, "sValue": text[p][c]} for p in range(len(names))],
            }
            for c in range(lo, hi)
        ]
        doc = report_document(
            gnb, network.reporting_entity_dn(gnb), end_us, granularity_s, names, meas_values
        )
        out.append((gnb.encode(), json.dumps(doc, separators=(",", ":")).encode()))
    return out


def report_document(
    gnb: str,
    dn: str,
    end_us: int,
    granularity_s: int,
    names: list[str],
    meas_values: list[dict[str, object]],
) -> dict[str, object]:
    """One gNB's ranpm PM report (VES perf3gpp shape) for the ROP ending at ``end_us``."""
    return {
        "event": {
            "commonEventHeader": {
                "domain": "perf3gpp",
                "eventId": f"{gnb}-{end_us}",
                "eventName": EVENT_NAME,
                "sourceName": gnb,
                "reportingEntityName": "",
                "startEpochMicrosec": end_us - granularity_s * 1_000_000,
                "lastEpochMicrosec": end_us,
                "timeZoneOffset": "+00:00",
            },
            "perf3gppFields": {
                "perf3gppFieldsVersion": "1.0",
                "measDataCollection": {
                    "granularityPeriod": granularity_s,
                    "measuredEntityUserName": gnb,
                    "measuredEntityDn": dn,
                    "measuredEntitySoftwareVersion": "",
                    "measInfoList": [
                        {
                            "measInfoId": {"sMeasInfoId": MEAS_INFO_ID},
                            "measTypes": {"sMeasTypesList": names},
                            "measValuesList": meas_values,
                        }
                    ],
                },
            },
        }
    }


def _as_strings(arr: np.ndarray) -> list[str]:
    if np.issubdtype(arr.dtype, np.integer):
        return [str(v) for v in arr.tolist()]
    return [repr(round(v, 3)) for v in arr.astype(float).tolist()]


def rop_reports(
    network: Network, period_end: pd.Timestamp, granularity_s: int = 900
) -> list[tuple[bytes, bytes]]:
    """Counters from the load model for the ROP ending at ``period_end``, encoded."""
    counters = network.counters(pd.DatetimeIndex([pd.Timestamp(period_end)]))
    return encode_reports(
        network, period_end, {k: v[0] for k, v in counters.items()}, granularity_s
    )
