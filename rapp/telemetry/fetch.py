"""Fetch the file a file-ready notification names: https/http, or a local path / ``file://``.

sftp and ftp(e)s, which the 3GPP and ONAP file-ready events also use, are not fetched here:
mount the file store (and name the path) or serve the files over https. Every failure is a
``FetchError`` (a ``DecodeError``) whose reason names the URL with its user info replaced by
``***``, and which says whether trying again later may help (``transient``).

Anyone who can post to the VES listener names the URL, so a URL from the network is fetched only
within an ``AllowList``: http(s) hosts (``ves.fetch_hosts``) and local directories
(``ves.fetch_dirs``), each empty by default, so nothing is fetched until an operator says where
files may come from. Redirects are followed only to allowed hosts.
"""

from __future__ import annotations

import asyncio
import os
import urllib.parse
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import httpx

from rapp.domain import FileReady
from rapp.redact import redact_url
from rapp.telemetry.ranpm import DecodeError

__all__ = [
    "AllowList",
    "FetchError",
    "check_allowed",
    "fetch_file",
    "parse_host_entry",
    "redact_url",
]

_CHUNK = 1 << 20
_MAX_REDIRECTS = 5
_DEFAULT_PORTS = {"http": 80, "https": 443}
HOSTS_SETTING = "ves.fetch_hosts (RAPP_VES__FETCH_HOSTS)"
DIRS_SETTING = "ves.fetch_dirs (RAPP_VES__FETCH_DIRS)"


class FetchError(DecodeError):
    """A file that could not be fetched. ``transient`` when a later try may succeed (a timeout,
    a refused connection, HTTP 5xx/429/408), so the caller knows whether to retry or give up."""

    def __init__(self, reason: str, *, transient: bool = False) -> None:
        super().__init__(reason)
        self.transient = transient


@dataclass(frozen=True, slots=True)
class AllowList:
    """Where a notification may send the fetcher: http(s) ``hosts`` (``name`` for the scheme's
    default port, ``name:port`` for another) and local ``dirs``; empty lists allow nothing."""

    hosts: tuple[str, ...] = ()
    dirs: tuple[Path, ...] = ()

    def check(self, url: str) -> Path | None:
        return check_allowed(url, hosts=self.hosts, dirs=self.dirs)


def parse_host_entry(entry: str) -> tuple[str, int | None]:
    """``name`` or ``name:port`` (``[v6]:port`` for IPv6) as (IDNA host, port or None); a
    ValueError says what is wrong, so a bad setting stops the rApp at start, not at a fetch."""
    try:
        url = httpx.URL(f"http://{entry}")
        port = urllib.parse.urlsplit(f"//{entry}").port
    except (httpx.InvalidURL, ValueError) as err:
        raise ValueError(f"{entry!r} is not a host or host:port: {err}") from None
    if not url.raw_host or url.userinfo or url.raw_path != b"/" or "/" in entry:
        raise ValueError(f"{entry!r} is not a host or host:port (no scheme, user or path)")
    if port == 0:
        raise ValueError(f"{entry!r}: port 0 is not a port")
    return _host_key(url.raw_host), port


def check_allowed(url: str, *, hosts: Sequence[str], dirs: Sequence[Path]) -> Path | None:
    """Refuse a URL the allow-lists do not cover with a permanent ``FetchError`` naming the
    setting to change. For a path or ``file://`` URL, the path to read (symlinks and ``..``
    resolved, so what was checked is what is read); None for http(s)."""
    shown = redact_url(url)
    scheme, target = _classify(url, shown)
    if scheme in _DEFAULT_PORTS:
        assert isinstance(target, httpx.URL)
        _check_host(target, hosts)
        return None
    assert isinstance(target, Path)
    return _check_path(target, shown, dirs)


def _classify(url: str, shown: str) -> tuple[str, httpx.URL | Path]:
    """The URL's scheme and what it points at: an ``httpx.URL`` (parsed as the client will
    parse it, so the host checked is the host contacted) or a local ``Path``."""
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as err:
        raise FetchError(f"cannot parse file URL {shown}: {err}") from None
    scheme = parts.scheme.lower()
    if scheme in _DEFAULT_PORTS:
        try:
            return scheme, httpx.URL(url)
        except httpx.InvalidURL as err:
            raise FetchError(f"cannot parse file URL {shown}: {err}") from None
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise FetchError(f"file URL {shown} names host {parts.netloc!r}; only local files")
        return scheme, Path(urllib.request.url2pathname(parts.path))
    if scheme == "" or (len(scheme) == 1 and os.name == "nt"):  # a path (C:\ on Windows)
        return "", Path(url)
    if scheme in ("sftp", "ftp", "ftps", "ftpes", "scp"):
        raise FetchError(f"{scheme} is not supported; mount the file or use https (file {shown})")
    raise FetchError(f"unsupported URL scheme {scheme!r} in {shown}")


def _check_host(url: httpx.URL, hosts: Sequence[str]) -> None:
    default = _DEFAULT_PORTS[url.scheme]
    host, port = _host_key(url.raw_host), url.port or default
    for entry in hosts:
        allowed_host, allowed_port = parse_host_entry(entry)
        if allowed_host == host and (allowed_port or default) == port:
            return
    named = url.host if port == default else f"{url.host}:{port}"
    empty = "; it is empty, so no file is fetched over http(s)" if not hosts else ""
    raise FetchError(f"host {named} is not in {HOSTS_SETTING}{empty}")


