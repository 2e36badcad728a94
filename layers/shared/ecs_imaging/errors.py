"""One exception tree for the whole package.

The class names are part of the state machine's contract: Retry and Catch clauses
match them by name, so rename none of them.
"""

from __future__ import annotations

import json
import re
from typing import Any


class EcsImagingError(Exception):
    """Base class of every error this package raises on purpose."""


class InvalidInput(EcsImagingError):
    """The pipeline input, an event or a setting breaks its contract."""


class ConfigurationError(EcsImagingError):
    """A setting is missing or inconsistent; the message names the one to fix."""


class CloudError(EcsImagingError):
    """The cloud answered a request with an error."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        error_code: str | None = None,
        request_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.error_code = error_code
        self.request_id = request_id
        self.retry_after = retry_after


class CloudAuthError(CloudError):
    """IAM refused the credentials, or a service refused the token."""


class CloudThrottled(CloudError):
    """The cloud rate-limited the request; nothing was done, try again later."""


class CloudTransientError(CloudError):
    """A 5xx, a timeout or a dropped connection; the outcome may be unknown."""


class CloudRequestNotSent(CloudTransientError):
    """The connection failed before the request reached the cloud."""


class PermissionDenied(CloudError):
    """The credentials are valid but may not do this (HTTP 403, IMG.0026, Ecs.0003)."""


class ResourceNotFound(CloudError):
    """The server, image or job does not exist."""


class ServerNotStopped(CloudError):
    """IMS refuses to image a server that is not stopped (IMG.0008)."""


class ServerBusy(CloudError):
    """The server has a task in progress (IMG.0010, Ecs.0100)."""


class ImageBusy(CloudError):
    """The image is still being made or exported (IMG.0090, IMG.0148)."""


class QuotaExceeded(CloudError):
    """The private image quota is used up (IMG.0015)."""


class InvalidRequest(CloudError):
    """The cloud rejected the request as malformed (other 4xx answers)."""


class UnexpectedResponse(CloudError):
    """A 2xx answer whose body is not what the documented API returns."""


class ServerJobFailed(EcsImagingError):
    """An ECS job that stops or starts the server ended in FAIL."""


class ServerRestartFailed(EcsImagingError):
    """The server the run stopped did not start again (its state machine error name)."""


class ServerStateInvalid(EcsImagingError):
    """The server is in a state that cannot be imaged (ERROR, shelved, deleted)."""


class RetentionIncomplete(EcsImagingError):
    """Scheduled retention failed for some servers; it finished the others."""


class EventsNotSent(EcsImagingError):
    """EventBridge refused some of the run events put on the bus."""


# IMS and ECS codes that mean something more precise than their HTTP status.
_CODE_CLASSES: dict[str, type[CloudError]] = {
    "APIGW.0301": CloudAuthError,
    "IMG.0030": CloudAuthError,
    "IMG.0087": CloudAuthError,
    "IMG.0026": PermissionDenied,
    "Ecs.0003": PermissionDenied,
    "APIGW.0308": CloudThrottled,
    "IMG.0060": CloudThrottled,
    "Common.1503": CloudThrottled,
    "IMG.0005": ResourceNotFound,
    "IMG.0027": ResourceNotFound,
    "IMG.0086": ResourceNotFound,
    "IMG.0144": ResourceNotFound,
    "Ecs.0114": ResourceNotFound,
    "Ecs.0614": ResourceNotFound,
    "IMG.0008": ServerNotStopped,
    "IMG.0010": ServerBusy,
    "Ecs.0100": ServerBusy,
    "IMG.0015": QuotaExceeded,
    "IMG.0090": ImageBusy,
    "IMG.0148": ImageBusy,
}


def _names_of(base: type[Exception]) -> frozenset[str]:
    found = {base.__name__}
    for subclass in base.__subclasses__():
        found |= _names_of(subclass)
    return frozenset(found)


# The errors whose message ends with the cloud's answer, as `error_from_response`
# writes it; only these are read back by `cloud_answer`.
CLOUD_ERROR_NAMES = _names_of(CloudError)


def error_from_response(
    status_code: int,
    body: bytes,
    request_id: str | None,
    retry_after: str | None = None,
) -> CloudError:
    """Translate a cloud error answer into the exception tree; the one place that does."""
    code, message = _parse_error_body(body)
    error_class = _CODE_CLASSES.get(code or "") or _class_for_status(status_code)

    return error_class(
        f"{message} (HTTP {status_code}, code {code or '-'}, request {request_id or '-'})",
        status_code=status_code,
        error_code=code,
        request_id=request_id,
        retry_after=_parse_retry_after(retry_after),
    )


def cloud_answer(text: str) -> dict[str, Any]:
    """The cloud's answer inside a cloud error's message, read back from the text.

    Step Functions keeps only an error's name and message, so Handle failure finds
    the code, status and request id of the refusal in the words that
    `error_from_response` wrote. A text of any other shape is the whole message.
    """
    found = _DESCRIBED.fullmatch(text)
    if found is None:
        return {"message": text, "http_status": None, "error_code": None, "request_id": None}

    return {
        "message": found["message"],
        "http_status": int(found["status"]),
        "error_code": None if found["code"] == "-" else found["code"],
        "request_id": None if found["request"] == "-" else found["request"],
    }


_DESCRIBED = re.compile(
    r"(?P<message>.*) \(HTTP (?P<status>\d{3}), code (?P<code>\S+), request (?P<request>\S+)\)",
    re.DOTALL,
)


def _parse_retry_after(value: str | None) -> float | None:
    # Only the delta-seconds form: the cloud's gateways send no HTTP dates here.
    try:
        seconds = float(value) if value else None
    except ValueError:
        return None

    return seconds if seconds is not None and seconds >= 0 else None


def _class_for_status(status_code: int) -> type[CloudError]:
    if status_code == 401:
        return CloudAuthError
    if status_code == 403:
        return PermissionDenied
    if status_code == 429:
        return CloudThrottled
    if status_code == 404:
        return ResourceNotFound
    if status_code >= 500:
        return CloudTransientError
    return InvalidRequest


def _parse_error_body(body: bytes) -> tuple[str | None, str]:
    """Find the code and message in any of the cloud's error body shapes."""
    text = body.decode("utf-8", errors="replace")
    try:
        document = json.loads(text)
    except ValueError:
        return None, text[:200] or "no error body"

    found = _find_code_and_message(document)
    if found is None:
        return None, text[:200]

    return found


def _find_code_and_message(document: Any) -> tuple[str | None, str] | None:
    # NOTE: the shapes in the order the Huawei SDK tries them; nested objects such
    # as {"error": {"code", "message"}} are found by the recursion.
    if not isinstance(document, dict):
        return None
    for code_key, message_key in (
        ("error_code", "error_msg"),
        ("errorCode", "errorMsg"),
        ("code", "message"),
    ):
        if code_key in document or message_key in document:
            code = document.get(code_key)
            message = document.get(message_key) or ""
            return (str(code) if code is not None else None), str(message)
    for value in document.values():
        found = _find_code_and_message(value)
        if found is not None:
            return found

    return None
