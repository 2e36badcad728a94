"""The emulator: IAM, ECS and IMS listeners over one in-memory cloud."""

from __future__ import annotations

import copy
import secrets
import threading
import uuid
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Literal

from . import ecs, iam, ims
from .clock import Clock
from .state import (
    DOMAIN_NAME,
    PROJECT_ID,
    REGION,
    SAMPLE_SERVERS,
    USER_NAME,
    Credentials,
    Fault,
    Image,
    ImageJob,
    Server,
    ServerSpec,
    State,
)
from .wire import Listener

SERVICES = (iam.SERVICE, ecs.SERVICE, ims.SERVICE)
# How often a listener notices stop(); it bounds how long stopping takes.
POLL_SECONDS = 0.02


class Faults:
    """Misbehaviour for the next image jobs, one fault per job in order."""

    def __init__(self, state: State) -> None:
        self._state = state

    def fail_next_image_job(
        self,
        error_code: str = "IMG.0006",
        fail_reason: str = "The ECS system disk cannot be used.",
    ) -> None:
        """Make the next image job end FAIL with this code and reason, and no image."""
        self._queue(Fault("fail", error_code, fail_reason))

    def stick_next_image_job(self) -> None:
        """Make the next image job stay RUNNING for good."""
        self._queue(Fault("stick"))

    def _queue(self, fault: Fault) -> None:
        with self._state.lock:
            self._state.pending_faults.append(fault)


class Emulator:
    """IAM, ECS and IMS on 127.0.0.1, sharing servers, images, jobs and tokens."""

    def __init__(
        self,
        *,
        time_scale: float = 1.0,
        seed: int | None = None,
        servers: Iterable[ServerSpec] | None = None,
        iam_port: int = 0,
        ecs_port: int = 0,
        ims_port: int = 0,
    ) -> None:
        self.clock = Clock(time_scale)
        self.credentials = Credentials(
            DOMAIN_NAME, USER_NAME, secrets.token_urlsafe(18), REGION, PROJECT_ID
        )
        operations = [name for service in SERVICES for name in service.operations]
        self._state = State(self.clock, seed, self.credentials, operations)
        self.faults = Faults(self._state)
        for spec in SAMPLE_SERVERS if servers is None else servers:
            self._state.add_server(spec)

        self._ports = {"iam": iam_port, "ecs": ecs_port, "ims": ims_port}
        self._listeners: list[Listener] = []
        self._threads: list[threading.Thread] = []

    def start(self) -> Emulator:
        """Open the three listeners, each served from a daemon thread."""
        if self._listeners:
            raise RuntimeError("The emulator is running already.")

        try:
            for service in SERVICES:
                port = self._ports[service.name]
                self._listeners.append(Listener(port, service, self._state))
        except OSError:
            self.stop()
            raise

        for listener in self._listeners:
            self._threads.append(_start_thread(listener.serve_forever, POLL_SECONDS))
            with self._state.lock:
                self._state.endpoints[listener.service.name] = listener.endpoint

        return self

    def stop(self) -> None:
        """Close the listeners; calling it twice is harmless."""
        if self._threads:
            # Each listener needs up to POLL_SECONDS to notice; ask all three at once.
            stoppers = [_start_thread(lsn.shutdown) for lsn in self._listeners]
            for thread in stoppers + self._threads:
                thread.join()
        for listener in self._listeners:
            listener.server_close()

        self._listeners.clear()
        self._threads.clear()
        with self._state.lock:
            self._state.endpoints = {}

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def endpoints(self) -> dict[str, str]:
        """Base URLs by service name: iam, ecs, ims (``http://127.0.0.1:PORT``)."""
        with self._state.lock:
            if not self._state.endpoints:
                raise RuntimeError("The emulator is not running.")
            return dict(self._state.endpoints)

    @property
    def region(self) -> str:
        """The region, which is also the project name."""
        return self.credentials.project_name

    @property
    def counters(self) -> dict[str, int]:
        """A snapshot of the calls per operation and the replies per HTTP status."""
        with self._state.lock:
            return dict(self._state.counters)

    def reset_counters(self) -> None:
        """Set the operation counters to zero and drop the status counters."""
        with self._state.lock:
            self._state.reset_counters()

    @property
    def issued_tokens(self) -> list[str]:
        """Every token issued so far, oldest first."""
        with self._state.lock:
            return list(self._state.tokens)

    def revoke_tokens(self) -> None:
        """Make every token issued so far get 401 from now on."""
        with self._state.lock:
            for token in self._state.tokens.values():
                token.revoked = True

    @property
    def require_stopped(self) -> bool:
        """Whether imaging a server that is not SHUTOFF gets 400 IMG.0008."""
        return self._state.require_stopped

    @require_stopped.setter
    def require_stopped(self, value: bool) -> None:
        with self._state.lock:
            self._state.require_stopped = value

    def server(self, server_id: str) -> Server:
        """A copy of the server as it is now; KeyError when there is none."""
        with self._state.lock:
            self._state.settle()
            return copy.deepcopy(self._state.servers[server_id])

    def images(self) -> list[Image]:
        """Copies of the images as they are now, oldest first."""
        with self._state.lock:
            self._state.settle()
            return copy.deepcopy(list(self._state.images.values()))

    def jobs(self) -> list[ImageJob]:
        """Copies of the image jobs as they are now, oldest first."""
        with self._state.lock:
            self._state.settle()
            return copy.deepcopy(list(self._state.image_jobs.values()))

    def add_server(
        self,
        *,
        name: str,
        status: Literal["ACTIVE", "SHUTOFF"] = "ACTIVE",
        system_disk_gb: int = 40,
        server_id: str | None = None,
        tags: Iterable[str] = (),
    ) -> str:
        """Add a settled server and return its id (a new uuid4 unless given)."""
        server_id = server_id or str(uuid.uuid4())
        spec = ServerSpec(server_id, name, status, system_disk_gb, tuple(tags))
        with self._state.lock:
            return self._state.add_server(spec).id


def _start_thread(target: Callable[..., object], *args: object) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()

    return thread
