"""``rapp models``: list, read, promote and roll back the models in the registry.

A thin face over ``rapp.ml.registry.Registry``. Errors are one line on stderr: exit 1 when the
promotion gate refuses (a normal outcome a pipeline branches on), exit 2 for anything else that
cannot be done (an unknown name or version, an override without a reason, an unreadable file).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

import typer

from rapp.ml.registry import DEFAULT_ROOT, PromotionRefusedError, Registry, RegistryError

models_app = typer.Typer(
    help="The model registry: versions, model cards, champions.",
    no_args_is_help=True,
    pretty_exceptions_show_locals=False,
)

RootOption = Annotated[
    Path,
    typer.Option("--root", envvar="RAPP_MODELS__ROOT", help="Registry folder."),
]
ByOption = Annotated[
    str | None, typer.Option("--by", help="Who does it (default: the login name).")
]


@models_app.command("list")
def list_models(root: RootOption = DEFAULT_ROOT) -> None:
    """Every version of every model: kind, created, its gate metric, and the champion."""
    with _errors():
        registry = Registry(root)
        rows = [("NAME", "VERSION", "KIND", "CREATED", "METRIC", "CHAMPION")]
        for name in registry.names():
            champion = registry.current(name)
            for version in registry.versions(name):
                card = registry.card(name, version)
                rule = registry.gate_rules.get(card.kind)
                value = card.metrics.get(rule.metric) if rule else None
                rows.append(
                    (
                        name,
                        version,
                        card.kind,
                        card.created.strftime("%Y-%m-%d %H:%M"),
                        f"{rule.metric}={value:.4g}" if rule and value is not None else "-",
                        "*" if version == champion else "",
                    )
                )
    if len(rows) == 1:
        typer.echo(f"no models under {root}")
        return
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        typer.echo("  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip())


@models_app.command()
def show(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str | None, typer.Argument(help="Version (default: champion).")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="The card as JSON.")] = False,
    root: RootOption = DEFAULT_ROOT,
) -> None:
    """A model card, for people (or ``--json`` for machines)."""
    with _errors():
        registry = Registry(root)
        card = registry.card(name, version)
        champion = registry.current(name)
    if as_json:
        typer.echo(json.dumps({**card.to_dict(), "is_champion": card.version == champion}))
        return
    state = "the champion" if card.version == champion else f"not the champion ({champion})"
    typer.echo(card.to_markdown())
    typer.echo(f"{name} {card.version} is {state}.")


@models_app.command()
def promote(
    name: Annotated[str, typer.Argument(help="Model name.")],
    version: Annotated[str, typer.Argument(help="The challenger, e.g. v3.")],
    force: Annotated[
        bool, typer.Option("--force", help="Promote even if the gate refuses (needs --reason).")
    ] = False,
    reason: Annotated[str, typer.Option("--reason", help="Why; recorded in the card.")] = "",
    by: ByOption = None,
    root: RootOption = DEFAULT_ROOT,
) -> None:
    """Make VERSION the champion if it beats the current one on the same backtest."""
    with _errors():
        card = Registry(root).promote(name, version, override=force, reason=reason, by=by)
    promotion = card.promotion
    figures = ""
    if promotion is None:  # promote() always records one; never a reason to fail here
        typer.echo(f"{name} {version} is the champion")
        return
    if promotion.metric and promotion.value is not None:
        figures = f" ({promotion.metric} {promotion.value:.4g}"
        if promotion.champion_value is not None:
            figures += f" vs {promotion.champion_value:.4g}"
        figures += ")"
    how = " by override" if promotion.override else ""
    replaced = f", replacing {promotion.replaced}" if promotion.replaced else ""
    typer.echo(f"{name} {version} is the champion{how}{replaced}{figures}")


@models_app.command()
def rollback(
    name: Annotated[str, typer.Argument(help="Model name.")],
    reason: Annotated[str, typer.Option("--reason", help="Why; recorded in the log.")] = "",
    by: ByOption = None,
    root: RootOption = DEFAULT_ROOT,
) -> None:
    """Make the previous champion of NAME current again."""
    with _errors():
        registry = Registry(root)
        retired = registry.current(name)
        restored = registry.rollback(name, by=by, reason=reason)
    typer.echo(f"{name} {restored} is the champion again ({retired} retired)")


@contextmanager
def _errors() -> Iterator[None]:
    """Registry errors as one line on stderr and an exit code, never a traceback."""
    try:
        yield
    except PromotionRefusedError as exc:
        typer.echo(f"rapp models: promotion refused: {exc}", err=True)
        raise typer.Exit(1) from None
    except (RegistryError, ValueError, OSError) as exc:
        typer.echo(f"rapp models: {exc}", err=True)
        raise typer.Exit(2) from None
