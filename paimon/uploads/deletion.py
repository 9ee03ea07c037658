"""Delete links, as transfer.sh hands them out (``X-Url-Delete``): each upload gets a
random token, told to the client once, in the upload's reply; the job keeps only its
SHA-256 digest, so neither the job store nor its backups can delete anything, and
every instance sharing the store accepts it."""

from __future__ import annotations

import hashlib
import hmac
import secrets

TOKEN_BYTES = 24  # 192 random bits


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
