"""The webhook's decisions: SMN and EventGrid deliveries in, the runs to start out.

SMN signs every message (reference/events.md 1.7) with the key of a certificate it
names by URL; EventGrid webhooks cannot add headers, so its deliveries carry a
shared token in the query instead. All of it happens before any AWS call: a forged
or foreign request is answered without boto3, DynamoDB or Step Functions, and
nothing is fetched for a message whose topic is not one of ours.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import Any, TypeVar

import httpx
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from pydantic import BaseModel

from . import clock, config, events, http
from .errors import ConfigurationError, InvalidInput
from .models import parse_model

logger = logging.getLogger(__name__)

TOPIC_URNS = config.WEBHOOK_TOPIC_URNS
CERTIFICATE_HOSTS = config.WEBHOOK_CERTIFICATE_HOSTS
SUBSCRIBE_HOSTS = config.WEBHOOK_SUBSCRIBE_HOSTS
EVENTGRID_TOKEN = config.WEBHOOK_EVENTGRID_TOKEN
PIPELINE_USER_NAMES = config.PIPELINE_USER_NAMES
PIPELINE_USER_IDS = config.PIPELINE_USER_IDS
RUN_STATE_TABLE = config.RUN_STATE_TABLE

SMN_PATH = "/smn"
EVENTGRID_PATH = "/eventgrid"
TOKEN_PARAMETER = "token"  # noqa: S105 - the query parameter's name
EVENTGRID_SOURCE = "HC.ECS"
MIN_TOKEN_LENGTH = 32

MAX_BODY_BYTES = 64 * 1024
MAX_CERTIFICATE_BYTES = 16 * 1024
# SMN keeps a message's first-send time through retries that may come a day
# later (reference 3.2); an older message is taken for a replay.
MAX_MESSAGE_AGE = timedelta(hours=48)
# Longer than MAX_MESSAGE_AGE: a replay young enough to pass finds its record.
IDEMPOTENCY_SECONDS = 72 * 3600
IDEMPOTENCY_KEY_PREFIX = "webhook"
# SMN waits 5 seconds for the answer; a fetch must end well within that.
FETCH_SECONDS = 2.0
FETCH_TIMEOUT = httpx.Timeout(FETCH_SECONDS)
SIGNING_KEY_TTL_SECONDS = 24 * 3600
MAX_SIGNING_KEYS = 16

# The console hosts of subscribe_url: OTC's is in reference 1.7, Huawei's are
# inferred. Both are settings.
_CONSOLE_HOSTS = {
    config.Cloud.OTC: ("console.otc.t-systems.com",),
    config.Cloud.HUAWEI: ("console-intl.huaweicloud.com", "console.huaweicloud.com"),
}
_JSON_MEDIA_TYPES = {"application/json", "text/plain", "application/cloudevents+json"}
_JSON_KINDS = {
    list: "an array",
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "a boolean",
    type(None): "null",
}
# The signed keys in their fixed order (reference 1.7).
_NOTIFICATION_KEYS = (
    "message",
    "message_id",
    "subject",
    "timestamp",
    "topic_urn",
    "type",
)
_SUBSCRIPTION_KEYS = (
    "message",
    "message_id",
    "subscribe_url",
    "timestamp",
    "topic_urn",
    "type",
)

M = TypeVar("M", bound=BaseModel)

_signing_keys: dict[str, tuple[float, rsa.RSAPublicKey]] = {}


@dataclass(frozen=True)
class WebhookSettings:
    """What the webhook trusts: topics, hosts to fetch from, the pipeline's user."""

    topic_urns: frozenset[str]
    certificate_hosts: frozenset[str]
    subscribe_hosts: frozenset[str]
    pipeline_user_names: frozenset[str] = frozenset()
    pipeline_user_ids: frozenset[str] = frozenset()
    eventgrid_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True)
class Run:
    """One execution the webhook asks for: its deterministic name and its input."""

    name: str
    input: dict[str, Any]


