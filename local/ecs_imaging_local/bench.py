"""The benchmark behind docs/benchmarks.md: how soon, and at what cost, a run sees
its image job end; and how long each handler takes to import.

A seeded fleet of stopped servers (system disks of 10 to 100 GB, and a group of
15 GB whose jobs take about four minutes) is imaged twice on the local engine and
the emulator: first each server's first image, then one of a server imaged before.
The peers' schedules are replayed on the very same emulated jobs: polling at fixed
instants after a job began, a peer sees it done at its first poll at or after the
job's end, which is the emulator's own rule. Figures are emulated seconds, except
the imports, which are real milliseconds.

Our lag is given twice: as measured, and less the time by which the local engine
ran the deciding check later than planned (moto's interpreter on a busy machine,
magnified by the time scale; Step Functions and a warm Lambda take a fraction of a
second). The peers' replay has no such delay, so the ratios use the second.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import platform
import random
import re
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from importlib import metadata
from pathlib import Path
from typing import Any

import boto3
from ecs_imaging.auth import token_cache

from . import options
from . import template as sam
from .emulator import Emulator, ServerSpec
from .engine import ExecutionResult, LocalEngine
from .environment import configured, emulator_environment
from .moto_adapter import Invocation

DISK_GB = (10, 100)
FOUR_MINUTE_GB = 15
JOB_FUNCTIONS = ("CreateImageFunction", "CheckImageJobFunction")
CHECK_STATE = "Check image job"
# Each start parses the whole definition in moto: spread those bursts of work out.
STAGGER_SECONDS = 0.1
WAIT_LIMIT_SECONDS = 600
# As a Lambda container with FunctionTracing Active: its first call builds a Tracer.
TRACING_ON = {"POWERTOOLS_TRACE_DISABLED": "false", "LAMBDA_TASK_ROOT": "/var/task"}
TRACED_HANDLER = "functions.create_image.app"
BUILD_TRACER = "from ecs_imaging.observability import tracer; tracer()"
# The models Check image job validates or dumps on every call of a job it made,
# built when first used (defer_build): part of what its first invocation adds.
MODELS_HANDLER = "functions.check_image_job.app"
BUILD_MODELS = """from ecs_imaging.models import Job, JobCheck, RunContext
for model in (RunContext, JobCheck, Job):
    model.model_rebuild(force=True)"""
SDK_PREFIXES = (("boto3", "botocore."), ("aws_xray_sdk",))
# What the create / check / finalize handlers import that is not ours: the floor
# under their cold import, whatever our own code does.
LIBRARIES = ", ".join(
    (
        "httpx",
        "pydantic.main",
        "pydantic.types",
        "aws_lambda_powertools.logging.utils",
        "aws_lambda_powertools.metrics",
        "aws_lambda_powertools.tracing",
        "aws_lambda_powertools.utilities.typing",
    )
)
LIBRARIES_LABEL = "their libraries alone"
COUNTED_HANDLERS = (
    "functions.create_image.app",
    "functions.check_image_job.app",
    "functions.finalize_run.app",
)
UNCOMPILED_HANDLER = "functions.finalize_run.app"
UNCOMPILED_LABEL = "finalize_run, layer without bytecode"
LAYER_SOURCE = sam.PROJECT_ROOT / "layers" / "shared"
_TERMINAL = {"SUCCEEDED", "FAILED", "TIMED_OUT", "ABORTED"}
_SCHEDULED = {"LambdaFunctionScheduled", "TaskScheduled"}
_PROBE = """import sys, time
wall, cpu = time.perf_counter(), time.process_time()
import {module}
{then}
wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
counts = [sum(m.startswith(prefix) for m in sys.modules) for prefix in {prefixes!r}]
print(wall, cpu, *counts)
"""
_EXIT = "import os; os._exit(0)"
_VERSION_PROBE = "import sys; print(*sys.version_info[:2], sep='.')"
# Whether libpython is a shared library mapped into the process (a build with
# --enable-shared) or linked into the executable, and the configure options that
# optimise the interpreter itself: builds of one version differ by a fifth in a
# cold import (docs/benchmarks.md).
_BUILD_PROBE = """import json, platform, sysconfig
try:
    with open("/proc/self/maps") as maps:
        shared = any("libpython" in line for line in maps)
