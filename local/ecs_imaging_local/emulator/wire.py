"""HTTP plumbing shared by the three services: routes, token checks, replies.

Each service has its own listener because ECS and IMS share the job path
``/v1/{project_id}/jobs/{job_id}``.
"""

from __future__ import annotations

import email.utils
import json
import logging
import re
import socketserver
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import parse_qsl, urlsplit

from .state import State

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
BUG_BODY = {"error_code": "APIGW.0000", "error_msg": "The emulator failed."}


class ApiError(Exception):
    """An error answer: the HTTP status and the body the real service would send."""

    def __init__(self, status: int, body: dict[str, Any]) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body


def nested_error(status: int, code: str, message: str) -> ApiError:
    """The IMS and ECS error shape ``{"error": {"code", "message"}}``."""
    return ApiError(status, {"error": {"code": code, "message": message}})


def flat_error(status: int, code: str, message: str) -> ApiError:
    """The IAM and API gateway error shape ``{"error_code", "error_msg"}``."""
    return ApiError(status, {"error_code": code, "error_msg": message})


@dataclass(frozen=True)
class Reply:
    """A status, a JSON body and extra headers."""

    status: int
    body: Any
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Call:
    """One request as a route handler sees it, made while the state lock is held."""

    state: State
    now: float
    params: dict[str, str]
    query: dict[str, str]
    body: dict[str, Any]


Handler = Callable[[Call], Reply]


@dataclass(frozen=True)
class Route:
    """A method and path bound to a handler and the counter it bumps."""

    method: str
    pattern: re.Pattern[str]
    operation: str | None
    handler: Handler
    authenticated: bool


def route(
    method: str,
    template: str,
    operation: str | None,
    handler: Handler,
    auth: bool = True,
) -> Route:
    """A route for ``template``, whose ``{name}`` parts become path parameters."""
    regex = re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", template)

    return Route(method, re.compile(f"^{regex}$"), operation, handler, auth)


@dataclass(frozen=True)
class Service:
    """One emulated service: its routes, counters and error for an unreadable body."""

    name: str
    routes: tuple[Route, ...]
    operations: tuple[str, ...]
    bad_body: Callable[[str], ApiError]


class Listener(ThreadingHTTPServer):
    """One service on one 127.0.0.1 port."""

    daemon_threads = True
    # Idle keep-alive connections must not hold up Emulator.stop().
    block_on_close = False

    def __init__(self, port: int, service: Service, state: State) -> None:
        self.service = service
        self.state = state
        super().__init__((LOOPBACK, port), _RequestHandler)

    @property
    def endpoint(self) -> str:
        """The base URL, e.g. ``http://127.0.0.1:40123``."""
        return f"http://{LOOPBACK}:{self.server_address[1]}"

    def server_bind(self) -> None:
        # HTTPServer.server_bind would ask DNS for the name of the address (getfqdn).
        socketserver.TCPServer.server_bind(self)
        self.server_name, self.server_port = LOOPBACK, self.server_address[1]

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.debug("%s connection failed", self.service.name, exc_info=True)


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30
    # Headers and body leave in two writes: with Nagle, each keep-alive call stalls.
    disable_nagle_algorithm = True

    def do_GET(self) -> None:
        listener = cast(Listener, self.server)
        url = urlsplit(self.path)
        raw = self._read_body()
        try:
            reply = self._answer(listener, url.path, dict(parse_qsl(url.query)), raw)
        except ApiError as error:
            reply = Reply(error.status, error.body)
        except Exception:  # pragma: no cover - only a bug in a handler gets here
            logger.exception("%s %s failed", self.command, url.path)
            reply = Reply(500, BUG_BODY)

        with listener.state.lock:
            listener.state.counters[f"http.{reply.status}"] += 1
        name = listener.service.name
        logger.debug("%s %s %s -> %d", name, self.command, url.path, reply.status)
        self._send(reply)

    do_POST = do_PUT = do_PATCH = do_DELETE = do_GET

    def version_string(self) -> str:
        return "ecs-imaging-emulator"

    def date_time_string(self, timestamp: float | None = None) -> str:
        # The Date header follows the emulated clock, like every time in a body.
        now = cast(Listener, self.server).state.clock.now()
        return email.utils.format_datetime(now, usegmt=True)

    def log_message(self, format: str, *args: Any) -> None:
        # do_GET logs one DEBUG line per request instead of writing to stderr.
        return

    def _answer(
        self,
        listener: Listener,
        path: str,
        query: dict[str, str],
        raw: bytes,
    ) -> Reply:
        service, state = listener.service, listener.state
        found, params = _find_route(service, self.command, path)
        with state.lock:
            if found.operation is not None:
                state.counters[found.operation] += 1
            now = state.settle()
            if found.authenticated:
                token = self.headers.get("X-Auth-Token")
                _check_token(state, token, params.get("project_id"), now)

            body = _parse_body(service, self.headers.get("Content-Type", ""), raw)
            return found.handler(Call(state, now, params, query, body))

    def _read_body(self) -> bytes:
        length = self.headers.get("Content-Length", "0")

        return self.rfile.read(int(length) if length.isdigit() else 0)

    def _send(self, reply: Reply) -> None:
        payload = b"" if reply.body is None else json.dumps(reply.body).encode()
        self.send_response(reply.status)
        self.send_header("Content-Type", "application/json;charset=UTF-8")
        self.send_header("Content-Length", str(len(payload)))
        self.send_header("X-Request-Id", uuid.uuid4().hex)
        for name, value in reply.headers.items():
            self.send_header(name, value)
        self.end_headers()

        self.wfile.write(payload)


def _find_route(
    service: Service,
    method: str,
    path: str,
) -> tuple[Route, dict[str, str]]:
    path_known = False
    for candidate in service.routes:
        match = candidate.pattern.match(path)
        if match and candidate.method == method:
            return candidate, match.groupdict()
        path_known = path_known or match is not None

    message = "The API does not exist or has not been published in the environment"
    raise flat_error(405 if path_known else 404, "APIGW.0101", message)


def _check_token(
    state: State,
    value: str | None,
    project_id: str | None,
    now: float,
) -> None:
    token = state.tokens.get(value or "")
    if token is None:
        problem = "the token is missing or unknown"
    elif token.revoked:
        problem = "the token has been revoked"
    elif now >= token.expires_at:
        problem = "the token has expired"
    elif project_id is not None and project_id != token.project_id:
        problem = f"the token is not scoped to project {project_id!r}"
    else:
        return

    message = f"Incorrect IAM authentication information: {problem}"
    raise flat_error(401, "APIGW.0301", message)


def _parse_body(service: Service, content_type: str, raw: bytes) -> dict[str, Any]:
    if not raw:
        return {}
    if "json" not in content_type.lower():
        raise service.bad_body(f"The content type {content_type!r} is not JSON.")

    try:
        body = json.loads(raw)
    except ValueError as exc:
        raise service.bad_body("The request body is not valid JSON.") from exc
    if not isinstance(body, dict):
        raise service.bad_body("The request body is not a JSON object.")

    return body
