"""ECS and IMS calls against respx mocks shaped like the documented examples."""

import json

import httpx
import pytest
from ecs_imaging import ecs, ims
from ecs_imaging.errors import (
    ImageBusy,
    InvalidInput,
    PermissionDenied,
    QuotaExceeded,
    ServerNotStopped,
)
from ecs_imaging.models import ImageSpec, Job, JobStatus
from ecs_imaging.session import CloudSession
from support.cloud import ECS, IMS, PROJECT_ID, SERVER_ID

JOB_ID = "8a12fc664fb4daa3014fb4e581380005"
SERVER_JOB_ID = "ff808082889bd9690189061140c235fe"
IMAGE_ID = "3f7185de-b59a-4bb8-aa1d-7a513528b0e9"
DOCUMENTED_JOB = {
    "job_id": "9a175ac792fa12d20193002100dd2762",
    "job_type": "imsCreateImageByInstance",
    "begin_time": "2024-11-06T06:19:43.195Z",
    "end_time": "2024-11-06T06:23:25.158Z",
    "status": "SUCCESS",
    "error_code": None,
    "fail_reason": None,
    "entities": {"image_name": "test", "image_id": IMAGE_ID},
}


@pytest.fixture
def session(cloud):
    return CloudSession()


def test_create_image_posts_the_documented_body(cloud, session):
    route = cloud.post(f"{IMS}/v2/cloudimages/action").mock(
        return_value=httpx.Response(200, json={"job_id": JOB_ID})
    )

    spec = ImageSpec(
        name="golden-web-20261204",
        description="from ecs web-01",
        tags={"source": "web-01", "owner": "ops"},
    )

    job_id = ims.create_image_from_server(session, server_id=SERVER_ID, spec=spec)

    assert job_id == JOB_ID
    assert json.loads(route.calls.last.request.content) == {
        "name": "golden-web-20261204",
        "instance_id": SERVER_ID,
        "description": "from ecs web-01",
        "image_tags": [{"key": "source", "value": "web-01"}, {"key": "owner", "value": "ops"}],
    }
    assert route.calls.last.request.headers["X-Auth-Token"] == "MIItoken-1"


@pytest.mark.parametrize(
    ("code", "error"), [("IMG.0008", ServerNotStopped), ("IMG.0015", QuotaExceeded)]
)
def test_create_image_maps_refusals_to_their_errors(cloud, session, code, error):
    cloud.post(f"{IMS}/v2/cloudimages/action").mock(
        return_value=httpx.Response(400, json={"error": {"code": code, "message": "no"}})
    )

    with pytest.raises(error):
        ims.create_image_from_server(session, server_id=SERVER_ID, spec=ImageSpec(name="n"))


def test_show_job_reads_the_documented_success_example(cloud, session):
    cloud.get(f"{IMS}/v1/{PROJECT_ID}/jobs/{JOB_ID}").mock(
        return_value=httpx.Response(200, json=DOCUMENTED_JOB)
    )

    job = ims.show_job(session, JOB_ID)

    assert job.status is JobStatus.SUCCESS
    assert job.entities.image_id == IMAGE_ID


def test_list_images_follows_the_marker_through_every_page(cloud, session, monkeypatch):
    monkeypatch.setattr(ims, "PAGE_SIZE", 2)
    pages = [[{"id": "a"}, {"id": "b"}], [{"id": "c"}, {"id": "d"}], [{"id": "e"}]]
    route = cloud.get(f"{IMS}/v2/cloudimages").mock(
        side_effect=[
            httpx.Response(
                200, json={"images": [{**i, "name": i["id"], "status": "active"} for i in page]}
            )
            for page in pages
        ]
    )

    images = ims.list_images(session, tag=("ecs-imaging-run", "r1"))

    assert [image.id for image in images] == ["a", "b", "c", "d", "e"]
    params = [dict(call.request.url.params) for call in route.calls]
    assert params[0]["tag"] == "ecs-imaging-run=r1"
    assert params[0]["owner"] == PROJECT_ID
    assert "marker" not in params[0]
    assert [p.get("marker") for p in params[1:]] == ["b", "d"]


def test_list_images_filters_by_name_and_status_on_every_page(cloud, session, monkeypatch):
    monkeypatch.setattr(ims, "PAGE_SIZE", 2)
    image = {"name": "golden-web-20261204", "status": "active", "__imagetype": "private"}
    route = cloud.get(f"{IMS}/v2/cloudimages").mock(
        side_effect=[
            httpx.Response(200, json={"images": [{**image, "id": "a"}, {**image, "id": "b"}]}),
            httpx.Response(200, json={"images": [{**image, "id": "c"}]}),
        ]
    )

    images = ims.list_images(session, name="golden-web-20261204", status="active")

    assert [found.id for found in images] == ["a", "b", "c"]
    first, second = (dict(call.request.url.params) for call in route.calls)
    assert first == {
        "__imagetype": "private",
        "owner": PROJECT_ID,
        "name": "golden-web-20261204",
        "status": "active",
        "limit": "2",
        "sort_key": "created_at",
        "sort_dir": "desc",
    }
    assert second == {**first, "marker": "b"}


