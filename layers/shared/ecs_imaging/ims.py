"""Typed calls to the IMS operations the pipeline uses."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from .models import Image, Job
from .session import CloudSession

logger = logging.getLogger(__name__)

PAGE_SIZE = 500


def create_image_from_server(
    session: CloudSession,
    *,
    server_id: str,
    name: str,
    description: str,
    tags: Mapping[str, str],
) -> str:
    """Start an image job for the server's system disk; returns the image job id.

    Never retried blindly: a repeated create would make a second image.
    """
    body = {
        "name": name,
        "instance_id": server_id,
        "description": description,
        "image_tags": [{"key": key, "value": value} for key, value in tags.items()],
    }
    response = session.request("ims", "POST", "/v2/cloudimages/action", json=body)
    job_id = str(response.json()["job_id"])
    logger.debug("Image job accepted", extra={"job_id": job_id})

    return job_id


def show_job(session: CloudSession, job_id: str) -> Job:
    """An image job as IMS reports it."""
    response = session.request("ims", "GET", f"/v1/{session.project_id}/jobs/{job_id}")

    return Job.model_validate(response.json())


def show_image(session: CloudSession, image_id: str) -> Image:
    """One image by id."""
    response = session.request("ims", "GET", f"/v2/images/{image_id}")

    return Image.model_validate(response.json())


def list_images(
    session: CloudSession, *, tag: tuple[str, str] | None = None, name: str | None = None
) -> list[Image]:
    """The project's private images matching a tag and/or a name, all pages."""
    params: dict[str, str | int] = {
        "__imagetype": "private",
        "owner": session.project_id,
        "limit": PAGE_SIZE,
    }
    if tag is not None:
        params["tag"] = f"{tag[0]}={tag[1]}"
    if name is not None:
        params["name"] = name

    images: list[Image] = []
    while True:
        response = session.request("ims", "GET", "/v2/cloudimages", params=params)
        page = [Image.model_validate(item) for item in response.json().get("images", [])]
        images.extend(page)
        if len(page) < PAGE_SIZE:
            return images
        params["marker"] = page[-1].id
