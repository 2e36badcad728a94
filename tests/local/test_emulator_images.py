"""Whole and data-disk images, deletion, export, quota, queries and the tag API."""

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from ecs_imaging_local.emulator import PROJECT_ID, Emulator
from support.emulator import connect

WEB_01 = "3c9a1f6e-5d2b-4c8e-9f7a-1b2c3d4e5f60"
DB_01 = "8f14e45f-ceea-467f-a0e6-1f2c3d4e5a61"
APP_02 = "c9f0f895-fb98-4b91-99f5-1a2b3c4d5e62"
FILES_04 = "d3d94468-02a4-4e5f-8c1b-3c4d5e6f7a64"
ERP_05 = "6512bd43-d9ca-4a6e-8d2f-4d5e6f7a8b65"
VAULT = "a87ff679-a2f3-4e71-9181-5e6f7a8b9c66"
MISSING = "00000000-0000-4000-8000-000000000000"
WHOLE = {"name": "erp-whole", "instance_id": ERP_05, "vault_id": VAULT}


@pytest.fixture
def ims(emu: Emulator) -> Iterator[httpx.Client]:
    with connect(emu, emu.endpoints["ims"]) as client:
        yield client


def _code(response: httpx.Response) -> str | None:
    """None for a 2xx, else the IMS error code."""
    if response.is_success:
        return None

    code: str = response.json()["error"]["code"]
    return code


def _job(ims: httpx.Client, response: httpx.Response) -> dict[str, Any]:
    job_id = response.json()["job_id"]
    job: dict[str, Any] = ims.get(f"/v1/{PROJECT_ID}/jobs/{job_id}").json()
    return job


def _create(ims: httpx.Client, **fields: Any) -> httpx.Response:
    body = {"name": "img", "instance_id": WEB_01} | fields
    return ims.post("/v2/cloudimages/action", json=body)


def _whole(ims: httpx.Client) -> httpx.Response:
    return ims.post("/v1/cloudimages/wholeimages/action", json=WHOLE)


def _data(ims: httpx.Client, *items: dict[str, Any], **fields: Any) -> httpx.Response:
    body = {"data_images": list(items)} | fields
    return ims.post("/v2/cloudimages/action", json=body)


def _volumes(emu: Emulator, server_id: str = FILES_04) -> list[str]:
    return [volume.id for volume in emu.server(server_id).data_volumes]


def _active_image(emu: Emulator, ims: httpx.Client, **fields: Any) -> str:
    _create(ims, **fields)
    emu.clock.advance(400)

    return emu.images()[-1].id


def _names(ims: httpx.Client, **filters: Any) -> list[str]:
    images = ims.get("/v2/cloudimages", params=filters).json()["images"]
    return [image["name"] for image in images]


def test_whole_image_of_cbr_server_carries_its_backup(
    emu: Emulator,
    ims: httpx.Client,
) -> None:
    response = _whole(ims)
    emu.clock.advance(5)
    running = _job(ims, response)
    emu.clock.advance(3600)
    done = _job(ims, response)

    image = ims.get(f"/v2/images/{done['entities']['image_id']}").json()
    [backup] = emu.backups()
    assert running["status"] == "RUNNING" and done["status"] == "SUCCESS"
    assert done["job_type"] == "imsCreateWholeImageByInstanceJob"
    assert (image["__whole_image"], image["status"]) == ("true", "active")
    assert image["__backup_id"] == backup.id
    assert (backup.vault_id, backup.server_id, backup.deleted) == (VAULT, ERP_05, False)


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (WHOLE, None),
        ({"name": "erp-whole", "instance_id": ERP_05}, "IMG.0001"),
        (WHOLE | {"vault_id": MISSING}, "IMG.0001"),
        (WHOLE | {"instance_id": WEB_01}, "IMG.0001"),
        ({"name": "web-whole", "instance_id": WEB_01}, None),
        (WHOLE | {"instance_id": MISSING}, "IMG.0005"),
        ({"name": "x", "vault_id": VAULT}, "IMG.0012"),
        (WHOLE | {"backup_id": MISSING}, "IMG.0001"),
        (WHOLE | {"name": " x"}, "IMG.0003"),
        (WHOLE | {"image_tags": [{"key": "a", "value": "b"}] * 2}, "IMG.0115"),
    ],
    ids=[
        "cbr",
        "cbr-without-vault",
        "cbr-other-vault",
        "csbs-with-vault",
        "csbs",
        "unknown-server",
        "no-server",
        "from-backup",
        "bad-name",
        "repeated-tag",
    ],
)
def test_whole_image_rule(
    ims: httpx.Client,
    body: dict[str, Any],
    code: str | None,
) -> None:
    response = ims.post("/v1/cloudimages/wholeimages/action", json=body)

    assert _code(response) == code


