"""Delete links, as transfer.sh hands them out (``X-Url-Delete``): each upload gets a
random token, told to the client once, in the upload's reply; the job keeps only its
SHA-256 digest, so neither the job store nor its backups can delete anything, and
every instance sharing the store accepts it.

A browser's plain form is answered with a redirect (303, so a reload does not send the
files again), and the page it lands on must show the delete link without the token
ever being in an address (history, proxy logs, a copied address bar). So the token is
handed off: sealed (Fernet) under a key derived from a fresh random reference, kept in
the job for that one look, while the redirect names only the reference. The page opens
the seal, shows the link once, and clears it; the reference opens nothing after that,
or after HANDOFF_SECONDS, and the job store alone holds nothing it can open.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets

from cryptography.fernet import Fernet, InvalidToken

TOKEN_BYTES = 24  # 192 random bits
#: How long a browser has to follow the redirect to the page that shows a delete link.
HANDOFF_SECONDS = 600


def digest_of(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


def new_delete_token() -> tuple[str, str]:
    """A fresh token and the digest the job keeps."""
    token = secrets.token_urlsafe(TOKEN_BYTES)
    return token, digest_of(token)


def token_matches(token: str, digest: str | None) -> bool:
    """Compared in constant time; a job without a digest (made before delete links)
    matches nothing."""
    return digest is not None and hmac.compare_digest(digest_of(token), digest)


def new_handoff_reference() -> str:
    """The reference a redirect names instead of the token (192 random bits)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def _sealer(reference: str) -> Fernet:
    key = hashlib.sha256(b"paimon delete-link handoff\0" + reference.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(key))


def seal_for_handoff(token: str, reference: str) -> str:
    return _sealer(reference).encrypt(token.encode()).decode("ascii")


def open_handoff(sealed: str | None, reference: str, digest: str | None) -> str | None:
    """The token ``sealed`` under ``reference``, if it opens within HANDOFF_SECONDS and
    is the job's (``digest``); None otherwise."""
    if not sealed:
        return None
    try:
        token = _sealer(reference).decrypt(sealed.encode("ascii"), ttl=HANDOFF_SECONDS).decode()
    except (InvalidToken, UnicodeError):
        return None
    return token if token_matches(token, digest) else None
