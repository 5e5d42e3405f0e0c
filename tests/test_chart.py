"""The Helm chart in charts/rapp, checked with Helm's own library (helm-sdkpy) and jsonschema.

Helm's lint loads the chart, validates its values.yaml against values.schema.json and renders
every template, so a values file is tried by copying the chart, merging the file over the
copy's values.yaml (as ``helm -f`` would) and linting the copy. Lint shows no rendered output,
but in lint mode ``fail`` only logs its message: a template added to the copy that "fails" with
each rendered manifest lets the tests look at what Kubernetes would get.
"""

from __future__ import annotations

import ast
import asyncio
import copy
import json
import re
import shutil
import tomllib
import typing
from pathlib import Path
from typing import Any

import helm_sdkpy
import jsonschema
import pytest
import yaml
from pydantic import BaseModel

from rapp.config import Settings

ROOT = Path(__file__).resolve().parent.parent
CHART = ROOT / "charts" / "rapp"
VALUES_DIR = Path(__file__).resolve().parent / "chart_values"
GOOD = sorted(VALUES_DIR.glob("good-*.yaml"))
BAD = sorted(VALUES_DIR.glob("bad-*.yaml"))

INFO, WARNING, ERROR = 1, 2, 3


# Read by Settings.load itself (the YAML file), not a field of the tree.
LOADER_VARIABLES = {"RAPP_CONFIG"}

_RAPP_NAME = re.compile(r"(?<![\w.])RAPP_[A-Z0-9_]*[A-Z0-9](?![\w.])")
_RENDERED = "RAPP-CHART-RENDERED "
_FAIL_MESSAGE = re.compile(r'message=("(?:[^"\\]|\\.)*")')


def _lint(chart: Path) -> dict[str, Any]:
    return asyncio.run(helm_sdkpy.Lint(helm_sdkpy.Configuration()).run(str(chart.resolve())))


def _describe(result: dict[str, Any]) -> str:
    messages = result.get("Messages") or []
    lines = [f"severity {m['Severity']} at {m['Path']}: {m.get('Err')}" for m in messages]
    return "; ".join([*lines, f"errors: {result.get('Errors')}"])


def _merge(base: Any, override: Any) -> Any:
    """Helm's merge of a values file over values.yaml: maps merge, a null deletes, else replace."""
    if not (isinstance(base, dict) and isinstance(override, dict)):
        return copy.deepcopy(override)
    out = copy.deepcopy(base)
    for key, value in override.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = _merge(out.get(key), value) if key in out else copy.deepcopy(value)
    return out


def _values() -> dict[str, Any]:
    return yaml.safe_load((CHART / "values.yaml").read_text())


def _schema() -> dict[str, Any]:
    return json.loads((CHART / "values.schema.json").read_text())


def _chart_with(tmp_path: Path, values_file: Path | None, *, render: bool = False) -> Path:
    """A copy of the chart with ``values_file`` merged over its values.yaml; with ``render``,
    plus a template logging every other template's output."""
    chart = tmp_path / "rapp"
    shutil.copytree(CHART, chart)
    if values_file is not None:
        merged = _merge(_values(), yaml.safe_load(values_file.read_text()) or {})
        (chart / "values.yaml").write_text(yaml.safe_dump(merged, sort_keys=False))
    if render:
        names = sorted(p.name for p in (CHART / "templates").glob("*.yaml"))
        body = "".join(
            f'{{{{- fail (printf "%s%s" "{_RENDERED}" (include "rapp/templates/{n}" .)) }}}}\n'
            for n in names
        )
        (chart / "templates" / "zz-render.yaml").write_text(body)
    return chart


def _render(
    tmp_path: Path, values_file: Path | None, capfd: pytest.CaptureFixture[str]
) -> dict[tuple[str, str], Any]:
    """The manifests Helm renders for ``values_file`` (None: the shipped values)."""
    capfd.readouterr()
    result = _lint(_chart_with(tmp_path, values_file, render=True))
    _, err = capfd.readouterr()
    texts = [ast.literal_eval(m) for m in _FAIL_MESSAGE.findall(err)]
    texts = [t.removeprefix(_RENDERED) for t in texts if t.startswith(_RENDERED)]
    assert texts, f"no rendered output in lint's log ({_describe(result)}): {err[:2000]}"
    docs = [d for t in texts for d in yaml.safe_load_all(t) if d]
    by_name = {(d["kind"], d["metadata"]["name"]): d for d in docs}
    assert len(by_name) == len(docs), "two resources of one kind and name"
    return by_name


def _expected_key(values_file: Path) -> str:
    """The dotted values key a bad file gets wrong, from its ``# expect: <key>`` first line."""
    match = re.match(r"#\s*expect:\s*(\S+)", values_file.read_text())
    assert match, f"{values_file.name} does not start with '# expect: <key>'"
    return match.group(1)


