"""The emulated cloud in memory: servers, images, jobs and tokens behind one lock.

Nothing runs in the background: every request first calls :meth:`State.settle`,
which applies the transitions whose time has come. Times are emulated seconds.
"""

from __future__ import annotations

import random
import threading
import uuid
from collections import Counter, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from .clock import Clock

REGION = "eu-de"
PROJECT_ID = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
DOMAIN_NAME = "OTC-EU-DE-00000000001000000001"
USER_NAME = "ecs-imaging"
INIT_SECONDS = 5.0
START_SECONDS = 10.0
SETTLED_STATUS = {"powering-off": "SHUTOFF", "powering-on": "ACTIVE"}
DATA_JOB = "imsVolumesToSysDataImagesJob"
EXPORT_JOB = "imsNativeExportImageJob"
ImageKind = Literal["system", "whole", "data"]
# The largest EVS disks: 1 TiB for a system disk, 32 TiB for a data disk. Sizes
# start at 1 GB, below the cloud's minimum, so that jobs finish fast.
MAX_SYSTEM_DISK_GB = 1024
MAX_DATA_DISK_GB = 32768


@dataclass(frozen=True)
class Credentials:
    """What a client needs to get a project-scoped token, or to sign with AK/SK."""

    domain_name: str
    user_name: str
    password: str = field(repr=False)
    project_name: str
    project_id: str
    access_key: str = ""
    secret_key: str = field(default="", repr=False)


@dataclass(frozen=True)
class ServerSpec:
    """A server the emulator starts with: status ACTIVE or SHUTOFF."""

    id: str
    name: str
    status: str
    system_disk_gb: int
    tags: tuple[str, ...] = ()
    data_disks_gb: tuple[int, ...] = ()
    # Set for a server in a CBR setup: its whole images need this vault.
    vault_id: str | None = None
    project_id: str = PROJECT_ID


SAMPLE_SERVERS = (
    ServerSpec(
        "3c9a1f6e-5d2b-4c8e-9f7a-1b2c3d4e5f60",
        "web-01",
        "SHUTOFF",
        15,
        ("auto-image=daily",),
    ),
    ServerSpec(
        "8f14e45f-ceea-467f-a0e6-1f2c3d4e5a61",
        "db-01",
        "ACTIVE",
        40,
        ("auto-image=daily", "tier=db"),
    ),
    ServerSpec("c9f0f895-fb98-4b91-99f5-1a2b3c4d5e62", "app-02", "ACTIVE", 10),
    ServerSpec(
        "45c48cce-2e2d-4fbd-a4a1-2b3c4d5e6f63",
        "build-03",
        "SHUTOFF",
        60,
        ("auto-image=weekly",),
    ),
    ServerSpec(
        "d3d94468-02a4-4e5f-8c1b-3c4d5e6f7a64",
        "files-04",
        "SHUTOFF",
        20,
        ("tier=files",),
        data_disks_gb=(20, 10),
    ),
    ServerSpec(
        "6512bd43-d9ca-4a6e-8d2f-4d5e6f7a8b65",
        "erp-05",
        "ACTIVE",
        20,
        ("tier=erp",),
        data_disks_gb=(10,),
        vault_id="a87ff679-a2f3-4e71-9181-5e6f7a8b9c66",
    ),
)


@dataclass(frozen=True)
class Fault:
    """How an IMS job misbehaves: it ends FAIL, stays RUNNING, or hides its sub-jobs."""

    kind: Literal["fail", "stick", "no_sub_jobs"]
    error_code: str | None = None
    fail_reason: str | None = None


@dataclass
class CallFault:
    """How the calls of one scope (an operation or a whole service) misbehave."""

    scope: str
    kind: Literal["throttle", "error", "reject", "slow", "drop"]
    # None: every matching call until the faults are cleared.
    remaining: int | None
    rate: float = 1.0
    status: int = 0
    code: str = ""
    message: str = ""
    retry_after: int | None = None
    seconds: float = 0.0


@dataclass(frozen=True)
class Volume:
    """An EVS disk attached to a server."""

    id: str
    size_gb: int


