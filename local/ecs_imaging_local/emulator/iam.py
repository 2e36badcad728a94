"""IAM: password and agency tokens, the project look-up (reference sections 1.1-1.4).

A password token is scoped to the project, to the user's domain, or, without a
``scope``, to global services; ECS and IMS refuse the last two (401 APIGW.0301).

Emulator choices: a global token looks like a domain-scoped one (``token.domain``
in its body), a domain other than the user's gets 401 IAM.0001, and the token
body carries no ``catalog``. An agency token needs a valid token of either scope
in ``X-Auth-Token`` (401 IAM.0067 or IAM.0066 otherwise) and a project scope; an
unknown agency gets 403 in the Keystone shape, as no IAM code for it is
documented. ``GET /v3/projects`` lists the caller's own project, which is the
user's project for a domain-scoped token.
"""

from __future__ import annotations

import secrets
import uuid
from typing import Any, TypeAlias

from .clock import format_micros
from .state import Agency, Credentials, Token
from .wire import ApiError, Call, Reply, Service, flat_error, route

TOKEN_SECONDS = 24 * 3600.0
DOMAIN_ID = "5c1e0a7b9d3f4e2a8b6c0d1e2f3a4b5c"
USER_ID = "7e2d4c6b8a0f4e1d9c3b5a7f6e8d0c2b"
ROLE = {"id": "0f3c5e7a9b1d4f6e8a2c4e6a8c0e2a4c", "name": "te_admin"}
# "project" or "domain", and the scope's {"id"} or {"name"}.
Scope: TypeAlias = tuple[str, dict[str, Any]]


def issue_token(call: Call) -> Reply:
    """POST /v3/auth/tokens: a password or an assume_role body in, a new token out."""
    if _token_operation(call.body) == "iam.agency_token":
        return _issue_agency_token(call)

    given, scope = _read_password_body(call.body)
    credentials = call.state.credentials
    _check_password(credentials, given)
    project_id = _check_scope(credentials, scope)

    value, token = _store_token(call, project_id)
    body = {"token": _describe_token(call, token)}

    return Reply(201, body, {"X-Subject-Token": value})


def list_projects(call: Call) -> Reply:
    """GET /v3/projects: the caller's project, when it matches the ``name`` filter."""
    project_id = call.project_id or call.state.credentials.project_id
    project = _describe_project(call, project_id)
    name = call.query.get("name", project["name"])
    found = [project] if name == project["name"] else []
    links = {
        "self": f"{call.state.endpoints.get('iam', '')}/v3/projects",
        "previous": None,
        "next": None,
    }

    return Reply(200, {"projects": found, "links": links})


def _issue_agency_token(call: Call) -> Reply:
    _check_caller_token(call)
    role, scope = _read_assume_role_body(call.body)
    agency = _find_agency(call, role)
    in_scope = scope.get("id") == agency.project_id
    if not in_scope and scope.get("name") != agency.project_name:
        raise flat_error(400, "IAM.1109", "The project information cannot be found.")

    value, token = _store_token(call, agency.project_id)
    body = {"token": _describe_agency_token(call, token, agency)}

    return Reply(201, body, {"X-Subject-Token": value})


def _token_operation(body: dict[str, Any]) -> str:
    try:
        methods = body["auth"]["identity"]["methods"]
    except (KeyError, TypeError):
        return "iam.token"

    assumed = isinstance(methods, list) and "assume_role" in methods

    return "iam.agency_token" if assumed else "iam.token"


def _store_token(call: Call, project_id: str) -> tuple[str, Token]:
    value = "MII" + secrets.token_urlsafe(48)
    token = Token(project_id, expires_at=call.now + TOKEN_SECONDS)
    call.state.tokens[value] = token

    return value, token


def _read_password_body(body: dict[str, Any]) -> tuple[list[Any], Scope | None]:
    try:
        identity = body["auth"]["identity"]
        user = identity["password"]["user"]
        given = [user["name"], user["password"], user["domain"]["name"]]
        scope = body["auth"].get("scope")
    except (KeyError, TypeError, AttributeError) as exc:
        raise _malformed("The body is not a password request.") from exc

    if "password" not in identity.get("methods", []):
        raise _malformed("The identity methods must include 'password'.")
    if not all(isinstance(value, str) for value in given):
        raise _malformed("The user name, password and domain name must be strings.")

    return given, _read_scope(scope)


def _read_scope(scope: Any) -> Scope | None:
    if scope is None:
        return None
    if not isinstance(scope, dict):
        raise _malformed("The scope must be an object.")

    # Given both, IAM scopes the token to the project (reference 1.1).
    for kind in ("project", "domain"):
        if kind in scope:
            if not isinstance(scope[kind], dict):
                raise _malformed(f"The {kind} scope must be an object.")
            return kind, scope[kind]

    raise _malformed("The scope names neither a project nor a domain.")


