"""ECS: show, list, stop and start servers, and their jobs (reference section 3).

Emulator choices where the documentation is silent:

- A batch job is RUNNING until its last server settles, then SUCCESS. A job the
  ``fail_next_server_job`` fault meets leaves its servers as they were and ends
  FAIL when they would have settled, its ``error_code`` and ``fail_reason`` on the
  job and on each sub-job (``entities.errorcode_message`` holds the reason). A
  SOFT stop of a server whose guest ignores it leaves the server ACTIVE, with no
  task state, and its sub-job RUNNING for good. An unknown job id gets 404 with
  code Ecs.0000.
- Data disks show ``bootIndex: "-1"``; the system disk ``"0"``.
- The ``tags`` and ``not-tags`` filters take one ``key=value`` or a bare key; the
  ``name`` filter is a case-sensitive substring match in which ``.`` is any one
  character. A negative ``offset`` is 400 Ecs.0005.
- Metadata keys and values follow the documented rules (1-255 characters; keys of
  letters, digits, ``-``, ``_``, ``:`` and ``.``); anything else is 400 Ecs.0005.
  Deleting a key the server does not have is 404 Ecs.0114, as Nova answers.
"""

from __future__ import annotations

import math
import re
import uuid
from typing import Any

from .clock import format_millis, format_seconds
from .state import START_SECONDS, Server, ServerJob, ServerJobFault, SubJob
from .wire import ApiError, Call, Reply, Service, nested_error, route

STOP_SECONDS = {"SOFT": 10.0, "HARD": 3.0}
# verb: (task_state while it runs, status once it settles)
TRANSITIONS = {"stop": ("powering-off", "SHUTOFF"), "start": ("powering-on", "ACTIVE")}
AVAILABILITY_ZONE = "eu-de-01"
FLAVOR_ID = "s3.medium.2"
MAX_PAGE_SIZE = MAX_BATCH = 1000
MAX_METADATA_LENGTH = 255
METADATA_KEY = re.compile(r"[A-Za-z0-9_:.-]+")


def show_server(call: Call) -> Reply:
    """GET cloudservers/{server_id}: one server."""
    server = _find_server(call, call.params["server_id"])

    return Reply(200, {"server": _describe_server(call, server)})


def list_servers(call: Call) -> Reply:
    """GET cloudservers/detail: one page of the servers that pass the filters."""
    page, limit = _read_paging(call.query)
    project_id = call.params["project_id"]
    found = [
        server
        for server in call.state.servers.values()
        if server.project_id == project_id and _passes(server, call.query)
    ]
    shown = found[(page - 1) * limit : page * limit]
    servers = [_describe_server(call, server) for server in shown]

    return Reply(200, {"count": len(found), "servers": servers})


def act_on_servers(call: Call) -> Reply:
    """POST cloudservers/action: a batch os-stop or os-start."""
    operation = _action_operation(call.body)
    if operation is None:
        raise _invalid("The body holds neither 'os-stop' nor 'os-start'.")
    verb = operation.removeprefix("ecs.")

    options = call.body[f"os-{verb}"]
    servers = _find_batch(call, options)
    stop_type = _read_stop_type(options) if verb == "stop" else None
    fault = call.state.take_server_job_fault(verb)
    sub_jobs = [
        _begin_transition(call, server, verb, stop_type, failing=fault is not None)
        for server in servers
    ]
    job = ServerJob(
        uuid.uuid4().hex,
        f"batch{verb.title()}Servers",
        call.now,
        sub_jobs,
        call.params["project_id"],
        stop_type=stop_type,
        fault=fault,
    )
    call.state.server_jobs[job.id] = job

    return Reply(200, {"job_id": job.id})


def update_metadata(call: Call) -> Reply:
    """POST cloudservers/{server_id}/metadata: add or change the given items."""
    server = _find_server(call, call.params["server_id"])
    items = call.body.get("metadata")
    if not isinstance(items, dict):
        raise _invalid("The body must hold a 'metadata' object.")
    for key, value in items.items():
        _check_metadata(key, value)
    server.metadata.update(items)

    return Reply(200, {"metadata": dict(server.metadata)})


