"""File-ready notifications end to end inside one process: the allow-lists, retries of transient
failures, the journal as their dead-letter place, resuming after a restart, fetching a file once,
and the API listing failed ones. Real HTTP servers on 127.0.0.1 and SQLite files.

The runtime is a stand-in with the real journal, alarm book, metrics and settings: a real
``Runtime`` registers a DBOS instance that can exist once per process (tests/test_saga.py has
it). tests/test_intake_e2e.py drives the same path through the real ``rapp serve``.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from fastapi import FastAPI
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from rapp.alarms import AlarmBook
from rapp.api import create_app
from rapp.api.ves import ves_router
from rapp.config import Settings
from rapp.domain import FileReady, PmBatch
from rapp.intake import fetch_and_accept, resume_fetches, ves_sink
from rapp.metrics import LoopMetrics
from rapp.store import FileReadyState, Journal
from rapp.telemetry.fetch import (
    DIRS_SETTING,
    HOSTS_SETTING,
    AllowList,
    FetchError,
    check_allowed,
    fetch_file,
)
from tests.conftest import SAMPLES, free_port, serve
from tests.test_ves import legacy_file_ready

T = TypeVar("T")
PM_XML = SAMPLES / "pm-xml" / "onap_A20181002.0000-1000-0015-1000_5G.xml"


# ---- the allow-lists alone

HOSTS = ["files.example.com", "127.0.0.1:8080", "[::1]:9000"]


@pytest.mark.parametrize(
    "url",
    [
        "https://files.example.com/pm/A.xml.gz",
        "http://files.example.com/pm/A.xml.gz",
        "https://files.example.com:443/pm/A.xml.gz",  # the default port, spelled out
        "https://FILES.Example.COM./pm/A.xml.gz",  # case and the root dot
        "https://user:pw@files.example.com/pm/A.xml.gz",
        "http://127.0.0.1:8080/A.xml",
        "http://[::1]:9000/A.xml",
    ],
)
def test_allowed_hosts_pass(url: str) -> None:
    assert check_allowed(url, hosts=HOSTS, dirs=[]) is None


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("https://evil.example/pm/A.xml", "evil.example"),
        ("https://files.example.com:8443/pm/A.xml", "files.example.com:8443"),
        ("http://127.0.0.1:8081/A.xml", "127.0.0.1:8081"),
        ("http://127.0.0.1/A.xml", "127.0.0.1"),
        ("http://files.example.com@evil.example/A.xml", "evil.example"),
        ("http://files.example.com:443@evil.example/A.xml", "evil.example"),
        ("http://files.example.com\\@evil.example/A.xml", "evil.example"),
        ("http://evil.example#@files.example.com/A.xml", "evil.example"),
        ("https://files.example.com.evil.example/A.xml", "files.example.com.evil.example"),
        ("http://localhost:8080/A.xml", "localhost:8080"),  # a name is not its address
        ("http://2130706433:8080/A.xml", "2130706433:8080"),  # nor is a number spelling it
    ],
)
def test_other_hosts_are_refused_naming_the_setting(url: str, named: str) -> None:
    with pytest.raises(FetchError) as err:
        check_allowed(url, hosts=HOSTS, dirs=[])
    assert err.value.reason == f"host {named} is not in {HOSTS_SETTING}"
    assert err.value.transient is False


def test_a_port_entry_is_that_port_only() -> None:
    hosts = ["files.example.com:80"]
    assert check_allowed("http://files.example.com/a", hosts=hosts, dirs=[]) is None
    with pytest.raises(FetchError, match=r"host files\.example\.com is not in"):
        check_allowed("https://files.example.com/a", hosts=hosts, dirs=[])


def test_no_hosts_means_no_http() -> None:
    with pytest.raises(FetchError) as err:
        check_allowed("https://files.example.com/a", hosts=[], dirs=[Path("/")])
    assert err.value.reason == (
        "host files.example.com is not in ves.fetch_hosts (RAPP_VES__FETCH_HOSTS); "
        "it is empty, so no file is fetched over http(s)"
    )


@pytest.fixture
def tree(tmp_path: Path) -> tuple[Path, Path]:
    """An allowed directory with a file, a secret beside it, and a symlink from one to the
    other."""
    allowed, secret = tmp_path / "pm", tmp_path / "secret.txt"
    allowed.mkdir()
    (allowed / "A.xml").write_text("<measCollecFile/>")
    secret.write_text("root:x:0:0")
    (allowed / "link.xml").symlink_to(secret)
    return allowed, secret


def test_local_paths_inside_fetch_dirs_pass(tree: tuple[Path, Path], tmp_path: Path) -> None:
    allowed, _ = tree
    inside = allowed / "A.xml"
    assert check_allowed(str(inside), hosts=[], dirs=[allowed]) == inside
    assert check_allowed(inside.as_uri(), hosts=[], dirs=[allowed]) == inside
    assert check_allowed(str(allowed / "sub" / ".." / "A.xml"), hosts=[], dirs=[allowed]) == inside
    (tmp_path / "alias").symlink_to(allowed)  # a configured directory may itself be a link
    assert check_allowed(str(inside), hosts=[], dirs=[tmp_path / "alias"]) == inside


@pytest.mark.parametrize(
    ("name", "via"),
    [("outside", False), ("dotdot", True), ("symlink", True), ("file_url", False)],
)
def test_local_paths_outside_fetch_dirs_are_refused(
    tree: tuple[Path, Path], name: str, via: bool
) -> None:
    allowed, secret = tree
    url = {
        "outside": str(secret),
        "dotdot": f"{allowed}/../{secret.name}",
        "symlink": str(allowed / "link.xml"),
        "file_url": secret.as_uri(),
    }[name]
    with pytest.raises(FetchError) as err:
        check_allowed(url, hosts=[], dirs=[allowed])
    assert err.value.reason.startswith(f"local file {url} is outside {DIRS_SETTING}")
    assert ("resolves to " + str(secret) in err.value.reason) is via
    assert err.value.transient is False


def test_unresolvable_local_paths_are_refused(tree: tuple[Path, Path]) -> None:
    allowed, _ = tree
    (allowed / "loop.xml").symlink_to(allowed / "loop.xml")
    for url in (str(allowed / "loop.xml"), f"{allowed}/A\x00.xml"):
        with pytest.raises(FetchError, match="cannot resolve local file") as err:
            check_allowed(url, hosts=[], dirs=[allowed])
        assert err.value.transient is False


def test_no_fetch_dirs_means_no_local_files(tree: tuple[Path, Path]) -> None:
    allowed, _ = tree
    with pytest.raises(FetchError) as err:
        check_allowed(str(allowed / "A.xml"), hosts=["files.example.com"], dirs=[])
    assert err.value.reason == f"local file {allowed / 'A.xml'} refused: {DIRS_SETTING} is empty"


# ---- a file server whose answers a test scripts


class Files:
    """What the server answers per path: scripted statuses first, then 200 with the body;
    ``hits`` counts the requests per path."""

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.bodies: dict[str, bytes] = {}
        self.script: dict[str, list[int]] = {}
        self.redirects: dict[str, str] = {}
        self.hits: Counter[str] = Counter()
        self.url = ""

    def app(self) -> Starlette:
        async def answer(request: Request) -> Response:
            name = request.path_params["name"]
            self.hits[name] += 1
            if name in self.redirects:
                return Response(status_code=302, headers={"location": self.redirects[name]})
            if name == "slow":
                await asyncio.sleep(2)
            script = self.script.get(name)
            status = script.pop(0) if script else 200
            return Response(self.bodies.get(name, self.body) if status == 200 else b"", status)

        return Starlette(routes=[Route("/{name:path}", answer)])


@pytest.fixture
def files(samples: Path) -> Iterator[Files]:
    f = Files(PM_XML.read_bytes())
    with serve(f.app()) as url:
        f.url = url
        yield f


class Intake:
    """The parts of ``rapp.runtime.Runtime`` the intake uses, all real but ``offer``, which
    keeps what it is offered."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.journal = Journal(settings.store.url)
        self.alarms = AlarmBook()
        self.metrics = LoopMetrics()
        self.offered: list[PmBatch] = []
        self.tasks: set[asyncio.Task[Any]] = set()

    async def offer(self, batch: PmBatch) -> None:
        self.offered.append(batch)

    def spawn(self, work: Awaitable[object], *, name: str) -> None:
        self.tasks.add(asyncio.ensure_future(work))

    async def settle(self) -> None:
        """Wait for everything spawned so far."""
        while pending := [t for t in self.tasks if not t.done()]:
            await asyncio.gather(*pending)

    def rows(self, state: FileReadyState | None = None) -> list[dict[str, Any]]:
        return self.journal.file_ready_notifications(states=[state] if state else [])

    def counted(self, state: FileReadyState) -> float:
        value = self.metrics.registry.get_sample_value(
            "rapp_file_ready_total", {"state": state.value}
        )
        return value or 0.0


