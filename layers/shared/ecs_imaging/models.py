"""pydantic models: the pipeline's input contract, its state, and the API bodies used."""

# No `from __future__ import annotations` here: pydantic would compile and evaluate
# every field's annotation from a string as each class is made, a tenth of what
# importing this module costs (docs/benchmarks.md).

import re
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    ValidationError,
    model_validator,
)

from .errors import InvalidInput, UnexpectedResponse

UUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"

# IMS image name rules (reference 2.10): 1-128 characters of letters, digits, "-",
# ".", "_" and space, neither starting nor ending with a space.
IMAGE_NAME_PATTERN = r"^[A-Za-z0-9._-](?:[A-Za-z0-9._ -]{0,126}[A-Za-z0-9._-])?$"
MAX_TAGS_PER_IMAGE = 10
TAG_KEY_MAX = 36
TAG_VALUE_MAX = 43
# The old "key.value" tag format (data-disk images take no other at creation)
# allows only letters, digits, "_" and "-" on either side of the dot (reference 2.10).
OLD_TAG_PART_PATTERN = r"^[A-Za-z0-9_-]*$"
# The pipeline's own tags on every image it makes, see `naming.pipeline_tags`.
RESERVED_TAG_PREFIX = "ecs-imaging-"
PIPELINE_TAG_COUNT = 2
USER_TAG_BUDGET = MAX_TAGS_PER_IMAGE - PIPELINE_TAG_COUNT


def _check_description(value: str) -> str:
    # NOTE: the docs forbid carriage returns; IMS is taken to refuse any line break
    # (IMG.0054), so a newline fails here rather than after the server is stopped.
    bad = sorted({c for c in value if c in "\r\n<>"})
    if bad:
        raise ValueError(f"must not contain {', '.join(map(repr, bad))}")

    return value


def _check_tag(raw_key: str, raw_value: str) -> tuple[str, str]:
    # IMS trims leading and trailing spaces of keys and values.
    key, value = raw_key.strip(), raw_value.strip()
    if not 1 <= len(key) <= TAG_KEY_MAX:
        raise ValueError(f"key {raw_key!r} must be 1 to {TAG_KEY_MAX} characters")
    if len(value) > TAG_VALUE_MAX:
        raise ValueError(f"value of {key!r} is longer than {TAG_VALUE_MAX} characters")

    return key, value


def _check_tags(tags: dict[str, str]) -> dict[str, str]:
    checked = _check_unique(tags)
    reserved = sorted(key for key in checked if key.lower().startswith(RESERVED_TAG_PREFIX))
    if reserved:
        raise ValueError(f"key {reserved[0]!r} uses the prefix reserved for the pipeline")
    if len(checked) > USER_TAG_BUDGET:
        raise ValueError(
            f"has {len(checked)} tags; at most {USER_TAG_BUDGET} fit beside the "
            f"pipeline's own {PIPELINE_TAG_COUNT}"
        )

    return checked


def _check_unique(tags: dict[str, str]) -> dict[str, str]:
    checked: dict[str, str] = {}
    for raw_key, raw_value in tags.items():
        key, value = _check_tag(raw_key, raw_value)
        if key in checked:
            raise ValueError(f"key {raw_key!r} is {key!r} once trimmed, which is given twice")
        checked[key] = value

    return checked


def _check_enterprise_project(value: str) -> str:
    # "0" and "" both mean the default enterprise project (reference 2.1).
    if value in ("0", "") or re.fullmatch(UUID_PATTERN, value):
        return value

    raise ValueError("must be '0', '' or a UUID")


def _check_image_tags(tags: dict[str, str]) -> dict[str, str]:
    checked = _check_unique(tags)
    if len(checked) > MAX_TAGS_PER_IMAGE:
        raise ValueError(f"has {len(checked)} tags; IMS allows {MAX_TAGS_PER_IMAGE} per image")

    return checked


# ECS ids are lower case; an upper-case copy is the same server.
ServerId = Annotated[str, Field(pattern=UUID_PATTERN), AfterValidator(str.lower)]
Count = Annotated[int, Strict()]
ImageName = Annotated[str, Field(pattern=IMAGE_NAME_PATTERN, max_length=128)]
Description = Annotated[str, Field(max_length=1024), AfterValidator(_check_description)]
Tags = Annotated[dict[str, str], AfterValidator(_check_tags)]
ImageTags = Annotated[dict[str, str], AfterValidator(_check_image_tags)]
Megabytes = Annotated[int, Strict(), Field(ge=0)]
EnterpriseProjectId = Annotated[str, Strict(), AfterValidator(_check_enterprise_project)]


