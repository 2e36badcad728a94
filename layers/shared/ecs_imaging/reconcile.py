"""Reconcile: finish the runs that ended before their image jobs did.

A run whose image job outlives its deadline fails with `ImageJobTimedOut`; a run
that fails while an image job may still be running says `"reconcile": true` in
its cause. Both leave a server they stopped stopped. A scheduled pass looks at
their image jobs again: images that finished late are finalized (tags, retention,
an "Image Created" entry marked late), images that did not are recorded as
failed, and the server is started once nothing can be imaging it any more.

A pass claims a run in the state table before it changes anything, on condition
that no other pass's claim is in force, and marks the run finished once every
action has succeeded: concurrent passes never act on a run together. A pass that
fails part-way gives its claim up, and a later pass acts on the run again; every
action (tags, retention, events, the start of a server the run stopped) repeats
safely.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from . import clock, config, ecs, ims, naming, notifications, retention
from .errors import ConfigurationError, EcsImagingError, ResourceNotFound
from .models import Image, ImageKind, Job, JobStatus, RetentionPolicy, Server, Trigger
from .session import CloudSession

logger = logging.getLogger(__name__)

PIPELINE_STATE_MACHINE_ARN = config.PIPELINE_STATE_MACHINE_ARN
STATE_TABLE = config.RUN_STATE_TABLE
TIMED_OUT = "ImageJobTimedOut"
LOOKBACK = timedelta(days=7)
# The longest a run lasts: the largest deadline (1440 minutes) and its cleanup.
LONGEST_RUN = timedelta(days=1, hours=1)
MARK_LIFETIME = timedelta(days=30)
# Longer than a Lambda invocation can last (15 minutes): a claim outlives the pass
# that took it, so it lapses only for a pass that crashed.
CLAIM_LIFETIME = timedelta(minutes=20)
CLAIMED, FINISHED = "claimed", "finished"
# IMS lists an image as soon as it accepts the job that makes it; a run whose
# create outcome is unknown and that shows none this long after is taken to have
# made none.
UNSEEN_GRACE = timedelta(minutes=10)
# A pass takes no further run with less than this left of its invocation.
RESERVE_SECONDS = 30.0
PAGE_SIZE = 100
MAX_PAGES = 100
_IN_PROGRESS = {"queued", "saving"}
_LOST = {"killed", "deleted"}
_ALREADY_RECONCILED: Literal["already reconciled"] = "already reconciled"
_POLICY_FIELDS = ("image_kind", "retention", "trigger")


@dataclass(frozen=True)
class FailedExecution:
    """A failed pipeline execution, as Step Functions describes it."""

    execution_arn: str
    stopped_at: datetime
    error: str | None
    cause: str | None
    input: str | None


class RunHistory(Protocol):
    """Where reconcile finds failed runs, and keeps track of those it finished."""

    def failed_since(self, since: datetime) -> Iterable[str]:
        """The ARNs of the executions that failed at or after `since`."""
        ...

    def describe(self, execution_arn: str) -> FailedExecution:
        """One failed execution with its error, cause and input."""
        ...

    def is_reconciled(self, execution_arn: str) -> bool:
        """Whether a pass has finished the run."""
        ...

    def claim(self, execution_arn: str, now: datetime) -> bool:
        """Claim the run for this pass; False while another pass's claim is in
        force, and once the run is finished."""
        ...

    def release(self, execution_arn: str, now: datetime) -> None:
        """Give up this pass's claim, so that a later pass takes the run again."""
        ...

    def mark_reconciled(self, execution_arn: str, now: datetime) -> None:
        """Record that this pass finished the run it claimed."""
        ...

    def lock_holder(self, server_id: str, now: datetime) -> str | None:
        """The run id of the run whose lock on the server is in force at `now`."""
        ...


class UnfinishedRun(BaseModel):
    """What reconcile reads from a failed run's cause, or else from its input."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    server_id: str
    run_id: str
    server_name: str = ""
    trigger: Trigger = Field(default_factory=Trigger)
    job_id: str | None = None
    image_id: str | None = None
    image_ids: list[str] = Field(default_factory=list)
    image_kind: ImageKind = ImageKind.SYSTEM
    stopped_by_pipeline: bool = False
    retention: RetentionPolicy | None = None
    # The run's tags: data-disk images get them when the run is finalized.
    tags: dict[str, str] = Field(default_factory=dict)
    dropped_tags: list[dict[str, str]] = Field(default_factory=list)


class ReconciledRun(BaseModel):
    """A run a pass finished: its images made late, or recorded as failed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    execution_arn: str
    run_id: str
    server_id: str
    outcome: Literal["IMAGED", "FAILED"]
    image_ids: list[str] = Field(default_factory=list)
    server_restarted: bool = False
    deleted_image_ids: list[str] = Field(default_factory=list)
    reason: str | None = None
    events: list[dict[str, str]] = Field(default_factory=list)