async def until(predicate: Callable[[], T]) -> T:
    """The first truthy ``predicate()`` within 20 s, polled without blocking the event loop."""
    for _ in range(400):
        if value := predicate():
            return value
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met within 20 s")


def settings_for(tmp_path: Path, files: Files | None = None, **ves: Any) -> Settings:
    hosts = [files.url.removeprefix("http://")] if files else []
    return Settings(
        store={"url": f"sqlite:///{tmp_path / 'journal.sqlite'}"},
        ves={"fetch_hosts": hosts, "fetch_backoff_s": 0.01, "fetch_attempts": 4, **ves},
    )


@pytest.fixture
def intake(tmp_path: Path, files: Files) -> Iterator[Intake]:
    runtime = Intake(settings_for(tmp_path, files))
    yield runtime
    runtime.journal.close()


def ready(url: str) -> FileReady:
    return FileReady(url=url, source="gnb-17", notified_at=datetime(2026, 3, 1, 10, tzinfo=UTC))


# ---- fetch_file: what is transient, redirects within the allow-list


async def test_fetch_errors_say_whether_to_retry(files: Files) -> None:
    allow = AllowList(hosts=(files.url.removeprefix("http://"),))
    files.script["busy"] = [503]
    files.script["limited"] = [429]
    files.script["gone"] = [404]
    for name, transient in (("busy", True), ("limited", True), ("gone", False)):
        with pytest.raises(FetchError, match="answered") as err:
            await fetch_file(ready(f"{files.url}/{name}"), allow=allow)
        assert err.value.transient is transient, name
    with pytest.raises(FetchError, match=r"timed out after 0\.2 s") as err:
        await fetch_file(ready(f"{files.url}/slow"), allow=allow, timeout=0.2)
    assert err.value.transient is True
    closed = f"127.0.0.1:{free_port()}"
    with pytest.raises(FetchError, match="failed") as err:
        await fetch_file(ready(f"http://{closed}/x"), allow=AllowList(hosts=(closed,)))
    assert err.value.transient is True


