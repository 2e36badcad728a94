"""A stage for reliability runs: a fresh emulator, and the local engine pointed at it.

Starting the local engine takes about a second (moto parses each state machine),
so many stages share one engine; each brings its own emulator, credentials and
execution names, and finds no lock or run event of an earlier stage.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

import boto3
from ecs_imaging import auth, config

from . import template as sam
from .capture import RunEvents, Secret
from .emulator import Emulator, ServerSpec
from .engine import PIPELINE_STATE_MACHINE, LocalEngine
from .environment import configured, emulator_environment

TIME_SCALE = 0.004
SEED = 7
ACTIVE, SHUTOFF, DELETED = "ACTIVE", "SHUTOFF", "deleted"
_SETTLED = {"powering-off": SHUTOFF, "powering-on": ACTIVE}

CredentialKind = Literal["password", "access key", "temporary key"]


@dataclass
class Stage:
    """One emulator, the shared local engine pointed at it, and the run events."""

    emulator: Emulator
    engine: LocalEngine
    events: RunEvents
    prefix: str
    secrets: list[Secret] = field(default_factory=list)
    first_invocation: int = 0

    def invocations(self, function_name: str) -> int:
        """How often the engine invoked a function since the stage was set."""
        invoked = self.engine.invocations[self.first_invocation :]

        return sum(invocation.function_name == function_name for invocation in invoked)

    def start(self, run_input: Any, name: str, machine: str = PIPELINE_STATE_MACHINE) -> str:
        """Start an execution named after the stage, so that names never repeat."""
        return self.engine.start(run_input, f"{self.prefix}-{name}", machine)


@dataclass
class SharedEngine:
    """The local engine and its run event subscription, shared by many stages."""

    engine: LocalEngine
    events: RunEvents
    stages: int = 0


@contextmanager
def shared_engine() -> Iterator[SharedEngine]:
    """The local engine, started once for many stages (starting it takes a second)."""
    with LocalEngine(time_scale=TIME_SCALE) as engine:
        yield SharedEngine(engine, RunEvents(sam.REGION).subscribe())


@contextmanager
def staged(
    shared: SharedEngine,
    servers: tuple[ServerSpec, ...],
    kind: CredentialKind = "password",
    variables: Mapping[str, str] | None = None,
) -> Iterator[Stage]:
    """A fresh emulator with `servers`, and the shared engine pointed at it."""
    shared.stages += 1
    shared.engine.faults.after_success.clear()
    shared.events.drain()
    _release_locks()
    with Emulator(time_scale=TIME_SCALE, seed=SEED, servers=servers) as emulator:
        chosen, secrets = _credential_variables(emulator, kind)
        with configured({**chosen, **(variables or {})}, emulator):
            auth.token_cache.clear()
            shared.events.received.clear()
            yield Stage(
                emulator,
                shared.engine,
                shared.events,
                f"s{shared.stages:03d}",
                secrets,
                len(shared.engine.invocations),
            )


def _release_locks() -> None:
    """Drop the locks and marks that runs of earlier stages may have left behind."""
    dynamodb = boto3.client("dynamodb", region_name=sam.REGION)
    for table in dynamodb.list_tables()["TableNames"]:
        described = dynamodb.describe_table(TableName=table)["Table"]
        keys = [key["AttributeName"] for key in described["KeySchema"]]
        for item in dynamodb.scan(TableName=table).get("Items", []):
            dynamodb.delete_item(TableName=table, Key={key: item[key] for key in keys})


def _credential_variables(
    emulator: Emulator, kind: CredentialKind
) -> tuple[dict[str, str], list[Secret]]:
    variables = emulator_environment(emulator)
    if kind == "password":
        return variables, []

    for name in (config.OS_USERNAME, config.OS_PASSWORD, config.OS_USER_DOMAIN_NAME):
        variables.pop(name)
    if kind == "access key":
        variables[config.OS_ACCESS_KEY] = emulator.credentials.access_key
        variables[config.OS_SECRET_KEY] = emulator.credentials.secret_key
        return variables, []

    access_key, secret_key, security_token = emulator.issue_temporary_keys()
    variables[config.OS_ACCESS_KEY] = access_key
    variables[config.OS_SECRET_KEY] = secret_key
    variables[config.OS_SECURITY_TOKEN] = security_token
    secrets = [
        Secret("temporary access key", access_key),
        Secret("temporary secret key", secret_key),
        Secret("security token", security_token),
    ]

    return variables, secrets


def power_state(emulator: Emulator, server_id: str) -> str:
    """The server's status, or the one it is on its way to."""
    try:
        server = emulator.server(server_id)
    except KeyError:
        return DELETED

    return _SETTLED.get(server.task_state or "", server.status)