def test_whole_image_of_server_powering_off_is_img_0126(
    emu: Emulator,
    ims: httpx.Client,
) -> None:
    stop = {"os-stop": {"servers": [{"id": ERP_05}]}}
    ims.post(f"{emu.endpoints['ecs']}/v1/{PROJECT_ID}/cloudservers/action", json=stop)

    assert _code(_whole(ims)) == "IMG.0126"


def test_whole_image_failed_takes_its_backup_along(
    emu: Emulator,
    ims: httpx.Client,
) -> None:
    emu.faults.fail_next_image_job()
    _whole(ims)
    emu.clock.advance(3600)

    assert emu.images() == [] and emu.backups() == []


def test_data_images_one_per_disk_in_sub_jobs(emu: Emulator, ims: httpx.Client) -> None:
    first, second = _volumes(emu)
    response = _data(
        ims,
        {"name": "files-d1", "volume_id": first, "tags": ["disk.one"]},
        {"name": "files-d2", "volume_id": second, "description": "second"},
        image_tags=[{"key": "owner", "value": "ops"}],
        description="data",
    )
    queued = _job(ims, response)
    emu.clock.advance(3600)
    done = _job(ims, response)

    subs = done["entities"]["sub_jobs_result"]
    assert done["job_type"] == "imsVolumesToSysDataImagesJob"
    assert done["status"] == "SUCCESS"
    assert "image_id" not in done["entities"]
    assert len(queued["entities"]["sub_jobs_list"]) == 2
    assert [sub["status"] for sub in subs] == ["SUCCESS", "SUCCESS"]
    assert [sub["entities"]["image_name"] for sub in subs] == ["files-d1", "files-d2"]
    images = {i.id: i for i in emu.images()}
    made = [images[sub["entities"]["image_id"]] for sub in subs]
    assert [image.min_disk for image in made] == [20, 10]
    assert [image.tags for image in made] == [["disk=one"], ["owner=ops"]]
    assert _names(ims, tag="disk=one") == ["files-d1"]
    assert [image.description for image in made] == ["data", "second"]
    shown = ims.get(f"/v2/images/{made[0].id}").json()
    assert shown["virtual_env_type"] == "DataImage"


def test_data_images_hidden_sub_jobs_fault_succeeds_without_results(
    emu: Emulator, ims: httpx.Client
) -> None:
    emu.faults.hide_next_sub_job_results()
    system = _create(ims)
    response = _data(ims, {"name": "d1", "volume_id": _volumes(emu)[0]})
    emu.clock.advance(3600)
    done = _job(ims, response)

    assert done["status"] == "SUCCESS"
    assert done["entities"]["sub_jobs_result"] == []
    assert _job(ims, system)["status"] == "SUCCESS"
    assert len(emu.images()) == 2


def test_data_images_failed_job_fails_every_sub_job(
    emu: Emulator,
    ims: httpx.Client,
) -> None:
    emu.faults.fail_next_image_job("IMG.0022", "The disk is busy.")
    first, second = _volumes(emu)
    disks = [{"name": "d1", "volume_id": first}, {"name": "d2", "volume_id": second}]
    response = _data(ims, *disks)
    emu.clock.advance(3600)
    done = _job(ims, response)

    subs = done["entities"]["sub_jobs_result"]
    outcomes = [(sub["status"], sub["error_code"]) for sub in subs]
    assert outcomes == [("FAIL", "IMG.0022")] * 2
    assert all("image_id" not in sub["entities"] for sub in subs)
    assert emu.images() == []