@dataclass(frozen=True)
class Reply:
    """The answer to one delivery, the runs it asks for, and the keys to log."""

    status: int
    result: str
    detail: str
    runs: tuple[Run, ...] = ()
    key: str | None = None
    started: tuple[str, ...] = ()
    log_keys: Mapping[str, Any] = field(default_factory=dict)

    @property
    def refused(self) -> bool:
        """True for a 4xx answer: no retry makes the request acceptable."""
        return 400 <= self.status < 500

    @property
    def batch(self) -> dict[str, Any]:
        """The runs as the handler's idempotent start takes them, keyed by trace."""
        runs = [{"name": run.name, "input": run.input} for run in self.runs]

        return {"key": self.key, "runs": runs}

    @property
    def log_line(self) -> dict[str, Any]:
        """The keys of the handler's one log line for this delivery."""
        return {"status": self.status, "result": self.result, **self.log_keys}

    def after_start(self, outcome: Mapping[str, Any]) -> Reply:
        """This reply once its runs are started, or found started before."""
        replayed = bool(outcome.get("replayed"))
        started = () if replayed else tuple(outcome.get("started", ()))
        detail = (
            f"Started {len(started)} of {len(self.runs)} runs."
            if started
            else "Every run was started by an earlier delivery."
        )
        names = [run.name for run in self.runs]
        keys = {**self.log_keys, "executions": names, "replayed": replayed}

        return replace(
            self,
            result="started" if started else "duplicate",
            detail=detail,
            started=started,
            log_keys=keys,
        )

    def start_failed(self, status: int, error: str) -> Reply:
        """This reply when its runs could not be started; SMN retries a 5xx."""
        return replace(
            self,
            status=status,
            result="unavailable",
            detail="The runs could not be started now; deliver again later.",
            log_keys={**self.log_keys, "error": error},
        )

    def response(self) -> dict[str, Any]:
        """The Function URL response."""
        body: dict[str, Any] = {"result": self.result, "detail": self.detail}
        if self.result in ("started", "duplicate"):
            body["executions"] = [run.name for run in self.runs]

        return {
            "statusCode": self.status,
            "headers": {"Content-Type": "application/json"},
            "body": json.dumps(body),
        }


@dataclass(frozen=True)
class _Delivery:
    path: str
    headers: Mapping[str, str]
    query: Mapping[str, str]
    body: bytes


class _Refusal(Exception):
    """Ends the handling of a delivery early, with the reply it gets."""

    def __init__(self, status: int, result: str, detail: str) -> None:
        super().__init__(detail)
        self.status = status
        self.result = result
        self.detail = detail


@functools.cache
def get_webhook_settings() -> WebhookSettings:
    """The webhook settings of this process, read from the environment once."""
    return load_webhook_settings(os.environ)


def reset_webhook_settings() -> None:
    """Forget the webhook settings read so far (tests)."""
    get_webhook_settings.cache_clear()


def load_webhook_settings(environ: Mapping[str, str]) -> WebhookSettings:
    """Build and check the webhook settings from a mapping of environment variables."""
    settings = config.load_settings(environ)
    topic_urns = _read_list(environ, TOPIC_URNS)
    for urn in topic_urns:
        _check_topic_urn(urn, settings.project_id)
    token = environ.get(EVENTGRID_TOKEN, "").strip() or None
    if token is not None and len(token) < MIN_TOKEN_LENGTH:
        # A secret: say what is wrong with it, never what it is.
        raise ConfigurationError(
            f"{EVENTGRID_TOKEN} must be at least {MIN_TOKEN_LENGTH} characters long."
        )

    smn_host = httpx.URL(settings.cloud.endpoint("smn", settings.region)).host
    consoles = _CONSOLE_HOSTS[settings.cloud]
    user_names = _read_list(environ, PIPELINE_USER_NAMES)

    return WebhookSettings(
        topic_urns=frozenset(topic_urns),
        certificate_hosts=_read_hosts(environ, CERTIFICATE_HOSTS, (smn_host,)),
        subscribe_hosts=_read_hosts(environ, SUBSCRIBE_HOSTS, consoles),
        pipeline_user_names=frozenset(name.casefold() for name in user_names),
        pipeline_user_ids=frozenset(_read_list(environ, PIPELINE_USER_IDS)),
        eventgrid_token=token,
    )


def run_state_table() -> str:
    """The name of the table that keeps the webhook's idempotency records."""
    value = config.read(RUN_STATE_TABLE)
    if not value:
        raise ConfigurationError(f"Set {RUN_STATE_TABLE} to the run state table.")

    return value


def receive(event: Mapping[str, Any], settings: WebhookSettings | None = None) -> Reply:
    """Check one Function URL request and decide which runs it starts.

    Bad, forged and foreign requests get 4xx replies, failures that a retry may
    cure 5xx ones; only a broken configuration raises.
    """
    facts: dict[str, Any] = {}
    try:
        delivery = _read_event(event, facts)
        settings = settings or get_webhook_settings()
        if delivery.path == SMN_PATH:
            return _receive_smn(delivery, settings, facts)

        return _receive_eventgrid(delivery, settings, facts)
    except _Refusal as refusal:
        return Reply(refusal.status, refusal.result, refusal.detail, log_keys=facts)


