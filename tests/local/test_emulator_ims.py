import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from ecs_imaging_local.emulator import PROJECT_ID, Emulator
from support.emulator import connect

WEB_01 = "3c9a1f6e-5d2b-4c8e-9f7a-1b2c3d4e5f60"
DB_01 = "8f14e45f-ceea-467f-a0e6-1f2c3d4e5a61"
MISSING = "00000000-0000-4000-8000-000000000000"


@pytest.fixture
def ims(emu: Emulator) -> Iterator[httpx.Client]:
    with connect(emu, emu.endpoints["ims"]) as client:
        yield client


def _create(ims: httpx.Client, **fields: Any) -> httpx.Response:
    body = {"name": "web-01-golden", "instance_id": WEB_01} | fields
    return ims.post("/v2/cloudimages/action", json=body)


def _outcome(response: httpx.Response) -> str | None:
    """None when the image job was accepted, else the code of the 400."""
    if response.status_code == 200:
        return None

    assert response.status_code == 400
    code: str = response.json()["error"]["code"]
    return code


def _job(ims: httpx.Client, job_id: str) -> dict[str, Any]:
    job: dict[str, Any] = ims.get(f"/v1/{PROJECT_ID}/jobs/{job_id}").json()
    return job


def _images(ims: httpx.Client, **filters: str) -> list[dict[str, Any]]:
    response = ims.get("/v2/cloudimages", params=filters)
    images: list[dict[str, Any]] = response.json()["images"]
    return images


def _names(ims: httpx.Client, **filters: str) -> list[str]:
    return [image["name"] for image in _images(ims, **filters)]


def test_image_job_moves_init_running_success(emu: Emulator, ims: httpx.Client) -> None:
    response = _create(ims)
    job_id = response.json()["job_id"]
    queued = _job(ims, job_id)
    emu.clock.advance(5)
    running = _job(ims, job_id)
    emu.clock.advance(300)
    done = _job(ims, job_id)

    assert response.status_code == 200 and len(job_id) == 32
    assert queued["status"] == "INIT" and "image_id" not in queued["entities"]
    assert running["status"] == "RUNNING" and running["end_time"] == ""
    assert 0 <= running["entities"]["process_percent"] < 100
    assert (done["status"], done["job_type"]) == ("SUCCESS", "imsCreateImageByInstance")
    image_id = running["entities"]["image_id"]
    assert done["entities"] == {"image_id": image_id, "image_name": "web-01-golden"}
    assert (done["error_code"], done["fail_reason"]) == (None, None)
    assert done["end_time"].endswith("Z")


def test_image_is_queued_then_saving_then_active(
    emu: Emulator,
    ims: httpx.Client,
) -> None:
    _create(ims, tags=["source.web-01"], description="nightly")
    queued = _images(ims)[0]
    emu.clock.advance(5)
    saving = _images(ims)[0]
    emu.clock.advance(300)
    active = ims.get(f"/v2/images/{queued['id']}").json()

    statuses = (queued["status"], saving["status"], active["status"])
    assert statuses == ("queued", "saving", "active")
    assert saving["__image_size"] == "0" and int(active["__image_size"]) > 0
    assert active["tags"] == ["source=web-01"] and active["__description"] == "nightly"
    assert (active["owner"], active["visibility"]) == (PROJECT_ID, "private")
    assert active["min_disk"] == 15
    assert "instance_id" not in active and "server_id" not in active


def test_image_list_filters_by_name_tag_and_status(
    emu: Emulator,
    ims: httpx.Client,
) -> None:
    _create(ims, name="old", image_tags=[{"key": "tier", "value": "web"}])
    emu.clock.advance(400)
    _create(ims, name="new", instance_id=DB_01)

    assert _names(ims) == ["new", "old"]
    assert _names(ims, sort_dir="asc") == ["old", "new"]
    assert _names(ims, name="old") == ["old"]
    assert _names(ims, tag="tier=web") == ["old"]
    assert _names(ims, status="active") == ["old"]
    assert _names(ims, owner=PROJECT_ID, __imagetype="private") == ["new", "old"]
    assert _names(ims, __imagetype="gold") == []


