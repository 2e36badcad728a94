"""The steps of the per-server pipeline, one function per state-machine Task.

Each step reads what it needs from the state, acts on the cloud, and returns the
part of the state it owns. No step returns a token or a password: state reaches
the execution history.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime, timedelta
from typing import Any

from . import clock, ecs, ims, naming, notifications, polling, retention
from .config import Settings, get_settings
from .errors import (
    CLOUD_ERROR_NAMES,
    CloudError,
    CloudRequestNotSent,
    CloudThrottled,
    CloudTransientError,
    ImageBusy,
    QuotaExceeded,
    ResourceNotFound,
    ServerBusy,
    ServerJobFailed,
    ServerRestartFailed,
    ServerStateInvalid,
    UnexpectedResponse,
    cloud_answer,
)
from .models import (
    DataDisk,
    ExportCheck,
    FailureRecord,
    ImageKind,
    ImageSpec,
    JobCheck,
    JobStatus,
    PipelineInput,
    RestartCheck,
    RunAction,
    RunContext,
    RunOutcome,
    Server,
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
# A job's begin time further than this from our own record is of another clock.
JOB_BEGIN_TOLERANCE_SECONDS = 120
LEFT_STOPPED = "server left stopped"
LOCK_GRACE = timedelta(minutes=10)
# A soft stop the guest ignores this long (or a failed one) becomes a hard stop.
SOFT_STOP_GRACE_SECONDS = 300
# A start ECS fails is asked for again; after this many in all the run fails.
RESTART_ATTEMPTS = 3
RESTART_TIMEOUT_SECONDS = 900
_EXPORT_EXTENSIONS = {"qcow2": "qcow2", "vhd": "vhd", "zvhd": "zvhd", "vmdk": "vmdk", None: "zvhd2"}


def prepare_server(
    raw_input: Any,
    execution_id: str,
    session: CloudSession | None = None,
    settings: Settings | None = None,
    *,
    execution_started: str = "",
) -> dict[str, Any]:
    """Validate the input, look at the server, and decide what the run will do."""
    request = parse_model(PipelineInput, raw_input, "pipeline input")
    settings = settings or get_settings()
    session = session or CloudSession(settings)

    server = ecs.show_server(session, request.server_id)
    action, skip_reason = _decide_action(server, request)
    if action is not RunAction.SKIP:
        _check_quota(session, server, request)

    run_id = naming.run_id_for(execution_id, execution_started)
    run = _build_run(request, server, execution_id, run_id, action, skip_reason, settings)
    state: dict[str, Any] = {"run": run.model_dump(mode="json")}
    if action is RunAction.SKIP:
        outcome = RunOutcome(outcome="SKIPPED", server_id=server.id, reason=skip_reason)
        state["outcome"] = _with_events(outcome, run).model_dump(mode="json")

    return state


def stop_server(run: RunContext, session: CloudSession | None = None) -> dict[str, Any]:
    """Ask ECS to stop the server if it is running and settled.

    Returns the whole state ($.run and $.server): the run records that it stopped
    the server only when it asked ECS to, never for a server someone else is
    stopping or has stopped. A repeat of this step (its answer lost, a Lambda
    retry) knows its own earlier stop by the mark it left on the server.
    """
    session = session or CloudSession()
    now = clock.now()

    server = ecs.show_server(session, run.server_id)
    job_id = _stop(session, run) if server.is_running else None

    check = ServerCheck(
        status=server.status,
        task_state=server.task_state,
        stopped=server.is_stopped,
        stop_job_id=job_id,
        stop_requested_at=clock.to_timestamp(now),
        checked_at=clock.to_timestamp(now),
        wait_seconds=_clamp(run.min_wait_seconds, run, now),
    )

    return _server_state(run, check, ours=job_id is not None or _marked_by(run, server))


def check_server(
    run: RunContext, previous: ServerCheck, session: CloudSession | None = None
) -> dict[str, Any]:
    """Whether the server has stopped. A server that settled running is stopped now;
    a soft stop that failed or hangs is made hard. Returns $.run and $.server."""
    session = session or CloudSession()
    now = clock.now()

    stop_failed = False
    if previous.stop_job_id is not None:
        job = ecs.show_job(session, previous.stop_job_id)
        stop_failed = job.status is JobStatus.FAIL
        if stop_failed and previous.hard_stop:
            raise ServerJobFailed(
                f"Stopping server {run.server_id!r} failed in job {job.job_id!r}: {job.failure}"
            )
    server = ecs.show_server(session, run.server_id)

    update: dict[str, Any] = {
        "status": server.status,
        "task_state": server.task_state,
        "stopped": server.is_stopped,
        "checked_at": clock.to_timestamp(now),
    }
    requested = clock.parse_timestamp(previous.stop_requested_at or previous.checked_at)
    # Timestamps keep whole seconds: the stop may have been asked for up to 1 s
    # after the one recorded, so that second is not counted as waited.
    waited = (now - requested).total_seconds() - 1
    ours = run.stopped_by_pipeline or _marked_by(run, server)
    if server.is_running and previous.stop_job_id is None:
        # Someone else's start or stop has settled on running: now it is ours to stop.
        update.update(stop_job_id=_stop(session, run), stop_requested_at=update["checked_at"])
        ours = True
    elif (
        server.is_running
        and not previous.hard_stop
        and (stop_failed or waited >= SOFT_STOP_GRACE_SECONDS)
    ):
        # Only a server settled running: one powering on or off is busy, and ECS
        # would refuse a hard stop now; the next check sees where it settled.
        update.update(
            stop_job_id=ecs.stop_server(session, run.server_id, hard=True), hard_stop=True
        )
    update["wait_seconds"] = _clamp(max(waited / 3, run.min_wait_seconds), run, now)

    return _server_state(run, previous.model_copy(update=update), ours=ours)


def _server_state(run: RunContext, check: ServerCheck, *, ours: bool) -> dict[str, Any]:
    updated = run.model_copy(update={"stopped_by_pipeline": ours})

    return {"run": updated.model_dump(mode="json"), "server": check.model_dump(mode="json")}


def create_image(run: RunContext, session: CloudSession | None = None) -> JobCheck:
    """Start the run's image job, or adopt the image(s) this run already started."""
    session = session or CloudSession()
    now = clock.to_timestamp(clock.now())

    try:
        session.project_id  # noqa: B018 - takes the token before the POST
        adopted = _find_run_images(session, run)
    except (CloudThrottled, CloudTransientError) as exc:
        # Nothing was asked of IMS yet, so the Task may safely try again.
        raise CloudRequestNotSent(f"Before creating the image: {exc}") from exc
    if adopted is not None:
        return adopted
    history = _earlier_job_seconds(session, run)

    spec = ImageSpec(name=run.image_name, description=run.description, tags=run.tags)
    if run.image_kind is ImageKind.WHOLE:
        job_id = ims.create_whole_image(
            session, server_id=run.server_id, spec=spec, vault_id=run.vault_id
        )
    elif run.image_kind is ImageKind.DATA_DISKS:
        # Only the pipeline's own tags surely fit the old format data-disk images
        # take: with them the run finds its images; Finalize run adds the rest.
        own = naming.pipeline_tags(run.run_id, run.server_id)
        disks = [
            ims.DataDiskImage(
                disk.volume_id, spec.model_copy(update={"name": disk.image_name, "tags": own})
            )
            for disk in run.data_disks
        ]
        job_id = ims.create_data_disk_images(session, disks)
    else:
        job_id = ims.create_image_from_server(session, server_id=run.server_id, spec=spec)

    wait = polling.plan_next_check(
        0, min_wait=run.min_wait_seconds, max_wait=run.max_wait_seconds, history=history
    )

    return JobCheck(
        job_id=job_id,
        status=JobStatus.INIT,
        created_at=now,
        checked_at=now,
        history_seconds=history,
        wait_seconds=_clamp(wait, run, clock.now()),
    )


