"""The direct-to-git writer against real bare repos: Porch's layout, idempotency, races, seeding."""

from __future__ import annotations

import socket
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path

import pytest
from ruamel.yaml import YAML

from rapp.enact._git import is_transient
from rapp.enact.nephio import GitPackageRepo, PackageRevision, PublishError, redact_url
from rapp.enact.packages import Capacity, PackageError, read_capacity, set_capacity
from simulators.nephio.__main__ import main as seed_cli
from simulators.nephio.seed import SEED_WORKSPACE, seed_repository

PKG = "edge01/free5gc-upf"
OTHER = "edge02/free5gc-upf"


def git(bare: Path, *args: str) -> str:
    env = {"GIT_CONFIG_GLOBAL": "/dev/null", "GIT_CONFIG_NOSYSTEM": "1", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        ["git", "--git-dir", str(bare), *args], capture_output=True, text=True, env=env, check=True
    )
    return out.stdout.strip()


def tags(bare: Path) -> dict[str, str]:
    lines = git(bare, "for-each-ref", "--format=%(refname:short) %(objectname)", "refs/tags")
    return dict(line.split() for line in lines.splitlines())


def is_ancestor(bare: Path, old: str, new: str) -> bool:
    res = subprocess.run(["git", "--git-dir", str(bare), "merge-base", "--is-ancestor", old, new])
    return res.returncode == 0


def scale(to: str) -> Callable[[dict[str, str]], dict[str, str]]:
    return lambda files: set_capacity(files, uplink=to, downlink=to)


@pytest.fixture(autouse=True)
def git_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The writer reads user git config: give it an empty one, not the developer's."""
    config = tmp_path / "gitconfig"
    config.write_text("")
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(config))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    return config


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    """Keep http(s) to 127.0.0.1 on this machine even where a proxy is configured."""
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.setenv("NO_PROXY", "*")
    monkeypatch.setenv("no_proxy", "*")


@pytest.fixture
def remote(tmp_path: Path) -> Path:
    bare = tmp_path / "deploy.git"
    seed_repository(bare, [PKG, OTHER])
    return bare


@pytest.fixture
def repo_factory(tmp_path: Path, remote: Path) -> Callable[..., GitPackageRepo]:
    count = iter(range(1000))

    def make(**kwargs: object) -> GitPackageRepo:
        return GitPackageRepo(str(remote), tmp_path / f"clone{next(count)}", **kwargs)  # type: ignore[arg-type]

    return make


def test_seeded_packages_are_what_porch_reads(remote: Path, repo_factory) -> None:
    repo = repo_factory()
    assert repo.packages() == [PKG, OTHER]
    assert set(tags(remote)) == {f"{PKG}/v1", f"{OTHER}/v1"}
    for pkg in (PKG, OTHER):
        assert git(remote, "cat-file", "-t", f"main:{pkg}/Kptfile") == "blob"
        files = repo.read(pkg)
        assert read_capacity(files) == Capacity("5G", "5G")
        assert YAML(typ="safe").load(files["Kptfile"])["metadata"]["name"] == "free5gc-upf"
        rev = repo.latest_revision(pkg)
        assert rev == PackageRevision(
            pkg, 1, f"{pkg}/v1", tags(remote)[f"{pkg}/v1"], SEED_WORKSPACE
        )
        assert is_ancestor(remote, rev.commit, "main")
        assert git(remote, "log", "-1", "--format=%B", rev.commit) == (
            f"Approving package revision {pkg}/1\n\n"
            f'kpt:{{"package":"{pkg}","workspaceName":"packagevariant-1","revision":"1"}}'
        )


def test_seed_capacity_and_cli(tmp_path: Path) -> None:
    bare = tmp_path / "cli.git"
    assert seed_cli(["seed", "--repo", str(bare), "--package", "upf-a", "--capacity", "3G"]) == 0
    files = GitPackageRepo(str(bare), tmp_path / "w").read("upf-a")
    assert read_capacity(files) == Capacity("3G", "3G")
    assert YAML(typ="safe").load(files["upfdeployment.yaml"])["spec"]["capacity"] == {
        "maxUplinkThroughput": "3G",
        "maxDownlinkThroughput": "3G",
    }
    with pytest.raises(SystemExit):
        seed_cli(["seed", "--repo", str(bare), "--package", "upf-b"])
    assert set(tags(bare)) == {"upf-a/v1"}
    assert seed_cli(["seed", "--repo", str(bare), "--package", "upf-b", "--force"]) == 0
    assert set(tags(bare)) == {"upf-b/v1"}


