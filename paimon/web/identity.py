"""Who the client is: a reference to its valid token, else its address, as the nearest
trusted proxy saw it. Upload slots, rate limits, the pending-upload count and deletion
by token all count by this one key.

A client with a valid token is keyed by the token, so clients behind one address (an
office, a phone carrier's NAT) are not counted together; a wrong or invented token never
buys a key of its own, so it is keyed by its address.
"""

from __future__ import annotations

import ipaddress

from flask import request

from paimon.observability.logs import reference
from paimon.web.auth import is_authorized, presented_token

#: 64 bits of HMAC per token key: no two configured tokens share a bucket.
TOKEN_KEY_LENGTH = 16


class TrustedProxies:
    """The peers whose X-Forwarded-For names the client (``PAIMON_FORWARDED_ALLOW_IPS``).

    Gunicorn applies that setting to the scheme headers only and always reports the
    peer as REMOTE_ADDR: behind Render's proxy every client would share the proxy's
    address. The same list decides here whether X-Forwarded-For is believed.
    """

    def __init__(self, allow_ips: str):
        entries = [entry.strip() for entry in allow_ips.split(",") if entry.strip()]
        self.everyone = "*" in entries
        self.networks = [ipaddress.ip_network(e, strict=False) for e in entries if e != "*"]

    def trusts(self, peer: str) -> bool:
        if self.everyone:
            return True
        try:
            address = ipaddress.ip_address(peer)
        except ValueError:
            return False
        return any(address in network for network in self.networks)

    def client_address(self, peer: str, forwarded_for: str | None) -> str:
        """The address the nearest trusted proxy saw: the last X-Forwarded-For entry,
        the one that proxy appended (earlier ones are whatever the client claimed)."""
        if forwarded_for and self.trusts(peer):
            return forwarded_for.rsplit(",", 1)[-1].strip() or peer
        return peer


class ClientIdentity:
    """The key of the client of the request being served."""

    def __init__(self, token_digests: list[bytes], proxies: TrustedProxies):
        self.token_digests = token_digests
        self.proxies = proxies

    def key(self) -> str:
        token = presented_token()
        if token is not None and is_authorized(token, self.token_digests):
            # Names the bucket in Flask-Limiter's log and in Redis: an HMAC under the
            # install's secret, which no one holding only the log can test guesses on.
            return f"token:{reference(token, TOKEN_KEY_LENGTH)}"
        return f"addr:{self.client_address()}"

    def client_address(self) -> str:
        peer = request.remote_addr or ""
        return self.proxies.client_address(peer, request.headers.get("X-Forwarded-For"))