def _check_redirect(url: httpx.URL, shown: str, hosts: Sequence[str]) -> None:
    if url.scheme not in _DEFAULT_PORTS:
        raise FetchError(f"GET {shown} redirects to a {url.scheme!r} URL; only http(s) is followed")
    try:
        _check_host(url, hosts)
    except FetchError as err:
        raise FetchError(f"GET {shown} redirects elsewhere: {err.reason}") from None


def _check_path(path: Path, shown: str, dirs: Sequence[Path]) -> Path:
    if not dirs:
        raise FetchError(f"local file {shown} refused: {DIRS_SETTING} is empty")
    try:
        resolved = path.resolve()
    except (OSError, RuntimeError, ValueError) as err:  # a symlink loop, a NUL byte
        raise FetchError(f"cannot resolve local file {shown}: {err}") from None
    if any(resolved.is_relative_to(Path(d).resolve()) for d in dirs):
        return resolved
    via = "" if str(resolved) == str(path) else f" (it resolves to {resolved})"
    raise FetchError(f"local file {shown} is outside {DIRS_SETTING}{via}")


def _host_key(raw_host: bytes) -> str:
    # ASCII (IDNA) and without the root dot: one spelling per host, as DNS sees it.
    return raw_host.decode("ascii").lower().rstrip(".")


async def fetch_file(
    ready: FileReady,
    *,
    allow: AllowList,
    timeout: float = 30.0,  # noqa: ASYNC109 - the deadline is enforced with asyncio.timeout
    max_bytes: int = 512 * 2**20,
    client: httpx.AsyncClient | None = None,
) -> bytes:
    """The bytes of ``ready.url``, at most ``max_bytes`` of them, within ``timeout`` seconds.

    http(s): one GET (redirects followed, each hop only to an allowed host; user info in the URL
    is sent as basic auth); any final status but 200 fails; a body over ``max_bytes`` is refused
    while it streams (or at once from its Content-Length). Local paths and ``file://`` URLs are
    read from disk with the same limit. The bytes are returned as sent (a gzip file stays gzip:
    the decoders sniff it). ``allow`` is required: the URL comes from the network, and a
    fetcher that checks nothing by default is a server-side request forgery waiting to happen.
    """
    url = ready.url
    shown = redact_url(url)
    _, target = _classify(url, shown)
    checked = allow.check(url)
    target = checked if checked is not None else target
    if isinstance(target, httpx.URL):
        try:
            async with asyncio.timeout(timeout):
                return await _http(target, url, shown, timeout, max_bytes, client, allow)
        except TimeoutError:
            raise FetchError(f"GET {shown} timed out after {timeout:g} s", transient=True) from None
    try:
        async with asyncio.timeout(timeout):
            return await asyncio.to_thread(_read_local, target, shown, max_bytes)
    except TimeoutError:
        raise FetchError(f"reading {shown} timed out after {timeout:g} s", transient=True) from None


async def _http(
    target: httpx.URL,
    url: str,
    shown: str,
    seconds: float,
    max_bytes: int,
    client: httpx.AsyncClient | None,
    allow: AllowList,
) -> bytes:
    own = client is None
    http = client or httpx.AsyncClient(timeout=seconds)
    try:
        request = http.build_request("GET", target)
        # Redirects by hand: httpx would follow one to any host, around the allow-list.
        for _ in range(_MAX_REDIRECTS + 1):
            response = await http.send(request, stream=True, follow_redirects=False)
            try:
                if response.next_request is None:
                    return await _body(response, shown, max_bytes)
                request = response.next_request
            finally:
                await response.aclose()
            _check_redirect(request.url, shown, allow.hosts)
        raise FetchError(f"GET {shown}: more than {_MAX_REDIRECTS} redirects")
    except httpx.HTTPError as err:
        raise FetchError(
            f"GET {shown} failed: {_scrub(str(err) or type(err).__name__, url)}",
            transient=_transient_http(err),
        ) from None
    finally:
        if own:
            await http.aclose()


async def _body(response: httpx.Response, shown: str, max_bytes: int) -> bytes:
    status = response.status_code
    if status != 200:
        retry = status >= 500 or status in (408, 429)
        raise FetchError(f"GET {shown} answered {status}", transient=retry)
    length = response.headers.get("content-length", "")
    if length.isdigit() and int(length) > max_bytes:
        raise FetchError(f"GET {shown}: Content-Length {length} is over the {max_bytes}-byte limit")
    chunks: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes(_CHUNK):
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(f"GET {shown}: body is over the {max_bytes}-byte limit")
        chunks.append(chunk)
    return b"".join(chunks)


def _transient_http(err: httpx.HTTPError) -> bool:
    """The network or the peer failed (try later), not the request itself (give up)."""
    return isinstance(
        err,
        httpx.TimeoutException | httpx.NetworkError | httpx.RemoteProtocolError | httpx.ProxyError,
    )


def _scrub(text: str, url: str) -> str:
    text = text.replace(url, redact_url(url))
    parts = urllib.parse.urlsplit(url)
    for secret in (parts.password, parts.username):
        if secret:
            text = text.replace(secret, "***")
    return text


def _read_local(path: Path, shown: str, max_bytes: int) -> bytes:
    try:
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > max_bytes:
                raise FetchError(f"{shown} is {size} bytes, over the {max_bytes}-byte limit")
            data = f.read(max_bytes + 1)
    except OSError as err:
        raise FetchError(f"cannot read {shown}: {err.strerror or err}") from None
    if len(data) > max_bytes:  # grew after the stat, or not a regular file
        raise FetchError(f"{shown} is over the {max_bytes}-byte limit")
    return data
