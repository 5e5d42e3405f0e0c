"""``rapp models list|show|promote|rollback``: output, exit codes, one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import Result
from sklearn.linear_model import Ridge
from typer.testing import CliRunner

from rapp.cli_models import models_app
from rapp.ml.registry import Registry

RNG = np.random.default_rng(11)
X = RNG.normal(size=(60, 3))
Y = X.sum(axis=1)

runner = CliRunner()


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A registry with forecaster v1 (champion, wape 0.30), v2 (0.35) and v3 (0.20)."""
    registry = Registry(tmp_path / "models")
    for wape in (0.30, 0.35, 0.20):
        registry.save(
            Ridge().fit(X, Y),
            name="forecaster",
            kind="forecaster",
            metrics={"wape_1h": wape},
            backtest_sha256="week-12",
            author="ana",
        )
    registry.promote("forecaster", "v1")
    return registry.root


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return runner.invoke(models_app, list(args), env=env)


def assert_one_line_error(result: Result, code: int, text: str) -> None:
    assert result.exit_code == code, result.output
    assert result.stderr.count("\n") == 1, result.stderr
    assert text in result.stderr
    assert "Traceback" not in result.output


def test_list_shows_every_version_and_the_champion(root: Path) -> None:
    result = run("list", "--root", str(root))
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "KIND", "CREATED", "METRIC", "CHAMPION"]
    rows = {line.split()[1]: line.split() for line in lines[1:]}
    assert set(rows) == {"v1", "v2", "v3"}
    assert rows["v1"][-1] == "*"
    assert rows["v2"][-1] != "*"
    assert rows["v3"][-1] != "*"
    assert "wape_1h=0.35" in rows["v2"]


def test_list_reads_the_root_from_the_environment(root: Path, tmp_path: Path) -> None:
    result = run("list", env={"RAPP_MODELS__ROOT": str(root)})
    assert result.exit_code == 0
    assert "forecaster" in result.stdout
    empty = run("list", "--root", str(tmp_path / "nothing"))
    assert empty.exit_code == 0
    assert "no models under" in empty.stdout


def test_show_prints_the_card_for_people_and_for_machines(root: Path) -> None:
    result = run("show", "forecaster", "--root", str(root))
    assert result.exit_code == 0, result.output
    assert "# forecaster v1" in result.stdout
    assert "forecaster v1 is the champion." in result.stdout
    other = run("show", "forecaster", "v3", "--root", str(root))
    assert "# forecaster v3" in other.stdout
    assert "not the champion (v1)" in other.stdout
    machine = run("show", "forecaster", "v2", "--json", "--root", str(root))
    card = json.loads(machine.stdout)
    assert (card["version"], card["is_champion"], card["author"]) == ("v2", False, "ana")
    assert card["backtests"][0]["metrics"] == {"wape_1h": 0.35}


def test_show_unknown_version_is_one_line_on_stderr(root: Path) -> None:
    assert_one_line_error(run("show", "forecaster", "v9", "--root", str(root)), 2, "no version v9")
    assert_one_line_error(run("show", "nope", "--root", str(root)), 2, "no model named 'nope'")


def test_promote_refused_exits_1_with_both_figures(root: Path) -> None:
    result = run("promote", "forecaster", "v2", "--root", str(root))
    assert_one_line_error(result, 1, "promotion refused")
    assert "0.35 vs 0.3" in result.stderr
    assert Registry(root).current("forecaster") == "v1"


def test_promote_better_challenger(root: Path) -> None:
    result = run("promote", "forecaster", "v3", "--by", "ana", "--root", str(root))
    assert result.exit_code == 0, result.output
    assert "forecaster v3 is the champion, replacing v1 (wape_1h 0.2 vs 0.3)" in result.stdout
    registry = Registry(root)
    assert registry.current("forecaster") == "v3"
    assert registry.card("forecaster", "v3").promotion.by == "ana"  # type: ignore[union-attr]


def test_promote_force_needs_a_reason_and_is_recorded(root: Path) -> None:
    no_reason = run("promote", "forecaster", "v2", "--force", "--root", str(root))
    assert_one_line_error(no_reason, 2, "needs a reason")
    forced = run(
        "promote", "forecaster", "v2", "--force", "--reason", "hotfix", "--root", str(root)
    )
    assert forced.exit_code == 0, forced.output
    assert "by override" in forced.stdout
    promotion = Registry(root).card("forecaster", "v2").promotion
    assert promotion is not None
    assert promotion.override
    assert promotion.reason == "hotfix"


def test_rollback_restores_the_previous_champion(root: Path) -> None:
    assert_one_line_error(run("rollback", "forecaster", "--root", str(root)), 2, "no previous")
    run("promote", "forecaster", "v3", "--root", str(root))
    result = run("rollback", "forecaster", "--reason", "bad night", "--root", str(root))
    assert result.exit_code == 0, result.output
    assert "forecaster v1 is the champion again (v3 retired)" in result.stdout
    registry = Registry(root)
    assert registry.current("forecaster") == "v1"
    assert registry.history("forecaster")[-1]["reason"] == "bad night"
