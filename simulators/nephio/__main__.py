"""``python -m simulators.nephio seed --repo PATH --package NAME [...] [--capacity 5G]``."""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from simulators.nephio.seed import seed_repository


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m simulators.nephio")
    commands = parser.add_subparsers(dest="command", required=True)
    seed = commands.add_parser("seed", help="create a bare deployment repo with UPF packages")
    seed.add_argument("--repo", type=Path, required=True, help="path of the bare repo to create")
    seed.add_argument("--package", action="append", required=True, help="package path (repeat)")
    seed.add_argument("--capacity", default="5G", help="Capacity throughputs (quantity)")
    seed.add_argument("--force", action="store_true", help="replace an existing path")
    args = parser.parse_args(argv)

    repo: Path = args.repo
    if repo.exists() and (not repo.is_dir() or any(repo.iterdir())):
        if not args.force:
            parser.error(f"{repo} exists and is not empty (use --force to replace it)")
        if repo.is_dir():
            shutil.rmtree(repo)
        else:
            repo.unlink()
    seed_repository(repo, args.package, capacity=args.capacity)
    print(f"seeded {repo} with {len(args.package)} package(s) at {args.capacity}: v1 each")
    return 0


if __name__ == "__main__":
    sys.exit(main())