def test_publish_v2_fast_forward_with_only_capacity_changed(remote: Path, repo_factory) -> None:
    repo = repo_factory()
    old_tip = git(remote, "rev-parse", "main")
    rev = repo.publish(PKG, "d0123abc", scale("10G"), message="decision d0123abc")

    assert (rev.package, rev.revision, rev.tag, rev.workspace) == (PKG, 2, f"{PKG}/v2", "d0123abc")
    assert git(remote, "rev-parse", "main") == rev.commit == tags(remote)[f"{PKG}/v2"]
    assert git(remote, "cat-file", "-t", f"refs/tags/{PKG}/v2") == "commit"  # lightweight
    assert is_ancestor(remote, old_tip, rev.commit)
    assert git(remote, "rev-parse", f"{rev.commit}^") == old_tip
    assert git(remote, "log", "-1", "--format=%B", rev.commit).splitlines() == [
        f"Approving package revision {PKG}/2",
        "",
        f'kpt:{{"package":"{PKG}","workspaceName":"d0123abc","revision":"2"}}',
        "decision d0123abc",
    ]
    assert git(remote, "log", "-1", "--format=%an <%ae>", rev.commit) == "rapp <rapp@localhost>"

    changed = git(remote, "diff", "--name-only", old_tip, rev.commit).splitlines()
    assert changed == [f"{PKG}/capacity.yaml", f"{PKG}/upfdeployment.yaml"]
    assert git(remote, "diff", "--name-only", f"{PKG}/v1", f"{PKG}/v2", "--", PKG) == "\n".join(
        changed
    )
    load = YAML(typ="safe").load
    v1 = {f: load(git(remote, "show", f"{PKG}/v1:{f}")) for f in changed}
    v2 = {f: load(git(remote, "show", f"{PKG}/v2:{f}")) for f in changed}
    cap = {"maxUplinkThroughput": "10G", "maxDownlinkThroughput": "10G"}
    assert v1[changed[0]]["spec"] != cap
    assert v2[changed[0]]["spec"] == cap
    assert v2[changed[1]]["spec"]["capacity"] == cap
    v1[changed[0]]["spec"] = v1[changed[1]]["spec"]["capacity"] = cap
    assert v1 == v2
    assert read_capacity(repo_factory().read(PKG)) == Capacity("10G", "10G")


def test_publish_is_idempotent_by_workspace(remote: Path, repo_factory) -> None:
    first = repo_factory().publish(PKG, "d1", scale("10G"))
    before = (git(remote, "rev-parse", "main"), tags(remote))

    def must_not_run(files: dict[str, str]) -> dict[str, str]:
        raise AssertionError("mutate ran for a workspace that is already published")

    # A fresh clone stands for the process that crashed after its push.
    assert repo_factory().publish(PKG, "d1", must_not_run) == first
    assert repo_factory().find_revision(PKG, "d1") == first
    assert (git(remote, "rev-parse", "main"), tags(remote)) == before
    assert repo_factory().find_revision(PKG, "nope") is None
    # The workspace is per package: the same name on another package is a new revision.
    assert repo_factory().publish(OTHER, "d1", scale("10G")).tag == f"{OTHER}/v2"


def test_non_integer_tags_are_ignored(remote: Path, repo_factory) -> None:
    git(remote, "tag", f"{PKG}/v2.0.0", "main")
    git(remote, "tag", f"{PKG}/v9-rc", "main")
    git(remote, "tag", f"{PKG}/sub/v7", "main")  # a nested package's tag, not this one's
    repo = repo_factory()
    assert repo.latest_revision(PKG).revision == 1
    assert repo.publish(PKG, "d2", scale("10G")).tag == f"{PKG}/v2"
    assert repo.latest_revision(PKG).revision == 2


