"""An emulator of the OTC / Huawei Cloud IAM, ECS and IMS APIs on 127.0.0.1.

It keeps servers, images, jobs and tokens in memory, moves jobs along on an
emulated clock, enforces the documented rules and injects faults on demand
(:mod:`.faults`, also over HTTP: :mod:`.admin`). Calls authenticate with a token
or an AK/SK signature. SMN signs ECS-stop notifications and serves its signing
certificate over HTTPS (:mod:`.smn`).

Counters (``Emulator.counters``), one per operation, bumped by every call:

- ``iam.token``: POST /v3/auth/tokens with a password
- ``iam.agency_token``: POST /v3/auth/tokens with assume_role
- ``iam.list_projects``: GET /v3/projects
- ``ecs.list_servers``: GET /v1/{project_id}/cloudservers/detail
- ``ecs.show_server``: GET /v1/{project_id}/cloudservers/{server_id}
- ``ecs.stop``: POST /v1/{project_id}/cloudservers/action with os-stop
- ``ecs.start``: POST /v1/{project_id}/cloudservers/action with os-start
- ``ecs.show_job``: GET /v1/{project_id}/jobs/{job_id} on ECS
- ``ecs.update_metadata``: POST /v1/{project_id}/cloudservers/{server_id}/metadata
- ``ecs.delete_metadata``: DELETE /v1/{project_id}/cloudservers/{server_id}/metadata/{key}
- ``ims.create_image``: POST /v2/cloudimages/action with instance_id
- ``ims.create_data_images``: POST /v2/cloudimages/action with data_images
- ``ims.create_whole_image``: POST /v1/cloudimages/wholeimages/action
- ``ims.show_job``: GET /v1/{project_id}/jobs/{job_id} on IMS
- ``ims.list_images``: GET /v2/cloudimages
- ``ims.show_image``: GET /v2/images/{image_id}
- ``ims.delete_image``: DELETE /v2/images/{image_id}
- ``ims.export_image``: POST /v1/cloudimages/{image_id}/file
- ``ims.show_quota``: GET /v1/cloudimages/quota
- ``ims.add_image_tag``: POST /v2/{project_id}/images/{image_id}/tags
- ``ims.batch_image_tags``: POST /v2/{project_id}/images/{image_id}/tags/action
- ``ims.delete_image_tag``: DELETE /v2/{project_id}/images/{image_id}/tags/{key}
- ``ims.list_image_tags``: GET /v2/{project_id}/images/{image_id}/tags
- ``smn.signing_cert``: GET of SMN's signing certificate, over HTTPS (:mod:`.smn`)

Answers are counted too, as ``http.<status>``, and ``http.dropped`` for a
connection closed without an answer.
"""

from .app import Emulator
from .clock import Clock
from .faults import Faults
from .listener import PortUnavailable
from .state import (
    PROJECT_ID,
    REGION,
    SAMPLE_SERVERS,
    Agency,
    Backup,
    Credentials,
    Export,
    Fault,
    Image,
    ImageJob,
    Server,
    ServerJob,
    ServerSpec,
)

__all__ = [
    "PROJECT_ID",
    "REGION",
    "SAMPLE_SERVERS",
    "Agency",
    "Backup",
    "Clock",
    "Credentials",
    "Emulator",
    "Export",
    "Fault",
    "Faults",
    "Image",
    "ImageJob",
    "PortUnavailable",
    "Server",
    "ServerJob",
    "ServerSpec",
]
