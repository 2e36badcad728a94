"""Webhook deliveries made locally: SMN notifications signed by a throwaway SMN, and
EventGrid events, each carrying a CTS stopServer trace.

The certificate lives on a host under the reserved `.invalid` domain, which no
resolver answers: `delivered` serves it from memory, lets only 127.0.0.1 (the
emulator) through, and fails any other request before it leaves the process.
"""

from __future__ import annotations

import base64
import importlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import cache
from typing import Any

import httpx
import respx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from ecs_imaging import clock, webhook

from . import template as sam
from .moto_adapter import LambdaContext

CERTIFICATE_HOST = "smn.reliability.invalid"
CERTIFICATE_URL = f"https://{CERTIFICATE_HOST}/smn/reliability.pem"
TOPIC_URN = "urn:smn:eu-de:0a1b2c3d4e5f60718293a4b5c6d7e8f9:reliability-stops"
WEBHOOK_FUNCTION = "WebhookFunction"


@dataclass(frozen=True)
class SmnSigner:
    """A key that signs SMN messages, and the PEM certificate that vouches for it."""

    key: rsa.RSAPrivateKey
    certificate: bytes

    def sign(self, message: dict[str, Any]) -> dict[str, Any]:
        """The message with its base64 RSA-SHA256 signature over the signed fields."""
        signature = self.key.sign(
            webhook.canonical_string(message), padding.PKCS1v15(), hashes.SHA256()
        )

        return {**message, "signature": base64.b64encode(signature).decode("ascii")}


@cache
def smn_signer() -> SmnSigner:
    """One signer per process: making an RSA key takes a while."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, CERTIFICATE_HOST)])
    now = datetime.now().astimezone()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )

    return SmnSigner(key, certificate.public_bytes(serialization.Encoding.PEM))


def stop_trace(trace_id: str, server_id: str, user_name: str) -> dict[str, Any]:
    """A successful console stopServer trace of one server, as CTS records it."""
    return {
        "trace_id": trace_id,
        "trace_name": "stopServer",
        "trace_rating": "normal",
        "trace_type": "ConsoleAction",
        "service_type": "ECS",
        "resource_type": "ecs",
        "resource_id": server_id,
        "code": "200",
        "user": {"name": user_name},
        "time": int(clock.now().timestamp() * 1000),
    }


def smn_notification(
    trace: dict[str, Any], message_id: str, sent: datetime, *, forged: bool = False
) -> dict[str, Any]:
    """A signed SMN Notification of the trace, first sent at `sent`."""
    message = {
        "type": "Notification",
        "message_id": message_id,
        "topic_urn": TOPIC_URN,
        "subject": "CTS key event notification",
        "message": json.dumps(trace),
        "timestamp": clock.to_timestamp(sent),
        "signature_version": "v1",
        "signing_cert_url": CERTIFICATE_URL,
    }
    signed = smn_signer().sign(message)
    if forged:
        # Signed, then changed: what a tampered delivery looks like.
        signed["message"] = signed["message"].replace("stopServer", "stopServer ")

    return signed


def eventgrid_event(trace: dict[str, Any], event_id: str) -> dict[str, Any]:
    """A Huawei EventGrid CloudEvent carrying the trace."""
    return {
        "id": event_id,
        "specversion": "1.0",
        "source": webhook.EVENTGRID_SOURCE,
        "type": "ECS:CloudTrace:ConsoleAction",
        "datacontenttype": "application/json",
        "subject": trace["resource_id"],
        "time": clock.to_timestamp(clock.now()),
        "data": trace,
    }


def function_url_request(
    body: dict[str, Any], path: str, query: dict[str, str] | None = None
) -> dict[str, Any]:
    """The Lambda Function URL event (payload 2.0) of a JSON POST."""
    event: dict[str, Any] = {
        "version": "2.0",
        "rawPath": path,
        "rawQueryString": str(httpx.QueryParams(query or {})),
        "headers": {"content-type": "application/json"},
        "requestContext": {"http": {"method": "POST", "path": path}},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = query

    return event


@contextmanager
def delivered() -> Iterator[None]:
    """While the block runs, the certificate host answers and no request leaves 127.0.0.1."""
    with respx.mock(assert_all_called=False, assert_all_mocked=True) as router:
        router.route(host="127.0.0.1").pass_through()
        router.get(CERTIFICATE_URL).mock(
            return_value=httpx.Response(200, content=smn_signer().certificate)
        )
        webhook.forget_signing_keys()
        webhook.reset_webhook_settings()
        yield


def deliver(event: dict[str, Any]) -> dict[str, Any]:
    """Hand one request to the template's webhook handler; its status and JSON body."""
    spec = _webhook_function()
    handler = getattr(importlib.import_module(spec.module), spec.attribute)
    response = handler(event, LambdaContext(spec.logical_id, spec.arn))

    return {"status": response["statusCode"], **json.loads(response["body"])}


@cache
def _webhook_function() -> sam.FunctionSpec:
    return sam.functions(sam.load_template())[WEBHOOK_FUNCTION]
