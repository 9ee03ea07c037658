"""The emulator's proof-of-work gate: HTTP 402 hashcash challenges, as MEGA sends them.

Off by default. ``POST /_sim/hashcash`` turns it on for login commands (``us0``, ``us``) or
for every ``/cs`` request. A request passes only with a valid answer to a challenge this
gate issued and nobody used yet; anything else gets a fresh challenge.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections import OrderedDict

from mega.crypto import base64_url_encode

from paimon.storage.mega import hashcash

LOGIN_COMMANDS = frozenset({"us0", "us"})
#: Outstanding challenges remembered; older ones are forgotten (their answers then fail).
MAX_OUTSTANDING = 1024


class HashcashGate:
    """Which requests must carry a proof of work, and the challenges still unanswered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.easiness: int | None = None
        self.all_requests = False
        self._issued: OrderedDict[str, int] = OrderedDict()  # token -> easiness
        self.challenges = 0
        self.accepted = 0

    def configure(self, easiness: object, all_requests: object) -> dict[str, object]:
        """Validate and apply a ``/_sim/hashcash`` request; ValueError if malformed."""
        if easiness is not None and (
            not isinstance(easiness, int) or isinstance(easiness, bool) or not 0 <= easiness <= 255
        ):
            raise ValueError("easiness must be an integer from 0 to 255, or null")
        if not isinstance(all_requests, bool):
            raise ValueError("all must be true or false")
        with self._lock:
            self.easiness, self.all_requests = easiness, all_requests and easiness is not None
            self._issued.clear()
            self.challenges = self.accepted = 0
        return self.view()

    def applies(self, actions: list[object]) -> bool:
        """True if a request with these command names must prove work."""
        if self.easiness is None:
            return False
        return self.all_requests or any(action in LOGIN_COMMANDS for action in actions)

    def admit(self, answer: str | None) -> bool:
        """True (and the challenge is used up) for a valid answer to an issued challenge."""
        parsed = hashcash.parse_answer(answer) if answer else None
        if parsed is None:
            return False
        token, prefix = parsed
        with self._lock:
            easiness = self._issued.pop(token, None)
        if easiness is None or not hashcash.is_valid(token, easiness, prefix):
            return False
        with self._lock:
            self.accepted += 1
        return True

    def challenge(self) -> str:
        """A fresh ``X-Hashcash`` challenge header at the current easiness."""
        token = base64_url_encode(secrets.token_bytes(hashcash.TOKEN_BYTES))
        with self._lock:
            easiness = 0 if self.easiness is None else self.easiness
            self._issued[token] = easiness
            while len(self._issued) > MAX_OUTSTANDING:
                self._issued.popitem(last=False)
            self.challenges += 1
        return hashcash.Challenge(easiness, str(int(time.time())), token).header()

    def view(self) -> dict[str, object]:
        """What ``/_sim/state`` shows (tokens stay private); counts since ``configure``."""
        return {
            "easiness": self.easiness,
            "all": self.all_requests,
            "challenges_issued": self.challenges,
            "solutions_accepted": self.accepted,
        }
