"""IMS images: queries, deletion and tags, and the rules for names and tags (section 2).

Emulator choices where the documentation is silent:

- An image is visible to its own project only; any other id is 404 IMG.0027.
- A description may hold neither ``\\r`` nor ``\\n``, and an old-format tag must
  have the ``.`` between key and value.
- A ``marker`` that is not in the list is 400; ``created_at`` and ``updated_at``
  filters compare whole seconds.
- Deleting a tag key the image lacks (``DELETE .../tags/{key}``) is 404 IMG.0115.
- ``max_ram`` is shown as a string, as the Huawei SDK model has it.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from .clock import format_seconds
from .state import Image, State
from .wire import ApiError, Call, Reply, nested_error

NAME_CHARACTERS = re.compile(r"[A-Za-z0-9._ -]+")
OLD_TAG_CHARACTERS = re.compile(r"[A-Za-z0-9_-]*")
MAX_NAME, MAX_DESCRIPTION, MAX_TAGS, MAX_KEY, MAX_VALUE = 128, 1024, 10, 36, 43
MAX_DELETE_KEY = 127
UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
# Query filters that compare one field of the image as shown.
FILTERS = (
    "id",
    "name",
    "status",
    "owner",
    "visibility",
    "__imagetype",
    "__whole_image",
    "virtual_env_type",
)
SORT_KEYS = (
    "name",
    "container_format",
    "disk_format",
    "status",
    "id",
    "size",
    "created_at",
)
COMPARISONS: dict[str, Callable[[Any, Any], bool]] = {
    "gt": operator.gt,
    "gte": operator.ge,
    "lt": operator.lt,
    "lte": operator.le,
    "eq": operator.eq,
    "neq": operator.ne,
}


def list_images(call: Call) -> Reply:
    """GET /v2/cloudimages: the images that pass the filters, sorted and paged."""
    query = call.query
    since = {key: _read_time_filter(query, key) for key in ("created_at", "updated_at")}
    sort_key, newest_first = _read_sort(query)

    shown = [
        (image, describe_image(call.state, image))
        for image in call.state.images.values()
        if image.project_id == call.project_id
    ]
    found = [
        (image, body)
        for image, body in shown
        if _passes(body, query) and _passes_times(call.state, image, since)
    ]
    found.sort(key=lambda pair: _sort_value(pair, sort_key), reverse=newest_first)
    images = [body for _, body in _page(found, query)]

    return Reply(200, {"images": images})


def show_image(call: Call) -> Reply:
    """GET /v2/images/{image_id}: one image as a flat object."""
    return Reply(200, describe_image(call.state, find_image(call)))


def delete_image(call: Call) -> Reply:
    """DELETE /v2/images/{image_id}: remove an image that is done being made."""
    image = find_image(call)
    delete_backup = call.body.get("delete_backup", False)
    if not isinstance(delete_backup, bool):
        message = f"'delete_backup' is true or false, not {delete_backup!r}."
        raise invalid("IMG.0001", message)
    if image.status in ("queued", "saving"):
        message = f"The image {image.id!r} is still being created."
        raise invalid("IMG.0090", message)

    del call.state.images[image.id]
    backup = call.state.backups.get(image.backup_id or "")
    if backup is not None:
        backup.deleted = delete_backup

    return Reply(204, None)


def add_tag(call: Call) -> Reply:
    """POST /v2/{project_id}/images/{image_id}/tags: add or overwrite one tag."""
    image = find_image(call)
    tag = call.body.get("tag")
    key, value = _check_tag(*_read_new_tag(tag))
    _store_tags(image, _tag_map(image) | {key: value})

    return Reply(204, None)


def change_tags(call: Call) -> Reply:
    """POST /v2/{project_id}/images/{image_id}/tags/action: batch create or delete."""
    image = find_image(call)
    action, given = call.body.get("action"), call.body.get("tags")
    if action not in ("create", "delete") or not isinstance(given, list):
        message = "The body is {'action': 'create'|'delete', 'tags': [...]}."
        raise invalid("IMG.0001", message)

    tags = _tag_map(image)
    if action == "create":
        pairs = [_check_tag(*_read_new_tag(tag)) for tag in given]
        _store_tags(image, tags | _collect_tags(pairs))
    else:
        for key in [_read_delete_key(tag) for tag in given]:
            tags.pop(key, None)
        _store_tags(image, tags)

    return Reply(204, None)


def delete_tag(call: Call) -> Reply:
    """DELETE /v2/{project_id}/images/{image_id}/tags/{key}: remove one tag, or 404."""
    image = find_image(call)
    key = unquote(call.params["key"])
    tags = _tag_map(image)
    if key not in tags:
        message = f"The image {image.id!r} has no tag {key!r}."
        raise nested_error(404, "IMG.0115", message)

    del tags[key]
    _store_tags(image, tags)

    return Reply(204, None)


def list_tags(call: Call) -> Reply:
    """GET /v2/{project_id}/images/{image_id}/tags: the image's key/value tags."""
    tags = _tag_map(find_image(call)).items()

    return Reply(200, {"tags": [{"key": key, "value": value} for key, value in tags]})


