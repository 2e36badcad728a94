"""IMS: images made from servers, exports, jobs and the quota (reference section 2).

Emulator choices where the documentation is silent:

- An unknown job id gets 404 ``{"error": {"code": "IMG.0000", ...}}``; no code is
  documented for it (reference 2.3), so this mirrors Ecs.0000 on the ECS side.
- A failing job ends FAIL when its duration is up, and its images are removed
  rather than left ``killed``; a failed whole image takes its backup along.
- A server in a CBR setup needs its own ``vault_id``; any other ``vault_id`` is
  400 IMG.0001, as are a volume that is no data disk of the caller's servers and
  an export of a whole image.
- A server makes one image at a time: while an image job of it (of any kind) is
  unfinished, a new image of it gets 400 IMG.0010, as a server powering off or
  on does; a job stuck by a fault keeps its server busy for good.
- A data-disk job reports sub-jobs of type ``imsCopyVolumeToImageJob``.
- The quota counts every image of the project, whatever its status.
- Job durations, in emulated seconds, times uniform(0.8, 1.2) from the seed:
  system disk 45 + 13 per GB; whole image 90 + 13 per GB of all disks; data disks
  45 + 13 per GB of the imaged disks; export 30 + 4 per GB of ``min_disk``.
"""

from __future__ import annotations

import uuid
from typing import Any

from .clock import format_millis
from .images import (
    add_tag,
    change_tags,
    check_description,
    check_enterprise_project,
    check_name,
    check_ram,
    check_tags,
    delete_image,
    delete_tag,
    find_image,
    invalid,
    list_images,
    list_tags,
    show_image,
)
from .state import (
    DATA_JOB,
    EXPORT_JOB,
    Backup,
    Export,
    Image,
    ImageJob,
    ImageKind,
    Server,
    State,
)
from .wire import Call, Reply, Service, nested_error, route

SYSTEM_JOB = "imsCreateImageByInstance"
WHOLE_JOB = "imsCreateWholeImageByInstanceJob"
SUB_JOB = "imsCopyVolumeToImageJob"
FILE_FORMATS = ("qcow2", "vhd", "zvhd", "vmdk")
QUOTA_RANGE = (1, 1000)


def create_image(call: Call) -> Reply:
    """POST /v2/cloudimages/action: a system-disk image, or data-disk images."""
    if "data_images" in call.body:
        return _create_data_images(call)

    fields = _read_fields(call.body)
    server = _find_source_server(call, call.body.get("instance_id"))
    _check_quota(call, 1)

    image = _new_image(call, fields, min_disk=server.system_disk_gb)
    seconds = 45 + 13 * server.system_disk_gb
    job = _start(call, SYSTEM_JOB, [image], seconds, server)

    return Reply(200, {"job_id": job.id})


def create_whole_image(call: Call) -> Reply:
    """POST /v1/cloudimages/wholeimages/action: an image of all disks, via a backup."""
    if "backup_id" in call.body:
        raise invalid("IMG.0001", "The emulator makes whole images from servers only.")

    fields = _read_fields(call.body)
    server = _find_server(call, call.body.get("instance_id"))
    if server.task_state is not None:
        message = f"The server {server.id!r} is {server.task_state}: not settled."
        raise invalid("IMG.0126", message)
    _check_no_image_job(call.state, server)
    _check_vault(server, call.body.get("vault_id"))
    _check_quota(call, 1)

    image = _new_image(call, fields, min_disk=server.system_disk_gb, kind="whole")
    image.backup_id = str(uuid.uuid4())
    backup = Backup(image.backup_id, image.id, server.id, server.vault_id)
    call.state.backups[backup.id] = backup
    disks_gb = server.system_disk_gb + sum(v.size_gb for v in server.data_volumes)
    job = _start(call, WHOLE_JOB, [image], 90 + 13 * disks_gb, server)

    return Reply(200, {"job_id": job.id})


