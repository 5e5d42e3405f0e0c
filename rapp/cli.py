"""The ``rapp`` command: a thin face over the same stages the service runs."""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path
from typing import Annotated

import typer

from rapp.cli_ml import evaluate, export_app, train_app
from rapp.cli_models import models_app
from rapp.cli_package import package
from rapp.cli_policy import policy_app
from rapp.config import Settings

app = typer.Typer(
    help="O-RAN rApp: O1 telemetry in, forecasts, Rego-gated decisions, A1 and Nephio out.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)
app.add_typer(policy_app, name="policy")
dlq_app = typer.Typer(help="The dead-letter topic.", no_args_is_help=True)
app.add_typer(dlq_app, name="dlq")
app.add_typer(models_app, name="models")
app.add_typer(export_app, name="export")
app.add_typer(train_app, name="train")
app.command()(evaluate)
app.command()(package)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config", "-c", help="YAML settings file (env RAPP_CONFIG); env vars RAPP_* win."
    ),
]


def _logging(level: str) -> None:
    logging.basicConfig(
        level=level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    # aiokafka logs every rebalance step at INFO; the loop's own lines matter more here.
    logging.getLogger("aiokafka").setLevel(logging.WARNING)


@app.command()
def serve(config: ConfigOption = None) -> None:
    """Run the loop and the API until SIGINT/SIGTERM."""
    from aiokafka.errors import KafkaError
    from pydantic import ValidationError

    from rapp.enact.a1 import A1Error
    from rapp.enact.nephio import PublishError
    from rapp.policy import PolicyError
    from rapp.serve import serve as run
    from rapp.telemetry import DeadLetterError

    try:
        settings = Settings.load(config)
        _logging(settings.log_level)
        asyncio.run(run(settings))
    except (ValidationError, FileNotFoundError, PolicyError) as exc:
        # Configuration mistakes get one clear message, not a traceback.
        typer.echo(f"rapp: cannot start: {exc}", err=True)
        raise typer.Exit(2) from None
    except (DeadLetterError, PublishError, KafkaError, A1Error) as exc:
        # A peer refused for good (credentials, a missing repository, a dead-letter topic that
        # takes nothing, an A1-PMS that refuses the registration): stop rather than lose
        # records or wait forever, and say why.
        typer.echo(f"rapp: stopped: {exc}", err=True)
        raise typer.Exit(1) from None


@app.command()
def demo(
    workdir: Annotated[Path, typer.Option(help="Scratch directory (wiped at start).")] = Path(
        "var/demo"
    ),
    api_port: int = 8080,
    a1pms_port: int = 8081,
    kafka_port: int = 9092,
    cells: int = 200,
    speed: Annotated[float, typer.Option(help="Simulated seconds per wall second.")] = 900.0,
    backfill: Annotated[str, typer.Option(help="History published at start, e.g. 2d.")] = "2d",
    sleep_every: Annotated[
        str, typer.Option(help="One cell falls asleep per this much simulated time, e.g. 6h.")
    ] = "6h",
    duration: Annotated[
        float | None, typer.Option(help="Stop after this many seconds (default: Ctrl-C).")
    ] = None,
) -> None:
    """Broker, simulators and the rApp on 127.0.0.1, on embedded defaults."""
    from rapp.demo import DemoPlan, run_demo

    run_demo(
        DemoPlan(
            workdir=workdir,
            api_port=api_port,
            a1pms_port=a1pms_port,
            kafka_port=kafka_port,
            cells=cells,
            speed=speed,
            backfill=backfill,
            sleep_every=sleep_every,
            duration=duration,
        )
    )


@app.command()
def decode(
    files: Annotated[
        list[Path], typer.Argument(help="PM XML, ranpm JSON or VES files, gzip or not.")
    ],
) -> None:
    """Decode telemetry files (format sniffed): one JSON line per record on stdout, a summary per
    file on stderr; exit 1 if any file cannot be decoded."""
    import json

    from rapp.telemetry import DecodeError, decode_file
    from rapp.telemetry.records import records

    failed = 0
    for path in files:
        try:
            decoded = decode_file(path)
        except (DecodeError, OSError) as exc:
            failed += 1
            typer.echo(f"{path}: cannot decode: {exc}", err=True)
            continue
        except Exception as exc:  # a codec bug must not hide the other files' results
            failed += 1
            typer.echo(f"{path}: cannot decode (internal error): {exc!r}", err=True)
            continue
        counts = {"pm": 0, "alarm": 0, "file_ready": 0}
        for record in records(decoded):
            counts[record["kind"]] += 1
            typer.echo(json.dumps(record, separators=(",", ":")))
        typer.echo(
            f"{path}: {decoded.format}: {counts['pm']} pm records, {counts['alarm']} alarms, "
            f"{counts['file_ready']} file-ready",
            err=True,
        )
        if not any(counts.values()):
            failed += 1
            typer.echo(f"{path}: decoded, but holds no records", err=True)
    raise typer.Exit(1 if failed else 0)


@dlq_app.command("replay")
def dlq_replay(
    config: ConfigOption = None,
    target_topic: Annotated[
        str | None, typer.Option(help="Send every record here (default: its source topic).")
    ] = None,
    group_id: Annotated[str, typer.Option(help="Consumer group that remembers progress.")] = (
        "rapp-dlq-replay"
    ),
    limit: Annotated[int | None, typer.Option(help="Replay at most this many records.")] = None,
    dry_run: Annotated[bool, typer.Option(help="Count and show, produce nothing.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Re-produce dead-lettered records (original bytes and headers) to their source topic, e.g.
    after a codec fix; exit 1 if some records name no topic to go back to."""
    import json

    from rapp.telemetry import replay

    s = Settings.load(config)
    _logging(s.log_level)
    report = asyncio.run(
        replay(
            bootstrap=s.kafka.bootstrap,
            dlq_topic=s.kafka.dlq_topic,
            target_topic=target_topic,
            group_id=group_id,
            limit=limit,
            dry_run=dry_run,
            **s.kafka.security(),
        )
    )
    if as_json:
        typer.echo(json.dumps(report.to_dict(), indent=2))
    else:
        verb = "would replay" if dry_run else "replayed"
        reasons = ", ".join(f"{n} x {r}" for r, n in sorted(report.by_reason.items()))
        typer.echo(f"{verb} {report.replayed} of {report.read} records ({reasons or 'none'})")
        if report.unroutable:
            typer.echo(f"{len(report.unroutable)} records name no source topic", err=True)
    raise typer.Exit(1 if report.unroutable else 0)


if __name__ == "__main__":
    app()
