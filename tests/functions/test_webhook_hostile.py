"""Deliveries to the webhook through the emulator's SMN: forged, odd and hostile."""

import base64
import ipaddress
import json
import logging
import socket
import ssl
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.x509.oid import NameOID
from ecs_imaging import auth, config, webhook
from ecs_imaging_local import deliveries
from ecs_imaging_local.emulator import Emulator
from ecs_imaging_local.environment import configured, emulator_environment, webhook_environment

from functions.webhook import app

SERVER = "c9f0f895-fb98-4b91-99f5-1a2b3c4d5e62"
SUBSCRIBE_TOKEN = "subscribe-token-4f1d9c"


class Trap:
    """A 127.0.0.1 port that counts the connections it is offered, and answers none."""

    def __init__(self) -> None:
        self.socket = socket.create_server(("127.0.0.1", 0))
        self.port = self.socket.getsockname()[1]
        self.accepted = 0
        self.socket.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self.socket.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            connection.close()

    def close(self) -> None:
        self._stop.set()
        self._thread.join()
        self.socket.close()


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    with (
        Emulator(time_scale=1.0, seed=7) as emulator,
        configured({**emulator_environment(emulator), **webhook_environment(emulator)}, emulator),
    ):
        auth.token_cache.clear()
        yield emulator


@pytest.fixture
def trap() -> Iterator[Trap]:
    trap = Trap()
    yield trap
    trap.close()


def _trace() -> str:
    return json.dumps(
        {
            "trace_id": "b3c1d2e4-0000-4000-8000-000000000001",
            "trace_name": "stopServer",
            "trace_rating": "normal",
            "service_type": "ECS",
            "resource_type": "ecs",
            "resource_id": SERVER,
            "code": "200",
            "user": {"name": "ops-user"},
        }
    )


def _sign(emulator: Emulator, message: dict) -> dict:
    signed = webhook.canonical_string(message)
    signature = emulator.smn.signer.key.sign(signed, padding.PKCS1v15(), hashes.SHA256())

    return {**message, "signature": base64.b64encode(signature).decode("ascii")}


def test_an_unsigned_body_with_a_long_number_is_answered_400_not_a_crash(emulator):
    event = deliveries.smn_request({})
    event["body"] = '{"type": ' + "1" * 4301 + "}"

    reply = webhook.receive(event)

    assert reply.status == 400


@pytest.mark.parametrize(
    "template",
    [
        "https://127.0.0.1:{trap}/smn/x.pem",
        "http://127.0.0.1:{allowed}/smn/x.pem",
        "https://127.0.0.1:{allowed}@127.0.0.1:{trap}/smn/x.pem",
        "https://127.0.0.1:{trap}/?@127.0.0.1:{allowed}/",
        "https://127.0.0.1:{trap}#@127.0.0.1:{allowed}/",
        "https://127.0.0.1:{trap}\\@127.0.0.1:{allowed}/",
        "https://127.1:{trap}/",
        "https://2130706433:{trap}/",
        "https://0x7f000001:{trap}/",
        "https://[::ffff:127.0.0.1]:{trap}/",
        "https://127.0.0.1.:{trap}/",
        "https://127.0.0.1:{trap}:{allowed}/",
        "https://127.0.0.1 :{trap}/",
        "https://%31%32%37.0.0.1:{trap}/",
        "https://\uff11\uff12\uff17.0.0.1:{trap}/",
        "HTTPS://127.0.0.1:{trap}/",
        "//127.0.0.1:{trap}/",
        "https:127.0.0.1:{trap}/",
        "file:///etc/passwd",
    ],
)
def test_a_signing_cert_url_off_the_allowed_host_fetches_nothing(emulator, trap, template):
    allowed = emulator.smn.certificate_host.rpartition(":")[2]
    url = template.format(trap=trap.port, allowed=allowed)
    message = emulator.smn.publish(_trace())
    message["signing_cert_url"] = url

    reply = webhook.receive(deliveries.smn_request(message))

    assert (reply.status, reply.runs) == (403, ())
    assert trap.accepted == 0
    assert emulator.counters["smn.signing_cert"] == 0


def test_a_subscription_confirmation_never_logs_its_token(emulator, caplog):
    # The emulator's certificate host stands in for the console: it answers 404.
    subscribe_url = f"https://{emulator.smn.certificate_host}/smn/confirm?token={SUBSCRIBE_TOKEN}"
    message = _sign(
        emulator,
        {
            "type": "SubscriptionConfirmation",
            "message_id": "54bb04eddfc842e9b44ca36393f77cd3",
            "topic_urn": emulator.smn.topic_urn,
            "message": "You are invited to subscribe.",
            "subscribe_url": subscribe_url,
            "timestamp": "2026-12-04T10:00:00Z",
            "signature_version": "v1",
            "signing_cert_url": emulator.smn.certificate_url,
        },
    )
    environment = {webhook.SUBSCRIBE_HOSTS: emulator.smn.certificate_host}

    with (
        configured(
            {**emulator_environment(emulator), **webhook_environment(emulator), **environment},
            emulator,
        ),
        caplog.at_level(logging.DEBUG),
    ):
        answer = deliveries.deliver(deliveries.smn_request(message))

    assert answer["status"] == 422
    assert SUBSCRIBE_TOKEN not in caplog.text
    assert message["signature"] not in caplog.text