@dataclass
class Server:
    """An ECS server; ``task_state`` is set while it powers off or on."""

    id: str
    name: str
    status: str
    system_disk_gb: int
    tags: list[str]
    volume_id: str
    updated_at: float
    task_state: str | None = None
    settles_at: float | None = None
    data_volumes: list[Volume] = field(default_factory=list)
    vault_id: str | None = None
    project_id: str = PROJECT_ID
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass
class Image:
    """A private IMS image: a system-disk, full-ECS (whole) or data-disk image."""

    id: str
    name: str
    status: str
    tags: list[str]
    description: str
    min_disk: int
    min_ram: int
    max_ram: int | None
    enterprise_project_id: str
    created_at: float
    updated_at: float
    size: int = 0
    project_id: str = PROJECT_ID
    kind: ImageKind = "system"
    backup_id: str | None = None


@dataclass
class Backup:
    """The CBR or CSBS backup behind a whole image; it outlives the image if kept."""

    id: str
    image_id: str
    server_id: str
    vault_id: str | None
    deleted: bool = False


@dataclass(frozen=True)
class Export:
    """An image file in OBS, written by a finished export job."""

    image_id: str
    bucket: str
    object_name: str
    file_format: str


@dataclass
class ImageJob:
    """An IMS job: it fills images from a server, or exports one image."""

    id: str
    job_type: str
    image_ids: list[str]
    image_names: list[str]
    server_id: str | None
    begin: float
    duration: float
    project_id: str = PROJECT_ID
    fault: Fault | None = None
    status: str = "INIT"
    end: float | None = None
    sub_job_ids: list[str] = field(default_factory=list)
    export: Export | None = None

    @property
    def image_id(self) -> str:
        """The image the job fills or exports (the first one of a data-disk job)."""
        return self.image_ids[0]

    @property
    def image_name(self) -> str:
        """The name of :attr:`image_id`."""
        return self.image_names[0]


@dataclass(frozen=True)
class ServerJobFault:
    """How the next ECS stop or start job (or the next of ``action``) ends FAIL."""

    error_code: str
    fail_reason: str
    action: str | None = None


@dataclass(frozen=True)
class SubJob:
    """One server's part of an ECS batch job; it ``ends_at`` ``inf`` if it never ends."""

    id: str
    server_id: str
    ends_at: float


@dataclass
class ServerJob:
    """An ECS batch stop or start job; ``stop_type`` is SOFT or HARD for a stop."""

    id: str
    job_type: str
    begin: float
    sub_jobs: list[SubJob]
    project_id: str = PROJECT_ID
    stop_type: str | None = None
    fault: ServerJobFault | None = None


@dataclass
class Token:
    """What the emulator remembers about one issued token."""

    # Empty for a token scoped to the user's domain or to global services.
    project_id: str
    expires_at: float
    revoked: bool = False


@dataclass(frozen=True)
class AccessKey:
    """An AK/SK pair's secret side; temporary keys also carry a security token."""

    secret: str = field(repr=False)
    project_id: str
    security_token: str | None = field(default=None, repr=False)
    expires_at: float | None = None


@dataclass(frozen=True)
class Agency:
    """A delegation: users of our domain may act in ``project_id`` of another domain."""

    domain_name: str
    domain_id: str
    agency_name: str
    project_id: str
    project_name: str