def _volume_case(case: str, emu: Emulator) -> list[dict[str, Any]]:
    first, second = _volumes(emu)
    cases = {
        "unknown": [{"name": "d", "volume_id": MISSING}],
        "system-disk": [{"name": "d", "volume_id": emu.server(FILES_04).volume_id}],
        "twice": [{"name": "d", "volume_id": first}, {"name": "e", "volume_id": first}],
        "two-servers": [
            {"name": "d", "volume_id": first},
            {"name": "e", "volume_id": _volumes(emu, ERP_05)[0]},
        ],
        "no-volume": [{"name": "d"}],
        "no-name": [{"volume_id": second}],
        "bad-old-tag": [{"name": "d", "volume_id": second, "tags": ["no-dot"]}],
        "repeated-tag": [{"name": "d", "volume_id": second, "tags": ["a.b", "a.c"]}],
        "long-old-key": [{"name": "d", "volume_id": second, "tags": ["k" * 37 + ".v"]}],
        "long-old-value": [{"name": "d", "volume_id": second, "tags": ["k." + "v" * 44]}],
        "old-tag-space": [{"name": "d", "volume_id": second, "tags": ["k.v w"]}],
        "new-tag-in-item": [{"name": "d", "volume_id": second, "tags": [{"key": "k"}]}],
        "eleven-tags": [{"name": "d", "volume_id": second, "tags": [f"k{i}.v" for i in range(11)]}],
        "not-object": ["d"],
    }
    return cases[case]


@pytest.mark.parametrize(
    ("case", "code"),
    [
        ("unknown", "IMG.0001"),
        ("system-disk", "IMG.0001"),
        ("twice", "IMG.0001"),
        ("two-servers", "IMG.0001"),
        ("no-volume", "IMG.0001"),
        ("no-name", "IMG.0013"),
        ("bad-old-tag", "IMG.0115"),
        ("repeated-tag", "IMG.0115"),
        ("long-old-key", "IMG.0115"),
        ("long-old-value", "IMG.0115"),
        ("old-tag-space", "IMG.0115"),
        ("new-tag-in-item", "IMG.0115"),
        ("eleven-tags", "IMG.0116"),
        ("not-object", "IMG.0001"),
    ],
)
def test_data_images_rule(
    emu: Emulator,
    ims: httpx.Client,
    case: str,
    code: str,
) -> None:
    assert _code(_data(ims, *_volume_case(case, emu))) == code
    assert emu.images() == []


def test_data_images_with_instance_id_is_img_0001(
    emu: Emulator,
    ims: httpx.Client,
) -> None:
    item = {"name": "d", "volume_id": _volumes(emu)[0]}

    assert _code(_data(ims, item, instance_id=FILES_04)) == "IMG.0001"
    assert _code(_data(ims)) == "IMG.0001"


def test_data_images_of_running_server_when_stop_required_is_img_0008(
    emu: Emulator, ims: httpx.Client
) -> None:
    emu.require_stopped = True
    running = {"name": "d", "volume_id": _volumes(emu, ERP_05)[0]}
    stopped = {"name": "d", "volume_id": _volumes(emu)[0]}

    assert _code(_data(ims, running)) == "IMG.0008"
    assert _code(_data(ims, stopped)) is None


def test_data_images_are_counted_apart(emu: Emulator, ims: httpx.Client) -> None:
    _data(ims, {"name": "d", "volume_id": _volumes(emu)[0]})
    _create(ims)

    assert emu.counters["ims.create_data_images"] == 1
    assert emu.counters["ims.create_image"] == 1


def _image_of_erp(emu: Emulator, ims: httpx.Client, kind: str) -> httpx.Response:
    if kind == "system":
        return _create(ims, instance_id=ERP_05)
    if kind == "data":
        return _data(ims, {"name": "d", "volume_id": _volumes(emu, ERP_05)[0]})

    return _whole(ims)


@pytest.mark.parametrize("first", ["system", "whole", "data"])
@pytest.mark.parametrize("second", ["system", "whole", "data"])
def test_image_of_server_with_unfinished_image_job_is_img_0010(
    emu: Emulator, ims: httpx.Client, first: str, second: str
) -> None:
    accepted = _image_of_erp(emu, ims, first)
    emu.clock.advance(60)
    busy = _image_of_erp(emu, ims, second)
    emu.clock.advance(3600)
    again = _image_of_erp(emu, ims, second)

    assert (_code(accepted), _code(busy), _code(again)) == (None, "IMG.0010", None)


def test_image_of_server_after_failed_job_is_accepted(
    emu: Emulator,
    ims: httpx.Client,
) -> None:
    emu.faults.fail_next_image_job()
    _create(ims)
    emu.clock.advance(3600)

    assert _code(_create(ims)) is None