def check_image_job(
    run: RunContext, previous: JobCheck, session: CloudSession | None = None
) -> JobCheck:
    """Where the image job stands, and how long to wait before asking again."""
    session = session or CloudSession()

    update: dict[str, Any]
    began = clock.parse_timestamp(previous.created_at)
    asked = clock.now()
    if previous.job_id is not None:
        job = ims.show_job(session, previous.job_id)
        began = _job_began(job.begin_time, began)
        update = {
            "status": job.status,
            "image_id": job.entities.image_id or previous.image_id,
            "image_ids": job.entities.data_image_ids or previous.image_ids,
            "progress": job.entities.process_percent,
            "error_code": job.error_code,
            "fail_reason": job.fail_reason,
        }
    else:
        # Adopted images: their own statuses tell where the job stands.
        images = [ims.show_image(session, image_id) for image_id in _image_ids(previous)]
        statuses = {_IMAGE_STATUS_AS_JOB.get(image.status, JobStatus.RUNNING) for image in images}
        update = {"status": _combined_status(statuses)}

    now = clock.now()
    # IMS measured the progress somewhere between the question and the answer.
    elapsed = (asked + (now - asked) / 2 - began).total_seconds()
    reading = _reading(elapsed, update.get("progress"))
    wait = polling.plan_next_check(
        elapsed,
        min_wait=run.min_wait_seconds,
        max_wait=run.max_wait_seconds,
        reading=reading,
        previous=_reading(previous.progress_elapsed, previous.progress),
        history=previous.history_seconds,
    )
    update.update(
        polls=previous.polls + 1,
        progress_elapsed=round(elapsed, 3) if reading is not None else None,
        checked_at=clock.to_timestamp(now),
        wait_seconds=_clamp(wait, run, now),
    )

    return previous.model_copy(update=update)