def _statefulset(docs: dict[tuple[str, str], Any]) -> dict[str, Any]:
    (sts,) = [d for (kind, _), d in docs.items() if kind == "StatefulSet"]
    return sts


def _container(sts: dict[str, Any], name: str) -> dict[str, Any]:
    (container,) = [c for c in sts["spec"]["template"]["spec"]["containers"] if c["name"] == name]
    return container


def test_shipped_chart_lints_clean() -> None:
    """No error and no warning (nor the missing-icon info) for the chart as shipped."""
    result = _lint(CHART)
    messages = result.get("Messages") or []
    assert result["TotalChartsLinted"] == 1
    assert not result.get("Errors"), _describe(result)
    assert not [m for m in messages if m["Severity"] >= WARNING], _describe(result)
    assert not [m for m in messages if m["Path"] == "Chart.yaml"], _describe(result)


@pytest.mark.parametrize("values_file", GOOD, ids=lambda p: p.stem)
def test_good_values_lint_clean(values_file: Path, tmp_path: Path) -> None:
    """Real installs' values pass the schema and render every optional branch without error."""
    result = _lint(_chart_with(tmp_path, values_file))
    errors = [m for m in result.get("Messages") or [] if m["Severity"] >= ERROR]
    assert not errors, _describe(result)
    assert not result.get("Errors"), _describe(result)


@pytest.mark.parametrize("values_file", BAD, ids=lambda p: p.stem)
def test_bad_values_rejected_by_helm(values_file: Path, tmp_path: Path) -> None:
    """Helm itself (schema validation in lint, as in install) refuses each bad values file."""
    result = _lint(_chart_with(tmp_path, values_file))
    errors = [
        m
        for m in result.get("Messages") or []
        if m["Severity"] >= ERROR and "values.yaml" in m["Path"]
    ]
    assert errors, _describe(result)


@pytest.mark.parametrize("values_file", BAD, ids=lambda p: p.stem)
def test_bad_values_rejected_by_schema_naming_the_key(values_file: Path) -> None:
    """The schema's error names the key that is wrong, so the message leads to the fix."""
    expected = _expected_key(values_file)
    merged = _merge(_values(), yaml.safe_load(values_file.read_text()))
    errors = list(jsonschema.Draft7Validator(_schema()).iter_errors(merged))
    assert errors, f"{values_file.name} passes the schema"
    seen = []
    for error in errors:
        path = ".".join(str(p) for p in error.absolute_path)
        seen.append(f"{path or '<top>'}: {error.message}")
        parent, _, leaf = expected.rpartition(".")
        if path == expected or (path == parent and repr(leaf) in error.message):
            return
    pytest.fail(f"{values_file.name}: no error names {expected}: {seen}")


def test_every_values_file_is_good_or_bad() -> None:
    """A values file named otherwise would silently be tested by nothing."""
    assert len(GOOD) >= 3
    assert len(BAD) >= 6
    assert {p.name for p in VALUES_DIR.iterdir()} == {p.name for p in GOOD + BAD}


