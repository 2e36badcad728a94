from datetime import UTC, datetime, timedelta

import httpx
import pytest
from ecs_imaging import naming, retention
from ecs_imaging.models import Image, RetentionPolicy
from ecs_imaging.session import CloudSession
from support.cloud import ECS, IMS, PROJECT_ID

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
SERVER = "3c9a1f6e-5d2b-4c8e-9f7a-1b2c3d4e5f60"
OTHER = "8f14e45f-ceea-467f-a0e6-1f2c3d4e5a61"


def _image(
    image_id,
    days_old,
    server=SERVER,
    extra_tags=(),
    managed=True,
    status="active",
    protected=False,
):
    tags = [f"{naming.SERVER_TAG}={server}", *extra_tags]
    if managed:
        tags.append(f"{naming.RUN_TAG}=r-{image_id}")
    created = (NOW - timedelta(days=days_old)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Image(
        id=image_id,
        name=image_id,
        status=status,
        tags=tags,
        created_at=created,
        protected=protected,
    )


def _ids(images):
    return [image.id for image in images]


def test_keep_last_deletes_the_oldest_beyond_n():
    images = [_image(f"i{age}", age) for age in range(5)]

    doomed, _ = retention.plan(images, RetentionPolicy(keep_last=2), SERVER, NOW)

    assert _ids(doomed) == ["i2", "i3", "i4"]


def test_the_new_image_counts_among_the_last_n():
    images = [_image(f"i{age}", age) for age in range(4)]

    doomed, _ = retention.plan(
        images, RetentionPolicy(keep_last=2), SERVER, NOW, protect=frozenset({"i0"})
    )

    assert _ids(doomed) == ["i2", "i3"]


def test_an_older_run_image_leaves_the_newer_images_their_places():
    images = [_image("newer", 1), _image("run", 5), _image("older", 10)]

    doomed, _ = retention.plan(
        images, RetentionPolicy(keep_last=1), SERVER, NOW, protect=frozenset({"run"})
    )

    assert _ids(doomed) == ["older"]


def test_a_run_image_takes_one_of_the_last_n_by_its_own_age():
    images = [_image("i1", 1), _image("run", 2), _image("i3", 3), _image("i4", 4)]

    doomed, _ = retention.plan(
        images, RetentionPolicy(keep_last=2), SERVER, NOW, protect=frozenset({"run"})
    )

    assert _ids(doomed) == ["i3", "i4"]


def test_a_run_image_is_never_doomed_past_either_rule():
    images = [_image("new", 1), _image("run", 100), _image("old", 100)]

    doomed, _ = retention.plan(
        images,
        RetentionPolicy(keep_last=1, max_age_days=7),
        SERVER,
        NOW,
        protect=frozenset({"run"}),
    )

    assert _ids(doomed) == ["old"]


def test_keep_last_ranks_by_creation_time_not_by_listing_order():
    images = [_image("i3", 3), _image("i1", 1), _image("i4", 4), _image("i2", 2)]

    doomed, _ = retention.plan(images, RetentionPolicy(keep_last=2), SERVER, NOW)

    assert _ids(doomed) == ["i3", "i4"]


def test_max_age_deletes_only_older_images():
    images = [_image("young", 3), _image("old", 10)]

    doomed, _ = retention.plan(images, RetentionPolicy(max_age_days=7), SERVER, NOW)

    assert _ids(doomed) == ["old"]


def test_both_rules_keep_an_image_either_rule_keeps():
    images = [_image("a", 1), _image("b", 2), _image("c", 3), _image("d", 30)]

    doomed, _ = retention.plan(images, RetentionPolicy(keep_last=1, max_age_days=7), SERVER, NOW)

    assert _ids(doomed) == ["d"]


def test_keep_tagged_image_survives_any_policy():
    images = [_image("kept", 400, extra_tags=["ecs-imaging-keep=forever"]), _image("x", 400)]

    doomed, _ = retention.plan(images, RetentionPolicy(max_age_days=1), SERVER, NOW)

    assert _ids(doomed) == ["x"]


def test_images_of_another_server_or_not_ours_are_never_touched():
    images = [
        _image("theirs", 100, server=OTHER),
        _image("handmade", 100, managed=False),
        _image("ours", 100),
    ]

    doomed, _ = retention.plan(images, RetentionPolicy(max_age_days=1), SERVER, NOW)

    assert _ids(doomed) == ["ours"]


def test_images_still_being_made_are_never_candidates():
    images = [_image("saving", 100, status="saving"), _image("ours", 100)]

    doomed, _ = retention.plan(images, RetentionPolicy(max_age_days=1), SERVER, NOW)

    assert _ids(doomed) == ["ours"]


def test_a_protected_image_is_kept_and_reported_never_doomed():
    images = [_image("young", 1), _image("locked", 100, protected=True), _image("old", 100)]

    doomed, protected = retention.plan(images, RetentionPolicy(max_age_days=7), SERVER, NOW)

    assert _ids(doomed) == ["old"]
    assert _ids(protected) == ["locked"]


def test_a_protected_image_counts_among_the_last_n():
    images = [_image("new", 1), _image("locked", 2, protected=True), _image("i3", 3)]

    doomed, protected = retention.plan(images, RetentionPolicy(keep_last=2), SERVER, NOW)

    assert _ids(doomed) == ["i3"]
    assert protected == []


# --- against the cloud's answers ------------------------------------------------


def _listed(image):
    body = image.model_dump(by_alias=True)
    return {key: value for key, value in body.items() if value is not None}


def _refusal(code, message):
    return httpx.Response(400, json={"error": {"code": code, "message": message}})


@pytest.fixture
def session(cloud):
    return CloudSession()


def test_apply_goes_past_a_refused_deletion_and_never_asks_to_delete_a_protected_image(
    cloud, session
):
    images = [
        _image("young", 1),
        _image("locked", 100, protected=True),
        _image("refused", 101),
        _image("old", 102),
    ]
    cloud.get(f"{IMS}/v2/cloudimages").mock(
        return_value=httpx.Response(200, json={"images": [_listed(i) for i in images]})
    )
    locked = cloud.delete(f"{IMS}/v2/images/locked").mock(return_value=httpx.Response(204))
    cloud.delete(f"{IMS}/v2/images/refused").mock(
        return_value=_refusal("IMG.0028", "The image is protected.")
    )
    old = cloud.delete(f"{IMS}/v2/images/old").mock(return_value=httpx.Response(204))

    report = retention.apply(session, RetentionPolicy(max_age_days=7), SERVER, NOW)

    outcomes = {d.image_id: (d.deleted, d.reason, d.error_code) for d in report}
    assert outcomes == {
        "locked": (False, retention.PROTECTED, None),
        "refused": (False, "failed: InvalidRequest", "IMG.0028"),
        "old": (True, "deleted", None),
    }
    assert not locked.called
    assert old.called
    assert [d.image_id for d in report if d.kept] == ["locked", "refused"]


def test_sweep_goes_past_a_server_whose_images_cannot_be_listed(cloud, session):
    servers = [
        {"id": SERVER, "name": "web-01", "status": "SHUTOFF"},
        {"id": OTHER, "name": "db-01", "status": "SHUTOFF"},
    ]
    cloud.get(f"{ECS}/v1/{PROJECT_ID}/cloudservers/detail").mock(
        return_value=httpx.Response(200, json={"count": 2, "servers": servers})
    )
    images = [_image("newer", 1, server=OTHER), _image("old", 100, server=OTHER)]

    def list_images(request):
        if request.url.params["tag"] == f"{naming.SERVER_TAG}={SERVER}":
            return httpx.Response(403, json={"error_code": "IMG.0026", "error_msg": "no"})
        return httpx.Response(200, json={"images": [_listed(i) for i in images]})

    cloud.get(f"{IMS}/v2/cloudimages").mock(side_effect=list_images)
    cloud.delete(f"{IMS}/v2/images/old").mock(return_value=httpx.Response(204))

    report = retention.sweep(session, ("auto-image", "daily"), RetentionPolicy(keep_last=1), NOW)

    failed, done = report
    assert (failed.server_id, failed.error, failed.deletions) == (SERVER, "PermissionDenied", [])
    assert (done.server_id, done.server_name, done.error) == (OTHER, "db-01", None)
    assert [(d.image_id, d.deleted) for d in done.deletions] == [("old", True)]