def finalize_run(run: RunContext, job: JobCheck, session: CloudSession | None = None) -> RunOutcome:
    """Confirm the images, tag data-disk images, apply retention, start the server
    again if this run stopped it, and start the export if one is asked for."""
    session = session or CloudSession()

    image_ids = _finished_image_ids(session, run, job)
    images = [ims.show_image(session, image_id) for image_id in image_ids]
    if run.image_kind is ImageKind.DATA_DISKS:
        # Data-disk jobs took the pipeline's own tags only: the others come now.
        for image in images:
            ims.add_image_tags(session, image.id, run.tags)
    restart = _restart(session, run) if run.stopped_by_pipeline else None

    deleted = []
    if run.retention is not None:
        deletions = retention.apply(
            session, run.retention, run.server_id, clock.now(), frozenset(image_ids)
        )
        deleted = [deletion._asdict() for deletion in deletions]
    export = _start_export(session, run, images[0].id) if run.export else None

    outcome = RunOutcome(
        outcome="IMAGED",
        server_id=run.server_id,
        image_kind=run.image_kind,
        image_id=images[0].id,
        image_ids=[image.id for image in images],
        image_name=images[0].name,
        job_id=job.job_id,
        polls=job.polls,
        server_restarted=restart is not None,
        dropped_tags=run.dropped_tags,
        deleted_images=deleted,
        export=export,
        restart=restart,
    )

    return _with_events(outcome, run)


def check_restart(
    run: RunContext, outcome: RunOutcome, session: CloudSession | None = None
) -> RunOutcome:
    """Whether the server the run started again is running; a start ECS failed is
    asked for again, up to RESTART_ATTEMPTS in all. Returns the outcome updated."""
    session = session or CloudSession()
    assert outcome.restart is not None, "the state machine checks only runs that restarted"
    restart = outcome.restart
    now = clock.now()

    server = ecs.show_server(session, run.server_id)
    job = ecs.show_job(session, restart.job_id) if restart.job_id else None
    update: dict[str, Any] = {"checked_at": clock.to_timestamp(now)}
    job_ended = job is None or job.status in (JobStatus.SUCCESS, JobStatus.FAIL)
    if server.is_running or (job is not None and job.status is JobStatus.SUCCESS):
        # Running, or started and then stopped again by its owner: either way
        # the run's start is done, and an owner's stop is not the run's to undo.
        update.update(status=JobStatus.SUCCESS)
        ecs.clear_stop_mark(session, server, run.run_id)
    elif server.is_stopped and job_ended:
        # The start has ended and left the server stopped: ECS failed it.
        code, reason = job.failed_with if job else (None, "The server is stopped again.")
        update.update(error_code=code, fail_reason=reason)
        if restart.attempts < RESTART_ATTEMPTS:
            job_id = ecs.start_server(session, run.server_id)
            update.update(job_id=job_id, attempts=restart.attempts + 1)
        else:
            update.update(status=JobStatus.FAIL)
    elif (
        now - clock.parse_timestamp(restart.started_at)
    ).total_seconds() > RESTART_TIMEOUT_SECONDS:
        update.update(
            status=JobStatus.FAIL,
            fail_reason=f"The server was still {server.status} ({server.task_state}) "
            f"{RESTART_TIMEOUT_SECONDS // 60} minutes after it was started.",
        )

    return outcome.model_copy(update={"restart": restart.model_copy(update=update)})