def delete_metadata(call: Call) -> Reply:
    """DELETE cloudservers/{server_id}/metadata/{key}: remove one item."""
    server = _find_server(call, call.params["server_id"])
    key = call.params["key"]
    if key not in server.metadata:
        message = f"The server {server.id!r} has no metadata key {key!r}."
        raise nested_error(404, "Ecs.0114", message)
    del server.metadata[key]

    return Reply(204, None)


def show_job(call: Call) -> Reply:
    """GET jobs/{job_id}: a batch job with one sub-job per server."""
    job = call.state.server_jobs.get(call.params["job_id"])
    if job is None or job.project_id != call.params["project_id"]:
        message = f"The job {call.params['job_id']!r} does not exist."
        raise nested_error(404, "Ecs.0000", message)

    ends_at = max((sub.ends_at for sub in job.sub_jobs), default=job.begin)
    body = _describe_job(call, job.id, job.job_type, job.begin, ends_at, job.fault)
    sub_type = "stopServer" if job.job_type == "batchStopServers" else "startServer"
    sub_jobs = []
    for sub in job.sub_jobs:
        sub_job = _describe_job(call, sub.id, sub_type, job.begin, sub.ends_at, job.fault)
        entities = {"server_id": sub.server_id}
        if sub_job["status"] == "FAIL":
            entities["errorcode_message"] = sub_job["fail_reason"]
        sub_jobs.append(sub_job | {"entities": entities})
    body["entities"] = {"sub_jobs_total": len(sub_jobs), "sub_jobs": sub_jobs}

    return Reply(200, body)


def _action_operation(body: dict[str, Any]) -> str | None:
    if "os-stop" in body:
        return "ecs.stop"
    if "os-start" in body:
        return "ecs.start"

    return None


def _find_server(call: Call, server_id: str) -> Server:
    server = call.state.servers.get(server_id)
    if server is None or server.project_id != call.params["project_id"]:
        raise _missing_server(server_id)

    return server


def _check_metadata(key: Any, value: Any) -> None:
    if not isinstance(key, str) or not METADATA_KEY.fullmatch(key):
        raise _invalid(f"The metadata key {key!r} is not 1-255 letters, digits, -, _, : or .")
    if len(key) > MAX_METADATA_LENGTH:
        raise _invalid(
            f"The metadata key {key[:20]!r}... is over {MAX_METADATA_LENGTH} characters."
        )
    if not isinstance(value, str) or len(value) > MAX_METADATA_LENGTH:
        raise _invalid(f"The value of metadata key {key!r} is not a string of at most 255.")


def _find_batch(call: Call, options: Any) -> list[Server]:
    try:
        ids = [entry["id"] for entry in options["servers"]]
    except (KeyError, TypeError) as exc:
        raise _invalid("The action needs 'servers': [{'id': ...}].") from exc
    if not ids or not all(isinstance(server_id, str) for server_id in ids):
        raise _invalid("The action needs at least one server id.")
    if len(ids) > MAX_BATCH:
        message = f"A batch holds at most {MAX_BATCH} servers, not {len(ids)}."
        raise nested_error(400, "Ecs.0118", message)

    servers = []
    for server_id in ids:
        server = _find_server(call, server_id)
        if server.task_state is not None:
            message = f"The server {server_id!r} is {server.task_state}."
            raise nested_error(400, "Ecs.0100", message)
        servers.append(server)

    return servers


def _read_stop_type(options: dict[str, Any]) -> str:
    kind = options.get("type", "SOFT")
    if kind not in STOP_SECONDS:
        raise _invalid(f"The stop type is SOFT or HARD, not {kind!r}.")

    return str(kind)


def _begin_transition(
    call: Call, server: Server, verb: str, stop_type: str | None, *, failing: bool
) -> SubJob:
    task_state, target = TRANSITIONS[verb]
    now = call.now
    seconds = STOP_SECONDS[stop_type] if stop_type else START_SECONDS
    if failing:
        return SubJob(uuid.uuid4().hex, server.id, ends_at=now + seconds)
    if server.status == target:
        return SubJob(uuid.uuid4().hex, server.id, ends_at=now)
    if stop_type == "SOFT" and server.id in call.state.soft_stop_ignored:
        return SubJob(uuid.uuid4().hex, server.id, ends_at=math.inf)

    server.task_state, server.updated_at = task_state, now
    server.settles_at = now + seconds

    return SubJob(uuid.uuid4().hex, server.id, ends_at=server.settles_at)