def export_image(call: Call) -> Reply:
    """POST /v1/cloudimages/{image_id}/file: copy an active image to an OBS object."""
    image = find_image(call)
    bucket, object_name = _read_bucket_url(call.body.get("bucket_url"))
    file_format = _read_file_format(call.body)
    _check_exportable(call.state, image, bucket, object_name)

    export = Export(image.id, bucket, object_name, file_format)
    seconds = 30 + 4 * image.min_disk
    job = call.state.start_job(EXPORT_JOB, [image], seconds, call.now, export=export)

    return Reply(200, {"job_id": job.id})


def show_job(call: Call) -> Reply:
    """GET /v1/{project_id}/jobs/{job_id}: the state of one IMS job."""
    job = call.state.image_jobs.get(call.params["job_id"])
    if job is None or job.project_id != call.project_id:
        message = f"The job {call.params['job_id']!r} does not exist."
        raise nested_error(404, "IMG.0000", message)

    return Reply(200, _describe_job(call.state, job, call.now))


def show_quota(call: Call) -> Reply:
    """GET /v1/cloudimages/quota: the private image quota of the caller's project."""
    low, high = QUOTA_RANGE
    image = {
        "type": "image",
        "used": _count_images(call),
        "quota": call.state.image_quota,
        "min": low,
        "max": high,
    }

    return Reply(200, {"quotas": {"resources": [image]}})


def _create_data_images(call: Call) -> Reply:
    body = call.body
    if body.get("instance_id") is not None:
        message = "Give either 'instance_id' or 'data_images', not both."
        raise invalid("IMG.0001", message)
    wanted = body["data_images"]
    if not isinstance(wanted, list) or not wanted:
        raise invalid("IMG.0001", "'data_images' must list at least one data disk.")

    fields = _read_fields(body, named=False)
    disks = [_read_data_image(call, item, fields) for item in wanted]
    servers = {server.id: server for server, _, _ in disks}
    if len(servers) > 1 or len({volume_id for _, volume_id, _ in disks}) < len(disks):
        message = "The data disks must be distinct disks of one server."
        raise invalid("IMG.0001", message)
    [server] = servers.values()
    _check_server_state(call.state, server)
    _check_quota(call, len(disks))

    images = [image for _, _, image in disks]
    seconds = 45 + 13 * sum(image.min_disk for image in images)
    job = _start(call, DATA_JOB, images, seconds, server)

    return Reply(200, {"job_id": job.id})


def _read_data_image(
    call: Call,
    item: Any,
    fields: dict[str, Any],
) -> tuple[Server, str, Image]:
    if not isinstance(item, dict):
        raise invalid("IMG.0001", f"The data image {item!r} is not an object.")

    # The values of one data image override the top-level ones.
    name = check_name(item.get("name"))
    description = check_description(item.get("description", fields["description"]))
    tags = check_tags(item["tags"], None) if "tags" in item else fields["tags"]
    server, size_gb = _find_data_volume(call, item.get("volume_id"))
    overrides = {"name": name, "description": description, "tags": tags}
    image = _new_image(call, fields | overrides, min_disk=size_gb, kind="data")

    return server, str(item["volume_id"]), image


def _start(
    call: Call, job_type: str, images: list[Image], seconds: float, server: Server
) -> ImageJob:
    state, now = call.state, call.now

    return state.start_job(job_type, images, seconds, now, server_id=server.id)


def _read_fields(body: dict[str, Any], *, named: bool = True) -> dict[str, Any]:
    enterprise_project = body.get("enterprise_project_id")

    return {
        "name": check_name(body.get("name")) if named else "",
        "description": check_description(body.get("description", "")),
        "tags": check_tags(body.get("tags"), body.get("image_tags")),
        "min_ram": check_ram(body.get("min_ram")) or 0,
        "max_ram": check_ram(body.get("max_ram")),
        "enterprise_project_id": check_enterprise_project(enterprise_project),
    }