def test_refused_mutations_write_nothing(remote: Path, repo_factory) -> None:
    repo = repo_factory()
    before = (git(remote, "rev-parse", "main"), tags(remote))
    with pytest.raises(PackageError, match="no change"):
        repo.publish(PKG, "same", scale("5G"))
    with pytest.raises(PackageError, match="removes the Kptfile"):
        repo.publish(PKG, "nokpt", lambda f: {k: v for k, v in f.items() if k != "Kptfile"})
    with pytest.raises(PackageError, match="refusing file"):
        repo.publish(PKG, "escape", lambda f: {**f, "../other/x.yaml": "a: 1\n"})
    with pytest.raises(PackageError, match="no package"):
        repo.read("edge09/none")
    with pytest.raises(ValueError, match="package path"):
        repo.publish("../x", "w", scale("1G"))
    assert (git(remote, "rev-parse", "main"), tags(remote)) == before


def test_deleting_a_file_and_other_packages_untouched(remote: Path, repo_factory) -> None:
    repo = repo_factory()
    other_tree = git(remote, "rev-parse", f"main:{OTHER}")
    old_tip = git(remote, "rev-parse", "main")
    rev = repo.publish(PKG, "d3", lambda f: {k: v for k, v in f.items() if k != "README.md"})
    assert git(remote, "diff", "--name-status", old_tip, rev.commit) == f"D\t{PKG}/README.md"
    assert git(remote, "rev-parse", f"main:{OTHER}") == other_tree


def test_race_loser_retries_on_the_new_tip(remote: Path, repo_factory) -> None:
    a, b = repo_factory(), repo_factory()
    calls: list[str] = []
    b_rev: list[PackageRevision] = []

    def a_mutate(files: dict[str, str]) -> dict[str, str]:
        calls.append(read_capacity(files).max_uplink)
        if not b_rev:  # B publishes between A's fetch and A's push
            b_rev.append(b.publish(PKG, "ws-b", scale("10G")))
        return set_capacity(files, uplink="20G", downlink="20G")

    a_rev = a.publish(PKG, "ws-a", a_mutate)

    assert calls == ["5G", "10G"]  # rejected once, re-applied on B's revision
    assert (b_rev[0].revision, a_rev.revision) == (2, 3)
    assert tags(remote)[f"{PKG}/v2"] == b_rev[0].commit
    assert tags(remote)[f"{PKG}/v3"] == a_rev.commit == git(remote, "rev-parse", "main")
    assert is_ancestor(remote, b_rev[0].commit, a_rev.commit)
    assert read_capacity(repo_factory().read(PKG)) == Capacity("20G", "20G")
    assert a.find_revision(PKG, "ws-b") == b_rev[0]


def test_rejected_atomic_push_leaves_no_stray_tag(remote: Path, repo_factory) -> None:
    a, b = repo_factory(push_attempts=1), repo_factory()

    def a_mutate(files: dict[str, str]) -> dict[str, str]:
        # B moves main with another package, so A's tag PKG/v2 is new and only main conflicts.
        if f"{OTHER}/v2" not in tags(remote):
            b.publish(OTHER, "ws-b", scale("10G"))
        return set_capacity(files, uplink="20G", downlink="20G")

    with pytest.raises(PublishError, match="rejected 1 times") as lost:
        a.publish(PKG, "ws-a", a_mutate)
    assert lost.value.transient
    assert f"{PKG}/v2" not in tags(remote)
    assert git(remote, "rev-parse", "main") == tags(remote)[f"{OTHER}/v2"]

    rev = a.publish(PKG, "ws-a", a_mutate)
    assert rev.tag == f"{PKG}/v2"
    assert is_ancestor(remote, tags(remote)[f"{OTHER}/v2"], rev.commit)


