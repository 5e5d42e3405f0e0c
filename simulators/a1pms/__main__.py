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
"""

from __future__ import annotations

import argparse
import logging

import uvicorn

from simulators.a1pms.app import create_app
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
    parser.add_argument("--config", help="JSON file: {'rics': [{'ricId': ..., ...}]}")
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
    app = create_app(config, keepalive_check_interval=args.keepalive_check_interval)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, log_config=None)


if __name__ == "__main__":
    main()