def test_image_of_server_with_stuck_job_stays_img_0010(
    emu: Emulator,
    ims: httpx.Client,
) -> None:
    emu.faults.stick_next_image_job()
    _create(ims)
    emu.clock.advance(10 * 3600)

    assert _code(_create(ims)) == "IMG.0010"
    assert _code(_create(ims, instance_id=DB_01)) is None


def test_image_of_server_while_its_image_exports_is_accepted(
    emu: Emulator, ims: httpx.Client
) -> None:
    image_id = _active_image(emu, ims)
    exporting = _export(ims, image_id, bucket_url="b:o", file_format="qcow2")

    assert _code(exporting) is None and _code(_create(ims)) is None


def test_image_keeps_ram_limits_and_enterprise_project(
    emu: Emulator,
    ims: httpx.Client,
) -> None:
    project = "9f0a7c1e-6b2d-4e8f-a1c3-5d7e9f1a3b5c"
    limits = {"min_ram": 1024, "max_ram": 0}
    image_id = _active_image(emu, ims, **limits, enterprise_project_id=project)

    image = ims.get(f"/v2/images/{image_id}").json()
    assert (image["min_ram"], image["max_ram"]) == (1024, "0")
    assert image["enterprise_project_id"] == project


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"min_ram": -1}, "IMG.0001"),
        ({"max_ram": "2048"}, "IMG.0001"),
        ({"max_ram": True}, "IMG.0001"),
        ({"enterprise_project_id": "0"}, None),
        ({"enterprise_project_id": ""}, None),
        ({"enterprise_project_id": "default"}, "IMG.0001"),
    ],
)
def test_image_option_rule(
    ims: httpx.Client,
    fields: dict[str, Any],
    code: str | None,
) -> None:
    assert _code(_create(ims, **fields)) == code


def test_quota_reports_used_and_limit(emu: Emulator, ims: httpx.Client) -> None:
    _create(ims)
    emu.image_quota = 5

    [resource] = ims.get("/v1/cloudimages/quota").json()["quotas"]["resources"]

    assert resource == {"type": "image", "used": 1, "quota": 5, "min": 1, "max": 1000}


def test_quota_full_is_img_0015(emu: Emulator, ims: httpx.Client) -> None:
    emu.image_quota = 2
    servers = (WEB_01, DB_01, APP_02)
    codes = [_code(_create(ims, instance_id=server_id)) for server_id in servers]

    assert codes == [None, None, "IMG.0015"]
    assert _code(_whole(ims)) == "IMG.0015"
    assert len(emu.images()) == 2


def test_quota_counts_every_data_image(emu: Emulator, ims: httpx.Client) -> None:
    emu.image_quota = 1
    first, second = _volumes(emu)

    disks = [{"name": "d1", "volume_id": first}, {"name": "d2", "volume_id": second}]
    both = _data(ims, *disks)

    assert _code(both) == "IMG.0015"
    assert _code(_data(ims, {"name": "d1", "volume_id": first})) is None


def test_quota_default_is_20_and_rejects_out_of_range(emu: Emulator) -> None:
    assert emu.image_quota == 20
    with pytest.raises(ValueError, match="1000"):
        emu.image_quota = 1001


def test_delete_removes_image_with_204(emu: Emulator, ims: httpx.Client) -> None:
    image_id = _active_image(emu, ims)

    response = ims.delete(f"/v2/images/{image_id}")

    assert (response.status_code, response.content) == (204, b"")
    assert ims.get(f"/v2/images/{image_id}").status_code == 404
    assert _code(ims.delete(f"/v2/images/{image_id}")) == "IMG.0027"


@pytest.mark.parametrize(("delete_backup", "deleted"), [(True, True), (False, False)])
def test_delete_whole_image_records_its_backup(
    emu: Emulator, ims: httpx.Client, delete_backup: bool, deleted: bool
) -> None:
    _whole(ims)
    image_id = emu.images()[0].id
    emu.clock.advance(3600)

    body = {"delete_backup": delete_backup}
    response = ims.request("DELETE", f"/v2/images/{image_id}", json=body)

    assert response.status_code == 204
    assert [backup.deleted for backup in emu.backups()] == [deleted]


def test_delete_while_being_created_is_img_0090(
    emu: Emulator,
    ims: httpx.Client,
) -> None:
    _create(ims)
    image_id = emu.images()[0].id
    emu.clock.advance(5)

    assert _code(ims.delete(f"/v2/images/{image_id}")) == "IMG.0090"


