"""mega.py's login and API commands, made fit for a server.

``MegaClient`` subclasses ``mega.Mega`` and keeps its login code (v1 and v2 accounts, RSA
session ids). It replaces the transport: the API base comes from settings, every request
goes over one keep-alive ``requests.Session``, transient failures get bounded backoff
instead of mega.py's endless ``-3`` loop, and an expired session (``-15``) triggers one
fresh login. The session is the instance's (``session.SessionStore``): shared by its
workers and kept across restarts. Accounts with 2FA get the current TOTP code.
A request MEGA answers with HTTP 402 and a hashcash challenge is solved and sent again.
"""

from __future__ import annotations

import itertools
import json
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pyotp
import requests
from mega import Mega
from mega.crypto import a32_to_base64, base64_url_encode, encrypt_attr, encrypt_key, str_to_a32
from pydantic import SecretStr

from paimon.observability.metrics import (
    MEGA_HASHCASH_CHALLENGES,
    MEGA_HASHCASH_SECONDS,
    count_mega_api_error,
)
from paimon.storage.mega import hashcash
from paimon.storage.mega.codes import EBLOCKED, EMFAREQUIRED, ENOENT, ESID
from paimon.storage.mega.errors import (
    LoginRejected,
    MegaApiError,
    MfaCodeRejected,
    MfaRequired,
    RetryPolicy,
    ServerError,
    storage_error,
)
from paimon.storage.mega.session import SavedSession, SessionStore

log = logging.getLogger(__name__)

T = TypeVar("T")
#: (connect, read) seconds for API commands; mega.py waits up to 160 s for a reply.
API_TIMEOUT = (10.0, 160.0)
FILE = 0
FOLDER = 1
EXPORT_USER = "EXP"  # the pseudo-user a folder is shared with to export it (megajs, SDK)
JOB_ATTRIBUTE = "paimon_job"  # in a file node's encrypted attributes: the job it is for
#: Challenges answered for one request before giving up (MEGA sends one per request).
MAX_CHALLENGES = 3


