"""Kafka over TLS, end to end: the settings an operator writes (CA file, client certificate)
reach aiokafka as a real TLS handshake.

tansu has no TLS listener, so a TLS-terminating proxy (Python's ssl, on 127.0.0.1) stands in
front of it and tansu advertises the proxy's port: every connection the clients open, bootstrap
and broker alike, is TLS, with the server certificate checked against the operator's CA and the
client certificate required by the proxy (mutual TLS). Certificates come from the openssl CLI.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import ssl
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer

from rapp.config import KafkaSettings, Settings
from rapp.telemetry.kafka import KafkaPmSource
from simulators.broker import Broker, _free_port
from simulators.o1 import Network, rop_reports
from tests.test_kafka_source import _produce

END = "2025-01-06T12:00Z"


def _openssl(*args: str, cwd: Path) -> None:
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A CA, a server certificate for 127.0.0.1 and a client certificate, both signed by it."""
    d = tmp_path_factory.mktemp("pki")
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=test-ca",
        "-keyout", "ca.key", "-out", "ca.pem", cwd=d,
    )  # fmt: skip
    (d / "san.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    for name, extra in (("server", ["-extfile", "san.cnf"]), ("client", [])):
        _openssl(
            "req", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={name}",
            "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=d,
        )  # fmt: skip
        _openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-out", f"{name}.pem", *extra, cwd=d,
        )  # fmt: skip
    return d


class TlsProxy:
    """Terminates TLS on ``port`` and pipes each connection to ``upstream`` in plain TCP."""

    def __init__(self, port: int, upstream: int, context: ssl.SSLContext) -> None:
        self.port, self.upstream, self.context = port, upstream, context
        self.handshakes = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.handshakes += 1
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.upstream)
        await asyncio.gather(self._pipe(reader, up_writer), self._pipe(up_reader, writer))

    def __enter__(self) -> TlsProxy:
        self._thread.start()
        start = asyncio.start_server(self._serve, "127.0.0.1", self.port, ssl=self.context)
        self._server = asyncio.run_coroutine_threadsafe(start, self._loop).result(5)
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.close()
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)


@pytest.fixture(scope="module")
def tls_bootstrap(pki: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH, cafile=str(pki / "ca.pem"))
    context.load_cert_chain(pki / "server.pem", pki / "server.key")
    context.verify_mode = ssl.CERT_REQUIRED  # mutual TLS: a client without our CA's cert is out
    proxy_port = _free_port()
    log = tmp_path_factory.mktemp("tansu") / "tansu.log"
    with (
        Broker(advertised_port=proxy_port, log_file=log) as broker,
        TlsProxy(proxy_port, broker.port, context),
    ):
        yield f"127.0.0.1:{proxy_port}"


def _settings(bootstrap: str, pki: Path, **over: object) -> KafkaSettings:
    fields: dict[str, object] = {
        "bootstrap": bootstrap,
        "security_protocol": "SSL",
        "ssl_cafile": pki / "ca.pem",
        "ssl_certfile": pki / "client.pem",
        "ssl_keyfile": pki / "client.key",
    }
    return KafkaSettings.model_validate(fields | over)


async def test_pm_reports_are_consumed_over_mutual_tls(tls_bootstrap: str, pki: Path) -> None:
    k = _settings(tls_bootstrap, pki)
    topic = f"pm-{uuid.uuid4().hex[:8]}"
    records = rop_reports(Network(n_cells=8), END)
    await _produce(tls_bootstrap, topic, records, **k.security())
    source = KafkaPmSource(
        bootstrap=tls_bootstrap,
        topic=topic,
        group_id="tls",
        dlq_topic=f"{topic}.dlq",
        session_timeout_ms=1000,
        heartbeat_interval_ms=300,
        **k.security(),
    )
    async with source, asyncio.timeout(30):
        cells: set[str] = set()
        async for batch in source.batches():
            cells |= set(batch.batch.frame["cell"])
            assert await batch.commit()
            if len(cells) == 8:
                break
    assert len(cells) == 8


async def test_a_server_not_signed_by_the_configured_ca_is_refused(
    tls_bootstrap: str, pki: Path, tmp_path: Path
) -> None:
    _openssl(
        "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=other",
        "-keyout", "other.key", "-out", "other.pem", cwd=tmp_path,
    )  # fmt: skip
    k = _settings(tls_bootstrap, pki, ssl_cafile=tmp_path / "other.pem")
    consumer = AIOKafkaConsumer(
        bootstrap_servers=tls_bootstrap, request_timeout_ms=3000, **k.security()
    )
    with pytest.raises(Exception) as err:  # noqa: PT011 - aiokafka wraps the ssl error
        await consumer.start()
    await consumer.stop()
    assert "certificate" in repr(err.value).lower() or "connect" in repr(err.value).lower()


def test_security_settings_map_to_aiokafka(pki: Path) -> None:
    """From the environment, the way a Helm chart sets them."""
    env = {
        "RAPP_KAFKA__SECURITY_PROTOCOL": "SASL_SSL",
        "RAPP_KAFKA__SASL_MECHANISM": "SCRAM-SHA-512",
        "RAPP_KAFKA__SASL_PLAIN_USERNAME": "rapp",
        "RAPP_KAFKA__SASL_PLAIN_PASSWORD": "s3cret",
        "RAPP_KAFKA__SSL_CAFILE": str(pki / "ca.pem"),
    }
    with pytest.MonkeyPatch.context() as mp:
        for key, value in env.items():
            mp.setenv(key, value)
        security = Settings().kafka.security()
    assert security["security_protocol"] == "SASL_SSL"
    assert security["sasl_mechanism"] == "SCRAM-SHA-512"
    assert security["sasl_plain_username"] == "rapp"
    assert security["sasl_plain_password"] == "s3cret"
    context = security["ssl_context"]
    assert isinstance(context, ssl.SSLContext)
    assert context.verify_mode == ssl.CERT_REQUIRED
    assert context.check_hostname
    assert json.dumps(KafkaSettings().security()) == '{"security_protocol": "PLAINTEXT"}'
