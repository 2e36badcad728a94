"""The emulator: IAM, ECS and IMS listeners over one in-memory cloud, and SMN."""

from __future__ import annotations

import copy
import dataclasses
import json
import secrets
import string
import threading
import uuid
from collections.abc import Callable, Iterable
from pathlib import Path
from types import TracebackType
from typing import Any, Literal

from . import admin, ecs, iam, ims, smn
from .clock import Clock
from .faults import Faults
from .ims import QUOTA_RANGE
from .listener import Listener
from .state import (
    DOMAIN_NAME,
    PROJECT_ID,
    REGION,
    SAMPLE_SERVERS,
    USER_NAME,
    AccessKey,
    Agency,
    Backup,
    Credentials,
    Export,
    Image,
    ImageJob,
    Server,
    ServerJob,
    ServerSpec,
    State,
    check_text,
    is_count,
)

# Every listener also answers the emulator's own admin calls.
SERVICES = tuple(
    dataclasses.replace(service, routes=service.routes + admin.ROUTES)
    for service in (iam.SERVICE, ecs.SERVICE, ims.SERVICE)
)
# How often a listener notices stop(); it bounds how long stopping takes.
POLL_SECONDS = 0.02
SEED_KEYS = {"servers", "fleets", "agencies", "image_quota"}
# As long as a token: on a fast emulated clock a shorter life runs out within
# seconds of a run.
TEMPORARY_KEY_SECONDS = 24 * 3600.0
# Far more servers than any test or benchmark needs, yet few enough to start fast.
MAX_FLEET = 10_000


