"""Accounts and the login answers MEGA builds from them.

The emulator derives the very values a MEGA server stores (user hash, wrapped master key,
wrapped RSA private key) with mega.py's own helpers, so a stock client's login computations
agree with ours bit for bit. Passwords are used once, at account creation, and not kept.
"""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass, field
from typing import Literal

import pyotp
from Crypto.PublicKey import RSA
from mega.crypto import (
    a32_to_base64,
    base64_url_encode,
    encrypt_key,
    prepare_key,
    str_to_a32,
    stringhash,
)

AccountKind = Literal["v1", "v2", "anonymous"]

#: Real MEGA accounts have 2048-bit keys; pycryptodome makes one in about 0.2 s, so each
#: registered account gets its own, generated when the account is created.
RSA_BITS = 2048
V2_PBKDF2_ITERATIONS = 100_000
SESSION_ID_BYTES = 43  # the client keeps the first 43 bytes of the decrypted csid


def random_handle(byte_count: int) -> str:
    """A MEGA-style handle: 6 bytes give node handles (8 chars), 8 give user handles (11)."""
    return base64_url_encode(secrets.token_bytes(byte_count))


def random_key() -> tuple[int, ...]:
    """A 128-bit AES key as four 32-bit words (a32), from a secure source."""
    return str_to_a32(secrets.token_bytes(16))


def _mpi(value: int) -> bytes:
    """OpenPGP-style multi-precision integer: 2-byte bit length, then big-endian bytes."""
    bits = value.bit_length()
    return bits.to_bytes(2, "big") + value.to_bytes((bits + 7) // 8, "big")


@dataclass
class Account:
    """One MEGA account; ``password_key``-derived secrets only, never the password."""

    handle: str
    kind: AccountKind
    email: str | None
    quota_bytes: int
    wrapped_master_key: str  # "k": master key wrapped with the password key
    user_hash: str | None = None  # "uh" the client must present (registered accounts)
    salt: bytes | None = None  # v2 accounts only
    rsa_key: RSA.RsaKey | None = None  # registered accounts only
    wrapped_private_key: str | None = None  # "privk"
    anonymous_session: str | None = None  # "tsid" chosen by an anonymous client
    totp_secret: str | None = None  # base32; set for accounts with two-factor login
    created: int = field(default_factory=lambda: int(time.time()))
    used_bytes: int = 0

    @classmethod
    def registered(
        cls,
        email: str,
        password: str,
        kind: Literal["v1", "v2"],
        quota_bytes: int,
        totp_secret: str | None = None,
    ) -> Account:
        """Create an account as MEGA's signup would, for either login scheme."""
        email = email.lower()
        salt = None
        if kind == "v2":
            salt = secrets.token_bytes(32)
            derived = hashlib.pbkdf2_hmac(
                "sha512", password.encode(), salt, V2_PBKDF2_ITERATIONS, dklen=32
            )
            password_key = str_to_a32(derived[:16])
            user_hash = base64_url_encode(derived[-16:])
        else:
            password_key = prepare_key(str_to_a32(password))
            user_hash = stringhash(email, password_key)
        master_key = random_key()
        rsa_key = cls._new_rsa_key()
        return cls(
            handle=random_handle(8),
            kind=kind,
            email=email,
            quota_bytes=quota_bytes,
            wrapped_master_key=a32_to_base64(encrypt_key(master_key, password_key)),
            user_hash=user_hash,
            salt=salt,
            rsa_key=rsa_key,
            wrapped_private_key=cls._wrap_private_key(rsa_key, master_key),
            totp_secret=totp_secret,
        )

    @classmethod
    def anonymous(
        cls, wrapped_master_key: str, session_challenge: str, quota_bytes: int
    ) -> Account:
        """An ephemeral account from ``up``: the server only ever sees the client's blobs."""
        return cls(
            handle=random_handle(8),
            kind="anonymous",
            email=None,
            quota_bytes=quota_bytes,
            wrapped_master_key=wrapped_master_key,
            anonymous_session=session_challenge,
        )

    @staticmethod
    def _new_rsa_key() -> RSA.RsaKey:
        """An RSA key whose d is e^-1 mod phi, so mega.py's recomputed e equals ours."""
        generated = RSA.generate(RSA_BITS)
        p, q, e = generated.p, generated.q, generated.e
        d = pow(e, -1, (p - 1) * (q - 1))
        return RSA.construct((p * q, e, d, p, q))

    @staticmethod
    def _wrap_private_key(rsa_key: RSA.RsaKey, master_key: tuple[int, ...]) -> str:
        """``privk``: MPIs p, q, d, u padded to whole AES blocks, wrapped with the master key."""
        blob = b"".join(_mpi(n) for n in (rsa_key.p, rsa_key.q, rsa_key.d, rsa_key.u))
        blob += secrets.token_bytes(-len(blob) % 16)
        return a32_to_base64(encrypt_key(str_to_a32(blob), master_key))

    @property
    def public_key(self) -> str | None:
        """``pubk``: the RSA modulus and exponent as MPIs, base64url; None without a key."""
        if self.rsa_key is None:
            return None
        return base64_url_encode(_mpi(self.rsa_key.n) + _mpi(self.rsa_key.e))

    def accepts_mfa(self, code: object) -> bool:
        """True if the account has no 2FA, or ``code`` is its TOTP code of the previous,
        current or next 30-second step (clients' clocks drift)."""
        if self.totp_secret is None:
            return True
        return isinstance(code, str) and pyotp.TOTP(self.totp_secret).verify(code, valid_window=1)

    def login_reply(self) -> tuple[str, dict[str, object]]:
        """A new session id and the ``us`` answer that hands it to the client."""
        reply: dict[str, object] = {"k": self.wrapped_master_key, "u": self.handle}
        if self.anonymous_session is not None:
            reply["tsid"] = self.anonymous_session
            return self.anonymous_session, reply
        assert self.rsa_key is not None
        session = bytes([1 + secrets.randbelow(255)]) + secrets.token_bytes(SESSION_ID_BYTES - 1)
        # Random padding up to one byte short of the modulus keeps the plaintext below n;
        # the non-zero first byte keeps the client's integer-to-bytes step from shifting it.
        modulus_bytes = (self.rsa_key.n.bit_length() + 7) // 8
        padding = secrets.token_bytes(modulus_bytes - 1 - SESSION_ID_BYTES)
        plaintext = int.from_bytes(session + padding, "big")
        encrypted = pow(plaintext, self.rsa_key.e, self.rsa_key.n)
        reply["csid"] = base64_url_encode(_mpi(encrypted))
        reply["privk"] = self.wrapped_private_key
        return base64_url_encode(session), reply

    def public_view(self) -> dict[str, object]:
        """What ``/_sim/state`` shows: no keys, no hashes, no passwords."""
        return {
            "handle": self.handle,
            "email": self.email,
            "kind": self.kind,
            "quota_bytes": self.quota_bytes,
            "used_bytes": self.used_bytes,
            "two_factor": self.totp_secret is not None,
        }