def test_image_list_pages_with_marker_and_limit(
    emu: Emulator,
    ims: httpx.Client,
) -> None:
    for name in ("a", "b", "c"):
        _create(ims, name=name)
        emu.clock.advance(400)
    first = _images(ims, limit="2", sort_dir="asc")

    rest = _names(ims, limit="2", sort_dir="asc", marker=first[-1]["id"])

    assert [image["name"] for image in first] == ["a", "b"]
    assert rest == ["c"]


def test_image_show_unknown_is_404(ims: httpx.Client) -> None:
    response = ims.get(f"/v2/images/{MISSING}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "IMG.0027"


def test_image_job_unknown_is_404(ims: httpx.Client) -> None:
    response = ims.get(f"/v1/{PROJECT_ID}/jobs/{'0' * 32}")

    assert response.status_code == 404
    assert response.json()["error"]["code"] == "IMG.0000"


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("a" * 128, None),
        ("Web 01_golden-v1.2", None),
        ("a" * 129, "IMG.0002"),
        ("", "IMG.0013"),
        (" web", "IMG.0003"),
        ("web ", "IMG.0003"),
        ("web/01", "IMG.0003"),
        ("web-ü", "IMG.0003"),
    ],
)
def test_image_name_rule(ims: httpx.Client, name: str, code: str | None) -> None:
    assert _outcome(_create(ims, name=name)) == code


def test_image_name_missing_is_img_0013(ims: httpx.Client) -> None:
    response = ims.post("/v2/cloudimages/action", json={"instance_id": WEB_01})

    assert _outcome(response) == "IMG.0013"


@pytest.mark.parametrize(
    ("description", "code"),
    [
        ("d" * 1024, None),
        ("d" * 1025, "IMG.0004"),
        ("a <b>", "IMG.0054"),
        ("line\rbreak", "IMG.0054"),
        ("line\nbreak", "IMG.0054"),
    ],
)
def test_image_description_rule(
    ims: httpx.Client,
    description: str,
    code: str | None,
) -> None:
    assert _outcome(_create(ims, description=description)) == code


def _tag(key: str, value: str = "v") -> dict[str, str]:
    return {"key": key, "value": value}


def _tags(count: int) -> list[dict[str, str]]:
    return [_tag(f"k{i}") for i in range(count)]


@pytest.mark.parametrize(
    ("field", "tags", "code"),
    [
        ("image_tags", _tags(10), None),
        ("image_tags", _tags(11), "IMG.0116"),
        ("image_tags", [{"key": "k" * 36, "value": "v" * 43}], None),
        ("image_tags", [{"key": "k" * 37, "value": "v"}], "IMG.0115"),
        ("image_tags", [{"key": "k", "value": "v" * 44}], "IMG.0115"),
        ("image_tags", [{"key": " ", "value": "v"}], "IMG.0115"),
        ("image_tags", [{"value": "v"}], "IMG.0115"),
        ("image_tags", [_tag("k"), _tag("k", "w")], "IMG.0115"),
        ("image_tags", [_tag("k"), _tag(" k ")], "IMG.0115"),
        ("tags", [f"k{i}.v" for i in range(10)], None),
        ("tags", [f"k{i}.v" for i in range(11)], "IMG.0116"),
        ("tags", ["k" * 36 + "." + "v" * 43, "empty."], None),
        ("tags", ["k" * 37 + ".v"], "IMG.0115"),
        ("tags", ["k." + "v" * 44], "IMG.0115"),
        ("tags", [".v"], "IMG.0115"),
        ("tags", ["k.v!"], "IMG.0115"),
        ("tags", ["no-dot"], "IMG.0115"),
        ("tags", ["k.v", "k.w"], "IMG.0115"),
        ("tags", ["k.v", "k.v"], "IMG.0115"),
    ],
)
def test_image_tag_rule(
    ims: httpx.Client,
    field: str,
    tags: list[Any],
    code: str | None,
) -> None:
    assert _outcome(_create(ims, **{field: tags})) == code


def test_image_tags_in_both_formats_is_img_0001(ims: httpx.Client) -> None:
    response = _create(ims, tags=["a.b"], image_tags=[{"key": "a", "value": "b"}])

    assert _outcome(response) == "IMG.0001"


def test_image_tags_are_stored_as_key_value(ims: httpx.Client) -> None:
    tags = [{"key": " team ", "value": " ops "}, {"key": "empty", "value": ""}]
    _create(ims, image_tags=tags)

    assert _images(ims)[0]["tags"] == ["team=ops", "empty="]