def find_image(call: Call) -> Image:
    """The caller's image named in the path; 404 IMG.0027 for any other."""
    image = call.state.images.get(call.params["image_id"])
    if image is None or image.project_id != call.project_id:
        message = f"The image {call.params['image_id']!r} does not exist."
        raise nested_error(404, "IMG.0027", message)

    return image


def describe_image(state: State, image: Image) -> dict[str, Any]:
    """The image as IMS shows it; nothing emulator-only leaks into it."""
    body: dict[str, Any] = {
        "id": image.id,
        "name": image.name,
        "status": image.status,
        "visibility": "private",
        "owner": image.project_id,
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
        "virtual_env_type": "DataImage" if image.kind == "data" else "FusionCompute",
        "enterprise_project_id": image.enterprise_project_id,
        "created_at": format_seconds(state.clock.at(image.created_at)),
        "updated_at": format_seconds(state.clock.at(image.updated_at)),
    }
    if image.max_ram is not None:
        body["max_ram"] = str(image.max_ram)
    if image.kind == "whole":
        body["__whole_image"] = "true"
        body["__backup_id"] = image.backup_id

    return body


def check_name(name: Any) -> str:
    """An image name by the documented rules (IMG.0013, IMG.0002, IMG.0003)."""
    if name is None or name == "":
        raise invalid("IMG.0013", "The image name is missing.")
    if not isinstance(name, str):
        raise invalid("IMG.0003", f"The image name {name!r} is not a string.")
    if len(name) > MAX_NAME:
        message = f"The image name is longer than {MAX_NAME} characters."
        raise invalid("IMG.0002", message)
    if not NAME_CHARACTERS.fullmatch(name) or name != name.strip(" "):
        raise invalid("IMG.0003", f"The image name {name!r} is invalid.")

    return name


def check_description(description: Any) -> str:
    """A description by the documented rules (IMG.0054, IMG.0004)."""
    if not isinstance(description, str) or re.search(r"[\r\n<>]", description):
        raise invalid("IMG.0054", f"The description {description!r} is invalid.")
    if len(description) > MAX_DESCRIPTION:
        message = f"The description is longer than {MAX_DESCRIPTION} characters."
        raise invalid("IMG.0004", message)

    return description


def check_tags(old: Any, new: Any) -> list[str]:
    """Tags at creation, in either format but not both, stored as ``key=value``."""
    if old is not None and new is not None:
        raise invalid("IMG.0001", "Give either 'tags' or 'image_tags', not both.")

    given = old if old is not None else new or []
    if not isinstance(given, list):
        raise invalid("IMG.0115", "The tags must be a list.")

    read_tag = _read_old_tag if old is not None else _read_new_tag
    tags = _collect_tags([_check_tag(*read_tag(tag)) for tag in given])
    _check_tag_count(len(tags))

    return [f"{key}={value}" for key, value in tags.items()]


def check_ram(ram: Any) -> int | None:
    """A RAM limit in MB, or None when not given."""
    if ram is None:
        return None
    if isinstance(ram, bool) or not isinstance(ram, int) or ram < 0:
        raise invalid("IMG.0001", f"The RAM size {ram!r} is not a number of MB.")

    return ram


def check_enterprise_project(value: Any) -> str:
    """``"0"`` (also for empty or absent) or the UUID of an enterprise project."""
    if value is None or value in ("", "0"):
        return "0"
    if not isinstance(value, str) or not UUID.fullmatch(value):
        raise invalid("IMG.0001", f"The enterprise project id {value!r} is invalid.")

    return value


def invalid(code: str, message: str) -> ApiError:
    """An IMS 400 with this code."""
    return nested_error(400, code, message)


def _check_tag(key: str, value: str) -> tuple[str, str]:
    if not key or len(key) > MAX_KEY or len(value) > MAX_VALUE:
        raise invalid("IMG.0115", f"The tag {key!r}={value!r} is invalid.")

    return key, value


