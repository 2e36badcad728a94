"""Reliability suites: the pipeline under injected faults, and bad inputs of every kind.

Each fault scenario runs the real state machines on the local engine against a
fresh emulator, then judges what a user could see: how the execution ended, the
images made, the server's power state once every stop and start has settled, the
run events announced, and whether a credential reached a log, an event or the
execution history. Each bad input must be refused with an error that names the
field, before anything is created, stopped or started.

`./dev reliability` runs both tables and prints their figures;
tests/reliability runs the same tables as parametrized tests.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import secrets
import sys
import time
import warnings
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import boto3
from ecs_imaging import config, credentials, ecs, webhook
from ecs_imaging.errors import ConfigurationError
from ecs_imaging.session import CloudSession

from . import deliveries
from . import template as sam
from .capture import Secret, SecretScan, captured_logs, emulator_secrets
from .emulator import Emulator, ServerSpec
from .engine import FLEET_STATE_MACHINE, PIPELINE_STATE_MACHINE, ExecutionResult
from .reconcile import reconcile
from .stage import (
    ACTIVE,
    DELETED,
    SHUTOFF,
    TIME_SCALE,
    CredentialKind,
    SharedEngine,
    Stage,
    power_state,
    shared_engine,
    staged,
)

# Emulated seconds after the last run: longer than any stop, start or 1 GB job.
SETTLE_SECONDS = 900.0
RUN_TIMEOUT_SECONDS = 120.0
MIDWAY_TIMEOUT_SECONDS = 30.0
# Past the shortest HTTP timeout the library allows (1 s), and well short of 2 s.
SLOW_SECONDS = 1.5

RUNNING = "5f0c1a2b-3d4e-4f60-8a71-92b3c4d5e6f7"
STOPPED = "7a8b9c0d-1e2f-4a3b-9c4d-5e6f7a8b9c0d"
# Its image job outlasts the failure handling that follows a lost create answer.
LARGE = "2b3c4d5e-6f70-4819-8a2b-3c4d5e6f7081"
SWEEP_TAG = "auto-image=reliability"
PIPELINE_USER = "ecs-imaging"
# A credential like any other: the scan looks for it in every log and history.
EVENTGRID_TOKEN = secrets.token_urlsafe(30)
WEBHOOK_VARIABLES = {
    webhook.TOPIC_URNS: deliveries.TOPIC_URN,
    webhook.CERTIFICATE_HOSTS: deliveries.CERTIFICATE_HOST,
    webhook.PIPELINE_USER_NAMES: PIPELINE_USER,
    webhook.EVENTGRID_TOKEN: EVENTGRID_TOKEN,
    webhook.RUN_STATE_TABLE: "RunStateTable",
}
SERVERS = (
    ServerSpec(RUNNING, "rel-app", "ACTIVE", 1),
    ServerSpec(STOPPED, "rel-web", "SHUTOFF", 1, (SWEEP_TAG,)),
    ServerSpec(LARGE, "rel-db", "ACTIVE", 30),
)

CREATED, FAILED, SKIPPED = "Image Created", "Image Failed", "Run Skipped"
# The calls that change something in the cloud: none may follow a bad input.
CHANGING_CALLS = (
    "ecs.stop",
    "ecs.start",
    "ims.create_image",
    "ims.create_data_images",
    "ims.create_whole_image",
    "ims.delete_image",
    "ims.export_image",
    "ims.add_image_tag",
    "ims.batch_image_tags",
    "ims.delete_image_tag",
)
# What a whole run calls, in order, on a server it stops and starts again.
RUN_CALLS = (
    "iam.token",
    "ecs.show_server",
    "ims.show_quota",
    "ecs.update_metadata",
    "ecs.stop",
    "ecs.show_job",
    "ims.list_images",
    "ims.create_image",
    "ims.show_job",
    "ims.show_image",
    "ecs.start",
    "ecs.delete_metadata",
)
STEP_FUNCTIONS = (
    "PrepareServerFunction",
    "StopServerFunction",
    "CheckServerFunction",
    "CreateImageFunction",
    "CheckImageJobFunction",
    "FinalizeRunFunction",
    "HandleFailureFunction",
    "CheckExportFunction",
    "CheckRestartFunction",
)

Target = Literal["pipeline", "sweep", "settings", "secret"]


Action = Callable[[Stage], object]


@dataclass(frozen=True)
class Fault:
    """Misbehaviour set up before the runs, and how to tell that it happened."""

    label: str
    apply: Action
    fired: Callable[[Stage], bool]


@dataclass(frozen=True)
class Midway:
    """Misbehaviour that starts as soon as `call` has been made, while the runs go on."""

    label: str
    call: str
    apply: Action


@dataclass(frozen=True)
class Delivery:
    """One webhook request carrying a stopServer trace of the scenario's server.

    Deliveries with the same `trace` carry the same trace, and with the same
    `message` the same SMN message (a retry keeps its id and first-send time).
    """

    route: Literal["smn", "eventgrid"] = "smn"
    trace: str = "first"
    message: str = "first"
    age_hours: float = 0.0
    user: str = "ops-user"
    forged: bool = False
    # Sent once every run started so far has ended, or with the delivery before it.
    after_runs: bool = False
    together: bool = False


@dataclass(frozen=True)
class Expect:
    """What every run of a scenario must end with, and what the cloud must hold after."""

    status: str = "SUCCEEDED"
    error: str | None = None
    images: int = 1
    power: str = ACTIVE
    events: tuple[str, ...] = (CREATED,)
    # Text the announced events must carry, e.g. the image job's error code.
    mentions: tuple[str, ...] = ()
    # The power state after one reconcile pass, for runs that hand their server to
    # it; None: no pass.
    reconciled: str | None = None
    # For webhook deliveries: how many executions they start, and their answers.
    executions: int | None = None
    answers: tuple[int, ...] | None = None


@dataclass(frozen=True)
class Scenario:
    """One row of the fault table."""

    name: str
    run_input: Mapping[str, Any]
    expect: Expect
    faults: tuple[Fault, ...] = ()
    midway: Midway | None = None
    variables: Mapping[str, str] = field(default_factory=dict)
    credentials: CredentialKind = "password"
    runs: int = 1
    machine: str = PIPELINE_STATE_MACHINE
    # Webhook deliveries start the runs instead of direct executions.
    deliveries: tuple[Delivery, ...] = ()
    # Set while a defect keeps the scenario from passing; the reason names it.
    defect: str | None = None

    @property
    def server_id(self) -> str:
        """The server the scenario images."""
        return str(self.run_input.get("server_id", STOPPED))


@dataclass(frozen=True)
class BadInput:
    """One row of the bad-input table; `names` is None for a limit that is allowed."""

    name: str
    target: Target
    value: Any
    names: str | None
    error: str = "InvalidInput"
    images: int = 0
    defect: str | None = None


@dataclass
class Verdict:
    """How one scenario or bad input went, with every broken promise spelled out."""

    name: str
    suite: str
    problems: list[str]
    scan: SecretScan
    defect: str | None = None
    images: int = 0
    expected_images: int = 0
    wrong_power: bool = False
    rejected: bool | None = None
    executions: int = 0
    debug_records: int = 0
    json_lines: int = 0
    elapsed_s: float = 0.0

    @property
    def passed(self) -> bool:
        """True when every promise was kept."""
        return not self.problems


# --- the fault table -----------------------------------------------------------


def _fired_when(counter: str, at_least: int = 1) -> Callable[[Stage], bool]:
    return lambda stage: stage.emulator.counters.get(counter, 0) >= at_least


def _throttle(scope: str, count: int, **options: Any) -> Fault:
    answer = 429 if scope in ("iam", "ecs") or options.get("code") else 400
    return Fault(
        f"throttle {scope} x{count}",
        lambda stage: stage.emulator.faults.throttle(scope, count=count, **options),
        _fired_when(f"http.{answer}"),
    )


def _fail(call: str, status: int, count: int | None = 1) -> Fault:
    times = "always" if count is None else f"x{count}"
    return Fault(
        f"{status} on {call} {times}",
        lambda stage: stage.emulator.faults.fail_calls(call, status=status, count=count),
        _fired_when(f"http.{status}"),
    )


def _slow(call: str, seconds: float = SLOW_SECONDS) -> Fault:
    return Fault(
        f"{call} answers after {seconds} s",
        lambda stage: stage.emulator.faults.slow_calls(call, seconds),
        _fired_when(call),
    )


def _drop(call: str) -> Fault:
    return Fault(
        f"connection cut after {call}",
        lambda stage: stage.emulator.faults.drop_connection(call),
        _fired_when("http.dropped"),
    )


def _twice(function_name: str) -> Fault:
    def apply(stage: Stage) -> None:
        stage.engine.faults.after_success[function_name] = 1

    return Fault(
        f"{function_name} invoked twice",
        apply,
        lambda stage: stage.invocations(function_name) >= 2,
    )


def _failing_job(error_code: str, fail_reason: str) -> Fault:
    return Fault(
        f"image job FAIL {error_code}",
        lambda stage: stage.emulator.faults.fail_next_image_job(error_code, fail_reason),
        _fired_when("ims.show_job"),
    )


def _stuck_job() -> Fault:
    return Fault(
        "image job stays RUNNING",
        lambda stage: stage.emulator.faults.stick_next_image_job(),
        _fired_when("ims.show_job"),
    )


def _server_change(action: Literal["delete", "start"], server_id: str) -> Fault:
    def apply(stage: Stage) -> None:
        if action == "delete":
            stage.emulator.faults.delete_server(server_id, at_next_image_job=True)
        else:
            stage.emulator.faults.start_server(server_id, at_next_image_job=True)

    return Fault(
        f"owner {action}s the server as its image job starts",
        apply,
        _fired_when("ims.create_image"),
    )


def _deleted_now(server_id: str) -> Fault:
    return Fault(
        "server deleted before the run",
        lambda stage: stage.emulator.faults.delete_server(server_id),
        _fired_when("ecs.show_server"),
    )


def _quota(value: int) -> Fault:
    def apply(stage: Stage) -> None:
        stage.emulator.image_quota = value

    return Fault(f"image quota {value}", apply, _fired_when("ims.show_quota"))


def _stopped_by_owner(server_id: str) -> Fault:
    def apply(stage: Stage) -> None:
        ecs.stop_server(CloudSession(), server_id)

    return Fault("owner stops the server just before", apply, _fired_when("ecs.stop"))


def _proof(label: str, counter: str, at_least: int = 1) -> Fault:
    """No misbehaviour of its own: the proof that a midway one or a setting bit."""
    return Fault(label, lambda stage: None, _fired_when(counter, at_least))


def _revoke(stage: Stage) -> None:
    stage.emulator.faults.revoke_tokens()


def _revoke_and_throttle(stage: Stage) -> None:
    stage.emulator.faults.revoke_tokens()
    stage.emulator.faults.throttle("iam", count=3)


def _use_up_quota(stage: Stage) -> None:
    stage.emulator.image_quota = 0


def _fail_export(stage: Stage) -> None:
    stage.emulator.faults.fail_next_image_job("IMG.0071", "The OBS bucket is unavailable.")


def _delete(server_id: str) -> Action:
    return lambda stage: stage.emulator.faults.delete_server(server_id)


TIMEOUT = {config.HTTP_TIMEOUT_SECONDS: "1"}
RUN = {"server_id": RUNNING}
STOP = {"server_id": STOPPED}
# A 5xx answer to create proves nothing was made; the run cannot know that.
LOST_CREATE = Expect("FAILED", "CloudTransientError", 0, SHUTOFF, (FAILED,), reconciled=ACTIVE)


def _per_call_5xx() -> list[Scenario]:
    statuses = (500, 502, 503, 504)
    rows = []
    for number, call in enumerate(RUN_CALLS):
        status = statuses[number % len(statuses)]
        expect = LOST_CREATE if call == "ims.create_image" else Expect()
        rows.append(Scenario(f"{status} once on {call}", RUN, expect, (_fail(call, status),)))

    return rows


def _per_call_timeout() -> list[Scenario]:
    lost_answer = {
        # The job finished while the client waited: the run fails, but restores.
        "ims.create_image": Expect("FAILED", "CloudTransientError", 1, ACTIVE, (FAILED,)),
    }
    return [
        Scenario(
            f"timeout on {call}",
            RUN,
            lost_answer.get(call, Expect()),
            (_slow(call),),
            variables=TIMEOUT,
        )
        for call in RUN_CALLS
    ]


def _per_step_twice() -> list[Scenario]:
    special: dict[str, tuple[tuple[Fault, ...], Expect, Mapping[str, Any]]] = {
        # The answer comes after the soft stop has settled, so the retry finds the
        # server stopped: the order a real retry meets, made certain.
        "StopServerFunction": ((_slow("ecs.stop", 0.2),), Expect(), RUN),
        "HandleFailureFunction": (
            (_failing_job("IMG.0006", "The ECS system disk cannot be used."),),
            Expect("FAILED", "ImageJobFailed", 0, ACTIVE, (FAILED,), ("IMG.0006",)),
            RUN,
        ),
        "CheckExportFunction": (
            (),
            Expect(events=(CREATED, "Image Exported")),
            {**RUN, "export": {"bucket": "rel-exports"}},
        ),
    }
    rows = []
    for function_name in STEP_FUNCTIONS:
        faults, expect, run_input = special.get(function_name, ((), Expect(), RUN))
        name = f"{function_name.removesuffix('Function')} invoked twice"
        rows.append(Scenario(name, run_input, expect, (*faults, _twice(function_name))))

    return rows


def _job_failures() -> list[Scenario]:
    codes = (
        ("IMG.0006", "The ECS system disk cannot be used.", RUN, ACTIVE),
        ("IMG.0014", "IaaS OpenStack exception.", STOP, SHUTOFF),
        ("IMG.0061", "Unknown system error.", RUN, ACTIVE),
        ("IMG.0110", "The system disk is unavailable.", RUN, ACTIVE),
    )

    return [
        Scenario(
            f"image job FAIL {code}",
            run_input,
            Expect("FAILED", "ImageJobFailed", 0, power, (FAILED,), (code, reason)),
            (_failing_job(code, reason),),
        )
        for code, reason, run_input, power in codes
    ]


SCENARIOS: tuple[Scenario, ...] = (
    Scenario("IAM throttled, a burst of 3", RUN, Expect(), (_throttle("iam", 3),)),
    Scenario("ECS throttled, a burst of 4", RUN, Expect(), (_throttle("ecs", 4),)),
    Scenario("IMS throttled, a burst of 5", RUN, Expect(), (_throttle("ims", 5),)),
    Scenario(
        "IMS gateway throttles half the calls",
        RUN,
        Expect(),
        (_throttle("ims", 6, rate=0.5, code="APIGW.0308", retry_after=0),),
    ),
    Scenario(
        "create throttled with Retry-After",
        RUN,
        Expect(),
        (_throttle("ims.create_image", 1, retry_after=1),),
    ),
    *_per_call_5xx(),
    *_per_call_timeout(),
    Scenario(
        "token revoked while the image job runs",
        RUN,
        Expect(),
        (_proof("a second token", "iam.token", 2),),
        Midway("revoke every token", "ims.create_image", _revoke),
    ),
    Scenario(
        "token revoked while IAM throttles",
        RUN,
        Expect(),
        (_proof("a new token, throttled", "http.429"),),
        Midway("revoke every token, throttle IAM", "ims.create_image", _revoke_and_throttle),
    ),
    Scenario(
        "connection cut after the create was accepted",
        {"server_id": LARGE},
        Expect("FAILED", "CloudTransientError", 1, SHUTOFF, (FAILED,), reconciled=ACTIVE),
        (_drop("ims.create_image"),),
    ),
    Scenario("connection cut after the start", RUN, Expect(), (_drop("ecs.start"),)),
    Scenario("connection cut after a token", RUN, Expect(), (_drop("iam.token"),)),
    *_per_step_twice(),
    Scenario(
        "sweep starts a server's run twice",
        {"tag": SWEEP_TAG, "slot": "2026-12-04T02:00Z"},
        Expect(power=SHUTOFF),
        (_twice("StartServerRunFunction"),),
        machine=FLEET_STATE_MACHINE,
    ),
    *_job_failures(),
    Scenario(
        "image job stuck in RUNNING past the deadline",
        {**RUN, "deadline_minutes": 2},
        # The job never ends: reconcile must not start the server under it.
        Expect("FAILED", "ImageJobTimedOut", 1, SHUTOFF, (FAILED,), reconciled=SHUTOFF),
        (_stuck_job(),),
    ),
    Scenario(
        "export job FAIL",
        {**RUN, "export": {"bucket": "rel-exports"}},
        Expect("FAILED", "ExportFailed", 1, ACTIVE, (CREATED, "Export Failed"), ("IMG.0071",)),
        midway=Midway("fail the next IMS job", "ims.create_image", _fail_export),
    ),
    Scenario(
        "server deleted as its image job starts",
        RUN,
        Expect("FAILED", "ImageJobFailed", 0, DELETED, (FAILED,), ("IMG.0005",)),
        (_server_change("delete", RUNNING),),
    ),
    Scenario(
        "server deleted while it stops",
        RUN,
        Expect("FAILED", "ResourceNotFound", 0, DELETED, (FAILED,)),
        midway=Midway("delete the server", "ecs.stop", _delete(RUNNING)),
    ),
    Scenario(
        "server deleted before the run",
        RUN,
        Expect("FAILED", "ResourceNotFound", 0, DELETED, (FAILED,)),
        (_deleted_now(RUNNING),),
    ),
    Scenario(
        "stopped server started by its owner mid-run",
        STOP,
        Expect(),
        (_server_change("start", STOPPED),),
    ),
    Scenario(
        "stopped-by-run server started by its owner mid-run",
        RUN,
        Expect(),
        (_server_change("start", RUNNING),),
    ),
    Scenario(
        "image quota used up",
        RUN,
        Expect("FAILED", "QuotaExceeded", 0, ACTIVE, (FAILED,)),
        (_quota(0),),
    ),
    Scenario(
        "image quota used up between check and create",
        RUN,
        Expect("FAILED", "QuotaExceeded", 0, ACTIVE, (FAILED,)),
        midway=Midway("use up the quota", "ims.show_quota", _use_up_quota),
    ),
    Scenario(
        "slow stop answer within the timeout",
        RUN,
        Expect(),
        (_slow("ecs.stop", 0.5),),
    ),
    Scenario(
        "server still stopping by its owner when the run starts",
        RUN,
        Expect(power=SHUTOFF),
        (_stopped_by_owner(RUNNING),),
    ),
    Scenario(
        "server cannot be started again",
        RUN,
        Expect("FAILED", "RestoreFailed", 1, SHUTOFF, (FAILED,), reconciled=ACTIVE),
        (_fail("ecs.start", 503, None),),
    ),
    Scenario(
        "two triggers for a running server at once",
        RUN,
        Expect(events=(CREATED, SKIPPED)),
        runs=2,
    ),
    Scenario(
        "two triggers for a stopped server at once",
        STOP,
        Expect(power=SHUTOFF, events=(CREATED, SKIPPED)),
        runs=2,
    ),
    Scenario(
        "wrong password",
        RUN,
        Expect("FAILED", "CloudAuthError", 0, ACTIVE, (FAILED,)),
        (_proof("IAM refuses the password", "http.401"),),
        variables={config.OS_PASSWORD: "not-the-password"},
    ),
    Scenario(
        "SMN delivery repeated",
        STOP,
        Expect(power=SHUTOFF, executions=1, answers=(200, 200)),
        deliveries=(Delivery(), Delivery()),
    ),
    Scenario(
        "SMN delivery replayed after its run ended",
        STOP,
        Expect(power=SHUTOFF, executions=1, answers=(200, 200)),
        deliveries=(Delivery(), Delivery(after_runs=True)),
    ),
    Scenario(
        "SMN delivered twice at the same moment, then retried",
        STOP,
        Expect(power=SHUTOFF, executions=1),
        deliveries=(Delivery(), Delivery(together=True), Delivery(after_runs=True)),
    ),
    Scenario(
        "SMN deliveries of two stops reordered",
        STOP,
        Expect(power=SHUTOFF, events=(CREATED, SKIPPED), executions=2, answers=(200, 200)),
        deliveries=(Delivery(trace="second", message="second"), Delivery()),
    ),
    Scenario(
        "one trace in two SMN messages",
        STOP,
        Expect(power=SHUTOFF, executions=1, answers=(200, 200)),
        deliveries=(Delivery(message="second"), Delivery()),
    ),
    Scenario(
        "one trace from EventGrid and SMN",
        STOP,
        Expect(power=SHUTOFF, executions=1, answers=(200, 200)),
        deliveries=(Delivery(route="eventgrid"), Delivery()),
    ),
    Scenario(
        "SMN delivery replayed 49 hours on",
        STOP,
        Expect(images=0, power=SHUTOFF, events=(), executions=0, answers=(200,)),
        deliveries=(Delivery(age_hours=49),),
    ),
    Scenario(
        "SMN delivery of the pipeline's own stop",
        STOP,
        Expect(images=0, power=SHUTOFF, events=(), executions=0, answers=(200,)),
        deliveries=(Delivery(user=PIPELINE_USER),),
    ),
    Scenario(
        "forged SMN delivery",
        STOP,
        Expect(images=0, power=SHUTOFF, events=(), executions=0, answers=(403,)),
        deliveries=(Delivery(forged=True),),
    ),
    Scenario(
        "access key, IMS throttled",
        RUN,
        Expect(),
        (_throttle("ims", 3),),
        credentials="access key",
    ),
    Scenario(
        "temporary key, 5xx on create",
        RUN,
        LOST_CREATE,
        (_fail("ims.create_image", 502),),
        credentials="temporary key",
    ),
)


# --- the bad-input table -------------------------------------------------------

NAME_128 = "n" * 128
TAG_KEYS_8 = {f"k{n}": "v" for n in range(8)}
REQUIRE_STOPPED = {"server_id": RUNNING, "stop_policy": "require-stopped"}
SECRET_SOURCE = "arn:aws:secretsmanager:eu-central-1:123456789012:secret:ecs-imaging"  # noqa: S105
SECRET_VALUES = ("pw-Very-Secret-1", "SK-very-secret-2", "AKVERYSECRET3")


def _pipeline(name: str, value: Any, names: str | None, **options: Any) -> BadInput:
    return BadInput(name, "pipeline", value, names, **options)


def _with(**fields: Any) -> dict[str, Any]:
    return {"server_id": STOPPED, **fields}


def _sweep(name: str, value: Any, names: str, **options: Any) -> BadInput:
    return BadInput(name, "sweep", value, names, **options)


def _setting(name: str, changes: Mapping[str, str | None], names: str) -> BadInput:
    return BadInput(name, "settings", dict(changes), names, error="ConfigurationError")


def _secret(name: str, document: Any, names: str) -> BadInput:
    return BadInput(name, "secret", document, names, error="ConfigurationError")


SWEEP = {"tag": SWEEP_TAG, "slot": "2026-12-04T02:00Z"}

BAD_INPUTS: tuple[BadInput, ...] = (
    # Pipeline inputs: the whole input.
    _pipeline("input is a list", ["not", "an", "object"], "(input)"),
    _pipeline("input is null", None, "(input)"),
    _pipeline("input is a string", STOPPED, "(input)"),
    _pipeline("input is a number", 42, "(input)"),
    _pipeline("input is empty", {}, "server_id is required"),
    _pipeline("unknown field", _with(serverid="x"), "serverid"),
    _pipeline("unknown field in trigger", _with(trigger={"source": "x"}), "trigger.source"),
    # Server ids that are not ids.
    _pipeline("server_id a number", {"server_id": 42}, "server_id"),
    _pipeline("server_id a name", {"server_id": "rel-web"}, "server_id"),
    _pipeline("server_id with a newline", {"server_id": STOPPED + "\n"}, "server_id"),
    _pipeline("server_id with a NUL", {"server_id": STOPPED[:-1] + "\x00"}, "server_id"),
    _pipeline("server_id a path", {"server_id": "../../v3/auth/tokens"}, "server_id"),
    _pipeline("server_id full-width digits", {"server_id": "\uff17" + STOPPED[1:]}, "server_id"),
    _pipeline("server_id a list", {"server_id": [STOPPED]}, "server_id"),
    _pipeline(
        "server_id of no server",
        {"server_id": "00000000-0000-4000-8000-000000000000"},
        "00000000-0000-4000-8000-000000000000",
        error="ResourceNotFound",
    ),
    # Image names.
    _pipeline("image_name 128 characters", _with(image_name=NAME_128), None, images=1),
    _pipeline("image_name 129 characters", _with(image_name=NAME_128 + "n"), "image_name"),
    _pipeline("image_name leading space", _with(image_name=" web"), "image_name"),
    _pipeline("image_name accented letter", _with(image_name="wéb-01"), "image_name"),
    _pipeline("image_name control character", _with(image_name="web\x07"), "image_name"),
    _pipeline("image_name empty", _with(image_name=""), "image_name"),
    _pipeline("name_template unknown variable", _with(name_template="{host}"), "name_template"),
    # Descriptions.
    _pipeline("description 1024 characters", _with(description="d" * 1024), None, images=1),
    _pipeline("description 1025 characters", _with(description="d" * 1025), "description"),
    _pipeline("description in Unicode", _with(description="Sicherung ✓ 日本語"), None, images=1),
    _pipeline("description with <>", _with(description="<script>"), "description"),
    _pipeline("description with CR", _with(description="a\rb"), "description"),
    _pipeline("description a number", _with(description=5), "description"),
    # Tags.
    _pipeline("tag key 36 characters", _with(tags={"k" * 36: "v"}), None, images=1),
    _pipeline("tag key 37 characters", _with(tags={"k" * 37: "v"}), "tags"),
    _pipeline("tag value 43 characters", _with(tags={"k": "v" * 43}), None, images=1),
    _pipeline("tag value 44 characters", _with(tags={"k": "v" * 44}), "tags"),
    _pipeline("tag in Unicode", _with(tags={"schlüssel": "wert ✓"}), None, images=1),
    _pipeline("8 tags", _with(tags=TAG_KEYS_8), None, images=1),
    _pipeline("9 tags", _with(tags={**TAG_KEYS_8, "k8": "v"}), "tags"),
    _pipeline("tags a list", _with(tags=["owner=ops"]), "tags"),
    _pipeline("tag value a number", _with(tags={"owner": 5}), "tags.owner"),
    _pipeline("tag key reserved", _with(tags={"ecs-imaging-run": "x"}), "reserved"),
    _pipeline("tag key empty", _with(tags={"": "x"}), "tags"),
    # Deadlines and waits.
    _pipeline("deadline 0", _with(deadline_minutes=0), "deadline_minutes"),
    _pipeline("deadline 1", {**REQUIRE_STOPPED, "deadline_minutes": 1}, None),
    _pipeline("deadline 1440", {**REQUIRE_STOPPED, "deadline_minutes": 1440}, None),
    _pipeline("deadline 1441", _with(deadline_minutes=1441), "deadline_minutes"),
    _pipeline("deadline a string", _with(deadline_minutes="60"), "deadline_minutes"),
    _pipeline("deadline a fraction", _with(deadline_minutes=1.5), "deadline_minutes"),
    _pipeline("deadline true", _with(deadline_minutes=True), "deadline_minutes"),
    _pipeline("min wait 0", _with(min_wait_seconds=0), "min_wait_seconds"),
    _pipeline("min wait 3600", {**REQUIRE_STOPPED, "min_wait_seconds": 3600}, None),
    _pipeline("max wait 3601", _with(max_wait_seconds=3601), "max_wait_seconds"),
    _pipeline(
        "min wait above max wait",
        _with(min_wait_seconds=90, max_wait_seconds=30),
        "min_wait_seconds",
    ),
    # Policies.
    _pipeline("stop_policy unknown", _with(stop_policy="reboot"), "stop_policy"),
    _pipeline("image_kind unknown", _with(image_kind="disk"), "image_kind"),
    _pipeline(
        "export of a whole image", _with(image_kind="whole", export={"bucket": "b-1"}), "export"
    ),
    _pipeline("retention without a rule", _with(retention={}), "retention"),
    _pipeline("trigger kind unknown", _with(trigger={"kind": "cron"}), "trigger.kind"),
    # Sweep inputs.
    _sweep("sweep without tag", {"slot": "2026-12-04T02:00Z"}, "tag"),
    _sweep("sweep tag without =", {**SWEEP, "tag": "auto-image"}, "tag"),
    _sweep("sweep tag with two =", {**SWEEP, "tag": "a=b=c"}, "tag"),
    _sweep("sweep slot empty", {**SWEEP, "slot": ""}, "slot"),
    _sweep("sweep slot 41 characters", {**SWEEP, "slot": "s" * 41}, "slot"),
    _sweep("sweep slot 40 characters", {**SWEEP, "slot": "s" * 40}, "slot"),
    _sweep("sweep max_concurrency 0", {**SWEEP, "max_concurrency": 0}, "max_concurrency"),
    _sweep("sweep max_concurrency 41", {**SWEEP, "max_concurrency": 41}, "max_concurrency"),
    _sweep("sweep policy bad", {**SWEEP, "policy": {"stop_policy": "reboot"}}, "policy"),
    _sweep("sweep policy server_id", {**SWEEP, "policy": {"server_id": STOPPED}}, "policy"),
    _sweep("sweep policy a list", {**SWEEP, "policy": []}, "policy"),
    _sweep("sweep unknown field", {**SWEEP, "tags": SWEEP_TAG}, "tags"),
    # Configuration values.
    _setting("cloud unknown", {config.CLOUD: "aws"}, config.CLOUD),
    _setting("region missing", {config.REGION: None}, config.REGION),
    _setting("region upper case", {config.REGION: "EU-DE"}, config.REGION),
    _setting("region with a control character", {config.REGION: "eu-de\x1b"}, config.REGION),
    _setting("project id not hex", {config.PROJECT_ID: "p" * 32}, config.PROJECT_ID),
    _setting("project of another region", {config.PROJECT_NAME: "eu-nl"}, config.PROJECT_NAME),
    _setting(
        "IAM endpoint plain http", {config.IAM_ENDPOINT: "http://iam.example"}, config.IAM_ENDPOINT
    ),
    _setting(
        "ECS endpoint with user info",
        {config.ECS_ENDPOINT: "http://127.0.0.1@ecs.example"},
        config.ECS_ENDPOINT,
    ),
    _setting("deadline 0", {config.DEADLINE_MINUTES: "0"}, config.DEADLINE_MINUTES),
    _setting("deadline 1441", {config.DEADLINE_MINUTES: "1441"}, config.DEADLINE_MINUTES),
    _setting("deadline a word", {config.DEADLINE_MINUTES: "ten"}, config.DEADLINE_MINUTES),
    _setting("HTTP timeout 0", {config.HTTP_TIMEOUT_SECONDS: "0"}, config.HTTP_TIMEOUT_SECONDS),
    _setting(
        "HTTP timeout a fraction",
        {config.HTTP_TIMEOUT_SECONDS: "0.5"},
        config.HTTP_TIMEOUT_SECONDS,
    ),
    _setting("min wait negative", {config.MIN_WAIT_SECONDS: "-1"}, config.MIN_WAIT_SECONDS),
    BadInput(
        "min wait above max wait",
        "settings",
        {config.MIN_WAIT_SECONDS: "200", config.MAX_WAIT_SECONDS: "100"},
        config.MIN_WAIT_SECONDS,
        error="ConfigurationError",
    ),
    # Credentials secrets.
    _secret("secret not JSON", "user=ecs-imaging", "not JSON"),
    _secret("secret a list", ["user_name", "password"], "not a JSON object"),
    _secret("secret empty", {}, "user_name, password and domain_name"),
    _secret(
        "secret without domain",
        {"user_name": "ecs-imaging", "password": SECRET_VALUES[0]},
        "domain_name",
    ),
    _secret(
        "secret of both kinds",
        {"user_name": "u", "password": SECRET_VALUES[0], "access_key": SECRET_VALUES[2]},
        "access_key",
    ),
    _secret(
        "secret with an empty password",
        {"user_name": "u", "password": "", "domain_name": "d"},
        "password",
    ),
    _secret(
        "secret key a number",
        {"access_key": SECRET_VALUES[2], "secret_key": 12345},
        "secret_key",
    ),
    _secret(
        "access key with an agency",
        {"access_key": SECRET_VALUES[2], "secret_key": SECRET_VALUES[1], "agency_name": "a"},
        "agency_name",
    ),
    _secret(
        "agency without its account",
        {"user_name": "u", "password": SECRET_VALUES[0], "domain_name": "d", "agency_name": "a"},
        "agency_domain_name",
    ),
    _secret(
        "agency domain id not hex",
        {
            "user_name": "u",
            "password": SECRET_VALUES[0],
            "domain_name": "d",
            "agency_name": "a",
            "agency_domain_id": "x" * 32,
        },
        "agency_domain_id",
    ),
    _secret(
        "user name 65 characters",
        {"user_name": "u" * 65, "password": SECRET_VALUES[0], "domain_name": "d"},
        "user_name",
    ),
)


# --- running the fault table ---------------------------------------------------


def run_scenario(shared: SharedEngine, scenario: Scenario) -> Verdict:
    """Run one row of the fault table on a fresh stage and judge it."""
    started = time.monotonic()
    variables = {**WEBHOOK_VARIABLES, **scenario.variables}
    with staged(shared, SERVERS, scenario.credentials, variables) as stage:
        with captured_logs() as logs:
            for fault in scenario.faults:
                fault.apply(stage)
            power_before = power_state(stage.emulator, scenario.server_id)
            results, answers = _execute(stage, scenario)
        stage.emulator.clock.advance(SETTLE_SECONDS)
        verdict = _judge(stage, scenario, results, power_before)
        verdict.problems += _check_deliveries(scenario.expect, results, answers)
        texts = [*logs.texts(), *_run_texts(stage, results)]
        if scenario.expect.reconciled is not None:
            with captured_logs() as reconcile_logs:
                left_wrong = _check_reconciled(stage, scenario)
            verdict.problems += left_wrong
            verdict.wrong_power = verdict.wrong_power or bool(left_wrong)
            texts += [*reconcile_logs.texts(), *_run_texts(stage, [])]

        verdict.scan = _scan(stage, texts)
    verdict.problems += verdict.scan.findings
    verdict.executions = len(results)
    verdict.debug_records, verdict.json_lines = logs.debug_records, len(logs.json_lines)
    verdict.elapsed_s = round(time.monotonic() - started, 2)

    return verdict


def _execute(stage: Stage, scenario: Scenario) -> tuple[list[ExecutionResult], list[int]]:
    if scenario.deliveries:
        return _deliver_all(stage, scenario)

    arns = [
        stage.start(dict(scenario.run_input), f"run-{number}", scenario.machine)
        for number in range(1, scenario.runs + 1)
    ]
    if scenario.midway is not None:
        _act_midway(stage, scenario.midway, arns)

    return [stage.engine.wait(arn, timeout_s=RUN_TIMEOUT_SECONDS) for arn in arns], []


def _deliver_all(stage: Stage, scenario: Scenario) -> tuple[list[ExecutionResult], list[int]]:
    """Send the scenario's deliveries to the webhook; the runs they started, and answers."""
    pipeline = stage.engine.state_machine_arn()
    prefix = pipeline.replace(":stateMachine:", ":execution:")
    started: dict[str, ExecutionResult | None] = {}
    answers: list[int] = []

    with deliveries.delivered():
        for group in _groups(scenario.deliveries):
            if group[0].after_runs:
                _wait_for(stage, prefix, started)
            events = [_request(stage, scenario.server_id, delivery) for delivery in group]
            with ThreadPoolExecutor(max_workers=len(events)) as pool:
                replies = list(pool.map(deliveries.deliver, events))
            answers += [reply["status"] for reply in replies]
            for reply in replies:
                started.update(dict.fromkeys(reply.get("executions", []), None))
        _wait_for(stage, prefix, started)

    return [result for result in started.values() if result is not None], answers


