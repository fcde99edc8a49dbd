"""Ways for a worker process to push an event to a client's WebSocket held by the API process.

Both follow API Gateway's ``@connections`` model: the worker knows a connection id and the endpoint
of the API holding it (both travel with the job) and posts to it; that API delivers it, or answers
"gone".
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from typing import Any

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Lookalike-Internal"


def internal_token(secret: bytes) -> str:
    """The shared token workers show the API's internal endpoint (derived, so the upload key never travels)."""
    return hmac.new(secret, b"internal-events", hashlib.sha256).hexdigest()


class HttpNotifier:
    """Embedded: POST ``{endpoint}/internal/connections/{id}`` on the API over loopback, with a shared token.

    ``default_endpoint`` is used for jobs that do not say where their connection lives.
    """

    def __init__(self, default_endpoint: str, token: str, timeout: float = 5.0) -> None:
        import httpx

        self.default_endpoint = default_endpoint.rstrip("/")
        self.client = httpx.Client(timeout=timeout, headers={SECRET_HEADER: token})

    def send(self, endpoint: str, connection_id: str, event: dict[str, Any]) -> bool:
        import httpx

        base = (endpoint or self.default_endpoint).rstrip("/")
        try:
            response = self.client.post(f"{base}/internal/connections/{connection_id}", json=event)
        except httpx.HTTPError as exc:  # the API is restarting: the result stays fetchable by job id
            log.warning("could not deliver %s to %s: %s", event.get("event"), connection_id, exc)
            return False
        return response.status_code == 200

    def close(self) -> None:
        self.client.close()


class ApiGatewayNotifier:
    """AWS: ``apigatewaymanagementapi.post_to_connection`` on the WebSocket API's management endpoint.

    The endpoint comes with each job (``https://{domainName}/{stage}`` of the event that opened the
    connection).  ``override`` replaces it when that name does not reach the API from here (a custom
    domain, or an emulator), e.g. ``LOOKALIKE_WEBSOCKET_ENDPOINT``.
    """

    def __init__(self, override: str = "", client: Any = None, client_factory: Any = None) -> None:
        self.override = override
        self._clients: dict[str, Any] = {}
        self._fixed = client
        self._factory = client_factory

    def client_for(self, endpoint: str) -> Any:
        if self._fixed is not None:
            return self._fixed
        url = self.override or endpoint
        if not url:
            raise ValueError(
                "no WebSocket management endpoint: the job has none and LOOKALIKE_WEBSOCKET_ENDPOINT is unset"
            )
        if url not in self._clients:
            if self._factory is not None:
                self._clients[url] = self._factory(url)
            else:
                import boto3

                self._clients[url] = boto3.client("apigatewaymanagementapi", endpoint_url=url)
        return self._clients[url]

    def send(self, endpoint: str, connection_id: str, event: dict[str, Any]) -> bool:
        client = self.client_for(endpoint)
        try:
            client.post_to_connection(ConnectionId=connection_id, Data=json.dumps(event).encode())
        except client.exceptions.GoneException:
            return False
        except Exception as exc:  # the API unreachable: the result stays fetchable by job id
            log.warning("could not deliver %s to %s: %s", event.get("event"), connection_id, exc)
            return False
        return True