class Emulator:
    """IAM, ECS and IMS on 127.0.0.1, sharing servers, images, jobs and tokens.

    SMN signs notifications of ECS-stop traces (``emulator.smn``) and serves its
    signing certificate over HTTPS, trusted through ``emulator.smn.ca_bundle``.
    """

    def __init__(
        self,
        *,
        time_scale: float = 1.0,
        seed: int | None = None,
        servers: Iterable[ServerSpec] | None = None,
        seed_file: str | Path | None = None,
        iam_port: int = 0,
        ecs_port: int = 0,
        ims_port: int = 0,
        smn_port: int = 0,
    ) -> None:
        self.clock = Clock(time_scale)
        self.credentials = Credentials(
            DOMAIN_NAME,
            USER_NAME,
            secrets.token_urlsafe(18),
            REGION,
            PROJECT_ID,
            access_key=_new_access_key(),
            secret_key=secrets.token_urlsafe(30),
        )
        operations = [name for service in SERVICES for name in service.operations]
        operations.append(smn.OPERATION)
        self._state = State(self.clock, seed, self.credentials, operations)
        self._state.access_keys[self.credentials.access_key] = AccessKey(
            self.credentials.secret_key, PROJECT_ID
        )
        self.faults = Faults(self._state)
        self.smn = smn.Smn(self._state, REGION, PROJECT_ID)
        for spec in SAMPLE_SERVERS if servers is None else servers:
            self._state.add_server(spec)
        if seed_file is not None:
            self._load_seed_file(Path(seed_file))

        self._ports = {"iam": iam_port, "ecs": ecs_port, "ims": ims_port, "smn": smn_port}
        self._listeners: list[Listener] = []
        self._certificate_host: smn.CertificateHost | None = None
        self._threads: list[threading.Thread] = []

    def start(self) -> Emulator:
        """Open the three listeners and SMN's certificate host, each in a daemon thread."""
        if self._listeners:
            raise RuntimeError("The emulator is running already.")

        try:
            for service in SERVICES:
                port = self._ports[service.name]
                self._listeners.append(Listener(port, service, self._state))
            self._certificate_host = self.smn.open(self._ports["smn"])
        except OSError:
            self.stop()
            raise

        for server in self._servers:
            self._threads.append(_start_thread(server.serve_forever, POLL_SECONDS))
        with self._state.lock:
            for listener in self._listeners:
                self._state.endpoints[listener.service.name] = listener.endpoint

        return self

    def stop(self) -> None:
        """Close the listeners and the certificate host; calling it twice is harmless."""
        servers = self._servers
        if self._threads:
            # Each server needs up to POLL_SECONDS to notice; ask all at once, then
            # wake them so that they notice sooner.
            stoppers = [_start_thread(server.shutdown) for server in servers]
            for server in servers:
                server.wake()
            for thread in stoppers + self._threads:
                thread.join()
        for server in servers:
            server.server_close()
        self.smn.close()

        self._listeners.clear()
        self._certificate_host = None
        self._threads.clear()
        with self._state.lock:
            self._state.endpoints = {}

    @property
    def _servers(self) -> list[Listener | smn.CertificateHost]:
        host = self._certificate_host

        return [*self._listeners, *([host] if host is not None else [])]

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
        self.faults.revoke_tokens()

    def issue_temporary_keys(
        self,
        seconds: float = TEMPORARY_KEY_SECONDS,
    ) -> tuple[str, str, str]:
        """Temporary (AK, SK, security token), valid ``seconds`` emulated seconds."""
        access_key, secret_key = _new_access_key(), secrets.token_urlsafe(30)
        security_token = secrets.token_urlsafe(64)
        with self._state.lock:
            expires_at = self._state.settle() + seconds
            key = AccessKey(secret_key, PROJECT_ID, security_token, expires_at)
            self._state.access_keys[access_key] = key

        return access_key, secret_key, security_token

    def add_agency(
        self,
        domain_name: str,
        agency_name: str,
        project_id: str,
        project_name: str = REGION,
    ) -> Agency:
        """Let our user act in ``project_id`` of the delegating ``domain_name``."""
        check_text(
            "agency",
            domain_name=domain_name,
            agency_name=agency_name,
            project_id=project_id,
            project_name=project_name,
        )
        domain_id = uuid.uuid5(uuid.NAMESPACE_URL, f"domain/{domain_name}").hex
        agency = Agency(domain_name, domain_id, agency_name, project_id, project_name)
        with self._state.lock:
            self._state.agencies.append(agency)

        return agency

    @property
    def require_stopped(self) -> bool:
        """Whether imaging a server that is not SHUTOFF gets 400 IMG.0008."""
        return self._state.require_stopped

    @require_stopped.setter
    def require_stopped(self, value: bool) -> None:
        self.faults.require_stopped(value)

    @property
    def image_quota(self) -> int:
        """How many private images a project may hold (IMG.0015 past it); 20."""
        return self._state.image_quota

    @image_quota.setter
    def image_quota(self, value: int) -> None:
        # IMS reports a minimum of 1; 0 is allowed here to test a used-up quota.
        high = QUOTA_RANGE[1]
        whole = isinstance(value, int) and not isinstance(value, bool)
        if not whole or not 0 <= value <= high:
            raise ValueError(f"The image quota is 0 to {high}, not {value!r}.")
        with self._state.lock:
            self._state.image_quota = value

    def server(self, server_id: str) -> Server:
        """A copy of the server as it is now; KeyError when there is none."""
        with self._state.lock:
            self._state.settle()
            return copy.deepcopy(self._state.servers[server_id])

    def images(self) -> list[Image]:
        """Copies of the images of every project as they are now, oldest first."""
        with self._state.lock:
            self._state.settle()
            return copy.deepcopy(list(self._state.images.values()))

    def jobs(self) -> list[ImageJob]:
        """Copies of the IMS jobs (images and exports) as they are now, oldest first."""
        with self._state.lock:
            self._state.settle()
            return copy.deepcopy(list(self._state.image_jobs.values()))

    def server_jobs(self) -> list[ServerJob]:
        """Copies of the ECS stop and start jobs, oldest first."""
        with self._state.lock:
            return copy.deepcopy(list(self._state.server_jobs.values()))

    def backups(self) -> list[Backup]:
        """Copies of the backups behind whole images, deleted ones included."""
        with self._state.lock:
            self._state.settle()
            return copy.deepcopy(list(self._state.backups.values()))

    def exports(self) -> list[Export]:
        """The image files finished export jobs wrote to OBS, oldest first."""
        with self._state.lock:
            self._state.settle()
            return list(self._state.exports)

    def add_server(
        self,
        *,
        name: str,
        status: Literal["ACTIVE", "SHUTOFF"] = "ACTIVE",
        system_disk_gb: int = 40,
        server_id: str | None = None,
        tags: Iterable[str] = (),
        data_disks_gb: Iterable[int] = (),
        vault_id: str | None = None,
        project_id: str = PROJECT_ID,
    ) -> str:
        """Add a settled server and return its id (a new uuid4 unless given)."""
        spec = ServerSpec(
            server_id or str(uuid.uuid4()),
            name,
            status,
            system_disk_gb,
            _listed("tags", tags),
            _listed("data_disks_gb", data_disks_gb),
            vault_id,
            project_id,
        )
        with self._state.lock:
            return self._state.add_server(spec).id

    def add_fleet(
        self,
        count: int,
        tags: Iterable[str] = (),
        *,
        status: Literal["ACTIVE", "SHUTOFF"] = "SHUTOFF",
        system_disk_gb: int = 10,
        project_id: str = PROJECT_ID,
    ) -> list[str]:
        """Add ``count`` servers ``fleet-0001``, ... with ``tags``; return their ids."""
        if not is_count(count, 0, MAX_FLEET):
            message = f"a whole number from 0 to {MAX_FLEET}"
            raise ValueError(f"The fleet's count is {message}, not {count!r}.")
        tags = _listed("tags", tags)
        with self._state.lock:
            servers = self._state.servers.values()
            first = 1 + sum(server.name.startswith("fleet-") for server in servers)
            return [
                self.add_server(
                    name=f"fleet-{number:04d}",
                    status=status,
                    system_disk_gb=system_disk_gb,
                    tags=tags,
                    project_id=project_id,
                )
                for number in range(first, first + count)
            ]

    def _load_seed_file(self, path: Path) -> None:
        try:
            seeds = json.loads(path.read_text("utf-8"))
        except ValueError as exc:
            raise ValueError(f"The seed file {str(path)!r} is not JSON: {exc}") from exc
        if not isinstance(seeds, dict) or set(seeds) - SEED_KEYS:
            message = f"The seed file {str(path)!r} holds keys other than {SEED_KEYS}."
            raise ValueError(message)

        adders: dict[str, Callable[..., object]] = {
            "servers": self.add_server,
            "fleets": self.add_fleet,
            "agencies": self.add_agency,
        }
        for key, add in adders.items():
            _add_each(path, key, add, seeds.get(key, []))
        if "image_quota" in seeds:
            try:
                self.image_quota = seeds["image_quota"]
            except ValueError as exc:
                message = f"The seed file {str(path)!r} has a bad image_quota: {exc}"
                raise ValueError(message) from exc


def _add_each(path: Path, key: str, add: Callable[..., object], entries: object) -> None:
    if not isinstance(entries, list):
        raise ValueError(f"The seed file {str(path)!r} has {key} that are no list.")

    for number, entry in enumerate(entries):
        try:
            if not isinstance(entry, dict):
                raise TypeError(f"An entry is an object of arguments, not {entry!r}.")
            add(**entry)
        except (TypeError, ValueError) as exc:
            message = f"The seed file {str(path)!r} has a bad {key}[{number}]: {exc}"
            raise ValueError(message) from exc


def _listed(field_name: str, values: Iterable[Any]) -> tuple[Any, ...]:
    # A JSON string is iterable too, and would become a tuple of its letters.
    if isinstance(values, str | bytes) or not isinstance(values, Iterable):
        raise ValueError(f"The server's {field_name} is a list, not {values!r}.")

    return tuple(values)


def _new_access_key() -> str:
    # Shaped like a real AK: 20 upper-case letters and digits.
    alphabet = string.ascii_uppercase + string.digits
    return "".join(secrets.choice(alphabet) for _ in range(20))


def _start_thread(target: Callable[..., object], *args: object) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()

    return thread
