"""The official Huawei SDK, pointed at the emulator only, reads every answer it gets.

An SDK warning (a field of the wrong type, a value outside an enum) fails the test.
"""

from collections.abc import Iterator
from typing import Any

import pytest
from ecs_imaging_local.emulator import PROJECT_ID, Emulator
from huaweicloudsdkcore.auth.credentials import BasicCredentials
from huaweicloudsdkcore.exceptions.exceptions import ServiceResponseException
from huaweicloudsdkcore.http.http_config import HttpConfig
from huaweicloudsdkcore.region.region import Region
from huaweicloudsdkecs.v2 import (
    BatchStopServersOption,
    BatchStopServersRequest,
    BatchStopServersRequestBody,
    EcsClient,
    ListServersDetailsRequest,
    ServerId,
    ShowServerRequest,
)
from huaweicloudsdkecs.v2 import ShowJobRequest as ShowServerJobRequest
from huaweicloudsdkims.v2 import (
    AddImageTagRequest,
    AddImageTagRequestBody,
    BatchAddOrDeleteTagsRequest,
    BatchAddOrDeleteTagsRequestBody,
    CreateDataImage,
    CreateImageRequest,
    CreateImageRequestBody,
    CreateWholeImageRequest,
    CreateWholeImageRequestBody,
    ExportImageRequest,
    ExportImageRequestBody,
    GlanceDeleteImageRequest,
    GlanceDeleteImageRequestBody,
    ImsClient,
    ListImagesRequest,
    ListImageTagsRequest,
    ResourceTag,
    ShowImageQuotaRequest,
    ShowJobRequest,
    TagKeyValue,
)

pytestmark = [
    pytest.mark.filterwarnings("error::huaweicloudsdkcore.warning.warning.SdkWarning"),
    pytest.mark.filterwarnings("ignore:Method 'show_job' of ImsClient is deprecated"),
]

WEB_01 = "3c9a1f6e-5d2b-4c8e-9f7a-1b2c3d4e5f60"
DB_01 = "8f14e45f-ceea-467f-a0e6-1f2c3d4e5a61"
FILES_04 = "d3d94468-02a4-4e5f-8c1b-3c4d5e6f7a64"
ERP_05 = "6512bd43-d9ca-4a6e-8d2f-4d5e6f7a8b65"
MISSING = "00000000-0000-4000-8000-000000000000"
VAULT = "a87ff679-a2f3-4e71-9181-5e6f7a8b9c66"


@pytest.fixture
def emu(monkeypatch: pytest.MonkeyPatch) -> Iterator[Emulator]:
    # requests would honour proxy variables: keep every SDK call on the loopback.
    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    with Emulator(time_scale=1.0, seed=7) as emulator:
        yield emulator


def _build(builder: Any, emu: Emulator, service: str, **credentials: Any) -> Any:
    ak, sk = emu.credentials.access_key, emu.credentials.secret_key
    config = HttpConfig.get_default_config()
    config.ignore_ssl_verification = True
    config.timeout = (2, 5)
    options = {"project_id": PROJECT_ID} | credentials

    return (
        builder.with_credentials(BasicCredentials(ak, sk, **options))
        .with_endpoints([emu.endpoints[service]])
        .with_http_config(config)
        .build()
    )


@pytest.fixture
def ecs(emu: Emulator) -> Any:
    return _build(EcsClient.new_builder(), emu, "ecs")


@pytest.fixture
def ims(emu: Emulator) -> Any:
    return _build(ImsClient.new_builder(), emu, "ims")


def _create(ims: Any, **fields: Any) -> str:
    options = {"name": "sdk-image", "instance_id": WEB_01} | fields
    body = CreateImageRequestBody(**options)
    job_id: str = ims.create_image(CreateImageRequest(body=body)).job_id
    return job_id


def _finished_image(emu: Emulator, ims: Any, **fields: Any) -> str:
    job_id = _create(ims, **fields)
    emu.clock.advance(300)
    image_id: str = ims.show_job(ShowJobRequest(job_id=job_id)).entities.image_id
    return image_id


def test_sdk_ecs_show_server_reads_states_and_disks(ecs: Any) -> None:
    server = ecs.show_server(ShowServerRequest(server_id=FILES_04)).server

    volumes = server.os_extended_volumesvolumes_attached
    assert (server.name, server.status, server.os_ext_st_spower_state) == (
        "files-04",
        "SHUTOFF",
        4,
    )
    assert [volume.boot_index for volume in volumes] == ["0", "-1", "-1"]
    assert server.tenant_id == PROJECT_ID and server.locked is False


def test_sdk_ecs_lists_every_page(emu: Emulator, ecs: Any) -> None:
    fleet = emu.add_fleet(5, ["fleet=sdk"])
    found: list[str] = []
    for page in (1, 2, 3):
        request = ListServersDetailsRequest(tags="fleet=sdk", limit=2, offset=page)
        found += [server.id for server in ecs.list_servers_details(request).servers]

    assert found == fleet


def test_sdk_ecs_stops_a_server_and_reads_the_job(emu: Emulator, ecs: Any) -> None:
    option = BatchStopServersOption(servers=[ServerId(id=DB_01)], type="HARD")
    body = BatchStopServersRequestBody(os_stop=option)
    job_id = ecs.batch_stop_servers(BatchStopServersRequest(body=body)).job_id
    emu.clock.advance(3)

    job = ecs.show_job(ShowServerJobRequest(job_id=job_id))

    assert (job.status, job.job_type) == ("SUCCESS", "batchStopServers")
    assert job.entities.sub_jobs[0].entities.server_id == DB_01
    assert emu.server(DB_01).status == "SHUTOFF"


