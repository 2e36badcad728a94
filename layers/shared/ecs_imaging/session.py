"""Authenticated requests to ECS and IMS."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import httpx

from . import auth, config, http
from .errors import CloudAuthError

Service = Literal["ecs", "ims"]


class CloudSession:
    """Sends token-authenticated requests to one project's ECS and IMS endpoints."""

    def __init__(self, settings: config.Settings | None = None) -> None:
        self.settings = settings or config.get_settings()

    @property
    def project_id(self) -> str:
        """The project the token is scoped to (the id ECS and IMS paths carry)."""
        return self.settings.project_id or auth.get_token(self.settings)[1].project_id

    def request(
        self,
        service: Service,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, str | int] | None = None,
        idempotent: bool | None = None,
    ) -> httpx.Response:
        """Send one request; a refused token is replaced and the request sent once more.

        A 401 proves the request was not carried out, so repeating it is safe even
        for a create.
        """
        url = f"{self._endpoint(service)}{path}"
        key, token = auth.get_token(self.settings)
        try:
            return self._send(method, url, token, json, params, idempotent)
        except CloudAuthError:
            auth.token_cache.drop(key, token)
            _, token = auth.get_token(self.settings)

            return self._send(method, url, token, json, params, idempotent)

    def _send(
        self,
        method: str,
        url: str,
        token: auth.Token,
        json: Any,
        params: Mapping[str, str | int] | None,
        idempotent: bool | None,
    ) -> httpx.Response:
        headers = {"X-Auth-Token": token.value}
        if json is not None:
            headers["Content-Type"] = "application/json"

        return http.send(
            method, url, headers=headers, json=json, params=params, idempotent=idempotent
        )

    def _endpoint(self, service: Service) -> str:
        return self.settings.ecs_endpoint if service == "ecs" else self.settings.ims_endpoint