def check_export(
    run: RunContext, outcome: RunOutcome, session: CloudSession | None = None
) -> RunOutcome:
    """Where the export job stands; the outcome with its export part updated."""
    session = session or CloudSession()
    assert outcome.export is not None, "the state machine checks only runs that export"

    job = ims.show_job(session, outcome.export.job_id)
    now = clock.now()
    update: dict[str, Any] = {
        "status": job.status,
        "checked_at": clock.to_timestamp(now),
        "wait_seconds": run.max_wait_seconds,
        "error_code": job.error_code,
        "fail_reason": job.fail_reason,
    }
    running = job.status not in (JobStatus.SUCCESS, JobStatus.FAIL)
    if running and now >= clock.parse_timestamp(outcome.export.deadline):
        update.update(
            status=JobStatus.FAIL,
            error_code="ExportTimedOut",
            fail_reason=f"The export job was still {job.status.value} at its deadline.",
        )
    export = outcome.export.model_copy(update=update)
    updated = outcome.model_copy(update={"export": export})

    return _with_events(updated, run)


def handle_failure(state: dict[str, Any], session: CloudSession | None = None) -> FailureRecord:
    """Restore what the run changed, then describe the failure for the Fail state."""
    session = session or CloudSession()
    error = state.get("error") or {}
    run = RunContext.model_validate(state["run"])
    job = JobCheck.model_validate(state["job"]) if state.get("job") else None

    name = str(error.get("Error") or "RunFailed")
    restart_failed = name == ServerRestartFailed.__name__
    detail = notifications.error_detail(error.get("Cause"))
    answer = _cloud_answer(detail)
    restore = "nothing to restore"
    if restart_failed:
        # Check restart asked ECS more than once; reconcile tries again later.
        stopped_by_run = True
        restore = f"{LEFT_STOPPED}: it did not start again"
        detail, answer = _restart_failure(run, detail)
    else:
        stopped_by_run = _stopped_by_run(session, run)
        if stopped_by_run:
            create_unknown = bool(state.get("create_outcome_unknown"))
            restore = _restore_server(session, run, job, create_unknown)
    cause = {
        "server_id": run.server_id,
        "run_id": run.run_id,
        "job_id": job.job_id if job else None,
        "image_id": job.image_id if job else None,
        "error_code": (job.error_code if job else None) or answer["error_code"],
        "fail_reason": job.fail_reason if job else None,
        "http_status": answer["http_status"],
        "request_id": answer["request_id"],
        "stopped_by_pipeline": stopped_by_run,
        # What reconcile gives data-disk images it finalizes (at most 10 tags).
        "tags": run.tags,
        "dropped_tags": run.dropped_tags,
        "restore": restore,
        # Reconcile starts the server once nothing can be imaging it any more.
        "reconcile": restore.startswith(LEFT_STOPPED),
        "detail": detail,
    }
    deletions = []
    if restart_failed and state.get("outcome"):
        # Finalize run had deleted images by retention and started the export.
        outcome = RunOutcome.model_validate(state["outcome"])
        cause["export"] = outcome.export.model_dump(mode="json") if outcome.export else None
        deletions = [e for e in outcome.events if e["DetailType"] == "Image Deleted"]

    return FailureRecord(
        error=name,
        cause=json.dumps(cause, separators=(",", ":")),
        events=[notifications.run_failed(name, cause, run), *deletions],
    )


