"""Who a request comes from: the peer address, or what a trusted reverse proxy says it forwarded.

``X-Forwarded-For`` is believed only when the peer is one of the proxies named in
``trusted_proxies`` (none by default): anyone else can write any address there.  The client is the
nearest address in the header that is not itself a trusted proxy.  uvicorn's own proxy-header
handling is turned off (see ``server_config``): by default it trusts 127.0.0.1, so every local
process, or a proxy on the same machine that forwards the world, could choose its address.
"""

from __future__ import annotations

import ipaddress
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(text: str) -> list[Network]:
    """``"127.0.0.1, 10.0.0.0/8"`` -> networks; raises ValueError naming a bad entry."""
    networks = []
    for part in text.replace(" ", ",").split(","):
        if part:
            try:
                networks.append(ipaddress.ip_network(part, strict=False))
            except ValueError:
                raise ValueError(f"LOOKALIKE_TRUSTED_PROXIES: {part!r} is not an address or network") from None
    return networks


class ClientAddress:
    def __init__(self, trusted_proxies: str = "") -> None:
        self.trusted = parse_networks(trusted_proxies)

    def is_trusted(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in network for network in self.trusted)

    def peer(self, scope: dict[str, Any]) -> str:
        client = scope.get("client")
        return str(client[0]) if client else "?"

    def forwarded(self, scope: dict[str, Any]) -> list[str]:
        """The hops of every ``X-Forwarded-For`` header, nearest last."""
        hops: list[str] = []
        for name, value in scope.get("headers", []):
            if name == b"x-forwarded-for":
                hops += [h.strip() for h in value.decode("latin-1").split(",") if h.strip()]
        return hops

    def of(self, scope: dict[str, Any]) -> str:
        """The address to count a request against."""
        peer = self.peer(scope)
        if not self.trusted or not self.is_trusted(peer):
            return peer
        hops = self.forwarded(scope)
        for hop in reversed(hops):
            if not self.is_trusted(hop):
                return hop[:64]
        return hops[0][:64] if hops else peer

    def via_proxy(self, scope: dict[str, Any]) -> bool:
        """True when a trusted proxy forwarded this request (so it did not start on this machine)."""
        return self.is_trusted(self.peer(scope)) and bool(self.forwarded(scope))
