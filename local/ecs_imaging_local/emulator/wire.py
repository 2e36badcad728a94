"""What the services share: error answers, replies, calls, routes and services."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from email.message import Message
from typing import Any, TypeAlias

from .state import State

BUG_BODY = {"error_code": "APIGW.0000", "error_msg": "The emulator failed."}


class ApiError(Exception):
    """An error answer: the status, body and headers the real service would send."""

    def __init__(
        self,
        status: int,
        body: dict[str, Any],
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(status, body)
        self.status = status
        self.body = body
        self.headers = dict(headers or {})


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
    """One request as a route handler sees it, made while the state lock is held.

    ``project_id`` is the caller's project: the token's scope or the AK/SK
    ``X-Project-Id``; it is empty on calls that need no authentication.
    """

    state: State
    now: float
    params: dict[str, str]
    query: dict[str, str]
    body: dict[str, Any]
    project_id: str = ""
    headers: Message = field(default_factory=Message)


Handler = Callable[[Call], Reply]
# A fixed counter name, or one chosen from the body (one path, several operations).
Operation: TypeAlias = str | Callable[[dict[str, Any]], str | None] | None


@dataclass(frozen=True)
class Route:
    """A method and path bound to a handler and the counter it bumps."""

    method: str
    pattern: re.Pattern[str]
    operation: Operation
    handler: Handler
    authenticated: bool

    def operation_for(self, body: dict[str, Any]) -> str | None:
        """The counter name of a call with this body."""
        if callable(self.operation):
            return self.operation(body)

        return self.operation


def route(
    method: str,
    template: str,
    operation: Operation,
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
    # Whether a token scoped to a domain, not a project, may call its routes.
    domain_tokens: bool = False
