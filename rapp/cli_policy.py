"""``rapp policy``: test, check and evaluate a policy set the way operators do with ``opa``."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer

policy_app = typer.Typer(help="Work with the Rego policy set.", no_args_is_help=True)

DirectoryArgument = Annotated[Path, typer.Argument(help="Policy directory.")]


@policy_app.command("test")
def policy_test(
    directory: DirectoryArgument = Path("policies"),
    coverage: Annotated[
        bool, typer.Option("--coverage", help="Also print which policy lines no test reached.")
    ] = False,
) -> None:
    """Run every test_* rule, like `opa test`; exit 1 if any fails."""
    from rapp.policy import PolicyError, run_policy_tests

    try:
        report = run_policy_tests(directory, coverage=coverage)
    except PolicyError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    for result in report.results:
        mark = "PASS" if result.passed else "FAIL"
        line = f"{mark} data.{result.package}.{result.name}"
        if result.error:
            line += f": {result.error}"
        typer.echo(line)
        if not result.passed:
            for printed in result.output:
                typer.echo(f"    {printed}")
    for file in report.coverage:
        missed = file.missed_ranges()
        typer.echo(
            f"coverage {file.path}: {file.percent:.1f}% of {len(file.covered | file.not_covered)}"
            f" lines{f'; not reached: {missed}' if missed else ''}"
        )
    typer.echo(report.summary())
    raise typer.Exit(0 if report.failed == 0 else 1)


@policy_app.command("check")
def policy_check(directory: DirectoryArgument = Path("policies")) -> None:
    """Compile the policy set; print errors as file:line:col: message."""
    from rapp.policy import PolicyError, load_policy_set

    try:
        policy_set = load_policy_set(directory)
    except PolicyError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(f"ok: {len(policy_set.modules)} modules, revision {policy_set.revision}")


@policy_app.command("eval")
def policy_eval(
    input_file: Annotated[
        Path,
        typer.Option(
            "--input", "-i", help="A decision as JSON ('-' for stdin), or a whole policy input."
        ),
    ],
    directory: Annotated[Path, typer.Option("--dir", "-d", help="Policy directory.")] = Path(
        "policies"
    ),
    query: Annotated[str, typer.Option(help="Rule that gives the verdict.")] = (
        "data.rapp.scaling.verdict"
    ),
    now: Annotated[
        str | None, typer.Option(help="RFC 3339 time the policies see (default: now).")
    ] = None,
) -> None:
    """Print the verdict on one decision with its reasons; exit 2 if it is denied."""
    from datetime import UTC, datetime

    from rapp.policy import PolicyError, RegoPolicyEngine
    from rapp.policy.engine import rfc3339

    try:
        text = sys.stdin.read() if str(input_file) == "-" else input_file.read_text()
        given: Any = json.loads(text)
    except (OSError, json.JSONDecodeError) as exc:
        typer.echo(f"{input_file}: {exc}", err=True)
        raise typer.Exit(1) from None
    if not isinstance(given, dict):
        typer.echo(f"{input_file}: expected a JSON object (a decision)", err=True)
        raise typer.Exit(1)
    document = given if "decision" in given else {"decision": given}
    stamp = now or rfc3339(datetime.now(UTC))
    document = {"now": stamp, **document}
    try:
        engine = RegoPolicyEngine.from_directory(directory, query=query)
    except PolicyError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    verdict = engine.evaluate_input(document)
    typer.echo(json.dumps(verdict.to_dict(), indent=2))
    raise typer.Exit(0 if verdict.allow else 2)
