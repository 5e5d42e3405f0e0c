"""``python -m simulators.ics``: run the ICS data-consumer simulator under uvicorn (port 8083,
the real ICS HTTP port)."""

from __future__ import annotations

import argparse
import logging

import uvicorn

from simulators.ics.app import create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m simulators.ics", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8083)
    parser.add_argument(
        "--no-producer",
        action="store_true",
        help="serve PmData with no producer: the type and its jobs are DISABLED",
    )
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = create_app(producers=[] if args.no_producer else None)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, log_config=None)


if __name__ == "__main__":
    main()