def test_concurrent_writers_lose_nothing(remote: Path, repo_factory) -> None:
    writers = [repo_factory(push_attempts=20), repo_factory(push_attempts=20)]
    barrier = threading.Barrier(4)
    results: list[PackageRevision] = []
    errors: list[BaseException] = []

    def run(w: GitPackageRepo, name: str) -> None:
        barrier.wait()
        try:
            for i in range(2):
                results.append(w.publish(PKG, f"{name}-{i}", scale(f"{len(name) * 10 + i}G")))
        except BaseException as e:  # surfaced below
            errors.append(e)

    threads = [
        threading.Thread(target=run, args=(writers[i % 2], name))
        for i, name in enumerate(["a", "bb", "ccc", "dddd"])
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sorted(r.revision for r in results) == list(range(2, 10))
    history = git(remote, "rev-list", "--first-parent", "main").splitlines()
    for r in results:
        assert tags(remote)[r.tag] == r.commit
        assert r.commit in history
    assert len(set(history)) == len(history) == 2 + 8  # two seeds, eight revisions, linear
    last = max(results, key=lambda r: r.revision)
    assert git(remote, "rev-parse", "main") == last.commit
    name, i = last.workspace.split("-")
    want = f"{len(name) * 10 + int(i)}G"
    assert read_capacity(writers[1].read(PKG)) == Capacity(want, want)


def test_git_failures_raise_publish_error_with_stderr(tmp_path: Path) -> None:
    repo = GitPackageRepo(str(tmp_path / "missing.git"), tmp_path / "w")
    with pytest.raises(PublishError, match="does not appear to be a git repository") as missing:
        repo.packages()
    assert missing.value.transient is False
    (tmp_path / "junk").mkdir()
    (tmp_path / "junk" / "file").write_text("x")
    with pytest.raises(PublishError, match="not a git clone"):
        GitPackageRepo(str(tmp_path / "missing.git"), tmp_path / "junk").packages()


def test_user_git_config_and_credentials_env_are_honoured(
    tmp_path: Path, remote: Path, git_config: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A deploy setup: the configured remote is rewritten by the user's insteadOf.
    git_config.write_text(
        f'[url "{remote}"]\n\tinsteadOf = fake://deploy\n'
        "[user]\n\tname = Someone Else\n\temail = else@example.org\n"
    )
    monkeypatch.setenv("GIT_DIR", str(tmp_path / "elsewhere.git"))  # as a git hook exports
    monkeypatch.setenv("GIT_INDEX_FILE", str(tmp_path / "elsewhere.index"))
    monkeypatch.setenv("GIT_AUTHOR_NAME", "Someone Else")
    repo = GitPackageRepo("fake://deploy", tmp_path / "w")
    assert repo.packages() == [PKG, OTHER]
    rev = repo.publish(PKG, "d-cfg", scale("10G"))
    assert git(remote, "rev-parse", "main") == rev.commit
    who = "%an <%ae> / %cn <%ce>"
    assert git(remote, "log", "-1", f"--format={who}", rev.commit) == (
        "rapp <rapp@localhost> / rapp <rapp@localhost>"
    )
    assert not (tmp_path / "elsewhere.git").exists()
    assert repo._env["GIT_CONFIG_GLOBAL"] == str(git_config)
    assert repo._env["GIT_TERMINAL_PROMPT"] == "0"
    assert "GIT_DIR" not in repo._env
    assert "GIT_INDEX_FILE" not in repo._env


def test_secrets_in_the_remote_are_redacted(
    tmp_path: Path, closed_port: int, no_proxy: None
) -> None:
    url = f"https://user:s3cret@127.0.0.1:{closed_port}/deploy.git"
    shown = f"https://***@127.0.0.1:{closed_port}/deploy.git"
    assert redact_url(url) == shown
    assert redact_url("https://tok3n@host/r.git") == "https://***@host/r.git"
    assert redact_url("git@github.com:org/r.git") == "git@github.com:org/r.git"
    assert redact_url("https://host/r.git") == "https://host/r.git"
    repo = GitPackageRepo(url, tmp_path / "w")
    with pytest.raises(PublishError) as failed:
        repo.packages()
    assert shown in str(failed.value)
    assert "s3cret" not in str(failed.value)
    assert "s3cret" not in repr(failed.value.args)
    assert failed.value.transient
    assert failed.value.__cause__ is None or "s3cret" not in str(failed.value.__cause__)


def test_secrets_redacted_when_a_hook_declines_the_push(
    tmp_path: Path, remote: Path, git_config: Path, closed_port: int
) -> None:
    url = f"https://user:s3cret@127.0.0.1:{closed_port}/deploy.git"  # insteadOf: never dialled
    git_config.write_text(f'[url "{remote}"]\n\tinsteadOf = {url}\n')
    hook = remote / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho protected by policy >&2\nexit 1\n")
    hook.chmod(0o755)
    with pytest.raises(PublishError, match="hook declined") as declined:
        GitPackageRepo(url, tmp_path / "w").publish(PKG, "d-hook", scale("10G"))
    assert f"https://***@127.0.0.1:{closed_port}/deploy.git" in str(declined.value)
    assert "s3cret" not in str(declined.value)
    assert declined.value.transient is False
    assert f"{PKG}/v2" not in tags(remote)


def test_unreachable_http_remote_is_transient(
    tmp_path: Path, closed_port: int, no_proxy: None
) -> None:
    repo = GitPackageRepo(f"http://127.0.0.1:{closed_port}/deploy.git", tmp_path / "w")
    with pytest.raises(PublishError, match=r"127\.0\.0\.1") as failed:
        repo.latest_revision(PKG)
    assert failed.value.transient is True


@pytest.mark.parametrize(
    ("stderr", "transient"),
    [
        ("fatal: unable to access 'https://h/r/': Could not resolve host: h", True),
        ("ssh: connect to host h port 22: Connection refused", True),
        ("ssh: connect to host h port 22: Connection timed out", True),
        ("fatal: the remote end hung up unexpectedly", True),
        ("error: RPC failed; HTTP 502 curl 22 The requested URL returned error: 502", True),
        ("fatal: unable to access 'https://h/r/': The requested URL returned error: 503", True),
        ("fatal: unable to access 'https://h/r/': The requested URL returned error: 429", True),
        ("fatal: repository 'https://h/r/' not found", False),
        ("fatal: 'r' does not appear to be a git repository", False),
        ("fatal: Authentication failed for 'https://h/r/'", False),
        ("fatal: unable to access 'https://h/r/': The requested URL returned error: 403", False),
        (
            "git@h: Permission denied (publickey).\n"
            "fatal: Could not read from remote repository.\n"
            "fatal: the remote end hung up unexpectedly",
            False,
        ),
        ("fatal: could not read Username for 'https://h': terminal prompts disabled", False),
        ("! refs/heads/main [remote rejected] (pre-receive hook declined)", False),
        ("fatal: something nobody has seen before", False),
    ],
)
def test_failures_are_classified_from_git_stderr(stderr: str, transient: bool) -> None:
    assert is_transient(stderr) is transient


def test_unchanged_publish_can_return_the_latest_revision(remote: Path, repo_factory) -> None:
    repo = repo_factory()
    v2 = repo.publish(PKG, "d-up", scale("10G"))
    before = (git(remote, "rev-parse", "main"), tags(remote))
    # A replay, or an operator got there first: the package already holds 10G.
    assert repo_factory().publish(PKG, "d-again", scale("10G"), if_unchanged="latest") == v2
    with pytest.raises(PackageError, match="no change"):
        repo_factory().publish(PKG, "d-again", scale("10G"))
    assert (git(remote, "rev-parse", "main"), tags(remote)) == before
    assert repo.find_revision(PKG, "d-again") is None
    with pytest.raises(ValueError, match="if_unchanged"):
        repo.publish(PKG, "d-x", scale("20G"), if_unchanged="ignore")  # type: ignore[arg-type]


# -- group commit: publishes waiting together go out in one push ------------------------------

SITES = [f"edge{i:02d}/free5gc-upf" for i in range(3, 13)]


def hold_pushes(remote: Path, release: Path, log: Path) -> None:
    """Every push is logged (one line per pushed ref); the first waits for ``release``."""
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\n"
        f"while [ ! -e '{release}' ]; do sleep 0.05; done\n"
        f"cat >> '{log}'\necho --- >> '{log}'\n"
    )
    hook.chmod(0o755)


def publish_all(
    writer: GitPackageRepo, jobs: dict[str, Callable]
) -> tuple[dict[str, object], list[threading.Thread]]:
    """Publish each package's edit from its own thread (started, not joined); the dict fills
    with each one's revision or error."""
    out: dict[str, object] = {}

    def one(package: str) -> None:
        try:
            out[package] = writer.publish(package, f"ws-{package.split('/')[0]}", jobs[package])
        except Exception as exc:
            out[package] = exc

    threads = [threading.Thread(target=one, args=(p,)) for p in jobs]
    for t in threads:
        t.start()
    return out, threads


def test_publishes_waiting_together_share_one_push(tmp_path: Path) -> None:
    remote = tmp_path / "deploy.git"
    seed_repository(remote, SITES)
    release, log = tmp_path / "release", tmp_path / "pushes"
    hold_pushes(remote, release, log)
    writer = GitPackageRepo(str(remote), tmp_path / "clone")
    out, threads = publish_all(writer, {p: scale("10G") for p in SITES})
    # The first push waits in the hook until every other publish is waiting for the writer.
    while len(writer._waiting) < len(SITES) - 1:
        threading.Event().wait(0.02)
    release.touch()
    for t in threads:
        t.join()
    assert all(isinstance(r, PackageRevision) for r in out.values()), out
    pushes = log.read_text().split("---\n")[:-1]
    assert len(pushes) == 2  # the first publish alone, then the nine waiting behind it
    history = git(remote, "rev-list", "--first-parent", "main").splitlines()
    assert len(history) == len(set(history)) == len(SITES) + len(SITES)  # seeds, revisions
    for package, revision in out.items():
        assert revision.tag == f"{package}/v2"
        assert tags(remote)[revision.tag] == revision.commit
        message = git(remote, "log", "-1", "--format=%B", revision.commit)
        assert message.startswith(f"Approving package revision {package}/2\n")
        assert f'"workspaceName":"ws-{package.split("/")[0]}"' in message
        # Each revision's commit changes its own package only.
        changed = git(remote, "diff", "--name-only", f"{revision.commit}^", revision.commit)
        assert {path.rsplit("/", 1)[0] for path in changed.split()} == {package}
        assert read_capacity(writer.read(package)) == Capacity("10G", "10G")


def test_in_a_group_a_refused_edit_or_a_refused_tag_fails_alone(tmp_path: Path) -> None:
    remote = tmp_path / "deploy.git"
    seed_repository(remote, SITES[:4])
    bad_edit, bad_tag = SITES[1], SITES[2]
    hook = remote / "hooks" / "pre-receive"
    hook.write_text(
        "#!/bin/sh\n"
        f"grep -q 'refs/tags/{bad_tag}/' && {{ echo 'tag refused by policy' >&2; exit 1; }}\n"
        "exit 0\n"
    )
    hook.chmod(0o755)

    def refuse(files: dict[str, str]) -> dict[str, str]:
        raise PackageError("not this one")

    writer = GitPackageRepo(str(remote), tmp_path / "clone")
    jobs = {p: scale("20G") for p in SITES[:4]} | {bad_edit: refuse}
    out, threads = publish_all(writer, jobs)
    for t in threads:
        t.join()
    assert isinstance(out[bad_edit], PackageError)
    assert isinstance(out[bad_tag], PublishError)
    assert "hook declined" in str(out[bad_tag])
    assert not out[bad_tag].transient
    for package in (SITES[0], SITES[3]):
        assert out[package].tag == f"{package}/v2"
        assert read_capacity(writer.read(package)) == Capacity("20G", "20G")
    assert f"{bad_tag}/v2" not in tags(remote)
    assert f"{bad_edit}/v2" not in tags(remote)


def test_locks_a_killed_git_run_left_in_the_clone_do_not_stop_later_fetches(
    remote: Path, tmp_path: Path
) -> None:
    """A SIGKILL mid-fetch leaves ref locks in the private clone; the next process clears them
    instead of failing every fetch on 'Unable to create ... .lock: File exists'."""
    workdir = tmp_path / "clone-of-killed"
    GitPackageRepo(str(remote), workdir).publish(PKG, "d1", scale("10G"))
    (workdir / "refs" / "tags" / PKG).mkdir(parents=True, exist_ok=True)
    (workdir / "refs" / "tags" / PKG / "v3.lock").write_text("")
    (workdir / "packed-refs.lock").write_text("")
    GitPackageRepo(str(remote), tmp_path / "other").publish(PKG, "d2", scale("20G"))  # v3 lands

    survivor = GitPackageRepo(str(remote), workdir)  # the next life of the killed process
    assert survivor.latest_revision(PKG).tag == f"{PKG}/v3"
    assert not list(workdir.rglob("*.lock"))
