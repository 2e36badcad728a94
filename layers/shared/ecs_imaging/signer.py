"""AK/SK request signing with SDK-HMAC-SHA256, as the Huawei Cloud SDK signs.

The API gateway rebuilds the canonical request from what it receives, so the URL we
send carries its query in the canonical form we signed. Only the headers named in
SignedHeaders are checked: the signer signs Host and the headers it is given, never
the ones the HTTP client adds on its own.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import quote

import httpx

from . import clock
from .credentials import AccessKeyCredentials

ALGORITHM = "SDK-HMAC-SHA256"
DATE_FORMAT = "%Y%m%dT%H%M%SZ"
DATE_HEADER = "X-Sdk-Date"
PROJECT_HEADER = "X-Project-Id"
SECURITY_TOKEN_HEADER = "X-Security-Token"  # noqa: S105 - a header name
CONTENT_HASH_HEADER = "X-Sdk-Content-Sha256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"

# Bodies the gateway hashes; any other content type is sent as an unsigned payload.
_HASHED_CONTENT_TYPES = ("application/json", "application/bson")


@dataclass(frozen=True)
class SignedRequest:
    """The URL and headers to send; no repr, since the headers may hold a token."""

    url: str
    headers: dict[str, str] = field(repr=False)


def sign(
    method: str,
    url: str | httpx.URL,
    credentials: AccessKeyCredentials,
    *,
    params: httpx.QueryParams | Mapping[str, str | int] | None = None,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    project_id: str | None = None,
    now: datetime | None = None,
) -> SignedRequest:
    """Sign one request, adding X-Sdk-Date, X-Project-Id and X-Security-Token as needed.

    The date comes from `now`, else from the pipeline's clock; a date the caller put
    in `headers` is replaced.
    """
    target = httpx.URL(url)
    if params:
        target = target.copy_merge_params(params)
    query = canonical_query(target.params.multi_items())
    stamp = (now or clock.now()).astimezone(UTC).strftime(DATE_FORMAT)

    # Host as httpx will send it, so that the gateway checks what was signed.
    sent = _prepare_headers(headers or {}, target.netloc.decode("ascii"), stamp)
    if project_id:
        _put(sent, PROJECT_HEADER, project_id)
    if credentials.security_token is not None:
        _put(sent, SECURITY_TOKEN_HEADER, credentials.security_token.get_secret_value())
    payload_hash = _hash_payload(sent, body)

    signed_names, header_block = _canonical_headers(sent)
    canonical = "\n".join(
        (
            method.upper(),
            canonical_uri(target.path),
            query,
            header_block,
            signed_names,
            payload_hash,
        )
    )
    signature = _signature(credentials.secret_key.get_secret_value(), stamp, canonical)
    sent["Authorization"] = (
        f"{ALGORITHM} Access={credentials.access_key}, "
        f"SignedHeaders={signed_names}, Signature={signature}"
    )
    url_to_send = target.copy_with(query=query.encode("ascii") or None)

    return SignedRequest(url=str(url_to_send), headers=sent)


def canonical_uri(path: str) -> str:
    """Each segment of the decoded path encoded, always ending in a slash."""
    encoded = "/".join(_encode(segment) for segment in path.split("/"))

    return encoded if encoded.endswith("/") else f"{encoded}/"


def canonical_query(items: Iterable[tuple[str, str]]) -> str:
    """The query sorted by key and then value, every reserved character encoded."""
    return "&".join(f"{_encode(key)}={_encode(value)}" for key, value in sorted(items))


def _prepare_headers(given: Mapping[str, str], host: str, stamp: str) -> dict[str, str]:
    sent = {name: value.strip() for name, value in given.items()}
    if not any(name.lower() == "host" for name in sent):
        sent["Host"] = host
    _put(sent, DATE_HEADER, stamp)

    return sent


def _put(headers: dict[str, str], name: str, value: str) -> None:
    for present in [key for key in headers if key.lower() == name.lower()]:
        del headers[present]
    headers[name] = value


def _hash_payload(headers: dict[str, str], body: bytes) -> str:
    lower = {name.lower(): value for name, value in headers.items()}
    content_type = lower.get("content-type", "")
    if content_type and not content_type.startswith(_HASHED_CONTENT_TYPES):
        _put(headers, CONTENT_HASH_HEADER, UNSIGNED_PAYLOAD)
        lower[CONTENT_HASH_HEADER.lower()] = UNSIGNED_PAYLOAD
    if not body:
        return hashlib.sha256(b"").hexdigest()

    return lower.get(CONTENT_HASH_HEADER.lower()) or hashlib.sha256(body).hexdigest()


def _canonical_headers(headers: Mapping[str, str]) -> tuple[str, str]:
    # As the SDK does: a header whose name has an underscore is sent but not signed.
    lower = {name.lower(): value for name, value in headers.items() if "_" not in name}
    names = sorted(lower)

    return ";".join(names), "".join(f"{name}:{lower[name]}\n" for name in names)


def _signature(secret_key: str, stamp: str, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    string_to_sign = f"{ALGORITHM}\n{stamp}\n{digest}".encode()
    key = secret_key.encode("utf-8")

    return hmac.new(key, string_to_sign, hashlib.sha256).hexdigest()


def _encode(text: str) -> str:
    return quote(text, safe="~")