def _field(name: str) -> bool:
    """Whether RAPP_A__B_C names a field of rapp.config.Settings (``__`` between levels)."""
    model: type[BaseModel] | None = Settings
    for part in name.removeprefix("RAPP_").lower().split("__"):
        if model is None or part not in model.model_fields:
            return False
        annotation = model.model_fields[part].annotation
        candidates = [annotation, *typing.get_args(annotation)]
        model = next(
            (c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None
        )
    return True


def _chart_setting_names() -> set[str]:
    texts = [p.read_text() for p in sorted((CHART / "templates").iterdir())]
    texts.append((CHART / "values.yaml").read_text())
    names = {n for text in texts for n in _RAPP_NAME.findall(text)}
    return names | set(_values()["settings"])


def test_rapp_names_are_real_settings() -> None:
    """Every RAPP_* variable the chart sets or documents is one the rApp reads: a typo such as
    RAPP_A1__URLL would otherwise be ignored by the rApp and the install run on a default."""
    names = _chart_setting_names()
    assert {"RAPP_A1__URL", "RAPP_ENACT__EXECUTOR_ID", "RAPP_KAFKA__BOOTSTRAP"} <= names
    unknown = sorted(n for n in names - LOADER_VARIABLES if not _field(n))
    assert not unknown, f"not settings of rapp.config.Settings: {unknown}"
    assert not _field("RAPP_A1__URLL")


def test_rapp_config_variable_loads_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """RAPP_CONFIG, where the chart mounts its config file, is the file Settings.load reads."""
    config = tmp_path / "rapp.yaml"
    config.write_text("a1:\n  ric_id: ric-from-file\n")
    monkeypatch.setenv("RAPP_CONFIG", str(config))
    monkeypatch.delenv("RAPP_A1__RIC_ID", raising=False)
    assert Settings.load().a1.ric_id == "ric-from-file"


@pytest.mark.parametrize("values_file", [None, *GOOD], ids=lambda p: p.stem if p else "shipped")
def test_config_file_is_a_settings_tree(values_file: Path | None) -> None:
    """The `config` map becomes rapp.yaml, which the rApp refuses at start if it is not a valid
    settings tree (unknown keys included): better found here than in a crash-looping pod."""
    override = yaml.safe_load(values_file.read_text()) if values_file else {}
    config = _merge(_values(), override)["config"]
    Settings(**config)


def test_chart_version_is_the_project_version() -> None:
    """The chart is released with the code it runs: both versions follow pyproject.toml."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    chart = yaml.safe_load((CHART / "Chart.yaml").read_text())
    assert chart["version"] == project
    assert str(chart["appVersion"]) == project


def test_schema_is_draft7_and_shipped_values_pass() -> None:
    """Helm validates with the schema, so it must be one; and the defaults must satisfy it."""
    schema = _schema()
    jsonschema.Draft7Validator.check_schema(schema)
    errors = [e.message for e in jsonschema.Draft7Validator(schema).iter_errors(_values())]
    assert not errors
    assert set(_values()) <= set(schema["properties"])


@pytest.mark.parametrize("values_file", [None, *GOOD], ids=lambda p: p.stem if p else "shipped")
def test_rendered_pod(
    values_file: Path | None, tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """What the pod gets: no variable twice, writable paths on volumes, policies mounted as a
    directory (hot reload), and a checksum roll for settings and config but not policies."""
    docs = _render(tmp_path, values_file, capfd)
    sts = _statefulset(docs)
    pod = sts["spec"]["template"]
    rapp = _container(sts, "rapp")
    names = [e["name"] for e in rapp["env"]]
    assert len(names) == len(set(names)), names
    env = {e["name"]: e for e in rapp["env"]}
    (settings_map,) = [d for (kind, n), d in docs.items() if n.endswith("-settings")]
    rendered = [*names, *(settings_map.get("data") or {})]
    unknown = [n for n in rendered if n not in LOADER_VARIABLES and not _field(n)]
    assert not unknown, f"not settings of rapp.config.Settings: {unknown}"
    shadowed = sorted(set(settings_map.get("data") or {}) & set(names))
    assert not shadowed, f"settings entries an explicit env entry overrides: {shadowed}"
    assert env["RAPP_ENACT__EXECUTOR_ID"]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert env["RAPP_API__HOST"]["value"] == "0.0.0.0"
    assert all(isinstance(e.get("value", ""), str) for e in rapp["env"])
    assert sts["spec"]["serviceName"] in {name for kind, name in docs if kind == "Service"}
    assert rapp["securityContext"]["readOnlyRootFilesystem"] is True
    mounts = {m["mountPath"]: m for m in rapp["volumeMounts"]}
    assert {"/tmp", "/var/lib/rapp"} <= set(mounts)
    assert not [m for m in rapp["volumeMounts"] if "subPath" in m]
    annotations = pod["metadata"]["annotations"]
    assert {"checksum/settings", "checksum/config"} <= set(annotations)
    assert not [a for a in annotations if "polic" in a]
    for key in ("RAPP_STORE__URL", "RAPP_ENACT__SYSTEM_DATABASE_URL"):
        url = env[key].get("value")
        assert url is None or not url.startswith("sqlite") or "/var/lib/rapp/" in url
    values = _merge(_values(), yaml.safe_load(values_file.read_text()) if values_file else {})
    if values["policies"] or values["policiesConfigMap"]:
        assert "/etc/rapp/policies" in mounts
    assert ("lifecycle" in rapp) == (values["preStopSleepSeconds"] > 0)
    if values["opa"]["enabled"]:
        assert env["RAPP_POLICY__OPA_URL"]["value"] == "http://127.0.0.1:8181"
        assert _container(sts, "opa")["securityContext"]["readOnlyRootFilesystem"] is True
    for key, name in (
        ("appId", "RAPP_SME__APP_ID"),
        ("smeDiscoveryEndpoint", "RAPP_SME__DISCOVERY_ENDPOINT"),
    ):
        assert (name in env) == bool(values["environment"][key])
        if values["environment"][key]:
            assert env[name]["value"] == values["environment"][key]
    on_volume = values["models"]["onVolume"]
    assert [c["name"] for c in pod["spec"].get("initContainers", [])] == (
        ["seed-models"] if on_volume else []
    )
    assert (env.get("RAPP_MODELS__ROOT", {}).get("value") == "/var/lib/rapp/models") == on_volume
    porch = values["nephio"]["writer"] == "porch"
    roles = [name for kind, name in docs if kind in ("Role", "RoleBinding")]
    assert bool(roles) == (porch and values["rbac"]["create"])
    own_token = porch and not values["secrets"]["porch"]["existingSecret"]
    assert pod["spec"]["automountServiceAccountToken"] is own_token
    if own_token:
        assert env["RAPP_NEPHIO__PORCH__TOKEN_FILE"]["value"].startswith("/var/run/secrets/")