class StopPolicy(StrEnum):
    """What to do with a server that is running when its run starts."""

    STOP_AND_RESTART = "stop-and-restart"
    REQUIRE_STOPPED = "require-stopped"
    ALLOW_RUNNING = "allow-running"


class ImageKind(StrEnum):
    """Which disks an image holds."""

    SYSTEM = "system"
    WHOLE = "whole"
    DATA_DISKS = "data-disks"


NAME_VARIABLES = ("server_name", "server_id", "date", "time", "trigger")
DEFAULT_NAME_TEMPLATE = "{server_name}-{date}-{time}"
_TEMPLATE_FIELD = re.compile(r"\{([^{}]*)\}")


def _check_template(template: str) -> str:
    unknown = sorted(set(_TEMPLATE_FIELD.findall(template)) - set(NAME_VARIABLES))
    if unknown:
        known = ", ".join("{" + name + "}" for name in NAME_VARIABLES)
        raise ValueError(f"uses unknown variable {{{unknown[0]}}}; known are {known}")

    return template


NameTemplate = Annotated[str, Field(min_length=1, max_length=256), AfterValidator(_check_template)]


class RetentionPolicy(BaseModel):
    """Which earlier images of the same server to delete after a new one is made.

    An image is kept while it is one of the newest `keep_last` or younger than
    `max_age_days`; with both set it must fail both to go. Images tagged with
    `keep_tag_key`, and images the pipeline did not make for this server, are
    never touched.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    keep_last: Count | None = Field(default=None, ge=1, le=1000)
    max_age_days: Count | None = Field(default=None, ge=1, le=36500)
    keep_tag_key: str = Field(default="ecs-imaging-keep", min_length=1, max_length=TAG_KEY_MAX)
    delete_backup: bool = Field(
        default=True, description="Delete a whole image's CBR backup with it."
    )

    @model_validator(mode="after")
    def _check_some_rule(self) -> "RetentionPolicy":
        if self.keep_last is None and self.max_age_days is None:
            raise ValueError("needs keep_last, max_age_days or both")

        return self


class ExportPolicy(BaseModel):
    """Where to export the image in OBS once it is made."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    bucket: str = Field(pattern=r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
    object_name: NameTemplate = Field(default="{server_name}-{date}-{time}")
    file_format: Literal["qcow2", "vhd", "zvhd", "vmdk"] | None = Field(
        default="qcow2", description="null asks for a quick export (ZVHD2)."
    )


class Trigger(BaseModel):
    """What started a run, for traceability."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    kind: Literal["event", "schedule", "direct"] = "direct"
    id: str = Field(default="", max_length=256)


class PipelineInput(BaseModel):
    """The public input contract of the per-server pipeline."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    server_id: ServerId = Field(description="The ECS server to image (a UUID).")
    image_name: ImageName | None = Field(
        default=None, description="A literal name for the image; wins over name_template."
    )
    name_template: NameTemplate = Field(
        default=DEFAULT_NAME_TEMPLATE,
        description="The image's name with variables {server_name}, {server_id}, {date}, "
        "{time} and {trigger}, reduced to what IMS accepts.",
    )
    image_kind: ImageKind = Field(
        default=ImageKind.SYSTEM,
        description="system: the system disk; whole: every disk through a CBR backup; "
        "data-disks: one image per data disk.",
    )
    vault_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=64,
        description="The CBR vault for a whole image of a server backed up by CBR.",
    )
    description: Description = Field(
        default="", description="The image's description (no CR, `<` or `>`)."
    )
    tags: Tags = Field(
        default_factory=dict,
        max_length=USER_TAG_BUDGET,
        description="Tags for the image, key (1-36) to value (0-43 characters); values "
        "may use the name variables.",
    )
    copy_server_tags: bool = Field(
        default=False, description="Copy the server's tags to the image, as budget allows."
    )
    server_tags_include: list[Annotated[str, Field(min_length=1, max_length=127)]] = Field(
        default_factory=list, max_length=50, description="Copy only these server tag keys."
    )
    server_tags_exclude: list[Annotated[str, Field(min_length=1, max_length=127)]] = Field(
        default_factory=list, max_length=50, description="Never copy these server tag keys."
    )
    retention: RetentionPolicy | None = Field(
        default=None, description="Delete earlier images of this server after success."
    )
    export: ExportPolicy | None = Field(
        default=None, description="Export the image to OBS after success."
    )
    stop_policy: StopPolicy = Field(
        default=StopPolicy.STOP_AND_RESTART,
        description="What to do with a running server.",
    )
    deadline_minutes: Count | None = Field(
        default=None,
        ge=1,
        le=24 * 60,
        description="Minutes until the run gives up waiting (default: the deployment's).",
    )
    min_wait_seconds: Count | None = Field(
        default=None, ge=1, le=3600, description="Shortest wait between two checks."
    )
    max_wait_seconds: Count | None = Field(
        default=None, ge=1, le=3600, description="Longest wait between two checks."
    )
    trigger: Trigger = Field(
        default_factory=Trigger, description="What started the run, for traceability."
    )

    @model_validator(mode="after")
    def _check_combinations(self) -> "PipelineInput":
        low, high = self.min_wait_seconds, self.max_wait_seconds
        if low is not None and high is not None and low > high:
            raise ValueError(f"min_wait_seconds {low!r} is above max_wait_seconds {high!r}")
        if self.export is not None and self.image_kind is not ImageKind.SYSTEM:
            # IMS cannot export full-ECS images; one export per data disk is not offered.
            raise ValueError(
                f"export is only possible for system images, not {self.image_kind.value!r}"
            )
        if self.vault_id is not None and self.image_kind is not ImageKind.WHOLE:
            raise ValueError(f"vault_id applies to whole images, not {self.image_kind.value!r}")

        return self