class PendingRun(BaseModel):
    """A run left for a later pass, and why."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    execution_arn: str
    run_id: str
    server_id: str
    reason: str


class ReconcileError(BaseModel):
    """A run a pass could not look at or finish."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    execution_arn: str
    error: str
    message: str


class ReconcileReport(BaseModel):
    """What one pass found and did; `events` of its runs are for EventBridge."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    examined: int
    already_reconciled: int
    reconciled: list[ReconciledRun]
    pending: list[PendingRun]
    errors: list[ReconcileError]
    complete: bool

    def events(self) -> list[dict[str, str]]:
        """The EventBridge entries of every run the pass finished."""
        return [entry for run in self.reconciled for entry in run.events]


_Outcome = ReconciledRun | PendingRun | ReconcileError | Literal["already reconciled"] | None


@dataclass(frozen=True)
class ReconcileSettings:
    """Which state machine's runs to reconcile, and where the marks go."""

    state_machine_arn: str
    table_name: str


@dataclass(frozen=True)
class _Verdict:
    """Where a run's images stand, and whether its server may be started."""

    state: Literal["pending", "imaged", "failed"]
    reason: str
    images: list[Image]
    job: Job | None
    server: Server | None


def settings_from_environment() -> ReconcileSettings:
    """The state machine ARN and table name, from the function's environment."""
    return ReconcileSettings(
        state_machine_arn=_required(PIPELINE_STATE_MACHINE_ARN),
        table_name=_required(STATE_TABLE),
    )


def reconcile_runs(
    history: RunHistory,
    session: CloudSession | None = None,
    now: datetime | None = None,
    time_left: Callable[[], float] | None = None,
) -> ReconcileReport:
    """Finish the unfinished runs of the last days that no pass has finished yet."""
    session = session or CloudSession()
    now = now or clock.now()

    outcomes: list[_Outcome] = []
    complete = True
    for execution_arn in history.failed_since(now - LOOKBACK):
        if time_left is not None and time_left() < RESERVE_SECONDS:
            complete = False
            break
        outcomes.append(_try_reconcile(history, session, execution_arn, now))

    return ReconcileReport(
        examined=len(outcomes),
        already_reconciled=outcomes.count(_ALREADY_RECONCILED),
        reconciled=[o for o in outcomes if isinstance(o, ReconciledRun)],
        pending=[o for o in outcomes if isinstance(o, PendingRun)],
        errors=[o for o in outcomes if isinstance(o, ReconcileError)],
        complete=complete,
    )


def unfinished_run(execution: FailedExecution) -> UnfinishedRun | None:
    """The run reconcile may finish, or None for a failure it has nothing to do with."""
    cause = _json_object(execution.cause)
    if execution.error != TIMED_OUT and cause.get("reconcile") is not True:
        return None
    # A Handle failure cause leaves out the policy that the input still holds.
    given = _json_object(execution.input)
    policy = {key: given[key] for key in _POLICY_FIELDS if key in given}

    return UnfinishedRun.model_validate({**policy, **cause})


