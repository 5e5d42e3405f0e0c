"""The Porch simulator over real HTTP and real git: wire format, every rule, exact error texts.

Expected texts are Porch's own (specs/porch/rpkg-*.config.yaml, porch's registry and engine);
the git layout and concurrency checks are in test_porch_simulator_git.py.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from simulators.nephio.seed import SEED_WORKSPACE, seed_repository
from simulators.porch import Store, create_app
from simulators.porch.names import uid
from tests.conftest import serve

BASE = "/apis/porch.kpt.dev/v1alpha1/namespaces/default"
REPO = "deployment"
PKG = "free5gc-upf"
SEEDED = f"{REPO}.{PKG}.{SEED_WORKSPACE}"
PLACEHOLDER = f"{REPO}.{PKG}.main"
STALE = (
    "the object has been modified; please apply your changes to the latest version and try again"
)
NOT_DRAFT = 'cannot update a package revision with lifecycle value "{}"; package must be Draft'


def git(bare: Path, *args: str) -> str:
    out = subprocess.run(
        ["git", "--git-dir", str(bare), *args], capture_output=True, text=True, check=True
    )
    return out.stdout.strip()


def refs(bare: Path) -> dict[str, str]:
    lines = git(bare, "for-each-ref", "--format=%(refname) %(objectname)").splitlines()
    return dict(line.split() for line in lines)


@dataclass
class Porch:
    """An HTTP client of one running simulator, with the calls a Porch client makes."""

    http: httpx.Client
    app: FastAPI
    bare: Path

    @property
    def store(self) -> Store:
        store: Store = self.app.state.store
        return store

    def list(self, labels: str | None = None, **fields: str) -> list[dict[str, Any]]:
        params = {}
        if fields:
            params["fieldSelector"] = ",".join(f"spec.{k}={v}" for k, v in fields.items())
        if labels:
            params["labelSelector"] = labels
        response = self.http.get(f"{BASE}/packagerevisions", params=params)
        assert response.status_code == 200, response.text
        assert response.json()["kind"] == "PackageRevisionList"
        items: list[dict[str, Any]] = response.json()["items"]
        return items

    def get(self, name: str) -> dict[str, Any]:
        response = self.http.get(f"{BASE}/packagerevisions/{name}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def create(
        self, workspace: str, task: dict[str, Any] | None = None, **spec: Any
    ) -> httpx.Response:
        task = task or {"type": "edit", "edit": {"sourceRef": {"name": SEEDED}}}
        body = {
            "apiVersion": "porch.kpt.dev/v1alpha1",
            "kind": "PackageRevision",
            "metadata": {"namespace": "default"},
            "spec": {
                "packageName": PKG,
                "repository": REPO,
                "workspaceName": workspace,
                "lifecycle": "Draft",
                "tasks": [task],
                **spec,
            },
        }
        return self.http.post(f"{BASE}/packagerevisions", json=body)

    def draft(self, workspace: str, **kwargs: Any) -> dict[str, Any]:
        response = self.create(workspace, **kwargs)
        assert response.status_code == 201, response.text
        body: dict[str, Any] = response.json()
        return body

    def resources(self, name: str) -> dict[str, Any]:
        response = self.http.get(f"{BASE}/packagerevisionresources/{name}")
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def put_resources(self, prr: dict[str, Any]) -> httpx.Response:
        return self.http.put(f"{BASE}/packagerevisionresources/{prr['metadata']['name']}", json=prr)

    def put(self, pr: dict[str, Any], *, approval: bool = False) -> httpx.Response:
        suffix = "/approval" if approval else ""
        return self.http.put(f"{BASE}/packagerevisions/{pr['metadata']['name']}{suffix}", json=pr)

    def move(self, name: str, lifecycle: str, *, approval: bool = False) -> httpx.Response:
        """GET, set ``spec.lifecycle``, PUT (as porchctl propose/approve/reject do)."""
        pr = self.get(name)
        pr["spec"]["lifecycle"] = lifecycle
        return self.put(pr, approval=approval)

    def scale(self, name: str, to: str) -> httpx.Response:
        prr = self.resources(name)
        files = prr["spec"]["resources"]
        files["capacity.yaml"] = files["capacity.yaml"].replace("5G", to)
        return self.put_resources(prr)

    def publish(self, workspace: str, to: str = "10G") -> dict[str, Any]:
        """The whole enactment: draft, edit, propose, approve."""
        name = self.draft(workspace)["metadata"]["name"]
        assert self.scale(name, to).status_code == 200
        assert self.move(name, "Proposed").status_code == 200
        response = self.move(name, "Published", approval=True)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body


def status_of(response: httpx.Response, code: int, reason: str) -> dict[str, Any]:
    """The response as a Kubernetes Status object, after checking its code and reason."""
    assert response.status_code == code, response.text
    body: dict[str, Any] = response.json()
    assert (body["kind"], body["apiVersion"], body["status"]) == ("Status", "v1", "Failure")
    assert (body["code"], body["reason"]) == (code, reason)
    return body


@pytest.fixture(autouse=True)
def git_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Git reads user config: give it an empty one, not the developer's."""
    config = tmp_path / "gitconfig"
    config.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")