async def test_redirects_are_followed_only_to_allowed_hosts(files: Files) -> None:
    port = files.url.rsplit(":", 1)[1]
    allow = AllowList(hosts=(f"127.0.0.1:{port}",))
    files.redirects["moved"] = f"{files.url}/pm.xml"
    assert await fetch_file(ready(f"{files.url}/moved"), allow=allow) == files.body
    files.redirects["away"] = f"http://localhost:{port}/pm.xml"  # same server, other name
    with pytest.raises(FetchError) as err:
        await fetch_file(ready(f"{files.url}/away"), allow=allow)
    assert err.value.reason == (
        f"GET {files.url}/away redirects elsewhere: host localhost:{port} is not in {HOSTS_SETTING}"
    )
    assert err.value.transient is False
    assert files.hits["pm.xml"] == 1  # never asked for at the other name
    files.redirects["local"] = "file:///etc/passwd"
    with pytest.raises(FetchError, match="redirects to a 'file' URL"):
        await fetch_file(ready(f"{files.url}/local"), allow=allow)


async def test_a_refused_url_is_never_fetched(files: Files) -> None:
    with pytest.raises(FetchError, match=r"is not in ves\.fetch_hosts"):
        await fetch_file(ready(f"{files.url}/pm.xml"), allow=AllowList())
    assert files.hits == {}