class StepFunctionsHistory:
    """RunHistory over boto3 Step Functions and DynamoDB clients (or look-alikes).

    One instance is one pass: its claims carry the pass's own id.
    """

    def __init__(
        self,
        stepfunctions: Any,
        dynamodb: Any,
        state_machine_arn: str,
        table_name: str,
        pass_id: str | None = None,
    ) -> None:
        self._stepfunctions = stepfunctions
        self._dynamodb = dynamodb
        self._state_machine_arn = state_machine_arn
        self._table_name = table_name
        self._pass_id = pass_id or uuid.uuid4().hex

    def failed_since(self, since: datetime) -> Iterator[str]:
        """The ARNs of the executions that failed at or after `since`, newest first."""
        request: dict[str, Any] = {
            "stateMachineArn": self._state_machine_arn,
            "statusFilter": "FAILED",
            "maxResults": PAGE_SIZE,
        }
        for _ in range(MAX_PAGES):
            page = self._stepfunctions.list_executions(**request)
            for summary in page.get("executions", []):
                # Newest start first: earlier ones ended before `since`.
                if summary["startDate"] < since - LONGEST_RUN:
                    return
                stopped = summary.get("stopDate")
                if stopped is not None and stopped >= since:
                    yield str(summary["executionArn"])
            if not page.get("nextToken"):
                return
            request["nextToken"] = page["nextToken"]
        logger.debug("Failed executions left unlisted", extra={"pages": MAX_PAGES})

    def describe(self, execution_arn: str) -> FailedExecution:
        """One failed execution with its error, cause and input."""
        answer = self._stepfunctions.describe_execution(executionArn=execution_arn)

        return FailedExecution(
            execution_arn=execution_arn,
            stopped_at=answer["stopDate"],
            error=answer.get("error"),
            cause=answer.get("cause"),
            input=answer.get("input"),
        )

    def is_reconciled(self, execution_arn: str) -> bool:
        """Whether the run's mark says finished (marks of before claims do too)."""
        item = self._get_item(_mark_key(execution_arn))
        if item is None:
            return False

        state = item.get("reconcile_state", {}).get("S", FINISHED)

        return bool(state == FINISHED)

    def claim(self, execution_arn: str, now: datetime) -> bool:
        """Put the run's claim unless the run is finished or claimed by a pass
        whose claim is in force; False then."""
        return self._put_mark(
            execution_arn,
            now,
            CLAIMED,
            claim_ends=now + CLAIM_LIFETIME,
            condition="attribute_not_exists(id) OR "
            "(reconcile_state = :claimed AND claim_expires < :now)",
            values={":claimed": {"S": CLAIMED}, ":now": _epoch(now)},
        )

    def release(self, execution_arn: str, now: datetime) -> None:
        """Let the claim of this pass lapse at once, if it still holds it."""
        self._put_mark(
            execution_arn,
            now,
            CLAIMED,
            condition="claimed_by = :pass AND reconcile_state = :claimed",
            values={":pass": {"S": self._pass_id}, ":claimed": {"S": CLAIMED}},
        )

    def mark_reconciled(self, execution_arn: str, now: datetime) -> None:
        """Turn the claim of this pass into the run's finished mark."""
        self._put_mark(
            execution_arn,
            now,
            FINISHED,
            condition="claimed_by = :pass",
            values={":pass": {"S": self._pass_id}},
        )

    def lock_holder(self, server_id: str, now: datetime) -> str | None:
        """The run holding the server's lock (see the pipeline's ASL), if in force."""
        item = self._get_item(f"lock#{server_id}") or {}
        expires_at = item.get("expires_at", {}).get("S")
        if expires_at is None or clock.parse_timestamp(expires_at) <= now:
            return None

        return str(item.get("run_id", {}).get("S", ""))

    def _put_mark(
        self,
        execution_arn: str,
        now: datetime,
        state: str,
        *,
        condition: str,
        values: dict[str, dict[str, str]],
        claim_ends: datetime | None = None,
    ) -> bool:
        # PutItem only (the function may not update or delete items): each write
        # replaces the whole mark, on condition of what it replaces.
        item = {
            "id": {"S": _mark_key(execution_arn)},
            "reconcile_state": {"S": state},
            "claimed_by": {"S": self._pass_id},
            # A released claim ended at the epoch: any pass may take the run.
            "claim_expires": _epoch(claim_ends) if claim_ends is not None else {"N": "0"},
            "expiration": _epoch(now + MARK_LIFETIME),
        }
        try:
            self._dynamodb.put_item(
                TableName=self._table_name,
                Item=item,
                ConditionExpression=condition,
                ExpressionAttributeValues=values,
            )
        except self._dynamodb.exceptions.ConditionalCheckFailedException:
            logger.debug("Mark not written", extra={"execution_arn": execution_arn})
            return False

        return True

    def _get_item(self, key: str) -> dict[str, Any] | None:
        answer = self._dynamodb.get_item(
            TableName=self._table_name, Key={"id": {"S": key}}, ConsistentRead=True
        )
        item: dict[str, Any] | None = answer.get("Item")

        return item


def _try_reconcile(
    history: RunHistory, session: CloudSession, execution_arn: str, now: datetime
) -> _Outcome:
    if history.is_reconciled(execution_arn):
        return _ALREADY_RECONCILED
    try:
        return _reconcile_run(history, session, execution_arn, now)
    except (EcsImagingError, ValidationError) as exc:
        # One run's trouble must not hold up the others.
        logger.debug("Run not reconciled", extra={"execution_arn": execution_arn})
        return ReconcileError(
            execution_arn=execution_arn, error=type(exc).__name__, message=str(exc)[:1000]
        )