def _new_image(
    call: Call, fields: dict[str, Any], *, min_disk: int, kind: ImageKind = "system"
) -> Image:
    return Image(
        id=str(uuid.uuid4()),
        status="queued",
        min_disk=min_disk,
        created_at=call.now,
        updated_at=call.now,
        project_id=call.project_id,
        kind=kind,
        **fields,
    )


def _find_server(call: Call, server_id: Any) -> Server:
    if not isinstance(server_id, str) or not server_id:
        raise invalid("IMG.0012", "The server id (instance_id) is missing.")

    server = call.state.servers.get(server_id)
    if server is None or server.project_id != call.project_id:
        raise invalid("IMG.0005", f"The server {server_id!r} does not exist.")

    return server


def _find_source_server(call: Call, server_id: Any) -> Server:
    server = _find_server(call, server_id)
    _check_server_state(call.state, server)

    return server


def _check_server_state(state: State, server: Server) -> None:
    if server.task_state is not None:
        message = f"The server {server.id!r} is busy: {server.task_state}."
        raise invalid("IMG.0010", message)
    _check_no_image_job(state, server)
    if state.require_stopped and server.status != "SHUTOFF":
        raise invalid("IMG.0008", f"The server {server.id!r} is not stopped.")


def _check_no_image_job(state: State, server: Server) -> None:
    for job in state.image_jobs.values():
        if job.server_id == server.id and job.end is None:
            message = f"The server {server.id!r} is busy: image job {job.id!r}."
            raise invalid("IMG.0010", message)


def _find_data_volume(call: Call, volume_id: Any) -> tuple[Server, int]:
    for server in call.state.servers.values():
        for volume in server.data_volumes:
            if volume.id == volume_id and server.project_id == call.project_id:
                return server, volume.size_gb

    message = f"The volume {volume_id!r} is no data disk of your servers."
    raise invalid("IMG.0001", message)


def _check_vault(server: Server, vault_id: Any) -> None:
    if vault_id == server.vault_id:
        return
    if server.vault_id is not None and vault_id is None:
        message = f"The server {server.id!r} is backed up by CBR: give 'vault_id'."
        raise invalid("IMG.0001", message)

    raise invalid("IMG.0001", f"The vault {vault_id!r} does not back up {server.id!r}.")


def _check_quota(call: Call, wanted: int) -> None:
    used, quota = _count_images(call), call.state.image_quota
    if used + wanted > quota:
        message = f"The private image quota is reached: {used} of {quota} used."
        raise invalid("IMG.0015", message)


def _count_images(call: Call) -> int:
    images = call.state.images.values()

    return sum(image.project_id == call.project_id for image in images)


def _read_bucket_url(bucket_url: Any) -> tuple[str, str]:
    text = bucket_url if isinstance(bucket_url, str) else ""
    bucket, colon, object_name = text.partition(":")
    if not colon or not bucket or not object_name:
        message = f"The bucket_url is 'bucket:object', not {bucket_url!r}."
        raise invalid("IMG.0001", message)

    return bucket, object_name


def _read_file_format(body: dict[str, Any]) -> str:
    quick, file_format = body.get("is_quick_export", False), body.get("file_format")
    if quick is True and file_format is None:
        # A quick export writes the image as it is stored.
        return "zvhd2"
    if quick is False and file_format in FILE_FORMATS:
        return str(file_format)

    message = f"Give a file_format of {FILE_FORMATS}, or is_quick_export alone."
    raise invalid("IMG.0001", message)


def _check_exportable(
    state: State,
    image: Image,
    bucket: str,
    object_name: str,
) -> None:
    if image.kind == "whole":
        raise invalid("IMG.0001", f"The whole image {image.id!r} cannot be exported.")
    if image.status != "active":
        message = f"The image {image.id!r} is {image.status}, not active."
        raise invalid("IMG.0046", message)

    exporting = [job.export for job in state.image_jobs.values() if job.end is None]
    if any(export and export.image_id == image.id for export in exporting):
        raise invalid("IMG.0148", f"The image {image.id!r} is being exported.")
    written = [(export.bucket, export.object_name) for export in state.exports]
    if (bucket, object_name) in written:
        message = f"The file {bucket}:{object_name} exists already."
        raise invalid("IMG.0070", message)