# ---- fetch_and_accept with the journal


async def test_transient_failures_are_retried_and_the_file_taken_in(
    intake: Intake, files: Files
) -> None:
    files.script["A.xml"] = [503, 503]
    await fetch_and_accept(intake, ready(f"{files.url}/A.xml"))
    assert files.hits["A.xml"] == 3
    [batch] = intake.offered
    assert len(batch) > 0
    assert batch.frame["cell"].nunique() >= 3
    [row] = intake.rows()
    assert (row["state"], row["attempts"], row["reason"]) == ("done", 3, "")
    assert intake.counted(FileReadyState.DONE) == 1


async def test_a_404_fails_at_once_and_is_listed(intake: Intake, files: Files) -> None:
    files.script["gone.xml"] = [404]
    await fetch_and_accept(intake, ready(f"{files.url}/gone.xml"))
    assert files.hits["gone.xml"] == 1
    assert intake.offered == []
    [row] = intake.rows(FileReadyState.FAILED)
    assert row["attempts"] == 1
    assert row["reason"] == f"GET {files.url}/gone.xml answered 404"
    assert row["notification"]["source"] == "gnb-17"  # the notification is kept
    assert intake.counted(FileReadyState.FAILED) == 1

    with serve(create_app(intake.journal, dict)) as api:
        async with httpx.AsyncClient(base_url=f"{api}/api/v1") as client:
            failed = (await client.get("/file-ready", params={"state": "failed"})).json()
            assert [(r["url"], r["reason"]) for r in failed] == [(row["url"], row["reason"])]
            assert (await client.get("/file-ready", params={"state": "done"})).json() == []
            assert len((await client.get("/file-ready")).json()) == 1
            bogus = await client.get("/file-ready", params={"state": "bogus"})
            assert bogus.status_code == 422


async def test_attempts_run_out(tmp_path: Path, files: Files) -> None:
    runtime = Intake(settings_for(tmp_path, files, fetch_attempts=3))
    files.script["busy.xml"] = [503] * 10
    await fetch_and_accept(runtime, ready(f"{files.url}/busy.xml"))
    assert files.hits["busy.xml"] == 3
    [row] = runtime.rows(FileReadyState.FAILED)
    assert row["reason"] == f"GET {files.url}/busy.xml answered 503 (gave up after 3 attempts)"
    runtime.journal.close()


async def test_refused_and_undecodable_files_fail_with_their_reason(
    tmp_path: Path, files: Files
) -> None:
    runtime = Intake(settings_for(tmp_path, files=None))  # no host allowed
    secret = tmp_path / "secret.xml"
    secret.write_bytes(PM_XML.read_bytes())
    await fetch_and_accept(runtime, ready(f"{files.url}/A.xml"))
    await fetch_and_accept(runtime, ready(str(secret)))
    assert files.hits == {}
    reasons = {r["url"]: r["reason"] for r in runtime.rows(FileReadyState.FAILED)}
    assert reasons[f"{files.url}/A.xml"].endswith(
        "is not in ves.fetch_hosts (RAPP_VES__FETCH_HOSTS); it is empty, so no file is fetched"
        " over http(s)"
    )
    assert reasons[str(secret)] == (
        f"local file {secret} refused: ves.fetch_dirs (RAPP_VES__FETCH_DIRS) is empty"
    )
    runtime.journal.close()

    runtime = Intake(settings_for(tmp_path, files))
    files.bodies["junk.xml"] = b'{"event": 1}'
    await fetch_and_accept(runtime, ready(f"{files.url}/junk.xml"))
    [row] = [r for r in runtime.rows(FileReadyState.FAILED) if r["url"].endswith("junk.xml")]
    assert row["attempts"] == 1
    assert row["reason"]
    runtime.journal.close()


async def test_a_local_file_inside_fetch_dirs_is_taken_in(tmp_path: Path, samples: Path) -> None:
    runtime = Intake(settings_for(tmp_path, fetch_dirs=[str(PM_XML.parent)]))
    await fetch_and_accept(runtime, ready(PM_XML.as_uri()))
    [row] = runtime.rows(FileReadyState.DONE)
    assert row["url"] == PM_XML.as_uri()
    assert len(runtime.offered) == 1
    runtime.journal.close()