def test_image_server_missing_is_img_0012(ims: httpx.Client) -> None:
    response = ims.post("/v2/cloudimages/action", json={"name": "x"})

    assert _outcome(response) == "IMG.0012"


def test_image_server_unknown_is_img_0005(ims: httpx.Client) -> None:
    assert _outcome(_create(ims, instance_id=MISSING)) == "IMG.0005"


def test_image_of_stopping_server_is_img_0010(emu: Emulator, ims: httpx.Client) -> None:
    ecs = f"{emu.endpoints['ecs']}/v1/{PROJECT_ID}"
    stop = {"os-stop": {"servers": [{"id": DB_01}]}}
    ims.post(f"{ecs}/cloudservers/action", json=stop)

    assert _outcome(_create(ims, instance_id=DB_01)) == "IMG.0010"


def test_image_of_running_server_when_stop_required_is_img_0008(
    emu: Emulator, ims: httpx.Client
) -> None:
    emu.require_stopped = True

    assert _outcome(_create(ims, instance_id=DB_01)) == "IMG.0008"
    assert _outcome(_create(ims, instance_id=WEB_01)) is None


def test_image_of_running_server_is_allowed_by_default(ims: httpx.Client) -> None:
    assert _outcome(_create(ims, instance_id=DB_01)) is None


def test_image_invalid_json_is_img_0001(ims: httpx.Client) -> None:
    headers = {"Content-Type": "application/json"}
    response = ims.post("/v2/cloudimages/action", content=b"{", headers=headers)

    assert _outcome(response) == "IMG.0001"


def test_image_job_fault_ends_fail_without_image(
    emu: Emulator,
    ims: httpx.Client,
) -> None:
    reason = "The system disk is unusable."
    emu.faults.fail_next_image_job("IMG.0006", reason)
    job_id = _create(ims).json()["job_id"]
    emu.clock.advance(400)

    job = _job(ims, job_id)

    assert (job["status"], job["error_code"], job["fail_reason"]) == (
        "FAIL",
        "IMG.0006",
        reason,
    )
    assert "image_id" not in job["entities"] and job["end_time"] != ""
    assert _images(ims) == [] and emu.images() == []


def test_image_job_fault_applies_to_next_job_only(
    emu: Emulator,
    ims: httpx.Client,
) -> None:
    emu.faults.fail_next_image_job()
    _create(ims, name="first")
    _create(ims, name="second", instance_id=DB_01)
    emu.clock.advance(800)

    assert [job.status for job in emu.jobs()] == ["FAIL", "SUCCESS"]


def test_image_job_stuck_never_finishes(
    emu: Emulator,
    ims: httpx.Client,
) -> None:
    emu.faults.stick_next_image_job()
    job_id = _create(ims).json()["job_id"]
    emu.clock.advance(10 * 3600)

    job = _job(ims, job_id)

    assert (job["status"], job["end_time"]) == ("RUNNING", "")
    assert _images(ims)[0]["status"] == "saving"


def _durations(seed: int) -> list[float]:
    with Emulator(seed=seed) as emu:
        with connect(emu, emu.endpoints["ims"]) as client:
            for server_id in emu.add_fleet(5, system_disk_gb=15):
                _create(client, instance_id=server_id)
        return [job.duration for job in emu.jobs()]


def test_image_job_duration_follows_disk_size_and_seed() -> None:
    durations = _durations(seed=7)

    assert len(durations) == 5 and durations == _durations(seed=7)
    assert durations != _durations(seed=8)
    # Each fleet server has a 15 GB disk: (45 + 13 * 15) s = 240 s, give or take 20 %.
    assert all(0.8 * 240 <= seconds <= 1.2 * 240 for seconds in durations)


def test_image_job_finishes_on_a_scaled_clock() -> None:
    # About 240 emulated seconds at a scale of 0.001 take a quarter of a second.
    with (
        Emulator(time_scale=0.001, seed=7) as emu,
        connect(emu, emu.endpoints["ims"]) as client,
    ):
        job_id = _create(client).json()["job_id"]
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if _job(client, job_id)["status"] == "SUCCESS":
                break
            time.sleep(0.02)

        assert _job(client, job_id)["status"] == "SUCCESS"
        assert emu.counters["ims.create_image"] == 1