def canonical_string(
    message: Mapping[str, Any],
    *,
    with_empty_subject: bool = False,
) -> bytes:
    """The bytes SMN signs for a message: each signed key and its value, one per line.

    A missing or null `subject` is left out, and an empty one too unless
    `with_empty_subject`: the vendor's samples disagree on it (reference 1.7).
    """
    notification = message.get("type") == "Notification"
    lines = []
    for key in _NOTIFICATION_KEYS if notification else _SUBSCRIPTION_KEYS:
        value = message.get(key)
        if key == "subject" and not (value or (value == "" and with_empty_subject)):
            continue
        if not isinstance(value, str):
            raise InvalidInput(f"The signed field {key!r} is not a string: {value!r}.")
        lines.append(f"{key}\n{value}\n")

    return "".join(lines).encode("utf-8")


def verify_signature(message: Mapping[str, Any], public_key: rsa.RSAPublicKey) -> bool:
    """True when the message's base64 `signature` is the key's RSA-SHA256 of it."""
    try:
        signature = base64.b64decode(str(message.get("signature") or ""), validate=True)
    except binascii.Error:
        return False

    variants = (False, True) if message.get("subject") == "" else (False,)
    for with_empty_subject in variants:
        try:
            signed = canonical_string(message, with_empty_subject=with_empty_subject)
            public_key.verify(signature, signed, padding.PKCS1v15(), hashes.SHA256())
        except (InvalidInput, InvalidSignature):
            continue
        return True

    return False


def execution_name(trace_id: str, server_id: str) -> str:
    """The one execution name of a trace's run for a server, whoever delivers it.

    The server id is a UUID and the trace id is hashed, so the name keeps to the
    characters and the 80-character limit of Step Functions.
    """
    digest = hashlib.sha256(trace_id.encode("utf-8")).hexdigest()[:32]

    return f"event-{server_id}-{digest}"


def forget_signing_keys() -> None:
    """Drop every cached signing key (tests)."""
    _signing_keys.clear()


def _read_event(event: Mapping[str, Any], facts: dict[str, Any]) -> _Delivery:
    http_context = (event.get("requestContext") or {}).get("http") or {}
    method = str(http_context.get("method", "")).upper()
    path = str(event.get("rawPath") or "/").rstrip("/")[:128] or "/"
    facts.update(route=path, method=method)
    body = _read_body(event)
    if method != "POST":
        detail = f"Only POST is accepted, not {method!r}."
        raise _Refusal(405, "method-not-allowed", detail)
    if path not in (SMN_PATH, EVENTGRID_PATH):
        routes = f"SMN delivers to {SMN_PATH!r}, EventGrid to {EVENTGRID_PATH!r}"
        raise _Refusal(404, "not-found", f"No route {path!r}: {routes}.")

    headers = event.get("headers") or {}
    query = event.get("queryStringParameters") or {}

    return _Delivery(
        path=path,
        headers={str(name).lower(): str(value) for name, value in headers.items()},
        query={str(name): str(value) for name, value in query.items()},
        body=body,
    )


def _read_body(event: Mapping[str, Any]) -> bytes:
    body = event.get("body") or ""
    if not isinstance(body, str):
        raise _invalid("The body is not text.")
    too_large = _Refusal(413, "too-large", f"The body is over {MAX_BODY_BYTES} bytes.")
    # Bound the work before decoding: base64 spends 4 characters on 3 bytes, and
    # text at least a byte on each character.
    if event.get("isBase64Encoded"):
        if len(body) > (MAX_BODY_BYTES + 2) // 3 * 4:
            raise too_large
        try:
            raw = base64.b64decode(body, validate=True)
        except binascii.Error:
            raise _invalid("The body is marked base64 but is not.") from None
    else:
        if len(body) > MAX_BODY_BYTES:
            raise too_large
        try:
            raw = body.encode("utf-8")
        except UnicodeEncodeError:
            raise _invalid("The body is not UTF-8 text.") from None
    if len(raw) > MAX_BODY_BYTES:
        raise too_large

    return raw


