"""The one HTTP client: timeouts, retries for safe calls, one log line per request."""

from __future__ import annotations

import logging
import os
import random
import ssl
import threading
import time
from collections.abc import Mapping
from typing import Any

import httpx

from . import config
from .errors import (
    CloudError,
    CloudRequestNotSent,
    CloudThrottled,
    CloudTransientError,
    ConfigurationError,
    UnexpectedResponse,
    error_from_response,
)

logger = logging.getLogger(__name__)

_client: httpx.Client | None = None
_client_lock = threading.Lock()

# Retries of requests that are safe to repeat: a GET, or anything that never left.
MAX_ATTEMPTS = 3
BACKOFF_BASE_SECONDS = 0.5
BACKOFF_CAP_SECONDS = 8.0

# Failures that prove the request never left: no connection could be opened, or
# none came free in the pool. A read or write timeout proves nothing of the kind.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


def get_client() -> httpx.Client:
    """The process-wide client, created on first use and kept warm across invocations."""
    global _client
    with _client_lock:
        if _client is None:
            settings = config.get_settings()
            _client = httpx.Client(
                timeout=httpx.Timeout(settings.http_timeout_seconds, connect=5.0),
                verify=_trusted_authorities(settings.ca_bundle),
                follow_redirects=False,
                headers={"User-Agent": "ecs-imaging"},
            )

    return _client


def _trusted_authorities(ca_bundle: str | None) -> ssl.SSLContext | bool:
    # True is httpx's own default trust; a bundle adds to it and never replaces
    # verification, so no setting turns certificate checks off.
    if ca_bundle is None:
        return True
    if os.path.exists(ca_bundle) and not os.path.isfile(ca_bundle):
        # A FIFO or a device would block the read; a folder is no bundle either.
        raise ConfigurationError(
            f"{config.CA_BUNDLE} names {ca_bundle!r}, which is not a regular file."
        )
    context = httpx.create_ssl_context()
    try:
        context.load_verify_locations(cafile=ca_bundle)
    except ssl.SSLError:
        raise ConfigurationError(
            f"{config.CA_BUNDLE} names {ca_bundle!r}, which holds no PEM certificate."
        ) from None
    except OSError as exc:
        raise ConfigurationError(
            f"{config.CA_BUNDLE} names {ca_bundle!r}, which cannot be read: {exc.strerror}."
        ) from None

    return context


def close_client() -> None:
    """Close the process-wide client (tests and the local engine)."""
    global _client
    with _client_lock:
        if _client is not None:
            _client.close()
        _client = None


def send(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None = None,
    json: Any = None,
    params: Mapping[str, str | int] | None = None,
    idempotent: bool | None = None,
) -> httpx.Response:
    """Send a request and return a 2xx answer, or raise the mapped cloud error.

    GETs (or calls marked `idempotent`) are retried on throttling, 5xx answers and
    connection errors. Any other call is retried only when it provably never
    reached the cloud, because a create repeated blindly could make two images.
    A Retry-After longer than the backoff cap is not waited for here: the error
    is raised at once, for the state machine's Retry to wait.
    """
    repeatable = method == "GET" if idempotent is None else idempotent
    attempt = 1
    while True:
        try:
            return _send_once(method, url, headers=headers, json=json, params=params)
        except CloudError as exc:
            if not _may_retry(exc, repeatable) or attempt >= MAX_ATTEMPTS:
                raise
            time.sleep(_backoff_seconds(attempt, exc.retry_after))
            attempt += 1


def _send_once(
    method: str,
    url: str,
    *,
    headers: Mapping[str, str] | None,
    json: Any,
    params: Mapping[str, str | int] | None,
) -> httpx.Response:
    started = time.monotonic()
    request = get_client().build_request(method, url, headers=headers, json=json, params=params)
    try:
        response = get_client().send(request)
    except _NOT_SENT as exc:
        _log_request(request, None, started, None)
        raise CloudRequestNotSent(
            f"Could not connect to {request.url.host}:{request.url.port or 443} "
            f"({type(exc).__name__}: {exc})"
        ) from exc
    except httpx.TransportError as exc:
        _log_request(request, None, started, None)
        raise CloudTransientError(
            f"{method} {request.url.path} failed in transit: {type(exc).__name__}"
        ) from exc

    request_id = response.headers.get("X-Request-Id")
    _log_request(request, response.status_code, started, request_id)
    if response.is_success:
        return response

    raise error_from_response(
        response.status_code,
        response.content,
        request_id,
        response.headers.get("Retry-After"),
    )


def _log_request(
    request: httpx.Request, status: int | None, started: float, request_id: str | None
) -> None:
    # NOTE: the path and status only: headers carry tokens and bodies passwords.
    logger.info(
        "cloud request",
        extra={
            "http_method": request.method,
            "http_host": request.url.host,
            "http_path": request.url.path,
            "http_status": status,
            "request_id": request_id,
            "elapsed_ms": round((time.monotonic() - started) * 1000, 1),
        },
    )


def _may_retry(exc: CloudError, repeatable: bool) -> bool:
    safe = repeatable or isinstance(exc, CloudRequestNotSent)
    retryable = isinstance(exc, CloudThrottled | CloudTransientError)
    # A longer wait would be billed as Lambda time, and a shorter one would ask
    # again before the cloud said it is ready.
    patient = exc.retry_after is None or exc.retry_after <= BACKOFF_CAP_SECONDS

    return safe and retryable and patient


def _backoff_seconds(attempt: int, retry_after: float | None) -> float:
    if retry_after is not None:
        return retry_after
    ceiling = min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** (attempt - 1))

    return random.uniform(0, ceiling)  # noqa: S311 - jitter, not cryptography


def json_object(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of a 2xx answer, or UnexpectedResponse naming the call."""
    try:
        document = response.json()
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise UnexpectedResponse(
            f"{response.request.method} {response.request.url.path} answered "
            f"HTTP {response.status_code} without a JSON object.",
            status_code=response.status_code,
            request_id=response.headers.get("X-Request-Id"),
        )

    return document


def job_id_of(response: httpx.Response) -> str:
    """The `job_id` an asynchronous call answered with."""
    job_id = json_object(response).get("job_id")
    if not isinstance(job_id, str) or not job_id:
        raise UnexpectedResponse(
            f"{response.request.method} {response.request.url.path} answered without a job_id.",
            status_code=response.status_code,
        )

    return job_id
