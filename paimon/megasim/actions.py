"""MEGA's server-to-client channel: each account's action packets and sequence number.

Every change a command makes to an account's tree is recorded as action packets, in
the shapes MEGA's SDK reads them (``MegaClient::sc_procActionPacket``): ``t`` new nodes,
``d`` a deleted node (``"m": 1`` when a ``t`` with the same node follows: a move), ``ph``
a public link made or removed. Each change advances the account's sequence number, the
``sn`` that ``f`` hands out and that clients present to ``/sc`` and ``/wsc`` to get the
packets after it. Only the newest packets are kept; a client further behind gets ``-6``
(ETOOMANY), on which the SDK reloads its tree with ``f``.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass, field

from mega.crypto import base64_url_decode, base64_url_encode

from paimon.megasim.errors import ApiError, decode_binary
from paimon.storage.mega.codes import EARGS, ETOOMANY

Packet = dict[str, object]

#: Changes remembered per account; a client whose ``sn`` is older must reload (``-6``).
KEPT_CHANGES = 1000
SN_BYTES = 8  # the SDK's SCSN is a handle: 8 bytes, 11 characters of base64url
#: How long ``/wsc`` and the wait URL hold a client with nothing new (MEGA's SDK gives
#: up on a silent channel after 40 s: ``HttpIO::SCREQUESTTIMEOUT``).
DEFAULT_HOLD_SECONDS = 20.0


def encode_sn(sequence: int) -> str:
    return base64_url_encode(sequence.to_bytes(SN_BYTES, "big"))


def decode_sn(sn: object) -> int:
    """The sequence number behind an ``sn``; ``-2`` (EARGS) if it is not one."""
    return int.from_bytes(decode_binary(sn, SN_BYTES), "big")


@dataclass
class _Channel:
    """One account's recent changes: (sequence number, packets) pairs, oldest first."""

    sequence: int = 1
    oldest_kept: int = 1  # a client at this sequence number or later can catch up
    changes: deque[tuple[int, list[Packet]]] = field(
        default_factory=lambda: deque(maxlen=KEPT_CHANGES)
    )


class ActionPackets:
    """Every account's channel, guarded by the cloud's lock (passed in), so a change and
    its packets are recorded together; waiting clients are woken when packets arrive."""

    def __init__(self, lock: threading.RLock):
        self._changed = threading.Condition(lock)
        self._channels: dict[str, _Channel] = {}
        self.hold_seconds = DEFAULT_HOLD_SECONDS

    def current_sn(self, account: str) -> str:
        """The ``sn`` a client that has just read the whole tree is at."""
        with self._changed:
            return encode_sn(self._channel(account).sequence)

    def record(self, account: str, packets: list[Packet]) -> None:
        """One change of ``account``'s tree: its packets, under a new sequence number."""
        with self._changed:
            channel = self._channel(account)
            channel.sequence += 1
            channel.changes.append((channel.sequence, packets))
            channel.oldest_kept = channel.changes[0][0] - 1
            self._changed.notify_all()

    def since(self, account: str, sn: object) -> tuple[list[Packet], str]:
        """The packets after ``sn`` and the ``sn`` they bring the client to.

        ``-2`` for an ``sn`` this account never had, ``-6`` for one too old to catch up.
        """
        sequence = decode_sn(sn)
        with self._changed:
            channel = self._channel(account)
            if sequence > channel.sequence:
                raise ApiError(EARGS)
            if sequence < channel.oldest_kept:
                raise ApiError(ETOOMANY)
            packets = [p for number, batch in channel.changes if number > sequence for p in batch]
            return packets, encode_sn(channel.sequence)

    def wait(self, account: str, sn: object, seconds: float) -> bool:
        """Hold until ``account`` has changed since ``sn``, at most ``seconds``; whether it
        has. Raises as :meth:`since` does."""
        sequence = decode_sn(sn)
        with self._changed:
            return self._changed.wait_for(
                lambda: self._channel(account).sequence != sequence, timeout=seconds
            )

    def forget(self) -> None:
        """The nodes were reset behind the clients' backs: every ``sn`` handed out so far
        is made too old, so that its client gets ``-6`` and reloads its tree."""
        with self._changed:
            for channel in self._channels.values():
                channel.changes.clear()
                channel.sequence += 1
                channel.oldest_kept = channel.sequence
            self._changed.notify_all()

    def _channel(self, account: str) -> _Channel:
        return self._channels.setdefault(account, _Channel())


def wait_token(account: str, sn: str) -> str:
    """The last part of the wait URL (``w``) handed to a client at ``sn``: whose channel
    and from where, so the URL works without a session id, as MEGA's do."""
    return base64_url_encode(base64_url_decode(account) + base64_url_decode(sn))


def parse_wait_token(token: str) -> tuple[str, str]:
    """``(account handle, sn)`` from a wait token; ``-2`` (EARGS) if it is not one."""
    raw = decode_binary(token, 2 * SN_BYTES)
    return base64_url_encode(raw[:SN_BYTES]), base64_url_encode(raw[SN_BYTES:])