class RunAction(StrEnum):
    """What the run does after preparing the server."""

    STOP = "stop"
    CREATE = "create"
    SKIP = "skip"


class DataDisk(BaseModel):
    """A data disk a data-disk run images, and the name its image gets."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    volume_id: str
    image_name: str


class RunContext(BaseModel):
    """The facts and decisions of one run, fixed when it starts ($.run)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    run_id: str
    execution_id: str
    server_id: str
    server_name: str
    image_kind: ImageKind = ImageKind.SYSTEM
    image_name: str
    vault_id: str | None = None
    data_disks: list[DataDisk] = Field(default_factory=list)
    description: str
    tags: dict[str, str]
    dropped_tags: list[dict[str, str]] = Field(default_factory=list)
    retention: RetentionPolicy | None = None
    export: ExportPolicy | None = None
    export_object: str | None = None
    stop_policy: StopPolicy
    trigger: Trigger
    started_at: str
    deadline: str
    lock_expires_at: str
    lock_expiration: str
    min_wait_seconds: int
    max_wait_seconds: int
    action: RunAction
    stopped_by_pipeline: bool
    skip_reason: str | None = None


class ServerCheck(BaseModel):
    """Where the server's power state stands ($.server)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    status: str
    task_state: str | None = None
    stopped: bool
    stop_job_id: str | None = None
    stop_requested_at: str | None = None
    hard_stop: bool = False
    checked_at: str
    wait_seconds: int


class JobStatus(StrEnum):
    """The documented states of an asynchronous job."""

    INIT = "INIT"
    RUNNING = "RUNNING"
    SUCCESS = "SUCCESS"
    FAIL = "FAIL"


class JobCheck(BaseModel):
    """Where the image job stands ($.job)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    job_id: str | None
    image_id: str | None = None
    image_ids: list[str] = Field(default_factory=list)
    status: JobStatus
    adopted: bool = False
    polls: int = 0
    progress: float | None = None
    # Seconds after the job began at which IMS reported `progress`.
    progress_elapsed: float | None = None
    # How long the server's earlier images took, newest first: the first wait.
    history_seconds: list[int] = Field(default_factory=list)
    error_code: str | None = None
    fail_reason: str | None = None
    created_at: str
    checked_at: str
    wait_seconds: int


class ExportCheck(BaseModel):
    """Where the export of the image to OBS stands ($.outcome.export)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    job_id: str
    bucket_url: str
    status: JobStatus
    checked_at: str
    deadline: str
    wait_seconds: int
    error_code: str | None = None
    fail_reason: str | None = None


class RestartCheck(BaseModel):
    """Where the start of the server the run stopped stands ($.outcome.restart)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    # None when the answer to the start was lost: the server's state tells.
    job_id: str | None
    status: JobStatus
    attempts: int
    started_at: str
    checked_at: str
    wait_seconds: int
    error_code: str | None = None
    fail_reason: str | None = None


