"""Typed calls to the IMS operations the pipeline uses (reference/ims-api.md, section 2).

Image creation is never retried blindly: a repeated create would make a second
image. Reads, tag changes and deletions are safe to repeat.
"""

import logging
import re
from collections.abc import Iterable, Mapping
from typing import Any, Literal, NamedTuple

from .errors import InvalidInput, ResourceNotFound
from .http import job_id_of, json_object
from .models import (
    OLD_TAG_PART_PATTERN,
    Image,
    ImageQuota,
    ImageSpec,
    ImageTagSet,
    Job,
    parse_api,
    parse_model,
)
from .session import CloudSession

logger = logging.getLogger(__name__)

PAGE_SIZE = 500
_SPEC_OPTIONS = {"max_ram", "min_ram", "enterprise_project_id"}
_OLD_TAG_PART = re.compile(OLD_TAG_PART_PATTERN)
ExportFormat = Literal["qcow2", "vhd", "zvhd", "vmdk"]


class DataDiskImage(NamedTuple):
    """One data-disk image to make: the attached volume and what to call the image."""

    volume_id: str
    spec: ImageSpec


def create_image_from_server(session: CloudSession, *, server_id: str, spec: ImageSpec) -> str:
    """Start a system-disk image job for the server; returns the image job id."""
    body = {**_spec_body(spec), "instance_id": server_id}

    return _start_job(session, "/v2/cloudimages/action", body)


def create_whole_image(
    session: CloudSession, *, server_id: str, spec: ImageSpec, vault_id: str | None
) -> str:
    """Start a full-ECS image job (all disks, through a backup); returns its job id.

    A `vault_id` is required when the server is backed up by CBR.
    """
    body = {**_spec_body(spec), "instance_id": server_id}
    if vault_id:
        body["vault_id"] = vault_id

    return _start_job(session, "/v1/cloudimages/wholeimages/action", body)


def create_data_disk_images(session: CloudSession, disks: Iterable[DataDiskImage]) -> str:
    """Start one job that images each given data disk; returns its job id.

    The data-disk variant takes only old-style `key.value` tags, whose character
    rules are narrower: a spec's tags must fit them (InvalidInput before any call
    if not), and any other tags are added once the job has made the images.
    """
    data_images = [
        {
            "name": disk.spec.name,
            "volume_id": disk.volume_id,
            "description": disk.spec.description,
            **({"tags": _old_format_tags(disk.spec.tags)} if disk.spec.tags else {}),
        }
        for disk in disks
    ]
    if not data_images:
        raise InvalidInput("No data disk to image: the server has none attached.")

    return _start_job(session, "/v2/cloudimages/action", {"data_images": data_images})


def show_job(session: CloudSession, job_id: str) -> Job:
    """An image job as IMS reports it."""
    response = session.request("ims", "GET", f"/v1/{session.project_id}/jobs/{job_id}")

    return parse_api(Job, json_object(response), "job")


def show_image(session: CloudSession, image_id: str) -> Image:
    """One image by id."""
    response = session.request("ims", "GET", f"/v2/images/{image_id}")

    return parse_api(Image, json_object(response), "image")


def list_images(
    session: CloudSession,
    *,
    tag: tuple[str, str] | None = None,
    name: str | None = None,
    status: str | None = None,
    created_before: str | None = None,
) -> list[Image]:
    """The project's private images matching every filter given, all pages."""
    params: dict[str, str | int] = {
        "__imagetype": "private",
        "owner": session.project_id,
        "limit": PAGE_SIZE,
        "sort_key": "created_at",
        "sort_dir": "desc",
    }
    if tag is not None:
        params["tag"] = f"{tag[0]}={tag[1]}"
    if name is not None:
        params["name"] = name
    if status is not None:
        params["status"] = status
    if created_before is not None:
        params["created_at"] = f"lt:{created_before}"

    images: list[Image] = []
    while True:
        response = session.request("ims", "GET", "/v2/cloudimages", params=params)
        page = [parse_api(Image, item, "image") for item in json_object(response).get("images", [])]
        images.extend(page)
        if len(page) < PAGE_SIZE:
            return images
        params["marker"] = page[-1].id


