"""Vendor counter names to TS 28.552 names, from YAML tables the operator can extend.

A table maps a name as sent to ``{name: <28.552 name>, scale: <factor>, note: <text>}``
(``scale`` and ``note`` optional). ``load_counter_map()`` reads the shipped ``counters.yaml``;
``load_counter_map(DEFAULT_TABLE, "site.yaml")`` adds an operator's file on top (later files win,
per name). ``CounterMap.apply`` renames and rescales a whole ``PmBatch`` at once: the counter
column is factorised once and the table is applied to its few distinct names, never per row.

Distribution bins (``name[i]``, see ``ranpm``) follow their counter: ``vendorX[3]`` becomes
``RRU.Foo[3]`` when ``vendorX`` maps to ``RRU.Foo``, unless the bin itself has an entry.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pandas as pd
import yaml

from rapp.domain import PmBatch

__all__ = ["DEFAULT_TABLE", "CounterMap", "CounterMapError", "Mapping28552", "load_counter_map"]

DEFAULT_TABLE = Path(__file__).with_name("counters.yaml")


class CounterMapError(ValueError):
    """A counter table that cannot be used; the message names the file and the entry."""


@dataclass(frozen=True, slots=True)
class Mapping28552:
    name: str
    scale: float = 1.0
    note: str = ""


@dataclass(frozen=True, slots=True)
class CounterMap:
    """Name as sent -> ``Mapping28552``. Immutable; build it with ``load_counter_map``."""

    entries: Mapping[str, Mapping28552] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "entries", MappingProxyType(dict(self.entries)))

    def __len__(self) -> int:
        return len(self.entries)

    def __contains__(self, name: object) -> bool:
        return name in self.entries

    def lookup(self, name: str) -> Mapping28552 | None:
        """The entry for ``name``, or for its counter when ``name`` is a bin ``counter[i]``."""
        entry = self.entries.get(name)
        if entry is None and name.endswith("]"):
            base, bracket, index = name[:-1].rpartition("[")
            parent = self.entries.get(base) if bracket else None
            if parent is not None:
                entry = Mapping28552(f"{parent.name}[{index}]", parent.scale, parent.note)
        return entry

    def apply(self, batch: PmBatch) -> PmBatch:
        """The batch with mapped counters renamed and rescaled; other counters untouched."""
        frame = batch.frame
        if frame.empty or not self.entries:
            return batch
        codes, names = pd.factorize(frame["counter"], sort=False)
        new_names = np.empty(len(names), dtype=object)
        scales = np.ones(len(names), dtype=np.float64)
        changed = False
        for i, name in enumerate(names):
            entry = self.lookup(name)
            if entry is None:
                new_names[i] = name
                continue
            new_names[i] = entry.name
            scales[i] = entry.scale
            changed = changed or entry.name != name or entry.scale != 1.0
        if not changed:
            return batch
        out = frame.copy(deep=False)
        out["counter"] = pd.Series(new_names.take(codes), index=frame.index, dtype=object)
        row_scale = scales.take(codes)
        if (row_scale != 1.0).any():
            out["value"] = frame["value"].to_numpy(dtype=np.float64) * row_scale
        return PmBatch(out)


def load_counter_map(*paths: str | Path) -> CounterMap:
    """Tables merged in order (later files override earlier ones, per name); none: the shipped
    ``counters.yaml``. Pass ``DEFAULT_TABLE`` first to extend rather than replace it."""
    entries: dict[str, Mapping28552] = {}
    for path in paths or (DEFAULT_TABLE,):
        entries.update(_read(Path(path)))
    return CounterMap(entries)


def _read(path: Path) -> dict[str, Mapping28552]:
    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as err:
        raise CounterMapError(f"{path}: {err}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise CounterMapError(
            f"{path}: expected a mapping of counter names, got {type(doc).__name__}"
        )
    return {str(k): _entry(path, str(k), v) for k, v in doc.items()}


def _entry(path: Path, key: str, raw: Any) -> Mapping28552:
    where = f"{path}: {key}"
    if isinstance(raw, str):  # shorthand: `vendorName: RRU.PrbUsedDl`
        raw = {"name": raw}
    if not isinstance(raw, dict):
        raise CounterMapError(f"{where}: expected {{name, scale, note}}, got {raw!r}")
    unknown = set(raw) - {"name", "scale", "note"}
    if unknown:
        raise CounterMapError(f"{where}: unknown keys {sorted(unknown)}")
    name = raw.get("name")
    if not isinstance(name, str) or not name:
        raise CounterMapError(f"{where}: 'name' must be a non-empty string")
    scale = raw.get("scale", 1.0)
    if isinstance(scale, bool) or not isinstance(scale, int | float) or not math.isfinite(scale):
        raise CounterMapError(f"{where}: 'scale' must be a finite number, got {scale!r}")
    note = raw.get("note", "")
    return Mapping28552(name, float(scale), str(note))