def test_show_server_reads_a_stopping_server_as_neither_state(cloud, session):
    cloud.get(f"{ECS}/v1/{PROJECT_ID}/cloudservers/{SERVER_ID}").mock(
        return_value=httpx.Response(
            200,
            json={
                "server": {
                    "id": SERVER_ID,
                    "name": "web-01",
                    "status": "ACTIVE",
                    "OS-EXT-STS:task_state": "powering-off",
                    "OS-EXT-STS:vm_state": "active",
                }
            },
        )
    )

    server = ecs.show_server(session, SERVER_ID)

    assert not server.is_stopped
    assert not server.is_running
    assert server.task_state == "powering-off"


def test_stop_server_sends_a_soft_stop(cloud, session):
    route = cloud.post(f"{ECS}/v1/{PROJECT_ID}/cloudservers/action").mock(
        return_value=httpx.Response(200, json={"job_id": "ff808082889bd9690189061140c235fe"})
    )

    job_id = ecs.stop_server(session, SERVER_ID)

    assert job_id == "ff808082889bd9690189061140c235fe"
    assert json.loads(route.calls.last.request.content) == {
        "os-stop": {"type": "SOFT", "servers": [{"id": SERVER_ID}]}
    }


def test_stop_server_hard_sends_a_hard_stop(cloud, session):
    route = cloud.post(f"{ECS}/v1/{PROJECT_ID}/cloudservers/action").mock(
        return_value=httpx.Response(200, json={"job_id": SERVER_JOB_ID})
    )

    job_id = ecs.stop_server(session, SERVER_ID, hard=True)

    assert job_id == SERVER_JOB_ID
    assert json.loads(route.calls.last.request.content) == {
        "os-stop": {"type": "HARD", "servers": [{"id": SERVER_ID}]}
    }


def test_start_server_sends_the_documented_body(cloud, session):
    route = cloud.post(f"{ECS}/v1/{PROJECT_ID}/cloudservers/action").mock(
        return_value=httpx.Response(200, json={"job_id": SERVER_JOB_ID})
    )

    job_id = ecs.start_server(session, SERVER_ID)

    assert job_id == SERVER_JOB_ID
    assert json.loads(route.calls.last.request.content) == {
        "os-start": {"servers": [{"id": SERVER_ID}]}
    }
    assert route.calls.last.request.headers["X-Auth-Token"] == "MIItoken-1"


def test_show_server_job_reads_the_documented_sub_jobs_from_ecs(cloud, session):
    # The job_type strings of a batch stop are not documented (reference 3.4).
    sub_job = {
        "status": "SUCCESS",
        "entities": {"server_id": SERVER_ID},
        "job_id": "ff808082889bd96901890611421e0301",
        "job_type": "stopServer",
        "begin_time": "2024-11-06T06:19:45.012Z",
        "end_time": "2024-11-06T06:20:31.441Z",
        "error_code": None,
        "fail_reason": None,
    }
    route = cloud.get(f"{ECS}/v1/{PROJECT_ID}/jobs/{SERVER_JOB_ID}").mock(
        return_value=httpx.Response(
            200,
            json={
                "status": "SUCCESS",
                "entities": {"sub_jobs_total": 1, "sub_jobs": [sub_job]},
                "job_id": SERVER_JOB_ID,
                "job_type": "batchStopServers",
                "begin_time": "2024-11-06T06:19:43.195Z",
                "end_time": "2024-11-06T06:20:33.158Z",
                "error_code": None,
                "fail_reason": None,
            },
        )
    )

    job = ecs.show_job(session, SERVER_JOB_ID)

    assert (job.job_id, job.status, job.error_code) == (SERVER_JOB_ID, JobStatus.SUCCESS, None)
    assert job.entities.data_image_ids == []
    assert route.call_count == 1


def test_create_whole_image_sends_the_vault(cloud, session):
    route = cloud.post(f"{IMS}/v1/cloudimages/wholeimages/action").mock(
        return_value=httpx.Response(200, json={"job_id": JOB_ID})
    )

    ims.create_whole_image(
        session, server_id=SERVER_ID, spec=ImageSpec(name="whole"), vault_id="vault-1"
    )

    body = json.loads(route.calls.last.request.content)
    assert (body["instance_id"], body["vault_id"], body["name"]) == (SERVER_ID, "vault-1", "whole")