def test_delete_with_bad_delete_backup_is_img_0001(
    emu: Emulator,
    ims: httpx.Client,
) -> None:
    image_id = _active_image(emu, ims)

    body = {"delete_backup": "yes"}
    response = ims.request("DELETE", f"/v2/images/{image_id}", json=body)

    assert _code(response) == "IMG.0001"


def _export(ims: httpx.Client, image_id: str, **body: Any) -> httpx.Response:
    return ims.post(f"/v1/cloudimages/{image_id}/file", json=body)


def test_export_job_takes_a_while_then_records_the_object(
    emu: Emulator,
    ims: httpx.Client,
) -> None:
    image_id = _active_image(emu, ims)
    target = {"bucket_url": "images:web-01.qcow2", "file_format": "qcow2"}
    response = _export(ims, image_id, **target)
    emu.clock.advance(60)
    running, during = _job(ims, response), emu.exports()
    emu.clock.advance(60)
    done = _job(ims, response)

    assert running["status"] == "RUNNING" and during == []
    assert (done["status"], done["job_type"]) == ("SUCCESS", "imsNativeExportImageJob")
    assert done["entities"]["image_id"] == image_id
    [export] = emu.exports()
    assert (export.bucket, export.object_name, export.file_format) == (
        "images",
        "web-01.qcow2",
        "qcow2",
    )


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"bucket_url": "b:o", "file_format": "vhd"}, None),
        ({"bucket_url": "b:o", "file_format": "zvhd"}, None),
        ({"bucket_url": "b:o", "file_format": "vmdk"}, None),
        ({"bucket_url": "b:o", "is_quick_export": True}, None),
        ({"bucket_url": "b:o", "file_format": "raw"}, "IMG.0001"),
        ({"bucket_url": "b:o"}, "IMG.0001"),
        (
            {"bucket_url": "b:o", "file_format": "qcow2", "is_quick_export": True},
            "IMG.0001",
        ),
        ({"bucket_url": "b", "file_format": "qcow2"}, "IMG.0001"),
        ({"bucket_url": ":o", "file_format": "qcow2"}, "IMG.0001"),
        ({"bucket_url": "b:", "file_format": "qcow2"}, "IMG.0001"),
        ({"file_format": "qcow2"}, "IMG.0001"),
    ],
)
def test_export_rule(
    emu: Emulator, ims: httpx.Client, body: dict[str, Any], code: str | None
) -> None:
    assert _code(_export(ims, _active_image(emu, ims), **body)) == code


def test_export_quick_writes_zvhd2(emu: Emulator, ims: httpx.Client) -> None:
    _export(ims, _active_image(emu, ims), bucket_url="b:o", is_quick_export=True)
    emu.clock.advance(600)

    assert [export.file_format for export in emu.exports()] == ["zvhd2"]


def test_export_refuses_whole_unfinished_busy_and_existing(
    emu: Emulator, ims: httpx.Client
) -> None:
    target = {"bucket_url": "b:o", "file_format": "qcow2"}
    _whole(ims)
    whole_id = emu.images()[0].id
    _create(ims, name="saving")
    saving_id = emu.images()[1].id
    emu.clock.advance(5)
    unfinished = _export(ims, saving_id, **target)
    emu.clock.advance(3600)
    ready = _export(ims, saving_id, **target)
    busy = _export(ims, saving_id, bucket_url="b:other", file_format="qcow2")
    emu.clock.advance(3600)

    assert _code(_export(ims, whole_id, **target)) == "IMG.0001"
    assert (_code(unfinished), _code(ready), _code(busy)) == (
        "IMG.0046",
        None,
        "IMG.0148",
    )
    assert _code(_export(ims, saving_id, **target)) == "IMG.0070"
    assert _code(_export(ims, MISSING, **target)) == "IMG.0027"


def test_list_filters_by_id_owner_and_whole_image(
    emu: Emulator,
    ims: httpx.Client,
) -> None:
    _whole(ims)
    _create(ims, name="plain")
    whole_id = emu.images()[0].id

    assert _names(ims, __whole_image="true") == ["erp-whole"]
    assert _names(ims, __whole_image="false") == ["plain"]
    assert _names(ims, id=whole_id) == ["erp-whole"]
    assert _names(ims, owner=PROJECT_ID) == ["plain", "erp-whole"]
    assert _names(ims, owner="f" * 32) == []