def _groups(sequence: Sequence[Delivery]) -> list[list[Delivery]]:
    groups: list[list[Delivery]] = []
    for delivery in sequence:
        if delivery.together and groups:
            groups[-1].append(delivery)
        else:
            groups.append([delivery])

    return groups


def _request(stage: Stage, server_id: str, delivery: Delivery) -> dict[str, Any]:
    # The stage's prefix keeps traces apart: a trace names its run for good.
    trace_id = f"{delivery.trace}-{stage.prefix}"
    trace = deliveries.stop_trace(trace_id, server_id, delivery.user)
    if delivery.route == "eventgrid":
        event = deliveries.eventgrid_event(trace, f"{delivery.message}-{stage.prefix}")
        query = {webhook.TOKEN_PARAMETER: EVENTGRID_TOKEN}
        return deliveries.function_url_request(event, webhook.EVENTGRID_PATH, query)

    sent = stage.emulator.clock.now() - timedelta(hours=delivery.age_hours)
    message_id = f"{delivery.message}-{stage.prefix}"
    body = deliveries.smn_notification(trace, message_id, sent, forged=delivery.forged)

    return deliveries.function_url_request(body, webhook.SMN_PATH)


def _wait_for(stage: Stage, prefix: str, started: dict[str, ExecutionResult | None]) -> None:
    for name, result in started.items():
        if result is None:
            arn = f"{prefix}:{name}"
            started[name] = stage.engine.wait(arn, timeout_s=RUN_TIMEOUT_SECONDS)


