"""The IMS calls of the layer against the emulator: create, job, show, list, tag, delete."""

import pytest
from ecs_imaging import ims
from ecs_imaging.models import ImageSpec, JobStatus
from ecs_imaging.session import CloudSession
from ecs_imaging_local.emulator import ServerSpec
from support.emulator import frozen_emulator

STOPPED = ServerSpec("2b7e9c4d-1a3f-4d5e-8b6c-7d8e9f0a1b23", "web-07", "SHUTOFF", 15)
JOB_DONE = 3600


@pytest.fixture
def emulator():
    with frozen_emulator(STOPPED) as emulator:
        yield emulator


@pytest.fixture
def session():
    return CloudSession()


def _made_image(emulator, session, **spec):
    job_id = ims.create_image_from_server(
        session, server_id=STOPPED.id, spec=ImageSpec(name="web-07-nightly", **spec)
    )
    emulator.clock.advance(JOB_DONE)
    job = ims.show_job(session, job_id)
    assert job.status is JobStatus.SUCCESS

    return job


def test_a_created_image_is_in_its_job_and_shown_as_asked(emulator, session):
    job = _made_image(emulator, session, description="nightly", tags={"owner": "ops"})

    image = ims.show_image(session, job.entities.image_id)

    assert (image.name, image.status) == ("web-07-nightly", "active")
    assert image.tag_map["owner"] == "ops"


def test_images_are_listed_by_tag_name_and_status(emulator, session):
    job = _made_image(emulator, session, tags={"owner": "ops"})
    image_id = job.entities.image_id

    assert [i.id for i in ims.list_images(session, tag=("owner", "ops"))] == [image_id]
    assert [i.id for i in ims.list_images(session, name="web-07-nightly")] == [image_id]
    assert [i.id for i in ims.list_images(session, status="active")] == [image_id]
    assert ims.list_images(session, tag=("owner", "dev")) == []


def test_tags_are_added_and_removed(emulator, session):
    image_id = _made_image(emulator, session).entities.image_id

    ims.add_image_tags(session, image_id, {"keep": "yes", "tier": "web"})
    ims.remove_image_tags(session, image_id, ["tier", "absent"])

    assert ims.show_image(session, image_id).tag_map == {"keep": "yes"}


def test_a_deleted_image_is_gone_and_a_second_delete_says_so(emulator, session):
    image_id = _made_image(emulator, session).entities.image_id

    assert ims.delete_image(session, image_id) is True
    assert ims.delete_image(session, image_id) is False
    assert ims.list_images(session, name="web-07-nightly") == []


def test_the_quota_counts_the_image_made(emulator, session):
    before = ims.show_quota(session)
    _made_image(emulator, session)

    after = ims.show_quota(session)

    assert after.used == before.used + 1
