"""Which webhook targets may be sent to: https only, and never to this machine, a
private network, a link-local or a cloud metadata address (a webhook URL is a way to
make the server send requests, so it must not reach what only the server can reach),
unless PAIMON_WEBHOOK_ALLOW_PRIVATE says the receiver is meant to be near. Checked at
start and again at each delivery, on the address the name resolves to then, which is
the address connected to (a name that changed its answer cannot slip past)."""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import urlsplit

#: Cloud metadata services outside the private ranges (AWS's IPv6 one; the usual
#: 169.254.169.254 is link-local already).
METADATA = (ipaddress.ip_network("fd00:ec2::254/128"), ipaddress.ip_network("100.100.100.200/32"))


class TargetRefused(ValueError):
    """A webhook URL or the address it resolves to may not be sent to."""


@dataclass(frozen=True)
class Target:
    """A webhook URL taken apart for one connection."""

    scheme: str
    host: str
    port: int
    path: str  # with the query, as sent in the request line


def parse(url: str, allow_private: bool) -> Target:
    """The URL's parts; TargetRefused for anything but https (http too when private
    targets are allowed) with a host."""
    parts = urlsplit(url)
    allowed = ("https", "http") if allow_private else ("https",)
    if parts.scheme not in allowed or not parts.hostname:
        raise TargetRefused(
            f"webhook URL {url!r} must be https://host/... (plain http:// only with "
            "PAIMON_WEBHOOK_ALLOW_PRIVATE=true)"
        )
    if parts.username or parts.password:
        raise TargetRefused(f"webhook URL {parts.hostname!r} must not hold a user or password")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return Target(parts.scheme, parts.hostname, port, path)


def forbidden(address: str) -> bool:
    """Loopback, private, link-local, metadata, or otherwise not a public address."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        not ip.is_global
        or ip.is_multicast
        or any(ip in network for network in METADATA if network.version == ip.version)
    )


def resolve(target: Target, allow_private: bool) -> str:
    """The address to connect to: the first the host resolves to; TargetRefused when
    any of them is forbidden (a name that answers both ways is not trusted).
    OSError when it does not resolve."""
    infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
    addresses = [str(info[4][0]) for info in infos]
    if not allow_private:
        refused = [address for address in addresses if forbidden(address)]
        if refused:
            raise TargetRefused(
                f"webhook host {target.host!r} resolves to {refused[0]}, a loopback, private, "
                "link-local or metadata address (PAIMON_WEBHOOK_ALLOW_PRIVATE=true allows it)"
            )
    return addresses[0]


def check_at_start(urls: list[str], allow_private: bool) -> None:
    """Refuse, at start, a URL of the wrong form or whose host resolves to a forbidden
    address now; a host that does not resolve yet is left to delivery time."""
    for url in urls:
        target = parse(url, allow_private)
        try:
            resolve(target, allow_private)
        except OSError:
            continue