def _read_assume_role_body(
    body: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    try:
        role = body["auth"]["identity"]["assume_role"]
        scope = body["auth"]["scope"]["project"]
        named = isinstance(role["agency_name"], str)
    except (KeyError, TypeError) as exc:
        message = "The body is not a project-scoped assume_role request."
        raise _malformed(message) from exc

    if not named or not isinstance(scope, dict):
        raise _malformed("The agency name must be a string and the scope an object.")
    if "domain_name" not in role and "domain_id" not in role:
        raise _malformed("The assume_role body needs 'domain_name' or 'domain_id'.")

    return role, scope


def _check_caller_token(call: Call) -> None:
    token = call.state.tokens.get(call.headers.get("X-Auth-Token") or "")
    if token is None or token.revoked:
        raise flat_error(401, "IAM.0067", "Invalid token.")
    if call.now >= token.expires_at:
        raise flat_error(401, "IAM.0066", "The token has expired.")


def _find_agency(call: Call, role: dict[str, Any]) -> Agency:
    for agency in call.state.agencies:
        same_domain = role.get("domain_name") == agency.domain_name
        same_domain = same_domain or role.get("domain_id") == agency.domain_id
        if same_domain and role["agency_name"] == agency.agency_name:
            return agency

    message = f"The agency {role['agency_name']!r} does not exist or trust you."
    body = {"error": {"code": 403, "message": message, "title": "Forbidden"}}
    raise ApiError(403, body)


def _check_password(credentials: Credentials, given: list[str]) -> None:
    expected = [credentials.user_name, credentials.password, credentials.domain_name]
    # compare_digest takes str only when it is ASCII, so compare the UTF-8 bytes.
    pairs = zip(given, expected, strict=True)
    if all(secrets.compare_digest(a.encode(), b.encode()) for a, b in pairs):
        return

    message = "The user name, password or domain name is incorrect."
    raise flat_error(401, "IAM.0062", message)


def _check_scope(credentials: Credentials, scope: Scope | None) -> str:
    if scope is None:
        return ""

    kind, target = scope
    if kind == "domain":
        _check_domain(credentials, target)
        return ""
    _check_project(credentials, target)

    return credentials.project_id


def _check_domain(credentials: Credentials, domain: dict[str, Any]) -> None:
    if domain.get("name") == credentials.domain_name or domain.get("id") == DOMAIN_ID:
        return

    message = f"The user has no access to the domain {domain!r}."
    raise flat_error(401, "IAM.0001", message)


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
    scope: dict[str, Any] = {"domain": domain}
    if token.project_id:
        project = {"id": token.project_id, "name": credentials.project_name}
        scope = {"project": project | {"domain": domain}}

    return {
        "expires_at": format_micros(call.state.clock.at(token.expires_at)),
        "issued_at": format_micros(call.state.clock.at(call.now)),
        "methods": ["password"],
        **scope,
        "user": user,
        "roles": [ROLE],
    }


def _describe_agency_token(call: Call, token: Token, agency: Agency) -> dict[str, Any]:
    body = _describe_token(call, token)
    domain = {"id": agency.domain_id, "name": agency.domain_name}
    name = f"agency/{agency.domain_id}/{agency.agency_name}"
    agency_id = uuid.uuid5(uuid.NAMESPACE_URL, name)
    body["assumed_by"] = {"user": body["user"]}
    body["user"] = {
        "id": agency_id.hex,
        "name": f"{agency.domain_name}/{agency.agency_name}",
        "domain": domain,
    }
    body["project"] = {
        "id": agency.project_id,
        "name": agency.project_name,
        "domain": domain,
    }
    body["methods"] = ["assume_role"]

    return body


def _describe_project(call: Call, project_id: str) -> dict[str, Any]:
    credentials = call.state.credentials
    name, domain_id = credentials.project_name, DOMAIN_ID
    for agency in call.state.agencies:
        if agency.project_id == project_id:
            name, domain_id = agency.project_name, agency.domain_id
    iam = call.state.endpoints.get("iam", "")

    return {
        "id": project_id,
        "name": name,
        "domain_id": domain_id,
        "parent_id": domain_id,
        "enabled": True,
        "is_domain": False,
        "description": "",
        "links": {"self": f"{iam}/v3/projects/{project_id}"},
    }


def _malformed(message: str) -> ApiError:
    return flat_error(400, "IAM.0001", message)


SERVICE = Service(
    name="iam",
    routes=(
        route("POST", "/v3/auth/tokens", _token_operation, issue_token, auth=False),
        route("GET", "/v3/projects", "iam.list_projects", list_projects),
    ),
    operations=("iam.token", "iam.agency_token", "iam.list_projects"),
    bad_body=_malformed,
    domain_tokens=True,
)