def test_the_handler_answers_a_long_number_instead_of_raising(emulator):
    event = deliveries.smn_request({})
    event["body"] = '{"type": ' + "1" * 4301 + "}"
    app._build_start.cache_clear()

    answer = deliveries.deliver(event)

    assert answer["status"] == 400


def _tls_context(directory) -> tuple[ssl.SSLContext, str]:
    """A server context for 127.0.0.1 and the file of the CA that issued it."""
    now = datetime.now(UTC)
    ca_key = ec.generate_private_key(ec.SECP256R1())
    ca_name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "breaker CA")])
    authority = (
        x509.CertificateBuilder()
        .subject_name(ca_name)
        .issuer_name(ca_name)
        .public_key(ca_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .sign(ca_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")]))
        .issuer_name(ca_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    key_file, leaf_file, ca_file = directory / "k.pem", directory / "l.pem", directory / "ca.pem"
    key_file.write_bytes(
        key.private_bytes(pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    leaf_file.write_bytes(leaf.public_bytes(pem))
    ca_file.write_bytes(authority.public_bytes(pem))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(leaf_file, key_file)
    key_file.unlink()

    return context, str(ca_file)


def _drip(listener: socket.socket, context: ssl.SSLContext, seconds: float) -> None:
    # An allowed certificate host that answers at once, then one byte at a time.
    connection, _ = listener.accept()
    with context.wrap_socket(connection, server_side=True) as tls:
        tls.recv(4096)
        tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 4000\r\n\r\n")
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                tls.sendall(b"-")
            except OSError:
                return  # the client gave up, as it should
            time.sleep(0.5)


def test_a_certificate_fetch_ends_within_its_two_seconds(emulator, tmp_path):
    context, ca_file = _tls_context(tmp_path)
    bundle = tmp_path / "bundle.pem"
    bundle.write_bytes(Path(emulator.smn.ca_bundle).read_bytes() + Path(ca_file).read_bytes())
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = threading.Thread(target=_drip, args=(listener, context, 4.0), daemon=True)
    server.start()
    message = emulator.smn.publish(_trace())
    message["signing_cert_url"] = f"https://127.0.0.1:{port}/smn/slow.pem"
    variables = {
        **emulator_environment(emulator),
        **webhook_environment(emulator),
        webhook.CERTIFICATE_HOSTS: f"127.0.0.1:{port}",
        config.CA_BUNDLE: str(bundle),
    }

    with configured(variables, emulator):
        started = time.monotonic()
        reply = webhook.receive(deliveries.smn_request(message))
        took = time.monotonic() - started
    server.join()
    listener.close()

    assert reply.status in (403, 503)
    assert took < 3.5, f"the fetch took {took:.1f} s; it has 2, SMN gives up after 5"


def test_no_private_key_is_on_disk_while_the_emulator_runs_or_after(tmp_path, monkeypatch):
    monkeypatch.setenv("TMPDIR", str(tmp_path))
    monkeypatch.setattr("tempfile.tempdir", None)
    with Emulator(time_scale=1.0, seed=7) as emulator:
        files = [path for path in tmp_path.rglob("*") if path.is_file()]
        assert [path.name for path in files] == ["ca.pem"]
        assert all(b"PRIVATE KEY" not in path.read_bytes() for path in files)
        assert Path(emulator.smn.ca_bundle).parent.stat().st_mode & 0o077 == 0

    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("message", _trace().replace("normal", "normal ")),
        ("message_id", "0" * 32),
        ("timestamp", "2026-12-04T10:00:01Z"),
        ("subject", ""),
        ("subject", None),
        ("type", "SubscriptionConfirmation"),
        ("signature", "A" * 344),
        ("signature", "not base64!"),
        ("signature", ""),
        ("signature_version", "v2"),
        ("signing_cert_url", None),
    ],
)
def test_a_tampered_notification_starts_nothing(emulator, field, value):
    message = emulator.smn.publish(_trace())
    if value is None:
        message.pop(field)
    else:
        message[field] = value

    reply = webhook.receive(deliveries.smn_request(message))

    assert reply.status in (400, 403)
    assert reply.runs == ()


def test_an_untampered_notification_starts_one_run(emulator):
    message = emulator.smn.publish(_trace())

    reply = webhook.receive(deliveries.smn_request(message))

    assert (reply.status, len(reply.runs)) == (200, 1)
