"""Seed a bare deployment repository with one published free5gc UPF package per name.

Each package is what Porch would hold after a PackageVariant cloned the blueprint and Nephio
approved it: the Kptfile and package context named after the package, Capacity set, and
``NFDeployment.spec.capacity`` filled as nfdeploy-fn would, published as revision 1 (tag
``<pkg>/v1``) with Porch's approval commit. It goes through the same writer the rApp uses, so the
seeded layout and the rApp's later revisions cannot drift apart.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Sequence
from pathlib import Path

from rapp.enact.nephio import GitPackageRepo, PublishError
from rapp.enact.packages import set_capacity, set_package_name

BLUEPRINT = Path(__file__).resolve().parent / "blueprints" / "free5gc-upf"
"""Byte copy of nephio-project/catalog workloads/free5gc/pkg-example-upf-bp."""

SEED_WORKSPACE = "packagevariant-1"
"""Porch's PackageVariant controller names its first workspace this way."""


def load_blueprint(blueprint: Path = BLUEPRINT) -> dict[str, str]:
    """All files of a package directory, keyed by path relative to it."""
    return {
        p.relative_to(blueprint).as_posix(): p.read_bytes().decode("utf-8", "surrogateescape")
        for p in sorted(blueprint.rglob("*"))
        if p.is_file()
    }


def seed_repository(
    bare_path: Path,
    packages: Sequence[str],
    *,
    blueprint: Path = BLUEPRINT,
    capacity: str = "5G",
) -> None:
    """Create the bare repo ``bare_path`` (branch ``main``) holding each package at revision 1."""
    bare_path = Path(bare_path)
    if bare_path.exists() and (not bare_path.is_dir() or any(bare_path.iterdir())):
        raise FileExistsError(f"{bare_path} exists and is not empty")
    if len(set(packages)) != len(packages) or not packages:
        raise ValueError("give one or more distinct package names")
    source = load_blueprint(blueprint)
    bare_path.mkdir(parents=True, exist_ok=True)
    init = subprocess.run(
        ["git", "init", "-q", "--bare", "-b", "main", str(bare_path)],
        capture_output=True,
        text=True,
        check=False,
    )
    if init.returncode != 0:
        raise PublishError(f"git init --bare failed: {init.stderr.strip()}")
    with tempfile.TemporaryDirectory(prefix="rapp-seed-") as tmp:
        repo = GitPackageRepo(str(bare_path.resolve()), Path(tmp) / "clone", author_name="nephio")
        for name in packages:
            files = set_package_name(source, name.rpartition("/")[2])
            files = set_capacity(files, uplink=capacity, downlink=capacity)
            repo.publish(name, SEED_WORKSPACE, lambda _old, f=files: f)
