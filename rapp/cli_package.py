"""``rapp package``: build the rApp's CSAR for the O-RAN SC rApp Manager, or check one."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rapp.config import Settings


def package(
    out: Annotated[Path, typer.Option(help="Folder the .csar is written to.")] = Path("dist"),
    chart: Annotated[Path, typer.Option(help="The Helm chart to package.")] = Path("charts/rapp"),
    chart_repository: Annotated[
        str | None,
        typer.Option(help="Chart repository the ACM instance installs from (GET charts URI)."),
    ] = None,
    chart_upload: Annotated[
        str | None,
        typer.Option(help="Chart repository the rApp Manager uploads to when priming."),
    ] = None,
    namespace: Annotated[str, typer.Option(help="Namespace the ACM instance deploys to.")] = (
        "nonrtric"
    ),
    release: Annotated[str, typer.Option(help="Helm release name of the instance.")] = "rapp",
    kafka_bootstrap: Annotated[
        str | None,
        typer.Option(help="Brokers the PmData job delivers to (default: the chart's kafka)."),
    ] = None,
    kafka_topic: Annotated[
        str | None, typer.Option(help="Topic the PmData job delivers to (default: the chart's).")
    ] = None,
    check: Annotated[
        Path | None,
        typer.Option(help="Check this .csar against the onboarding checks; build nothing."),
    ] = None,
    config: Annotated[
        Path | None, typer.Option("--config", "-c", help="YAML settings file (env RAPP_CONFIG).")
    ] = None,
) -> None:
    """Build rapp-<version>.csar (ASD, Helm chart, ACM, SME and DME files) and check it as the
    rApp Manager will when it is onboarded; exit 1 if a check fails."""
    from rapp.csar import ChartError, build_csar, check_csar, plan_from

    if check is not None:
        _report(check, check_csar(check))
        return
    overrides: dict[str, str | None] = {
        "namespace": namespace,
        "release": release,
        "kafka_bootstrap": kafka_bootstrap,
        "kafka_topic": kafka_topic,
    }
    if chart_repository:
        overrides["chart_repository"] = chart_repository
    if chart_upload:
        overrides["chart_upload_uri"] = chart_upload
    try:
        plan = plan_from(Settings.load(config), chart, **overrides)
    except (ChartError, ValueError, FileNotFoundError) as exc:
        typer.echo(f"rapp package: {exc}", err=True)
        raise typer.Exit(2) from None
    path = build_csar(plan, out, progress=lambda line: typer.echo(f"  {line}", err=True))
    _report(path, check_csar(path))
    if plan.chart_repository.startswith("UPDATE_THIS"):
        typer.echo(
            "note: the chart repository is a placeholder; pass --chart-repository and "
            "--chart-upload, or patch it as the O-RAN SC install scripts do",
            err=True,
        )


def _report(path: Path, problems: list[str]) -> None:
    for problem in problems:
        typer.echo(f"{path}: {problem}", err=True)
    if problems:
        typer.echo(
            f"{path}: {len(problems)} problem(s): the rApp Manager would refuse it", err=True
        )
        raise typer.Exit(1)
    typer.echo(f"{path}: passes the rApp Manager's onboarding checks")
