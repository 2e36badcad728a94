"""AK/SK request signatures (reference section 0), checked with the official signer.

The emulator does not reimplement the algorithm: it rebuilds the signed request
and has ``huaweicloudsdkcore`` sign it again, so a signature the SDK makes is one
the emulator accepts. The SDK is a development dependency, imported on first use.
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.message import Message

from .state import AccessKey, State

ALGORITHM = "SDK-HMAC-SHA256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
MAX_SKEW = timedelta(minutes=15)
AUTHORIZATION = re.compile(
    rf"{ALGORITHM} Access=([^,\s]+), SignedHeaders=([^,\s]+), Signature=([0-9a-f]+)"
)


@dataclass(frozen=True)
class SignedRequest:
    """What a signature covers: method, path, query, headers and body as received."""

    method: str
    path: str
    query: list[tuple[str, str]]
    headers: Message
    body: bytes


def is_signed(headers: Message) -> bool:
    """Whether the request claims AK/SK authentication rather than a token."""
    return str(headers.get("Authorization", "")).startswith(f"{ALGORITHM} ")


def verify_signature(
    state: State, request: SignedRequest, path_project: str | None, now: float
) -> str | None:
    """The caller's project when a known key signed exactly this request, else None."""
    authorization = str(request.headers.get("Authorization", ""))
    match = AUTHORIZATION.fullmatch(authorization)
    key = state.access_keys.get(match.group(1)) if match else None
    if match is None or key is None:
        return None

    signed_names = match.group(2).split(";")
    if not _is_usable(key, request.headers, now) or "x-sdk-date" not in signed_names:
        return None
    if not _is_in_project(key, request.headers, path_project):
        return None
    # The cloud's time is the emulated clock, which a time scale speeds up; a
    # client outside the test signs with the wall clock. Either is on time.
    sdk_date = str(request.headers.get("X-Sdk-Date", ""))
    if not (_is_recent(sdk_date, state.clock.at(now)) or _is_recent(sdk_date, datetime.now(UTC))):
        return None

    expected = _sign(request, match.group(1), key.secret, signed_names)
    if not hmac.compare_digest(expected.encode(), authorization.encode()):
        return None

    return key.project_id


def _is_usable(key: AccessKey, headers: Message, now: float) -> bool:
    if key.expires_at is not None and now >= key.expires_at:
        return False

    given = headers.get("X-Security-Token")
    if key.security_token is None:
        return given is None

    return given is not None and hmac.compare_digest(
        str(given).encode(), key.security_token.encode()
    )


def _is_in_project(key: AccessKey, headers: Message, path_project: str | None) -> bool:
    # The SDK sends X-Project-Id; a project in the path must be the same one.
    claimed = headers.get("X-Project-Id")
    if claimed is not None and claimed != key.project_id:
        return False

    return path_project is None or path_project == key.project_id


def _is_recent(sdk_date: str, now: datetime) -> bool:
    try:
        signed_at = datetime.strptime(sdk_date, DATE_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return False

    return abs(now - signed_at) <= MAX_SKEW


def _sign(
    request: SignedRequest,
    access_key: str,
    secret_key: str,
    signed_names: list[str],
) -> str:
    # The SDK has no type hints.
    from huaweicloudsdkcore import sdk_request, signer  # type: ignore[import-untyped]
    from huaweicloudsdkcore.auth import credentials  # type: ignore[import-untyped]

    headers = {name: request.headers.get(name) for name in signed_names}
    if any(value is None for value in headers.values()):
        return ""

    resigned = sdk_request.SdkRequest(
        method=request.method,
        schema="http",
        host=str(request.headers.get("Host", "")),
        resource_path=request.path,
        query_params=list(request.query),
        header_params=headers,
        body=request.body,
    )
    keys = credentials.BasicCredentials(access_key, secret_key)
    signer.signer.Signer(keys).sign(resigned)

    return str(resigned.header_params["Authorization"])
