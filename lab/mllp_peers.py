"""Who may talk to the MLLP listener, and how many connections each may hold.

The allow-list names the LIS and analysers by address or network; an empty list means loopback
only (a LIS on the same machine, the demo), never "anyone".
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
LOOPBACK: tuple[Network, ...] = (
    ipaddress.ip_network("127.0.0.0/8"),
    ipaddress.ip_network("::1/128"),
)


def parse_networks(entries: Iterable[str]) -> tuple[Network, ...]:
    """Addresses (``10.0.0.5``) and networks (``10.0.8.0/24``); raises ValueError naming a bad
    entry."""
    networks = []
    for entry in entries:
        text = entry.strip()
        if not text:
            continue
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            raise ValueError(f"{text!r} is not an IP address or network") from None
    return tuple(networks)


def address_of(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """The peer's address (an IPv4-mapped IPv6 address as IPv4); None when unreadable."""
    try:
        address = ipaddress.ip_address(host.split("%")[0])
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return address.ipv4_mapped
    return address


@dataclass
class PeerGate:
    """Admits a connection if its address is allowed and the limits leave room; counts it."""

    allowed: tuple[Network, ...] = ()
    max_connections: int = 64
    max_per_peer: int = 4

    def __post_init__(self) -> None:
        if self.max_connections < 1 or self.max_per_peer < 1:
            raise ValueError("connection limits are at least 1")
        self.allowed = self.allowed or LOOPBACK
        self._open: Counter[str] = Counter()

    @property
    def open_connections(self) -> int:
        return sum(self._open.values())

    def admit(self, host: str) -> str:
        """Empty if ``host`` may open one more connection (then counted), else why not."""
        address = address_of(host)
        if address is None or not any(address in net for net in self.allowed):
            return "address not on the allow-list"
        key = str(address)
        if self._open[key] >= self.max_per_peer:
            return f"already {self._open[key]} connections from this address"
        if self.open_connections >= self.max_connections:
            return f"already {self.max_connections} connections in total"
        self._open[key] += 1
        return ""

    def release(self, host: str) -> None:
        address = address_of(host)
        key = str(address)
        if self._open[key] > 1:
            self._open[key] -= 1
        else:
            del self._open[key]