SPEC_OPTIONS = ("max_ram", "min_ram", "enterprise_project_id")


@pytest.mark.parametrize(
    ("path", "create"),
    [
        ("/v2/cloudimages/action", ims.create_image_from_server),
        ("/v1/cloudimages/wholeimages/action", ims.create_whole_image),
    ],
    ids=["system", "whole"],
)
@pytest.mark.parametrize(
    "options",
    [
        {},
        {"min_ram": 0},
        {"max_ram": 0},
        {"max_ram": 4096, "min_ram": 1024},
        {"enterprise_project_id": ""},
        {"enterprise_project_id": "0"},
        {"enterprise_project_id": "3c9a1f6e-5d2b-4c8e-9f7a-1b2c3d4e5f60", "min_ram": 512},
    ],
)
def test_create_image_sends_the_spec_options_exactly_when_set(
    cloud, session, path, create, options
):
    route = cloud.post(f"{IMS}{path}").mock(
        return_value=httpx.Response(200, json={"job_id": JOB_ID})
    )
    spec = ImageSpec(name="web-01", **options)
    vault = {"vault_id": None} if create is ims.create_whole_image else {}

    create(session, server_id=SERVER_ID, spec=spec, **vault)

    body = json.loads(route.calls.last.request.content)
    assert {name: body[name] for name in SPEC_OPTIONS if name in body} == options
    assert (body["name"], body["instance_id"]) == ("web-01", SERVER_ID)


def test_create_data_disk_images_names_each_volume_and_no_instance(cloud, session):
    route = cloud.post(f"{IMS}/v2/cloudimages/action").mock(
        return_value=httpx.Response(200, json={"job_id": JOB_ID})
    )
    disks = [
        ims.DataDiskImage(volume_id="v1", spec=ImageSpec(name="web-data-1")),
        ims.DataDiskImage(volume_id="v2", spec=ImageSpec(name="web-data-2")),
    ]

    ims.create_data_disk_images(session, disks)

    body = json.loads(route.calls.last.request.content)
    assert "instance_id" not in body
    assert [(d["name"], d["volume_id"]) for d in body["data_images"]] == [
        ("web-data-1", "v1"),
        ("web-data-2", "v2"),
    ]


def test_create_data_disk_images_sends_each_image_its_tags_in_the_old_format(cloud, session):
    route = cloud.post(f"{IMS}/v2/cloudimages/action").mock(
        return_value=httpx.Response(200, json={"job_id": JOB_ID})
    )
    tags = {"ecs-imaging-run": "4fad1fcd", "ecs-imaging-server": SERVER_ID}
    disks = [ims.DataDiskImage(volume_id="v1", spec=ImageSpec(name="web-data-1", tags=tags))]

    ims.create_data_disk_images(session, disks)

    [image] = json.loads(route.calls.last.request.content)["data_images"]
    assert image["tags"] == ["ecs-imaging-run.4fad1fcd", f"ecs-imaging-server.{SERVER_ID}"]


@pytest.mark.parametrize("tag", [{"team": "ops.eu"}, {"team": "ops team"}, {"tëam": "ops"}])
def test_create_data_disk_images_refuses_a_tag_outside_the_old_format_before_any_call(
    cloud, session, tag
):
    disks = [ims.DataDiskImage(volume_id="v1", spec=ImageSpec(name="web-data-1", tags=tag))]

    with pytest.raises(InvalidInput, match="old format"):
        ims.create_data_disk_images(session, disks)

    assert not cloud["token"].called


def test_create_data_disk_images_refuses_an_empty_list_before_any_call(cloud, session):
    with pytest.raises(InvalidInput, match="No data disk"):
        ims.create_data_disk_images(session, [])

    assert not cloud["token"].called


def test_job_data_image_ids_come_from_sub_jobs_or_the_huawei_field():
    otc = Job.model_validate(
        {
            "job_id": "j",
            "status": "SUCCESS",
            "entities": {
                "sub_jobs_result": [
                    {"status": "SUCCESS", "entities": {"image_id": "i1"}},
                    {"status": "SUCCESS", "entities": {"image_id": "i2"}},
                ]
            },
        }
    )
    huawei = Job.model_validate(
        {"job_id": "j", "status": "SUCCESS", "entities": {"__data_images": [{"image_id": "i3"}]}}
    )
    empty = Job.model_validate({"job_id": "j", "status": "SUCCESS", "entities": {}})

    assert otc.entities.data_image_ids == ["i1", "i2"]
    assert huawei.entities.data_image_ids == ["i3"]
    assert empty.entities.data_image_ids == []