except OSError:
    shared = bool(sysconfig.get_config_var("Py_ENABLE_SHARED"))
configure = sysconfig.get_config_var("CONFIG_ARGS") or ""
print(json.dumps({"version": platform.python_version(), "libpython_shared": shared,
                  "configure": configure}))
"""
_BUILD_FLAGS = ("--enable-optimizations", "--with-lto")
Checks = list[tuple[float, dict[str, Any]]]


@dataclass(frozen=True)
class Schedule:
    """A peer's way of polling: a first delay, then a fixed interval."""

    name: str
    first: float
    every: float

    def replay(self, duration: float) -> tuple[int, float]:
        """Polls until one sees a job of `duration` seconds done, and how late it is."""
        if duration <= self.first:
            return 1, self.first - duration
        polls = 1 + math.ceil((duration - self.first) / self.every)

        return polls, self.first + (polls - 1) * self.every - duration


PEERS = (
    Schedule("fixed 1 s (OTC Terraform)", 1, 1),
    Schedule("fixed 10 s (otcextensions)", 10, 10),
    Schedule("fixed 15 s (Huawei Terraform)", 15, 15),
    Schedule("60 s, then 10 s (Huawei packer)", 60, 10),
)


@dataclass(frozen=True)
class ImageRun:
    """One run: the job it waited for, and what waiting for it cost."""

    disk_gb: int
    status: str
    duration: float
    polls: int
    lag: float
    # How much later than planned the local engine ran the check that saw the end.
    delay: float
    transitions: int


@dataclass(frozen=True)
class Figures:
    """Polls, lag and state transitions per image over a set of runs."""

    polls_mean: float
    polls_max: int
    lag_median: float
    lag_p90: float
    transitions_median: float


@dataclass(frozen=True)
class Imported:
    """A cold import: wall and CPU milliseconds, and the SDK modules it loaded."""

    wall_ms: float
    cpu_ms: float
    boto_modules: int
    xray_modules: int
    # Over repeats, the least CPU an import took: the sample least disturbed by load.
    cpu_min_ms: float = math.nan


