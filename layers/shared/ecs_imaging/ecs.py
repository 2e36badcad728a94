"""Typed calls to the ECS operations the pipeline uses."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from .errors import CloudError, ResourceNotFound
from .http import job_id_of, json_object
from .models import Job, Server, parse_api
from .session import CloudSession

logger = logging.getLogger(__name__)

PAGE_SIZE = 200
# Server metadata naming the run that asked ECS to stop the server: set before the
# stop is asked for, removed once the run has started the server again.
STOP_MARK = "ecs-imaging-stopped-by"


def show_server(session: CloudSession, server_id: str) -> Server:
    """The server's current state."""
    response = session.request("ecs", "GET", f"/v1/{session.project_id}/cloudservers/{server_id}")

    return parse_api(Server, json_object(response).get("server"), "server")


def list_servers(session: CloudSession, *, tag: tuple[str, str] | None = None) -> list[Server]:
    """Every server of the project, or those carrying a `key=value` tag; all pages."""
    params: dict[str, str | int] = {"limit": PAGE_SIZE, "offset": 1}
    if tag is not None:
        params["tags"] = f"{tag[0]}={tag[1]}"

    servers: list[Server] = []
    while True:
        response = session.request(
            "ecs", "GET", f"/v1/{session.project_id}/cloudservers/detail", params=params
        )
        page = [
            parse_api(Server, item, "server") for item in json_object(response).get("servers", [])
        ]
        servers.extend(page)
        if len(page) < PAGE_SIZE:
            return servers
        # NOTE: ECS pages by page number, not by item offset.
        params["offset"] = int(params["offset"]) + 1


def stop_server(session: CloudSession, server_id: str, *, hard: bool = False) -> str:
    """Ask ECS to stop the server; returns the server job id."""
    body = {"os-stop": {"type": "HARD" if hard else "SOFT", "servers": [{"id": server_id}]}}

    return _server_action(session, body)


def start_server(session: CloudSession, server_id: str) -> str:
    """Ask ECS to start the server; returns the server job id."""
    return _server_action(session, {"os-start": {"servers": [{"id": server_id}]}})


def stopped_by(server: Server) -> str | None:
    """The run that marked the server before stopping it, if any."""
    mark = server.metadata.get(STOP_MARK)

    return mark if isinstance(mark, str) else None


def mark_stopped_by(session: CloudSession, server_id: str, run_id: str) -> None:
    """Record on the server that this run is about to stop it."""
    session.request(
        "ecs",
        "POST",
        f"/v1/{session.project_id}/cloudservers/{server_id}/metadata",
        json={"metadata": {STOP_MARK: run_id}},
        idempotent=True,
    )


def clear_stop_mark(session: CloudSession, server: Server, run_id: str) -> None:
    """Remove the run's stop mark from the server, if it is there."""
    if stopped_by(server) == run_id:
        remove_stop_mark(session, server.id)


def remove_stop_mark(session: CloudSession, server_id: str) -> None:
    """Remove the stop mark from the server, whoever set it.

    A mark left behind names a finished run and misleads no other run, so a failure
    here is logged, not raised: the run's result does not depend on it.
    """
    path = f"/v1/{session.project_id}/cloudservers/{server_id}/metadata/{STOP_MARK}"
    try:
        session.request("ecs", "DELETE", path, idempotent=True)
    except ResourceNotFound:
        pass
    except CloudError as exc:
        logger.warning(
            "Stop mark left on the server",
            extra={"server_id": server_id, "error": type(exc).__name__},
        )


def show_job(session: CloudSession, job_id: str) -> Job:
    """A server job (stop, start) as ECS reports it."""
    response = session.request("ecs", "GET", f"/v1/{session.project_id}/jobs/{job_id}")

    return parse_api(Job, json_object(response), "job")


def _server_action(session: CloudSession, body: Mapping[str, object]) -> str:
    # Not repeated after a 5xx: the action may have been accepted, and a second
    # one would meet the server mid-transition (Ecs.0100). The calling step looks
    # at the server again when its Task is retried.
    response = session.request(
        "ecs", "POST", f"/v1/{session.project_id}/cloudservers/action", json=body
    )
    job_id = job_id_of(response)
    logger.debug("Server action accepted", extra={"server_job_id": job_id})

    return job_id
