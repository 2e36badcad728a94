"""SMN: signed notifications, and their signing certificate served over HTTPS.

SMN signs each message with the key of a certificate it names by URL, and a
subscriber fetches that certificate over HTTPS (reference/events.md 1.7). Here the
certificate has its own 127.0.0.1 port, behind TLS with a certificate for the IP
127.0.0.1 issued by a CA made at start-up. Nothing but that CA vouches for the
host: a client trusts it through ``Smn.ca_bundle``, the file of the CA certificate.

Emulator choices where the documentation is silent:

- One topic, ``urn:smn:<region>:<project id>:ecs-stop-events``, and no
  subscriptions: ``publish`` returns the Notification that SMN would POST to an
  HTTPS subscriber, and the caller delivers it.
- The RSA signing key is one per process, because making one takes tens of
  milliseconds and emulators start often; its certificate, the CA and the TLS key
  (both EC P-256) are new at each start.
- Private keys stay in memory. ``ssl`` loads a key only from a file, so the TLS
  key is written encrypted, with a password kept in memory, to a private temp
  dir, and deleted as soon as it is loaded. The temp dir holds the CA
  certificate until the emulator stops, and goes with it.
- The certificate host counts each certificate served as ``smn.signing_cert``,
  and no ``http.<status>``.
"""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import logging
import secrets
import shutil
import socket
import ssl
import tempfile
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .clock import format_seconds
from .listener import LOOPBACK, bind
from .state import State

logger = logging.getLogger(__name__)

TOPIC_NAME = "ecs-stop-events"
SUBJECT = "CTS key event notification"
OPERATION = "smn.signing_cert"
CA_FILE = "ca.pem"
CERTIFICATE_DAYS = 30
# The signed keys of a Notification in their fixed order (reference 1.7).
_NOTIFICATION_KEYS = ("message", "message_id", "subject", "timestamp", "topic_urn", "type")
_PEM = serialization.Encoding.PEM


@dataclass(frozen=True)
class SmnSigner:
    """An RSA key that signs SMN messages, its PEM certificate, and where that is."""

    key: rsa.RSAPrivateKey = field(repr=False)
    certificate: bytes
    certificate_url: str

    def sign(self, message: dict[str, Any]) -> dict[str, Any]:
        """The message with its base64 RSA-SHA256 (PKCS#1 v1.5) signature."""
        signed = canonical_string(message)
        signature = self.key.sign(signed, padding.PKCS1v15(), hashes.SHA256())

        return {**message, "signature": base64.b64encode(signature).decode("ascii")}

    def notification(
        self,
        topic_urn: str,
        message: str,
        message_id: str,
        sent: datetime,
        subject: str | None = SUBJECT,
    ) -> dict[str, Any]:
        """A signed Notification of `message` on a topic, first sent at `sent`."""
        unsigned = {
            "type": "Notification",
            "message_id": message_id,
            "topic_urn": topic_urn,
            "subject": subject,
            "message": message,
            "timestamp": format_seconds(sent.astimezone(UTC)),
            "signature_version": "v1",
            "signing_cert_url": self.certificate_url,
        }

        return self.sign({key: value for key, value in unsigned.items() if value is not None})


def new_signer(certificate_url: str) -> SmnSigner:
    """The process's signing key, with a new self-signed certificate for the URL's host."""
    key = _signing_key()
    name = _name(urlsplit(certificate_url).hostname or LOOPBACK)
    certificate = (
        _valid_now(x509.CertificateBuilder())
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .sign(key, hashes.SHA256())
    )

    return SmnSigner(key, certificate.public_bytes(_PEM), certificate_url)


def canonical_string(message: dict[str, Any]) -> bytes:
    """The bytes SMN signs of a Notification: each signed key and its value, in order.

    Every line ends in a newline; a subject that is missing or empty is left out.
    """
    lines = []
    for key in _NOTIFICATION_KEYS:
        value = message.get(key)
        if key == "subject" and not value:
            continue
        lines.append(f"{key}\n{value}\n")

    return "".join(lines).encode("utf-8")


class CertificateHost(ThreadingHTTPServer):
    """Serves PEM files by path, over TLS, on one 127.0.0.1 port."""

    daemon_threads = True
    # Idle keep-alive connections must not hold up Emulator.stop().
    block_on_close = False

    def __init__(self, port: int, tls: ssl.SSLContext, state: State) -> None:
        self.tls = tls
        self.state = state
        self.files: dict[str, bytes] = {}
        super().__init__((LOOPBACK, port), _CertificateHandler)

    @property
    def endpoint(self) -> str:
        """The base URL, e.g. ``https://127.0.0.1:40125``."""
        return f"https://{LOOPBACK}:{self.server_address[1]}"

    def wake(self) -> None:
        """Make serve_forever look at its shutdown flag now, not at its next poll."""
        with contextlib.suppress(OSError):
            socket.create_connection((LOOPBACK, self.server_address[1]), timeout=1).close()

    def server_bind(self) -> None:
        bind(self, "smn")

    def finish_request(self, request: Any, client_address: Any) -> None:
        # The handshake runs in the connection's own thread: a client that never
        # completes one holds up no other.
        request.settimeout(_CertificateHandler.timeout)
        connection = self.tls.wrap_socket(request, server_side=True)
        try:
            super().finish_request(connection, client_address)
        finally:
            connection.close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Mostly clients that refuse the certificate: that is their check working.
        logger.debug("smn connection failed", exc_info=True)


