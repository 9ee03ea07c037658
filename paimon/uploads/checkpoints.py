"""Transfer checkpoints kept with the job (``storage.base.Checkpoint``), so that a
transfer taken over by another worker goes on where MEGA stopped acknowledging.

A checkpoint holds what resuming needs, the upload URL and the file key among it: as
sensitive as the spool file, and the job store may be a Redis server elsewhere. So it
is sealed (Fernet: AES and an HMAC) under a key derived from the install's secret,
which stays in the data directory; a checkpoint that does not open (another install's,
or tampered with) is no checkpoint, and the transfer starts over. Only a machine that
holds the spool file resumes a transfer anyway, and it holds the secret too.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import time

from cryptography.fernet import Fernet, InvalidToken

from paimon.jobs.model import Job
from paimon.jobs.store import Fence, JobStore, StateConflict, StoreUnavailable

#: A transfer's checkpoint is written to the job store at most this often (as its
#: progress is): a resumed transfer sends again what was acknowledged in the half
#: second before its worker died, and what was on the wire.
CHECKPOINT_SECONDS = 0.5


class Sealer:
    """Seals checkpoints (or, with another ``purpose``, other secrets the job store
    keeps) under a key of their own, derived from the install secret."""

    def __init__(self, install_secret: bytes, purpose: bytes = b"paimon transfer checkpoints"):
        derived = hmac.new(install_secret, purpose, hashlib.sha256)
        self._fernet = Fernet(base64.urlsafe_b64encode(derived.digest()))

    def seal(self, text: str) -> str:
        return self._fernet.encrypt(text.encode()).decode("ascii")

    def open(self, sealed: str) -> str | None:
        try:
            return self._fernet.decrypt(sealed.encode("ascii")).decode()
        except (InvalidToken, ValueError):
            return None


class JobCheckpoint:
    """One transfer attempt's checkpoint, written to its job under the attempt's lease
    (fenced: a worker that lost the job can never overwrite its successor's)."""

    def __init__(self, store: JobStore, job: Job, fence: Fence, sealer: Sealer):
        self._store, self._job, self._fence, self._sealer = store, job, fence, sealer
        self._pending: str | None = None
        self._written = 0.0  # monotonic

    def load(self) -> str | None:
        sealed = self._job.transfer_state
        return self._sealer.open(sealed) if sealed else None

    def save(self, state: str) -> None:
        self._pending = state
        if time.monotonic() - self._written >= CHECKPOINT_SECONDS:
            self._write()

    def resuming(self, offset: int) -> None:
        self._store.update(self._job.id, fence=self._fence, resumed_from=offset)

    def flush(self) -> None:
        """Write the latest checkpoint, if it waited for its second: the attempt ends
        without the object (handed back, failed). A store that refuses loses only it."""
        if self._pending is not None:
            with contextlib.suppress(StateConflict, StoreUnavailable):
                self._write()

    def _write(self) -> None:
        state, self._pending = self._pending, None
        if state is not None:
            sealed = self._sealer.seal(state)
            self._store.update(self._job.id, fence=self._fence, transfer_state=sealed)
            self._written = time.monotonic()