class State:
    """Everything the emulated cloud holds; hold ``lock`` while using it."""

    def __init__(
        self,
        clock: Clock,
        seed: int | None,
        credentials: Credentials,
        operations: Iterable[str],
    ) -> None:
        self.lock = threading.RLock()
        self.clock = clock
        self.rng = random.Random(seed)
        # Faults draw from their own generator, so job durations stay as seeded.
        self.fault_rng = random.Random(seed)
        self.credentials = credentials
        self.endpoints: dict[str, str] = {}
        self.require_stopped = False
        self.image_quota = 20

        self.servers: dict[str, Server] = {}
        self.images: dict[str, Image] = {}
        self.image_jobs: dict[str, ImageJob] = {}
        self.server_jobs: dict[str, ServerJob] = {}
        self.backups: dict[str, Backup] = {}
        self.exports: list[Export] = []
        self.tokens: dict[str, Token] = {}
        self.access_keys: dict[str, AccessKey] = {}
        self.agencies: list[Agency] = []

        self.pending_faults: deque[Fault] = deque()
        self.server_job_faults: deque[ServerJobFault] = deque()
        self.call_faults: list[CallFault] = []
        # (server id, "delete" | "start"): done when an image job of the server starts.
        self.server_faults: list[tuple[str, str]] = []
        # Servers whose guest ignores a SOFT stop: it stays ACTIVE, a HARD stop works.
        self.soft_stop_ignored: set[str] = set()

        self.operations = tuple(operations)
        self.counters: Counter[str] = Counter()
        self.reset_counters()

    def reset_counters(self) -> None:
        """Set the operation counters to zero and drop the status counters."""
        self.counters = Counter(dict.fromkeys(self.operations, 0))

    def add_server(self, spec: ServerSpec) -> Server:
        """Store a settled server made from ``spec``."""
        _check_spec(spec)
        if spec.id in self.servers:
            raise ValueError(f"The server {spec.id!r} exists already.")

        # Derived from the server id, so the sample volume ids never change.
        volume_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"volume/{spec.id}"))
        data_volumes = [
            Volume(str(uuid.uuid5(uuid.NAMESPACE_URL, f"volume/{spec.id}/{n}")), size)
            for n, size in enumerate(spec.data_disks_gb, start=1)
        ]
        server = Server(
            spec.id,
            spec.name,
            spec.status,
            spec.system_disk_gb,
            list(spec.tags),
            volume_id,
            updated_at=self.clock.monotonic(),
            data_volumes=data_volumes,
            vault_id=spec.vault_id,
            project_id=spec.project_id,
        )
        self.servers[server.id] = server

        return server

    def start_job(
        self,
        job_type: str,
        images: list[Image],
        seconds: float,
        now: float,
        *,
        server_id: str | None = None,
        export: Export | None = None,
    ) -> ImageJob:
        """Start an IMS job of about ``seconds``; store new ``images`` as queued."""
        job = ImageJob(
            id=uuid.uuid4().hex,
            job_type=job_type,
            image_ids=[image.id for image in images],
            image_names=[image.name for image in images],
            server_id=server_id,
            begin=now,
            duration=seconds * self.rng.uniform(0.8, 1.2),
            project_id=images[0].project_id,
            fault=self._take_fault(job_type),
            sub_job_ids=[uuid.uuid4().hex for _ in images if job_type == DATA_JOB],
            export=export,
        )
        if export is None:
            self.images.update((image.id, image) for image in images)
        self.image_jobs[job.id] = job

        if server_id is not None:
            self._apply_server_faults(server_id, now)

        return job

    def remove_server(self, server_id: str) -> None:
        """Delete a server; the image jobs still reading it will end FAIL."""
        del self.servers[server_id]
        lost = Fault("fail", "IMG.0005", "The ECS does not exist.")
        for job in self.image_jobs.values():
            if job.server_id == server_id and job.end is None and job.export is None:
                job.fault = lost

    def start_server(self, server_id: str, now: float) -> None:
        """Power a server on as its owner would from the console."""
        server = self.servers[server_id]
        if server.status == "ACTIVE" and server.task_state is None:
            return

        server.task_state, server.updated_at = "powering-on", now
        server.settles_at = now + START_SECONDS

    def take_server_job_fault(self, action: str) -> ServerJobFault | None:
        """The fault the next ECS job of ``action`` (stop or start) meets, if any."""
        for fault in self.server_job_faults:
            if fault.action in (None, action):
                self.server_job_faults.remove(fault)
                return fault

        return None

    def settle(self) -> float:
        """Apply every transition that is due; return the emulated now."""
        now = self.clock.monotonic()
        for server in self.servers.values():
            _settle_server(server, now)
        for job in self.image_jobs.values():
            self._settle_job(job, now)

        return now

    def _take_fault(self, job_type: str) -> Fault | None:
        for fault in self.pending_faults:
            if fault.kind != "no_sub_jobs" or job_type == DATA_JOB:
                self.pending_faults.remove(fault)
                return fault

        return None

    def _apply_server_faults(self, server_id: str, now: float) -> None:
        due = [action for sid, action in self.server_faults if sid == server_id]
        kept = [pair for pair in self.server_faults if pair[0] != server_id]
        self.server_faults = kept
        for action in due:
            if action == "start" and server_id in self.servers:
                self.start_server(server_id, now)
            elif action == "delete" and server_id in self.servers:
                self.remove_server(server_id)

    def _settle_job(self, job: ImageJob, now: float) -> None:
        if job.end is not None:
            return

        # An export reads its image; every other job fills its own images.
        filled = [] if job.export else [self.images[i] for i in job.image_ids]
        if job.status == "INIT" and now >= job.begin + INIT_SECONDS:
            job.status = "RUNNING"
            for image in filled:
                image.status, image.updated_at = "saving", job.begin + INIT_SECONDS

        ends_at = job.begin + job.duration
        if now < ends_at or (job.fault is not None and job.fault.kind == "stick"):
            return

        job.end = ends_at
        if job.fault is not None and job.fault.kind == "fail":
            job.status = "FAIL"
            for image in filled:
                del self.images[image.id]
                self.backups.pop(image.backup_id or "", None)
            return

        job.status = "SUCCESS"
        if job.export is not None:
            self.exports.append(job.export)
        for image in filled:
            image.status, image.updated_at = "active", ends_at
            # A plausible compressed size: a quarter of the disk.
            image.size = image.min_disk * 2**30 // 4


