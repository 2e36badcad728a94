"""Command line of the local engine: the main job, single runs, the emulator."""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import time
import uuid
import warnings
from pathlib import Path
from types import FrameType
from typing import Any, TextIO

import boto3
from ecs_imaging.auth import token_cache
from ecs_imaging.errors import EcsImagingError

from . import deliveries, options
from . import template as sam
from .clouds import cloud_variables
from .emulator import Emulator
from .engine import ExecutionResult, LocalEngine
from .environment import configured, emulator_environment, webhook_environment

SAMPLE_EVENT = sam.PROJECT_ROOT / "events" / "smn_cts_stop_notification.json"
RUNNING_SAMPLE_SERVER = "c9f0f895-fb98-4b91-99f5-1a2b3c4d5e62"
DEMO_TIME_SCALE = 0.02


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m ecs_imaging_local`."""
    args = _parser().parse_args(argv)
    # A handler that fails before it adds a metric makes Powertools warn; the run's
    # own failure line says more.
    warnings.filterwarnings("ignore", "No application metrics to publish")
    # SIGTERM unwinds like Ctrl-C, so the emulator stops and removes its CA files.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return int(args.command(args))
    except EcsImagingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _interrupt(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def demo(args: argparse.Namespace) -> int:
    """The main job: an ECS-stop notification in, private images out, on the emulator.

    The emulator plays SMN: it signs the notification's CTS trace on its own topic,
    and the webhook handler checks the signature with the certificate it fetches
    from the emulator over HTTPS, then starts the runs.
    """
    notification = _read_notification(args.event)
    direct_input = {"server_id": RUNNING_SAMPLE_SERVER, "trigger": {"kind": "direct"}}

    with (
        Emulator(time_scale=args.time_scale, seed=args.seed) as emulator,
        configured({**emulator_environment(emulator), **webhook_environment(emulator)}, emulator),
        LocalEngine(time_scale=args.time_scale) as engine,
    ):
        tokens_before, started = token_cache.fetches, time.monotonic()
        answer = _deliver(emulator, notification)
        if not answer.get("executions"):
            print("demo: the webhook started no run", file=sys.stderr)
            return 1
        results = [
            _follow(engine, _execution_arn(engine, name), tokens_before, started)
            for name in answer["executions"]
        ]
        results.append(_run_one(engine, direct_input))

    return 0 if all(result["status"] == "SUCCEEDED" for result in results) else 1


def run(args: argparse.Namespace) -> int:
    """One run for one server, on the emulator or, with --cloud, on the real cloud."""
    if bool(args.input) == bool(args.server_id):
        raise SystemExit("run: give either --server-id or --input (see --help)")
    run_input = _read_json(args.input, "--input") if args.input else {}
    if args.server_id:
        run_input = {"server_id": args.server_id}

    if args.cloud:
        variables = cloud_variables(os.environ)
        with configured(variables), LocalEngine(time_scale=1.0) as engine:
            result = _run_one(engine, run_input)
    else:
        with (
            Emulator(time_scale=args.time_scale, seed=args.seed) as emulator,
            configured(emulator_environment(emulator), emulator),
            LocalEngine(time_scale=args.time_scale) as engine,
        ):
            result = _run_one(engine, run_input)

    return 0 if result["status"] == "SUCCEEDED" else 1


def _read_json(path: str, option: str) -> Any:
    try:
        return json.loads(Path(path).read_text("utf-8"))
    except OSError as exc:
        raise SystemExit(f"{option}: cannot read {path!r}: {exc.strerror}") from None
    except ValueError as exc:
        raise SystemExit(f"{option}: {path!r} is not JSON: {exc}") from None


def _read_notification(path: str) -> dict[str, Any]:
    notification = _read_json(path, "--event")
    if not isinstance(notification, dict) or not isinstance(notification.get("message"), str):
        raise SystemExit(f"--event: {path!r} is no SMN notification: it has no message text")

    return notification


def _deliver(emulator: Emulator, notification: dict[str, Any]) -> dict[str, Any]:
    """Publish the notification's message on the emulator's SMN, hand it to the webhook."""
    subject = notification.get("subject")
    published = emulator.smn.publish(
        notification["message"], subject if isinstance(subject, str) else None
    )
    answer = deliveries.deliver(deliveries.smn_request(published))

    status, result, detail = answer["status"], answer["result"], answer["detail"]
    print(f"[webhook] {status} {result}: {detail}", file=sys.stderr, flush=True)

    return answer


def _execution_arn(engine: LocalEngine, name: str) -> str:
    pipeline = engine.state_machine_arn()

    return f"{pipeline.replace(':stateMachine:', ':execution:')}:{name}"


def _run_one(engine: LocalEngine, run_input: dict[str, Any]) -> dict[str, Any]:
    tokens_before, started = token_cache.fetches, time.monotonic()
    server_id = str(run_input.get("server_id")) if isinstance(run_input, dict) else "?"
    arn = engine.start(run_input, f"run-{server_id[:8]}-{uuid.uuid4().hex[:12]}")

    return _follow(engine, arn, tokens_before, started, server_id)


def _follow(
    engine: LocalEngine,
    execution_arn: str,
    tokens_before: int,
    started: float,
    server_id: str | None = None,
) -> dict[str, Any]:
    """Print a run's states as it goes, and its summary line once it ends."""
    server_id = server_id or _server_of(execution_arn)
    result = engine.wait(execution_arn, on_event=_ProgressPrinter(server_id, sys.stderr))

    summary = _summary(result, server_id, token_cache.fetches - tokens_before)
    summary["elapsed_s"] = round(time.monotonic() - started, 2)
    print(json.dumps(summary), flush=True)

    return summary


def _server_of(execution_arn: str) -> str:
    stepfunctions = boto3.client("stepfunctions", region_name=sam.REGION)
    described = stepfunctions.describe_execution(executionArn=execution_arn)

    return str(json.loads(described["input"]).get("server_id"))


def _summary(result: ExecutionResult, server_id: str, token_requests: int) -> dict[str, Any]:
    facts = result.output if isinstance(result.output, dict) else result.cause_json or {}
    if not isinstance(facts, dict):
        facts = {}

    return {
        "status": result.status,
        "server_id": server_id,
        "image_id": facts.get("image_id"),
        "image_name": facts.get("image_name"),
        "job_id": facts.get("job_id"),
        "polls": result.states_entered.count("Check image job"),
        "iam_token_requests": token_requests,
        "state_transitions": len(result.states_entered),
        "elapsed_s": result.elapsed_s,
        "outcome": facts.get("outcome"),
        "error": result.error,
        "reason": facts.get("reason") or _readable(result.cause) or None,
        "image_ids": facts.get("image_ids") or [],
        "server_restarted": facts.get("server_restarted"),
        "dropped_tags": facts.get("dropped_tags") or [],
        "export": facts.get("export"),
    }


class _ProgressPrinter:
    """Prints each state as it is entered, and the image job's progress."""

    def __init__(self, server_id: str, stream: TextIO) -> None:
        self.label = server_id[:8]
        self.stream = stream

    def __call__(self, event: dict[str, Any]) -> None:
        kind = event["type"]
        if kind.endswith("StateEntered"):
            self._say(event["stateEnteredEventDetails"]["name"])
        elif kind == "TaskStateExited":
            details = event["stateExitedEventDetails"]
            if details["name"] == "Check image job":
                self._say_progress(json.loads(details["output"]).get("job") or {})
        elif kind == "ExecutionSucceeded":
            output = json.loads(event["executionSucceededEventDetails"].get("output") or "{}")
            if output.get("outcome") == "SKIPPED":
                self._say(f"run skipped: {output.get('reason')}")
        elif kind == "ExecutionFailed":
            failure = event.get("executionFailedEventDetails", {})
            self._say(f"run failed: {failure.get('error')}: {_readable(failure.get('cause'))}")

    def _say_progress(self, job: dict[str, Any]) -> None:
        progress = job.get("progress")
        percent = f" {progress:.0f}%" if isinstance(progress, int | float) else ""
        status = job.get("status")
        ended = status in ("SUCCESS", "FAIL")
        then = "" if ended else f", next check in {job.get('wait_seconds')} s"
        self._say(f"  image job {status}{percent}{then}")

    def _say(self, text: str) -> None:
        print(f"[{self.label}] {text}", file=self.stream, flush=True)


def _readable(cause: str | None) -> str:
    """A Lambda error's message, or the cause as it is."""
    try:
        parsed = json.loads(cause or "")
    except ValueError:
        return cause or ""
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        return str(parsed["errorMessage"])

    return cause or ""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ecs_imaging_local",
        description="Run the image pipeline locally: moto runs the state machine, "
        "our handlers run in this process, the emulator (or the real cloud) answers.",
    )
    commands = parser.add_subparsers(required=True)

    demo_parser = commands.add_parser("demo", help="the main job on the emulator")
    demo_parser.add_argument(
        "--event",
        type=options.regular_file,
        default=str(SAMPLE_EVENT),
        help="SMN notification",
    )
    _add_emulator_options(demo_parser)
    demo_parser.set_defaults(command=demo)

    run_parser = commands.add_parser("run", help="one run for one server")
    run_parser.add_argument("--server-id", help="the server to image")
    input_help = "a pipeline input JSON file"
    run_parser.add_argument("--input", type=options.regular_file, help=input_help)
    run_parser.add_argument(
        "--cloud",
        action="store_true",
        help="use the real cloud with the OS_* variables or the clouds.yaml entry OS_CLOUD names",
    )
    _add_emulator_options(run_parser)
    run_parser.set_defaults(command=run)

    return parser


def _add_emulator_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--time-scale",
        type=options.time_scale,
        default=DEMO_TIME_SCALE,
        help="real seconds per emulated second (default %(default)s)",
    )
    parser.add_argument("--seed", type=int, default=7, help="the emulator's random seed")