def _collect_tags(pairs: list[tuple[str, str]]) -> dict[str, str]:
    tags = dict(pairs)
    if len(tags) < len(pairs):
        raise invalid("IMG.0115", "A tag key appears twice in one request.")

    return tags


def _check_tag_count(count: int) -> None:
    if count > MAX_TAGS:
        raise invalid("IMG.0116", f"An image has at most {MAX_TAGS} tags, not {count}.")


def _read_old_tag(tag: Any) -> tuple[str, str]:
    key, dot, value = tag.partition(".") if isinstance(tag, str) else ("", "", "")
    valid = OLD_TAG_CHARACTERS.fullmatch(key) and OLD_TAG_CHARACTERS.fullmatch(value)
    if not dot or not valid:
        message = f"The tag {tag!r} is not 'key.value' made of A-Z a-z 0-9 _ -."
        raise invalid("IMG.0115", message)

    return key, value


def _read_new_tag(tag: Any) -> tuple[str, str]:
    key = tag.get("key") if isinstance(tag, dict) else None
    value = tag.get("value", "") if isinstance(tag, dict) else None
    if not isinstance(key, str) or not isinstance(value, str):
        message = f"The tag {tag!r} is not {{'key': str, 'value': str}}."
        raise invalid("IMG.0115", message)

    return key.strip(), value.strip()


def _read_delete_key(tag: Any) -> str:
    # Batch delete checks the length of a key only, and a longer limit.
    key = tag.get("key") if isinstance(tag, dict) else None
    if not isinstance(key, str) or not 0 < len(key.strip()) <= MAX_DELETE_KEY:
        raise invalid("IMG.0115", f"The tag {tag!r} has no valid key to delete.")

    return key.strip()


def _tag_map(image: Image) -> dict[str, str]:
    pairs = [tag.partition("=") for tag in image.tags]

    return {key: value for key, _, value in pairs}


def _store_tags(image: Image, tags: dict[str, str]) -> None:
    _check_tag_count(len(tags))
    image.tags = [f"{key}={value}" for key, value in tags.items()]


def _read_time_filter(
    query: dict[str, str],
    key: str,
) -> Callable[[datetime], bool] | None:
    if key not in query:
        return None

    op, _, text = query[key].partition(":")
    try:
        moment = datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        compare = COMPARISONS[op]
    except (KeyError, ValueError) as exc:
        message = f"The {key} filter is 'op:yyyy-MM-ddThh:mm:ssZ', not {query[key]!r}."
        raise invalid("IMG.0001", message) from exc

    return lambda when: compare(when, moment)


def _passes_times(
    state: State, image: Image, since: dict[str, Callable[[datetime], bool] | None]
) -> bool:
    times = {"created_at": image.created_at, "updated_at": image.updated_at}
    for key, accepts in since.items():
        when = state.clock.at(times[key]).replace(microsecond=0)
        if accepts is not None and not accepts(when):
            return False

    return True


def _passes(body: dict[str, Any], query: dict[str, str]) -> bool:
    shown = body | {"__whole_image": body.get("__whole_image", "false")}
    if any(key in query and query[key] != shown[key] for key in FILTERS):
        return False

    return "tag" not in query or query["tag"] in body["tags"]


def _read_sort(query: dict[str, str]) -> tuple[str, bool]:
    sort_key, sort_dir = (
        query.get("sort_key", "created_at"),
        query.get("sort_dir", "desc"),
    )
    if sort_key not in SORT_KEYS:
        raise invalid("IMG.0001", f"Cannot sort by {sort_key!r}.")
    if sort_dir not in ("asc", "desc"):
        message = f"The sort direction is asc or desc, not {sort_dir!r}."
        raise invalid("IMG.0001", message)

    return sort_key, sort_dir == "desc"


def _sort_value(pair: tuple[Image, dict[str, Any]], sort_key: str) -> Any:
    image, body = pair
    if sort_key in ("created_at", "size"):
        return getattr(image, sort_key)

    return body[sort_key]


def _page(
    found: list[tuple[Image, dict[str, Any]]], query: dict[str, str]
) -> list[tuple[Image, dict[str, Any]]]:
    limit = query.get("limit", "500")
    if not limit.isdigit():
        raise invalid("IMG.0001", f"The limit {limit!r} is not a whole number.")

    ids = [image.id for image, _ in found]
    marker = query.get("marker")
    if marker is not None and marker not in ids:
        message = f"The marker {marker!r} is not an image in this list."
        raise invalid("IMG.0001", message)
    start = 0 if marker is None else ids.index(marker) + 1

    return found[start : start + int(limit)]
