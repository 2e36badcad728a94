"""Webhook deliveries made locally: SMN notifications signed by a throwaway SMN, and
EventGrid events, each carrying a CTS stopServer trace, and the handler they go to.

The reliability suite's certificate lives on a host under the reserved `.invalid`
domain, which no resolver answers: `delivered` serves it from memory, lets only
127.0.0.1 (the emulator) through, and fails any other request before it leaves
the process. The demo uses the emulator's own SMN instead, whose certificate is
fetched over HTTPS from 127.0.0.1 (`environment.webhook_environment`).
"""

from __future__ import annotations

import importlib
import json
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from functools import cache
from typing import Any

import httpx
import respx
from ecs_imaging import clock, webhook

from . import template as sam
from .emulator.smn import SmnSigner, new_signer
from .moto_adapter import LambdaContext

CERTIFICATE_HOST = "smn.reliability.invalid"
CERTIFICATE_URL = f"https://{CERTIFICATE_HOST}/smn/reliability.pem"
TOPIC_URN = "urn:smn:eu-de:0a1b2c3d4e5f60718293a4b5c6d7e8f9:reliability-stops"
WEBHOOK_FUNCTION = "WebhookFunction"


@cache
def smn_signer() -> SmnSigner:
    """The signer of the certificate under the `.invalid` host, one per process."""
    return new_signer(CERTIFICATE_URL)


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
    signed = smn_signer().notification(TOPIC_URN, json.dumps(trace), message_id, sent)
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
    body: dict[str, Any],
    path: str,
    query: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
) -> dict[str, Any]:
    """The Lambda Function URL event (payload 2.0) of a JSON POST."""
    event: dict[str, Any] = {
        "version": "2.0",
        "rawPath": path,
        "rawQueryString": str(httpx.QueryParams(query or {})),
        "headers": {"content-type": "application/json", **(headers or {})},
        "requestContext": {"http": {"method": "POST", "path": path}},
        "body": json.dumps(body),
        "isBase64Encoded": False,
    }
    if query:
        event["queryStringParameters"] = query

    return event


def smn_request(message: dict[str, Any]) -> dict[str, Any]:
    """The Function URL event of SMN's POST of a message, with its X-SMN headers.

    Lambda hands headers over in lower case, as SMN sends them (reference 1.7).
    """
    headers = {
        "x-smn-message-type": str(message.get("type")),
        "x-smn-message-id": str(message.get("message_id")),
        "x-smn-topic-urn": str(message.get("topic_urn")),
    }

    return function_url_request(message, webhook.SMN_PATH, headers=headers)


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
