"""``rapp package``: the CSAR passes the rApp Manager's onboarding checks, and each check
catches what it is there for."""

from __future__ import annotations

import asyncio
import io
import json
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import helm_sdkpy
import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from rapp import __version__
from rapp.cli import app
from rapp.config import Settings
from rapp.csar import archive_chart, build_csar, check_csar, check_files, package_files, plan_from
from rapp.csar.chart import read_chart
from tests.test_chart import _render

ROOT = Path(__file__).parents[1]
CHART = ROOT / "charts" / "rapp"
SHARED = ROOT.parent / "shared"
runner = CliRunner()


@pytest.fixture(scope="module")
def files() -> dict[str, bytes]:
    return package_files(plan_from(Settings(), CHART))


def _json(files: dict[str, bytes], path: str) -> Any:
    return json.loads(files[path])


def _asd(files: dict[str, bytes]) -> dict[str, Any]:
    doc = yaml.safe_load(files["Definitions/asd.yaml"])
    return doc["topology_template"]["node_templates"]["applicationServiceDescriptor"]


def test_the_built_package_passes_every_onboarding_check(tmp_path: Path) -> None:
    path = build_csar(plan_from(Settings(), CHART), tmp_path)
    assert path.name == f"rapp-{__version__}.csar"
    assert check_csar(path) == []
    with zipfile.ZipFile(path) as csar:
        names = csar.namelist()
        meta = csar.read("TOSCA-Metadata/TOSCA.meta").decode()
    assert "Entry-Definitions: Definitions/asd.yaml" in meta.splitlines()
    # Entries at the root, as the rApp Manager's generate.sh zips them.
    assert not any(n.startswith(("/", "./", "rapp/")) for n in names)
    assert {"Files/Acm/definition/compositions.json", "Definitions/asd_types.yaml"} <= set(names)
    assert [n for n in names if n.startswith("Files/Acm/instances/")]


def test_the_asd_names_the_chart_and_has_distinct_uuid_ids(files: dict[str, bytes]) -> None:
    asd = _asd(files)
    props = asd["properties"]
    assert props["descriptor_id"] != props["descriptor_invariant_id"]
    assert props["application_version"] == __version__
    (artifact,) = asd["artifacts"].values()
    chart = read_chart(CHART)
    assert artifact["file"] == f"Artifacts/Deployment/HELM/{chart.name}-{chart.version}.tgz"
    assert artifact["file"] in files
    assert artifact["properties"]["artifact_type"] == "helm_chart"


def test_a_new_version_gets_a_new_descriptor_id_but_keeps_the_invariant_one() -> None:
    ids = [
        _asd(package_files(plan_from(Settings(), CHART, version=v)))["properties"]
        for v in ("0.1.0", "0.2.0")
    ]
    assert ids[0]["descriptor_id"] != ids[1]["descriptor_id"]
    assert ids[0]["descriptor_invariant_id"] == ids[1]["descriptor_invariant_id"]


def test_helm_loads_the_chart_archive_in_the_package(files: dict[str, bytes], tmp_path: Path):
    """Helm's own library lints the .tgz as the rApp Manager's chart repository will serve it."""
    (name,) = [n for n in files if n.endswith(".tgz")]
    archive = tmp_path / Path(name).name
    archive.write_bytes(files[name])
    result = asyncio.run(helm_sdkpy.Lint(helm_sdkpy.Configuration()).run(str(archive)))
    assert result["TotalChartsLinted"] == 1
    errors = [m for m in result["Messages"] or [] if m["Severity"] >= 2]
    assert not result["Errors"], result
    assert not errors, result


def test_the_acm_instance_deploys_this_chart_with_the_rapp_managers_overrides(files):
    instance = _json(files, "Files/Acm/instances/rapp-instance.json")
    composition = _json(files, "Files/Acm/definition/compositions.json")
    templates = composition["topology_template"]["node_templates"]
    defined = {
        (e["name"], e["version"])
        for t in templates.values()
        for e in t.get("properties", {}).get("elements", [])
    }
    used = {
        (e["definition"]["name"], e["definition"]["version"]) for e in instance["elements"].values()
    }
    assert used == defined  # every element the composition lists, and nothing else
    assert all(name in templates for name, _ in defined)
    (chart,) = [
        e["properties"]["chart"]
        for e in instance["elements"].values()
        if "chart" in e["properties"]
    ]
    meta = read_chart(CHART)
    assert chart["chartId"] == {"name": meta.name, "version": meta.version}
    assert chart["overrideParams"]["environment.appId"] == "DO_NOT_CHANGE_THIS_RAPP_INSTANCE_ID"
    assert chart["overrideParams"]["environment.smeDiscoveryEndpoint"] == (
        "DO_NOT_CHANGE_THIS_SME_DISCOVERY_ENDPOINT"
    )
    values = yaml.safe_load((CHART / "values.yaml").read_text())
    for dotted in chart["overrideParams"]:  # the overrides land on values the chart has
        node = values
        for key in dotted.split("."):
            assert isinstance(node, dict), f"values.yaml has no {dotted}"
            assert key in node, f"values.yaml has no {dotted}"
            node = node[key]
    (a1,) = [
        e["properties"]
        for e in instance["elements"].values()
        if "policyServiceEntities" in e["properties"]
    ]
    assert a1["policyServiceEntities"][0]["clientId"] == Settings().a1.service_id