def _act_midway(stage: Stage, midway: Midway, arns: Sequence[str]) -> None:
    """Apply `midway` as soon as its call is made, unless every run ends first."""
    stepfunctions = boto3.client("stepfunctions", region_name=sam.REGION)
    give_up = time.monotonic() + MIDWAY_TIMEOUT_SECONDS
    while time.monotonic() < give_up:
        if stage.emulator.counters.get(midway.call, 0) >= 1:
            midway.apply(stage)
            return
        statuses = {stepfunctions.describe_execution(executionArn=a)["status"] for a in arns}
        if statuses.isdisjoint({"RUNNING"}):
            return
        time.sleep(0.002)


def _judge(
    stage: Stage,
    scenario: Scenario,
    results: list[ExecutionResult],
    power_before: str,
) -> Verdict:
    expect = scenario.expect
    emulator = stage.emulator
    problems = [problem for result in results for problem in _check_end(result, expect)]

    images = len(emulator.images())
    jobs = sum(job.export is None for job in emulator.jobs())
    if images != expect.images:
        problems.append(f"{images} image(s) made, expected {expect.images}")
    if jobs > max(expect.images, 1):
        problems.append(f"{jobs} image jobs started for one request")

    power = power_state(emulator, scenario.server_id)
    wrong_power = power != expect.power
    if wrong_power:
        problems.append(f"server ends {power}, expected {expect.power}")
    problems += _check_left_stopped(results, power_before, power)
    if power != SHUTOFF:
        problems += _check_stop_marks(emulator, scenario.server_id)

    events = stage.events.drain()
    announced = sorted(event["detail-type"] for event in events)
    if announced != sorted(expect.events):
        problems.append(f"announced {announced}, expected {sorted(expect.events)}")
    details = json.dumps([event.get("detail") for event in events])
    problems += [f"no event mentions {text!r}" for text in expect.mentions if text not in details]
    problems += [f"fault never happened: {f.label}" for f in scenario.faults if not f.fired(stage)]

    return Verdict(
        scenario.name,
        "faults",
        problems,
        SecretScan(),
        scenario.defect,
        images,
        expect.images,
        wrong_power,
    )


