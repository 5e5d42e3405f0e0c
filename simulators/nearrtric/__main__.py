"""``python -m simulators.nearrtric``: run the Near-RT RIC simulator (A1-P v2.0.0) under uvicorn.

Serves /A1-P/v2 (policy types, policies, statuses), /healthz and an admin API that is not part of
A1-P (see simulators/nearrtric/README.md). Point the A1-PMS simulator at it with
``python -m simulators.a1pms --ric ric1=http://127.0.0.1:8085``.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import uvicorn

from simulators.nearrtric.app import create_app
from simulators.nearrtric.ric import TYPES_DIR


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m simulators.nearrtric",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    # 8085 is the O-RAN SC A1 simulator's HTTP port, which A1-PMS configurations point at.
    parser.add_argument("--port", type=int, default=8085)
    parser.add_argument(
        "--types",
        type=Path,
        default=TYPES_DIR,
        help="directory of <type id>.json PolicyTypeObject files (default: the shipped ones)",
    )
    parser.add_argument(
        "--max-policies",
        type=int,
        default=None,
        help="answer 507 Insufficient Storage to a create beyond this many policies",
    )
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = create_app(args.types, max_policies=args.max_policies)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, log_config=None)


if __name__ == "__main__":
    main()
