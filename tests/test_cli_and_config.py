import json
import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

from rapp.cli import app
from rapp.config import Settings

POLICIES = Path(__file__).parents[1] / "policies"
runner = CliRunner()


def test_policy_test_reports_each_test_and_a_summary():
    result = runner.invoke(app, ["policy", "test", str(POLICIES)])
    assert result.exit_code == 0, result.output
    lines = result.output.strip().splitlines()
    assert lines[-1].endswith(" passed, 0 failed")
    assert all(line.startswith("PASS data.rapp.") for line in lines[:-1])


def test_policy_test_fails_when_a_test_fails(tmp_path: Path):
    shutil.copytree(POLICIES, tmp_path / "p")
    (tmp_path / "p" / "broken_test.rego").write_text(
        "package rapp.broken_test\nimport rego.v1\ntest_wrong if { 1 == 2 }\n"
    )
    result = runner.invoke(app, ["policy", "test", str(tmp_path / "p")])
    assert result.exit_code == 1
    assert "FAIL data.rapp.broken_test.test_wrong" in result.output
    assert result.output.strip().endswith("passed, 1 failed")


def test_policy_check_points_at_the_error(tmp_path: Path):
    shutil.copytree(POLICIES, tmp_path / "p")
    (tmp_path / "p" / "bad.rego").write_text("package rapp.bad\nimport rego.v1\n\nx if {\n")
    result = runner.invoke(app, ["policy", "check", str(tmp_path / "p")])
    assert result.exit_code == 1
    assert result.output.startswith("bad.rego:")


def test_policy_test_coverage_names_the_lines_no_test_reached(tmp_path: Path):
    shutil.copytree(POLICIES, tmp_path / "p")
    full = runner.invoke(app, ["policy", "test", "--coverage", str(tmp_path / "p")])
    assert full.exit_code == 0, full.output
    assert "coverage scaling.rego: 100.0% of " in full.output
    tests = tmp_path / "p" / "scaling_test.rego"
    # Without the unknown-action test, the rule that denies unknown actions is never reached.
    text = tests.read_text()
    start = text.index("test_unknown_action_denied if")
    tests.write_text(text[:start] + text[text.index("\n}\n", start) + 3 :])
    partial = runner.invoke(app, ["policy", "test", "--coverage", str(tmp_path / "p")])
    assert partial.exit_code == 0, partial.output
    rule = (tmp_path / "p" / "scaling.rego").read_text().splitlines()
    line = next(i for i, t in enumerate(rule, 1) if "unknown action %v" in t)
    # That rule's lines (its head, and as regorus counts them, its message), nothing else.
    missed = partial.output.split("coverage scaling.rego: ", 1)[1].split("\n", 1)[0]
    assert not missed.startswith("100.0%")
    reported = {int(n) for n in missed.split("not reached: ", 1)[1].split(", ")}
    assert line - 2 in reported
    assert reported <= {line - 2, line - 1, line}


def test_policy_eval_prints_the_verdict_and_exits_2_on_deny(tmp_path: Path):
    decision = {
        "action": "scale_out",
        "target": "free5gc-upf-site-03",
        "cells": ["c1"],
        "capacity_from": "10G",
        "capacity_to": "40G",
        "evidence": {"forecast_max": 93},
    }
    (tmp_path / "d.json").write_text(json.dumps(decision))
    denied = runner.invoke(
        app, ["policy", "eval", "--input", str(tmp_path / "d.json"), "--dir", str(POLICIES)]
    )
    assert denied.exit_code == 2, denied.output
    verdict = json.loads(denied.output)
    assert verdict["allow"] is False
    assert "free5gc-upf-site-03: 40G exceeds the maximum 20G for free5gc-upf" in verdict["reasons"]
    ok = {"decision": {**decision, "capacity_to": "20G"}, "now": "2026-11-24T10:00:00Z"}
    allowed = runner.invoke(
        app, ["policy", "eval", "-i", "-", "-d", str(POLICIES)], input=json.dumps(ok)
    )
    assert allowed.exit_code == 0, allowed.output
    assert json.loads(allowed.output)["reasons"] == [
        "free5gc-upf-site-03: 10G -> 20G within [1G, 20G] for free5gc-upf"
    ]
    (tmp_path / "bad.json").write_text("[1, 2")
    broken = runner.invoke(app, ["policy", "eval", "-i", str(tmp_path / "bad.json")])
    assert broken.exit_code == 1


def test_settings_precedence_env_over_yaml_over_defaults(tmp_path: Path, monkeypatch):
    config = tmp_path / "rapp.yaml"
    config.write_text("a1:\n  url: http://a1pms.example:8081\nplanner:\n  high: 70\n  low: 20\n")
    monkeypatch.setenv("RAPP_PLANNER__HIGH", "75")
    settings = Settings.load(config)
    assert settings.a1.url == "http://a1pms.example:8081"
    assert settings.planner.high == 75.0  # env wins
    assert settings.planner.low == 20.0
    assert settings.kafka.bootstrap == "127.0.0.1:9092"  # default


def test_settings_refuse_nonsense(tmp_path: Path, monkeypatch):
    monkeypatch.setenv("RAPP_PLANNER__LOW", "90")
    with pytest.raises(ValidationError, match="must be below"):
        Settings()
    with pytest.raises(FileNotFoundError):
        Settings.load(tmp_path / "missing.yaml")


def test_fetch_allow_lists_from_env_and_yaml(tmp_path: Path, monkeypatch):
    settings = Settings()
    assert (settings.ves.fetch_hosts, settings.ves.fetch_dirs) == ([], [])  # nothing fetched
    config = tmp_path / "rapp.yaml"
    config.write_text("ves:\n  fetch_dirs: [/var/pm]\n  fetch_attempts: 3\n")
    monkeypatch.setenv("RAPP_VES__FETCH_HOSTS", '["files.smo", "[fd00::7]:8443"]')
    ves = Settings.load(config).ves
    assert ves.fetch_hosts == ["files.smo", "[fd00::7]:8443"]
    assert ves.fetch_dirs == [Path("/var/pm")]
    assert ves.fetch_attempts == 3
    allow = ves.fetch_allow_list()
    assert allow.check("https://files.smo/pm/A.xml") is None
    assert allow.check("https://[fd00::7]:8443/pm/A.xml") is None


@pytest.mark.parametrize(
    ("env", "value", "message"),
    [
        ("FETCH_HOSTS", '["https://files.smo/"]', "is not a host or host:port"),
        ("FETCH_HOSTS", '["pm@files.smo"]', "is not a host or host:port"),
        ("FETCH_HOSTS", '["files.smo:http"]', "is not a host or host:port"),
        ("FETCH_HOSTS", '["files.smo:0"]', "port 0 is not a port"),
        ("FETCH_ATTEMPTS", "0", "ves.fetch_attempts"),
        ("FETCH_TIMEOUT_S", "0", "ves.fetch_timeout_s"),
        ("FETCH_MAX_BYTES", "-1", "ves.fetch_max_bytes"),
    ],
)
def test_fetch_settings_refuse_nonsense(monkeypatch, env: str, value: str, message: str):
    monkeypatch.setenv(f"RAPP_VES__{env}", value)
    with pytest.raises(ValidationError, match=message):
        Settings()