def _build_run(
    request: PipelineInput,
    server: Server,
    execution_id: str,
    run_id: str,
    action: RunAction,
    skip_reason: str | None,
    settings: Settings,
) -> RunContext:
    started = clock.now()
    variables = naming.name_variables(
        server_name=server.name,
        server_id=server.id,
        moment=started,
        trigger=request.trigger.kind,
    )
    image_name = request.image_name or naming.image_name(request.name_template, variables)
    copied = (
        naming.copied_server_tags(
            server.tag_map, request.server_tags_include, request.server_tags_exclude
        )
        if request.copy_server_tags
        else []
    )
    budget = naming.allocate_tags(
        own=naming.pipeline_tags(run_id, server.id),
        user=request.tags,
        server=copied,
        variables=variables,
    )
    min_wait = request.min_wait_seconds or settings.min_wait_seconds
    deadline = started + timedelta(minutes=request.deadline_minutes or settings.deadline_minutes)
    # A crashed run's lock lapses a little after its deadline; a live run frees it.
    lock_expires = deadline + LOCK_GRACE

    return RunContext(
        run_id=run_id,
        execution_id=execution_id,
        server_id=server.id,
        server_name=server.name,
        image_kind=request.image_kind,
        image_name=image_name,
        vault_id=request.vault_id,
        data_disks=_data_disks(request, server, image_name),
        description=request.description,
        tags=budget.tags,
        dropped_tags=budget.dropped,
        retention=request.retention,
        export=request.export,
        export_object=_export_object(request, variables),
        stop_policy=request.stop_policy,
        trigger=request.trigger,
        started_at=clock.to_timestamp(started),
        deadline=clock.to_timestamp(deadline),
        lock_expires_at=clock.to_timestamp(lock_expires),
        lock_expiration=str(int(lock_expires.timestamp())),
        min_wait_seconds=min_wait,
        max_wait_seconds=max(request.max_wait_seconds or settings.max_wait_seconds, min_wait),
        action=action,
        # Set by the step that asks ECS to stop the server, not by the plan to.
        stopped_by_pipeline=False,
        skip_reason=skip_reason,
    )


def _decide_action(server: Server, request: PipelineInput) -> tuple[RunAction, str | None]:
    if request.image_kind is ImageKind.DATA_DISKS and not server.data_volumes:
        return RunAction.SKIP, f"server {server.id} has no data disk to image"
    if server.is_stopped:
        return RunAction.CREATE, None
    if not server.task_state and not server.is_running:
        raise ServerStateInvalid(
            f"Server {server.id!r} is in status {server.status!r} and cannot be imaged."
        )
    if request.stop_policy is StopPolicy.REQUIRE_STOPPED:
        if server.task_state:
            # It may be on its way to stopped: the Task's Retry looks again.
            raise ServerBusy(f"Server {server.id!r} has a task in progress: {server.task_state!r}.")
        return RunAction.SKIP, f"server {server.id} is running and the policy requires stopped"
    if request.stop_policy is StopPolicy.ALLOW_RUNNING and server.is_running:
        return RunAction.CREATE, None

    # Running, or powering off or on: the stop path takes the lock first, then
    # waits for the server to settle, and stops it only if it ends up running.
    return RunAction.STOP, None


def _check_quota(session: CloudSession, server: Server, request: PipelineInput) -> None:
    needed = len(server.data_volumes) if request.image_kind is ImageKind.DATA_DISKS else 1
    quota = ims.show_quota(session)
    if quota.remaining < needed:
        raise QuotaExceeded(
            f"The private image quota is used up ({quota.used} of {quota.quota}); "
            f"server {server.id!r} needs {needed} more. Nothing was stopped or created."
        )


def _data_disks(request: PipelineInput, server: Server, image_name: str) -> list[DataDisk]:
    if request.image_kind is not ImageKind.DATA_DISKS:
        return []

    return [
        DataDisk(
            volume_id=volume.id,
            image_name=naming.with_suffix(image_name, f"-data{number}"),
        )
        for number, volume in enumerate(server.data_volumes, start=1)
    ]


def _export_object(request: PipelineInput, variables: dict[str, str]) -> str | None:
    if request.export is None:
        return None
    extension = _EXPORT_EXTENSIONS[request.export.file_format]

    return f"{naming.image_name(request.export.object_name, variables)}.{extension}"


def _find_run_images(session: CloudSession, run: RunContext) -> JobCheck | None:
    """The images this run already started, as a job check; None if there are none.

    Every kind of image carries the run's tag from its creation on: a name may be
    another server's or another run's too.
    """
    found = ims.list_images(session, tag=(naming.RUN_TAG, run.run_id))
    if not found:
        return None
    logger.debug("Adopted the run's images", extra={"image_ids": [i.id for i in found]})
    now = clock.to_timestamp(clock.now())
    statuses = {_IMAGE_STATUS_AS_JOB.get(image.status, JobStatus.RUNNING) for image in found}

    return JobCheck(
        job_id=None,
        image_id=found[0].id,
        image_ids=[image.id for image in found],
        status=_combined_status(statuses),
        adopted=True,
        created_at=found[0].created_at or now,
        checked_at=now,
        wait_seconds=run.min_wait_seconds,
    )


