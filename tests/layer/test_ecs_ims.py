"""ECS and IMS calls against respx mocks shaped like the documented examples."""

import json

import httpx
import pytest
from ecs_imaging import ecs, ims
from ecs_imaging.errors import QuotaExceeded, ServerNotStopped
from ecs_imaging.models import JobStatus
from ecs_imaging.session import CloudSession
from support.cloud import ECS, IMS, PROJECT_ID, SERVER_ID

JOB_ID = "8a12fc664fb4daa3014fb4e581380005"
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

    job_id = ims.create_image_from_server(
        session,
        server_id=SERVER_ID,
        name="golden-web-20261204",
        description="from ecs web-01",
        tags={"source": "web-01", "owner": "ops"},
    )

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
        ims.create_image_from_server(
            session, server_id=SERVER_ID, name="n", description="", tags={}
        )


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