def _read_json(delivery: _Delivery) -> dict[str, Any]:
    content_type = delivery.headers.get("content-type", "")
    media_type = content_type.split(";", 1)[0].strip().lower()
    is_json = media_type in _JSON_MEDIA_TYPES or media_type.endswith("+json")
    if media_type and not is_json:
        raise _Refusal(
            415,
            "unsupported-media-type",
            f"Content-Type {content_type[:64]!r} is not JSON; send application/json.",
        )

    try:
        document = json.loads(delivery.body.decode("utf-8"))
    except UnicodeDecodeError:
        raise _invalid("The body is not UTF-8 text.") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno}, column {exc.colno}"
        raise _invalid(f"The body is not JSON: {exc.msg} at {where}.") from None
    except RecursionError:
        raise _invalid("The body nests JSON too deeply.") from None
    except ValueError:
        # json's guard against numbers of thousands of digits.
        raise _invalid("The body holds a number too long to read.") from None
    if not isinstance(document, dict):
        kind = _JSON_KINDS.get(type(document), "a JSON value")
        raise _invalid(f"The body is {kind}, not a JSON object.")

    return document


def _receive_smn(
    delivery: _Delivery,
    settings: WebhookSettings,
    facts: dict[str, Any],
) -> Reply:
    message = _parse(events.SmnMessage, _read_json(delivery), "SMN message")
    facts.update(
        message_id=message.message_id,
        message_type=message.type,
        topic_urn=message.topic_urn,
    )
    _check_topic(delivery.headers, message, settings)
    certificate_url = _check_signature_fields(message, settings)
    if message.type == "SubscriptionConfirmation":
        _check_url(message.subscribe_url, settings.subscribe_hosts, "subscribe_url")

    public_key = _fetch_signing_key(certificate_url)
    if not verify_signature(message.model_dump(), public_key):
        raise _refuse("The signature does not match the message.")

    if message.type == "SubscriptionConfirmation":
        return _confirm_subscription(message, settings, facts)
    if message.type == "UnsubscribeConfirmation":
        detail = f"Unsubscribed from {message.topic_urn!r}."
        return Reply(200, "unsubscribed", detail, log_keys=facts)

    return _decide_notification(message, settings, facts)


def _check_topic(
    headers: Mapping[str, str], message: events.SmnMessage, settings: WebhookSettings
) -> None:
    header = headers.get("x-smn-topic-urn")
    if header is not None and header != message.topic_urn:
        raise _refuse("The X-SMN-TOPIC-URN header and the body name different topics.")
    if message.topic_urn not in settings.topic_urns:
        raise _refuse(f"Topic {message.topic_urn!r} is not one this webhook serves.")


def _check_signature_fields(
    message: events.SmnMessage,
    settings: WebhookSettings,
) -> httpx.URL:
    if not message.signature:
        raise _refuse("The message is not signed.")
    version = message.signature_version or "v1"
    if version.lower() != "v1":
        raise _refuse(f"Signature version {version!r} is not v1.")
    if message.type != "Notification" and not message.subscribe_url:
        raise _invalid(f"A {message.type} without subscribe_url cannot be verified.")

    hosts = settings.certificate_hosts

    return _check_url(message.signing_cert_url, hosts, "signing_cert_url")


def _check_url(url: str | None, hosts: frozenset[str], name: str) -> httpx.URL:
    """The URL, if it is https on an allowed host: the one gate before any fetch."""
    if not url:
        raise _refuse(f"The message has no {name}.")
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        raise _refuse(f"The {name} is not a URL.") from None
    if parsed.scheme != "https":
        raise _refuse(f"The {name} is not an https URL.")
    if parsed.userinfo:
        raise _refuse(f"The {name} carries a user name.")
    host = parsed.host if parsed.port is None else f"{parsed.host}:{parsed.port}"
    if host not in hosts:
        raise _refuse(f"The {name} names host {host!r}, which is not allowed.")

    return parsed


def _fetch_signing_key(url: httpx.URL) -> rsa.RSAPublicKey:
    cached = _signing_keys.get(str(url))
    if cached is not None and time.monotonic() - cached[0] < SIGNING_KEY_TTL_SECONDS:
        return cached[1]

    status, body = _fetch(url, "certificate", MAX_CERTIFICATE_BYTES)
    if status >= 500 or status == 429:
        raise _unavailable(f"The certificate host answered HTTP {status}.")
    if status != 200:
        raise _refuse(f"The signing certificate could not be fetched (HTTP {status}).")
    if body is None:
        raise _refuse(f"The signing certificate is over {MAX_CERTIFICATE_BYTES} bytes.")
    public_key = _load_public_key(body)

    if len(_signing_keys) >= MAX_SIGNING_KEYS:
        del _signing_keys[min(_signing_keys, key=lambda known: _signing_keys[known][0])]
    _signing_keys[str(url)] = (time.monotonic(), public_key)

    return public_key