def _finished_image_ids(session: CloudSession, run: RunContext, job: JobCheck) -> list[str]:
    ids = _image_ids(job)
    if not ids:
        # A finished job that names no image: find the run's images instead.
        found = _find_run_images(session, run)
        ids = _image_ids(found) if found is not None else []
    if not ids:
        raise UnexpectedResponse(
            f"Image job {job.job_id!r} of server {run.server_id!r} succeeded but "
            "reported no image, and none of the run's images was found."
        )

    return ids


def _image_ids(job: JobCheck) -> list[str]:
    if job.image_ids:
        return list(job.image_ids)

    return [job.image_id] if job.image_id else []


def _combined_status(statuses: set[JobStatus]) -> JobStatus:
    if JobStatus.FAIL in statuses:
        return JobStatus.FAIL
    if statuses == {JobStatus.SUCCESS}:
        return JobStatus.SUCCESS

    return JobStatus.RUNNING


def _start_export(session: CloudSession, run: RunContext, image_id: str) -> ExportCheck:
    assert run.export is not None and run.export_object is not None
    # The export gets as long as the image had.
    allowed = clock.parse_timestamp(run.deadline) - clock.parse_timestamp(run.started_at)
    now = clock.now()
    check = ExportCheck(
        job_id="",
        bucket_url=f"{run.export.bucket}:{run.export_object}",
        status=JobStatus.INIT,
        checked_at=clock.to_timestamp(now),
        deadline=clock.to_timestamp(now + allowed),
        wait_seconds=run.max_wait_seconds,
    )
    try:
        job_id = ims.export_image(
            session,
            image_id,
            bucket=run.export.bucket,
            object_name=run.export_object,
            file_format=run.export.file_format,
        )
    except ImageBusy as exc:
        # The image is brand new: the export under way is this step's earlier
        # try, whose answer was lost. Its job cannot be found, so it is not
        # followed, and asking again would only be refused.
        return check.model_copy(
            update={
                "status": JobStatus.FAIL,
                "error_code": "ExportUnconfirmed",
                "fail_reason": f"IMS is exporting the image already ({exc.error_code}), but "
                "the answer to the run's export request was lost, so the export cannot be "
                f"followed: look for {check.bucket_url} in OBS.",
            }
        )

    return check.model_copy(update={"job_id": job_id})


def _with_events(outcome: RunOutcome, run: RunContext) -> RunOutcome:
    return outcome.model_copy(update={"events": notifications.for_outcome(outcome, run)})


def _restore_server(
    session: CloudSession, run: RunContext, job: JobCheck | None, create_unknown: bool
) -> str:
    # The IMS docs say not to start a server while its image is being made.
    if job is not None and job.job_id is not None:
        if ims.show_job(session, job.job_id).status not in (JobStatus.SUCCESS, JobStatus.FAIL):
            return f"{LEFT_STOPPED}: its image job may still be running"
    else:
        found = _find_run_images(session, run)
        if found is not None and found.status not in (JobStatus.SUCCESS, JobStatus.FAIL):
            return f"{LEFT_STOPPED}: the run's image is still being made"
        if found is None and create_unknown:
            return f"{LEFT_STOPPED}: an image job may have started unseen"
    try:
        server = ecs.show_server(session, run.server_id)
    except ResourceNotFound:
        return "server not started: it no longer exists"
    if server.is_powering_off:
        # The mark stays: reconcile starts the server once it has settled.
        return f"{LEFT_STOPPED}: its stop is still under way"
    started = _start_if_stopped(session, run, server)

    return (
        "server started again" if started else "server not started: it was not stopped and settled"
    )


def _stop(session: CloudSession, run: RunContext) -> str:
    # Marked first: if the answer to the stop is lost, a repeat of the step finds
    # the server stopping or stopped and must know that this run asked for it.
    ecs.mark_stopped_by(session, run.server_id, run.run_id)
    try:
        return ecs.stop_server(session, run.server_id)
    except CloudError as exc:
        if _refused(exc):
            # ECS did not stop the server: the mark must not vouch for a stop
            # that someone else makes before the step is repeated.
            ecs.remove_stop_mark(session, run.server_id)
        raise