def test_list_filters_by_created_at(emu: Emulator, ims: httpx.Client) -> None:
    _create(ims, name="old")
    emu.clock.advance(60)
    _create(ims, name="new", instance_id=DB_01)
    at = ims.get("/v2/cloudimages").json()["images"][0]["created_at"]
    before = (emu.clock.now() - timedelta(seconds=30)).strftime("%Y-%m-%dT%H:%M:%SZ")

    assert _names(ims, created_at=f"lt:{before}") == ["old"]
    assert _names(ims, created_at=f"gt:{before}") == ["new"]
    assert _names(ims, created_at=f"gte:{at}") == ["new"]
    assert _names(ims, created_at=f"lte:{at}") == ["new", "old"]
    assert _names(ims, created_at=f"eq:{at}") == ["new"]
    assert _names(ims, created_at=f"neq:{at}") == ["old"]


@pytest.mark.parametrize(
    "filters",
    [
        {"created_at": "before:2026-01-01T00:00:00Z"},
        {"created_at": "lt:2026-01-01"},
        {"updated_at": "lt"},
        {"sort_key": "owner"},
        {"sort_dir": "up"},
        {"limit": "-1"},
        {"marker": MISSING},
    ],
)
def test_list_bad_query_is_img_0001(ims: httpx.Client, filters: dict[str, str]) -> None:
    assert _code(ims.get("/v2/cloudimages", params=filters)) == "IMG.0001"


def test_list_sorts_by_name_and_size(emu: Emulator, ims: httpx.Client) -> None:
    for name, server_id in (("b", WEB_01), ("c", DB_01), ("a", APP_02)):
        _create(ims, name=name, instance_id=server_id)
    emu.clock.advance(3600)

    assert _names(ims, sort_key="name", sort_dir="asc") == ["a", "b", "c"]
    assert _names(ims, sort_key="name") == ["c", "b", "a"]
    assert _names(ims, sort_key="size")[0] == "c"
    assert _names(ims, sort_key="status", sort_dir="asc", limit="1") == ["b"]


def test_list_pages_through_every_image(emu: Emulator, ims: httpx.Client) -> None:
    emu.image_quota = 30
    for n, server_id in enumerate(emu.add_fleet(25)):
        _create(ims, name=f"i{n:02d}", instance_id=server_id)
    names: list[str] = []
    marker: dict[str, str] = {}
    for _ in range(5):
        params = {"limit": 10, "sort_dir": "asc"} | marker
        page = ims.get("/v2/cloudimages", params=params)
        images = page.json()["images"]
        names += [image["name"] for image in images]
        if len(images) < 10:
            break
        marker = {"marker": images[-1]["id"]}

    assert names == [f"i{n:02d}" for n in range(25)]


def _tags_url(image_id: str) -> str:
    return f"/v2/{PROJECT_ID}/images/{image_id}/tags"


def _tag_pairs(ims: httpx.Client, image_id: str) -> list[tuple[str, str]]:
    tags = ims.get(_tags_url(image_id)).json()["tags"]
    return [(tag["key"], tag["value"]) for tag in tags]


def _batch(
    ims: httpx.Client,
    image_id: str,
    action: str,
    *tags: dict[str, str],
) -> httpx.Response:
    body = {"action": action, "tags": list(tags)}
    return ims.post(_tags_url(image_id) + "/action", json=body)


def _kv(key: str, value: str = "v") -> dict[str, str]:
    return {"key": key, "value": value}


def test_tag_add_one_and_overwrite(emu: Emulator, ims: httpx.Client) -> None:
    image_id = _active_image(emu, ims, image_tags=[_kv("a", "1")])

    added = ims.post(_tags_url(image_id), json={"tag": _kv("b", "2")})
    ims.post(_tags_url(image_id), json={"tag": _kv(" a ", " 3 ")})

    assert added.status_code == 204
    assert _tag_pairs(ims, image_id) == [("a", "3"), ("b", "2")]
    assert ims.get(f"/v2/images/{image_id}").json()["tags"] == ["a=3", "b=2"]


