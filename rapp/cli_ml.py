"""``rapp export``: the data scientist's side of the command line (training data out)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated

import typer

from rapp.config import Settings

export_app = typer.Typer(help="Write what the running rApp has seen, for notebooks and training.")

ConfigOption = Annotated[
    Path | None,
    typer.Option("--config", "-c", help="YAML settings file (env RAPP_CONFIG); env vars win."),
]


def _when(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"{text!r} is not an ISO 8601 time", param_hint=option) from None


@export_app.command("telemetry")
def export_telemetry(
    out: Annotated[Path, typer.Option("--out", "-o", help="Output file: .parquet or .csv.")],
    archive: Annotated[
        Path | None,
        typer.Option(help="Archive folder (default: telemetry.archive_dir of the settings)."),
    ] = None,
    since: Annotated[str | None, typer.Option(help="First period end, ISO 8601 (UTC).")] = None,
    until: Annotated[str | None, typer.Option(help="Last period end, ISO 8601 (UTC).")] = None,
    config: ConfigOption = None,
) -> None:
    """The KPI rows the rApp ingested (its telemetry archive) as one long frame: cell,
    period_end, a column per KPI, suspect. ``rapp train --data`` reads it as it is."""
    from rapp.telemetry.archive import TelemetryArchive

    start, end = _when(since, "--since"), _when(until, "--until")
    if out.suffix not in {".parquet", ".csv"}:
        raise typer.BadParameter("use a .parquet or .csv file name", param_hint="--out")
    root = archive or Settings.load(config).telemetry.archive_dir
    if root is None:
        typer.echo(
            "rapp: no telemetry archive: set RAPP_TELEMETRY__ARCHIVE_DIR on the running rApp "
            "(it then keeps every ingested KPI row) or pass --archive",
            err=True,
        )
        raise typer.Exit(2)

    def progress(done: int, total: int) -> None:
        if done == total or done % 50 == 0:
            typer.echo(f"read {done}/{total} archive files", err=True)

    try:
        frame = TelemetryArchive(root).read(start, end, progress=progress)
    except FileNotFoundError as exc:
        typer.echo(f"rapp: {exc}", err=True)
        raise typer.Exit(2) from None
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        frame.to_parquet(out, index=False)
    else:
        frame.to_csv(out, index=False)
    first, last = frame["period_end"].min(), frame["period_end"].max()
    typer.echo(
        f"{out}: {len(frame)} rows, {frame['cell'].nunique()} cells, {first} .. {last}", err=True
    )