def _load_public_key(pem: bytes) -> rsa.RSAPublicKey:
    try:
        certificate = x509.load_pem_x509_certificate(pem)
    except ValueError:
        raise _refuse("The signing_cert_url holds no PEM certificate.") from None
    public_key = certificate.public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise _refuse("The signing certificate holds no RSA key.")

    return public_key


def _fetch(url: httpx.URL, what: str, limit: int | None) -> tuple[int, bytes | None]:
    """GET a checked URL: its status, and its body unless past `limit` or unread."""
    started = time.monotonic()
    status: int | None = None
    try:
        with http.get_client().stream("GET", url, timeout=FETCH_TIMEOUT) as response:
            status = response.status_code
            body = None if limit is None else _read_limited(response, limit)
    except httpx.HTTPError as exc:
        reason = f"{url.host!r}: {type(exc).__name__}"
        raise _unavailable(f"Could not fetch the {what} from {reason}.") from None
    finally:
        # The path only: a subscribe_url carries its token in the query.
        logger.info(
            "webhook fetch",
            extra={
                "http_method": "GET",
                "http_host": url.host,
                "http_path": url.path,
                "http_status": status,
                "elapsed_ms": round((time.monotonic() - started) * 1000, 1),
            },
        )

    return status, body


def _read_limited(response: httpx.Response, limit: int) -> bytes | None:
    # The timeout bounds each read; a host that trickles bytes meets this instead.
    deadline = time.monotonic() + FETCH_SECONDS
    chunks = []
    size = 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > limit:
            return None
        if time.monotonic() > deadline:
            raise httpx.ReadTimeout(f"No whole answer within {FETCH_SECONDS} s.")
        chunks.append(chunk)

    return b"".join(chunks)


def _confirm_subscription(
    message: events.SmnMessage, settings: WebhookSettings, facts: dict[str, Any]
) -> Reply:
    url = _check_url(message.subscribe_url, settings.subscribe_hosts, "subscribe_url")
    # The GET itself confirms; the page it answers with tells nothing more.
    status, _ = _fetch(url, "subscription confirmation", None)
    facts["confirm_status"] = status
    if status >= 500 or status == 429:
        raise _unavailable(f"SMN answered the confirmation with HTTP {status}.")
    if status >= 400:
        detail = f"SMN refused the confirmation with HTTP {status}."
        raise _Refusal(422, "not-confirmed", detail)

    detail = f"Subscribed to {message.topic_urn!r}."

    return Reply(200, "confirmed", detail, log_keys=facts)


def _decide_notification(
    message: events.SmnMessage, settings: WebhookSettings, facts: dict[str, Any]
) -> Reply:
    if _is_stale(message.timestamp):
        hours = MAX_MESSAGE_AGE.total_seconds() / 3600
        detail = f"The message was first sent over {hours:.0f} h ago, {message.timestamp!r}."
        return _ignored(detail, facts)
    try:
        trace = events.trace_from_message(message.message, message.message_id)
    except InvalidInput as exc:
        return _ignored(str(exc), facts)

    return _decide_trace(trace, settings, facts)


def _receive_eventgrid(
    delivery: _Delivery, settings: WebhookSettings, facts: dict[str, Any]
) -> Reply:
    _check_token(delivery.query.get(TOKEN_PARAMETER), settings.eventgrid_token)
    event = _parse(events.CloudEvent, _read_json(delivery), "CloudEvent")
    facts.update(event_id=event.id, event_source=event.source, event_type=event.type)
    if event.source.upper() != EVENTGRID_SOURCE:
        detail = f"Event {event.id!r} comes from {event.source!r}, not ECS."
        return _ignored(detail, facts)
    try:
        trace = events.trace_from_document(event.data)
    except InvalidInput as exc:
        return _ignored(f"Event {event.id!r} carries no CTS trace: {exc}", facts)

    return _decide_trace(trace, settings, facts)


def _check_token(given: str | None, expected: str | None) -> None:
    if expected is None:
        raise _refuse("EventGrid deliveries are not enabled: no token is configured.")
    if not given:
        raise _refuse(f"The EventGrid token is missing: add ?{TOKEN_PARAMETER}=….")
    # Digests of one length, so that not even the token's length leaks.
    given_digest = hashlib.sha256(given.encode("utf-8")).digest()
    expected_digest = hashlib.sha256(expected.encode("utf-8")).digest()
    if not hmac.compare_digest(given_digest, expected_digest):
        raise _refuse("The EventGrid token does not match.")