def test_add_image_tags_uses_the_batch_action_and_checks_rules_first(cloud, session):
    route = cloud.post(f"{IMS}/v2/{PROJECT_ID}/images/{IMAGE_ID}/tags/action").mock(
        return_value=httpx.Response(204)
    )

    ims.add_image_tags(session, IMAGE_ID, {"keep": "yes"})
    with pytest.raises(InvalidInput, match="must be 1 to 36 characters"):
        ims.add_image_tags(session, IMAGE_ID, {"k" * 37: "v"})

    assert route.call_count == 1
    assert json.loads(route.calls.last.request.content) == {
        "action": "create",
        "tags": [{"key": "keep", "value": "yes"}],
    }


def test_remove_image_tags_sends_keys_only(cloud, session):
    route = cloud.post(f"{IMS}/v2/{PROJECT_ID}/images/{IMAGE_ID}/tags/action").mock(
        return_value=httpx.Response(204)
    )

    ims.remove_image_tags(session, IMAGE_ID, ["a", "b"])

    assert json.loads(route.calls.last.request.content) == {
        "action": "delete",
        "tags": [{"key": "a"}, {"key": "b"}],
    }


def test_delete_image_reports_an_image_already_gone(cloud, session):
    route = cloud.delete(f"{IMS}/v2/images/{IMAGE_ID}").mock(
        side_effect=[
            httpx.Response(204),
            httpx.Response(404, json={"error": {"code": "IMG.0027", "message": "gone"}}),
        ]
    )

    assert ims.delete_image(session, IMAGE_ID, delete_backup=True) is True
    assert ims.delete_image(session, IMAGE_ID) is False
    assert json.loads(route.calls[0].request.content) == {"delete_backup": True}
    assert route.calls[1].request.content == b""


def test_delete_image_still_being_made_is_image_busy(cloud, session):
    cloud.delete(f"{IMS}/v2/images/{IMAGE_ID}").mock(
        return_value=httpx.Response(400, json={"error": {"code": "IMG.0090", "message": "m"}})
    )

    with pytest.raises(ImageBusy):
        ims.delete_image(session, IMAGE_ID)


@pytest.mark.parametrize(
    ("file_format", "expected"),
    [("qcow2", {"file_format": "qcow2"}), (None, {"is_quick_export": True})],
)
def test_export_image_sends_the_bucket_url(cloud, session, file_format, expected):
    route = cloud.post(f"{IMS}/v1/cloudimages/{IMAGE_ID}/file").mock(
        return_value=httpx.Response(200, json={"job_id": JOB_ID})
    )

    ims.export_image(
        session, IMAGE_ID, bucket="ims-image", object_name="web.qcow2", file_format=file_format
    )

    assert json.loads(route.calls.last.request.content) == {
        "bucket_url": "ims-image:web.qcow2",
        **expected,
    }


def test_show_quota_reads_the_documented_example(cloud, session):
    cloud.get(f"{IMS}/v1/cloudimages/quota").mock(
        return_value=httpx.Response(
            200,
            json={
                "quotas": {
                    "resources": [{"type": "image", "used": 18, "quota": 20, "min": 1, "max": 1000}]
                }
            },
        )
    )

    assert ims.show_quota(session).remaining == 2


def test_list_servers_pages_by_page_number(cloud, session, monkeypatch):
    monkeypatch.setattr(ecs, "PAGE_SIZE", 2)
    servers = [{"id": f"s{i}", "name": f"n{i}", "status": "ACTIVE"} for i in range(3)]
    route = cloud.get(f"{ECS}/v1/{PROJECT_ID}/cloudservers/detail").mock(
        side_effect=[
            httpx.Response(200, json={"count": 3, "servers": servers[:2]}),
            httpx.Response(200, json={"count": 3, "servers": servers[2:]}),
        ]
    )

    found = ecs.list_servers(session, tag=("auto-image", "daily"))

    assert [server.id for server in found] == ["s0", "s1", "s2"]
    params = [dict(call.request.url.params) for call in route.calls]
    assert [p["offset"] for p in params] == ["1", "2"]
    assert params[0]["tags"] == "auto-image=daily"


def test_forbidden_is_permission_denied_and_not_retried(cloud, session):
    route = cloud.get(f"{IMS}/v1/cloudimages/quota").mock(
        return_value=httpx.Response(403, json={"error": {"code": "IMG.0026", "message": "no"}})
    )

    with pytest.raises(PermissionDenied):
        ims.show_quota(session)

    assert route.call_count == 1
