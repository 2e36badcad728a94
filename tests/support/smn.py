"""A throwaway SMN for the webhook tests: an RSA key, its certificate, signed messages."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from ecs_imaging import clock, webhook

PROJECT = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
TOPIC = f"urn:smn:eu-de:{PROJECT}:ecs-stop-events"
SECOND_TOPIC = f"urn:smn:eu-de:{PROJECT}:more-stop-events"
CERT_HOST = "smn.eu-de.otc.t-systems.com"
CERT_URL = f"https://{CERT_HOST}/smn/SMN_eu-de_3190c26a56fb435f9882e3435b000000.pem"
CONSOLE_HOST = "console.otc.t-systems.com"
SUBSCRIBE_URL = (
    f"https://{CONSOLE_HOST}/smn/subscription/confirm?token=7f3e&topic_urn={TOPIC}&region=eu-de"
)
SERVER = "3c9a1f6e-5d2b-4c8e-9f7a-1b2c3d4e5f60"
OTHER_SERVER = "8f14e45f-ceea-467f-a0e6-1f2c3d4e5a61"
PIPELINE_USER = "ecs-imaging"
PIPELINE_USER_ID = "9e8d7c6b5a4f30211203f4e5d6c7b8a9"
TOKEN = "eg-token-0123456789abcdefghijklmnopqrstuv"


@dataclass(frozen=True)
class Signer:
    """An RSA key and the PEM certificate of its public half."""

    key: rsa.RSAPrivateKey
    pem: bytes

    def sign(self, message: dict[str, Any], *, with_empty_subject: bool = False) -> dict[str, Any]:
        """The message with the signature SMN would give it."""
        signed = canonical(message, with_empty_subject=with_empty_subject)
        signature = self.key.sign(signed, padding.PKCS1v15(), hashes.SHA256())

        return {**message, "signature": base64.b64encode(signature).decode("ascii")}


def new_signer() -> Signer:
    """A fresh key with a self-signed certificate valid for a day."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "smn.eu-de.test")])
    now = clock.now()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )

    return Signer(key=key, pem=certificate.public_bytes(serialization.Encoding.PEM))


def canonical(message: dict[str, Any], *, with_empty_subject: bool = False) -> bytes:
    """The string to sign, written from reference/events.md 1.7 apart from the webhook's."""
    if message["type"] == "Notification":
        keys = ["message", "message_id", "subject", "timestamp", "topic_urn", "type"]
    else:
        keys = ["message", "message_id", "subscribe_url", "timestamp", "topic_urn", "type"]
    text = ""
    for key in keys:
        value = message.get(key)
        if key == "subject" and (value is None or (value == "" and not with_empty_subject)):
            continue
        text += f"{key}\n{value}\n"

    return text.encode("utf-8")


def trace(**changes: Any) -> dict[str, Any]:
    """A CTS stopServer trace; a change to None removes the field."""
    document = {
        "trace_id": "9d2e6c1a-7b3f-11ef-9c4d-0242ac120002",
        "trace_name": "stopServer",
        "trace_rating": "normal",
        "trace_type": "ConsoleAction",
        "service_type": "ECS",
        "resource_type": "ecs",
        "resource_id": SERVER,
        "resource_name": "web-01",
        "code": "200",
        "user": {"id": "6f1e2d3c4b5a69788796a5b4c3d2e1f0", "name": "ops-user"},
        "time": 1764841500123,
    }
    document.update(changes)

    return {key: value for key, value in document.items() if value is not None}


def notification(body: dict[str, Any] | str | None = None, **changes: Any) -> dict[str, Any]:
    """An unsigned SMN Notification carrying a trace; a change to None removes the field."""
    message = body if isinstance(body, str) else json.dumps(body or trace())
    document = {
        "type": "Notification",
        "message_id": "5f0c7a1e2b3d4c5e8f9a0b1c2d3e4f50",
        "topic_urn": TOPIC,
        "subject": "CTS key event notification",
        "message": message,
        "timestamp": clock.to_timestamp(clock.now()),
        "signature_version": "v1",
        "signing_cert_url": CERT_URL,
        "unsubscribe_url": f"https://{CONSOLE_HOST}/smn/subscription/unsubscribe?x=1",
    }
    document.update(changes)

    return {key: value for key, value in document.items() if value is not None}


def subscription(kind: str = "SubscriptionConfirmation", **changes: Any) -> dict[str, Any]:
    """An unsigned SubscriptionConfirmation (or UnsubscribeConfirmation)."""
    document = {
        "type": kind,
        "message_id": "54bb04eddfc842e9b44ca36393f77cd3",
        "topic_urn": TOPIC,
        "message": f"You are invited to subscribe to topic: {TOPIC}.",
        "subscribe_url": SUBSCRIBE_URL,
        "timestamp": clock.to_timestamp(clock.now()),
        "signature_version": "v1",
        "signing_cert_url": CERT_URL,
    }
    document.update(changes)

    return {key: value for key, value in document.items() if value is not None}


def cloud_event(data: Any = None, **changes: Any) -> dict[str, Any]:
    """An EventGrid CloudEvent carrying a trace."""
    document = {
        "id": "4b26115b-778e-11ec-833e-cf74a1b2c3d4",
        "specversion": "1.0",
        "source": "HC.ECS",
        "type": "ECS:CloudTrace:ConsoleAction",
        "datacontenttype": "application/json",
        "subject": SERVER,
        "time": "2026-12-04T09:45:00.123Z",
        "data": trace() if data is None else data,
    }
    document.update(changes)

    return document


def function_url_event(
    body: Any,
    *,
    path: str = webhook.SMN_PATH,
    method: str = "POST",
    headers: dict[str, str] | None = None,
    query: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A Lambda Function URL request (payload format 2.0) with a JSON or raw body."""
    text = body if isinstance(body, str) else json.dumps(body)
    event: dict[str, Any] = {
        "version": "2.0",
        "rawPath": path,
        "rawQueryString": "&".join(f"{k}={v}" for k, v in (query or {}).items()),
        "headers": {"content-type": "application/json", **(headers or {})},
        "requestContext": {"http": {"method": method, "path": path}},
        "body": text,
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = query

    return event


def settings(**changes: Any) -> webhook.WebhookSettings:
    """Webhook settings that trust the test topic, hosts, user and token."""
    values: dict[str, Any] = {
        "topic_urns": frozenset({TOPIC, SECOND_TOPIC}),
        "certificate_hosts": frozenset({CERT_HOST}),
        "subscribe_hosts": frozenset({CONSOLE_HOST}),
        "pipeline_user_names": frozenset({PIPELINE_USER}),
        "pipeline_user_ids": frozenset({PIPELINE_USER_ID}),
        "eventgrid_token": TOKEN,
    }
    values.update(changes)

    return webhook.WebhookSettings(**values)