def _refused(exc: CloudError) -> bool:
    """Whether the cloud provably did not carry out the request."""
    if isinstance(exc, CloudRequestNotSent):
        return True

    return not isinstance(exc, CloudTransientError | UnexpectedResponse)


def _marked_by(run: RunContext, server: Server) -> bool:
    return ecs.stopped_by(server) == run.run_id


def _stopped_by_run(session: CloudSession, run: RunContext) -> bool:
    """Whether this run stopped the server, even if the step that did so failed
    after asking (its state then does not say so, the server's mark does)."""
    if run.stopped_by_pipeline:
        return True
    if run.action is RunAction.SKIP:
        return False
    try:
        return _marked_by(run, ecs.show_server(session, run.server_id))
    except ResourceNotFound:
        return False


def _restart(session: CloudSession, run: RunContext) -> RestartCheck | None:
    """Start the server this run stopped; None if the run did not start it."""
    server = ecs.show_server(session, run.server_id)
    now = clock.to_timestamp(clock.now())
    if server.is_stopped:
        job_id: str | None = ecs.start_server(session, run.server_id)
    elif ecs.stopped_by(server) == run.run_id:
        # An earlier try of this step started it (its answer lost, or a later
        # part of the step failed): the mark stays until Check restart sees the
        # server running.
        job_id = None
    else:
        return None

    return RestartCheck(
        job_id=job_id,
        status=JobStatus.RUNNING,
        attempts=1,
        started_at=now,
        checked_at=now,
        wait_seconds=run.min_wait_seconds,
    )


def _start_if_stopped(session: CloudSession, run: RunContext, server: Server) -> bool:
    started = server.is_stopped
    if started:
        ecs.start_server(session, run.server_id)
    ecs.clear_stop_mark(session, server, run.run_id)

    return started


def _earlier_job_seconds(session: CloudSession, run: RunContext) -> list[int]:
    """How long the server's earlier images took to make; none if IMS cannot say."""
    try:
        images = ims.list_images(session, tag=(naming.SERVER_TAG, run.server_id))
    except CloudError as exc:
        # Only the waits depend on it: the run goes on without.
        logger.debug("No image history", extra={"error": str(exc)})
        return []

    return polling.earlier_durations(images, run.image_kind)


def _job_began(begin_time: str | None, created: datetime) -> datetime:
    try:
        began = clock.parse_timestamp(begin_time) if begin_time else created
    except ValueError:
        return created
    if abs((began - created).total_seconds()) > JOB_BEGIN_TOLERANCE_SECONDS:
        return created

    return began


def _reading(elapsed: float | None, progress: float | None) -> polling.Reading | None:
    if elapsed is None or progress is None:
        return None

    return polling.Reading(elapsed=elapsed, percent=progress)


def _clamp(seconds: float, run: RunContext, now: datetime | None = None) -> int:
    wait = min(max(seconds, run.min_wait_seconds), run.max_wait_seconds)
    if now is not None:
        # Never sleep past the deadline: the check after it must see it passed.
        remaining = (clock.parse_timestamp(run.deadline) - now).total_seconds()
        wait = min(wait, max(remaining, 1))

    return int(wait)


def _restart_failure(run: RunContext, restart: Any) -> tuple[dict[str, Any], dict[str, Any]]:
    """The detail and the cloud's answer of a restart that Check restart gave up on."""
    check = restart if isinstance(restart, dict) else {}
    reason = " ".join(
        str(word) for word in (check.get("error_code"), check.get("fail_reason")) if word
    )
    message = (
        f"Server {run.server_id!r} did not start again after {check.get('attempts')} "
        f"attempts: {reason or 'no reason given'}"
    )
    answer = {"error_code": check.get("error_code"), "http_status": None, "request_id": None}

    return {"type": ServerRestartFailed.__name__, "message": message}, answer


def _cloud_answer(detail: Any) -> dict[str, Any]:
    """The code, status and request id of the cloud's refusal a Lambda error reports."""
    message = detail.get("message") if isinstance(detail, dict) else None
    if not isinstance(message, str) or detail.get("type") not in CLOUD_ERROR_NAMES:
        # Other errors quote the cloud's words (a failed job's reason) only inside.
        return {"error_code": None, "http_status": None, "request_id": None}

    return cloud_answer(message)