def _check_deliveries(
    expect: Expect, results: list[ExecutionResult], answers: list[int]
) -> list[str]:
    problems = []
    if expect.executions is not None and len(results) != expect.executions:
        problems.append(f"{len(results)} executions started, expected {expect.executions}")
    if expect.answers is not None and answers != list(expect.answers):
        problems.append(f"the webhook answered {answers}, expected {list(expect.answers)}")

    return problems


def _check_reconciled(stage: Stage, scenario: Scenario) -> list[str]:
    """One reconcile pass once the cloud behaves again, then the server's power state."""
    stage.emulator.faults.clear()
    stage.events.received.clear()
    reconcile(stage.engine)
    stage.emulator.clock.advance(SETTLE_SECONDS)
    stage.events.drain()

    power = power_state(stage.emulator, scenario.server_id)
    problems = [] if power == SHUTOFF else _check_stop_marks(stage.emulator, scenario.server_id)
    if power != scenario.expect.reconciled:
        problems.append(f"server {power} after reconcile, expected {scenario.expect.reconciled}")

    return problems


def _check_stop_marks(emulator: Emulator, server_id: str) -> list[str]:
    """A run's stop mark outlives the run only on a server left stopped for reconcile."""
    try:
        mark = emulator.server(server_id).metadata.get(ecs.STOP_MARK)
    except KeyError:
        return []

    return [] if mark is None else [f"stop mark of run {mark} left on the server"]