def _reconcile_run(
    history: RunHistory, session: CloudSession, execution_arn: str, now: datetime
) -> _Outcome:
    execution = history.describe(execution_arn)
    run = unfinished_run(execution)
    if run is None:
        return None

    verdict = _judge(history, session, run, execution, now)
    if verdict.state == "pending":
        logger.debug("Run left for later", extra={"run_id": run.run_id})
        return _pending(execution_arn, run, verdict.reason)
    if not history.claim(execution_arn, now):
        if history.is_reconciled(execution_arn):
            return _ALREADY_RECONCILED
        return _pending(execution_arn, run, "another pass is reconciling the run")

    try:
        reconciled = _finish(session, run, execution, verdict, now)
    except Exception:
        # Not marked finished: a later pass acts again, and each action repeats safely.
        history.release(execution_arn, now)
        raise
    history.mark_reconciled(execution_arn, now)

    return reconciled


def _pending(execution_arn: str, run: UnfinishedRun, reason: str) -> PendingRun:
    return PendingRun(
        execution_arn=execution_arn, run_id=run.run_id, server_id=run.server_id, reason=reason
    )


def _judge(
    history: RunHistory,
    session: CloudSession,
    run: UnfinishedRun,
    execution: FailedExecution,
    now: datetime,
) -> _Verdict:
    """Read-only: what a pass would do with the run now."""
    job = _show_job(session, run.job_id) if run.job_id else None
    state, reason, images = _judge_images(session, run, job, now - execution.stopped_at)
    if state == "pending":
        return _Verdict(state, reason, images, job, None)

    server = _show_server(session, run.server_id)
    if server is not None and _stopped_by(run, server) and server.is_powering_off:
        return _Verdict("pending", "the run's stop is still under way", images, job, server)
    # The IMS docs say not to start a server while an image of it is being made.
    if server is not None and _stopped_by(run, server) and server.is_stopped:
        if history.lock_holder(run.server_id, now) not in (None, run.run_id):
            return _Verdict("pending", "another run holds the server", images, job, server)
        if _server_images_in_progress(session, run.server_id):
            reason = "another image of the server is being made"
            return _Verdict("pending", reason, images, job, server)

    return _Verdict(state, reason, images, job, server)


def _judge_images(
    session: CloudSession, run: UnfinishedRun, job: Job | None, since_stop: timedelta
) -> tuple[Literal["pending", "imaged", "failed"], str, list[Image]]:
    if job is not None and job.status in (JobStatus.INIT, JobStatus.RUNNING):
        return "pending", f"image job {job.job_id} is {job.status.value}", []
    if job is not None and job.status is JobStatus.FAIL:
        return "failed", f"image job {job.job_id} failed", []

    # Without a job naming them (an unknown create, a data-disk job without
    # sub-job results), the run's images are those with its tag.
    expected = _expected_image_ids(run, job)
    if expected:
        shown = [_show_image(session, image_id) for image_id in expected]
        found = [image for image in shown if image is not None]
    else:
        found = ims.list_images(session, tag=(naming.RUN_TAG, run.run_id))
    statuses = {image.status for image in found}

    if len(found) < len(expected) or statuses & _LOST:
        return "failed", "the run's image is gone or was killed", found
    if not found and since_stop < UNSEEN_GRACE:
        return "pending", "no image of the run shows yet", found
    if not found:
        return "failed", "the run made no image", found
    if statuses != {"active"}:
        return "pending", "the run's image is still being made", found

    return "imaged", "the image job finished after the run ended", found


def _finish(
    session: CloudSession,
    run: UnfinishedRun,
    execution: FailedExecution,
    verdict: _Verdict,
    now: datetime,
) -> ReconciledRun:
    """Act on a claimed run: finalize or record its images, then start its server."""
    if verdict.state == "imaged" and run.image_kind is ImageKind.DATA_DISKS:
        # Data-disk images get the run's other tags when it is finalized, which
        # this is; a cause without tags still gives them the pipeline's own.
        tags = {**naming.pipeline_tags(run.run_id, run.server_id), **run.tags}
        for image in verdict.images:
            ims.add_image_tags(session, image.id, tags)
    restarted = _start_if_stopped(session, run, verdict.server)

    deleted: list[retention.Deletion] = []
    if verdict.state == "imaged" and run.retention is not None:
        protect = frozenset(image.id for image in verdict.images)
        deleted = retention.apply(session, run.retention, run.server_id, now, protect)
    logger.debug("Run reconciled", extra={"run_id": run.run_id})
    events = _build_events(run, execution, verdict, restarted, deleted)

    return ReconciledRun(
        execution_arn=execution.execution_arn,
        run_id=run.run_id,
        server_id=run.server_id,
        outcome="IMAGED" if verdict.state == "imaged" else "FAILED",
        image_ids=[image.id for image in verdict.images],
        server_restarted=restarted,
        deleted_image_ids=[d.image_id for d in deleted if d.deleted],
        reason=verdict.reason,
        events=events,
    )


