"""The Porch simulator's git side: the exact layout it writes, agreement with the rApp's direct
git writer (both ways, through a re-sync), renumbering after a lost race, and concurrent clients.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from rapp.enact.nephio import GitPackageRepo
from rapp.enact.packages import set_capacity
from simulators.nephio.seed import BLUEPRINT, SEED_WORKSPACE, load_blueprint
from simulators.porch import pipeline
from simulators.process import start_simulator
from tests import test_porch_simulator as base
from tests.conftest import poll
from tests.test_porch_simulator import BASE, PKG, REPO, SEEDED, Porch, git, refs, status_of

# The same fixtures as the API tests: a seeded repository copy and a simulator serving it.
git_config = base.git_config
seeded_template = base.seeded_template
bare = base.bare
porch = base.porch

LATEST = "kpt.dev/latest-revision"


def raw_message(repo: Path, commit: str) -> str:
    """A commit's message exactly as stored (git log would reflow it)."""
    return git(repo, "cat-file", "commit", commit).split("\n\n", 1)[1] + "\n"


def parents(repo: Path, commit: str) -> list[str]:
    return git(repo, "rev-list", "--parents", "-n1", commit).split()[1:]


def writer(repo: Path, tmp_path: Path, name: str = "writer") -> GitPackageRepo:
    """The rApp's direct-to-git writer on the same repository."""
    return GitPackageRepo(str(repo), tmp_path / name, author_name="rapp")


def scale_to(to: str) -> Any:
    return lambda files: set_capacity(files, uplink=to, downlink=to)


def ready(pr: dict[str, Any]) -> bool:
    """porchctl's ``PackageRevisionIsReady``: every readiness gate has a True condition."""
    conditions = {c["type"]: c["status"] for c in pr["status"].get("conditions", [])}
    return all(conditions.get(g["conditionType"]) == "True" for g in pr["spec"]["readinessGates"])


def wait_ready(porch: Porch, name: str) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        pr = porch.get(name)
        return pr if ready(pr) else None

    return poll(check, timeout=10)


def test_enactment_flow_writes_porchs_git_layout(porch: Porch) -> None:
    main_before = git(porch.bare, "rev-parse", "main")
    nested_before = git(porch.bare, "rev-parse", "main:nested/upf2")
    # 1. the latest published revision, by label
    (latest,) = porch.list(f"{LATEST}=true", packageName=PKG, repository=REPO)
    assert latest["metadata"]["name"] == SEEDED
    # 2. a Draft copied from it
    created = porch.draft("rapp-2", task={"type": "edit", "edit": {"sourceRef": {"name": SEEDED}}})
    name = created["metadata"]["name"]
    draft_head = git(porch.bare, "rev-parse", f"drafts/{PKG}/rapp-2")
    assert git(porch.bare, "rev-parse", f"{draft_head}^") == main_before
    assert raw_message(porch.bare, draft_head) == (
        "Creating new revision by copying previous revision\n\n\nkpt:"
        + json.dumps(
            {
                "package": PKG,
                "workspaceName": "rapp-2",
                "revision": "0",
                "task": {"type": "edit", "edit": {"sourceRef": {"name": SEEDED}}},
            },
            separators=(",", ":"),
        )
        + "\n"
    )
    # 3. ready, 4. resources edited (the pipeline mirrors Capacity), 5. proposed, 6. approved
    assert wait_ready(porch, name)["spec"]["lifecycle"] == "Draft"
    assert porch.scale(name, "10G").status_code == 200
    rendered_head = git(porch.bare, "rev-parse", f"drafts/{PKG}/rapp-2")
    assert raw_message(porch.bare, rendered_head).startswith("Rendering package\n\n\nkpt:")
    assert porch.move(name, "Proposed").status_code == 200
    assert git(porch.bare, "rev-parse", f"proposed/{PKG}/rapp-2") == rendered_head
    published = porch.move(name, "Published", approval=True).json()
    assert (published["spec"]["revision"], published["spec"]["lifecycle"]) == (2, "Published")
    assert published["metadata"]["labels"] == {LATEST: "true"}
    assert published["status"]["publishedBy"] == "porch-simulator@localhost"
    assert published["status"]["publishTimestamp"].endswith("Z")
    assert "labels" not in porch.get(SEEDED)["metadata"]  # the label moved
    # The tag: lightweight, on the new main, Porch's message, merge of main and the proposal.
    tag = f"refs/tags/{PKG}/v2"
    assert git(porch.bare, "cat-file", "-t", tag) == "commit"
    approval = git(porch.bare, "rev-parse", tag)
    assert git(porch.bare, "rev-parse", "main") == approval
    assert raw_message(porch.bare, approval) == (
        f"Approving package revision {PKG}/2\n\n"
        f'kpt:{{"package":"{PKG}","workspaceName":"rapp-2","revision":"2"}}\n'
    )
    assert parents(porch.bare, approval) == [main_before, rendered_head]
    assert not [
        r for r in refs(porch.bare) if r.startswith(("refs/heads/drafts/", "refs/heads/proposed/"))
    ]
    # Main holds the edited package, mirrored; the other package did not move.
    capacity = yaml.safe_load(git(porch.bare, "show", f"main:{PKG}/capacity.yaml"))
    nf = yaml.safe_load(git(porch.bare, "show", f"main:{PKG}/upfdeployment.yaml"))
    assert (
        capacity["spec"]
        == nf["spec"]["capacity"]
        == {
            "maxUplinkThroughput": "10G",
            "maxDownlinkThroughput": "10G",
        }
    )
    assert git(porch.bare, "rev-parse", "main:nested/upf2") == nested_before
    assert (
        porch.resources(name)["spec"]["resources"]
        == porch.resources(f"{REPO}.{PKG}.main")["spec"]["resources"]
    )


