"""MEGA's failures: which ones to retry, and what a person is told about the rest.

Inside this package MEGA errors travel as ``MegaApiError`` (a negative code) or as the
transport errors of ``requests``; ``storage_error`` turns any of them into the typed
StorageError the rest of Paimon understands, with a message written for a person.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import requests
from mega.errors import _CODE_TO_DESCRIPTIONS
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_attempt,
    wait_random_exponential,
)

from paimon.storage.base import QuotaExceeded, StorageAuthError, StorageError, StorageUnavailable
from paimon.storage.mega.codes import (
    EACCESS,
    EBLOCKED,
    EEXPIRED,
    EOVERQUOTA,
    ESID,
    TRANSIENT_CODES,
)
from paimon.storage.mega.hashcash import HashcashError

T = TypeVar("T")
log = logging.getLogger(__name__)


class MegaApiError(Exception):
    """MEGA answered with a negative error code."""

    def __init__(self, code: int):
        self.code = code
        name, description = _CODE_TO_DESCRIPTIONS.get(code, ("EUNKNOWN", "unknown error"))
        super().__init__(f"MEGA error {code} ({name}): {description}")


class LoginRejected(MegaApiError):
    """The login itself failed: the account or password is wrong, or the account blocked."""


class MfaRequired(LoginRejected):
    """The account has two-factor authentication and no TOTP secret is configured."""


class MfaCodeRejected(LoginRejected):
    """The account has two-factor authentication and refused the code we sent."""


class ServerError(Exception):
    """MEGA answered with HTTP 5xx or a reply that is not MEGA's (a proxy's error page)."""

    def __init__(self, status: int, detail: str = ""):
        self.status = status
        super().__init__(f"MEGA answered HTTP {status}{f': {detail}' if detail else ''}")


#: A dropped or stalled connection: the request may be repeated.
_TRANSPORT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
)


def describe(exc: BaseException | None) -> str:
    """A failure in words, without the URL requests puts in its messages (it holds the sid)."""
    if isinstance(exc, (MegaApiError, ServerError)):
        return str(exc)
    if isinstance(exc, requests.HTTPError) and exc.response is not None:
        return f"HTTP {exc.response.status_code}"
    return type(exc).__name__


def is_transient(exc: BaseException) -> bool:
    """True for failures that a later identical attempt may not repeat."""
    if isinstance(exc, MegaApiError):
        return exc.code in TRANSIENT_CODES
    return isinstance(exc, (ServerError, *_TRANSPORT_ERRORS))


def _log_retry(state: RetryCallState) -> None:
    failure = state.outcome.exception() if state.outcome else None
    wait = state.next_action.sleep if state.next_action else 0.0
    log.warning(
        "MEGA attempt %d failed (%s); retrying in %.2f s",
        state.attempt_number,
        describe(failure),
        wait,
    )


@dataclass(frozen=True)
class RetryPolicy:
    """Bounded exponential backoff with full jitter, for API commands and upload ranges.

    Attempt n waits a random time up to ``min(max_wait, initial_wait * 2**n)``; tests pass
    tiny waits so fault scenarios run in milliseconds.
    """

    attempts: int = 6
    initial_wait: float = 0.5
    max_wait: float = 30.0

    def call(self, operation: Callable[..., T], *args: object) -> T:
        """Run ``operation``, retrying transient failures; the last failure is re-raised."""
        retrying = Retrying(
            retry=retry_if_exception(is_transient),
            before_sleep=_log_retry,
            stop=stop_after_attempt(self.attempts),
            wait=wait_random_exponential(multiplier=self.initial_wait, max=self.max_wait),
            reraise=True,
        )
        return retrying(operation, *args)


UNAVAILABLE = "MEGA is not answering or keeps asking us to slow down; try again in a few minutes."
SESSION_REFUSED = (
    "MEGA refused the session twice in a row, right after a fresh login (ESID); the "
    "upload is tried again later, with a new login."
)
BAD_CREDENTIALS = (
    "MEGA rejected the configured e-mail or password; check PAIMON_MEGA_EMAIL and "
    "PAIMON_MEGA_PASSWORD."
)
MFA_REQUIRED = (
    "The MEGA account has two-factor authentication: set PAIMON_MEGA_TOTP_SECRET to its "
    "base32 secret (shown when 2FA was enabled)."
)
MFA_REJECTED = (
    "MEGA refused the two-factor code made from PAIMON_MEGA_TOTP_SECRET; check the secret "
    "and this machine's clock."
)
BLOCKED = "MEGA has blocked the configured account; log in on mega.nz to see why."
OVER_QUOTA = (
    "The MEGA account is out of storage space; free some space or upgrade the plan, then try again."
)
ACCESS_DENIED = "MEGA denied access to the upload folder or file (error -11, EACCESS)."


#: What ``storage_error`` translates; anything else is a bug and propagates as is.
MEGA_FAILURES = (
    MegaApiError,
    ServerError,
    HashcashError,
    requests.RequestException,
)


def storage_error(exc: Exception) -> StorageError:
    """The StorageError a person should see for one of ``MEGA_FAILURES``."""
    if is_transient(exc) or (isinstance(exc, MegaApiError) and exc.code == EEXPIRED):
        return StorageUnavailable(UNAVAILABLE)
    if isinstance(exc, MegaApiError) and exc.code == ESID:
        # Refused again right after a fresh login: MEGA's side, for now; the next
        # attempt logs in again, and that has worked every time it was tried.
        return StorageUnavailable(SESSION_REFUSED)
    if isinstance(exc, HashcashError):
        return StorageUnavailable(f"{exc}; try again in a few minutes.")
    if isinstance(exc, MegaApiError):
        if exc.code == EBLOCKED:
            return StorageAuthError(BLOCKED)
        if isinstance(exc, MfaRequired):
            return StorageAuthError(MFA_REQUIRED)
        if isinstance(exc, MfaCodeRejected):
            return StorageAuthError(MFA_REJECTED)
        if isinstance(exc, LoginRejected):
            return StorageAuthError(BAD_CREDENTIALS)
        if exc.code == EOVERQUOTA:
            return QuotaExceeded(OVER_QUOTA)
        if exc.code == EACCESS:
            return StorageError(ACCESS_DENIED)
        return StorageError(f"MEGA refused the request: {describe(exc)}.")
    return StorageError(f"MEGA could not be reached properly ({describe(exc)}).")
