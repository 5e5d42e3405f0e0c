"""The enacting process of ``test_enact_sigkill``: killed with SIGKILL and started again.

    python -m tests.enact_worker --a1pms URL (--remote GIT_URL --workdir DIR | --porch URL) \
        --journal URL --dbos URL --decisions FILE --executor-id ID --summary FILE

With ``--remote`` the NF packages are published by the git writer into that repository; with
``--porch`` through the Porch server at that URL (its Repository ``deployment``), so that the
same kills can be aimed at either writer.

Each life launches DBOS on the shared system database under the same executor id (so DBOS
resumes what the last life left pending), queues the decisions DBOS does not know yet, in the
file's order, and waits until every one of them has ended. Then it writes a summary of their
DBOS statuses to ``--summary`` and exits 0. Progress goes to stdout as one word a line
(``launching``, ``launched``, ``queued``, ``finished``), so the test can time its kills against
the life's phases; the saga's log goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

from dbos import DBOS

from rapp.config import A1Settings, EnactSettings, NephioSettings, PorchSettings
from rapp.domain import Decision
from rapp.enact import Enactor, launch, shutdown
from rapp.store import Journal

ENACTOR_NAME = "sigkill-enactor"
"""DBOS finds a recovered workflow's instance by this name: every life must use the same one."""

UNFINISHED = frozenset({"PENDING", "ENQUEUED", "DELAYED"})


def say(word: str, detail: str = "") -> None:
    """One progress line on stdout, flushed at once: the test reads it while we run."""
    print(f"{word} {time.time():.3f} {detail}".rstrip(), flush=True)


async def queue_missing(enactor: Enactor, decisions: list[Decision]) -> None:
    """Queue, in order, the decisions DBOS holds no workflow for; the rest resume by recovery.

    A life killed while queueing leaves a prefix queued: the next one queues the remainder.
    Starting a known decision again would be harmless too (the workflow id is the decision id).
    """
    ids = [d.id for d in decisions]
    rows = await DBOS.list_workflows_async(workflow_ids=ids, load_input=False, load_output=False)
    known = {row.workflow_id for row in rows}
    missing = [d for d in decisions if d.id not in known]
    for d in missing:
        await enactor.start(d)
    say("queued", f"{len(missing)} new, {len(known)} known")


async def wait_all(ids: list[str], timeout_s: float) -> dict[str, Any]:
    """Every workflow's DBOS status once none is unfinished (or at the timeout): a summary."""
    deadline = time.monotonic() + timeout_s
    while True:
        rows = await DBOS.list_workflows_async(
            workflow_ids=ids, load_input=False, load_output=False
        )
        status = {row.workflow_id: row.status for row in rows}
        left = [i for i in ids if status.get(i, "MISSING") in UNFINISHED | {"MISSING"}]
        if not left or time.monotonic() > deadline:
            return {
                "statuses": dict(Counter(status.get(i, "MISSING") for i in ids)),
                "not_success": {
                    i: status.get(i, "MISSING") for i in ids if status.get(i) != "SUCCESS"
                },
                "timed_out": bool(left),
            }
        await asyncio.sleep(0.25)


async def run(enactor: Enactor, decisions: list[Decision], timeout_s: float) -> dict[str, Any]:
    await queue_missing(enactor, decisions)
    return await wait_all([d.id for d in decisions], timeout_s)


def nephio_settings(remote: str | None, workdir: Path | None, porch: str | None) -> NephioSettings:
    """Porch when ``porch`` is given (the Porch Repository ``deployment``), else the git writer
    on ``remote`` cloned into ``workdir``: the test kills either writer the same way."""
    if porch is not None:
        return NephioSettings(
            writer="porch", porch=PorchSettings(url=porch, repository="deployment")
        )
    assert remote is not None  # main() checked both
    assert workdir is not None
    return NephioSettings(remote=remote, workdir=workdir)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.enact_worker", description=__doc__)
    parser.add_argument("--a1pms", required=True)
    parser.add_argument("--remote", help="git writer: the deployment repository")
    parser.add_argument("--workdir", type=Path, help="git writer: the clone to work in")
    parser.add_argument("--porch", help="Porch writer: the Porch server's base URL")
    parser.add_argument("--journal", required=True)
    parser.add_argument("--dbos", required=True)
    parser.add_argument("--decisions", required=True, type=Path)
    parser.add_argument("--executor-id", default="sigkill")
    parser.add_argument("--summary", required=True, type=Path)
    parser.add_argument("--timeout", type=float, default=600.0)
    args = parser.parse_args(argv)
    if args.porch is None and (args.remote is None or args.workdir is None):
        parser.error("either --porch, or --remote and --workdir, is required")

    logging.basicConfig(
        level=logging.INFO,
        stream=sys.stderr,
        format=f"%(asctime)s {os.getpid()} %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request drowns the saga's
    decisions = [Decision.from_dict(d) for d in json.loads(args.decisions.read_text())]
    journal = Journal(args.journal)
    settings = EnactSettings(system_database_url=args.dbos, executor_id=args.executor_id)
    # The instance must exist before launch: DBOS resumes the last life's workflows on it.
    enactor = Enactor(
        a1=A1Settings(url=args.a1pms),
        nephio=nephio_settings(args.remote, args.workdir, args.porch),
        journal=journal,
        enact=settings,
        name=ENACTOR_NAME,
    )
    say("launching")
    launch(settings)
    say("launched")
    try:
        summary = asyncio.run(run(enactor, decisions, args.timeout))
    finally:
        shutdown()
        journal.close()
    args.summary.write_text(json.dumps(summary, indent=1))
    say("finished", json.dumps(summary["statuses"]))
    return 1 if summary["timed_out"] else 0


if __name__ == "__main__":
    sys.exit(main())
