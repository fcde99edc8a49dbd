"""Who a request comes from: the peer address, or what a trusted reverse proxy says it forwarded.

``X-Forwarded-For`` is believed only when the peer is one of the proxies named in
``trusted_proxies`` (none by default): anyone else can write any address there.  The client is the
nearest address in the header that is not itself a trusted proxy.  uvicorn's own proxy-header
handling is turned off (see ``server_config``): by default it trusts 127.0.0.1, so every local
process, or a proxy on the same machine that forwards the world, could choose its address.

An address is turned into the key that rate budgets, upload quotas and socket caps count against
(:func:`client_key`): an IPv4 address is one client, an IPv6 address counts as its whole
``/ipv6_client_prefix`` network (64 by default: one home or one server is given a /64, so it holds
more addresses than any list of budgets), and an IPv4-mapped IPv6 address (``::ffff:1.2.3.4``) is
its IPv4 address.  A forwarded hop is parsed as an address (a port, ``1.2.3.4:80`` or
``[2001:db8::1]:80``, is dropped); a hop that is no address ends the walk (see :meth:`ClientAddress.of`).
"""

from __future__ import annotations

import ipaddress
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address


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


def parse_address(text: str) -> Address | None:
    """An address as a peer or a proxy writes it, port dropped (``1.2.3.4:80``, ``[::1]:80``); None if none."""
    text = text.strip()
    if text.startswith("["):  # [v6] or [v6]:port
        inside, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not (rest.startswith(":") and rest[1:].isdigit())):
            return None
        text = inside
    elif text.count(":") == 1:  # v4:port (a bare v6 address has at least two colons)
        text, _, port = text.partition(":")
        if not port.isdigit():
            return None
    try:
        address = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


def client_key(address: Address, ipv6_prefix: int = 64) -> str:
    """What one client's budgets count against: an IPv4 address, or an IPv6 address's network."""
    if isinstance(address, ipaddress.IPv6Address) and ipv6_prefix < 128:
        return str(ipaddress.IPv6Network((address, ipv6_prefix), strict=False))
    return str(address)


class ClientAddress:
    def __init__(self, trusted_proxies: str = "", ipv6_prefix: int = 64) -> None:
        if not 1 <= ipv6_prefix <= 128:
            raise ValueError(f"LOOKALIKE_IPV6_CLIENT_PREFIX={ipv6_prefix} is not a prefix length from 1 to 128")
        self.trusted = parse_networks(trusted_proxies)
        self.ipv6_prefix = ipv6_prefix

    def is_trusted(self, host: str | Address | None) -> bool:
        address = parse_address(host) if isinstance(host, str) else host
        return address is not None and any(address in network for network in self.trusted)

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
        """The key to count a request against (:func:`client_key` of the client's address).

        From a trusted peer, the forwarded hops are walked from the nearest: trusted proxies are
        passed, the first other address is the client.  A hop that is no address stops the walk: the
        client is then the trusted proxy that handed it over (the last address we can believe), as
        a client cannot make itself a new budget by writing junk (or ports) into the header."""
        peer = self.peer(scope)
        address = parse_address(peer)
        if address is None:  # not an IP peer (a Unix socket, a test client): one client
            return peer[:64]
        if self.trusted and self.is_trusted(address):
            for hop in reversed(self.forwarded(scope)):
                parsed = parse_address(hop)
                if parsed is None:
                    break
                address = parsed
                if not self.is_trusted(parsed):
                    break
        return client_key(address, self.ipv6_prefix)

    def via_proxy(self, scope: dict[str, Any]) -> bool:
        """True when a trusted proxy forwarded this request (so it did not start on this machine)."""
        return self.is_trusted(self.peer(scope)) and bool(self.forwarded(scope))
