"""Trigger events as they arrive: SMN HTTPS notifications carrying CTS traces.

Real CTS payloads may carry fields these models do not name, or leave optional
ones out, so the models ignore extras and default what is optional.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from .errors import InvalidInput
from .models import UUID_PATTERN, parse_model


class SmnMessage(BaseModel):
    """The SMN HTTP(S) delivery envelope (signature checks come with the webhook)."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    type: Literal["Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation"]
    message_id: str = Field(min_length=1, max_length=128)
    topic_urn: str = Field(min_length=1, max_length=512)
    message: str
    subject: str | None = None
    timestamp: str


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
    resource_id: str = ""
    resource_name: str | None = None
    user: TraceUser | None = None
    time: int | str | None = None

    @property
    def is_successful_server_stop(self) -> bool:
        """A `stopServer` of an ECS server that CTS rated as succeeded."""
        return (
            self.trace_name == "stopServer"
            and (self.service_type or "ECS").upper() == "ECS"
            and self.trace_rating in (None, "normal")
        )

    @property
    def server_ids(self) -> list[str]:
        """The server ids named by the trace, each once; a batch stop may name several."""
        parts = (part.strip().lower() for part in self.resource_id.split(","))

        return list(dict.fromkeys(part for part in parts if part))


def trace_from_notification(body: Any) -> CtsTrace:
    """The CTS trace carried by an SMN notification body."""
    envelope = parse_model(SmnMessage, body, "SMN message")
    if envelope.type != "Notification":
        raise InvalidInput(f"SMN message {envelope.message_id!r} is a {envelope.type!r}.")
    try:
        document = json.loads(envelope.message)
    except ValueError:
        raise InvalidInput(
            f"SMN message {envelope.message_id!r} does not carry a JSON trace."
        ) from None
    # NOTE: the exact wrapper CTS uses is undocumented; accept the trace itself or
    # an object holding it under "trace".
    if isinstance(document, dict) and isinstance(document.get("trace"), dict):
        document = document["trace"]

    return parse_model(CtsTrace, document, "CTS trace")


def pipeline_inputs_for_trace(trace: CtsTrace) -> list[dict[str, Any]]:
    """One pipeline input per server a successful stop trace names; none otherwise."""
    if not trace.is_successful_server_stop:
        return []
    trigger = {"kind": "event", "id": trace.trace_id}
    inputs = []
    for server_id in trace.server_ids:
        if not _is_uuid(server_id):
            raise InvalidInput(f"Trace {trace.trace_id!r} names a server id {server_id!r}.")
        inputs.append({"server_id": server_id, "trigger": trigger})

    return inputs


def _is_uuid(value: str) -> bool:
    return re.fullmatch(UUID_PATTERN, value) is not None
