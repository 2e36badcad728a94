"""Retention: which earlier images of a server to delete after a new one is made.

Only images this pipeline made for this server are candidates (both of its own
tags present); an image carrying the policy's keep key is never deleted, and one
IMS protects is kept and reported, since IMS refuses to delete it (IMG.0028). A
deletion that fails is reported and the pass goes on with the next image, and the
scheduled pass with the next server.
"""

import logging
from datetime import datetime, timedelta
from typing import NamedTuple

from . import ecs, ims, naming
from .clock import parse_timestamp
from .errors import CloudError, EcsImagingError, ImageBusy
from .models import Image, RetentionPolicy, Server
from .session import CloudSession

logger = logging.getLogger(__name__)

PROTECTED = "kept: the image is protected"
ALREADY_GONE = "already gone"


class Deletion(NamedTuple):
    """An image retention deleted, or meant to; `error_code` is the cloud's refusal."""

    image_id: str
    image_name: str
    created_at: str | None
    backup_deleted: bool
    deleted: bool
    reason: str
    error_code: str | None = None

    @property
    def kept(self) -> bool:
        """The image is still there: protected, busy, or its deletion failed."""
        return not self.deleted and self.reason != ALREADY_GONE


class Plan(NamedTuple):
    """The images to delete, and those the policy would delete but IMS protects."""

    doomed: list[Image]
    protected: list[Image]


class ServerRetention(NamedTuple):
    """What retention did to one server's images, or the error that stopped it."""

    server_id: str
    server_name: str
    deletions: list[Deletion]
    error: str | None = None
    message: str | None = None


def plan(
    images: list[Image],
    policy: RetentionPolicy,
    server_id: str,
    now: datetime,
    protect: frozenset[str] = frozenset(),
) -> Plan:
    """The images to delete, newest first; pure, so it is easy to reason about.

    `keep_last` keeps the newest by creation time of all the server's pipeline
    images, IMS-protected ones included. An image in `protect` (the run's own) is
    never deleted and takes one of those places only by its own age, so that a run
    finished late cannot cost a later run its image.
    """
    ours = [
        image
        for image in images
        if image.tag_map.get(naming.SERVER_TAG) == server_id
        and naming.RUN_TAG in image.tag_map
        and policy.keep_tag_key not in image.tag_map
        and image.status == "active"
    ]
    ours.sort(key=lambda image: image.created_at or "", reverse=True)

    expired = []
    for rank, image in enumerate(ours):
        within_count = policy.keep_last is not None and rank < policy.keep_last
        within_age = policy.max_age_days is not None and not _older_than(
            image, now, policy.max_age_days
        )
        if not (within_count or within_age or image.id in protect):
            expired.append(image)

    return Plan(
        doomed=[image for image in expired if not image.protected],
        protected=[image for image in expired if image.protected],
    )


def apply(
    session: CloudSession,
    policy: RetentionPolicy,
    server_id: str,
    now: datetime,
    protect: frozenset[str] = frozenset(),
) -> list[Deletion]:
    """Delete what the policy says for one server; report each image it touched."""
    images = ims.list_images(session, tag=(naming.SERVER_TAG, server_id))
    chosen = plan(images, policy, server_id, now, protect)

    kept = [
        Deletion(image.id, image.name, image.created_at, False, False, PROTECTED)
        for image in chosen.protected
    ]

    return kept + [_delete(session, policy, image) for image in chosen.doomed]


def sweep(
    session: CloudSession, tag: tuple[str, str], policy: RetentionPolicy, now: datetime
) -> list[ServerRetention]:
    """Retention on its own schedule: apply the policy to every server with a tag."""
    return [
        _apply_to(session, policy, server, now) for server in ecs.list_servers(session, tag=tag)
    ]


def _delete(session: CloudSession, policy: RetentionPolicy, image: Image) -> Deletion:
    backup = policy.delete_backup and image.is_whole_image
    error_code = None
    try:
        deleted = ims.delete_image(
            session, image.id, delete_backup=backup if image.is_whole_image else None
        )
        reason = "deleted" if deleted else ALREADY_GONE
    except ImageBusy:
        deleted, reason = False, "busy: left for the next run"
    except CloudError as exc:
        # One image IMS refuses must cost neither the others their deletion nor
        # the run its success.
        deleted, reason, error_code = False, f"failed: {type(exc).__name__}", exc.error_code
    logger.debug("Retention", extra={"image_id": image.id, "result": reason})

    return Deletion(
        image.id, image.name, image.created_at, backup and deleted, deleted, reason, error_code
    )


def _apply_to(
    session: CloudSession, policy: RetentionPolicy, server: Server, now: datetime
) -> ServerRetention:
    try:
        deletions = apply(session, policy, server.id, now)
    except EcsImagingError as exc:
        # One server's trouble must not keep the other servers' images.
        logger.debug("Retention failed", extra={"server_id": server.id})
        return ServerRetention(server.id, server.name, [], type(exc).__name__, str(exc)[:1000])

    return ServerRetention(server.id, server.name, deletions)


def _older_than(image: Image, now: datetime, days: int) -> bool:
    if not image.created_at:
        return False

    return parse_timestamp(image.created_at) < now - timedelta(days=days)
