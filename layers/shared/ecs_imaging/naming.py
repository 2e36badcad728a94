"""Image names and the pipeline's own tags."""

from __future__ import annotations

import hashlib
import re
from datetime import datetime

RUN_TAG = "ecs-imaging-run"
SERVER_TAG = "ecs-imaging-server"

_NOT_ALLOWED = re.compile(r"[^A-Za-z0-9._ -]+")
_NAME_MAX = 128


def run_id_for(execution_id: str) -> str:
    """A short stable id of a run, derived from its execution id."""
    return hashlib.sha256(execution_id.encode()).hexdigest()[:32]


def default_image_name(server_name: str, moment: datetime) -> str:
    """`<server name>-<UTC date and time>`, reduced to what IMS accepts."""
    stamp = moment.strftime("%Y%m%d-%H%M%S")
    base = _NOT_ALLOWED.sub("-", server_name).strip(" -") or "server"
    base = base[: _NAME_MAX - len(stamp) - 1].rstrip(" ")

    return f"{base}-{stamp}"


def pipeline_tags(run_id: str, server_id: str) -> dict[str, str]:
    """The tags that mark an image as this pipeline's, made by one run for one server."""
    return {RUN_TAG: run_id, SERVER_TAG: server_id}
