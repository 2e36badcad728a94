from datetime import UTC, datetime, timedelta

import pytest
from ecs_imaging import naming, polling
from ecs_imaging.models import Image, ImageKind
from ecs_imaging.polling import Reading, plan_next_check

BOUNDS = {"min_wait": 10, "max_wait": 600}
SERVER = "3c9a1f6e-5d2b-4c8e-9f7a-1b2c3d4e5f60"
STAMP = "%Y-%m-%dT%H:%M:%SZ"


def _image(image_id, day, seconds, status="active", **fields):
    created = datetime(2026, 12, day, 10, 0, tzinfo=UTC)
    finished = created + timedelta(seconds=seconds)
    body = {
        "id": image_id,
        "name": image_id,
        "status": status,
        "tags": [f"{naming.SERVER_TAG}={SERVER}"],
        "created_at": created.strftime(STAMP),
        "updated_at": finished.strftime(STAMP),
    }

    return Image.model_validate(body | fields)


def _wait_after(elapsed, percent, before=None, **options):
    reading = Reading(elapsed, percent)
    previous = Reading(*before) if before else None

    options = BOUNDS | options

    return plan_next_check(elapsed, reading=reading, previous=previous, **options)


def test_first_check_without_anything_to_go_on_waits_a_minute():
    assert plan_next_check(0, **BOUNDS) == polling.FIRST_CHECK_SECONDS


def test_first_check_with_history_comes_when_the_fastest_earlier_job_would_end():
    wait = plan_next_check(0, history=[300, 250], **BOUNDS)

    assert wait == 200


def test_first_check_never_waits_past_max_wait():
    assert plan_next_check(0, history=[900], min_wait=10, max_wait=120) == 120


def test_one_reading_checks_before_its_extrapolated_end():
    wait = _wait_after(60, 25.0)

    # Even progress would end at 240 s; a quarter of the 180 s left is doubted.
    assert wait == 135


def test_two_steady_readings_check_just_after_the_end():
    wait = _wait_after(200, 80.0, before=(60, 24.0))

    assert 250 <= 200 + wait <= 253


def test_progress_that_slowed_down_checks_at_the_sooner_end():
    # 30 % in the first minute, 30 % more in the next hundred seconds.
    wait = _wait_after(160, 60.0, before=(60, 30.0))

    steady_end = 160 * 100 / 60
    assert 160 + wait < steady_end


def test_progress_that_sped_up_checks_before_the_steady_end():
    # 10 % in the first two minutes, 40 % more in the next two.
    wait = _wait_after(240, 50.0, before=(120, 10.0))

    recent_end = 240 + 50 / (40 / 120)
    assert 240 + wait < recent_end


def test_progress_wins_over_history():
    wait = _wait_after(60, 50.0, history=[1000])

    assert wait < 100


def test_stalled_progress_is_trusted_like_a_first_reading():
    stalled = _wait_after(100, 40.0, before=(60, 40.0))

    assert stalled == _wait_after(100, 40.0)


def test_a_job_about_to_end_is_checked_after_min_wait():
    assert _wait_after(300, 99.5) == 10


def test_inside_the_history_window_without_progress_halves_what_is_left():
    # Earlier job 200 s: the end is expected between 160 s and 240 s.
    assert plan_next_check(180, history=[200], **BOUNDS) == 30


def test_a_job_past_its_history_window_backs_off():
    assert plan_next_check(260, history=[200], **BOUNDS) == 20


def test_without_progress_or_history_each_wait_is_half_the_time_so_far():
    assert plan_next_check(100, **BOUNDS) == 50


@pytest.mark.parametrize("elapsed", [1, 3599])
def test_waits_stay_within_the_bounds(elapsed):
    wait = _wait_after(elapsed, 1.0, min_wait=15, max_wait=90)

    assert 15 <= wait <= 90


def test_earlier_durations_newest_first_of_active_images_of_the_kind():
    images = [
        _image("old", 1, 240),
        _image("new", 3, 300),
        _image("saving", 4, 5, status="saving"),
        _image("whole", 2, 540, __whole_image="true"),
        _image("data", 2, 420, virtual_env_type="DataImage"),
    ]

    assert polling.earlier_durations(images, ImageKind.SYSTEM) == [300, 240]


def test_earlier_durations_prefer_active_at_to_updated_at():
    # Tagging an image later moves its updated_at, not its active_at.
    image = _image("i", 1, 7200, active_at="2026-12-01T10:04:00Z")

    assert polling.earlier_durations([image], ImageKind.SYSTEM) == [240]


def test_earlier_durations_keep_the_newest_few():
    images = [_image(f"i{day}", day, 60 * day) for day in range(1, 8)]

    durations = polling.earlier_durations(images, ImageKind.SYSTEM)

    assert durations == [420, 360, 300, 240, 180]
