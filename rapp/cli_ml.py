"""The data scientist's side of the command line: ``rapp export telemetry`` (training data
out of the running rApp), ``rapp train`` and ``rapp evaluate`` (models into the registry)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import pandas as pd
import typer

from rapp.cli_models import RootOption
from rapp.config import Settings
from rapp.ml.registry import DEFAULT_ROOT

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


train_app = typer.Typer(
    help="Train a model on a KPI dataset and register it (scored on a held-out stretch).",
    no_args_is_help=True,
)

DataOption = Annotated[
    Path,
    typer.Option(
        "--data",
        "-d",
        help="Long KPI frame: .parquet, .csv, or a folder (a simulator dataset, an export).",
    ),
]
HoldoutOption = Annotated[
    str, typer.Option(help="Held-out stretch at the end of the data, scored, never trained on.")
]
PromoteOption = Annotated[
    bool, typer.Option(help="Promote it if it beats the champion on the same holdout.")
]
AuthorOption = Annotated[str | None, typer.Option(help="Recorded in the card.")]
ReportOption = Annotated[
    Path | None, typer.Option(help="Write the evaluation report (HTML and PNG) into this folder.")
]


_DURATION = re.compile(r"(\d+)\s*([smhdw])")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}


def _holdout(text: str) -> pd.Timedelta:
    match = _DURATION.fullmatch(text.strip())
    if match is None:
        raise typer.BadParameter(f"{text!r} is not a duration (e.g. 7d, 36h, 2w)")
    value = pd.Timedelta(int(match[1]) * _UNIT_S[match[2]], unit="s")
    if value <= pd.Timedelta(0):
        raise typer.BadParameter("the holdout must be positive", param_hint="--holdout")
    return value


def _echo(message: str) -> None:
    typer.echo(message, err=True)


@contextmanager
def _failures() -> Iterator[None]:
    """One line on stderr and exit 2 for anything the user can fix; no traceback."""
    from rapp.ml.registry import RegistryError

    try:
        yield
    except (FileNotFoundError, ValueError, KeyError, RegistryError) as exc:
        typer.echo(f"rapp: {exc}", err=True)
        raise typer.Exit(2) from None


@train_app.command("forecaster")
def train_forecaster(
    data: DataOption,
    kpi: Annotated[str, typer.Option(help="The KPI to forecast.")] = "prb_util_dl",
    holdout: HoldoutOption = "7d",
    name: Annotated[str, typer.Option(help="Registry name.")] = "forecaster",
    root: RootOption = DEFAULT_ROOT,
    report: ReportOption = None,
    promote: PromoteOption = False,
    author: AuthorOption = None,
) -> None:
    """Fit the global quantile forecaster, backtest it and the baselines on the holdout, and
    register it with its card (the champion is scored on the same holdout first)."""
    from rapp.ml import training
    from rapp.ml.panel import read_frame
    from rapp.ml.registry import PromotionRefusedError, Registry

    with _failures():
        span = _holdout(holdout)
        frame = read_frame(data)
        run = training.train_forecaster(frame, kpi=kpi, holdout=span, progress=_echo)
        registry = Registry(root)
        card = training.register(registry, run, name=name, author=author, progress=_echo)
        _summary(card.name, card.version, run)
        if report is not None:
            _echo(f"report: {training.write_report(run, report, f'{name} {card.version}')}")
        if promote:
            try:
                registry.promote(name, card.version, by=author)
            except PromotionRefusedError as exc:
                _echo(f"not promoted: {exc}")
                raise typer.Exit(1) from None
            _echo(f"{name} {card.version} is now the champion")


def evaluate(
    model: Annotated[str, typer.Argument(help="NAME or NAME:VERSION (default: the champion).")],
    data: DataOption,
    holdout: HoldoutOption = "7d",
    root: RootOption = DEFAULT_ROOT,
    report: ReportOption = None,
    record: Annotated[
        bool, typer.Option(help="Add the figures to the model's card, for the promotion gate.")
    ] = True,
) -> None:
    """Score a registered model on the last HOLDOUT of DATA and file the figures in its card:
    a forecaster is backtested next to the baselines, a detector is scored against the ground
    truth beside the data (``events.*``). Score two versions on the same data, then ``rapp
    models promote`` can compare them."""
    from rapp.ml import training
    from rapp.ml.card import dataset_sha256
    from rapp.ml.panel import read_frame
    from rapp.ml.registry import Registry

    name, _, version = model.partition(":")
    with _failures():
        span = _holdout(holdout)
        registry = Registry(root)
        version = version or registry.current(name)
        if version is None:
            raise ValueError(f"{name} has no champion; name a version ({name}:v1)")
        estimator = registry.load(name, version)
        frame = read_frame(data)
        title = f"{name} {version}"
        if registry.card(name, version).kind == "detector":
            truth = _beside(data, "events", None)
            if truth is None:
                raise ValueError(f"no events.parquet or events.csv beside {data} to score against")
            scored = training.evaluate_detector(
                estimator,
                frame,
                events=truth,
                artefacts=_beside(data, "artefacts", None),
                holdout=span,
                progress=_echo,
            )
            if record:
                registry.add_backtest(
                    name, version, scored.metrics, backtest_sha256=dataset_sha256(scored.test)
                )
            _detector_summary(title, scored.metrics)
            if report is not None:
                _echo(f"report: {training.write_detector_report(scored, report, title)}")
            return
        run = training.evaluate_forecaster(estimator, frame, holdout=span, progress=_echo)
        if record:
            registry.add_backtest(
                name, version, run.metrics, backtest_sha256=dataset_sha256(run.test)
            )
        _summary(name, version, run)
        if report is not None:
            _echo(f"report: {training.write_report(run, report, title)}")


def _detector_summary(title: str, m: dict[str, float]) -> None:
    if not m:
        typer.echo(f"{title}: registered without figures (no ground truth)")
        return
    typer.echo(
        f"{title}: F1 {m['f1']:.3f}, precision {m.get('precision', 0):.3f}, recall "
        f"{m['recall']:.3f}, median delay {m.get('median_delay_rops', 0):g} ROPs, "
        f"{m['false_alarms_per_cell_week']:.3f} false alarms per cell-week, "
        f"{int(m['n_artefacts_flagged'])} of {int(m['n_artefacts'])} artefacts flagged"
    )


def _summary(name: str, version: str, run: Any) -> None:
    lead = "wape_1h"
    line = [f"{name} {version}: WAPE 1h {run.metrics[lead]:.2%}"]
    for baseline, result in run.baselines.items():
        theirs = result.wape_at("1h")
        line.append(f"{baseline} {theirs:.2%} ({1 - run.metrics[lead] / theirs:+.0%})")
    upper = max(run.result.quantiles)
    line.append(f"P{upper * 100:.0f} coverage {run.result.coverage(upper):.1%}")
    typer.echo(", ".join(line))


@train_app.command("detector")
def train_detector(
    data: DataOption,
    events: Annotated[
        Path | None,
        typer.Option(help="Ground truth (events frame); default: events.* beside the data."),
    ] = None,
    holdout: HoldoutOption = "7d",
    name: Annotated[str, typer.Option(help="Registry name.")] = "detector",
    root: RootOption = DEFAULT_ROOT,
    report: ReportOption = None,
    promote: PromoteOption = False,
    author: AuthorOption = None,
) -> None:
    """Fit the anomaly detector (known anomalies left out of "normal"), score its flags on the
    holdout at event level (F1, delay, false alarms per cell-week) and register it."""
    from rapp.ml import training
    from rapp.ml.panel import read_frame
    from rapp.ml.registry import PromotionRefusedError, Registry

    with _failures():
        span = _holdout(holdout)
        frame = read_frame(data)
        truth = _beside(data, "events", events)
        artefacts = _beside(data, "artefacts", None)
        run = training.train_detector(
            frame, events=truth, artefacts=artefacts, holdout=span, progress=_echo
        )
        registry = Registry(root)
        card = training.register_detector(
            registry, run, name=name, events=truth, artefacts=artefacts, author=author
        )
        _detector_summary(f"{name} {card.version}", run.metrics)
        if report is not None and run.events is not None:
            _echo(
                f"report: {training.write_detector_report(run, report, f'{name} {card.version}')}"
            )
        if promote:
            try:
                registry.promote(name, card.version, by=author)
            except PromotionRefusedError as exc:
                _echo(f"not promoted: {exc}")
                raise typer.Exit(1) from None
            _echo(f"{name} {card.version} is now the champion")


def _beside(data: Path, table: str, given: Path | None) -> pd.DataFrame | None:
    """A ground-truth table: the one given, else ``<table>.parquet|csv`` in the data folder."""
    from rapp.ml.panel import read_table

    if given is not None:
        return read_table(given)
    folder = data if data.is_dir() else data.parent
    for suffix in (".parquet", ".csv"):
        if (folder / f"{table}{suffix}").is_file():
            return read_table(folder / f"{table}{suffix}")
    return None
