"""A Helm chart directory made into the ``<name>-<version>.tgz`` that ``helm package`` writes.

The rApp Manager uploads the package's chart to a chart repository as is, so the archive must be
one Helm loads: every file under a top folder named after the chart, ``.helmignore`` honoured.
Written here rather than by shelling out to ``helm`` so packaging needs nothing but Python, and
byte-for-byte reproducible (fixed times, owners and order) so the same tree gives the same CSAR.
"""

from __future__ import annotations

import fnmatch
import gzip
import io
import tarfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import yaml


class ChartError(ValueError):
    """The directory is not a chart Helm could package."""


@dataclass(frozen=True)
class Chart:
    """What the package needs to know of a chart: where it is, its name and version."""

    path: Path
    name: str
    version: str
    app_version: str | None
    values: dict[str, Any]
    """The chart's default values (values.yaml)."""

    @property
    def archive_name(self) -> str:
        return f"{self.name}-{self.version}.tgz"


def read_chart(path: Path) -> Chart:
    """The chart at ``path``, with the Chart.yaml fields Helm itself insists on."""
    meta_file = path / "Chart.yaml"
    if not meta_file.is_file():
        raise ChartError(f"{path} is not a Helm chart: it has no Chart.yaml")
    try:
        meta = yaml.safe_load(meta_file.read_text("utf-8"))
    except yaml.YAMLError as exc:
        raise ChartError(f"{meta_file}: not YAML: {exc}") from None
    if not isinstance(meta, dict):
        raise ChartError(f"{meta_file}: not a mapping")
    missing = [k for k in ("apiVersion", "name", "version") if not meta.get(k)]
    if missing:
        raise ChartError(f"{meta_file}: missing {', '.join(missing)}")
    app_version = meta.get("appVersion")
    values_file = path / "values.yaml"
    try:
        values = yaml.safe_load(values_file.read_text("utf-8")) if values_file.is_file() else {}
    except yaml.YAMLError as exc:
        raise ChartError(f"{values_file}: not YAML: {exc}") from None
    return Chart(
        path,
        str(meta["name"]),
        str(meta["version"]),
        app_version and str(app_version),
        values if isinstance(values, dict) else {},
    )


def archive_chart(chart: Chart) -> bytes:
    """The chart as ``helm package`` would archive it (gzip'd tar, ``<name>/`` at the top)."""
    ignore = _Ignore.load(chart.path / ".helmignore")
    files = sorted(
        p.relative_to(chart.path).as_posix()
        for p in chart.path.rglob("*")
        if p.is_file() and not ignore.excludes(p.relative_to(chart.path))
    )
    # Chart.yaml first, as Helm writes it: some tools peek at the first entry only.
    files.sort(key=lambda rel: rel != "Chart.yaml")
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for rel in files:
            data = (chart.path / rel).read_bytes()
            info = tarfile.TarInfo(f"{chart.name}/{rel}")
            info.size, info.mode, info.mtime = len(data), 0o644, 0
            tar.addfile(info, io.BytesIO(data))
    return gzip.compress(raw.getvalue(), mtime=0)


class _Ignore:
    """``.helmignore`` rules: Helm's subset of gitignore (globs, ``dir/``, ``!negation``)."""

    def __init__(self, rules: list[tuple[str, bool, bool]]) -> None:
        self._rules = rules  # (pattern, negated, directories only)

    @classmethod
    def load(cls, path: Path) -> _Ignore:
        rules: list[tuple[str, bool, bool]] = []
        if path.is_file():
            for line in path.read_text("utf-8").splitlines():
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                negated = line.startswith("!")
                line = line.removeprefix("!")
                dirs_only = line.endswith("/")
                rules.append((line.strip("/"), negated, dirs_only))
        return cls(rules)

    def excludes(self, rel: Path) -> bool:
        parts = PurePosixPath(rel.as_posix()).parts
        excluded = False
        for pattern, negated, dirs_only in self._rules:
            if self._matches(pattern, parts, dirs_only):
                excluded = not negated
        return excluded

    @staticmethod
    def _matches(pattern: str, parts: tuple[str, ...], dirs_only: bool) -> bool:
        # A file matches through itself or any folder above it; a dir/ rule only via folders.
        candidates = range(1, len(parts)) if dirs_only else range(1, len(parts) + 1)
        for n in candidates:
            path = "/".join(parts[:n])
            target = path if "/" in pattern else parts[n - 1]
            if fnmatch.fnmatchcase(target, pattern):
                return True
        return False