@pytest.fixture(scope="session")
def seeded_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One seeding per run (it goes through the rApp's git writer, which takes a while)."""
    path = tmp_path_factory.mktemp("porch-template") / "edge.git"
    with pytest.MonkeyPatch.context() as mp:
        config = path.parent / "gitconfig"
        config.write_text("")
        mp.setenv("GIT_CONFIG_GLOBAL", str(config))
        mp.setenv("GIT_CONFIG_NOSYSTEM", "1")
        seed_repository(path, [PKG, "nested/upf2"])
    return path


@pytest.fixture
def bare(seeded_template: Path, tmp_path: Path) -> Path:
    """A fresh copy of a deployment repository seeded by simulators.nephio (UPF at v1)."""
    path = tmp_path / "edge.git"
    shutil.copytree(seeded_template, path)
    return path


@pytest.fixture
def porch(bare: Path, tmp_path: Path) -> Iterator[Porch]:
    app = create_app({REPO: str(bare)}, workdir=tmp_path / "work")
    with serve(app) as url, httpx.Client(base_url=url, timeout=30) as http:
        yield Porch(http, app, bare)
    app.state.store.close()


# -- API and wire format -------------------------------------------------------------------


def test_api_is_discoverable_and_healthy(porch: Porch) -> None:
    listing = porch.http.get("/apis/porch.kpt.dev/v1alpha1").json()
    assert (listing["kind"], listing["groupVersion"]) == (
        "APIResourceList",
        "porch.kpt.dev/v1alpha1",
    )
    verbs = {r["name"]: r["verbs"] for r in listing["resources"]}
    assert verbs["packagerevisions/approval"] == ["update"]
    assert set(verbs["packagerevisionresources"]) == {"get", "update"}
    assert {"create", "delete", "get", "list", "update"} <= set(verbs["packagerevisions"])
    assert porch.http.get("/healthz").text == "ok"
    assert porch.http.get("/readyz").status_code == 200


def test_uids_are_the_ones_real_porch_gives() -> None:
    # From the Porch docs and the rpkg-copy / rpkg-push e2e expectations.
    assert (
        uid("default", "porch-test.my-first-package.v1") == "f9f6507d-20fc-5319-97b2-6b8050c4f9cc"
    )
    assert uid("rpkg-copy", "git.basens-edit.copy-2") == "dc403caa-3f59-5a61-8a79-adcdf40bc52a"
    assert uid("rpkg-push", "git.test-package.push") == "0e7dd104-514e-5455-b077-6f196b04165c"


def test_seeded_repository_is_listed_as_porch_lists_it(porch: Porch) -> None:
    by_name = {r["metadata"]["name"]: r for r in porch.list()}
    assert set(by_name) == {
        SEEDED,
        PLACEHOLDER,
        f"{REPO}.nested.upf2.{SEED_WORKSPACE}",
        f"{REPO}.nested.upf2.main",
    }
    seeded = by_name[SEEDED]
    assert seeded["apiVersion"] == "porch.kpt.dev/v1alpha1"
    assert seeded["kind"] == "PackageRevision"
    meta = seeded["metadata"]
    assert meta["namespace"] == "default"
    assert meta["uid"] == uid("default", SEEDED)
    assert meta["labels"] == {"kpt.dev/latest-revision": "true"}
    assert len(meta["resourceVersion"]) == 40  # opaque, like Porch's commit ids
    assert not meta["resourceVersion"].isdigit()
    assert meta["creationTimestamp"].endswith("Z")
    spec = seeded["spec"]
    assert (spec["packageName"], spec["repository"], spec["workspaceName"]) == (
        PKG,
        REPO,
        SEED_WORKSPACE,
    )
    assert (spec["revision"], spec["lifecycle"]) == (1, "Published")
    tag_commit = git(porch.bare, "rev-parse", f"{PKG}/v1^{{commit}}")
    assert seeded["status"]["publishedBy"] == git(
        porch.bare, "show", "-s", "--format=%ae", tag_commit
    )
    assert seeded["status"]["publishTimestamp"].endswith("Z")
    assert seeded["status"]["selfLock"]["git"]["ref"] == f"{PKG}/v1"
    assert seeded["status"]["selfLock"]["git"]["commit"] == tag_commit
    # The main-branch placeholder: revision -1, never latest, never a source.
    placeholder = by_name[PLACEHOLDER]
    assert (placeholder["spec"]["revision"], placeholder["spec"]["workspaceName"]) == (-1, "main")
    assert "labels" not in placeholder["metadata"]


def test_field_and_label_selectors(porch: Porch) -> None:
    latest = porch.list("kpt.dev/latest-revision=true", packageName=PKG, lifecycle="Published")
    assert [r["metadata"]["name"] for r in latest] == [SEEDED]
    nested = porch.list(packageName="nested/upf2", revision="1")
    assert [r["metadata"]["name"] for r in nested] == [f"{REPO}.nested.upf2.{SEED_WORKSPACE}"]
    assert [r["metadata"]["name"] for r in porch.list(workspaceName="main", packageName=PKG)] == [
        PLACEHOLDER
    ]
    assert porch.list(repository="elsewhere") == []
    assert len(porch.list("!kpt.dev/latest-revision")) == 2
    assert len(porch.list("kpt.dev/latest-revision in (true)")) == 2
    url = f"{BASE}/packagerevisions"
    bad_lifecycle = porch.http.get(url, params={"fieldSelector": "spec.lifecycle=Bogus"})
    assert status_of(bad_lifecycle, 400, "BadRequest")["message"] == (
        'unsupported fieldSelector value "Bogus" for field "spec.lifecycle"'
    )
    unknown = porch.http.get(url, params={"fieldSelector": "spec.color=red"})
    assert (
        status_of(unknown, 400, "BadRequest")["message"]
        == '"spec.color" is not a known field selector'
    )
    negated = porch.http.get(url, params={"fieldSelector": "spec.repository!=x"})
    assert "unsupported fieldSelector operator" in status_of(negated, 400, "BadRequest")["message"]


def test_errors_are_kubernetes_status_objects(porch: Porch) -> None:
    status_of(porch.http.get("/apis/nowhere"), 404, "NotFound")
    missing = status_of(porch.http.get(f"{BASE}/packagerevisions/nope"), 404, "NotFound")
    assert missing["message"] == 'packagerevisions.porch.kpt.dev "nope" not found'
    assert missing["details"] == {
        "name": "nope",
        "group": "porch.kpt.dev",
        "kind": "packagerevisions",
    }
    status_of(porch.http.get(f"{BASE}/packagerevisions/{SEEDED}/approval"), 405, "MethodNotAllowed")
    status_of(
        porch.http.delete(f"{BASE}/packagerevisionresources/{SEEDED}"), 405, "MethodNotAllowed"
    )
    other_ns = "/apis/porch.kpt.dev/v1alpha1/namespaces/other/packagerevisions"
    assert porch.http.get(other_ns).json()["items"] == []
    status_of(porch.http.get(f"{other_ns}/{SEEDED}"), 404, "NotFound")
    pr = porch.get(SEEDED)
    pr["metadata"]["name"] = "something-else"
    mismatch = porch.http.put(f"{BASE}/packagerevisions/{SEEDED}", json=pr)
    assert "does not match the name on the URL" in status_of(mismatch, 400, "BadRequest")["message"]
    garbage = porch.http.put(f"{BASE}/packagerevisions/{SEEDED}", content=b"{not json")
    status_of(garbage, 400, "BadRequest")
    pr = porch.get(SEEDED)
    pr["spec"]["revision"] = "1"  # an int in Go: a string does not decode
    typed = porch.put(pr)
    assert "cannot unmarshal string" in status_of(typed, 400, "BadRequest")["message"]


# -- create ----------------------------------------------------------------------------------


def test_edit_draft_is_created_as_porch_creates_it(porch: Porch) -> None:
    created = porch.draft("rapp-1")
    meta, spec = created["metadata"], created["spec"]
    assert meta["name"] == f"{REPO}.{PKG}.rapp-1"
    assert meta["uid"] == uid("default", meta["name"])
    assert spec["lifecycle"] == "Draft"
    assert "revision" not in spec  # 0, and Go's omitempty drops it
    assert spec["tasks"] == [{"type": "edit", "edit": {"sourceRef": {"name": SEEDED}}}]
    assert spec["readinessGates"] == [{"conditionType": "nephio.org.Specializer.specialize"}]
    assert created["status"]["publishTimestamp"] is None
    assert "labels" not in meta
    # The draft starts with the source revision's files, byte for byte.
    files = porch.resources(meta["name"])["spec"]["resources"]
    assert files == porch.resources(SEEDED)["spec"]["resources"]
    assert files["capacity.yaml"] == git(porch.bare, "show", f"{PKG}/v1:{PKG}/capacity.yaml") + "\n"


def test_create_only_as_draft(porch: Porch) -> None:
    for lifecycle in ("Proposed", "Published"):
        response = porch.create(f"ws-{lifecycle.lower()}", lifecycle=lifecycle)
        body = status_of(response, 422, "Invalid")
        assert body["message"] == (
            'PackageRevision.porch.kpt.dev "" is invalid: spec.lifecycle: Invalid value: '
            f'"{lifecycle}": value can be only created as Draft'
        )
        assert body["details"]["causes"][0]["field"] == "spec.lifecycle"
    assert len(porch.list()) == 4  # nothing was created


def test_create_needs_exactly_one_task_and_valid_names(porch: Porch) -> None:
    task = {"type": "edit", "edit": {"sourceRef": {"name": SEEDED}}}
    two = porch.create("two", tasks=[task, task])
    assert status_of(two, 500, "InternalError")["message"] == (
        "Internal error occurred: task list must not contain more than one task"
    )
    bad_ws = porch.create("Not_A_Label")
    assert "spec.workspaceName: Invalid value" in status_of(bad_ws, 422, "Invalid")["message"]
    labelled = porch.http.post(
        f"{BASE}/packagerevisions",
        json={
            "metadata": {"labels": {"kpt.dev/latest-revision": "true"}},
            "spec": {
                "packageName": PKG,
                "repository": REPO,
                "workspaceName": "lbl",
                "tasks": [task],
            },
        },
    )
    assert status_of(labelled, 422, "Invalid")["message"].endswith(
        "metadata.labels.kpt.dev/latest-revision: Forbidden: label is managed by porch and "
        "cannot be set by users"
    )
    unknown_repo = porch.create("x", repository="nowhere")
    assert status_of(unknown_repo, 404, "NotFound")["message"] == (
        'repositories.config.porch.kpt.dev "nowhere" not found'
    )


def test_duplicate_workspace_is_409_already_exists(porch: Porch) -> None:
    porch.draft("rapp-1")
    for workspace in ("rapp-1", SEED_WORKSPACE):
        body = status_of(porch.create(workspace), 409, "AlreadyExists")
        assert body["message"] == (
            "package revision workspaceNames must be unique; package revision with name "
            f"{PKG} in repo {REPO} with workspaceName {workspace} already exists"
        )


def test_edit_source_must_be_a_published_revision_of_the_same_package(porch: Porch) -> None:
    def source(name: str) -> dict[str, Any]:
        return {"type": "edit", "edit": {"sourceRef": {"name": name}}}

    placeholder = "source revision may not be the placeholder package revision"
    cases = {
        f"{REPO}.nested.upf2.{SEED_WORKSPACE}": (
            f"source revision must be from same package {REPO}/{PKG}"
        ),
        PLACEHOLDER: f"{placeholder} {REPO}/{PLACEHOLDER}",
        "nope": 'failed to fetch package "nope": cannot find package revision "nope"',
    }
    draft = porch.draft("a-draft")["metadata"]["name"]
    cases[draft] = "source revision must be published"
    for i, (name, text) in enumerate(cases.items()):
        response = porch.create(f"ws-{i}", task=source(name))
        assert (
            status_of(response, 500, "InternalError")["message"]
            == f"Internal error occurred: {text}"
        )
    assert {r["spec"]["workspaceName"] for r in porch.list(packageName=PKG)} == {
        SEED_WORKSPACE,
        "main",
        "a-draft",
    }


def test_init_and_clone_tasks(porch: Porch) -> None:
    init = {"type": "init", "init": {"description": "sample description"}}
    created = porch.draft("lifecycle", task=init, packageName="lifecycle-package")
    assert created["metadata"]["name"] == f"{REPO}.lifecycle-package.lifecycle"
    files = porch.resources(created["metadata"]["name"])["spec"]["resources"]
    assert set(files) == {"Kptfile", "README.md", "package-context.yaml"}
    assert "  name: lifecycle-package\n" in files["Kptfile"]
    assert "description: sample description" in files["Kptfile"]
    # clone: only for a package the repository does not have yet.
    by_name = {"type": "clone", "clone": {"upstreamRef": {"upstreamRef": {"name": SEEDED}}}}
    again = porch.create("c1", task=by_name)
    assert status_of(again, 500, "InternalError")["message"] == (
        f'Internal error occurred: `clone` cannot create a new revision for package "{PKG}" that '
        f'already exists in repo "{REPO}"; make subsequent revisions using `copy`'
    )
    clone = porch.draft("c1", task=by_name, packageName="upf-copy")
    kptfile = porch.resources(clone["metadata"]["name"])["spec"]["resources"]["Kptfile"]
    assert "  name: upf-copy\n" in kptfile
    assert f"ref: {PKG}/v1" in kptfile
    assert f"directory: {PKG}" in kptfile
    assert git(porch.bare, "rev-parse", f"{PKG}/v1^{{commit}}") in kptfile
    from_git = {
        "type": "clone",
        "clone": {
            "upstreamRef": {
                "type": "git",
                "git": {"repo": str(porch.bare), "ref": "v1", "directory": PKG},
            }
        },
    }
    cloned = porch.draft("g1", task=from_git, packageName="upf-from-git")
    cloned_files = porch.resources(cloned["metadata"]["name"])["spec"]["resources"]
    seeded_files = porch.resources(SEEDED)["spec"]["resources"]
    assert {k: v for k, v in cloned_files.items() if k != "Kptfile"} == {
        k: v for k, v in seeded_files.items() if k != "Kptfile"
    }
    assert "ref: v1\n" in cloned_files["Kptfile"]


# -- update and approval ---------------------------------------------------------------------


def test_draft_and_proposed_move_only_between_each_other(porch: Porch) -> None:
    name = porch.draft("ws")["metadata"]["name"]
    to_published = porch.move(name, "Published")
    assert status_of(to_published, 422, "Invalid")["message"] == (
        f'PackageRevision.porch.kpt.dev "{name}" is invalid: spec.lifecycle: Invalid value: '
        '"Draft": value can be only updated to Draft,Proposed'
    )
    proposed = porch.move(name, "Proposed")
    assert proposed.status_code == 200
    assert proposed.json()["spec"]["lifecycle"] == "Proposed"
    assert porch.move(name, "Draft").json()["spec"]["lifecycle"] == "Draft"
    assert porch.move(name, "Proposed").json()["spec"]["lifecycle"] == "Proposed"
    still = porch.move(name, "Published")  # not through the normal update, ever
    assert (
        '"Proposed": value can be only updated to Draft,Proposed'
        in status_of(still, 422, "Invalid")["message"]
    )


def test_approval_only_from_proposed(porch: Porch) -> None:
    name = porch.draft("ws")["metadata"]["name"]
    from_draft = porch.move(name, "Published", approval=True)
    assert status_of(from_draft, 422, "Invalid")["message"] == (
        f'PackageRevision.porch.kpt.dev "{name}" is invalid: spec.lifecycle: Invalid value: '
        '"Draft": cannot approve package with Draft lifecycle value; only Proposed packages can '
        "be approved"
    )
    porch.move(name, "Proposed")
    stay = porch.move(name, "Proposed", approval=True)
    assert (
        "value for approval can be only one of Draft,Published"
        in status_of(stay, 422, "Invalid")["message"]
    )
    rejected = porch.move(name, "Draft", approval=True)  # porchctl rpkg reject
    assert rejected.status_code == 200
    assert rejected.json()["spec"]["lifecycle"] == "Draft"
    porch.move(name, "Proposed")
    approved = porch.move(name, "Published", approval=True)
    assert approved.status_code == 200, approved.text
    assert (approved.json()["spec"]["lifecycle"], approved.json()["spec"]["revision"]) == (
        "Published",
        2,
    )
    back = porch.move(name, "Draft", approval=True)
    assert (
        "package with Published lifecycle value can only be updated to 'ProposeDeletion'"
        in (status_of(back, 422, "Invalid")["message"])
    )


def test_published_spec_is_immutable_but_metadata_is_not(porch: Porch) -> None:
    pr = porch.get(SEEDED)
    pr["spec"]["workspaceName"] = "renamed"
    changed = status_of(porch.put(pr), 422, "Invalid")
    assert (
        "spec can only update package with lifecycle value one of Draft,Proposed"
        in changed["message"]
    )
    assert changed["details"]["causes"][0]["field"] == "spec"
    draft_again = porch.move(SEEDED, "Draft")
    assert (
        "spec can only update package with lifecycle value one of Draft,Proposed"
        in (status_of(draft_again, 422, "Invalid")["message"])
    )
    pr = porch.get(SEEDED)
    before = pr["metadata"]["resourceVersion"]
    pr["metadata"]["annotations"] = {"example.com/owner": "rapp"}
    annotated = porch.put(pr)
    assert annotated.status_code == 200, annotated.text
    assert annotated.json()["metadata"]["annotations"] == {"example.com/owner": "rapp"}
    assert annotated.json()["metadata"]["resourceVersion"] != before
    assert porch.get(SEEDED)["metadata"]["annotations"] == {"example.com/owner": "rapp"}


def test_latest_revision_label_cannot_be_changed_by_clients(porch: Porch) -> None:
    text = (
        "metadata.labels.kpt.dev/latest-revision: Forbidden: label is managed by porch and "
        "cannot be modified by users"
    )
    pr = porch.get(SEEDED)
    del pr["metadata"]["labels"]
    assert status_of(porch.put(pr), 422, "Invalid")["message"].endswith(text)
    draft = porch.draft("ws")
    draft["metadata"]["labels"] = {"kpt.dev/latest-revision": "true"}
    assert status_of(porch.put(draft), 422, "Invalid")["message"].endswith(text)
    draft["metadata"]["labels"] = {"team": "ran"}
    assert porch.put(draft).json()["metadata"]["labels"] == {"team": "ran"}


def test_resources_change_only_while_draft(porch: Porch) -> None:
    name = porch.draft("ws")["metadata"]["name"]
    porch.move(name, "Proposed")
    proposed = porch.scale(name, "20G")
    assert status_of(proposed, 500, "InternalError")["message"] == (
        "Internal error occurred: " + NOT_DRAFT.format("Proposed")
    )
    published = porch.scale(SEEDED, "20G")
    assert status_of(published, 500, "InternalError")["message"].endswith(
        NOT_DRAFT.format("Published")
    )
    assert "5G" in porch.resources(name)["spec"]["resources"]["capacity.yaml"]


def test_resources_need_a_kptfile_and_a_clean_render(porch: Porch) -> None:
    name = porch.draft("ws")["metadata"]["name"]
    before = porch.resources(name)
    prr = porch.resources(name)
    del prr["spec"]["resources"]["Kptfile"]
    no_kptfile = porch.put_resources(prr)
    assert (
        "package must contain Kptfile at root"
        in status_of(no_kptfile, 500, "InternalError")["message"]
    )
    prr = porch.resources(name)
    prr["spec"]["resources"]["capacity.yaml"] = "spec: [unclosed\n"
    broken = status_of(porch.put_resources(prr), 500, "InternalError")["message"]
    assert broken.startswith(
        "Internal error occurred: error rendering package in kpt function pipeline. "
        "Package NOT pushed to remote. Fix locally (until 'kpt fn render' succeeds) and retry. "
        "Details: "
    )
    assert porch.resources(name)["spec"]["resources"] == before["spec"]["resources"]
    # With push-on-render-failure the files are saved anyway, and the answer still says so.
    pr = porch.get(name)
    pr["metadata"]["annotations"] = {"porch.kpt.dev/push-on-render-failure": "true"}
    assert porch.put(pr).status_code == 200
    pushed = status_of(
        porch.put_resources({**prr, "metadata": porch.resources(name)["metadata"]}),
        500,
        "InternalError",
    )
    assert "Package pushed to remote despite render failure" in pushed["message"]
    assert porch.resources(name)["spec"]["resources"]["capacity.yaml"] == "spec: [unclosed\n"


def test_pipeline_mirrors_capacity_into_the_nfdeployment(porch: Porch) -> None:
    name = porch.draft("ws")["metadata"]["name"]
    before = porch.resources(name)
    response = porch.scale(name, "10G")
    assert response.status_code == 200, response.text
    after = response.json()
    assert after["metadata"]["resourceVersion"] != before["metadata"]["resourceVersion"]
    assert after["status"]["renderStatus"]["error"] == ""
    images = [i["image"] for i in after["status"]["renderStatus"]["result"]["items"]]
    assert "docker.io/nephio/nfdeploy-fn:latest" in images
    old, new = before["spec"]["resources"], after["spec"]["resources"]
    assert {k for k in old if old[k] != new[k]} == {"capacity.yaml", "upfdeployment.yaml"}
    assert new["upfdeployment.yaml"] == old["upfdeployment.yaml"].replace("5G", "10G")
    assert porch.resources(name)["spec"]["resources"] == new
    # The PackageRevision shares the resources' new resourceVersion.
    assert porch.get(name)["metadata"]["resourceVersion"] == after["metadata"]["resourceVersion"]


# -- deletion (rpkg-lifecycle e2e) -----------------------------------------------------------


def test_deletion_lifecycle_as_in_porchs_e2e(porch: Porch) -> None:
    """rpkg-lifecycle/config.yaml, with the calls porchctl makes for each command."""
    init = {"type": "init", "init": {"description": "sample description"}}
    name = porch.draft("lifecycle", task=init, packageName="lifecycle-package")["metadata"]["name"]
    assert name == f"{REPO}.lifecycle-package.lifecycle"
    assert porch.move(name, "Proposed").status_code == 200  # propose: a normal update
    # propose-delete of an unpublished revision: porchctl refuses it; the server would too.
    early = status_of(porch.move(name, "DeletionProposed"), 422, "Invalid")
    assert "value can be only updated to Draft,Proposed" in early["message"]
    rejected = porch.move(name, "Draft", approval=True)  # reject of a proposal: approval
    assert rejected.json()["spec"]["lifecycle"] == "Draft"
    assert "revision" not in rejected.json()["spec"]
    assert porch.move(name, "Proposed").status_code == 200
    published = porch.move(name, "Published", approval=True).json()  # approve
    assert (published["spec"]["revision"], published["metadata"]["labels"]) == (
        1,
        {"kpt.dev/latest-revision": "true"},
    )
    refused = status_of(porch.http.delete(f"{BASE}/packagerevisions/{name}"), 403, "Forbidden")
    assert refused["message"] == (
        f'packagerevisions.porch.kpt.dev "{name}" is forbidden: published PackageRevisions must '
        "be proposed for deletion by setting spec.lifecycle to 'DeletionProposed' prior to deletion"
    )
    proposed = porch.move(name, "DeletionProposed")  # propose-delete: a normal update
    assert proposed.json()["spec"]["lifecycle"] == "DeletionProposed"
    assert proposed.json()["metadata"]["labels"] == {"kpt.dev/latest-revision": "true"}
    assert "refs/heads/deletionProposed/lifecycle-package/v1" in refs(porch.bare)
    kept = porch.move(name, "Published")  # reject of a deletion proposal: a normal update
    assert (kept.json()["spec"]["lifecycle"], kept.json()["spec"]["revision"]) == ("Published", 1)
    assert "refs/heads/deletionProposed/lifecycle-package/v1" not in refs(porch.bare)
    assert porch.move(name, "DeletionProposed", approval=True).status_code == 200
    deleted = porch.http.delete(f"{BASE}/packagerevisions/{name}")
    assert deleted.status_code == 200
    assert deleted.json()["metadata"]["name"] == name
    gone = status_of(porch.http.get(f"{BASE}/packagerevisions/{name}"), 404, "NotFound")
    assert gone["message"] == f'packagerevisions.porch.kpt.dev "{name}" not found'
    assert not {r for r in refs(porch.bare) if "lifecycle-package/v1" in r}


def test_deleting_drafts_and_proposals_removes_their_branch(porch: Porch) -> None:
    draft = porch.draft("d")["metadata"]["name"]
    proposal = porch.draft("p")["metadata"]["name"]
    porch.move(proposal, "Proposed")
    assert {f"refs/heads/drafts/{PKG}/d", f"refs/heads/proposed/{PKG}/p"} <= set(refs(porch.bare))
    for name in (draft, proposal):
        assert porch.http.delete(f"{BASE}/packagerevisions/{name}").status_code == 200
        status_of(porch.http.get(f"{BASE}/packagerevisions/{name}"), 404, "NotFound")
    assert not {f"refs/heads/drafts/{PKG}/d", f"refs/heads/proposed/{PKG}/p"} & set(
        refs(porch.bare)
    )


# -- conflicts ---------------------------------------------------------------------------------


def test_stale_resource_version_is_http_500_not_409(porch: Porch) -> None:
    name = porch.draft("ws")["metadata"]["name"]
    old_prr, old_pr = porch.resources(name), porch.get(name)
    assert porch.scale(name, "10G").status_code == 200
    stale_prr = status_of(porch.put_resources(old_prr), 500, "InternalError")
    assert stale_prr["message"] == (
        "Internal error occurred: Operation cannot be fulfilled on "
        f'packagerevisionresources.porch.kpt.dev "{name}": {STALE}'
    )
    old_pr["spec"]["lifecycle"] = "Proposed"
    stale_pr = status_of(porch.put(old_pr), 500, "InternalError")
    assert stale_pr["message"] == (
        "Internal error occurred: Operation cannot be fulfilled on "
        f'packagerevisions.porch.kpt.dev "{name}": {STALE}'
    )
    assert porch.get(name)["spec"]["lifecycle"] == "Draft"  # nothing happened
    porch.move(name, "Proposed")
    old_pr = porch.get(name)
    porch.put(porch.get(name))  # a metadata-only update still moves the version
    old_pr["spec"]["lifecycle"] = "Published"
    assert STALE in status_of(porch.put(old_pr, approval=True), 500, "InternalError")["message"]
    old_pr["metadata"]["resourceVersion"] = "1"  # what rpkg-push's e2e sends
    assert STALE in status_of(porch.put(old_pr, approval=True), 500, "InternalError")["message"]
    del old_pr["metadata"]["resourceVersion"]
    missing = status_of(porch.put(old_pr, approval=True), 500, "InternalError")
    assert (
        missing["message"]
        == "Internal error occurred: resourceVersion must be specified for an update"
    )
    assert porch.get(name)["spec"]["lifecycle"] == "Proposed"
    assert porch.http.get("/admin/stats").json()["conflicts"]["stale"] == 4


def test_request_in_flight_on_the_same_revision_is_409(porch: Porch) -> None:
    name = porch.draft("ws")["metadata"]["name"]
    pr, prr = porch.get(name), porch.resources(name)
    with porch.store.revision_lock(name):
        busy = status_of(porch.put(pr), 409, "Conflict")
        assert busy["message"] == (
            f'Operation cannot be fulfilled on packagerevisions.porch.kpt.dev "{name}": another '
            f'request is already in progress on package revision "default/{name}"'
        )
        busy_res = status_of(porch.put_resources(prr), 409, "Conflict")
        assert busy_res["message"].endswith(
            f'another request is already in progress on package revision resources "default/{name}"'
        )
        status_of(porch.put(pr, approval=True), 409, "Conflict")
        status_of(porch.http.delete(f"{BASE}/packagerevisions/{name}"), 409, "Conflict")
        assert porch.get(name)["metadata"]["resourceVersion"] == pr["metadata"]["resourceVersion"]
    assert porch.put(pr).status_code == 200


def test_injected_stale_conflicts_leave_state_untouched(porch: Porch) -> None:
    setting = porch.http.post("/admin/conflicts", json={"stale_every": 2})
    assert setting.status_code == 200
    assert setting.json()["active"] is True
    name = porch.draft("ws")["metadata"]["name"]  # write 1: served
    before = porch.resources(name)
    before_refs = refs(porch.bare)
    injected = porch.scale(name, "10G")  # write 2: injected
    assert status_of(injected, 500, "InternalError")["message"] == (
        "Internal error occurred: Operation cannot be fulfilled on "
        f'packagerevisionresources.porch.kpt.dev "{name}": {STALE}'
    )
    assert porch.resources(name) == before
    assert refs(porch.bare) == before_refs
    assert porch.scale(name, "10G").status_code == 200  # write 3: served, same version
    assert porch.move(name, "Proposed").status_code == 500  # write 4
    described = porch.http.get("/admin/conflicts").json()
    assert (described["writes_seen"], described["injected"]["stale"]) == (4, 2)
    assert porch.http.delete("/admin/conflicts").status_code == 204
    assert porch.move(name, "Proposed").status_code == 200
    stats = porch.http.get("/admin/stats").json()
    assert stats["conflicts"]["injected"] == {"stale": 2, "in_flight": 0}
    assert stats["writes"] == {"create": 1, "resources": 2, "update": 2}
    assert stats["applied"] == {"create": 1, "resources": 1, "update": 1}
    assert stats["revisions"]["Proposed"] == 1


def test_injected_in_flight_conflicts_are_limited_and_targeted(porch: Porch) -> None:
    spec = {"in_flight_every": 1, "count": 2, "operations": ["approval"]}
    assert porch.http.post("/admin/conflicts", json=spec).status_code == 200
    name = porch.draft("ws")["metadata"]["name"]
    assert porch.move(name, "Proposed").status_code == 200  # not an approval: not counted
    for _ in range(2):
        busy = status_of(porch.move(name, "Published", approval=True), 409, "Conflict")
        assert "another request is already in progress" in busy["message"]
        assert porch.get(name)["spec"]["lifecycle"] == "Proposed"
    assert porch.move(name, "Published", approval=True).status_code == 200
    assert porch.http.get("/admin/conflicts").json()["active"] is False
    bad = porch.http.post("/admin/conflicts", json={"count": 1})
    status_of(bad, 400, "BadRequest")


def test_readiness_conditions_follow_the_ready_delay(bare: Path, tmp_path: Path) -> None:
    app = create_app({REPO: str(bare)}, workdir=tmp_path / "work", ready_delay_s=3600)
    with serve(app) as url, httpx.Client(base_url=url) as http:
        porch = Porch(http, app, bare)
        created = porch.draft("slow")
        gate = "nephio.org.Specializer.specialize"
        assert created["spec"]["readinessGates"] == [{"conditionType": gate}]
        (condition,) = created["status"]["conditions"]
        assert (condition["type"], condition["status"]) == (gate, "False")
        # Published revisions are ready regardless of the delay.
        assert porch.get(SEEDED)["status"]["conditions"][0]["status"] == "True"
        ready = {"conditions": [{"type": gate, "status": "True", "reason": "Specialized"}]}
        name = created["metadata"]["name"]
        set_ready = http.put(f"/admin/packagerevisions/{name}/conditions", json=ready)
        assert set_ready.status_code == 200
        assert porch.get(name)["status"]["conditions"] == [
            {"type": gate, "status": "True", "reason": "Specialized"}
        ]
    app.state.store.close()
