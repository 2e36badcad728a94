"""An emulator of the OTC / Huawei Cloud IAM, ECS and IMS APIs on 127.0.0.1.

It keeps servers, images, jobs and tokens in memory, moves jobs along on an
emulated clock, enforces the documented rules and injects faults on demand.
"""

from .app import Emulator, Faults
from .clock import Clock
from .state import (
    PROJECT_ID,
    REGION,
    SAMPLE_SERVERS,
    Credentials,
    Fault,
    Image,
    ImageJob,
    Server,
    ServerSpec,
)

__all__ = [
    "PROJECT_ID",
    "REGION",
    "SAMPLE_SERVERS",
    "Clock",
    "Credentials",
    "Emulator",
    "Fault",
    "Faults",
    "Image",
    "ImageJob",
    "Server",
    "ServerSpec",
]
