"""Ways for a worker process to push an event to a client's WebSocket held by the API process.

Both follow API Gateway's ``@connections`` model: the worker knows only a connection id and posts
to it; the process holding the socket delivers it, or answers "gone".
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
    """Embedded: POST ``/internal/connections/{id}`` on the API over loopback, with a shared token."""

    def __init__(self, base_url: str, token: str, timeout: float = 5.0) -> None:
        import httpx

        self.base_url = base_url.rstrip("/")
        self.client = httpx.Client(timeout=timeout, headers={SECRET_HEADER: token})

    def send(self, connection_id: str, event: dict[str, Any]) -> bool:
        import httpx

        try:
            response = self.client.post(f"{self.base_url}/internal/connections/{connection_id}", json=event)
        except httpx.HTTPError as exc:  # the API is restarting: the result stays fetchable by job id
            log.warning("could not deliver %s to %s: %s", event.get("event"), connection_id, exc)
            return False
        return response.status_code == 200

    def close(self) -> None:
        self.client.close()


class ApiGatewayNotifier:
    """AWS: ``apigatewaymanagementapi.post_to_connection`` on the WebSocket API's endpoint."""

    def __init__(self, endpoint_url: str, client: Any = None) -> None:
        if client is None:
            import boto3

            client = boto3.client("apigatewaymanagementapi", endpoint_url=endpoint_url)
        self.client = client

    def send(self, connection_id: str, event: dict[str, Any]) -> bool:
        try:
            self.client.post_to_connection(ConnectionId=connection_id, Data=json.dumps(event).encode())
        except self.client.exceptions.GoneException:
            return False
        return True