def _describe_job(state: State, job: ImageJob, now: float) -> dict[str, Any]:
    entities: dict[str, Any] = {}
    if job.job_type == DATA_JOB:
        entities = _describe_sub_jobs(state, job)
    else:
        entities["image_name"] = job.image_name
        if job.status in ("RUNNING", "SUCCESS"):
            entities["image_id"] = job.image_id
    if job.status == "RUNNING":
        done = min((now - job.begin) / job.duration, 0.99)
        entities["process_percent"] = round(done * 100, 1)

    return _describe_outcome(state, job, job.id, job.job_type) | {"entities": entities}


def _describe_sub_jobs(state: State, job: ImageJob) -> dict[str, Any]:
    if job.fault is not None and job.fault.kind == "no_sub_jobs":
        return {"sub_jobs_result": [], "sub_jobs_list": []}

    results = []
    images = zip(job.image_ids, job.image_names, strict=True)
    for sub_id, (image_id, name) in zip(job.sub_job_ids, images, strict=True):
        entities = {"image_name": name}
        if job.status in ("RUNNING", "SUCCESS"):
            entities["image_id"] = image_id
        outcome = _describe_outcome(state, job, sub_id, SUB_JOB)
        results.append(outcome | {"entities": entities})

    return {"sub_jobs_result": results, "sub_jobs_list": list(job.sub_job_ids)}


def _describe_outcome(
    state: State,
    job: ImageJob,
    job_id: str,
    job_type: str,
) -> dict[str, Any]:
    fault = job.fault if job.status == "FAIL" else None
    end = "" if job.end is None else format_millis(state.clock.at(job.end))

    return {
        "status": job.status,
        "job_id": job_id,
        "job_type": job_type,
        "begin_time": format_millis(state.clock.at(job.begin)),
        "end_time": end,
        "error_code": fault.error_code if fault else None,
        "fail_reason": fault.fail_reason if fault else None,
    }


def _create_operation(body: dict[str, Any]) -> str:
    return "ims.create_data_images" if "data_images" in body else "ims.create_image"


TAGS = "/v2/{project_id}/images/{image_id}/tags"
FILE = "/v1/cloudimages/{image_id}/file"
SERVICE = Service(
    name="ims",
    routes=(
        route("POST", "/v2/cloudimages/action", _create_operation, create_image),
        route(
            "POST",
            "/v1/cloudimages/wholeimages/action",
            "ims.create_whole_image",
            create_whole_image,
        ),
        route("GET", "/v1/{project_id}/jobs/{job_id}", "ims.show_job", show_job),
        route("GET", "/v2/cloudimages", "ims.list_images", list_images),
        route("GET", "/v2/images/{image_id}", "ims.show_image", show_image),
        route("DELETE", "/v2/images/{image_id}", "ims.delete_image", delete_image),
        route("POST", FILE, "ims.export_image", export_image),
        route("GET", "/v1/cloudimages/quota", "ims.show_quota", show_quota),
        route("POST", TAGS, "ims.add_image_tag", add_tag),
        route("POST", TAGS + "/action", "ims.batch_image_tags", change_tags),
        route("DELETE", TAGS + "/{key}", "ims.delete_image_tag", delete_tag),
        route("GET", TAGS, "ims.list_image_tags", list_tags),
    ),
    operations=(
        "ims.create_image",
        "ims.create_data_images",
        "ims.create_whole_image",
        "ims.show_job",
        "ims.list_images",
        "ims.show_image",
        "ims.delete_image",
        "ims.export_image",
        "ims.show_quota",
        "ims.add_image_tag",
        "ims.batch_image_tags",
        "ims.delete_image_tag",
        "ims.list_image_tags",
    ),
    bad_body=lambda message: invalid("IMG.0001", message),
)
