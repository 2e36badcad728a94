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
SETTLED_STATUS = {"powering-off": "SHUTOFF", "powering-on": "ACTIVE"}


@dataclass(frozen=True)
class Credentials:
    """What a client needs to get a project-scoped token from the emulator."""

    domain_name: str
    user_name: str
    password: str = field(repr=False)
    project_name: str
    project_id: str


@dataclass(frozen=True)
class ServerSpec:
    """A server the emulator starts with: status ACTIVE or SHUTOFF."""

    id: str
    name: str
    status: str
    system_disk_gb: int
    tags: tuple[str, ...] = ()


SAMPLE_SERVERS = tuple(
    ServerSpec(server_id, name, status, disk_gb, tuple(tags.split()))
    for server_id, name, status, disk_gb, tags in [
        ("3c9a1f6e-5d2b-4c8e-9f7a-1b2c3d4e5f60", "web-01", "SHUTOFF", 15, "auto-image=daily"),
        ("8f14e45f-ceea-467f-a0e6-1f2c3d4e5a61", "db-01", "ACTIVE", 40, "auto-image=daily tier=db"),
        ("c9f0f895-fb98-4b91-99f5-1a2b3c4d5e62", "app-02", "ACTIVE", 10, ""),
        ("45c48cce-2e2d-4fbd-a4a1-2b3c4d5e6f63", "build-03", "SHUTOFF", 60, "auto-image=weekly"),
    ]
)


@dataclass(frozen=True)
class Fault:
    """How an image job misbehaves: it ends FAIL, or it stays RUNNING for good."""

    kind: Literal["fail", "stick"]
    error_code: str | None = None
    fail_reason: str | None = None


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


@dataclass
class Image:
    """A private IMS image."""

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


@dataclass
class ImageJob:
    """The IMS job that fills one image from one server."""

    id: str
    image_id: str
    image_name: str
    server_id: str
    begin: float
    duration: float
    fault: Fault | None = None
    status: str = "INIT"
    end: float | None = None


@dataclass(frozen=True)
class SubJob:
    """One server's part of an ECS batch job."""

    id: str
    server_id: str
    ends_at: float


@dataclass
class ServerJob:
    """An ECS batch stop or start job."""

    id: str
    job_type: str
    begin: float
    sub_jobs: list[SubJob]


@dataclass
class Token:
    """What the emulator remembers about one issued token."""

    project_id: str
    expires_at: float
    revoked: bool = False


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
        self.credentials = credentials
        self.endpoints: dict[str, str] = {}
        self.require_stopped = False

        self.servers: dict[str, Server] = {}
        self.images: dict[str, Image] = {}
        self.image_jobs: dict[str, ImageJob] = {}
        self.server_jobs: dict[str, ServerJob] = {}
        self.tokens: dict[str, Token] = {}
        self.pending_faults: deque[Fault] = deque()

        self.operations = tuple(operations)
        self.counters: Counter[str] = Counter()
        self.reset_counters()

    def reset_counters(self) -> None:
        """Set the operation counters to zero and drop the status counters."""
        self.counters = Counter(dict.fromkeys(self.operations, 0))

    def add_server(self, spec: ServerSpec) -> Server:
        """Store a settled server made from ``spec``."""
        if spec.id in self.servers:
            raise ValueError(f"The server {spec.id!r} exists already.")
        if spec.status not in SETTLED_STATUS.values():
            raise ValueError(f"A new server is ACTIVE or SHUTOFF, not {spec.status!r}.")

        # Derived from the server id, so the sample volume ids never change.
        volume_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"volume/{spec.id}"))
        server = Server(
            spec.id,
            spec.name,
            spec.status,
            spec.system_disk_gb,
            list(spec.tags),
            volume_id,
            updated_at=self.clock.monotonic(),
        )
        self.servers[server.id] = server

        return server

    def begin_image_job(self, server: Server, image: Image) -> ImageJob:
        """Store ``image`` as queued and start the job that fills it from ``server``."""
        seconds = (45 + 13 * server.system_disk_gb) * self.rng.uniform(0.8, 1.2)
        fault = self.pending_faults.popleft() if self.pending_faults else None
        job = ImageJob(
            id=uuid.uuid4().hex,
            image_id=image.id,
            image_name=image.name,
            server_id=server.id,
            begin=image.created_at,
            duration=seconds,
            fault=fault,
        )

        self.images[image.id] = image
        self.image_jobs[job.id] = job

        return job

    def settle(self) -> float:
        """Apply every transition that is due; return the emulated now."""
        now = self.clock.monotonic()
        for server in self.servers.values():
            _settle_server(server, now)
        for job in self.image_jobs.values():
            self._settle_image_job(job, now)

        return now

    def _settle_image_job(self, job: ImageJob, now: float) -> None:
        if job.end is not None:
            return

        image = self.images[job.image_id]
        if job.status == "INIT" and now >= job.begin + INIT_SECONDS:
            job.status, image.status = "RUNNING", "saving"
            image.updated_at = job.begin + INIT_SECONDS

        ends_at = job.begin + job.duration
        if now < ends_at or (job.fault is not None and job.fault.kind == "stick"):
            return

        job.end = ends_at
        if job.fault is not None:
            job.status = "FAIL"
            del self.images[image.id]
            return

        job.status = "SUCCESS"
        image.status, image.updated_at = "active", ends_at
        # A plausible compressed size: a quarter of the system disk.
        image.size = image.min_disk * 2**30 // 4


def _settle_server(server: Server, now: float) -> None:
    if server.task_state is None or server.settles_at is None:
        return
    if now < server.settles_at:
        return

    server.status = SETTLED_STATUS[server.task_state]
    server.updated_at = server.settles_at
    server.task_state = server.settles_at = None