def _decide_trace(
    trace: events.CtsTrace, settings: WebhookSettings, facts: dict[str, Any]
) -> Reply:
    user = trace.user or events.TraceUser()
    facts.update(
        trace_id=trace.trace_id,
        trace_name=trace.trace_name,
        trace_rating=trace.trace_rating,
        trace_time=trace.time,
        user_name=user.name,
        user_id=user.id,
    )
    if not trace.is_successful_server_stop:
        what = f"{trace.trace_name!r} rated {trace.trace_rating!r}"
        detail = f"Trace {trace.trace_id!r} is {what}: no successful ECS server stop."
        return _ignored(detail, facts)
    if _made_by_pipeline(user, settings):
        return _ignored(f"Trace {trace.trace_id!r} is the pipeline's own stop.", facts)

    named = trace.server_ids
    server_ids = [server_id for server_id in named if events.is_server_id(server_id)]
    skipped_ids = sorted(set(named) - set(server_ids))
    facts.update(server_ids=server_ids, skipped_ids=skipped_ids)
    if not server_ids:
        return _ignored(f"Trace {trace.trace_id!r} names no server id.", facts)

    runs = tuple(_run_for(trace, server_id) for server_id in server_ids)
    detail = f"Trace {trace.trace_id!r} starts {len(runs)} runs."
    key = f"trace#{trace.trace_id}"

    return Reply(200, "accepted", detail, runs, key, log_keys=facts)


def _run_for(trace: events.CtsTrace, server_id: str) -> Run:
    name = execution_name(trace.trace_id, server_id)

    return Run(name, events.pipeline_input(trace, server_id))


def _made_by_pipeline(user: events.TraceUser, settings: WebhookSettings) -> bool:
    if user.id and user.id in settings.pipeline_user_ids:
        return True

    names = settings.pipeline_user_names

    return user.name is not None and user.name.casefold() in names


def _is_stale(timestamp: str) -> bool:
    try:
        sent = clock.parse_timestamp(timestamp)
    except ValueError:
        # The timestamp is signed: a shape we do not know is SMN's, not a replay's.
        return False

    return clock.now() - sent > MAX_MESSAGE_AGE


def _parse(model: type[M], document: dict[str, Any], what: str) -> M:
    try:
        return parse_model(model, document, what)
    except InvalidInput as exc:
        raise _invalid(str(exc)) from None


def _ignored(detail: str, facts: dict[str, Any]) -> Reply:
    return Reply(200, "ignored", detail, log_keys=facts)


def _refuse(detail: str) -> _Refusal:
    return _Refusal(403, "refused", detail)


def _invalid(detail: str) -> _Refusal:
    return _Refusal(400, "invalid", detail)


def _unavailable(detail: str) -> _Refusal:
    return _Refusal(503, "unavailable", detail)


def _read_list(environ: Mapping[str, str], name: str) -> list[str]:
    return [item.strip() for item in environ.get(name, "").split(",") if item.strip()]


def _read_hosts(
    environ: Mapping[str, str],
    name: str,
    defaults: tuple[str, ...],
) -> frozenset[str]:
    hosts = set()
    for entry in _read_list(environ, name) or defaults:
        try:
            url: httpx.URL | None = httpx.URL(f"https://{entry}/")
        except httpx.InvalidURL:
            url = None
        if url is None or url.userinfo or url.raw_path != b"/" or not url.host:
            raise ConfigurationError(f"{name} holds {entry!r}: not a host name.")
        hosts.add(url.host if url.port is None else f"{url.host}:{url.port}")

    return frozenset(hosts)


def _check_topic_urn(urn: str, project_id: str | None) -> None:
    parts = urn.split(":")
    if len(parts) != 5 or parts[:2] != ["urn", "smn"] or not all(parts[2:]):
        raise ConfigurationError(
            f"{TOPIC_URNS} holds {urn!r}, which is not an SMN topic URN "
            "(urn:smn:<region>:<project id>:<topic>)."
        )
    if project_id and parts[3] != project_id:
        raise ConfigurationError(
            f"{TOPIC_URNS} holds {urn!r}, a topic of project {parts[3]!r}, "
            f"not of {config.PROJECT_ID} {project_id!r}."
        )
