"""``python -m simulators.sme``: run the SME / CAPIF core simulator under uvicorn (port 8095, the
SMO's Service Manager port; capifcore itself listens on 8090).

Serves the TS 29.222 CAPIF core APIs as O-RAN SC capifcore does, /healthz and an admin API that is
not part of CAPIF (see simulators/sme/README.md). ``--seed-a1pms``/``--seed-ics`` publish the
A1-PMS and ICS as the SMO install does (apiName "a1-policy-http" and "informationservice-http");
``--invoker INFO`` onboards an invoker whose apiInvokerId is ``api_invoker_id_<INFO>``.
"""

from __future__ import annotations

import argparse
import logging

import uvicorn

from simulators.sme.app import create_app


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m simulators.sme",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8095)
    parser.add_argument(
        "--seed-a1pms", metavar="URL", help="publish the A1-PMS at this base URL (a1-policy-http)"
    )
    parser.add_argument(
        "--seed-ics", metavar="URL", help="publish ICS at this base URL (informationservice-http)"
    )
    parser.add_argument(
        "--platform-only",
        action="store_true",
        help="publish only the platform's resources, without the simulator's "
        "/a1-policy-management/v1 and /data-consumer/v1 root resources",
    )
    parser.add_argument(
        "--invoker",
        action="append",
        default=[],
        metavar="INFO",
        help="onboard an invoker with this apiInvokerInformation (repeatable)",
    )
    parser.add_argument(
        "--empty-list",
        action="store_true",
        help='answer a discovery that matches nothing with {"serviceAPIDescriptions": []} '
        "as capifcore does (default: {} as TS 29.222)",
    )
    parser.add_argument("--log-level", default="info")
    args = parser.parse_args(argv)

    logging.basicConfig(
        level=args.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    app = create_app(
        seed_a1pms=args.seed_a1pms,
        seed_ics=args.seed_ics,
        rapp_roots=not args.platform_only,
        invokers=args.invoker,
        empty_list=args.empty_list,
    )
    for info, invoker_id in app.state.seeded_invokers.items():
        logging.getLogger("simulators.sme").info("invoker %r is %s", info, invoker_id)
    uvicorn.run(app, host=args.host, port=args.port, log_level=args.log_level, log_config=None)


if __name__ == "__main__":
    main()
