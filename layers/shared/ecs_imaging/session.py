"""Requests to ECS and IMS, authenticated by an IAM token or an AK/SK signature."""

import functools
from collections.abc import Mapping
from typing import Any, Literal, NamedTuple

import httpx

from . import auth, config, http, signer
from .credentials import AccessKeyCredentials, get_credentials
from .errors import CloudAuthError

Service = Literal["ecs", "ims"]


class _Call(NamedTuple):
    """A request as the caller gave it, before it is authenticated."""

    method: str
    url: str
    json: Any
    params: Mapping[str, str | int] | None
    idempotent: bool | None


class CloudSession:
    """Sends authenticated requests to one project's ECS and IMS endpoints."""

    def __init__(self, settings: config.Settings | None = None) -> None:
        self.settings = settings or config.get_settings()

    @property
    def project_id(self) -> str:
        """The project id that ECS and IMS paths carry."""
        return auth.get_project_id(self.settings)

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
        """Send one request; after a 401, once more with renewed authentication.

        A 401 proves the request was not carried out, so repeating it is safe even
        for a create. A refused token is replaced; a refused signature makes the
        credentials be read again, in case the access key was rotated.
        """
        url = f"{self._endpoint(service)}{path}"
        call = _Call(method, url, json, params, idempotent)
        credentials = get_credentials(self.settings)
        if isinstance(credentials, AccessKeyCredentials):
            send = functools.partial(self._send_signed, call)

            return auth.retry_with_fresh_credentials(self.settings, credentials, send)

        key, token = auth.get_token(self.settings)
        try:
            return self._send_with_token(call, token)
        except CloudAuthError:
            auth.token_cache.drop(key, token)
            _, token = auth.get_token(self.settings)

            return self._send_with_token(call, token)

    def _send_with_token(self, call: _Call, token: auth.Token) -> httpx.Response:
        headers = {"X-Auth-Token": token.value}
        if call.json is not None:
            headers["Content-Type"] = "application/json"

        return http.send(
            call.method,
            call.url,
            headers=headers,
            json=call.json,
            params=call.params,
            idempotent=call.idempotent,
        )

    def _send_signed(
        self,
        call: _Call,
        credentials: AccessKeyCredentials,
    ) -> httpx.Response:
        headers, body = {}, b""
        if call.json is not None:
            # The bytes http.send will send: httpx encodes `json` alike each time.
            headers["Content-Type"] = "application/json"
            body = httpx.Request(call.method, call.url, json=call.json).content
        signed = signer.sign(
            call.method,
            call.url,
            credentials,
            params=call.params,
            headers=headers,
            body=body,
            project_id=auth.find_project_id(self.settings, credentials),
        )

        return http.send(
            call.method,
            signed.url,
            headers=signed.headers,
            json=call.json,
            idempotent=call.idempotent,
        )

    def _endpoint(self, service: Service) -> str:
        return self.settings.ecs_endpoint if service == "ecs" else self.settings.ims_endpoint
