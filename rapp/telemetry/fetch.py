"""Fetch the file a file-ready notification names: https/http, or a local path / ``file://``.

sftp and ftp(e)s, which the 3GPP and ONAP file-ready events also use, are not fetched here:
mount the file store (and name the path) or serve the files over https. Every failure is a
``DecodeError`` whose reason names the URL with its user info replaced by ``***``.
"""

from __future__ import annotations

import asyncio
import os
import urllib.parse
import urllib.request
from pathlib import Path

import httpx

from rapp.domain import FileReady
from rapp.redact import redact_url
from rapp.telemetry.ranpm import DecodeError

__all__ = ["fetch_file", "redact_url"]

_CHUNK = 1 << 20


async def fetch_file(
    ready: FileReady,
    *,
    timeout: float = 30.0,  # noqa: ASYNC109 - the deadline is enforced with asyncio.timeout
    max_bytes: int = 512 * 2**20,
    client: httpx.AsyncClient | None = None,
) -> bytes:
    """The bytes of ``ready.url``, at most ``max_bytes`` of them, within ``timeout`` seconds.

    http(s): one GET (redirects followed; user info in the URL is sent as basic auth); any
    status but 200 fails; a body over ``max_bytes`` is refused while it streams (or at once
    from its Content-Length). Local paths and ``file://`` URLs are read from disk with the same
    limit. The bytes are returned as sent (a gzip file stays gzip: the decoders sniff it).
    """
    url = ready.url
    shown = redact_url(url)
    try:
        parts = urllib.parse.urlsplit(url)
    except ValueError as err:
        raise DecodeError(f"cannot parse file URL {shown}: {err}") from None
    scheme = parts.scheme.lower()
    if scheme in ("http", "https"):
        try:
            async with asyncio.timeout(timeout):
                return await _http(url, shown, parts, timeout, max_bytes, client)
        except TimeoutError:
            raise DecodeError(f"GET {shown} timed out after {timeout:g} s") from None
    if scheme == "file":
        if parts.netloc not in ("", "localhost"):
            raise DecodeError(f"file URL {shown} names host {parts.netloc!r}; only local files")
        path = Path(urllib.request.url2pathname(parts.path))
    elif scheme == "" or (len(scheme) == 1 and os.name == "nt"):  # a path (C:\ on Windows)
        path = Path(url)
    elif scheme in ("sftp", "ftp", "ftps", "ftpes", "scp"):
        raise DecodeError(f"{scheme} is not supported; mount the file or use https (file {shown})")
    else:
        raise DecodeError(f"unsupported URL scheme {scheme!r} in {shown}")
    try:
        async with asyncio.timeout(timeout):
            return await asyncio.to_thread(_read_local, path, shown, max_bytes)
    except TimeoutError:
        raise DecodeError(f"reading {shown} timed out after {timeout:g} s") from None


async def _http(
    url: str,
    shown: str,
    parts: urllib.parse.SplitResult,
    seconds: float,
    max_bytes: int,
    client: httpx.AsyncClient | None,
) -> bytes:
    own = client is None
    http = client or httpx.AsyncClient(timeout=seconds, follow_redirects=True)
    try:
        async with http.stream("GET", url) as response:
            if response.status_code != 200:
                raise DecodeError(f"GET {shown} answered {response.status_code}")
            length = response.headers.get("content-length", "")
            if length.isdigit() and int(length) > max_bytes:
                raise DecodeError(
                    f"GET {shown}: Content-Length {length} is over the {max_bytes}-byte limit"
                )
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes(_CHUNK):
                size += len(chunk)
                if size > max_bytes:
                    raise DecodeError(f"GET {shown}: body is over the {max_bytes}-byte limit")
                chunks.append(chunk)
            return b"".join(chunks)
    except httpx.HTTPError as err:
        raise DecodeError(
            f"GET {shown} failed: {_scrub(str(err) or type(err).__name__, url, parts)}"
        ) from None
    finally:
        if own:
            await http.aclose()


def _scrub(text: str, url: str, parts: urllib.parse.SplitResult) -> str:
    text = text.replace(url, redact_url(url))
    for secret in (parts.password, parts.username):
        if secret:
            text = text.replace(secret, "***")
    return text


def _read_local(path: Path, shown: str, max_bytes: int) -> bytes:
    try:
        with path.open("rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size > max_bytes:
                raise DecodeError(f"{shown} is {size} bytes, over the {max_bytes}-byte limit")
            data = f.read(max_bytes + 1)
    except OSError as err:
        raise DecodeError(f"cannot read {shown}: {err.strerror or err}") from None
    if len(data) > max_bytes:  # grew after the stat, or not a regular file
        raise DecodeError(f"{shown} is over the {max_bytes}-byte limit")
    return data