class MegaClient(Mega):
    """One MEGA account's session, shared by the threads of a process."""

    def __init__(
        self,
        api_url: str,
        email: str,
        password: SecretStr,
        *,
        retry: RetryPolicy | None = None,
        totp_secret: SecretStr | None = None,
        store: SessionStore | None = None,
        hashcash_budget: float = hashcash.DEFAULT_BUDGET_SECONDS,
    ):
        super().__init__()
        self.api_url = api_url.rstrip("/")
        self.retry = retry or RetryPolicy()
        self.hashcash_budget = hashcash_budget
        self._email = email
        self._password = password
        self._totp_secret = totp_secret
        self.store = store
        self._login_lock = threading.Lock()
        self._logging_in = threading.local()
        self._proofs = threading.local()  # this thread's solved challenges: count, seconds
        self._pid: int | None = None
        self._sequence = itertools.count(secrets.randbits(32))
        self.session = requests.Session()

    # Transport -----------------------------------------------------------------------

    def _api_request(self, data: dict[str, Any] | list[dict[str, Any]]) -> Any:
        """Send commands to ``<api_url>/cs``; retry transient failures, raise the rest.

        Overrides mega.py's version, which retries ``-3`` forever. Retries keep the same
        sequence number, which is how MEGA recognises a repeated request.
        """
        commands = data if isinstance(data, list) else [data]
        params: dict[str, Any] = {"id": next(self._sequence)}
        if getattr(self._logging_in, "active", False):
            commands = [self._with_mfa(command) for command in commands]
        elif self.sid:
            params["sid"] = self.sid
        reply = self.retry.call(self._post_commands, params, json.dumps(commands))
        return reply[0] if isinstance(reply, list) else reply

    def _with_mfa(self, command: dict[str, Any]) -> dict[str, Any]:
        """mega.py's ``us`` plus the current TOTP code, for accounts with 2FA."""
        if self._totp_secret is None or command.get("a") != "us":
            return command
        return {**command, "mfa": pyotp.TOTP(self._totp_secret.get_secret_value()).now()}

    def _post_commands(self, params: dict[str, Any], body: str) -> Any:
        headers: dict[str, str] = {}
        for attempt in itertools.count():
            response = self.session.post(
                f"{self.api_url}/cs", params=params, data=body, headers=headers, timeout=API_TIMEOUT
            )
            challenge = response.headers.get("X-Hashcash") if response.status_code == 402 else None
            if challenge is None:
                break
            if attempt == MAX_CHALLENGES:
                raise hashcash.HashcashError(
                    f"MEGA refused {MAX_CHALLENGES} proofs of work in a row for one request"
                )
            headers["X-Hashcash"] = self._prove_work(challenge)
        if response.status_code >= 500:
            raise ServerError(response.status_code)
        response.raise_for_status()
        try:
            reply = response.json()
        except ValueError:
            raise ServerError(response.status_code, "the reply is not JSON") from None
        code = reply[0] if isinstance(reply, list) and reply else reply
        if isinstance(code, int) and code < 0:
            count_mega_api_error(code)
            raise MegaApiError(code)
        return reply

    def _prove_work(self, header: str) -> str:
        """The ``X-Hashcash`` answer to a challenge header; counted, timed, never logged."""
        challenge = hashcash.Challenge.parse(header)
        started = time.monotonic()
        try:
            prefix = hashcash.solve(challenge, budget_seconds=self.hashcash_budget)
        except hashcash.HashcashError:
            MEGA_HASHCASH_CHALLENGES.labels("failed").inc()
            raise
        finally:
            elapsed = time.monotonic() - started
            MEGA_HASHCASH_SECONDS.observe(elapsed)
        MEGA_HASHCASH_CHALLENGES.labels("solved").inc()
        self._proofs.count = getattr(self._proofs, "count", 0) + 1
        self._proofs.seconds = getattr(self._proofs, "seconds", 0.0) + elapsed
        return hashcash.answer_header(challenge.token, prefix)

    # Session -------------------------------------------------------------------------

    def ensure_login(self) -> None:
        """Have a session in this process (never at import time): the instance's saved
        one, or a fresh login.

        A forked worker does not inherit its parent's connections; it reads the session
        from the store like any other worker.
        """
        if self.sid and self._pid == os.getpid():
            return
        with self._login_lock:
            if self.sid and self._pid == os.getpid():
                return
            if self._pid is not None and self._pid != os.getpid():
                self.session = requests.Session()
            self._establish(stale_sid=None)

    def _rejection(self, code: int) -> MegaApiError:
        """The error a failed login with MEGA's ``code`` raises."""
        if code == EMFAREQUIRED:
            return MfaCodeRejected(code) if self._totp_secret else MfaRequired(code)
        if code in (ENOENT, EBLOCKED):
            return LoginRejected(code)
        return MegaApiError(code)

    def _relogin(self, stale_sid: str | None) -> None:
        with self._login_lock:
            if self.sid == stale_sid:  # another thread may have done it already
                log.info("MEGA session expired; logging in again")
                self._establish(stale_sid)

    def _establish(self, stale_sid: str | None) -> None:
        """Adopt the saved session unless it is ``stale_sid``; else log in and save it.

        Under the store's lock, so the workers of an instance log in once between them.
        """
        if self.store is None:
            self._login()
            return
        credentials = self._credentials()
        with self.store.locked():
            saved = self.store.load(credentials)
            if saved is not None and saved.sid != stale_sid:
                self.sid, self.master_key = saved.sid, list(saved.master_key)
                self._pid = os.getpid()
                return
            if (wait := self.store.login_wait(credentials)) > 0:
                if (code := self.store.last_error()) is not None:
                    raise self._rejection(code)  # MEGA's answer of less than a minute ago
                log.info("Waiting %.0f s to log in to MEGA again (one login a minute)", wait)
                time.sleep(wait)
            try:
                self._login()
            except MegaApiError as exc:  # MEGA saw the attempt: it counts
                self.store.record(credentials, None, exc.code)
                raise
            session = SavedSession(str(self.sid), tuple(self.master_key))
            self.store.record(credentials, session)

    def _credentials(self) -> tuple[str, ...]:
        """What the saved session was made with; a change means a fresh login."""
        totp = self._totp_secret.get_secret_value() if self._totp_secret else ""
        return (self.api_url, self._email.lower(), self._password.get_secret_value(), totp)

    def _login(self) -> None:
        """Fresh login with mega.py's code; its commands carry no (stale) session id."""
        log.info("Logging in to MEGA as %s", self._email)
        self._logging_in.active = True
        self._proofs.count, self._proofs.seconds = 0, 0.0
        try:
            self._login_user(self._email, self._password.get_secret_value())
        except MegaApiError as exc:
            rejection = self._rejection(exc.code)
            if isinstance(rejection, MfaRequired | MfaCodeRejected):
                log.error("%s", storage_error(rejection).message)
            raise rejection from None
        finally:
            self._logging_in.active = False
        if not self.sid:
            raise LoginRejected(ENOENT)
        if self._proofs.count:
            log.info(
                "The MEGA login needed a proof of work: %d challenge(s) solved in %.1f s",
                self._proofs.count,
                self._proofs.seconds,
            )
        self._pid = os.getpid()

    def with_session(self, operation: Callable[[], T]) -> T:
        """Run ``operation`` logged in; on ``-15`` log in again once and repeat it."""
        self.ensure_login()
        sid = self.sid
        try:
            return operation()
        except MegaApiError as exc:
            if exc.code != ESID:
                raise
        self._relogin(sid)
        return operation()

    def call(self, command: dict[str, Any]) -> Any:
        """One API command with a valid session; its result, or MegaApiError."""
        return self.with_session(lambda: self._api_request(command))

    def _init_shared_keys(self, files: dict[str, Any], shared_keys: dict[str, Any]) -> None:
        """mega.py's, without the export pseudo-user's shares (folder links): for those,
        mega.py would decrypt the folder's own key, wrapped with the master key, with the
        share key, and lose the folder's name."""
        shares = [s for s in files.get("s", []) if s.get("u") != EXPORT_USER]
        super()._init_shared_keys({**files, "s": shares}, shared_keys)

    # Commands ------------------------------------------------------------------------

    def find_or_create_folder(self, name: str, parent: str | None = None) -> str:
        """Handle of the folder ``name`` directly under ``parent`` (default: the Cloud
        Drive root)."""
        nodes = self.with_session(self.get_files)  # decrypts names; sets self.root_id
        parent = parent or self.root_id
        for handle, node in nodes.items():
            if node["t"] == FOLDER and node["p"] == parent and node["a"]["n"] == name:
                return handle
        return self.create_folder_node(name, parent)

    def create_folder_node(self, name: str, parent: str) -> str:
        """Create a folder keyed from ``secrets`` (mega.py's ``_mkdir`` uses ``random``)."""
        key = tuple(secrets.randbits(32) for _ in range(4))
        handle = self._put_node(parent, "xxxxxxxx", FOLDER, name, key, key)
        log.info("Created MEGA folder %r", name)
        return handle

    def create_file_node(
        self,
        parent: str,
        completion_handle: str,
        name: str,
        key: tuple[int, ...],
        job_id: str | None = None,
    ) -> str:
        """Turn an uploaded blob into a file node named ``name``, carrying ``job_id`` in
        its encrypted attributes (other clients ignore the extra field); its handle."""
        attribute_key = tuple(key[i] ^ key[i + 4] for i in range(4))
        extra = {JOB_ATTRIBUTE: job_id} if job_id is not None else {}
        return self._put_node(parent, completion_handle, FILE, name, attribute_key, key, extra)

    def find_job_node(
        self, parent: str, job_id: str
    ) -> tuple[str, str, int, tuple[int, ...]] | None:
        """The file node under ``parent`` whose attributes carry ``job_id``: its handle,
        name, size and node key; None if there is none."""
        nodes = self.with_session(self.get_files)  # decrypts attributes and keys
        for handle, node in nodes.items():
            attributes = node.get("a") or {}
            if (
                node["t"] == FILE
                and node["p"] == parent
                and attributes.get(JOB_ATTRIBUTE) == job_id
            ):
                return handle, attributes.get("n", ""), node["s"], tuple(node["key"])
        return None

    def _put_node(
        self,
        parent: str,
        source: str,
        node_type: int,
        name: str,
        attribute_key: tuple[int, ...],
        key: tuple[int, ...],
        extra: dict[str, str] | None = None,
    ) -> str:
        """The ``p`` command: a new node under ``parent``, key wrapped with the master key;
        ``extra`` attributes are encrypted with the name."""
        node = {
            "h": source,
            "t": node_type,
            "a": base64_url_encode(encrypt_attr({"n": name, **(extra or {})}, attribute_key)),
            "k": a32_to_base64(encrypt_key(key, self.master_key)),
        }
        reply = self.call({"a": "p", "t": parent, "n": [node]})
        return reply["f"][0]["h"]

    def export_folder(self, handle: str) -> str:
        """The public link of folder ``handle``, as MEGA's SDK and megajs make it: a new
        share key, wrapped with the master key (``ok``), the folder handle twice under it
        (``ha``), and every node of the folder's tree keyed under the share key (``cr``)
        for ``s2`` to the export pseudo-user ``EXP``; then ``l`` for the public handle.
        The link is ``https://mega.nz/folder/<public handle>#<share key>``."""
        nodes = self.with_session(self.get_files)  # decrypted node keys
        tree = [handle, *_descendants(nodes, handle)]
        share_key = tuple(secrets.randbits(32) for _ in range(4))
        keyed: list[object] = []
        for index, node in enumerate(tree):
            keyed += [0, index, a32_to_base64(encrypt_key(tuple(nodes[node]["key"]), share_key))]
        self.call(
            {
                "a": "s2",
                "n": handle,
                "s": [{"u": EXPORT_USER, "r": 0}],
                "ok": a32_to_base64(encrypt_key(share_key, self.master_key)),
                "ha": a32_to_base64(encrypt_key(str_to_a32(handle + handle), self.master_key)),
                "cr": [[handle], tree, keyed],
            }
        )
        return f"https://mega.nz/folder/{self.public_handle(handle)}#{a32_to_base64(share_key)}"

    def public_handle(self, node_handle: str) -> str:
        return self.call({"a": "l", "n": node_handle})


def _descendants(nodes: dict[str, Any], handle: str) -> list[str]:
    """Every node below ``handle``, parents before children."""
    below: list[str] = []
    for child, node in nodes.items():
        if node.get("p") == handle:
            below += [child, *_descendants(nodes, child)]
    return below