def _check_end(result: ExecutionResult, expect: Expect) -> list[str]:
    if result.status == expect.status and result.error == expect.error:
        return []
    cause = (result.cause or "")[:300]

    return [
        f"{result.name} ended {result.status} {result.error or ''}, expected "
        f"{expect.status} {expect.error or ''} ({cause})".replace("  ", " ")
    ]


def _check_left_stopped(results: list[ExecutionResult], before: str, after: str) -> list[str]:
    """A running server a run leaves stopped must be handed to reconcile by its cause."""
    if before != ACTIVE or after != SHUTOFF:
        return []
    for result in results:
        cause = result.cause_json if isinstance(result.cause_json, dict) else {}
        if cause.get("reconcile") is True or result.error == "ImageJobTimedOut":
            return []

    return ["server left stopped and not handed to reconcile"]


def _run_texts(stage: Stage, results: list[ExecutionResult]) -> list[tuple[str, str]]:
    texts = [("history", json.dumps(result.history, default=str)) for result in results]
    texts.append(("run events", json.dumps(stage.events.received)))

    return texts


def _scan(stage: Stage, texts: list[tuple[str, str]]) -> SecretScan:
    token = Secret("EventGrid token", EVENTGRID_TOKEN)
    secrets = emulator_secrets(stage.emulator, *stage.secrets, token)
    scan = SecretScan()
    for source, text in texts:
        scan.add(source, text, secrets)

    return scan