def _check_spec(spec: ServerSpec) -> None:
    """Refuse what a seed file's JSON can hold but a server cannot, naming the field."""
    check_text("server", id=spec.id, name=spec.name, project_id=spec.project_id)
    if spec.vault_id is not None and not isinstance(spec.vault_id, str):
        raise ValueError(f"The server's vault_id is a string, not {spec.vault_id!r}.")
    if spec.status not in SETTLED_STATUS.values():
        raise ValueError(f"The server's status is ACTIVE or SHUTOFF, not {spec.status!r}.")
    if not is_count(spec.system_disk_gb, 1, MAX_SYSTEM_DISK_GB):
        message = f"a whole number of GB from 1 to {MAX_SYSTEM_DISK_GB}"
        raise ValueError(f"The server's system_disk_gb is {message}, not {spec.system_disk_gb!r}.")

    if not isinstance(spec.tags, tuple | list) or not all(
        isinstance(tag, str) and tag for tag in spec.tags
    ):
        raise ValueError(f"The server's tags is a list of strings, not {spec.tags!r}.")
    if not isinstance(spec.data_disks_gb, tuple | list) or not all(
        is_count(size, 1, MAX_DATA_DISK_GB) for size in spec.data_disks_gb
    ):
        message = f"a list of whole numbers of GB from 1 to {MAX_DATA_DISK_GB}"
        raise ValueError(f"The server's data_disks_gb is {message}, not {spec.data_disks_gb!r}.")


def check_text(owner: str, **fields: object) -> None:
    """Refuse a field that is not a non-empty string, naming it."""
    for field_name, value in fields.items():
        if not isinstance(value, str) or not value:
            raise ValueError(f"The {owner}'s {field_name} is a non-empty string, not {value!r}.")


def is_count(value: object, low: int, high: int) -> bool:
    """Whether ``value`` is a whole number from ``low`` to ``high``; JSON's true is not."""
    if isinstance(value, bool) or not isinstance(value, int):
        return False

    return low <= value <= high


def _settle_server(server: Server, now: float) -> None:
    if server.task_state is None or server.settles_at is None:
        return
    if now < server.settles_at:
        return

    server.status = SETTLED_STATUS[server.task_state]
    server.updated_at = server.settles_at
    server.task_state = server.settles_at = None
