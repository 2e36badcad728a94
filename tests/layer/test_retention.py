from datetime import UTC, datetime, timedelta

from ecs_imaging import naming, retention
from ecs_imaging.models import Image, RetentionPolicy

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
SERVER = "3c9a1f6e-5d2b-4c8e-9f7a-1b2c3d4e5f60"
OTHER = "8f14e45f-ceea-467f-a0e6-1f2c3d4e5a61"


def _image(image_id, days_old, server=SERVER, extra_tags=(), managed=True, status="active"):
    tags = [f"{naming.SERVER_TAG}={server}", *extra_tags]
    if managed:
        tags.append(f"{naming.RUN_TAG}=r-{image_id}")
    created = (NOW - timedelta(days=days_old)).strftime("%Y-%m-%dT%H:%M:%SZ")
    return Image(id=image_id, name=image_id, status=status, tags=tags, created_at=created)


def _ids(images):
    return [image.id for image in images]


def test_keep_last_deletes_the_oldest_beyond_n():
    images = [_image(f"i{age}", age) for age in range(5)]

    doomed = retention.plan(images, RetentionPolicy(keep_last=2), SERVER, NOW)

    assert _ids(doomed) == ["i2", "i3", "i4"]


def test_the_new_image_counts_among_the_last_n():
    images = [_image(f"i{age}", age) for age in range(4)]

    doomed = retention.plan(
        images, RetentionPolicy(keep_last=2), SERVER, NOW, protect=frozenset({"i0"})
    )

    assert _ids(doomed) == ["i2", "i3"]


def test_max_age_deletes_only_older_images():
    images = [_image("young", 3), _image("old", 10)]

    doomed = retention.plan(images, RetentionPolicy(max_age_days=7), SERVER, NOW)

    assert _ids(doomed) == ["old"]


def test_both_rules_keep_an_image_either_rule_keeps():
    images = [_image("a", 1), _image("b", 2), _image("c", 3), _image("d", 30)]

    doomed = retention.plan(images, RetentionPolicy(keep_last=1, max_age_days=7), SERVER, NOW)

    assert _ids(doomed) == ["d"]


def test_keep_tagged_image_survives_any_policy():
    images = [_image("kept", 400, extra_tags=["ecs-imaging-keep=forever"]), _image("x", 400)]

    doomed = retention.plan(images, RetentionPolicy(max_age_days=1), SERVER, NOW)

    assert _ids(doomed) == ["x"]


def test_images_of_another_server_or_not_ours_are_never_touched():
    images = [
        _image("theirs", 100, server=OTHER),
        _image("handmade", 100, managed=False),
        _image("ours", 100),
    ]

    doomed = retention.plan(images, RetentionPolicy(max_age_days=1), SERVER, NOW)

    assert _ids(doomed) == ["ours"]


def test_images_still_being_made_are_never_candidates():
    images = [_image("saving", 100, status="saving"), _image("ours", 100)]

    doomed = retention.plan(images, RetentionPolicy(max_age_days=1), SERVER, NOW)

    assert _ids(doomed) == ["ours"]
