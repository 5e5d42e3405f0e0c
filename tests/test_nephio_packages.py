"""Package edits: quantities, Capacity -> NFDeployment mirroring, and formatting that survives."""

from __future__ import annotations

import difflib
import re
from decimal import Decimal
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from rapp.enact.packages import (
    Capacity,
    PackageError,
    read_capacity,
    set_capacity,
    set_package_name,
)
from rapp.quantity import format_quantity, parse_quantity
from simulators.nephio.seed import BLUEPRINT, load_blueprint

# The deployed form of capacity.yaml after a PackageVariant clone (Nephio docs, exercise-1-free5gc).
DEPLOYED_CAPACITY = """\
apiVersion: req.nephio.org/v1alpha1
kind: Capacity
metadata: # kpt-merge: /dataplane
  name: dataplane
  annotations:
    config.kubernetes.io/local-config: "true"
    specializer.nephio.org/owner: workload.nephio.org/v1alpha1.UPFDeployment.upf-edge01
    specializer.nephio.org/namespace: free5gc-upf
    internal.kpt.dev/upstream-identifier: 'req.nephio.org|Capacity|default|dataplane'
spec:
  maxUplinkThroughput: 5G
  maxDownlinkThroughput: 5G
"""

# A rendered NFDeployment sharing a file with another resource; names chosen so that nothing can
# be found by file name.
RENDERED_NF = """\
apiVersion: v1
kind: Namespace
metadata: # kpt-merge: /free5gc-upf
  name: free5gc-upf
---
apiVersion: workload.nephio.org/v1alpha1
kind: NFDeployment
metadata: # kpt-merge: free5gc-upf/upf-edge01
  name: upf-edge01
  namespace: free5gc-upf
  annotations:
    internal.kpt.dev/upstream-identifier: 'workload.nephio.org|NFDeployment|upf-example|upf-example'
spec:
  provider: upf.free5gc.io
  capacity:
    maxDownlinkThroughput: 5G # written by nfdeploy-fn
    maxUplinkThroughput: 5G
    maxSessions: 7
  interfaces:
    - name: n3
      ipv4:
        address: 172.3.0.254/24
        gateway: 172.3.0.1
      vlanID: 2
  networkInstances:
    - name: vpc-internet
      interfaces: [n6]
"""


def _docs(text: str) -> list[object]:
    return list(YAML(typ="safe").load_all(text))


def _changed_lines(before: str, after: str) -> list[str]:
    return [
        line
        for line in difflib.unified_diff(before.splitlines(), after.splitlines(), lineterm="", n=0)
        if line[:1] in "+-" and not line.startswith(("+++", "---"))
    ]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("5G", Decimal(5_000_000_000)),
        ("10G", Decimal(10_000_000_000)),
        ("1.5Gi", Decimal(3 * 2**29)),
        ("512Mi", Decimal(512 * 2**20)),
        ("500m", Decimal("0.5")),
        ("1e3", Decimal(1000)),
        ("+2k", Decimal(2000)),
        ("1000", Decimal(1000)),
        (".5T", Decimal(500_000_000_000)),
    ],
)
def test_parse_quantity(text: str, value: Decimal) -> None:
    assert parse_quantity(text) == value


@pytest.mark.parametrize("bad", ["", "G", "5 G", "5g", "5Gb", "1.2.3", "5KiB"])
def test_parse_quantity_rejects_garbage(bad: str) -> None:
    with pytest.raises(ValueError, match="quantity"):
        parse_quantity(bad)


@pytest.mark.parametrize(
    ("value", "binary", "text"),
    [
        (Decimal(5_000_000_000), False, "5G"),
        (Decimal(1_500_000_000), False, "1500M"),
        (Decimal(20_000_000_000), False, "20G"),
        (Decimal(999), False, "999"),
        (Decimal("0.5"), False, "500m"),
        (Decimal(0), False, "0"),
        (Decimal(2**30), True, "1Gi"),
        (Decimal(1536 * 2**20), True, "1536Mi"),
        (Decimal(1000), True, "1k"),
    ],
)
def test_format_quantity(value: Decimal, binary: bool, text: str) -> None:
    assert format_quantity(value, binary=binary) == text
    assert parse_quantity(text) == value


def test_read_capacity_of_the_blueprint() -> None:
    assert read_capacity(load_blueprint(BLUEPRINT)) == Capacity("5G", "5G")


