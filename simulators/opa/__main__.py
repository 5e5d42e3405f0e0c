"""``python -m simulators.opa``: an OPA REST server on the real OPA library, under uvicorn."""

from __future__ import annotations

import argparse

import uvicorn

from simulators.opa.app import create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m simulators.opa", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8181)  # OPA's own default port
    args = parser.parse_args(argv)
    uvicorn.run(create_app(), host=args.host, port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
