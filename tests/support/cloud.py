"""Fakes shared by the tests: public OTC endpoints and documented IAM answers."""

from datetime import UTC, datetime, timedelta

import httpx

PROJECT_ID = "0a1b2c3d4e5f60718293a4b5c6d7e8f9"
IAM = "https://iam.eu-de.otc.t-systems.com"
ECS = "https://ecs.eu-de.otc.t-systems.com"
IMS = "https://ims.eu-de.otc.t-systems.com"
PASSWORD = "s3cret-Passw0rd!"
SERVER_ID = "877a2cda-ba63-4e1e-b95f-e67e48b6129a"


def token_response(
    token: str = "MIItoken-1",  # noqa: S107
    hours: float = 24,
    project_name: str = "eu-de",
) -> httpx.Response:
    """A 201 shaped like the documented IAM answer."""
    now = datetime.now(UTC)
    body = {
        "token": {
            "expires_at": (now + timedelta(hours=hours)).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "issued_at": now.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            "methods": ["password"],
            "project": {
                "id": PROJECT_ID,
                "name": project_name,
                "domain": {"id": "d1", "name": "x"},
            },
        }
    }
    return httpx.Response(201, json=body, headers={"X-Subject-Token": token})