# --- running the bad-input table -----------------------------------------------


def check_bad_input(stage: Stage, bad: BadInput, number: int) -> Verdict:
    """Offer one bad input to its target on a shared stage and judge the answer."""
    started = time.monotonic()
    before = stage.emulator.counters
    images_before = len(stage.emulator.images())
    with captured_logs() as logs:
        if bad.target in ("pipeline", "sweep"):
            problems, texts = _offer_run(stage, bad, f"bad-{number}")
        else:
            problems, texts = _offer_value(bad), []
    changes = _changes(before, stage.emulator.counters)
    images = len(stage.emulator.images()) - images_before

    if bad.names is None:
        allowed = {"ims.create_image": bad.images} if bad.images else {}
        problems += [
            f"{call} called {n} time(s)" for call, n in changes.items() if allowed.get(call) != n
        ]
        if images != bad.images:
            problems.append(f"{images} image(s) made, expected {bad.images}")
    else:
        problems += [f"{call} called {n} time(s) after a bad input" for call, n in changes.items()]

    scan = _scan(stage, [*logs.texts(), *texts])
    verdict = Verdict(
        bad.name,
        f"bad {bad.target}",
        problems + scan.findings,
        scan,
        bad.defect,
        images,
        bad.images,
        rejected=None if bad.names is None else not problems,
    )
    verdict.debug_records, verdict.json_lines = logs.debug_records, len(logs.json_lines)
    verdict.elapsed_s = round(time.monotonic() - started, 2)

    return verdict


