"""Trigger events as they arrive: CTS traces in SMN notifications and EventGrid events.

Real CTS payloads may carry fields these models do not name, or leave optional
ones out, so the models ignore extras and default what is optional. The webhook
checks signatures and tokens (`webhook`); this module only reads what arrived.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .errors import InvalidInput
from .models import UUID_PATTERN, parse_model

SmnMessageType = Literal[
    "Notification",
    "SubscriptionConfirmation",
    "UnsubscribeConfirmation",
]


class SmnMessage(BaseModel):
    """The SMN HTTP(S) delivery envelope; reference/events.md 1.7 lists its fields."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    type: SmnMessageType
    message_id: str = Field(min_length=1, max_length=128)
    topic_urn: str = Field(min_length=1, max_length=512)
    message: str
    subject: str | None = None
    timestamp: str
    signature_version: str | None = None
    signature: str | None = None
    signing_cert_url: str | None = None
    subscribe_url: str | None = None
    unsubscribe_url: str | None = None


class TraceUser(BaseModel):
    """Who made the traced call."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str | None = None
    name: str | None = None


class CtsTrace(BaseModel):
    """A Cloud Trace Service trace, the part of it a trigger needs."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    trace_id: str = Field(min_length=1, max_length=128)
    trace_name: str
    trace_rating: str | None = None
    service_type: str | None = None
    resource_type: str | None = None
    resource_id: str | list[str] = ""
    resource_name: str | None = None
    code: str | int | None = None
    request: Any = None
    user: TraceUser | None = None
    time: int | str | None = None

    @field_validator("resource_id", mode="before")
    @classmethod
    def _accept_missing_resource(cls, value: Any) -> Any:
        return "" if value is None else value

    @field_validator("user", mode="before")
    @classmethod
    def _accept_odd_user(cls, value: Any) -> Any:
        # The user only filters the pipeline's own stops; a shape we do not know
        # must not cost us the trace.
        return value if isinstance(value, dict) else None

    @property
    def is_successful_server_stop(self) -> bool:
        """A `stopServer` of an ECS server that CTS rated as succeeded."""
        return (
            self.trace_name == "stopServer"
            and (self.service_type or "ECS").upper() == "ECS"
            and (self.resource_type or "ecs").lower() == "ecs"
            and (self.trace_rating or "normal").lower() == "normal"
            and _is_success_code(self.code)
        )

    @property
    def server_ids(self) -> list[str]:
        """The server ids named by the trace, each once; a batch stop may name several."""
        named = self.resource_id
        items = named if isinstance(named, list) else [named]
        parts = [part.strip().lower() for item in items for part in item.split(",")]
        found = [part for part in parts if part] or _servers_in_request(self.request)

        return list(dict.fromkeys(found))


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 event as Huawei EventGrid delivers it to a webhook."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(min_length=1, max_length=256)
    source: str = Field(min_length=1, max_length=256)
    type: str = Field(min_length=1, max_length=256)
    specversion: str = "1.0"
    subject: str | None = None
    time: str | None = None
    data: Any = None


def trace_from_notification(body: Any) -> CtsTrace:
    """The CTS trace carried by an SMN notification body."""
    envelope = parse_model(SmnMessage, body, "SMN message")
    if envelope.type != "Notification":
        raise InvalidInput(f"SMN message {envelope.message_id!r} is a {envelope.type!r}.")

    return trace_from_message(envelope.message, envelope.message_id)


def trace_from_message(message: str, message_id: str) -> CtsTrace:
    """The CTS trace in the `message` text of an SMN notification."""
    try:
        document = json.loads(message)
    except (ValueError, RecursionError):
        detail = f"SMN message {message_id!r} does not carry a JSON trace."
        raise InvalidInput(detail) from None

    return trace_from_document(document)


def trace_from_document(document: Any) -> CtsTrace:
    """A CTS trace from its JSON, given as an object or a JSON string."""
    if isinstance(document, str):
        try:
            document = json.loads(document)
        except (ValueError, RecursionError):
            raise InvalidInput("The trace is text that is not JSON.") from None
    # NOTE: the exact wrapper CTS uses is undocumented; accept the trace itself or
    # an object holding it under "trace".
    if isinstance(document, dict) and isinstance(document.get("trace"), dict):
        document = document["trace"]

    return parse_model(CtsTrace, document, "CTS trace")


def pipeline_inputs_for_trace(trace: CtsTrace) -> list[dict[str, Any]]:
    """One pipeline input per server a successful stop trace names; none otherwise."""
    if not trace.is_successful_server_stop:
        return []
    inputs = []
    for server_id in trace.server_ids:
        if not is_server_id(server_id):
            raise InvalidInput(f"Trace {trace.trace_id!r} names a server id {server_id!r}.")
        inputs.append(pipeline_input(trace, server_id))

    return inputs


def pipeline_input(trace: CtsTrace, server_id: str) -> dict[str, Any]:
    """The pipeline input of the run a trace starts for one of its servers.

    The trace says the server was stopped: a run finding it running again (its
    owner started it, or the trace is a late delivery of a stop the pipeline made
    itself) skips it rather than stopping it once more.
    """
    return {
        "server_id": server_id,
        "stop_policy": "require-stopped",
        "trigger": {"kind": "event", "id": trace.trace_id},
    }


def is_server_id(value: str) -> bool:
    """True for a value shaped like an ECS server id (a UUID)."""
    return re.fullmatch(UUID_PATTERN, value) is not None


def _is_success_code(code: str | int | None) -> bool:
    # CTS writes the API's HTTP status as a string; absent or empty says nothing.
    text = str(code).strip() if code is not None else ""

    return not text or re.fullmatch(r"2\d\d", text) is not None


def _servers_in_request(request: Any) -> list[str]:
    # A batch stop's trace may leave resource_id empty; its request body
    # {"os-stop": {"servers": [{"id": ...}]}} still names the servers.
    if isinstance(request, str):
        try:
            request = json.loads(request)
        except (ValueError, RecursionError):
            return []
    stop = request.get("os-stop") if isinstance(request, dict) else None
    servers = stop.get("servers") if isinstance(stop, dict) else None
    if not isinstance(servers, list):
        return []

    ids = [server.get("id") for server in servers if isinstance(server, dict)]

    texts = [value.strip().lower() for value in ids if isinstance(value, str)]

    return [text for text in texts if text]