@dataclass(frozen=True)
class ImportProbe:
    """What to import in a fresh interpreter, what to run then, and with what settings."""

    label: str
    module: str
    then: str = ""
    env: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Runtime:
    """An interpreter as Lambda runs a handler: a venv of it with nothing
    installed, and the layer built for its version."""

    description: str
    python: Path
    layer: Path
    # Where the runtime's own boto3 is, behind the layer on the path.
    sdk: Path | None = None


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m ecs_imaging_local.bench` (`./dev bench`)."""
    args = _parser().parse_args(argv)
    interpreters = [_interpreter(given) for given in args.python or [_base_interpreter()]]
    print(_machine(), flush=True)
    runs = [] if args.imports_only else _run_and_print_scenarios(args)

    with tempfile.TemporaryDirectory(prefix="ecs-imaging-bench-") as scratch:
        runtimes = [
            prepare_runtime(interpreter, Path(scratch) / f"runtime-{number}")
            for number, interpreter in enumerate(interpreters, start=1)
        ]
        imports = measure_imports(runtimes, _import_probes(), args.import_repeats)
        _print_imports(runtimes, imports, args.import_repeats)
        if args.instructions:
            bare = uncompiled_layer(runtimes[0].layer, Path(scratch) / "uncompiled")
            for runtime in runtimes:
                counted = count_instructions([*COUNTED_HANDLERS, LIBRARIES], runtime)
                if runtime is runtimes[0]:
                    uncompiled = count_instructions([UNCOMPILED_HANDLER], runtime, layer=bare)
                    counted[UNCOMPILED_LABEL] = uncompiled[UNCOMPILED_HANDLER]
                _print_instructions(runtime, counted)

    return 0 if all(run.status == "SUCCEEDED" for run in runs) else 1


def _run_and_print_scenarios(args: argparse.Namespace) -> list[ImageRun]:
    fleet = build_fleet(args.seed, args.servers, args.four_minute_servers)
    started = time.monotonic()
    scenarios, tokens = run_scenarios(fleet, args.seed, args.time_scale)
    for name, found in scenarios.items():
        _print_scenario(name, found)
    runs = [run for found in scenarios.values() for run in found]
    print(f"\nIAM token requests: {tokens} for {len(runs)} runs in one process")
    print(f"the runs took {time.monotonic() - started:.0f} s of real time", flush=True)

    return runs


def build_fleet(seed: int, count: int, four_minute: int) -> list[ServerSpec]:
    """Stopped servers with seeded system disks of 10-100 GB, then some of 15 GB."""
    rng = random.Random(seed)
    disks = [rng.randint(*DISK_GB) for _ in range(count)]
    disks += [FOUR_MINUTE_GB] * four_minute
    ids = [str(uuid.UUID(int=rng.getrandbits(128), version=4)) for _ in disks]

    return [
        ServerSpec(server_id, f"bench-{number:02d}", "SHUTOFF", gb)
        for number, (server_id, gb) in enumerate(zip(ids, disks, strict=True), start=1)
    ]


def run_scenarios(
    fleet: Sequence[ServerSpec], seed: int, time_scale: float
) -> tuple[dict[str, list[ImageRun]], int]:
    """Image every server twice: each scenario's runs, and the IAM token requests."""
    with (
        Emulator(time_scale=time_scale, seed=seed, servers=fleet) as emulator,
        configured(emulator_environment(emulator), emulator),
        LocalEngine(time_scale=time_scale) as engine,
    ):
        emulator.image_quota = min(2 * len(fleet), 1000)
        token_cache.clear()
        scenarios = {
            "first image of a server": _run_all(engine, emulator, fleet, "first"),
            "server imaged before": _run_all(engine, emulator, fleet, "again"),
        }

        return scenarios, token_cache.fetches


def summarize(runs: Sequence[ImageRun]) -> Figures:
    """Our figures over `runs`."""
    lags = [run.lag for run in runs]

    return Figures(
        polls_mean=statistics.fmean(run.polls for run in runs),
        polls_max=max(run.polls for run in runs),
        lag_median=statistics.median(lags),
        lag_p90=_p90(lags),
        transitions_median=statistics.median(run.transitions for run in runs),
    )


def replay(schedule: Schedule, runs: Sequence[ImageRun]) -> Figures:
    """A peer's figures on the same jobs; transitions as if run by our state machine."""
    replayed = [schedule.replay(run.duration) for run in runs]
    lags = [lag for _, lag in replayed]
    # Our fixed states, plus a Wait, a Task and a Choice for each of the peer's polls.
    transitions = [
        run.transitions + 3 * (polls - run.polls)
        for run, (polls, _) in zip(runs, replayed, strict=True)
    ]

    return Figures(
        polls_mean=statistics.fmean(polls for polls, _ in replayed),
        polls_max=max(polls for polls, _ in replayed),
        lag_median=statistics.median(lags),
        lag_p90=_p90(lags),
        transitions_median=statistics.median(transitions),
    )


def built_layer(
    directory: Path, python: str = sys.executable, *, dependencies: bool = True
) -> Path:
    """The layer as `sam build` makes it with the layer's Makefile, for `python`'s
    version and this machine's platform: the pinned dependencies (unless told not
    to fetch them) and our code, all compiled by `python`."""
    version = _run_probe(python, _VERSION_PROBE).strip()
    pip = f"{shlex.quote(sys.executable)} -m pip install" if dependencies else ":"
    command = [
        _require("make"),
        "--no-print-directory",
        "--silent",
        f"--directory={LAYER_SOURCE}",
        "build-SharedLayer",
        f"ARTIFACTS_DIR={directory}",
        f"RUNTIME_PYTHON={version}",
        f"PYTHON={python}",
        f"PLATFORM=manylinux2014_{platform.machine()}",
        f"PIP_INSTALL={pip}",
    ]
    _run_quietly(command, f"building the layer for {python}")

    return directory / "python"


def prepare_runtime(interpreter: str, directory: Path, *, dependencies: bool = True) -> Runtime:
    """`interpreter` set up as Lambda runs a handler: a venv of it with nothing
    installed, the whole layer built for it, and boto3 where the Lambda runtime
    has its own (for the handlers that call AWS)."""
    venv = directory / "venv"
    command = [interpreter, "-m", "venv", "--without-pip", str(venv)]
    _run_quietly(command, f"making a venv of {interpreter}")
    python = venv / "bin" / "python"
    try:
        facts = json.loads(_run_probe(str(python), _BUILD_PROBE))
    except (OSError, subprocess.CalledProcessError, ValueError) as exc:
        raise SystemExit(f"bench: the venv of {interpreter} does not run: {exc}") from None
    layer = built_layer(directory / "layer", interpreter, dependencies=dependencies)
    version = ".".join(facts["version"].split(".")[:2])
    sdk = _runtime_sdk(directory / "runtime", interpreter, version) if dependencies else None

    return Runtime(_describe_build(interpreter, facts), python, layer, sdk)


def _runtime_sdk(directory: Path, interpreter: str, version: str) -> Path:
    # boto3 of the version the project pins, compiled, as the runtime ships it.
    command = [
        *(sys.executable, "-m", "pip", "install", "--quiet", "--only-binary=:all:"),
        *("--python-version", version, "--implementation", "cp"),
        *("--platform", f"manylinux2014_{platform.machine()}"),
        *("--target", str(directory), f"boto3=={metadata.version('boto3')}"),
    ]
    _run_quietly(command, f"installing boto3 for {interpreter}")
    compile_all = [interpreter, "-m", "compileall", "-q", "-j", "0", str(directory)]
    _run_quietly(compile_all, f"compiling boto3 for {interpreter}")

    return directory


def _run_quietly(command: Sequence[str], what: str) -> None:
    try:
        answer = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    except OSError as exc:
        raise SystemExit(f"bench: {what} failed: {exc}") from None
    if answer.returncode != 0:
        raise SystemExit(f"bench: {what} failed:\n{answer.stderr}")


def uncompiled_layer(layer: Path, directory: Path) -> Path:
    """A copy of a built layer without its bytecode: what a cold start met when the
    build shipped sources only."""
    bare = directory / "python"
    shutil.copytree(layer, bare, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))

    return bare


def measure_imports(
    runtimes: Sequence[Runtime], probes: Sequence[ImportProbe], repeats: int
) -> dict[tuple[int, str], Imported]:
    """Each probe in fresh interpreters of each runtime: the medians, keyed by the
    runtime's index and the probe's label. Repeats go round every runtime and probe
    in turn, so a spell of load on the machine hits them all alike."""
    samples: dict[tuple[int, str], list[Imported]] = {}
    for _ in range(repeats):
        for index, runtime in enumerate(runtimes):
            for probe in probes:
                code = _PROBE.format(module=probe.module, then=probe.then, prefixes=SDK_PREFIXES)
                variables = {**_layer_environment(runtime.layer, runtime.sdk), **probe.env}
                found = _import_once(runtime.python, code, variables)
                samples.setdefault((index, probe.label), []).append(found)

    return {key: _medians(found) for key, found in samples.items()}


def count_instructions(
    modules: Iterable[str], runtime: Runtime, *, layer: Path | None = None
) -> dict[str, int | None]:
    """Instructions each import executes in the runtime, under callgrind; None
    without valgrind. `layer` replaces the runtime's own layer.

    Unlike times, the count hardly moves with the machine's load, so it shows
    what a change to the imports saves."""
    valgrind = shutil.which("valgrind")
    variables = _layer_environment(runtime.layer if layer is None else layer, runtime.sdk)
    counted: dict[str, int | None] = {}
    for module in ["", *modules]:
        if valgrind is None:
            counted[module] = None
            continue
        # Lambda keeps the process after a cold start: leave out the teardown.
        code = f"import {module}\n{_EXIT}" if module else _EXIT
        command = [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null"]
        answer = subprocess.run(  # noqa: S603 - our own interpreter and probe
            [*command, str(runtime.python), "-c", code],
            cwd=sam.PROJECT_ROOT,
            env=variables,
            capture_output=True,
            text=True,
            check=True,
        )
        found = re.search(r"Collected : (\d+)", answer.stderr)
        counted[module] = int(found.group(1)) if found else None
    start = counted.pop("")

    return {
        module: None if count is None or start is None else count - start
        for module, count in counted.items()
    }


def _layer_environment(layer: Path, sdk: Path | None = None) -> dict[str, str]:
    # No bytecode written: a fresh container, whose task and layer are read-only.
    # A fixed hash seed: the same work on every run, so instruction counts repeat.
    folders = [layer, sam.PROJECT_ROOT] if sdk is None else [layer, sam.PROJECT_ROOT, sdk]
    path = os.pathsep.join(map(str, folders))

    return {"PYTHONPATH": path, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONHASHSEED": "0"}


def _require(tool: str) -> str:
    found = shutil.which(tool)
    if found is None:
        raise SystemExit(f"bench: {tool} is needed to build the layer as sam build does")

    return found


def _run_all(
    engine: LocalEngine, emulator: Emulator, fleet: Sequence[ServerSpec], label: str
) -> list[ImageRun]:
    seen = len(engine.invocations)
    arns = {}
    for spec in fleet:
        arns[spec.id] = engine.start({"server_id": spec.id}, f"{label}-{spec.name}")
        time.sleep(STAGGER_SECONDS)
    _wait_for_all(arns.values())

    results = {server_id: engine.wait(arn) for server_id, arn in arns.items()}
    checks = _job_checks(engine.invocations[seen:], emulator)
    jobs = {job.id: job for job in emulator.jobs()}

    return [_measure(spec, results[spec.id], checks, jobs) for spec in fleet]


def _measure(
    spec: ServerSpec,
    result: ExecutionResult,
    checks: dict[str, Checks],
    jobs: dict[str, Any],
) -> ImageRun:
    output = result.output if isinstance(result.output, dict) else {}
    job = jobs[str(output.get("job_id"))]
    end = math.nan if job.end is None else job.end
    noticed, delay = _noticed(checks.get(job.id, []))

    return ImageRun(
        disk_gb=spec.system_disk_gb,
        status=result.status,
        duration=end - job.begin,
        polls=result.states_entered.count(CHECK_STATE),
        lag=noticed - end,
        delay=delay,
        transitions=_billed_transitions(result),
    )


def _billed_transitions(result: ExecutionResult) -> int:
    # A retried Task enters its state once but is billed for each attempt.
    kinds = [event["type"] for event in result.history]
    attempts = sum(kind in _SCHEDULED for kind in kinds)
    retries = attempts - kinds.count("TaskStateEntered")

    return len(result.states_entered) + max(retries, 0)


def _wait_for_all(arns: Iterable[str]) -> None:
    # One execution at a time, twice a second: every look takes CPU from the runs
    # being measured, and the engine's own wait reads whole histories.
    client = boto3.client("stepfunctions", region_name=sam.REGION)
    deadline = time.monotonic() + WAIT_LIMIT_SECONDS
    for arn in arns:
        while client.describe_execution(executionArn=arn)["status"] not in _TERMINAL:
            if time.monotonic() > deadline:
                raise TimeoutError(f"Execution {arn!r} outlasted the time limit.")
            time.sleep(0.5)


def _job_checks(calls: Iterable[Invocation], emulator: Emulator) -> dict[str, Checks]:
    """Each job's create and check results, with the emulated moment each returned."""
    real_now, emulated_now = time.monotonic(), emulator.clock.monotonic()
    scale = emulator.clock.time_scale

    checks: dict[str, Checks] = {}
    for invocation in calls:
        result = invocation.result
        if invocation.function_name not in JOB_FUNCTIONS:
            continue
        if not isinstance(result, dict):
            continue
        moment = emulated_now - (real_now - invocation.finished_at) / scale
        checks.setdefault(str(result.get("job_id")), []).append((moment, result))

    return {job_id: sorted(found, key=_first) for job_id, found in checks.items()}


def _noticed(checks: Checks) -> tuple[float, float]:
    """When the first check that saw the job end returned, and how late it ran."""
    for (before, planned), (moment, result) in itertools.pairwise(checks):
        if result.get("status") in ("SUCCESS", "FAIL"):
            return moment, moment - before - planned["wait_seconds"]

    return math.nan, math.nan


def _import_probes() -> list[ImportProbe]:
    handlers = [ImportProbe(module, module) for module in _handler_modules()]
    traced = ImportProbe(
        f"{TRACED_HANDLER}, Tracer built", TRACED_HANDLER, BUILD_TRACER, TRACING_ON
    )

    models = ImportProbe(f"{MODELS_HANDLER}, its models built", MODELS_HANDLER, BUILD_MODELS)

    return [*handlers, traced, models, ImportProbe(LIBRARIES_LABEL, LIBRARIES)]


def _import_once(python: Path, code: str, env: dict[str, str]) -> Imported:
    answer = subprocess.run(  # noqa: S603 - our own interpreter and probe
        [str(python), "-c", code],
        cwd=sam.PROJECT_ROOT,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    wall, cpu, boto, xray = answer.stdout.split()

    return Imported(float(wall) * 1000, float(cpu) * 1000, int(boto), int(xray))


def _medians(samples: Sequence[Imported]) -> Imported:
    return Imported(
        wall_ms=statistics.median(sample.wall_ms for sample in samples),
        cpu_ms=statistics.median(sample.cpu_ms for sample in samples),
        boto_modules=max(sample.boto_modules for sample in samples),
        xray_modules=max(sample.xray_modules for sample in samples),
        cpu_min_ms=min(sample.cpu_ms for sample in samples),
    )


def _run_probe(python: str, code: str) -> str:
    answer = subprocess.run(  # noqa: S603 - an interpreter the user named
        [python, "-c", code], capture_output=True, text=True, check=True
    )

    return answer.stdout


def _interpreter(given: str) -> str:
    """The interpreter `--python` names, as an absolute path, checked: it runs and
    is Python 3.11 or newer."""
    found = shutil.which(given)
    if found is None:
        raise SystemExit(f"bench: --python {given!r} is not an interpreter found here")
    path = os.path.abspath(found)
    try:
        answer = _run_probe(path, _VERSION_PROBE).strip()
    except (OSError, subprocess.CalledProcessError) as exc:
        raise SystemExit(f"bench: --python {given!r} does not run: {exc}") from None
    version = _parse_version(answer)
    if version is None:
        raise SystemExit(f"bench: --python {given!r} is not Python: it answered {answer!r}")
    if version < (3, 11):
        raise SystemExit(f"bench: --python {given!r} is Python {answer}; the handlers need 3.11+")

    return path


def _parse_version(text: str) -> tuple[int, int] | None:
    found = re.fullmatch(r"(\d+)\.(\d+)", text)

    return None if found is None else (int(found.group(1)), int(found.group(2)))


def _base_interpreter() -> str:
    # The interpreter this venv was made from: the bench's own, without the venv.
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    base = Path(sys.base_prefix) / "bin" / f"python{version}"

    return str(base) if base.is_file() else sys.executable


def _describe_build(interpreter: str, facts: dict[str, Any]) -> str:
    # Only what the build records: a distribution may optimise it by other means.
    linked = "libpython shared" if facts["libpython_shared"] else "libpython linked in"
    flags = [flag for flag in _BUILD_FLAGS if flag in facts["configure"]]
    configured = f", configured with {' '.join(flags)}" if flags else ""

    return f"Python {facts['version']} ({interpreter}): {linked}{configured}"


def _handler_modules() -> list[str]:
    specs = sam.functions(sam.load_template()).values()

    return sorted({spec.module for spec in specs})


def _first(pair: tuple[float, dict[str, Any]]) -> float:
    return pair[0]


def _p90(values: Sequence[float]) -> float:
    ordered = sorted(values)

    return ordered[max(math.ceil(0.9 * len(ordered)) - 1, 0)]


def _print_scenario(name: str, runs: Sequence[ImageRun]) -> None:
    groups = {
        "all jobs": list(runs),
        "~4-minute jobs (15 GB)": [r for r in runs if r.disk_gb == FOUR_MINUTE_GB],
    }
    for group, members in groups.items():
        if not members:
            continue
        durations = sorted(run.duration for run in members)
        delay = statistics.median(run.delay for run in members)
        print(
            f"\n{name}, {group}: {len(members)} images, jobs of {durations[0]:.0f}"
            f" to {durations[-1]:.0f} s (median {statistics.median(durations):.0f} s);"
            f" the deciding check ran {delay:.1f} s late (median)"
        )
        _print_table_head()
        net = summarize([replace(run, lag=run.lag - run.delay) for run in members])
        _print_row("ours, as measured", summarize(members))
        _print_row("ours, less local engine delay", net)
        for schedule in PEERS:
            _print_row(schedule.name, replay(schedule, members), net)


def _print_table_head() -> None:
    heads = {
        "polls/image": 11,
        "max": 4,
        "lag med": 8,
        "p90": 6,
        "transitions": 11,
        "ours/polls": 10,
        "ours/lag": 8,
    }
    print(f"  {'schedule':33}" + "".join(f" {h:>{w}}" for h, w in heads.items()))


def _print_row(name: str, figures: Figures, ours: Figures | None = None) -> None:
    cells = [
        f"{figures.polls_mean:11.1f}",
        f"{figures.polls_max:4d}",
        f"{figures.lag_median:6.1f} s",
        f"{figures.lag_p90:4.1f} s",
        f"{figures.transitions_median:11.0f}",
    ]
    if ours is not None:
        polls = ours.polls_mean / figures.polls_mean
        lag = ours.lag_median / figures.lag_median if figures.lag_median else math.inf
        cells += [f"{polls:10.3f}", f"{lag:8.2f}"]
    print(f"  {name:33} " + " ".join(cells))


def _print_imports(
    runtimes: Sequence[Runtime], imports: dict[tuple[int, str], Imported], repeats: int
) -> None:
    print(f"\ncold import in a fresh interpreter, median of {repeats} (real ms)")
    heads = f"{'wall':>6} {'cpu':>6} {'cpu min':>7} {'boto3/botocore.*':>16} {'X-Ray':>6}"
    for index, runtime in enumerate(runtimes):
        print(f"  {runtime.description}")
        print(f"    {'import':48} {heads}")
        for (number, name), found in imports.items():
            if number != index:
                continue
            times = f"{found.wall_ms:6.0f} {found.cpu_ms:6.0f} {found.cpu_min_ms:7.0f}"
            sdks = f"{found.boto_modules:16d} {found.xray_modules:6d}"
            print(f"    {name:48} {times} {sdks}")


def _print_instructions(runtime: Runtime, counted: dict[str, int | None]) -> None:
    print(
        "\ncold import, instructions executed (callgrind; interpreter start-up and exit left out)"
    )
    print(f"  {runtime.description}")
    libraries = counted.get(LIBRARIES)
    for module, count in counted.items():
        name = LIBRARIES_LABEL if module == LIBRARIES else module
        if count is None:
            print(f"    {name:44} valgrind not found")
            continue
        ours = module in COUNTED_HANDLERS and libraries is not None
        share = f"  ours: {count - libraries:,}" if ours and libraries is not None else ""
        print(f"    {name:44} {count:>13,}{share}")


def _machine() -> str:
    facts = {
        "python": platform.python_version(),
        "cores": os.cpu_count(),
        "platform": platform.platform(terse=True),
        "load_average": [round(load, 1) for load in os.getloadavg()],
    }

    return json.dumps(facts)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ecs_imaging_local.bench",
        description="Polls, detection lag, state transitions and IAM token requests "
        "of image runs on the emulator beside the peers' schedules, and the "
        "handlers' cold imports.",
    )
    add = parser.add_argument
    add("--servers", type=int, default=16, help="servers of 10-100 GB")
    add("--four-minute-servers", type=int, default=8, help="servers of 15 GB")
    add("--seed", type=int, default=7, help="the fleet's and the emulator's seed")
    add("--time-scale", type=options.time_scale, default=0.01, help="real s per emulated s")
    add("--import-repeats", type=_positive, default=5, help="fresh imports per handler")
    add(
        "--python",
        action="append",
        metavar="INTERPRETER",
        help="import the handlers with this interpreter, in a venv of it with the layer "
        "built for its version (repeatable; default: the one the project's venv was made from)",
    )
    add(
        "--imports-only",
        action="store_true",
        help="measure the cold imports only, without the image runs",
    )
    add(
        "--instructions",
        action="store_true",
        help="also count the instructions of each import under valgrind (a minute)",
    )

    return parser


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"must be a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {text!r}")

    return value


if __name__ == "__main__":
    raise SystemExit(main())