def test_tag_add_eleventh_is_img_0116(emu: Emulator, ims: httpx.Client) -> None:
    image_id = _active_image(emu, ims, image_tags=[_kv(f"k{n}") for n in range(10)])

    eleventh = ims.post(_tags_url(image_id), json={"tag": _kv("k10")})
    overwrite = ims.post(_tags_url(image_id), json={"tag": _kv("k9", "new")})

    assert _code(eleventh) == "IMG.0116"
    assert overwrite.status_code == 204
    assert len(_tag_pairs(ims, image_id)) == 10


@pytest.mark.parametrize(
    ("tag", "code"),
    [
        (_kv("k" * 36, "v" * 43), None),
        (_kv("k" * 37), "IMG.0115"),
        (_kv("k", "v" * 44), "IMG.0115"),
        (_kv("  "), "IMG.0115"),
        ({"value": "v"}, "IMG.0115"),
        ("k=v", "IMG.0115"),
    ],
)
def test_tag_add_rule(
    emu: Emulator,
    ims: httpx.Client,
    tag: Any,
    code: str | None,
) -> None:
    image_id = _active_image(emu, ims)

    assert _code(ims.post(_tags_url(image_id), json={"tag": tag})) == code


def test_tag_batch_create_is_all_or_nothing(emu: Emulator, ims: httpx.Client) -> None:
    image_id = _active_image(emu, ims, image_tags=[_kv(f"k{n}") for n in range(8)])

    fits = _batch(ims, image_id, "create", _kv("k0", "new"), _kv("k8"), _kv("k9"))
    too_many = _batch(ims, image_id, "create", _kv("k10"))
    twice = _batch(ims, image_id, "create", _kv("k0"), _kv("k0", "x"))

    assert fits.status_code == 204
    assert (_code(too_many), _code(twice)) == ("IMG.0116", "IMG.0115")
    assert len(_tag_pairs(ims, image_id)) == 10
    assert ("k0", "new") in _tag_pairs(ims, image_id)


def test_tag_batch_delete_tolerates_missing_keys(
    emu: Emulator,
    ims: httpx.Client,
) -> None:
    image_id = _active_image(emu, ims, image_tags=[_kv("a"), _kv("b")])

    response = _batch(ims, image_id, "delete", {"key": "a"}, {"key": "x" * 127})

    assert response.status_code == 204
    assert _tag_pairs(ims, image_id) == [("b", "v")]
    assert _code(_batch(ims, image_id, "delete", {"key": "x" * 128})) == "IMG.0115"
    assert _code(_batch(ims, image_id, "rename", {"key": "b"})) == "IMG.0001"


def test_tag_delete_one_is_404_when_missing(emu: Emulator, ims: httpx.Client) -> None:
    image_id = _active_image(emu, ims, image_tags=[_kv("a b")])

    deleted = ims.delete(_tags_url(image_id) + "/a%20b")
    again = ims.delete(_tags_url(image_id) + "/a%20b")

    assert deleted.status_code == 204
    assert again.status_code == 404
    assert _tag_pairs(ims, image_id) == []


def test_tag_api_of_unknown_image_is_404(ims: httpx.Client) -> None:
    assert ims.get(_tags_url(MISSING)).status_code == 404
    assert _code(ims.post(_tags_url(MISSING), json={"tag": _kv("a")})) == "IMG.0027"


def test_tag_api_counts_each_operation(emu: Emulator, ims: httpx.Client) -> None:
    image_id = _active_image(emu, ims)
    emu.reset_counters()
    ims.post(_tags_url(image_id), json={"tag": _kv("a")})
    _batch(ims, image_id, "delete", {"key": "a"})
    ims.delete(_tags_url(image_id) + "/a")
    ims.get(_tags_url(image_id))

    counters = emu.counters
    names = ("add_image_tag", "batch_image_tags", "delete_image_tag", "list_image_tags")
    assert [counters[f"ims.{name}"] for name in names] == [1, 1, 1, 1]


def test_image_of_another_project_is_invisible(
    emu: Emulator,
    ims: httpx.Client,
) -> None:
    other = "f" * 32
    emu.add_agency("OTC-EU-DE-00000000001000000002", "imaging", other)
    server_id = emu.add_server(name="theirs", data_disks_gb=[5], project_id=other)
    volume_id = _volumes(emu, server_id)[0]

    assert _code(_create(ims, instance_id=server_id)) == "IMG.0005"
    assert _code(_data(ims, {"name": "d", "volume_id": volume_id})) == "IMG.0001"
