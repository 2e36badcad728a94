"""IAM: password tokens and the project look-up (reference sections 1.1 and 1.4).

Emulator choices: only project-scoped password tokens are issued (a body without
``scope.project`` gets 400 IAM.0001), and the token body carries no ``catalog``.
"""

from __future__ import annotations

import secrets
from typing import Any

from .clock import format_micros
from .state import Credentials, Token
from .wire import ApiError, Call, Reply, Service, flat_error, route

TOKEN_SECONDS = 24 * 3600.0
DOMAIN_ID = "5c1e0a7b9d3f4e2a8b6c0d1e2f3a4b5c"
USER_ID = "7e2d4c6b8a0f4e1d9c3b5a7f6e8d0c2b"
ROLE = {"id": "0f3c5e7a9b1d4f6e8a2c4e6a8c0e2a4c", "name": "te_admin"}


def issue_token(call: Call) -> Reply:
    """POST /v3/auth/tokens: check a password body and answer with a new token."""
    given, project = _read_password_body(call.body)
    credentials = call.state.credentials
    _check_password(credentials, given)
    _check_project(credentials, project)

    value = "MII" + secrets.token_urlsafe(48)
    token = Token(credentials.project_id, expires_at=call.now + TOKEN_SECONDS)
    call.state.tokens[value] = token
    body = {"token": _describe_token(call, token)}

    return Reply(201, body, {"X-Subject-Token": value})


def list_projects(call: Call) -> Reply:
    """GET /v3/projects: the one project, when it matches the ``name`` filter."""
    credentials = call.state.credentials
    name = call.query.get("name", credentials.project_name)
    found = [_describe_project(call)] if name == credentials.project_name else []
    links = {
        "self": f"{call.state.endpoints.get('iam', '')}/v3/projects",
        "previous": None,
        "next": None,
    }

    return Reply(200, {"projects": found, "links": links})


def _read_password_body(body: dict[str, Any]) -> tuple[list[Any], dict[str, Any]]:
    try:
        identity = body["auth"]["identity"]
        user = identity["password"]["user"]
        given = [user["name"], user["password"], user["domain"]["name"]]
        project = body["auth"]["scope"]["project"]
    except (KeyError, TypeError) as exc:
        raise _malformed("The body is not a project-scoped password request.") from exc

    if "password" not in identity.get("methods", []):
        raise _malformed("The identity methods must include 'password'.")
    if not all(isinstance(value, str) for value in given):
        raise _malformed("The user name, password and domain name must be strings.")
    if not isinstance(project, dict):
        raise _malformed("The project scope must be an object.")

    return given, project


def _check_password(credentials: Credentials, given: list[str]) -> None:
    expected = [credentials.user_name, credentials.password, credentials.domain_name]
    # compare_digest takes str only when it is ASCII, so compare the UTF-8 bytes.
    pairs = zip(given, expected, strict=True)
    if all(secrets.compare_digest(a.encode(), b.encode()) for a, b in pairs):
        return

    message = "The user name, password or domain name is incorrect."
    raise flat_error(401, "IAM.0062", message)


def _check_project(credentials: Credentials, project: dict[str, Any]) -> None:
    if project.get("name") == credentials.project_name:
        return
    if project.get("id") == credentials.project_id:
        return

    raise flat_error(400, "IAM.1109", "The project information cannot be found.")


def _describe_token(call: Call, token: Token) -> dict[str, Any]:
    credentials = call.state.credentials
    domain = {"id": DOMAIN_ID, "name": credentials.domain_name}
    user = {
        "id": USER_ID,
        "name": credentials.user_name,
        "domain": domain,
        "password_expires_at": "",
    }
    project = {
        "id": credentials.project_id,
        "name": credentials.project_name,
        "domain": domain,
    }

    return {
        "expires_at": format_micros(call.state.clock.at(token.expires_at)),
        "issued_at": format_micros(call.state.clock.at(call.now)),
        "methods": ["password"],
        "project": project,
        "user": user,
        "roles": [ROLE],
    }


def _describe_project(call: Call) -> dict[str, Any]:
    credentials = call.state.credentials
    iam = call.state.endpoints.get("iam", "")

    return {
        "id": credentials.project_id,
        "name": credentials.project_name,
        "domain_id": DOMAIN_ID,
        "parent_id": DOMAIN_ID,
        "enabled": True,
        "is_domain": False,
        "description": "",
        "links": {"self": f"{iam}/v3/projects/{credentials.project_id}"},
    }


def _malformed(message: str) -> ApiError:
    return flat_error(400, "IAM.0001", message)


SERVICE = Service(
    name="iam",
    routes=(
        route("POST", "/v3/auth/tokens", "iam.token", issue_token, auth=False),
        route("GET", "/v3/projects", "iam.list_projects", list_projects),
    ),
    operations=("iam.token", "iam.list_projects"),
    bad_body=_malformed,
)