def _build_events(
    run: UnfinishedRun,
    execution: FailedExecution,
    verdict: _Verdict,
    restarted: bool,
    deleted: list[retention.Deletion],
) -> list[dict[str, str]]:
    common = {
        "server_id": run.server_id,
        "server_name": run.server_name or (verdict.server.name if verdict.server else ""),
        "run_id": run.run_id,
        "execution_id": execution.execution_arn,
        "trigger": run.trigger.model_dump(mode="json"),
    }
    job = verdict.job
    if verdict.state == "failed":
        failed = {
            **common,
            "error": "ImageJobFailed",
            "run_error": execution.error,
            "job_id": run.job_id,
            "image_id": run.image_id,
            "error_code": job.error_code if job else None,
            "fail_reason": (job.fail_reason if job else None) or verdict.reason,
            "stopped_by_pipeline": run.stopped_by_pipeline,
            "server_restarted": restarted,
            "late": True,
        }
        return [_entry("Image Failed", failed)]

    images = verdict.images
    created = {
        **common,
        "image_kind": run.image_kind.value,
        "image_id": images[0].id,
        "image_ids": [image.id for image in images],
        "image_name": images[0].name,
        "job_id": run.job_id,
        "server_restarted": restarted,
        "dropped_tags": run.dropped_tags,
        "deleted_image_ids": [d.image_id for d in deleted if d.deleted],
        "late": True,
    }
    removed = [d for d in deleted if d.deleted][: notifications.MAX_DELETION_ENTRIES]

    return [
        _entry("Image Created", created),
        *(_entry("Image Deleted", {**common, **d._asdict(), "late": True}) for d in removed),
    ]


def _entry(detail_type: str, detail: dict[str, Any]) -> dict[str, str]:
    return {
        "Source": notifications.SOURCE,
        "DetailType": detail_type,
        "Detail": json.dumps(detail, separators=(",", ":"), default=str),
        "EventBusName": config.get_settings().event_bus_name,
    }


def _stopped_by(run: UnfinishedRun, server: Server) -> bool:
    # The mark covers a run that failed after asking for the stop, before it knew.
    return run.stopped_by_pipeline or ecs.stopped_by(server) == run.run_id


def _start_if_stopped(session: CloudSession, run: UnfinishedRun, server: Server | None) -> bool:
    if server is None or not _stopped_by(run, server):
        return False
    started = server.is_stopped
    if started:
        ecs.start_server(session, run.server_id)
    ecs.clear_stop_mark(session, server, run.run_id)

    return started


def _server_images_in_progress(session: CloudSession, server_id: str) -> bool:
    images = ims.list_images(session, tag=(naming.SERVER_TAG, server_id))

    return any(image.status in _IN_PROGRESS for image in images)


def _expected_image_ids(run: UnfinishedRun, job: Job | None) -> list[str]:
    made: list[str] = []
    if job is not None:
        made = job.entities.data_image_ids or [job.entities.image_id or ""]
    made = [image_id for image_id in made if image_id]

    return made or list(run.image_ids) or ([run.image_id] if run.image_id else [])


def _show_job(session: CloudSession, job_id: str) -> Job | None:
    try:
        return ims.show_job(session, job_id)
    except ResourceNotFound:
        # IMS keeps job records for a limited time; the images still tell.
        return None


def _show_image(session: CloudSession, image_id: str) -> Image | None:
    try:
        return ims.show_image(session, image_id)
    except ResourceNotFound:
        return None


def _show_server(session: CloudSession, server_id: str) -> Server | None:
    try:
        return ecs.show_server(session, server_id)
    except ResourceNotFound:
        return None


def _mark_key(execution_arn: str) -> str:
    return f"reconciled#{execution_arn}"


def _epoch(moment: datetime) -> dict[str, str]:
    return {"N": str(int(moment.timestamp()))}


def _json_object(text: str | None) -> dict[str, Any]:
    try:
        parsed = json.loads(text or "")
    except ValueError:
        return {}

    return parsed if isinstance(parsed, dict) else {}


def _required(name: str) -> str:
    value = config.read(name)
    if not value:
        raise ConfigurationError(f"Set {name}: reconcile cannot run without it.")

    return value
