"""``python -m simulators.a1pms``: run the A1-PMS simulator under uvicorn.

Serves the A1-PMS v3 API under /a1-policy-management/v1 and, beside it, an admin API that is
not part of A1-PMS (see simulators/a1pms/README.md):

  POST   /admin/faults              queue a fault: {"status": 503, "count": 2, "delay_s": 0.0,
                                    "path_prefix": "/a1-policy-management/v1/policies",
                                    "methods": ["POST", "PUT"], "drop_connection": false}
  GET    /admin/faults              list pending faults
  DELETE /admin/faults              clear them
  PUT    /admin/rics/{ricId}/state  {"state": "SYNCHRONIZING"}: policy changes get 423
  POST   /admin/reset               forget every policy and service

A RIC given with --ric ID=URL (or "baseUrl" in --config) is a real Near-RT RIC (or
python -m simulators.nearrtric) driven over A1-P v2.0.0: its policy types are learnt from it,
and policy creates, updates, deletes and status reads go to it.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging

import uvicorn

from simulators.a1pms.app import create_app
from simulators.a1pms.config import parse_ric_url
from simulators.a1pms.registry import SimulatorConfig


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m simulators.a1pms",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    # 8081 is the real A1-PMS HTTP port, so the rApp's default URL works against either.
    parser.add_argument("--port", type=int, default=8081)
    parser.add_argument(
        "--config",
        help="JSON file: {'rics': [{'ricId': ..., ...}]}, or an A1-PMS application configuration",
    )
    parser.add_argument(
        "--ric",
        action="append",
        default=[],
        type=_ric_url,
        metavar="ID=URL",
        help="a Near-RT RIC reached over A1-P v2.0.0, e.g. ric1=http://127.0.0.1:8085; replaces "
        "the RIC of that id from --config (or the default ric1); repeatable",
    )
    parser.add_argument(
        "--a1p-timeout",
        type=float,
        default=None,
        help="seconds an A1-P call to a RIC may take (default: config, else 5)",
    )
    parser.add_argument(
        "--resync-interval",
        type=float,
        default=None,
        help="seconds before an unavailable RIC is synchronised again (default: config, else 5)",
    )
    parser.add_argument(
        "--keepalive-check-interval",
        type=float,
        default=1.0,
        help="seconds between checks for services that missed their keepalive",
    )
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    config = SimulatorConfig.from_file(args.config) if args.config else SimulatorConfig.default()
    config = config.with_rics(args.ric)
    if args.a1p_timeout is not None:
        config = dataclasses.replace(config, a1p_timeout_s=args.a1p_timeout)
    if args.resync_interval is not None:
        config = dataclasses.replace(config, resync_interval_s=args.resync_interval)
    app = create_app(config, keepalive_check_interval=args.keepalive_check_interval)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, log_config=None)


def _ric_url(text: str) -> tuple[str, str]:
    try:
        return parse_ric_url(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(str(e)) from None


if __name__ == "__main__":
    main()