class RunOutcome(BaseModel):
    """What a successful run made ($.outcome)."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    outcome: Literal["IMAGED", "SKIPPED"]
    server_id: str
    image_kind: ImageKind = ImageKind.SYSTEM
    image_id: str | None = None
    image_ids: list[str] = Field(default_factory=list)
    image_name: str | None = None
    job_id: str | None = None
    polls: int = 0
    server_restarted: bool = False
    reason: str | None = None
    dropped_tags: list[dict[str, str]] = Field(default_factory=list)
    deleted_images: list[dict[str, Any]] = Field(default_factory=list)
    export: ExportCheck | None = None
    restart: RestartCheck | None = None
    events: list[dict[str, str]] = Field(
        default_factory=list, description="EventBridge entries the run announces."
    )


class FailureRecord(BaseModel):
    """The error a failed run ends with ($.failure): a stable name and a JSON cause."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    error: str
    cause: str
    events: list[dict[str, str]] = Field(default_factory=list)


# --- cloud API bodies (only the fields used) ------------------------------------


class _ApiModel(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True, defer_build=True)


class AttachedVolume(_ApiModel):
    """A disk attached to a server; boot index 0 is the system disk."""

    id: str
    boot_index: str | None = Field(default=None, alias="bootIndex")
    device: str | None = None

    @property
    def is_system_disk(self) -> bool:
        """True for the disk the server boots from."""
        return self.boot_index == "0"


class Server(_ApiModel):
    """An ECS server as `GET /v1/{project_id}/cloudservers/{id}` shows it."""

    id: str
    name: str
    status: str
    task_state: str | None = Field(default=None, alias="OS-EXT-STS:task_state")
    tags: list[str] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    volumes: list[AttachedVolume] = Field(
        default_factory=list, alias="os-extended-volumes:volumes_attached"
    )

    @property
    def data_volumes(self) -> list[AttachedVolume]:
        """The attached disks other than the system disk."""
        return [volume for volume in self.volumes if not volume.is_system_disk]

    @property
    def tag_map(self) -> dict[str, str]:
        """The server's `key=value` tags as a mapping."""
        return dict(_split_tag(tag) for tag in self.tags)

    @property
    def is_stopped(self) -> bool:
        """Stopped and settled: SHUTOFF with no task in progress."""
        return self.status == "SHUTOFF" and not self.task_state

    @property
    def is_powering_off(self) -> bool:
        """A stop under way: still ACTIVE, not yet SHUTOFF."""
        return self.task_state == "powering-off"

    @property
    def is_running(self) -> bool:
        """Running and settled: ACTIVE with no task in progress."""
        return self.status == "ACTIVE" and not self.task_state


class SubJobEntities(_ApiModel):
    """What one sub-job of a data-disk image job made."""

    image_id: str | None = None
    image_name: str | None = None


class SubJob(_ApiModel):
    """One sub-job of an image job (one per data-disk image)."""

    status: JobStatus | None = None
    job_id: str | None = None
    error_code: str | None = None
    fail_reason: str | None = None
    entities: SubJobEntities = Field(default_factory=SubJobEntities)


class JobEntities(_ApiModel):
    """The parts of a job's `entities` used: the images made, and progress."""

    image_id: str | None = None
    image_name: str | None = None
    process_percent: float | None = None
    sub_jobs_result: list[SubJob] = Field(default_factory=list)
    # ECS batch jobs (stop, start) keep their per-server outcome here.
    sub_jobs: list[SubJob] = Field(default_factory=list)
    # Huawei Cloud reports data-disk images here instead of in the sub-jobs.
    data_images: list[SubJobEntities] = Field(default_factory=list, alias="__data_images")

    @property
    def data_image_ids(self) -> list[str]:
        """The ids of the data-disk images a job made, wherever the cloud put them."""
        found = [sub.entities.image_id for sub in self.sub_jobs_result]
        found += [image.image_id for image in self.data_images]

        return list(dict.fromkeys(image_id for image_id in found if image_id))


class Job(_ApiModel):
    """An asynchronous ECS or IMS job."""

    job_id: str
    status: JobStatus
    job_type: str | None = None
    begin_time: str | None = None
    end_time: str | None = None
    error_code: str | None = None
    fail_reason: str | None = None
    entities: JobEntities = Field(default_factory=JobEntities)

    @property
    def failure(self) -> str:
        """Why the job failed, in words: its code and reason, or a note that it gave none."""
        return " ".join(word for word in self.failed_with if word) or "no reason given"

    @property
    def failed_with(self) -> tuple[str | None, str | None]:
        """The code and reason of the job's failure, or of its first failed sub-job's."""
        failed = [
            sub
            for sub in [*self.entities.sub_jobs, *self.entities.sub_jobs_result]
            if sub.status is JobStatus.FAIL and (sub.error_code or sub.fail_reason)
        ]
        source: Job | SubJob = (
            self if (self.error_code or self.fail_reason) or not failed else failed[0]
        )

        return source.error_code, source.fail_reason