async def test_the_same_file_announced_twice_is_fetched_once(intake: Intake, files: Files) -> None:
    url = f"{files.url}/A.xml"
    await asyncio.gather(fetch_and_accept(intake, ready(url)), fetch_and_accept(intake, ready(url)))
    await fetch_and_accept(intake, ready(url))  # announced again once done
    assert files.hits["A.xml"] == 1
    assert len(intake.offered) == 1
    assert [r["state"] for r in intake.rows()] == ["done"]


async def test_a_failed_file_announced_again_is_retried(intake: Intake, files: Files) -> None:
    url = f"{files.url}/late.xml"
    files.script["late.xml"] = [404]  # announced before it was there
    await fetch_and_accept(intake, ready(url))
    assert [r["state"] for r in intake.rows()] == ["failed"]
    await fetch_and_accept(intake, ready(url))
    assert files.hits["late.xml"] == 2
    [row] = intake.rows()
    assert (row["state"], row["attempts"], row["reason"]) == ("done", 1, "")
    assert len(intake.offered) == 1


async def test_pending_notifications_are_resumed_after_a_restart(
    tmp_path: Path, files: Files
) -> None:
    before = Intake(settings_for(tmp_path, files))
    # Journalled and answered, then the process died before fetching.
    assert before.journal.record_file_ready(ready(f"{files.url}/A.xml"), "local")
    assert before.journal.record_file_ready(ready(f"{files.url}/B.xml"), "other-replica")
    before.journal.record_file_ready(ready(f"{files.url}/C.xml"), "local")
    for _ in range(4):  # every attempt allowed was made, the last one cut short
        before.journal.record_fetch_attempt(f"{files.url}/C.xml")
    before.journal.close()

    after = Intake(settings_for(tmp_path, files))
    assert await resume_fetches(after) == 2
    await after.settle()
    states = {r["url"].rsplit("/", 1)[1]: r for r in after.rows()}
    assert states["A.xml"]["state"] == "done"
    assert states["B.xml"]["state"] == "pending"  # another replica's, resumed by it
    assert states["C.xml"]["state"] == "failed"
    assert states["C.xml"]["reason"] == "gave up: 4 attempts made, the last one interrupted"
    assert (files.hits["A.xml"], files.hits["B.xml"], files.hits["C.xml"]) == (1, 0, 0)
    assert len(after.offered) == 1
    assert await resume_fetches(after) == 0
    after.journal.close()


async def test_the_listener_journals_before_it_answers(intake: Intake, files: Files) -> None:
    app = FastAPI()
    app.include_router(ves_router(ves_sink(intake)))
    url = f"{files.url}/A.xml"
    event = legacy_file_ready()
    for entry in event["event"]["notificationFields"]["arrayOfNamedHashMap"]:
        entry["hashMap"]["location"] = url  # the same file twice in one event
    files.script["A.xml"] = [503]
    with serve(app) as listener:
        answer = await asyncio.to_thread(
            httpx.post, f"{listener}/eventListener/v7", json=event, timeout=10
        )
        assert answer.status_code == 202, answer.text
        [row] = intake.rows()  # there as soon as the sender is answered
        assert row["source"] == "O-DU-1122"
        # The listener's sink spawned the fetch on the server's own event loop.
        [row] = await until(lambda: intake.rows(FileReadyState.DONE))
    assert (row["state"], row["attempts"]) == ("done", 2)
    assert files.hits["A.xml"] == 2
    assert row["notification"]["url"] == url


async def test_user_info_stays_out_of_answers(intake: Intake, files: Files) -> None:
    host = files.url.removeprefix("http://")
    files.script["private.xml"] = [401]
    await fetch_and_accept(intake, ready(f"http://pm:s3cret@{host}/private.xml"))
    [row] = intake.rows()
    assert row["url"] == row["notification"]["url"] == f"http://***@{host}/private.xml"
    assert "s3cret" not in json.dumps(row)