def _offer_run(stage: Stage, bad: BadInput, name: str) -> tuple[list[str], list[tuple[str, str]]]:
    machine = FLEET_STATE_MACHINE if bad.target == "sweep" else PIPELINE_STATE_MACHINE
    listed = stage.emulator.counters.get("ecs.list_servers", 0)
    arn = stage.start(bad.value, name, machine)
    result = stage.engine.wait(arn, timeout_s=RUN_TIMEOUT_SECONDS)
    problems = _judge_run(bad, result)
    if bad.target == "sweep" and stage.emulator.counters.get("ecs.list_servers", 0) != listed:
        problems.append("servers were listed before the sweep input was refused")

    return problems, [("history", json.dumps(result.history, default=str))]


def _judge_run(bad: BadInput, result: ExecutionResult) -> list[str]:
    if bad.names is None:
        if result.status != "SUCCEEDED":
            return [f"a valid input ended {result.status} {result.error} ({result.cause})"]
        return []

    problems = []
    message = _error_message(result.cause)
    if result.status != "FAILED" or result.error != bad.error:
        problems.append(f"ended {result.status} {result.error}, expected {bad.error}")
    if bad.names.lower() not in message.lower():
        problems.append(f"the error does not name {bad.names!r}: {message[:300]!r}")
    rejected = ["Prepare server", "Announce rejected run", "Run rejected"]
    if bad.target == "pipeline" and result.states_entered != rejected:
        problems.append(f"went on to {result.states_entered[1:]}")

    return problems


def _offer_refusals(stage: Stage, batch: Sequence[BadInput]) -> list[Verdict]:
    """Every pipeline input that must be refused, all at once, judged one by one."""
    started = time.monotonic()
    before = stage.emulator.counters
    with captured_logs() as logs:
        arns = [stage.start(bad.value, f"refused-{n}") for n, bad in enumerate(batch, 1)]
        results = [stage.engine.wait(arn, timeout_s=RUN_TIMEOUT_SECONDS) for arn in arns]
    # Only a state past "Run rejected" could change the cloud, and each run is checked
    # to reach none; the counters confirm that nothing did.
    changes = _changes(before, stage.emulator.counters)
    changed = [f"{call} called {n} time(s) during the refusals" for call, n in changes.items()]
    share = round((time.monotonic() - started) / max(len(batch), 1), 2)

    verdicts = []
    for number, (bad, result) in enumerate(zip(batch, results, strict=True)):
        history = [("history", json.dumps(result.history, default=str))]
        # The batch's logs are scanned once, with its first run.
        scan = _scan(stage, [*logs.texts(), *history] if number == 0 else history)
        problems = _judge_run(bad, result) + changed
        verdict = Verdict(bad.name, "bad pipeline", problems + scan.findings, scan, bad.defect)
        verdict.rejected, verdict.elapsed_s = not problems, share
        verdict.executions = 1
        if number == 0:
            verdict.debug_records, verdict.json_lines = logs.debug_records, len(logs.json_lines)
        verdicts.append(verdict)

    return verdicts


def check_bad_inputs(stage: Stage, bad_inputs: Sequence[BadInput]) -> list[Verdict]:
    """Offer every bad input on one stage: the pipeline's refusals at once, the rest in turn."""
    batch = [bad for bad in bad_inputs if bad.target == "pipeline" and bad.names is not None]
    verdicts = dict(zip(map(id, batch), _offer_refusals(stage, batch), strict=True))
    for number, bad in enumerate(bad_inputs, start=1):
        if id(bad) not in verdicts:
            verdicts[id(bad)] = check_bad_input(stage, bad, number)

    return [verdicts[id(bad)] for bad in bad_inputs]


def _error_message(cause: str | None) -> str:
    try:
        document = json.loads(cause or "")
    except ValueError:
        return cause or ""

    return str(document.get("errorMessage", cause)) if isinstance(document, dict) else cause or ""


def _offer_value(bad: BadInput) -> list[str]:
    try:
        if bad.target == "settings":
            config.load_settings(_settings_with(bad.value))
        else:
            text = bad.value if isinstance(bad.value, str) else json.dumps(bad.value)
            credentials.parse_secret(text, SECRET_SOURCE)
    except ConfigurationError as exc:
        message = str(exc)
    else:
        return [f"{bad.target} value accepted"]

    problems = []
    if bad.names is not None and bad.names.lower() not in message.lower():
        problems.append(f"the error does not name {bad.names!r}: {message!r}")
    problems += [
        f"the error repeats a secret value: {message!r}" for v in SECRET_VALUES if v in message
    ]

    return problems