def test_rapp_git_writer_and_simulator_agree_both_ways(porch: Porch, tmp_path: Path) -> None:
    published = porch.publish("via-porch", "10G")
    direct = writer(porch.bare, tmp_path)
    seen = direct.latest_revision(PKG)
    assert seen is not None
    assert (seen.revision, seen.workspace, seen.tag) == (2, "via-porch", f"{PKG}/v2")
    assert direct.read(PKG) == porch.resources(published["metadata"]["name"])["spec"]["resources"]
    # A revision written straight to git is invisible to Porch until its next sync.
    main_before = git(porch.bare, "rev-parse", "main")
    v3 = direct.publish(PKG, "via-git", scale_to("20G"))
    assert v3.revision == 3
    assert not porch.list(workspaceName="via-git")
    report = porch.http.post("/admin/sync").json()["repositories"][REPO]
    assert f"{REPO}.{PKG}.via-git" in report["added"]
    (latest,) = porch.list(f"{LATEST}=true", packageName=PKG)
    assert (latest["spec"]["workspaceName"], latest["spec"]["revision"]) == ("via-git", 3)
    assert latest["status"]["publishedBy"] == "rapp@localhost"
    assert "labels" not in porch.get(published["metadata"]["name"])["metadata"]
    # And Porch builds on it: revision 4, with main moving forward only.
    after = porch.publish("after-git", "30G")
    assert after["spec"]["revision"] == 4
    assert git(porch.bare, "merge-base", "--is-ancestor", main_before, "main") == ""
    latest_direct = direct.latest_revision(PKG)
    assert latest_direct is not None
    assert (latest_direct.revision, latest_direct.workspace) == (4, "after-git")
    assert "30G" in direct.read(PKG)["upfdeployment.yaml"]


