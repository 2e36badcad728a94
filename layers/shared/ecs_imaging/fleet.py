"""Fleet sweeps: one per-server run for every server carrying a tag, once per slot.

A sweep names each child execution after its schedule slot and server, so a
schedule delivered twice finds the runs it already started instead of starting
them again.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from . import clock, config, ecs
from .models import PipelineInput, describe_errors, parse_model
from .session import CloudSession

# Step Functions execution names: at most 80 characters of this set.
_NAME_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_TAG = re.compile(r"^[^=]{1,127}=[^=]{0,255}$")
PLACEHOLDER_SERVER = "00000000-0000-4000-8000-000000000000"


class SweepInput(BaseModel):
    """The input of a fleet sweep, as EventBridge Scheduler or a user gives it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    tag: str = Field(description="The servers to image: a `key=value` server tag.")
    slot: str = Field(
        min_length=1,
        max_length=40,
        description="The schedule slot (its scheduled time); one run per server per slot.",
    )
    max_concurrency: int = Field(
        default=5,
        ge=1,
        le=40,
        description="How many server runs at once; keeps the cloud's API rate limits.",
    )
    policy: dict[str, Any] = Field(
        default_factory=dict,
        description="Pipeline input fields applied to every server (all but server_id).",
    )

    @field_validator("slot")
    @classmethod
    def _check_slot(cls, value: str) -> str:
        # Every server's execution name holds the slot: it must fit before listing.
        execution_name(value, PLACEHOLDER_SERVER)

        return value

    @field_validator("tag")
    @classmethod
    def _check_tag(cls, value: str) -> str:
        if not _TAG.match(value):
            raise ValueError("must be one 'key=value' server tag")

        return value

    @field_validator("policy")
    @classmethod
    def _check_policy(cls, value: dict[str, Any]) -> dict[str, Any]:
        if "server_id" in value or "trigger" in value:
            raise ValueError("sets server_id and trigger per server; leave them out")
        try:
            PipelineInput.model_validate({**value, "server_id": PLACEHOLDER_SERVER})
        except ValidationError as exc:
            raise ValueError(describe_errors(exc)) from None

        return value


def list_fleet(raw_input: Any, session: CloudSession | None = None) -> dict[str, Any]:
    """The servers a sweep images, each with its pipeline input and execution name."""
    sweep = parse_model(SweepInput, raw_input, "sweep input")
    session = session or CloudSession()

    key, _, value = sweep.tag.partition("=")
    servers = ecs.list_servers(session, tag=(key, value))

    return {
        "tag": sweep.tag,
        "slot": sweep.slot,
        "max_concurrency": sweep.max_concurrency,
        "listed_at": clock.to_timestamp(clock.now()),
        "servers": [
            {
                "server_id": server.id,
                "server_name": server.name,
                "execution_name": execution_name(sweep.slot, server.id),
                "run_input": {
                    **sweep.policy,
                    "server_id": server.id,
                    "trigger": {"kind": "schedule", "id": f"{sweep.tag}@{sweep.slot}"},
                },
            }
            for server in servers
        ],
    }


def execution_name(slot: str, server_id: str) -> str:
    """The child execution's name: the same for one server in one slot, always."""
    name = _NAME_UNSAFE.sub("", f"sweep-{slot}-{server_id}")
    if len(name) > 80:
        raise ValueError(f"slot {slot!r} makes execution names over 80 characters")

    return name


def run_summary(description: dict[str, Any]) -> dict[str, Any]:
    """What a sweep reports of one child run, from DescribeExecution's answer."""
    output = description.get("output")
    outcome = json.loads(output) if isinstance(output, str) and output else {}
    if not isinstance(outcome, dict):
        outcome = {}

    return {
        "ended": description["status"] != "RUNNING",
        "status": description["status"],
        "outcome": outcome.get("outcome"),
        "image_id": outcome.get("image_id"),
        "reason": outcome.get("reason"),
        "error": description.get("error"),
    }


def start_run(stepfunctions: Any, server: dict[str, Any]) -> dict[str, Any]:
    """Start a server's run under its slot's name; a run started before is found.

    `stepfunctions` is a boto3 Step Functions client (the handler's; the library
    never imports boto3).
    """
    state_machine_arn = config.pipeline_state_machine_arn()
    name = str(server["execution_name"])
    try:
        answer = stepfunctions.start_execution(
            stateMachineArn=state_machine_arn,
            name=name,
            input=json.dumps(server["run_input"]),
        )
        execution_arn, again = str(answer["executionArn"]), False
    except stepfunctions.exceptions.ExecutionAlreadyExists:
        # The same slot delivered twice: that run is this server's run.
        execution_arn, again = _execution_arn(state_machine_arn, name), True

    return {"execution_arn": execution_arn, "already_started": again}


def _execution_arn(state_machine_arn: str, name: str) -> str:
    prefix, _, machine = state_machine_arn.rpartition(":stateMachine:")

    return f"{prefix}:execution:{machine}:{name}"
