"""Retention: which earlier images of a server to delete after a new one is made.

Only images this pipeline made for this server are candidates (both of its own
tags present); an image carrying the policy's keep key is never deleted.
"""

import logging
from datetime import datetime, timedelta
from typing import NamedTuple

from . import ecs, ims, naming
from .clock import parse_timestamp
from .errors import ImageBusy
from .models import Image, RetentionPolicy
from .session import CloudSession

logger = logging.getLogger(__name__)


class Deletion(NamedTuple):
    """An image retention deleted, or meant to."""

    image_id: str
    image_name: str
    created_at: str | None
    backup_deleted: bool
    deleted: bool
    reason: str


def plan(
    images: list[Image],
    policy: RetentionPolicy,
    server_id: str,
    now: datetime,
    protect: frozenset[str] = frozenset(),
) -> list[Image]:
    """The images to delete, oldest last; pure, so it is easy to reason about."""
    candidates = [
        image
        for image in images
        if image.tag_map.get(naming.SERVER_TAG) == server_id
        and naming.RUN_TAG in image.tag_map
        and policy.keep_tag_key not in image.tag_map
        and image.status == "active"
        and image.id not in protect
    ]
    candidates.sort(key=lambda image: image.created_at or "", reverse=True)
    # The protected (just made) images count as the newest of the last N.
    newest_slots = max((policy.keep_last or 0) - len(protect), 0)

    doomed = []
    for rank, image in enumerate(candidates):
        within_count = policy.keep_last is not None and rank < newest_slots
        within_age = policy.max_age_days is not None and not _older_than(
            image, now, policy.max_age_days
        )
        if not (within_count or within_age):
            doomed.append(image)

    return doomed


def apply(
    session: CloudSession,
    policy: RetentionPolicy,
    server_id: str,
    now: datetime,
    protect: frozenset[str] = frozenset(),
) -> list[Deletion]:
    """Delete what the policy says for one server; report each image it touched."""
    images = ims.list_images(session, tag=(naming.SERVER_TAG, server_id))
    deletions = []
    for image in plan(images, policy, server_id, now, protect):
        backup = policy.delete_backup and image.is_whole_image
        try:
            deleted = ims.delete_image(
                session, image.id, delete_backup=backup if image.is_whole_image else None
            )
            reason = "deleted" if deleted else "already gone"
        except ImageBusy:
            deleted, reason = False, "busy: left for the next run"
        deletions.append(Deletion(image.id, image.name, image.created_at, backup, deleted, reason))
        logger.debug("Retention", extra={"image_id": image.id, "result": reason})

    return deletions


def _older_than(image: Image, now: datetime, days: int) -> bool:
    if not image.created_at:
        return False

    return parse_timestamp(image.created_at) < now - timedelta(days=days)


def sweep(
    session: CloudSession, tag: tuple[str, str], policy: RetentionPolicy, now: datetime
) -> dict[str, list[Deletion]]:
    """Retention on its own schedule: apply the policy to every server with a tag."""
    return {
        server.id: apply(session, policy, server.id, now)
        for server in ecs.list_servers(session, tag=tag)
    }