def test_the_instances_override_params_are_values_the_chart_renders(
    files: dict[str, bytes], tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """The rApp Manager installs the chart with the instance's overrideParams (placeholders
    filled in, values as strings): Helm accepts them, and the pod gets what they say."""
    text = files["Files/Acm/instances/rapp-instance.json"].decode()
    text = text.replace("DO_NOT_CHANGE_THIS_RAPP_INSTANCE_ID", "7d2c-instance")
    text = text.replace(
        "DO_NOT_CHANGE_THIS_SME_DISCOVERY_ENDPOINT", "sme:8095/service-apis/v1/allServiceAPIs"
    )
    (chart,) = [
        e["properties"]["chart"]
        for e in json.loads(text)["elements"].values()
        if "chart" in e["properties"]
    ]
    values: dict[str, Any] = {}
    for dotted, value in chart["overrideParams"].items():
        *parents, leaf = dotted.split(".")
        node = values
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = value
    overrides = tmp_path / "overrides.yaml"
    overrides.write_text(yaml.safe_dump(values))
    docs = _render(tmp_path / "render", overrides, capfd)
    (sts,) = [d for (kind, _), d in docs.items() if kind == "StatefulSet"]
    (rapp,) = [c for c in sts["spec"]["template"]["spec"]["containers"] if c["name"] == "rapp"]
    env = {e["name"]: e.get("value") for e in rapp["env"]}
    consumer = _json(files, "Files/Dme/infoconsumers/rapp-pm-consumer.json")
    delivery = consumer["job_definition"]["deliveryInfo"]
    assert env["RAPP_SME__APP_ID"] == "7d2c-instance"
    assert env["RAPP_SME__DISCOVERY_ENDPOINT"] == "sme:8095/service-apis/v1/allServiceAPIs"
    # The pod reads the topic, on the brokers, that the DME job has PM delivered to.
    assert (env["RAPP_KAFKA__BOOTSTRAP"], env["RAPP_KAFKA__TOPIC"]) == (
        delivery["bootStrapServers"],
        delivery["topic"],
    )
    # The A1-PMS participant registered the service: it deletes it at undeploy, not the pod.
    assert env["RAPP_A1__DEREGISTER_ON_STOP"] == "false"


def test_the_pm_job_delivers_where_the_chart_consumes_unless_told_otherwise(tmp_path: Path):
    chart_kafka = yaml.safe_load((CHART / "values.yaml").read_text())["kafka"]
    delivery = _json(
        package_files(plan_from(Settings(), CHART)), "Files/Dme/infoconsumers/rapp-pm-consumer.json"
    )["job_definition"]["deliveryInfo"]
    assert delivery == {"topic": chart_kafka["topic"], "bootStrapServers": chart_kafka["bootstrap"]}
    files = package_files(
        plan_from(
            Settings(), CHART, kafka_bootstrap="kafka-1-kafka-bootstrap.smo:9092", kafka_topic="pm"
        )
    )
    delivery = _json(files, "Files/Dme/infoconsumers/rapp-pm-consumer.json")["job_definition"][
        "deliveryInfo"
    ]
    assert delivery == {"topic": "pm", "bootStrapServers": "kafka-1-kafka-bootstrap.smo:9092"}
    (chart,) = [
        e["properties"]["chart"]
        for e in _json(files, "Files/Acm/instances/rapp-instance.json")["elements"].values()
        if "chart" in e["properties"]
    ]
    assert chart["overrideParams"]["kafka.bootstrap"] == "kafka-1-kafka-bootstrap.smo:9092"
    assert chart["overrideParams"]["kafka.topic"] == "pm"


def test_sme_and_dme_files_say_what_the_rapp_discovers_and_consumes(files: dict[str, bytes]):
    settings = Settings()
    (invoker,) = _json(files, "Files/Sme/invokers/rapp-invoker.json")
    assert {a["apiName"] for a in invoker["apiList"]} == {
        settings.sme.a1pms_api,
        settings.sme.ics_api,
    }
    provider = _json(files, "Files/Sme/providers/rapp-provider-function.json")
    assert {f["apiProvFuncRole"] for f in provider["apiProvFuncs"]} == {"APF", "AEF"}
    api = _json(files, "Files/Sme/serviceapis/rapp-api.json")
    uris = {r["uri"] for p in api["aefProfiles"] for v in p["versions"] for r in v["resources"]}
    assert "/api/v1/decisions" in uris
    consumer = _json(files, "Files/Dme/infoconsumers/rapp-pm-consumer.json")
    assert consumer["info_type_id"] == "PmData"
    assert consumer["job_definition"]["deliveryInfo"]["topic"] == settings.kafka.topic
    # The job fits the PM producer's own type schema (the O-RAN SC ranpm copy in ../shared).
    schema = json.loads((SHARED / "samples" / "ics" / "typeSchemaPmData.json").read_text())
    jsonschema.Draft4Validator(schema).validate(consumer["job_definition"])
    # The type is the producer's: a copy here would hide, at priming, an ICS that lacks it.
    assert not [n for n in files if "infotypes/" in n]


def _tgz(entries: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w:gz") as tar:
        for name, data in entries.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return raw.getvalue()


def _without(path: str):
    return lambda f: {k: v for k, v in f.items() if k != path}


def _replace(path: str, data: bytes):
    return lambda f: f | {path: data}


def _asd_edit(edit):
    def apply(f: dict[str, bytes]) -> dict[str, bytes]:
        doc = yaml.safe_load(f["Definitions/asd.yaml"])
        edit(doc["topology_template"]["node_templates"]["applicationServiceDescriptor"])
        return f | {"Definitions/asd.yaml": yaml.safe_dump(doc).encode()}

    return apply


CHART_FILE = f"Artifacts/Deployment/HELM/rapp-{read_chart(CHART).version}.tgz"
BROKEN = {
    "no TOSCA.meta": (
        _without("TOSCA-Metadata/TOSCA.meta"),
        "missing a file TOSCA-Metadata/TOSCA.meta",
    ),
    "no compositions.json": (
        _without("Files/Acm/definition/compositions.json"),
        "missing a file Files/Acm/definition/compositions.json",
    ),
    "no Entry-Definitions": (
        _replace("TOSCA-Metadata/TOSCA.meta", b"TOSCA-Meta-File-Version: 1.0\n"),
        "no Entry-Definitions",
    ),
    "Entry-Definitions names a missing file": (
        _replace("TOSCA-Metadata/TOSCA.meta", b"Entry-Definitions: Definitions/other.yaml\n"),
        "Definitions/other.yaml, which the package lacks",
    ),
    "ASD not an ASD": (
        _replace("Definitions/asd.yaml", b"just: text\n"),
        "ASD definition in rApp package is invalid",
    ),
    "no descriptor_id": (
        _asd_edit(lambda a: a["properties"].pop("descriptor_id")),
        "ASD has no descriptor_id",
    ),
    "no descriptor_invariant_id": (
        _asd_edit(lambda a: a["properties"].pop("descriptor_invariant_id")),
        "ASD has no descriptor_invariant_id",
    ),
    "id not a UUID": (
        _asd_edit(lambda a: a["properties"].update(descriptor_id="rapp-1")),
        "descriptor_id 'rapp-1' is not a UUID",
    ),
    "chart artifact missing": (
        _without(CHART_FILE),
        f"names {CHART_FILE}, which the package lacks",
    ),
    "asd_types.yaml missing": (_without("Definitions/asd_types.yaml"), "imports asd_types.yaml"),
    "broken JSON": (
        _replace("Files/Acm/instances/rapp-instance.json", b'{"name": '),
        "Files/Acm/instances/rapp-instance.json: not valid JSON",
    ),
    "invokers not an array": (
        _replace("Files/Sme/invokers/rapp-invoker.json", b"{}"),
        "rapp-invoker.json: must hold an array",
    ),
    "broken YAML": (
        _replace("Definitions/asd_types.yaml", b"a: [b\n"),
        "asd_types.yaml: not valid YAML",
    ),
    "chart archive not a tgz": (_replace(CHART_FILE, b"not a tar"), "not a gzip'd tar archive"),
    "imports: null": (
        _replace(
            "Definitions/asd.yaml",
            b"imports:\ntopology_template: {node_templates: {applicationServiceDescriptor: {}}}\n",
        ),
        "ASD has no descriptor_id",
    ),
    "chart version with a regex metacharacter": (
        lambda f: _asd_edit(
            lambda a: a["artifacts"]["rapp"].update(file="Artifacts/Deployment/HELM/rapp-1+b.tgz")
        )(f | {"Artifacts/Deployment/HELM/rapp-1+b.tgz": f[CHART_FILE]}),
        "holds a regex metacharacter",
    ),
    "Chart.yaml not a mapping": (
        _replace(CHART_FILE, _tgz({"rapp/Chart.yaml": b"- just\n- a list\n"})),
        "Chart.yaml is not a mapping",
    ),
    "chart archive of another version": (
        _replace(
            CHART_FILE, _tgz({"rapp/Chart.yaml": b"apiVersion: v2\nname: rapp\nversion: 9.9.9\n"})
        ),
        "its Chart.yaml says rapp-9.9.9.tgz",
    ),
}


@pytest.mark.parametrize("case", BROKEN, ids=list(BROKEN))
def test_each_onboarding_check_refuses_what_it_is_there_for(files, case: str) -> None:
    mutate, expected = BROKEN[case]
    problems = check_files(mutate(dict(files)))
    assert any(expected in p for p in problems), problems


def test_ids_an_onboarded_package_has_are_refused(files: dict[str, bytes]) -> None:
    onboarded = _asd(files)["properties"]["descriptor_invariant_id"]
    problems = check_files(files, onboarded_ids={onboarded})
    assert problems == [
        f"Definitions/asd.yaml: ASD descriptor already exists (descriptor_invariant_id {onboarded})"
    ]


def test_a_package_not_named_csar_or_not_a_zip_is_refused(tmp_path: Path) -> None:
    path = build_csar(plan_from(Settings(), CHART), tmp_path)
    renamed = path.rename(tmp_path / "rapp.zip")
    assert check_csar(renamed) == ["rapp.zip: rApp package name should end with .csar"]
    garbage = tmp_path / "garbage.csar"
    garbage.write_bytes(b"PK but not really")
    assert "not a readable zip archive" in check_csar(garbage)[0]


def test_the_same_release_packs_to_the_same_bytes(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    plan = plan_from(Settings(), CHART)
    first = build_csar(plan, tmp_path / "a").read_bytes()
    assert build_csar(plan, tmp_path / "b").read_bytes() == first


def test_the_chart_archive_honours_helmignore(tmp_path: Path) -> None:
    chart = tmp_path / "demo"
    (chart / "templates").mkdir(parents=True)
    (chart / "ci").mkdir()
    (chart / "Chart.yaml").write_text("apiVersion: v2\nname: demo\nversion: 1.2.3\n")
    (chart / "values.yaml").write_text("a: 1\n")
    (chart / "values.yaml.bak").write_text("old\n")
    (chart / "templates" / "cm.yaml").write_text("kind: ConfigMap\n")
    (chart / "templates" / "keep.bak").write_text("kept\n")
    (chart / "ci" / "test-values.yaml").write_text("a: 2\n")
    (chart / ".helmignore").write_text("# comment\n*.bak\n!keep.bak\nci/\n")
    with tarfile.open(fileobj=io.BytesIO(archive_chart(read_chart(chart)))) as tar:
        names = tar.getnames()
    assert names[0] == "demo/Chart.yaml"
    assert sorted(names) == [
        "demo/.helmignore",
        "demo/Chart.yaml",
        "demo/templates/cm.yaml",
        "demo/templates/keep.bak",
        "demo/values.yaml",
    ]


def test_rapp_package_builds_and_checks_from_the_command_line(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        [
            "package",
            "--out",
            str(tmp_path),
            "--chart",
            str(CHART),
            "--chart-repository",
            "http://charts:8080",
        ],
    )
    assert result.exit_code == 0, result.output
    path = tmp_path / f"rapp-{__version__}.csar"
    assert f"{path}: passes the rApp Manager's onboarding checks" in result.output
    with zipfile.ZipFile(path) as csar:
        instance = json.loads(csar.read("Files/Acm/instances/rapp-instance.json"))
    charts = [
        e["properties"]["chart"]
        for e in instance["elements"].values()
        if "chart" in e["properties"]
    ]
    assert charts[0]["repository"]["address"] == "http://charts:8080"

    broken = tmp_path / "broken.csar"
    with zipfile.ZipFile(path) as src, zipfile.ZipFile(broken, "w") as dst:
        for name in src.namelist():
            if name != "Files/Acm/definition/compositions.json":
                dst.writestr(name, src.read(name))
    result = runner.invoke(app, ["package", "--check", str(broken)])
    assert result.exit_code == 1
    assert "missing a file Files/Acm/definition/compositions.json" in result.output


def test_rapp_package_names_a_missing_chart(tmp_path: Path) -> None:
    result = runner.invoke(app, ["package", "--chart", str(tmp_path / "nope")])
    assert result.exit_code == 2
    assert "has no Chart.yaml" in result.output
