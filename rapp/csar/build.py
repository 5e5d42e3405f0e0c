"""``rapp package``: the rApp as a CSAR the O-RAN SC rApp Manager onboards."""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from rapp import __version__
from rapp.config import Settings
from rapp.csar import descriptors as d
from rapp.csar import instance as i
from rapp.csar.chart import archive_chart, read_chart
from rapp.ric import configured_pm_job

_EPOCH = (1980, 1, 1, 0, 0, 0)  # zip's earliest time: entries carry no build time


def plan_from(
    settings: Settings,
    chart_dir: Path,
    *,
    kafka_bootstrap: str | None = None,
    kafka_topic: str | None = None,
    **overrides: Any,
) -> d.PackagePlan:
    """The package plan for these settings: the PM job the rApp would register itself, the
    policy types it writes, the A1-PMS service it runs under, the SME names it discovers.

    The job delivers to the brokers and topic the chart's pod consumes (its values.yaml
    ``kafka``, unless given), and the instance passes both to the chart, so the two cannot
    drift apart; a job delivering to the packager's own ``127.0.0.1`` would deliver nothing."""
    chart = read_chart(chart_dir)
    chart_kafka = chart.values.get("kafka") or {}
    bootstrap = kafka_bootstrap or str(chart_kafka.get("bootstrap") or settings.kafka.bootstrap)
    topic = kafka_topic or str(chart_kafka.get("topic") or settings.kafka.topic)
    a1 = settings.a1
    job = configured_pm_job(settings.ics, topic=topic, bootstrap=bootstrap)
    types = resources.files("simulators.a1pms").joinpath("types")
    policy_types = {
        type_id: json.loads(types.joinpath(f"{type_id}.json").read_text("utf-8"))
        for type_id in (a1.policy_type_id, a1.healing_policy_type_id)
        if types.joinpath(f"{type_id}.json").is_file()
    }
    fields: dict[str, Any] = {
        "version": __version__,
        "chart": chart,
        "overrides": {
            "kafka.bootstrap": bootstrap,
            "kafka.topic": topic,
            # The A1-PMS participant registered the service and deletes it at undeploy.
            "a1pms.deregisterOnStop": "false",
        },
        "pm_job": job,
        "policy_types": policy_types,
        "a1pms_api": settings.sme.a1pms_api,
        "ics_api": settings.sme.ics_api,
        "a1_service_id": a1.service_id,
        "a1_keepalive_s": a1.keepalive_s,
    }
    return d.PackagePlan(**(fields | overrides))


def package_files(plan: d.PackagePlan) -> dict[str, bytes]:
    """Every file of the package by its path in the archive, manifest last."""

    def as_json(doc: Any) -> bytes:
        return (json.dumps(doc, indent=2) + "\n").encode()

    def as_yaml(doc: Any) -> bytes:
        return yaml.safe_dump(doc, sort_keys=False, allow_unicode=True).encode()

    files: dict[str, bytes] = {
        "TOSCA-Metadata/TOSCA.meta": d.tosca_meta(plan).encode(),
        "Definitions/asd.yaml": as_yaml(d.asd(plan)),
        "Definitions/asd_types.yaml": as_yaml(d.asd_types()),
        "Files/Acm/definition/compositions.json": as_json(d.acm_composition()),
        f"Files/Acm/instances/{i.ACM_INSTANCE}.json": as_json(i.acm_instance(plan)),
        f"Files/Sme/providers/{i.SME_PROVIDER}.json": as_json(i.sme_provider(plan)),
        f"Files/Sme/serviceapis/{i.SME_API}.json": as_json(i.sme_service_api(plan)),
        f"Files/Sme/invokers/{i.SME_INVOKER}.json": as_json(i.sme_invokers(plan)),
        f"Files/Dme/infoconsumers/{i.DME_CONSUMER}.json": as_json(i.dme_consumer(plan)),
        **{
            f"Files/A1/policytypes/{type_id}.json": as_json(schema)
            for type_id, schema in sorted(plan.policy_types.items())
        },
        plan.chart_file: archive_chart(plan.chart),
    }
    # SOURCE_DATE_EPOCH (reproducible-builds.org) pins the one date in the package.
    epoch = os.environ.get("SOURCE_DATE_EPOCH")
    when = datetime.fromtimestamp(int(epoch), UTC) if epoch else datetime.now(UTC)
    release = when.replace(microsecond=0).isoformat()
    files["asd.mf"] = d.manifest(plan, release, ["asd.mf", *sorted(files)]).encode()
    return files


def build_csar(
    plan: d.PackagePlan,
    out_dir: Path,
    *,
    progress: Callable[[str], None] = lambda _: None,
) -> Path:
    """Write ``<name>-<version>.csar`` into ``out_dir`` (a plain zip, entries at the root, as
    the rApp Manager's own ``generate.sh`` makes them) and return its path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / plan.csar_name
    partial = target.with_suffix(".csar.partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as csar:
        for name, data in package_files(plan).items():
            progress(f"{name} ({len(data):,} bytes)")
            entry = zipfile.ZipInfo(name, _EPOCH)
            entry.external_attr = 0o644 << 16  # rw-r--r-- once unzipped
            csar.writestr(entry, data, zipfile.ZIP_DEFLATED)
    partial.replace(target)  # a half-written package is never left under the real name
    return target