def test_sdk_ecs_reads_an_error_body(ecs: Any) -> None:
    with pytest.raises(ServiceResponseException) as caught:
        ecs.show_server(ShowServerRequest(server_id=MISSING))

    assert (caught.value.status_code, caught.value.error_code) == (404, "Ecs.0114")
    assert caught.value.request_id


def test_sdk_ims_creates_and_follows_an_image_job(emu: Emulator, ims: Any) -> None:
    tags = [TagKeyValue(key="source", value="sdk")]
    job_id = _create(ims, image_tags=tags, min_ram=512, max_ram=4096)
    emu.clock.advance(5)
    running = ims.show_job(ShowJobRequest(job_id=job_id))
    emu.clock.advance(300)
    done = ims.show_job(ShowJobRequest(job_id=job_id))

    assert running.status == "RUNNING" and 0 <= running.entities.process_percent < 100
    assert (done.status, done.job_type) == ("SUCCESS", "imsCreateImageByInstance")
    [image] = ims.list_images(ListImagesRequest(tag="source=sdk", limit=10)).images
    assert (image.id, image.status, image.min_ram, image.max_ram) == (
        done.entities.image_id,
        "active",
        512,
        "4096",
    )


def test_sdk_ims_reads_data_and_whole_image_jobs(emu: Emulator, ims: Any) -> None:
    volumes = [volume.id for volume in emu.server(FILES_04).data_volumes]
    data = [CreateDataImage(name=f"d{n}", volume_id=v) for n, v in enumerate(volumes)]
    data_body = CreateImageRequestBody(data_images=data)
    data_job = ims.create_image(CreateImageRequest(body=data_body))
    whole = CreateWholeImageRequestBody(name="erp", instance_id=ERP_05, vault_id=VAULT)
    whole_job = ims.create_whole_image(CreateWholeImageRequest(body=whole))
    # AK/SK dates follow real time: advances past 15 minutes would be refused.
    emu.clock.advance(720)

    subs = ims.show_job(ShowJobRequest(job_id=data_job.job_id)).entities.sub_jobs_result
    done = ims.show_job(ShowJobRequest(job_id=whole_job.job_id))
    assert [sub.entities.image_name for sub in subs] == ["d0", "d1"]
    assert (done.status, done.job_type) == (
        "SUCCESS",
        "imsCreateWholeImageByInstanceJob",
    )


def test_sdk_ims_reads_the_quota(emu: Emulator, ims: Any) -> None:
    _create(ims)

    [quota] = ims.show_image_quota(ShowImageQuotaRequest()).quotas.resources

    assert (quota.type, quota.used, quota.quota) == ("image", 1, 20)


def test_sdk_ims_tags_an_image(emu: Emulator, ims: Any) -> None:
    image_id = _finished_image(emu, ims)
    tags = [ResourceTag(key="a", value="1"), ResourceTag(key="b", value="2")]
    batch = BatchAddOrDeleteTagsRequestBody(action="create", tags=tags)

    request = BatchAddOrDeleteTagsRequest(image_id=image_id, body=batch)
    ims.batch_add_or_delete_tags(request)
    one = AddImageTagRequestBody(tag=ResourceTag(key="c", value="3"))
    added = ims.add_image_tag(AddImageTagRequest(image_id=image_id, body=one))

    listed = ims.list_image_tags(ListImageTagsRequest(image_id=image_id)).tags
    assert added.status_code == 204
    assert [(tag.key, tag.value) for tag in listed] == [
        ("a", "1"),
        ("b", "2"),
        ("c", "3"),
    ]


def test_sdk_ims_exports_then_deletes(emu: Emulator, ims: Any) -> None:
    image_id = _finished_image(emu, ims)
    body = ExportImageRequestBody(bucket_url="images:web-01.vmdk", file_format="vmdk")
    job_id = ims.export_image(ExportImageRequest(image_id=image_id, body=body)).job_id
    emu.clock.advance(200)
    export = ims.show_job(ShowJobRequest(job_id=job_id))

    deletion = GlanceDeleteImageRequestBody(delete_backup=False)
    request = GlanceDeleteImageRequest(image_id=image_id, body=deletion)
    deleted = ims.glance_delete_image(request)

    assert (export.status, export.job_type) == ("SUCCESS", "imsNativeExportImageJob")
    assert [item.object_name for item in emu.exports()] == ["web-01.vmdk"]
    assert deleted.status_code == 204 and emu.images() == []


def test_sdk_ims_reads_an_error_body(ims: Any) -> None:
    with pytest.raises(ServiceResponseException) as caught:
        _create(ims, name=" bad")

    assert (caught.value.status_code, caught.value.error_code) == (400, "IMG.0003")


def test_sdk_with_a_wrong_secret_key_is_refused(emu: Emulator) -> None:
    wrong = BasicCredentials(emu.credentials.access_key, "wrong", PROJECT_ID)
    client = (
        ImsClient.new_builder()
        .with_credentials(wrong)
        .with_endpoints([emu.endpoints["ims"]])
        .build()
    )

    with pytest.raises(ServiceResponseException) as caught:
        client.show_image_quota(ShowImageQuotaRequest())

    assert (caught.value.status_code, caught.value.error_code) == (401, "APIGW.0301")


def test_sdk_derives_the_project_id_from_the_emulator_iam(emu: Emulator) -> None:
    keys = emu.credentials
    credentials = BasicCredentials(keys.access_key, keys.secret_key)
    credentials.with_iam_endpoint(emu.endpoints["iam"])
    region = Region(emu.region, emu.endpoints["ecs"])

    builder = EcsClient.new_builder().with_credentials(credentials)
    client = builder.with_region(region).build()
    server = client.show_server(ShowServerRequest(server_id=WEB_01)).server

    assert credentials.project_id == PROJECT_ID
    assert server.id == WEB_01
    assert emu.counters["iam.list_projects"] == 1