def _read_paging(query: dict[str, str]) -> tuple[int, int]:
    try:
        page = int(query.get("offset", "1"))
        limit = int(query.get("limit", "25"))
    except ValueError as exc:
        raise _invalid("The offset and limit must be integers.") from exc
    if page < 0:
        raise _invalid(f"The offset is a page number from 1, not {page!r}.")
    if not 0 < limit <= MAX_PAGE_SIZE:
        raise _invalid(f"The limit must be 1 to {MAX_PAGE_SIZE}, not {limit!r}.")

    # ECS pages by page number, and reads page 0 as page 1.
    return max(page, 1), limit


def _passes(server: Server, query: dict[str, str]) -> bool:
    # A tag filter without '=' matches on the tag key alone.
    tags = server.tags + [tag.partition("=")[0] for tag in server.tags]
    if "tags" in query and query["tags"] not in tags:
        return False
    if "not-tags" in query and query["not-tags"] in tags:
        return False
    if "name" in query and not _name_pattern(query["name"]).search(server.name):
        return False

    return query.get("status", server.status) == server.status


def _name_pattern(name: str) -> re.Pattern[str]:
    return re.compile(".".join(re.escape(part) for part in name.split(".")))


def _describe_server(call: Call, server: Server) -> dict[str, Any]:
    running = server.status == "ACTIVE"
    disks = [(server.volume_id, "0")] + [(v.id, "-1") for v in server.data_volumes]
    volumes = [
        {
            "id": volume_id,
            "bootIndex": boot_index,
            "device": f"/dev/vd{chr(ord('a') + n)}",
            "delete_on_termination": "false",
        }
        for n, (volume_id, boot_index) in enumerate(disks)
    ]

    return {
        "id": server.id,
        "name": server.name,
        "status": server.status,
        "OS-EXT-STS:vm_state": "active" if running else "stopped",
        "OS-EXT-STS:task_state": server.task_state,
        "OS-EXT-STS:power_state": 1 if running else 4,
        "locked": False,
        "updated": format_seconds(call.state.clock.at(server.updated_at)),
        "tags": list(server.tags),
        "metadata": dict(server.metadata),
        "os-extended-volumes:volumes_attached": volumes,
        "flavor": {"id": FLAVOR_ID, "name": FLAVOR_ID},
        "tenant_id": server.project_id,
        "OS-EXT-AZ:availability_zone": AVAILABILITY_ZONE,
    }


def _describe_job(
    call: Call,
    job_id: str,
    job_type: str,
    begin: float,
    ends_at: float,
    fault: ServerJobFault | None,
) -> dict[str, Any]:
    clock = call.state.clock
    done = call.now >= ends_at
    failure = fault if done else None

    return {
        "status": "FAIL" if failure else "SUCCESS" if done else "RUNNING",
        "job_id": job_id,
        "job_type": job_type,
        "begin_time": format_millis(clock.at(begin)),
        "end_time": format_millis(clock.at(ends_at)) if done else "",
        "error_code": failure.error_code if failure else None,
        "fail_reason": failure.fail_reason if failure else None,
    }


def _missing_server(server_id: str) -> ApiError:
    return nested_error(404, "Ecs.0114", f"The server {server_id!r} does not exist.")


def _invalid(message: str) -> ApiError:
    return nested_error(400, "Ecs.0005", message)


SERVERS = "/v1/{project_id}/cloudservers"
SERVICE = Service(
    name="ecs",
    routes=(
        route("GET", SERVERS + "/detail", "ecs.list_servers", list_servers),
        route("GET", SERVERS + "/{server_id}", "ecs.show_server", show_server),
        route("POST", SERVERS + "/action", _action_operation, act_on_servers),
        route("POST", SERVERS + "/{server_id}/metadata", "ecs.update_metadata", update_metadata),
        route(
            "DELETE",
            SERVERS + "/{server_id}/metadata/{key}",
            "ecs.delete_metadata",
            delete_metadata,
        ),
        route("GET", "/v1/{project_id}/jobs/{job_id}", "ecs.show_job", show_job),
    ),
    operations=(
        "ecs.list_servers",
        "ecs.show_server",
        "ecs.stop",
        "ecs.start",
        "ecs.show_job",
        "ecs.update_metadata",
        "ecs.delete_metadata",
    ),
    bad_body=_invalid,
)