def _settings_with(changes: Mapping[str, str | None]) -> dict[str, str]:
    environ = {
        config.CLOUD: "otc",
        config.REGION: "eu-de",
        config.IAM_ENDPOINT: "http://127.0.0.1:1",
    }
    for name, value in changes.items():
        if value is None:
            environ.pop(name, None)
        else:
            environ[name] = value

    return environ


def _changes(before: Mapping[str, int], after: Mapping[str, int]) -> dict[str, int]:
    deltas = {call: after.get(call, 0) - before.get(call, 0) for call in CHANGING_CALLS}

    return {call: delta for call, delta in deltas.items() if delta}


# --- both tables, and the figures ----------------------------------------------


def run_fault_table(
    scenarios: Sequence[Scenario] = SCENARIOS,
    progress: Callable[[Verdict], None] | None = None,
) -> list[Verdict]:
    """Run every fault scenario, each on its own stage."""
    verdicts = []
    # A reconcile pass reads every failed run of its engine: one engine each.
    for scenario in [s for s in scenarios if s.expect.reconciled is not None]:
        with shared_engine() as own:
            verdicts.append(run_scenario(own, scenario))
        if progress is not None:
            progress(verdicts[-1])
    with shared_engine() as shared:
        for scenario in [s for s in scenarios if s.expect.reconciled is None]:
            verdicts.append(run_scenario(shared, scenario))
            if progress is not None:
                progress(verdicts[-1])

    return verdicts


def run_bad_input_table(
    bad_inputs: Sequence[BadInput] = BAD_INPUTS,
    progress: Callable[[Verdict], None] | None = None,
) -> list[Verdict]:
    """Offer every bad input on one stage of its own."""
    with shared_engine() as shared, staged(shared, SERVERS) as stage:
        verdicts = check_bad_inputs(stage, bad_inputs)
    if progress is not None:
        for verdict in verdicts:
            progress(verdict)

    return verdicts


def summary_rows(faults: Sequence[Verdict], bad: Sequence[Verdict]) -> list[tuple[str, str]]:
    """The figures of both suites, as (figure, value) rows."""
    everything = [*faults, *bad]
    refusals = [v for v in bad if v.rejected is not None]
    limits = [v for v in bad if v.rejected is None]
    scanned = Counter[str]()
    for verdict in everything:
        scanned.update(verdict.scan.scanned_bytes)
    findings = sum(len(v.scan.findings) for v in everything)

    return [
        ("fault scenarios run", str(len(faults))),
        ("fault scenarios passed", _passed(faults)),
        (
            "images created / expected",
            f"{sum(v.images for v in faults)} / {sum(v.expected_images for v in faults)}",
        ),
        (
            "scenarios with more images than expected",
            str(sum(v.images > v.expected_images for v in faults)),
        ),
        ("servers left in the wrong power state", str(sum(v.wrong_power for v in faults))),
        ("bad inputs offered", str(len(bad))),
        ("bad inputs passed", _passed(bad)),
        ("bad inputs rejected, naming the field", _rejected(refusals)),
        ("limits accepted", f"{sum(v.passed for v in limits)} / {len(limits)}"),
        ("secrets found in logs, events and histories", str(findings)),
        ("text scanned for secrets", _sizes(scanned)),
    ]


def _rejected(refusals: Sequence[Verdict]) -> str:
    by_suite: dict[str, list[Verdict]] = {}
    for verdict in refusals:
        by_suite.setdefault(verdict.suite.removeprefix("bad "), []).append(verdict)
    parts = [f"{suite} {_ratio(vs)}" for suite, vs in by_suite.items()]

    return f"{_ratio(refusals)} ({', '.join(parts)})"


def _ratio(refusals: Sequence[Verdict]) -> str:
    return f"{sum(bool(v.rejected) for v in refusals)} / {len(refusals)}"


def _passed(verdicts: Sequence[Verdict]) -> str:
    passed = sum(v.passed for v in verdicts)
    known = sum(not v.passed and v.defect is not None for v in verdicts)

    return f"{passed} (+{known} failing on a known defect)" if known else str(passed)


def _sizes(scanned: Mapping[str, int]) -> str:
    return ", ".join(f"{source} {size / 1e6:.1f} MB" for source, size in sorted(scanned.items()))


def format_table(rows: Sequence[tuple[str, str]]) -> str:
    """Rows as a Markdown table with aligned columns."""
    width = max(len(name) for name, _ in rows)
    lines = [f"| {'figure':<{width}} | value |", f"|{'-' * (width + 2)}|-------|"]
    lines += [f"| {name:<{width}} | {value} |" for name, value in rows]

    return "\n".join(lines)


def unexpected(verdicts: Sequence[Verdict]) -> list[Verdict]:
    """Verdicts that broke a promise without a known defect, or kept one despite it."""
    return [v for v in verdicts if v.passed == (v.defect is not None)]


def main(argv: list[str] | None = None) -> int:
    """`./dev reliability`: run both tables and print their figures."""
    parser = argparse.ArgumentParser(prog="./dev reliability", description=__doc__)
    parser.add_argument("-k", default="", help="only rows whose name contains this text")
    args = parser.parse_args(argv)
    warnings.filterwarnings("ignore", "No application metrics to publish")

    started = time.monotonic()
    scenarios = [s for s in SCENARIOS if args.k in s.name]
    bad_inputs = [b for b in BAD_INPUTS if args.k in b.name]
    if not scenarios and not bad_inputs:
        parser.error(f"argument -k: no row's name contains {args.k!r}")
    faults = run_fault_table(scenarios, _print_progress)
    bad = run_bad_input_table(bad_inputs, _print_progress)
    elapsed = time.monotonic() - started

    print(f"ecs-imaging reliability, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {elapsed:.0f} s")
    print(
        f"Python {platform.python_version()} on {platform.platform()}, "
        f"{os.cpu_count()} CPUs, time scale {TIME_SCALE}\n"
    )
    print(format_table(summary_rows(faults, bad)))
    _print_rows("Known defects", [v for v in [*faults, *bad] if not v.passed and v.defect])
    surprises = unexpected([*faults, *bad])
    _print_rows("Unexpected", surprises)

    return 1 if surprises else 0


def _print_progress(verdict: Verdict) -> None:
    mark = "ok" if verdict.passed else ("known defect" if verdict.defect else "FAILED")
    print(
        f"{verdict.elapsed_s:6.2f} s  {verdict.suite:<12} {verdict.name}: {mark}", file=sys.stderr
    )


def _print_rows(title: str, verdicts: Sequence[Verdict]) -> None:
    if not verdicts:
        return
    print(f"\n{title}:")
    for verdict in verdicts:
        if verdict.passed:
            print(f"- {verdict.suite}: {verdict.name}: passed; drop its defect mark")
            continue
        print(f"- {verdict.suite}: {verdict.name}: {'; '.join(verdict.problems)}")
        print(f"  defect: {verdict.defect or 'none marked'}")


if __name__ == "__main__":
    sys.exit(main())