class Smn:
    """One topic's SMN: signs what is published on it and serves the certificate."""

    def __init__(self, state: State, region: str, project_id: str) -> None:
        self.topic_urn = f"urn:smn:{region}:{project_id}:{TOPIC_NAME}"
        self._state = state
        self._region = region
        self._signer: SmnSigner | None = None
        self._directory: Path | None = None

    def open(self, port: int = 0) -> CertificateHost:
        """Make the CA, the TLS and signing certificates, and the host that serves them.

        The host is bound but not serving yet; ``close`` undoes the rest.
        """
        directory = Path(tempfile.mkdtemp(prefix="ecs-imaging-smn-"))
        try:
            authority_key, authority = _new_authority()
            (directory / CA_FILE).write_bytes(authority.public_bytes(_PEM))
            tls = _server_context(authority_key, authority, directory)
            host = CertificateHost(port, tls, self._state)
        except BaseException:
            shutil.rmtree(directory, ignore_errors=True)
            raise

        path = f"/smn/SMN_{self._region}_{uuid.uuid4().hex}.pem"
        signer = new_signer(f"{host.endpoint}{path}")
        host.files[path] = signer.certificate
        self._signer, self._directory = signer, directory

        return host

    def close(self) -> None:
        """Forget the certificates and remove their temp dir; calling it twice is harmless."""
        if self._directory is not None:
            shutil.rmtree(self._directory, ignore_errors=True)
        self._signer, self._directory = None, None

    @property
    def signer(self) -> SmnSigner:
        """The signer of this start."""
        if self._signer is None:
            raise RuntimeError("The emulator is not running.")

        return self._signer

    @property
    def certificate_url(self) -> str:
        """Where the signing certificate is: ``https://127.0.0.1:<port>/smn/….pem``."""
        return self.signer.certificate_url

    @property
    def certificate_host(self) -> str:
        """The host and port of ``certificate_url``, as the webhook allows hosts."""
        return urlsplit(self.certificate_url).netloc

    @property
    def ca_bundle(self) -> str:
        """The PEM file of the CA that issued the certificate host's TLS certificate."""
        if self._directory is None:
            raise RuntimeError("The emulator is not running.")

        return str(self._directory / CA_FILE)

    def publish(self, message: str, subject: str | None = SUBJECT) -> dict[str, Any]:
        """The signed Notification SMN would POST to an HTTPS subscriber of the topic."""
        message_id = uuid.uuid4().hex
        sent = self._state.clock.now()

        return self.signer.notification(self.topic_urn, message, message_id, sent, subject)


class _CertificateHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        host = cast(CertificateHost, self.server)
        pem = host.files.get(urlsplit(self.path).path)
        if pem is None:
            self._send(404, "text/plain", b"No such certificate.\n")
            return

        with host.state.lock:
            host.state.counters[OPERATION] += 1
        self._send(200, "application/x-pem-file", pem)

    def version_string(self) -> str:
        return "ecs-imaging-emulator"

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _send(self, status: int, content_type: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()

        self.wfile.write(body)


@cache
def _signing_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _new_authority() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("ecs-imaging emulator CA")
    public_key = key.public_key()
    certificate = (
        _valid_now(x509.CertificateBuilder())
        .subject_name(name)
        .issuer_name(name)
        .public_key(public_key)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_key_usage(cert_sign=True), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .sign(key, hashes.SHA256())
    )

    return key, certificate


def _server_context(
    authority_key: ec.EllipticCurvePrivateKey,
    authority: x509.Certificate,
    directory: Path,
) -> ssl.SSLContext:
    key = ec.generate_private_key(ec.SECP256R1())
    issuer_key = x509.AuthorityKeyIdentifier.from_issuer_public_key(authority_key.public_key())
    certificate = (
        _valid_now(x509.CertificateBuilder())
        .subject_name(_name(LOOPBACK))
        .issuer_name(authority.subject)
        .public_key(key.public_key())
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(_key_usage(digital_signature=True), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(LOOPBACK))]),
            critical=False,
        )
        .add_extension(issuer_key, critical=False)
        .sign(authority_key, hashes.SHA256())
    )

    password = secrets.token_bytes(32)
    key_file, certificate_file = directory / "tls-key.pem", directory / "tls.pem"
    encryption = serialization.BestAvailableEncryption(password)
    encrypted = key.private_bytes(_PEM, serialization.PrivateFormat.PKCS8, encryption)
    key_file.write_bytes(encrypted)
    certificate_file.write_bytes(certificate.public_bytes(_PEM))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    try:
        context.load_cert_chain(certificate_file, key_file, password)
    finally:
        key_file.unlink()
        certificate_file.unlink()

    return context


def _valid_now(builder: x509.CertificateBuilder) -> x509.CertificateBuilder:
    # Real time, not the emulated clock: TLS clients check validity against it.
    now = datetime.now(UTC)

    return (
        builder.serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=CERTIFICATE_DAYS))
    )


def _key_usage(*, digital_signature: bool = False, cert_sign: bool = False) -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=digital_signature,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])
