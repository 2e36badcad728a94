"""boto3 clients for the few functions that call AWS itself, made once per container.

boto3 is imported on first use, so the modules that talk only to the cloud never
load it.
"""

from __future__ import annotations

import functools
from typing import Any


@functools.cache
def client(service: str) -> Any:
    """The container's client for one AWS service (region from the Lambda environment)."""
    import boto3

    return boto3.client(service)