def add_image_tags(session: CloudSession, image_id: str, tags: Mapping[str, str]) -> None:
    """Add or overwrite tags of an image (IMS keeps at most 10)."""
    checked = parse_model(ImageTagSet, {"tags": dict(tags)}, "image tags")
    pairs = [{"key": key, "value": value} for key, value in checked.tags.items()]
    _tag_action(session, image_id, "create", pairs)


def remove_image_tags(session: CloudSession, image_id: str, keys: Iterable[str]) -> None:
    """Remove tags of an image; a key the image does not have is no error."""
    _tag_action(session, image_id, "delete", [{"key": key} for key in keys])


def delete_image(
    session: CloudSession, image_id: str, *, delete_backup: bool | None = None
) -> bool:
    """Delete an image; False when it was already gone.

    `delete_backup` applies to full-ECS images: whether their CBR or CSBS backup
    goes with them.
    """
    body = None if delete_backup is None else {"delete_backup": delete_backup}
    try:
        session.request("ims", "DELETE", f"/v2/images/{image_id}", json=body, idempotent=True)
    except ResourceNotFound:
        return False

    return True


def export_image(
    session: CloudSession,
    image_id: str,
    *,
    bucket: str,
    object_name: str,
    file_format: ExportFormat | None,
) -> str:
    """Start exporting an image to OBS; returns the export job id.

    `file_format=None` asks for a quick export (ZVHD2), the only kind IMS offers
    for images above 128 GB.
    """
    if not bucket or not object_name or ":" in bucket:
        raise InvalidInput(
            f"Export needs a bucket and an object name, got {bucket!r} and {object_name!r}."
        )
    body: dict[str, Any] = {"bucket_url": f"{bucket}:{object_name}"}
    if file_format is None:
        body["is_quick_export"] = True
    else:
        body["file_format"] = file_format

    return _start_job(session, f"/v1/cloudimages/{image_id}/file", body)


def show_quota(session: CloudSession) -> ImageQuota:
    """The project's private image quota."""
    response = session.request("ims", "GET", "/v1/cloudimages/quota", idempotent=True)
    resources = json_object(response).get("quotas", {}).get("resources", [])
    for resource in resources:
        if isinstance(resource, dict) and resource.get("type") == "image":
            return parse_api(ImageQuota, resource, "image quota")

    raise ResourceNotFound("IMS answered the quota query without an 'image' quota.")


def _spec_body(spec: ImageSpec) -> dict[str, Any]:
    # Always the new key/value tag format: never `tags` and `image_tags` together.
    body: dict[str, Any] = {
        "name": spec.name,
        "description": spec.description,
        "image_tags": [{"key": key, "value": value} for key, value in spec.tags.items()],
    }
    # The options go only when set, so a body left alone keeps IMS's own defaults.
    options = spec.model_dump(include=_SPEC_OPTIONS, exclude_unset=True, exclude_none=True)

    return body | options


def _old_format_tags(tags: Mapping[str, str]) -> list[str]:
    for key, value in tags.items():
        if not (_OLD_TAG_PART.fullmatch(key) and _OLD_TAG_PART.fullmatch(value)):
            raise InvalidInput(
                f"Tag {key!r}={value!r} does not fit the old format 'key.value' "
                "(letters, digits, '_' and '-') that data-disk images take."
            )

    return [f"{key}.{value}" for key, value in tags.items()]


def _start_job(session: CloudSession, path: str, body: Mapping[str, Any]) -> str:
    response = session.request("ims", "POST", path, json=body)
    job_id = job_id_of(response)
    logger.debug("Image job accepted", extra={"job_id": job_id, "path": path})

    return job_id


def _tag_action(
    session: CloudSession, image_id: str, action: str, tags: list[dict[str, str]]
) -> None:
    if not tags:
        return
    session.request(
        "ims",
        "POST",
        f"/v2/{session.project_id}/images/{image_id}/tags/action",
        json={"action": action, "tags": tags},
        idempotent=True,
    )
