"""IMS: images made from servers, their jobs, and image queries (reference section 2).

Emulator choices where the documentation is silent:

- An unknown job id gets 404 ``{"error": {"code": "IMG.0000", ...}}``; no code is
  documented for it (reference 2.3), so this mirrors Ecs.0000 on the ECS side.
- A failing job ends FAIL when its duration is up, and its image is removed
  rather than left ``killed``.
- A description may hold neither ``\\r`` nor ``\\n``, and an old-format tag must
  have the ``.`` between key and value.
- Images sort by ``created_at`` only; a ``marker`` that is not in the list is 400.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from .clock import format_millis, format_seconds
from .state import Image, ImageJob, Server, State
from .wire import ApiError, Call, Reply, Service, nested_error, route

NAME_CHARACTERS = re.compile(r"[A-Za-z0-9._ -]+")
OLD_TAG_CHARACTERS = re.compile(r"[A-Za-z0-9_-]*")
MAX_NAME, MAX_DESCRIPTION, MAX_TAGS, MAX_KEY, MAX_VALUE = 128, 1024, 10, 36, 43
# Query filters that compare one field of the image as shown.
FILTERS = ("id", "name", "status", "owner", "visibility", "__imagetype")


def create_image(call: Call) -> Reply:
    """POST /v2/cloudimages/action: validate, then queue an image and start its job."""
    body = call.body
    name = _check_name(body.get("name"))
    description = _check_description(body.get("description", ""))
    tags = _check_tags(body.get("tags"), body.get("image_tags"))
    min_ram, max_ram = _check_ram(body.get("min_ram")), _check_ram(body.get("max_ram"))
    server = _find_source_server(call.state, body.get("instance_id"))

    image = Image(
        id=str(uuid.uuid4()),
        name=name,
        status="queued",
        tags=tags,
        description=description,
        min_disk=server.system_disk_gb,
        min_ram=min_ram or 0,
        max_ram=max_ram,
        enterprise_project_id=str(body.get("enterprise_project_id") or "0"),
        created_at=call.now,
        updated_at=call.now,
    )
    job = call.state.begin_image_job(server, image)

    return Reply(200, {"job_id": job.id})


def show_job(call: Call) -> Reply:
    """GET /v1/{project_id}/jobs/{job_id}: the state of one image job."""
    job = call.state.image_jobs.get(call.params["job_id"])
    if job is None:
        message = f"The job {call.params['job_id']!r} does not exist."
        raise nested_error(404, "IMG.0000", message)

    return Reply(200, _describe_job(call.state, job, call.now))


def list_images(call: Call) -> Reply:
    """GET /v2/cloudimages: the images that pass the filters, newest first."""
    query = call.query
    found = [i for i in call.state.images.values() if _passes(call.state, i, query)]
    if query.get("sort_key", "created_at") != "created_at":
        raise _invalid("IMG.0001", f"Cannot sort by {query['sort_key']!r}.")
    newest_first = query.get("sort_dir") != "asc"
    found.sort(key=lambda image: image.created_at, reverse=newest_first)
    images = [describe_image(call.state, image) for image in _page(found, query)]

    return Reply(200, {"images": images})


def show_image(call: Call) -> Reply:
    """GET /v2/images/{image_id}: one image as a flat object."""
    image = call.state.images.get(call.params["image_id"])
    if image is None:
        message = f"The image {call.params['image_id']!r} does not exist."
        raise nested_error(404, "IMG.0027", message)

    return Reply(200, describe_image(call.state, image))


def describe_image(state: State, image: Image) -> dict[str, Any]:
    """The image as IMS shows it; nothing emulator-only leaks into it."""
    body: dict[str, Any] = {
        "id": image.id,
        "name": image.name,
        "status": image.status,
        "visibility": "private",
        "owner": state.credentials.project_id,
        "protected": False,
        "tags": list(image.tags),
        "__imagetype": "private",
        "__description": image.description,
        "__os_type": "Linux",
        "__image_size": str(image.size),
        "min_disk": image.min_disk,
        "min_ram": image.min_ram,
        "disk_format": "zvhd2",
        "container_format": "bare",
        "virtual_env_type": "FusionCompute",
        "enterprise_project_id": image.enterprise_project_id,
        "created_at": format_seconds(state.clock.at(image.created_at)),
        "updated_at": format_seconds(state.clock.at(image.updated_at)),
    }
    if image.max_ram is not None:
        body["max_ram"] = image.max_ram

    return body


def _check_name(name: Any) -> str:
    if name is None or name == "":
        raise _invalid("IMG.0013", "The image name is missing.")
    if not isinstance(name, str):
        raise _invalid("IMG.0003", f"The image name {name!r} is not a string.")
    if len(name) > MAX_NAME:
        message = f"The image name is longer than {MAX_NAME} characters."
        raise _invalid("IMG.0002", message)
    if not NAME_CHARACTERS.fullmatch(name) or name != name.strip(" "):
        raise _invalid("IMG.0003", f"The image name {name!r} is invalid.")

    return name


def _check_description(description: Any) -> str:
    if not isinstance(description, str) or re.search(r"[\r\n<>]", description):
        raise _invalid("IMG.0054", f"The description {description!r} is invalid.")
    if len(description) > MAX_DESCRIPTION:
        message = f"The description is longer than {MAX_DESCRIPTION} characters."
        raise _invalid("IMG.0004", message)

    return description


def _check_tags(old: Any, new: Any) -> list[str]:
    if old is not None and new is not None:
        raise _invalid("IMG.0001", "Give either 'tags' or 'image_tags', not both.")

    given = old if old is not None else new or []
    if not isinstance(given, list):
        raise _invalid("IMG.0115", "The tags must be a list.")
    if len(given) > MAX_TAGS:
        message = f"An image has at most {MAX_TAGS} tags, not {len(given)}."
        raise _invalid("IMG.0116", message)

    read_tag = _read_old_tag if old is not None else _read_new_tag
    pairs = [read_tag(tag) for tag in given]
    for key, value in pairs:
        if not key or len(key) > MAX_KEY or len(value) > MAX_VALUE:
            raise _invalid("IMG.0115", f"The tag {key!r}={value!r} is invalid.")

    # Both formats are stored as "key=value"; a key given twice keeps its last value.
    return [f"{key}={value}" for key, value in dict(pairs).items()]


def _read_old_tag(tag: Any) -> tuple[str, str]:
    key, dot, value = tag.partition(".") if isinstance(tag, str) else ("", "", "")
    valid = OLD_TAG_CHARACTERS.fullmatch(key) and OLD_TAG_CHARACTERS.fullmatch(value)
    if not dot or not valid:
        message = f"The tag {tag!r} is not 'key.value' made of A-Z a-z 0-9 _ -."
        raise _invalid("IMG.0115", message)

    return key, value


def _read_new_tag(tag: Any) -> tuple[str, str]:
    key = tag.get("key") if isinstance(tag, dict) else None
    value = tag.get("value", "") if isinstance(tag, dict) else None
    if not isinstance(key, str) or not isinstance(value, str):
        message = f"The tag {tag!r} is not {{'key': str, 'value': str}}."
        raise _invalid("IMG.0115", message)

    return key.strip(), value.strip()


def _check_ram(ram: Any) -> int | None:
    if ram is None:
        return None
    if isinstance(ram, bool) or not isinstance(ram, int) or ram < 0:
        raise _invalid("IMG.0001", f"The RAM size {ram!r} is not a number of MB.")

    return ram


def _find_source_server(state: State, server_id: Any) -> Server:
    if not isinstance(server_id, str) or not server_id:
        raise _invalid("IMG.0012", "The server id (instance_id) is missing.")

    server = state.servers.get(server_id)
    if server is None:
        raise _invalid("IMG.0005", f"The server {server_id!r} does not exist.")
    if server.task_state is not None:
        message = f"The server {server_id!r} is busy: {server.task_state}."
        raise _invalid("IMG.0010", message)
    if state.require_stopped and server.status != "SHUTOFF":
        raise _invalid("IMG.0008", f"The server {server_id!r} is not stopped.")

    return server


def _passes(state: State, image: Image, query: dict[str, str]) -> bool:
    body = describe_image(state, image)
    if any(key in query and query[key] != body[key] for key in FILTERS):
        return False

    return "tag" not in query or query["tag"] in image.tags


def _page(images: list[Image], query: dict[str, str]) -> list[Image]:
    limit = query.get("limit", "500")
    if not limit.isdigit():
        raise _invalid("IMG.0001", f"The limit {limit!r} is not a whole number.")

    ids = [image.id for image in images]
    marker = query.get("marker")
    if marker is not None and marker not in ids:
        message = f"The marker {marker!r} is not an image in this list."
        raise _invalid("IMG.0001", message)
    start = 0 if marker is None else ids.index(marker) + 1

    return images[start : start + int(limit)]


def _describe_job(state: State, job: ImageJob, now: float) -> dict[str, Any]:
    entities: dict[str, Any] = {"image_name": job.image_name}
    if job.status in ("RUNNING", "SUCCESS"):
        entities["image_id"] = job.image_id
    if job.status == "RUNNING":
        done = min((now - job.begin) / job.duration, 0.99)
        entities["process_percent"] = round(done * 100, 1)

    fault = job.fault if job.status == "FAIL" else None
    end = "" if job.end is None else format_millis(state.clock.at(job.end))

    return {
        "status": job.status,
        "job_id": job.id,
        "job_type": "imsCreateImageByInstance",
        "begin_time": format_millis(state.clock.at(job.begin)),
        "end_time": end,
        "error_code": fault.error_code if fault else None,
        "fail_reason": fault.fail_reason if fault else None,
        "entities": entities,
    }


def _invalid(code: str, message: str) -> ApiError:
    return nested_error(400, code, message)


SERVICE = Service(
    name="ims",
    routes=(
        route("POST", "/v2/cloudimages/action", "ims.create_image", create_image),
        route("GET", "/v1/{project_id}/jobs/{job_id}", "ims.show_job", show_job),
        route("GET", "/v2/cloudimages", "ims.list_images", list_images),
        route("GET", "/v2/images/{image_id}", "ims.show_image", show_image),
    ),
    operations=(
        "ims.create_image",
        "ims.show_job",
        "ims.list_images",
        "ims.show_image",
    ),
    bad_body=lambda message: _invalid("IMG.0001", message),
)
