"""The steps of the per-server pipeline, one function per state-machine Task.

Each step reads what it needs from the state, acts on the cloud, and returns the
part of the state it owns. No step returns a token or a password: state reaches
the execution history.
"""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from . import clock, ecs, ims, naming
from .config import Settings, get_settings
from .errors import ServerBusy, ServerJobFailed, ServerStateInvalid
from .models import (
    FailureRecord,
    ImageSpec,
    JobCheck,
    JobStatus,
    PipelineInput,
    RunAction,
    RunContext,
    RunOutcome,
    ServerCheck,
    StopPolicy,
    parse_model,
)
from .session import CloudSession

logger = logging.getLogger(__name__)

# Image statuses (reference 2.4) seen when a run adopts an image instead of a job.
_IMAGE_STATUS_AS_JOB = {
    "active": JobStatus.SUCCESS,
    "killed": JobStatus.FAIL,
    "deleted": JobStatus.FAIL,
}
# Before IMS reports progress, assume a job needs at least this long.
FIRST_POLL_SECONDS = 60


def prepare_server(
    raw_input: Any,
    execution_id: str,
    session: CloudSession | None = None,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Validate the input, look at the server, and decide what the run will do."""
    request = parse_model(PipelineInput, raw_input, "pipeline input")
    settings = settings or get_settings()
    session = session or CloudSession(settings)

    server = ecs.show_server(session, request.server_id)
    action, skip_reason = _decide_action(server, request.stop_policy)

    started = clock.now()
    deadline_minutes = request.deadline_minutes or settings.deadline_minutes
    min_wait = request.min_wait_seconds or settings.min_wait_seconds
    max_wait = max(request.max_wait_seconds or settings.max_wait_seconds, min_wait)
    run = RunContext(
        run_id=naming.run_id_for(execution_id),
        execution_id=execution_id,
        server_id=server.id,
        server_name=server.name,
        image_name=request.image_name or naming.default_image_name(server.name, started),
        description=request.description,
        tags=dict(request.tags),
        stop_policy=request.stop_policy,
        trigger=request.trigger,
        started_at=clock.to_timestamp(started),
        deadline=clock.to_timestamp(started + timedelta(minutes=deadline_minutes)),
        min_wait_seconds=min_wait,
        max_wait_seconds=max_wait,
        action=action,
        stopped_by_pipeline=action is RunAction.STOP,
        skip_reason=skip_reason,
    )
    state: dict[str, Any] = {"run": run.model_dump(mode="json")}
    if action is RunAction.SKIP:
        state["outcome"] = RunOutcome(
            outcome="SKIPPED", server_id=server.id, reason=skip_reason
        ).model_dump(mode="json")

    return state


def stop_server(run: RunContext, session: CloudSession | None = None) -> ServerCheck:
    """Ask ECS to stop the server, unless it is already stopped or stopping."""
    session = session or CloudSession()

    server = ecs.show_server(session, run.server_id)
    job_id = None
    if not server.is_stopped and server.task_state != "powering-off":
        job_id = ecs.stop_server(session, run.server_id)

    return ServerCheck(
        status=server.status,
        task_state=server.task_state,
        stopped=server.is_stopped,
        stop_job_id=job_id,
        checked_at=clock.to_timestamp(clock.now()),
        wait_seconds=run.min_wait_seconds,
    )


def check_server(
    run: RunContext, previous: ServerCheck, session: CloudSession | None = None
) -> ServerCheck:
    """Whether the server has stopped; a failed stop job ends the run."""
    session = session or CloudSession()

    if previous.stop_job_id is not None:
        job = ecs.show_job(session, previous.stop_job_id)
        if job.status is JobStatus.FAIL:
            raise ServerJobFailed(
                f"Stopping server {run.server_id!r} failed in job {job.job_id!r}: "
                f"{job.error_code} {job.fail_reason}"
            )
    server = ecs.show_server(session, run.server_id)

    return previous.model_copy(
        update={
            "status": server.status,
            "task_state": server.task_state,
            "stopped": server.is_stopped,
            "checked_at": clock.to_timestamp(clock.now()),
            "wait_seconds": run.min_wait_seconds,
        }
    )


def create_image(run: RunContext, session: CloudSession | None = None) -> JobCheck:
    """Start the run's image job, or adopt the image this run already started."""
    session = session or CloudSession()
    now = clock.to_timestamp(clock.now())

    adopted = ims.list_images(session, tag=(naming.RUN_TAG, run.run_id))
    if adopted:
        image = adopted[0]
        logger.debug("Adopted the run's image", extra={"image_id": image.id})
        return JobCheck(
            job_id=None,
            image_id=image.id,
            status=_IMAGE_STATUS_AS_JOB.get(image.status, JobStatus.RUNNING),
            adopted=True,
            created_at=image.created_at or now,
            checked_at=now,
            wait_seconds=run.min_wait_seconds,
        )

    spec = ImageSpec(
        name=run.image_name,
        description=run.description,
        tags={**naming.pipeline_tags(run.run_id, run.server_id), **run.tags},
    )
    job_id = ims.create_image_from_server(session, server_id=run.server_id, spec=spec)

    return JobCheck(
        job_id=job_id,
        status=JobStatus.INIT,
        created_at=now,
        checked_at=now,
        wait_seconds=_clamp(FIRST_POLL_SECONDS, run),
    )


def check_image_job(
    run: RunContext, previous: JobCheck, session: CloudSession | None = None
) -> JobCheck:
    """Where the image job stands, and how long to wait before asking again."""
    session = session or CloudSession()
    now = clock.now()

    update: dict[str, Any]
    if previous.job_id is not None:
        job = ims.show_job(session, previous.job_id)
        update = {
            "status": job.status,
            "image_id": job.entities.image_id or previous.image_id,
            "progress": job.entities.process_percent,
            "error_code": job.error_code,
            "fail_reason": job.fail_reason,
        }
    else:
        # An adopted image: its own status tells where the job stands.
        image = ims.show_image(session, str(previous.image_id))
        update = {"status": _IMAGE_STATUS_AS_JOB.get(image.status, JobStatus.RUNNING)}

    elapsed = (now - clock.parse_timestamp(previous.created_at)).total_seconds()
    progress = update.get("progress")
    update.update(
        polls=previous.polls + 1,
        checked_at=clock.to_timestamp(now),
        wait_seconds=_next_wait(elapsed, progress, run),
    )

    return previous.model_copy(update=update)


def finalize_run(run: RunContext, job: JobCheck, session: CloudSession | None = None) -> RunOutcome:
    """Confirm the image, and start the server again if this run stopped it."""
    session = session or CloudSession()

    image = ims.show_image(session, str(job.image_id))
    restarted = False
    if run.stopped_by_pipeline:
        restarted = _start_if_stopped(session, run.server_id)

    return RunOutcome(
        outcome="IMAGED",
        server_id=run.server_id,
        image_id=image.id,
        image_name=image.name,
        job_id=job.job_id,
        polls=job.polls,
        server_restarted=restarted,
    )


def handle_failure(state: dict[str, Any], session: CloudSession | None = None) -> FailureRecord:
    """Restore what the run changed, then describe the failure for the Fail state."""
    session = session or CloudSession()
    error = state.get("error") or {}
    run = RunContext.model_validate(state["run"])
    job = JobCheck.model_validate(state["job"]) if state.get("job") else None

    restore = "nothing to restore"
    if run.stopped_by_pipeline:
        restore = _restore_server(session, run, job)

    cause = {
        "server_id": run.server_id,
        "job_id": job.job_id if job else None,
        "image_id": job.image_id if job else None,
        "error_code": job.error_code if job else None,
        "fail_reason": job.fail_reason if job else None,
        "stopped_by_pipeline": run.stopped_by_pipeline,
        "restore": restore,
        "detail": _error_detail(error.get("Cause")),
    }

    return FailureRecord(
        error=str(error.get("Error") or "RunFailed"),
        cause=json.dumps(cause, separators=(",", ":")),
    )


def _decide_action(server: Any, policy: StopPolicy) -> tuple[RunAction, str | None]:
    if server.is_stopped:
        return RunAction.CREATE, None
    if server.task_state:
        raise ServerBusy(f"Server {server.id!r} has a task in progress: {server.task_state!r}.")
    if not server.is_running:
        raise ServerStateInvalid(
            f"Server {server.id!r} is in status {server.status!r} and cannot be imaged."
        )
    if policy is StopPolicy.STOP_AND_RESTART:
        return RunAction.STOP, None
    if policy is StopPolicy.REQUIRE_STOPPED:
        return RunAction.SKIP, f"server {server.id} is running and the policy requires stopped"

    return RunAction.CREATE, None


def _restore_server(session: CloudSession, run: RunContext, job: JobCheck | None) -> str:
    # The IMS docs say not to start a server while its image is being made.
    if job is not None and job.job_id is not None:
        current = ims.show_job(session, job.job_id)
        if current.status not in (JobStatus.SUCCESS, JobStatus.FAIL):
            return "server left stopped: its image job may still be running"
    if _start_if_stopped(session, run.server_id):
        return "server started again"

    return "server not started: it was not stopped and settled"


def _start_if_stopped(session: CloudSession, server_id: str) -> bool:
    server = ecs.show_server(session, server_id)
    if not server.is_stopped:
        return False
    ecs.start_server(session, server_id)

    return True


def _next_wait(elapsed: float, progress: float | None, run: RunContext) -> int:
    if progress and 0 < progress < 100:
        # Linear extrapolation of the progress IMS reports.
        return _clamp(elapsed * (100 - progress) / progress, run)

    return _clamp(max(FIRST_POLL_SECONDS - elapsed, elapsed / 2), run)


def _clamp(seconds: float, run: RunContext) -> int:
    return int(min(max(seconds, run.min_wait_seconds), run.max_wait_seconds))


def _error_detail(cause: Any) -> Any:
    """The message inside a Lambda error cause, without its stack trace."""
    if not isinstance(cause, str):
        return cause
    try:
        parsed = json.loads(cause)
    except ValueError:
        return cause[:1000]
    if isinstance(parsed, dict) and "errorMessage" in parsed:
        return {"type": parsed.get("errorType"), "message": parsed.get("errorMessage")}

    return parsed
