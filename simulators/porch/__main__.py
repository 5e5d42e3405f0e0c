"""``python -m simulators.porch``: run the Porch simulator under uvicorn.

Serves Porch's ``porch.kpt.dev/v1alpha1`` API (PackageRevisions, their approval and resources)
over one or more git repositories, each registered as a Porch Repository, and an admin API under
``/admin`` (see simulators/porch/README.md). Example:

  python -m simulators.porch --port 7007 --repository deployment=/tmp/edge.git
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

import uvicorn

from simulators.porch.app import create_app
from simulators.porch.gitrepo import GitError
from simulators.porch.store import DEFAULT_GATE


def _repository(text: str) -> tuple[str, str]:
    name, sep, remote = text.partition("=")
    if not sep or not name or not remote:
        raise argparse.ArgumentTypeError(f"expected NAME=PATH_OR_URL, got {text!r}")
    if "://" not in remote and not remote.startswith("git@"):
        remote = str(Path(remote).resolve())
    return name, remote


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m simulators.porch",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7007)
    parser.add_argument(
        "--repository",
        type=_repository,
        action="append",
        required=True,
        metavar="NAME=REPO",
        help="register a git repository (bare path or URL) as Porch Repository NAME; repeat",
    )
    parser.add_argument("--namespace", default="default", help="namespace of the repositories")
    parser.add_argument("--workdir", type=Path, help="where to keep the clones (default: temp)")
    parser.add_argument(
        "--ready-delay-s",
        type=float,
        default=0.0,
        help="seconds a new draft's readiness conditions stay False",
    )
    parser.add_argument(
        "--readiness-gate",
        action="append",
        metavar="TYPE",
        help=f"readiness gate every revision reports (repeat; default {DEFAULT_GATE}; '' for none)",
    )
    parser.add_argument(
        "--sync-interval-s",
        type=float,
        default=0.0,
        help="re-read the repositories every so many seconds (0: only at start and on "
        "POST /admin/sync)",
    )
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    names = [name for name, _ in args.repository]
    if len(set(names)) != len(names):
        parser.error("repository names must be unique")
    gates = [g for g in (args.readiness_gate or [DEFAULT_GATE]) if g]
    try:
        app = create_app(
            dict(args.repository),
            namespace=args.namespace,
            workdir=args.workdir,
            ready_delay_s=args.ready_delay_s,
            readiness_gates=gates,
            sync_interval_s=args.sync_interval_s,
        )
    except GitError as e:
        logging.getLogger(__name__).error("cannot read the repositories: %s", e)
        return 2
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, log_config=None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