def test_set_capacity_touches_only_the_two_resources() -> None:
    before = load_blueprint(BLUEPRINT)
    after = set_capacity(before, uplink="10G", downlink="20G")

    assert set(after) == set(before)
    changed = {n for n in before if after[n] != before[n]}
    assert changed == {"capacity.yaml", "upfdeployment.yaml"}
    assert read_capacity(after) == Capacity("10G", "20G")

    assert _changed_lines(before["capacity.yaml"], after["capacity.yaml"]) == [
        "-  maxUplinkThroughput: 5G",
        "-  maxDownlinkThroughput: 5G",
        "+  maxUplinkThroughput: 10G",
        "+  maxDownlinkThroughput: 20G",
    ]
    (cap_old,), (cap_new,) = _docs(before["capacity.yaml"]), _docs(after["capacity.yaml"])
    cap_old["spec"] = {"maxUplinkThroughput": "10G", "maxDownlinkThroughput": "20G"}
    assert cap_new == cap_old

    (nf_old,), (nf_new,) = _docs(before["upfdeployment.yaml"]), _docs(after["upfdeployment.yaml"])
    # nfdeploy-fn copies Capacity.spec verbatim; provider keeps its place before it.
    assert list(nf_new["spec"]) == ["provider", "capacity"]
    assert nf_new["spec"].pop("capacity") == {
        "maxUplinkThroughput": "10G",
        "maxDownlinkThroughput": "20G",
    }
    assert nf_new == nf_old


def test_set_capacity_keeps_comments_quotes_and_finds_resources_by_kind() -> None:
    before = {
        "Kptfile": "apiVersion: kpt.dev/v1\nkind: Kptfile\nmetadata:\n  name: upf\n",
        "zz-capacity-moved.yml": DEPLOYED_CAPACITY,
        "everything.yaml": RENDERED_NF,
        "README.md": "capacity.yaml is not here\n",
    }
    after = set_capacity(before, uplink="10G", downlink="10G")

    assert after["Kptfile"] is before["Kptfile"]
    assert after["README.md"] is before["README.md"]
    assert _changed_lines(DEPLOYED_CAPACITY, after["zz-capacity-moved.yml"]) == [
        "-  maxUplinkThroughput: 5G",
        "-  maxDownlinkThroughput: 5G",
        "+  maxUplinkThroughput: 10G",
        "+  maxDownlinkThroughput: 10G",
    ]
    assert "metadata: # kpt-merge: /dataplane\n" in after["zz-capacity-moved.yml"]
    assert "'req.nephio.org|Capacity|default|dataplane'" in after["zz-capacity-moved.yml"]
    # The stale maxSessions goes (Capacity has none); key order, comments, style stay.
    assert _changed_lines(RENDERED_NF, after["everything.yaml"]) == [
        "-    maxDownlinkThroughput: 5G # written by nfdeploy-fn",
        "-    maxUplinkThroughput: 5G",
        "-    maxSessions: 7",
        "+    maxDownlinkThroughput: 10G # written by nfdeploy-fn",
        "+    maxUplinkThroughput: 10G",
    ]


def test_set_capacity_mirrors_every_capacity_field() -> None:
    files = load_blueprint(BLUEPRINT)
    files["capacity.yaml"] += "  maxSessions: 500\n"
    after = set_capacity(files, uplink="1000", downlink="2G")
    (nf,) = _docs(after["upfdeployment.yaml"])
    assert nf["spec"]["capacity"] == {
        "maxUplinkThroughput": 1000,
        "maxDownlinkThroughput": "2G",
        "maxSessions": 500,
    }


def test_set_capacity_errors() -> None:
    files = load_blueprint(BLUEPRINT)
    no_nf = {k: v for k, v in files.items() if k != "upfdeployment.yaml"}
    with pytest.raises(
        PackageError, match=re.escape("no workload.nephio.org/v1alpha1 NFDeployment")
    ):
        set_capacity(no_nf, uplink="1G", downlink="1G")
    no_cap = {k: v for k, v in files.items() if k != "capacity.yaml"}
    with pytest.raises(PackageError, match=re.escape("no req.nephio.org/v1alpha1 Capacity")):
        read_capacity(no_cap)
    twice = {**files, "again.yaml": files["capacity.yaml"]}
    with pytest.raises(PackageError, match=re.escape("2 req.nephio.org/v1alpha1 Capacity")):
        set_capacity(twice, uplink="1G", downlink="1G")
    with pytest.raises(PackageError, match=re.escape("broken.yaml: not valid YAML")):
        read_capacity({**files, "broken.yaml": "kind: Capacity\na: [\n"})
    # Only files that can hold the resource are parsed: an unrelated broken one is not read.
    assert read_capacity({**files, "notes.yaml": "a: [\n"}).max_downlink == "5G"
    with pytest.raises(ValueError, match="quantity"):
        set_capacity(files, uplink="lots", downlink="1G")


def test_set_package_name() -> None:
    before = load_blueprint(BLUEPRINT)
    after = set_package_name(before, "upf-edge01")
    assert {n for n in before if after[n] != before[n]} == {"Kptfile", "package-context.yaml"}
    assert _changed_lines(before["Kptfile"], after["Kptfile"]) == [
        "-  name: pkg-upf",
        "+  name: upf-edge01",
    ]
    assert _docs(after["package-context.yaml"])[0]["data"] == {"name": "upf-edge01"}


def test_shipped_blueprint_is_a_byte_copy(samples: Path) -> None:
    original = samples / "nephio" / "pkg-example-upf-bp"
    shipped = {p.name: p.read_bytes() for p in BLUEPRINT.iterdir()}
    assert shipped == {p.name: p.read_bytes() for p in original.iterdir()}