def test_approval_after_an_unseen_direct_publish_renumbers(porch: Porch, tmp_path: Path) -> None:
    name = porch.draft("racing")["metadata"]["name"]
    assert porch.scale(name, "10G").status_code == 200
    assert porch.move(name, "Proposed").status_code == 200
    # Meanwhile another writer publishes revision 2 without Porch knowing.
    assert writer(porch.bare, tmp_path).publish(PKG, "sneaky", scale_to("20G")).revision == 2
    approved = porch.move(name, "Published", approval=True)
    assert approved.status_code == 200, approved.text
    assert approved.json()["spec"]["revision"] == 3
    tags = {r for r in refs(porch.bare) if r.startswith(f"refs/tags/{PKG}/")}
    assert tags == {f"refs/tags/{PKG}/v{n}" for n in (1, 2, 3)}
    v2, v3 = (git(porch.bare, "rev-parse", f"{PKG}/v{n}") for n in (2, 3))
    assert parents(porch.bare, v3)[0] == v2  # built on the other writer's main, not over it
    assert [r["spec"]["workspaceName"] for r in porch.list(f"{LATEST}=true", packageName=PKG)] == [
        "racing"
    ]
    assert porch.get(f"{REPO}.{PKG}.sneaky")["spec"]["revision"] == 2


def test_sync_drops_what_git_no_longer_has(porch: Porch) -> None:
    name = porch.draft("doomed")["metadata"]["name"]
    git(porch.bare, "update-ref", "-d", f"refs/heads/drafts/{PKG}/doomed")
    git(porch.bare, "tag", "-d", "nested/upf2/v1")
    report = porch.http.post("/admin/sync").json()["repositories"][REPO]
    assert set(report["removed"]) == {name, f"{REPO}.nested.upf2.{SEED_WORKSPACE}"}
    status_of(porch.http.get(f"{BASE}/packagerevisions/{name}"), 404, "NotFound")
    assert porch.http.get("/admin/stats").json()["revisions"] == {
        "Draft": 0,
        "Proposed": 0,
        "Published": 3,
        "DeletionProposed": 0,
    }


def test_non_integer_tags_are_revision_minus_one(porch: Porch) -> None:
    git(porch.bare, "tag", f"{PKG}/v2.0.0", f"{PKG}/v1")
    git(porch.bare, "tag", "release-1", f"{PKG}/v1")  # no '/': not a package revision
    porch.http.post("/admin/sync")
    semver = porch.get(f"{REPO}.{PKG}.v2.0.0")
    assert (semver["spec"]["revision"], semver["spec"]["workspaceName"]) == (-1, "v2.0.0")
    assert "labels" not in semver["metadata"]
    assert porch.publish("next")["spec"]["revision"] == 2
    assert len(porch.list()) == 6