class Image(_ApiModel):
    """A private IMS image."""

    id: str
    name: str
    status: str
    tags: list[str] = Field(default_factory=list)
    created_at: str | None = None
    updated_at: str | None = None
    # When the image became usable; not every cloud shows it (updated_at then).
    active_at: str | None = None
    virtual_env_type: str | None = None
    whole_image: bool | str | None = Field(default=None, alias="__whole_image")
    backup_id: str | None = Field(default=None, alias="__backup_id")
    protected: bool = False

    @property
    def tag_map(self) -> dict[str, str]:
        """The image's `key=value` tags as a mapping."""
        return dict(_split_tag(tag) for tag in self.tags)

    @property
    def is_whole_image(self) -> bool:
        """True for a full-ECS image (backed by a CBR or CSBS backup)."""
        return str(self.whole_image).lower() == "true"


class ImageQuota(_ApiModel):
    """The private image quota of the project."""

    used: int
    quota: int

    @property
    def remaining(self) -> int:
        """How many more private images fit."""
        return max(self.quota - self.used, 0)


class ImageSpec(BaseModel):
    """What IMS is asked to make; checked before any call with the documented rules."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    name: ImageName
    description: Description = ""
    tags: ImageTags = Field(default_factory=dict)
    max_ram: Megabytes | None = None
    # 0: no lower limit.
    min_ram: Megabytes = 0
    enterprise_project_id: EnterpriseProjectId | None = None


class ImageTagSet(BaseModel):
    """Tags for one image, checked with the documented rules."""

    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    tags: ImageTags


def _split_tag(tag: str) -> tuple[str, str]:
    key, _, value = tag.partition("=")

    return key, value


# --- validation errors ----------------------------------------------------------

M = TypeVar("M", bound=BaseModel)
MAX_REPORTED_ERRORS = 10

_PATTERN_RULES = {
    UUID_PATTERN: "must be a UUID such as 3c9a1f6e-5d2b-4c8e-9f7a-1b2c3d4e5f60",
    IMAGE_NAME_PATTERN: (
        "must be 1 to 128 letters, digits, '-', '.', '_' or spaces, "
        "not starting or ending with a space"
    ),
}


def parse_model(model: type[M], data: Any, what: str) -> M:
    """Validate `data` as `model`, or raise InvalidInput naming each field and value."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(f"Invalid {what}: {describe_errors(exc)}") from None


def parse_api(model: type[M], data: Any, what: str) -> M:
    """Validate a cloud answer; a body unlike the documented one is UnexpectedResponse."""
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise UnexpectedResponse(
            f"The cloud answered an unexpected {what}: {describe_errors(exc)}"
        ) from None


def describe_errors(exc: ValidationError) -> str:
    """One plain sentence per problem: the field, what is wrong, and the value given."""
    problems = []
    errors = exc.errors(include_url=False)
    for error in errors[:MAX_REPORTED_ERRORS]:
        field = _short(".".join(str(part) for part in error["loc"]) or "(input)")
        message = re.sub(r"^Value error, ", "", error["msg"])
        value = _short_repr(error.get("input"))
        pattern = (error.get("ctx") or {}).get("pattern")
        if error["type"] == "string_pattern_mismatch" and pattern in _PATTERN_RULES:
            problems.append(f"{field} {_PATTERN_RULES[pattern]} (got {value})")
        elif not error["loc"] and error["type"] == "value_error":
            problems.append(message)
        elif error["type"] == "missing":
            problems.append(f"{field} is required")
        elif error["type"] == "extra_forbidden":
            problems.append(f"{field} is not a known field (value {value})")
        else:
            problems.append(f"{field}: {message} (got {value})")

    if len(errors) > MAX_REPORTED_ERRORS:
        problems.append(f"and {len(errors) - MAX_REPORTED_ERRORS} more problems")

    return "; ".join(problems)


def _short_repr(value: Any) -> str:
    return _short(repr(value))


def _short(text: str) -> str:
    # Error messages end up in a Step Functions cause, which holds 32 KB at most.
    return text if len(text) <= 80 else f"{text[:77]}..."
