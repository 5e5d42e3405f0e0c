"""Declared package mutations: the shipped ones (free5gc UPF Capacity, Deployment replicas) and
one an operator adds in configuration, on real package files."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from rapp.config import NephioSettings, Settings
from rapp.enact.mutations import Mutations
from rapp.enact.packages import PackageError, read_capacity, set_capacity
from simulators.nephio.seed import load_blueprint

SHIPPED = Mutations(NephioSettings().mutations)

DEPLOYMENT = """\
apiVersion: apps/v1
kind: Deployment
metadata: # kpt-merge: /web
  name: web
spec:
  replicas: 2 # sized by the rApp
  template:
    spec:
      containers:
        - name: web
          image: nginx
"""

KPTFILE = "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: web\n"

SLICE = """\
apiVersion: example.com/v1
kind: SliceProfile
metadata:
  name: embb
spec:
  resources:
    bandwidth: 100M
    burst: 150M
"""


def yaml_of(text: str) -> dict:
    return YAML(typ="safe").load(text)


def test_the_upf_mutation_does_what_the_coded_capacity_edit_does() -> None:
    files = load_blueprint()
    declared = SHIPPED.apply(files, capacity_to="10G", ratio=Decimal(2))
    coded = set_capacity(files, uplink="10G", downlink="10G")
    assert declared == coded
    assert read_capacity(declared).max_downlink == "10G"
    assert SHIPPED.read(declared) == "10G"
    assert SHIPPED.for_files(files).name == "free5gc-upf-capacity"


def test_the_upf_uplink_follows_the_decisions_ratio() -> None:
    files = set_capacity(load_blueprint(), uplink="2G", downlink="5G")
    scaled = SHIPPED.apply(files, capacity_to="20G", ratio=Decimal(4))
    assert read_capacity(scaled).max_uplink == "8G"
    nf = next(
        d
        for name, text in scaled.items()
        if name.endswith(".yaml")
        for d in YAML(typ="safe").load_all(text)
        if d and d.get("kind") == "NFDeployment"
    )
    assert nf["spec"]["capacity"] == {"maxUplinkThroughput": "8G", "maxDownlinkThroughput": "20G"}


def test_a_deployment_scales_by_replicas_and_keeps_its_comments() -> None:
    files = {"Kptfile": KPTFILE, "deployment.yaml": DEPLOYMENT}
    assert SHIPPED.for_files(files).name == "deployment-replicas"
    assert SHIPPED.read(files) == "2"
    scaled = SHIPPED.apply(files, capacity_to="4", ratio=Decimal(2))
    assert yaml_of(scaled["deployment.yaml"])["spec"]["replicas"] == 4
    assert scaled["deployment.yaml"] == DEPLOYMENT.replace("replicas: 2", "replicas: 4")
    assert scaled["Kptfile"] == KPTFILE
    with pytest.raises(PackageError, match="not a whole number"):
        SHIPPED.apply(files, capacity_to="2.5", ratio=Decimal("1.25"))


def test_an_operator_declares_a_mutation_in_configuration(tmp_path: Path) -> None:
    config = tmp_path / "rapp.yaml"
    config.write_text(
        """\
nephio:
  mutations:
    - name: slice-bandwidth
      resource: {api_version: example.com/v1, kind: SliceProfile, name: embb}
      capacity: spec.resources.bandwidth
      scaled: [spec.resources.burst]
"""
    )
    mutations = Mutations(Settings.load(config).nephio.mutations)
    files = {"Kptfile": KPTFILE, "slice.yaml": SLICE}
    assert mutations.read(files) == "100M"
    scaled = mutations.apply(files, capacity_to="200M", ratio=Decimal(2))
    assert yaml_of(scaled["slice.yaml"])["spec"]["resources"] == {
        "bandwidth": "200M",
        "burst": "300M",
    }
    # Declared mutations replace the shipped ones: a UPF package fits none of them now.
    with pytest.raises(PackageError, match=r"no declared mutation fits.*slice-bandwidth"):
        mutations.read(load_blueprint())


def test_a_mutation_that_names_a_missing_field_or_a_bad_value_is_refused() -> None:
    settings = NephioSettings.model_validate(
        {
            "mutations": [
                {
                    "name": "broken",
                    "resource": {"api_version": "apps/v1", "kind": "Deployment"},
                    "capacity": "spec.replicas",
                    "scaled": ["spec.template.spec.cpu"],
                }
            ]
        }
    )
    files = {"Kptfile": KPTFILE, "deployment.yaml": DEPLOYMENT}
    with pytest.raises(PackageError, match=r"apps/v1 Deployment has no spec\.template\.spec\.cpu"):
        Mutations(settings.mutations).apply(files, capacity_to="4", ratio=Decimal(2))
    with pytest.raises(ValueError, match="lots"):
        SHIPPED.apply(files, capacity_to="lots", ratio=Decimal(2))
    with pytest.raises(ValueError, match="extra"):
        NephioSettings.model_validate({"mutations": [{"name": "x", "resourse": {}}]})


def test_only_files_that_can_hold_the_resource_are_parsed_whatever_their_style() -> None:
    flow = "{apiVersion: apps/v1, kind: Deployment, metadata: {name: web}, spec: {replicas: 3}}\n"
    # A file that only mentions the kind in a selector is not a candidate, so its broken YAML
    # does not stop the edit; a flow-style document is found all the same.
    selector = "replacements:\n  - source:\n      kind: Deployment\n    broken: [\n"
    files = {"Kptfile": KPTFILE, "web.yaml": flow, "replacements.yaml": selector}
    assert SHIPPED.read(files) == "3"
    scaled = SHIPPED.apply(files, capacity_to="6", ratio=Decimal(2))
    assert yaml_of(scaled["web.yaml"])["spec"]["replicas"] == 6
    assert scaled["replacements.yaml"] == selector


def test_from_zero_replicas_scale_but_fields_that_follow_a_ratio_cannot() -> None:
    from rapp.domain import Action, Decision
    from rapp.enact.desired import scale_package

    files = {
        "Kptfile": KPTFILE,
        "deployment.yaml": DEPLOYMENT.replace("replicas: 2", "replicas: 0"),
    }
    up = Decision.new(Action.SCALE_OUT, "web", [], datetime(2026, 11, 24, tzinfo=UTC), "0", "2")
    scaled = scale_package(files, up, SHIPPED)
    assert yaml_of(scaled["deployment.yaml"])["spec"]["replicas"] == 2
    slice_files = {"Kptfile": KPTFILE, "slice.yaml": SLICE.replace("100M", "0")}
    mutations = Mutations(
        NephioSettings.model_validate(
            {
                "mutations": [
                    {
                        "name": "slice-bandwidth",
                        "resource": {"api_version": "example.com/v1", "kind": "SliceProfile"},
                        "capacity": "spec.resources.bandwidth",
                        "scaled": ["spec.resources.burst"],
                    }
                ]
            }
        ).mutations
    )
    grow = Decision.new(Action.SCALE_OUT, "s", [], datetime(2026, 11, 24, tzinfo=UTC), "0", "100M")
    with pytest.raises(PackageError, match="cannot scale"):
        scale_package(slice_files, grow, mutations)
