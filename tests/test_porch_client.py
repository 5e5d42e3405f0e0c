"""The rApp's Porch client against the Porch simulator (real git underneath, real HTTP on
127.0.0.1): the porchctl flow, idempotency by workspace, drafts never left behind, and the
saga publishing through Porch while every second write is answered stale."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from dbos import DBOS

from rapp.config import A1Settings, EnactSettings, NephioSettings, PorchSettings
from rapp.domain import Action, Decision, OutcomeState
from rapp.enact import Enactor, launch, shutdown
from rapp.enact.nephio import PublishError
from rapp.enact.packages import Capacity, PackageError, read_capacity, set_capacity
from rapp.enact.porch import PorchPackages
from rapp.store import Journal
from simulators.a1pms import create_app as a1pms_app
from simulators.nephio import seed_repository
from simulators.porch import create_app as porch_app
from tests.conftest import free_port, serve
from tests.e2e_support import tags_of, workspace_of

PACKAGES = [f"free5gc-upf-site-{i:02d}" for i in range(1, 7)]
API = "/apis/porch.kpt.dev/v1alpha1/namespaces/default"
_names = itertools.count()


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    bare = tmp_path / "deployment.git"
    seed_repository(bare, PACKAGES)
    return bare


@pytest.fixture
def porch(repo: Path, tmp_path: Path) -> Iterator[str]:
    # Drafts report ready only after a while: the client must wait for the gates.
    app = porch_app({"deployment": str(repo)}, workdir=tmp_path / "porch", ready_delay_s=0.3)
    with serve(app) as url:
        yield url


def client(url: str, **kwargs: object) -> PorchPackages:
    return PorchPackages(url, repository="deployment", **kwargs)  # type: ignore[arg-type]


def scale(to: str):
    return lambda files: set_capacity(files, uplink=to, downlink=to)


def unpublished(url: str) -> list[str]:
    items = httpx.get(f"{url}{API}/packagerevisions").json()["items"]
    return [i["metadata"]["name"] for i in items if i["spec"]["lifecycle"] != "Published"]


def test_a_revision_goes_through_the_whole_porch_flow(porch: str, repo: Path) -> None:
    packages = client(porch)
    assert packages.packages() == PACKAGES
    pkg = PACKAGES[0]
    revision = packages.publish(pkg, "rapp-d1", scale("10G"), message="scale out")
    assert (revision.package, revision.revision, revision.tag) == (pkg, 2, f"{pkg}/v2")
    assert revision.commit == f"deployment.{pkg}.rapp-d1"  # Porch's name, from the server
    # The files as Porch rendered them (nfdeploy-fn mirrored the Capacity).
    assert read_capacity(revision.files) == Capacity("10G", "10G")
    assert read_capacity(packages.read(pkg)) == Capacity("10G", "10G")
    assert packages.latest_revision(pkg).revision == 2
    # Published in git the way Porch publishes, and nothing left unpublished.
    assert tags_of(repo, pkg) == [f"{pkg}/v1", f"{pkg}/v2"]
    assert workspace_of(repo, f"{pkg}/v2") == "rapp-d1"
    assert unpublished(porch) == []
    # Again with the same workspace: found, nothing written.
    writes = httpx.get(f"{porch}/admin/stats").json()
    again = packages.publish(pkg, "rapp-d1", scale("20G"))
    assert again.tag == f"{pkg}/v2"
    assert packages.find_revision(pkg, "rapp-d1").tag == f"{pkg}/v2"
    assert httpx.get(f"{porch}/admin/stats").json().get("writes") == writes.get("writes")


def test_an_edit_that_changes_nothing_or_is_refused_leaves_no_draft(porch: str) -> None:
    packages = client(porch)
    pkg = PACKAGES[1]
    assert packages.publish(pkg, "same", scale("5G"), if_unchanged="latest").tag == f"{pkg}/v1"
    with pytest.raises(PackageError, match="no change"):
        packages.publish(pkg, "same-again", scale("5G"))

    def refuse(files: dict[str, str]) -> dict[str, str]:
        raise PackageError("stale decision")

    with pytest.raises(PackageError, match="stale decision"):
        packages.publish(pkg, "refused", refuse)
    assert unpublished(porch) == []
    assert packages.latest_revision(pkg).revision == 1


def test_a_draft_left_by_a_crash_is_carried_on_not_doubled(porch: str, repo: Path) -> None:
    pkg = PACKAGES[2]
    source = f"deployment.{pkg}.{client(porch).latest_revision(pkg).workspace}"
    body = {
        "apiVersion": "porch.kpt.dev/v1alpha1",
        "kind": "PackageRevision",
        "metadata": {"namespace": "default"},
        "spec": {
            "packageName": pkg,
            "repository": "deployment",
            "workspaceName": "rapp-crashed",
            "lifecycle": "Draft",
            "tasks": [{"type": "edit", "edit": {"sourceRef": {"name": source}}}],
        },
    }
    httpx.post(f"{porch}{API}/packagerevisions", json=body).raise_for_status()
    revision = client(porch).publish(pkg, "rapp-crashed", scale("20G"))
    assert revision.tag == f"{pkg}/v2"
    assert read_capacity(client(porch).read(pkg)) == Capacity("20G", "20G")
    assert unpublished(porch) == []
    assert tags_of(repo, pkg) == [f"{pkg}/v1", f"{pkg}/v2"]


def test_stale_and_in_flight_answers_are_reread_and_retried(porch: str) -> None:
    httpx.post(f"{porch}/admin/conflicts", json={"stale_every": 2}).raise_for_status()
    packages = client(porch)
    for i, pkg in enumerate(PACKAGES[:3]):
        assert packages.publish(pkg, f"storm-{i}", scale("10G")).revision == 2
    httpx.post(f"{porch}/admin/conflicts", json={"in_flight_every": 2}).raise_for_status()
    assert packages.publish(PACKAGES[3], "busy", scale("10G")).revision == 2
    injected = httpx.get(f"{porch}/admin/stats").json()["conflicts"]["injected"]
    assert injected["stale"] > 0
    assert injected["in_flight"] > 0
    assert unpublished(porch) == []


def test_a_porch_that_is_not_there_is_a_transient_failure() -> None:
    packages = client(f"http://127.0.0.1:{free_port()}", timeout_s=2)
    with pytest.raises(PublishError, match="Porch at") as failed:
        packages.publish(PACKAGES[0], "nowhere", scale("10G"))
    assert failed.value.transient


# -- the saga publishing through Porch ---------------------------------------------------------


@pytest.fixture
def dbos(tmp_path: Path) -> Iterator[None]:
    launch(EnactSettings(system_database_url=f"sqlite:///{tmp_path / 'dbos.sqlite'}"))
    yield
    shutdown()


def test_a_conflict_storm_does_not_stop_enactments(
    porch: str, repo: Path, tmp_path: Path, dbos: None
) -> None:
    """Every second Porch write is answered stale: each decision is still enacted once."""
    httpx.post(f"{porch}/admin/conflicts", json={"stale_every": 2}).raise_for_status()
    journal = Journal(f"sqlite:///{tmp_path / 'journal.sqlite'}")
    rop = datetime(2026, 11, 24, 9, tzinfo=UTC)
    ladder = ["5G", "10G", "20G"]
    decisions = [
        Decision.new(
            Action.SCALE_OUT, pkg, [f"ManagedElement={pkg},NRCellDU=1"],
            rop + timedelta(minutes=15 * step), ladder[step], ladder[step + 1],
        )
        for pkg in PACKAGES
        for step in range(2)
    ]  # fmt: skip
    with serve(a1pms_app()) as a1pms:
        enactor = Enactor(
            a1=A1Settings(url=a1pms),
            nephio=NephioSettings(
                writer="porch", porch=PorchSettings(url=porch, repository="deployment")
            ),
            journal=journal,
            name=f"porch-enactor-{next(_names)}",
        )

        async def run() -> list[dict]:
            for d in decisions:
                journal.record_decision(d)
                await enactor.start(d)
            handles = [await DBOS.retrieve_workflow_async(d.id) for d in decisions]
            return [await h.get_result() for h in handles]

        outcomes = asyncio.run(run())
    journal.close()
    assert [o["state"] for o in outcomes] == [OutcomeState.ENACTED.value] * len(decisions), [
        o["detail"] for o in outcomes
    ]
    for pkg in PACKAGES:
        assert tags_of(repo, pkg) == [f"{pkg}/v1", f"{pkg}/v2", f"{pkg}/v3"]
        assert read_capacity(client(porch).read(pkg)) == Capacity("20G", "20G")
    assert unpublished(porch) == []
    stats = httpx.get(f"{porch}/admin/stats").json()
    assert stats["conflicts"]["injected"]["stale"] >= len(decisions)


def test_a_package_porch_cannot_render_is_refused_for_good_and_its_draft_removed(
    porch: str,
) -> None:
    def breaks(files: dict[str, str]) -> dict[str, str]:
        return {**files, "capacity.yaml": "kind: Capacity\nspec: [\n"}

    with pytest.raises(PublishError, match="error rendering package") as refused:
        client(porch).publish(PACKAGES[4], "unrenderable", breaks)
    assert not refused.value.transient  # a 500 that will not pass by itself
    assert unpublished(porch) == []


def test_the_service_account_token_is_read_at_every_call_and_a_missing_one_is_waited_for(
    porch: str, tmp_path: Path
) -> None:
    """A projected token is rotated on disk: each call sends the current one; a token not
    mounted yet is a transient failure, not a refusal."""
    token = tmp_path / "token"
    seen: list[str | None] = []

    def forward(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("authorization"))
        with httpx.Client() as real:
            return real.send(request)

    packages = client(porch, token_file=token, transport=httpx.MockTransport(forward))
    try:
        with pytest.raises(PublishError) as caught:
            packages.packages()
        assert caught.value.transient
        assert "cannot read token file" in str(caught.value)
        token.write_text("first\n")
        assert packages.packages() == sorted(PACKAGES)
        token.write_text("second")
        packages.packages()
    finally:
        packages.close()
    assert seen[0] == "Bearer first"
    assert seen[-1] == "Bearer second"
