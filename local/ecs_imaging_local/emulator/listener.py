"""HTTP plumbing: one listener per service, routing, authentication and call faults.

Each service has its own listener because ECS and IMS share the job path
``/v1/{project_id}/jobs/{job_id}``.
"""

from __future__ import annotations

import contextlib
import email.utils
import json
import logging
import socket
import socketserver
import time
import uuid
from http.server import BaseHTTPRequestHandler, HTTPServer, ThreadingHTTPServer
from typing import Any, cast
from urllib.parse import SplitResult, parse_qsl, urlsplit

from . import faults, signing
from .state import CallFault, State, Token
from .wire import BUG_BODY, ApiError, Call, Reply, Route, Service, flat_error

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
AKSK_REFUSED = "Incorrect IAM authentication information: verify aksk signature fail"


class PortUnavailable(OSError):
    """A service could not bind its port of 127.0.0.1: in use, or not ours to take."""

    def __init__(self, service: str, port: int, reason: str) -> None:
        super().__init__(f"The {service} service cannot listen on {LOOPBACK}:{port}: {reason}.")
        self.service = service
        self.port = port
        self.reason = reason


def bind(server: HTTPServer, service: str) -> None:
    """Bind a listener's socket; a refusal names the service and the port it asked for."""
    port = server.server_address[1]
    try:
        # HTTPServer.server_bind would ask DNS for the name of the address (getfqdn).
        socketserver.TCPServer.server_bind(server)
    except OSError as exc:
        raise PortUnavailable(service, port, exc.strerror or str(exc)) from exc

    server.server_name, server.server_port = LOOPBACK, server.server_address[1]


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

    def wake(self) -> None:
        """Make serve_forever look at its shutdown flag now, not at its next poll."""
        with contextlib.suppress(OSError):
            address = (LOOPBACK, self.server_address[1])
            socket.create_connection(address, timeout=1).close()

    def server_bind(self) -> None:
        bind(self, self.service.name)

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
        self.fault: CallFault | None = None
        try:
            reply = self._answer(listener, url, raw)
        except ApiError as error:
            reply = Reply(error.status, error.body, error.headers)
        except Exception:  # pragma: no cover - only a bug in a handler gets here
            logger.exception("%s %s failed", self.command, url.path)
            reply = Reply(500, BUG_BODY)

        dropped = self.fault is not None and self.fault.kind == "drop"
        outcome = "dropped" if dropped else str(reply.status)
        with listener.state.lock:
            listener.state.counters[f"http.{outcome}"] += 1
        name = listener.service.name
        logger.debug("%s %s %s -> %s", name, self.command, url.path, outcome)

        if self.fault is not None and self.fault.kind == "slow":
            time.sleep(self.fault.seconds)
        if dropped:
            # The call took effect; the client only loses the answer.
            self.close_connection = True
            return
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

    def _answer(self, listener: Listener, url: SplitResult, raw: bytes) -> Reply:
        service, state = listener.service, listener.state
        found, params = _find_route(service, self.command, url.path)
        with state.lock:
            content_type = self.headers.get("Content-Type", "")
            try:
                body, unreadable = _parse_body(service, content_type, raw), None
            except ApiError as error:
                body, unreadable = {}, error

            operation = found.operation_for(body)
            if operation is not None:
                state.counters[operation] += 1
                self.fault = faults.take_call_fault(state, operation)
                if self.fault is not None and self.fault.kind in faults.REFUSALS:
                    raise faults.rejection(self.fault)

            now = state.settle()
            project_id = ""
            if found.authenticated:
                project_id = self._authenticate(service, state, url, params, raw, now)
            if unreadable is not None:
                raise unreadable

            query = dict(parse_qsl(url.query))
            call = Call(state, now, params, query, body, project_id, self.headers)
            return found.handler(call)

    def _authenticate(
        self,
        service: Service,
        state: State,
        url: SplitResult,
        params: dict[str, str],
        raw: bytes,
        now: float,
    ) -> str:
        path_project = params.get("project_id")
        if not signing.is_signed(self.headers):
            token = state.tokens.get(self.headers.get("X-Auth-Token") or "")
            return _check_token(token, path_project, now, service.domain_tokens)

        query = parse_qsl(url.query, keep_blank_values=True)
        headers = self.headers
        request = signing.SignedRequest(self.command, url.path, query, headers, raw)
        project_id = signing.verify_signature(state, request, path_project, now)
        if project_id is None:
            raise flat_error(401, "APIGW.0301", AKSK_REFUSED)

        return project_id

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
    token: Token | None,
    project_id: str | None,
    now: float,
    domain_tokens: bool,
) -> str:
    if token is None:
        problem = "the token is missing or unknown"
    elif token.revoked:
        problem = "the token has been revoked"
    elif now >= token.expires_at:
        problem = "the token has expired"
    elif not token.project_id and not domain_tokens:
        problem = "the token is scoped to a domain, not to a project"
    elif project_id is not None and project_id != token.project_id:
        problem = f"the token is not scoped to project {project_id!r}"
    else:
        return token.project_id

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
