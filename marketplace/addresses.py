"""Which address a request comes from: the peer, or what a configured proxy says it forwarded."""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from typing import Any

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(raw: str) -> tuple[Network, ...]:
    """`"10.0.0.0/8, 127.0.0.1"` → networks; raises ValueError naming the entry that is not a CIDR."""
    networks: list[Network] = []
    for entry in raw.split(","):
        entry = entry.strip()
        if not entry:
            continue
        try:
            networks.append(ipaddress.ip_network(entry, strict=False))
        except ValueError:
            raise ValueError(f"{entry!r} is not an IP address or CIDR block") from None
    return tuple(networks)


def _is_trusted(address: str, proxies: Sequence[Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address.strip())
    except ValueError:
        return False
    return any(ip in network for network in proxies)


def client_address(peer: str | None, forwarded_for: str | None, proxies: Sequence[Network]) -> str:
    """The peer's address, unless the peer is a trusted proxy: then the nearest forwarded address that
    is not itself a trusted proxy. A client cannot choose its address by sending `X-Forwarded-For`
    itself, because only what trusted proxies appended is read (from the right)."""
    address = peer or "unknown"
    if not forwarded_for or not _is_trusted(address, proxies):
        return address
    for hop in reversed(forwarded_for.split(",")):
        hop = hop.strip()
        if not hop:
            continue
        address = hop
        if not _is_trusted(hop, proxies):
            break
    return address


def counted_as(address: str) -> str:
    """What a per-address limit counts `address` as: an IPv6 client by its /64, because one subscriber
    is routinely given a whole /64 and could otherwise take a fresh allowance from each of its 2^64
    addresses; an IPv4-mapped IPv6 address as the IPv4 address it carries."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped is not None:
            return str(ip.ipv4_mapped)
        return str(ipaddress.IPv6Network((ip, 64), strict=False))
    return address


def scope_client_address(scope: Any, proxies: Sequence[Network]) -> str:
    client = scope.get("client")
    peer = client[0] if client else None
    forwarded = None
    for key, value in scope["headers"]:
        if key == b"x-forwarded-for":
            forwarded = (
                value.decode("latin-1") if forwarded is None else f"{forwarded},{value.decode('latin-1')}"
            )
    return client_address(peer, forwarded, proxies)


def scope_counted_address(scope: Any, proxies: Sequence[Network]) -> str:
    """The client address as per-address rate limits count it."""
    return counted_as(scope_client_address(scope, proxies))