def test_concurrent_enactments_get_distinct_revisions(porch: Porch) -> None:
    results: dict[str, Any] = {}

    def enact(workspace: str) -> None:
        with httpx.Client(base_url=str(porch.http.base_url), timeout=60) as http:
            results[workspace] = Porch(http, porch.app, porch.bare).publish(workspace, "10G")

    threads = [threading.Thread(target=enact, args=(f"w{i}",)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(r["spec"]["revision"] for r in results.values()) == [2, 3, 4, 5]
    latest = porch.list(f"{LATEST}=true", packageName=PKG)
    assert [r["spec"]["revision"] for r in latest] == [5]
    first_parent_chain = git(porch.bare, "rev-list", "--first-parent", "main").split()
    for n in range(1, 6):
        assert git(porch.bare, "rev-parse", f"{PKG}/v{n}^{{commit}}") in first_parent_chain


def test_concurrent_creates_of_one_workspace_make_one_draft(porch: Porch) -> None:
    codes: list[tuple[int, str]] = []
    lock = threading.Lock()
    start = threading.Barrier(6)

    def create() -> None:
        with httpx.Client(base_url=str(porch.http.base_url), timeout=60) as http:
            start.wait()
            response = Porch(http, porch.app, porch.bare).create("same")
            with lock:
                codes.append((response.status_code, response.json().get("reason", "")))

    threads = [threading.Thread(target=create) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    outcomes = Counter(codes)
    assert outcomes[(201, "")] == 1
    assert sum(outcomes.values()) == 6
    assert set(outcomes) - {(201, "")} <= {(409, "Conflict"), (409, "AlreadyExists")}
    assert len(porch.list(workspaceName="same")) == 1


def test_concurrent_updates_of_one_revision_conflict_as_porch_does(porch: Porch) -> None:
    name = porch.draft("shared")["metadata"]["name"]
    answers: list[httpx.Response] = []
    lock = threading.Lock()
    start = threading.Barrier(5)

    def annotate(i: int) -> None:
        with httpx.Client(base_url=str(porch.http.base_url), timeout=60) as http:
            client = Porch(http, porch.app, porch.bare)
            pr = client.get(name)
            pr["metadata"]["annotations"] = {"writer": str(i)}
            start.wait()
            response = client.put(pr)
            with lock:
                answers.append(response)

    threads = [threading.Thread(target=annotate, args=(i,)) for i in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ok = [a for a in answers if a.status_code == 200]
    assert ok, [a.text for a in answers]
    for answer in answers:
        if answer.status_code == 409:
            assert "another request is already in progress" in answer.json()["message"]
        elif answer.status_code == 500:
            assert "the object has been modified" in answer.json()["message"]
        else:
            assert answer.status_code == 200
    final = porch.get(name)["metadata"]
    assert final["annotations"] in [a.json()["metadata"]["annotations"] for a in ok]


def test_pipeline_keeps_every_other_byte(tmp_path: Path) -> None:
    files = load_blueprint(BLUEPRINT)
    files["upfdeployment.yaml"] = files["upfdeployment.yaml"].replace(
        "metadata:", "metadata: # kpt-merge: upf-example/upf-example", 1
    )
    files["capacity.yaml"] = files["capacity.yaml"].replace("5G", "7G")
    out = pipeline.render(files)
    changed = {k for k in files if files[k] != out.files[k]}
    assert changed == {"upfdeployment.yaml"}
    assert out.files["upfdeployment.yaml"].startswith(
        "apiVersion: workload.nephio.org/v1alpha1\nkind: NFDeployment\n"
        "metadata: # kpt-merge: upf-example/upf-example\n"
    )
    nf = yaml.safe_load(out.files["upfdeployment.yaml"])
    assert nf["spec"] == {
        "provider": "upf.free5gc.io",
        "capacity": {"maxUplinkThroughput": "7G", "maxDownlinkThroughput": "7G"},
    }
    assert pipeline.render(out.files).files == out.files  # idempotent: nothing left to do
    without_fn = dict(files, Kptfile=files["Kptfile"].replace("nfdeploy-fn", "other-fn"))
    assert pipeline.render(without_fn).files == without_fn
    doubled = dict(files, **{"more.yaml": files["capacity.yaml"]})
    with pytest.raises(pipeline.RenderError, match="expected one Capacity"):
        pipeline.render(doubled)


def test_cli_serves_a_repository_seeded_by_simulators_nephio(bare: Path, tmp_path: Path) -> None:
    url, proc = start_simulator(
        "simulators.porch", "/healthz", "--repository", f"{REPO}={bare}",
        "--workdir", str(tmp_path / "cli-work"), "--ready-delay-s", "0", "--log-level", "warning",
    )  # fmt: skip
    try:
        listed = httpx.get(
            f"{url}{BASE}/packagerevisions",
            params={"labelSelector": f"{LATEST}=true", "fieldSelector": f"spec.packageName={PKG}"},
        ).json()
        assert [r["metadata"]["name"] for r in listed["items"]] == [SEEDED]
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    # A repository that cannot be read stops the simulator at once, with its own exit code.
    missing = subprocess.run(
        [sys.executable, "-m", "simulators.porch", "--repository", f"x={tmp_path / 'nope.git'}"],
        capture_output=True,
        text=True,
        cwd=Path(__file__).resolve().parents[1],
        check=False,
        timeout=60,
    )
    assert missing.returncode == 2, missing.stderr
    assert "cannot read the repositories" in missing.stderr
