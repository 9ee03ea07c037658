"""The emulated cloud: accounts, sessions, nodes and pending uploads behind one lock.

Every API command is a method here, so the HTTP layer only moves bytes and JSON. The
cloud never sees a plaintext byte or name: nodes keep the ciphertext, attributes and
wrapped keys exactly as clients sent them.
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable, Container, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from mega.crypto import base64_url_encode

from paimon.megasim.accounts import Account, random_handle
from paimon.megasim.actions import ActionPackets, Packet
from paimon.megasim.attributes import FileAttributes
from paimon.megasim.errors import ApiError, decode_binary
from paimon.megasim.folders import Share, exported_folder, read_share, take_node_keys, visitor_view
from paimon.megasim.nodes import CONTAINERS, FILE, FOLDER, INBOX, ROOT, RUBBISH_BIN, Node
from paimon.megasim.uploads import PendingUpload
from paimon.storage.mega.codes import (
    EACCESS,
    EARGS,
    ECIRCULAR,
    EEXPIRED,
    EMFAREQUIRED,
    ENOENT,
    EOVERQUOTA,
    ESID,
)

Command = dict[str, Any]
UPLOAD_TOKEN_BYTES = 24
COMPLETION_HANDLE_BYTES = 20  # 27 base64url characters, like MEGA's text tokens
#: ``u`` with ``v`` >= 2: the completing POST answers this many raw bytes (the SDK's
#: UPLOADTOKENLEN), and ``p`` takes their base64url (48 characters).
BINARY_TOKEN_BYTES = 36


@dataclass
class CallContext:
    """Who is calling (if anyone), with which session, and the base URL their links
    must point at."""

    account: Account | None
    base_url: str
    sid: str | None = None
    folder_link: str | None = None  # ``?n=``: the public handle of a folder link

    def require_account(self) -> Account:
        if self.account is None:
            raise ApiError(ESID)
        return self.account


def _arg(command: Command, name: str, kind: type) -> Any:
    """A command argument of the expected JSON type, or ``-2`` (EARGS)."""
    value = command.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise ApiError(EARGS)
    return value


class Cloud:
    """All emulator state. Methods are thread-safe; blob I/O happens outside the lock."""

    def __init__(self, blob_dir: Path, default_quota: int):
        self.blob_dir = blob_dir
        self.default_quota = default_quota
        self._lock = threading.RLock()
        self._accounts: dict[str, Account] = {}  # by user handle
        self._emails: dict[str, str] = {}  # email -> user handle
        self._sessions: dict[str, str] = {}  # sid -> user handle
        self._nodes: dict[str, Node] = {}
        self._public_handles: dict[str, str] = {}  # public handle -> node handle
        self._shares: dict[str, Share] = {}  # exported folder handle -> its share
        self._download_tokens: dict[str, str] = {}  # download token -> node handle
        self._uploads: dict[str, PendingUpload] = {}  # upload token -> upload
        self._completions: dict[str, str] = {}  # completion handle -> upload token
        self._logins = 0  # successful ``us`` commands since start; never reset
        self.actions = ActionPackets(self._lock)  # the ``/sc`` channel of every account
        self.file_attributes = FileAttributes()  # thumbnails and previews (ciphertext)
        self._commands: dict[str, Callable[[Command, CallContext], object]] = {
            "us0": self._prelogin,
            "us": self._login,
            "up": self._anonymous_signup,
            "ug": self._user_info,
            "uq": self._storage_quota,
            "f": self._fetch_nodes,
            "p": self._put_nodes,
            "u": self._upload_url,
            "l": self._public_link,
            "g": self._download_url,
            "d": self._delete_node,
            "m": self._move_node,
            "sml": self._logout,
            "ufa": self._file_attribute_url,
            "pfa": self._attach_file_attribute,
            "s2": self._share,
        }

    # ---- accounts -------------------------------------------------------------------

    def add_account(self, account: Account) -> None:
        """Register an account with its Cloud Drive, Inbox and Rubbish Bin."""
        with self._lock:
            self._accounts[account.handle] = account
            if account.email is not None:
                self._emails[account.email] = account.handle
            for kind in (ROOT, INBOX, RUBBISH_BIN):
                node = Node(self._new_node_handle(), "", account.handle, kind)
                self._nodes[node.handle] = node

    def set_quota(self, email: str, quota_bytes: int) -> dict[str, object]:
        """Change an account's quota at run time; KeyError for an unknown email."""
        with self._lock:
            account = self._accounts[self._emails[email.lower()]]
            account.quota_bytes = quota_bytes
            return account.public_view()

    # ---- the API --------------------------------------------------------------------

    def execute(
        self,
        sid: str | None,
        commands: list[object],
        base_url: str,
        folder_link: str | None = None,
    ) -> list[object]:
        """Run one ``/cs`` request: each command answers its result or an error code.

        An unknown sid is not an error by itself: commands that need a session answer
        ``-15``, while logins still work, as a stale client must be able to log in again.
        """
        with self._lock:
            handle = self._sessions.get(sid) if sid else None
            account = self._accounts.get(handle) if handle else None
            context = CallContext(account, base_url, sid if account else None, folder_link)
            return [self._execute_one(command, context) for command in commands]

    def session_account(self, sid: str | None) -> str:
        """The user handle behind a session id; ``-15`` (ESID) if there is none."""
        with self._lock:
            handle = self._sessions.get(sid) if sid else None
            if handle is None:
                raise ApiError(ESID)
            return handle

    def _execute_one(self, command: object, context: CallContext) -> object:
        if not isinstance(command, dict):
            return EARGS
        action = command.get("a")
        handler = self._commands.get(action) if isinstance(action, str) else None
        if handler is None:
            return EARGS
        try:
            return handler(command, context)
        except ApiError as error:
            return error.code

    def _registered_account(self, command: Command) -> Account:
        handle = self._emails.get(_arg(command, "user", str).lower())
        if handle is None:
            raise ApiError(ENOENT)
        return self._accounts[handle]

    def _prelogin(self, command: Command, context: CallContext) -> object:
        account = self._registered_account(command)
        if account.salt is None:
            return {"v": 1}
        return {"v": 2, "s": base64_url_encode(account.salt)}

    def _login(self, command: Command, context: CallContext) -> object:
        user = _arg(command, "user", str)
        anonymous = self._accounts.get(user)
        if anonymous is not None and anonymous.kind == "anonymous":
            account = anonymous
        else:
            account = self._registered_account(command)
            if command.get("uh") != account.user_hash:
                raise ApiError(ENOENT)
            if not account.accepts_mfa(command.get("mfa")):
                raise ApiError(EMFAREQUIRED)
        sid, reply = account.login_reply()
        self._sessions[sid] = account.handle
        self._logins += 1
        return reply

    def _anonymous_signup(self, command: Command, context: CallContext) -> object:
        wrapped_master_key = _arg(command, "k", str)
        challenge = _arg(command, "ts", str)
        decode_binary(challenge, 32)  # 16 random bytes and them wrapped: -2 if not
        account = Account.anonymous(wrapped_master_key, challenge, self.default_quota)
        self.add_account(account)
        return account.handle

    def _logout(self, command: Command, context: CallContext) -> object:
        """``sml`` (the SDK's CommandLogout, megajs's ``close``): the session ends."""
        context.require_account()
        del self._sessions[context.sid]
        return 0

    def _user_info(self, command: Command, context: CallContext) -> object:
        """``ug``, with what the SDK's CommandGetUserData reads beyond ``u``: the login
        version (``aav``) and v2 salt (``aas``), and for accounts with an RSA key the
        public key (``pubk``) and the private key wrapped with the master key (``privk``)."""
        account = context.require_account()
        info: dict[str, object] = {
            "u": account.handle,
            "since": account.created,
            "k": account.wrapped_master_key,
        }
        if account.email is not None:
            info["email"] = account.email
        if account.kind != "anonymous":
            info["aav"] = 2 if account.salt is not None else 1
        if account.salt is not None:
            info["aas"] = base64_url_encode(account.salt)
        if account.public_key is not None:
            info["pubk"] = account.public_key
            info["privk"] = account.wrapped_private_key
        return info

    def _storage_quota(self, command: Command, context: CallContext) -> object:
        account = context.require_account()
        return {"mstrg": account.quota_bytes, "cstrg": account.used_bytes}

    def _fetch_nodes(self, command: Command, context: CallContext) -> object:
        if "p" in command:  # a public handle's node, as mega.py's delete_url asks for it
            return {"f": [self._public_node(command).to_json()]}
        if context.folder_link is not None:  # a folder link's tree, keyed for its visitor
            folder, share = self._folder_link(context)
            return {"f": [visitor_view(node, folder, share) for node in self._subtree(folder)]}
        account = context.require_account()
        owned = [node for node in self._nodes.values() if node.owner == account.handle]
        shares = {h: s for h, s in self._shares.items() if self._nodes[h].owner == account.handle}
        return {
            "f": [node.to_json() for node in owned],
            # The account's exported folders: share keys, and the export pseudo-user.
            "ok": [{"h": h, "k": s.owner_key, "ha": s.handle_auth} for h, s in shares.items()],
            "s": [{"h": h, "u": "EXP", "r": 0, "ts": s.created} for h, s in shares.items()],
            # Exported nodes, as the SDK's procph and megajs read them.
            "ph": [node.link_json() for node in owned if node.public_handle is not None],
            # Where this client's /sc channel starts: the SDK fails a reply without it.
            "sn": self.actions.current_sn(account.handle),
        }

    def _put_nodes(self, command: Command, context: CallContext) -> object:
        account = context.require_account()
        parent = self._own_node(account, _arg(command, "t", str))
        if parent.kind not in CONTAINERS:
            raise ApiError(EARGS)
        requested = _arg(command, "n", list)
        if not requested:
            raise ApiError(EARGS)
        planned = [self._plan_node(account, item) for item in requested]
        uploads = [upload for _, upload in planned if upload is not None]
        if len({upload.token for upload in uploads}) != len(uploads):
            raise ApiError(EARGS)
        if account.used_bytes + sum(upload.size for upload in uploads) > account.quota_bytes:
            raise ApiError(EOVERQUOTA)
        created = [self._create_node(account, parent, item, upload) for item, upload in planned]
        self._announce(account, command, _new_nodes(account, created))
        return {"f": [node.to_json() for node in created]}

    def _plan_node(self, account: Account, item: object) -> tuple[Command, PendingUpload | None]:
        """Validate one requested node before any is created, so ``p`` is all or nothing."""
        if not isinstance(item, dict) or _arg(item, "t", int) not in (FILE, FOLDER):
            raise ApiError(EARGS)
        _arg(item, "a", str)
        _arg(item, "k", str)
        return item, self._completed_upload(account, item) if item["t"] == FILE else None

    def _create_node(
        self, account: Account, parent: Node, item: Command, upload: PendingUpload | None
    ) -> Node:
        node = Node(
            self._new_node_handle(), parent.handle, account.handle, item["t"], item["a"], item["k"]
        )
        if upload is not None:
            node.size, node.blob = upload.size, upload.blob
            del self._uploads[upload.token]
            del self._completions[item["h"]]
            account.used_bytes += upload.size
        self._nodes[node.handle] = node
        return node

    def _completed_upload(self, account: Account, item: Command) -> PendingUpload:
        token = self._completions.get(_arg(item, "h", str))
        upload = self._uploads.get(token) if token else None
        if upload is None or upload.owner != account.handle:
            raise ApiError(ENOENT)
        return upload

    def _upload_url(self, command: Command, context: CallContext) -> object:
        account = context.require_account()
        size = _arg(command, "s", int)
        version = command.get("v", 1)
        if size < 0 or not isinstance(version, int) or isinstance(version, bool):
            raise ApiError(EARGS)
        if account.used_bytes + size > account.quota_bytes:
            raise ApiError(EOVERQUOTA)
        token = base64_url_encode(secrets.token_bytes(UPLOAD_TOKEN_BYTES))
        blob = self.blob_dir / f"{token}.blob"
        self._uploads[token] = PendingUpload(
            token, account.handle, size, blob, binary_token=version >= 2
        )
        return {"p": f"{context.base_url}/ul/{token}"}

    def _public_link(self, command: Command, context: CallContext) -> object:
        account = context.require_account()
        node = self._own_node(account, _arg(command, "n", str))
        if node.kind not in (FILE, FOLDER):
            raise ApiError(EACCESS)
        if command.get("d"):
            if node.public_handle is not None:
                removed = {"a": "ph", "h": node.handle, "ph": node.public_handle, "d": 1}
                self._announce(account, command, [removed])
                del self._public_handles[node.public_handle]
                node.public_handle = node.link_created = None
            return 0
        if node.public_handle is None:
            node.public_handle = self._unique_handle(6, self._public_handles)
            node.link_created = int(time.time())
            self._public_handles[node.public_handle] = node.handle
            self._announce(account, command, [{"a": "ph", **node.link_json(), "n": 1}])
        return node.public_handle

    def _download_url(self, command: Command, context: CallContext) -> object:
        if "p" in command:
            node = self._public_node(command)
        elif context.folder_link is not None:  # a file of a folder link's tree
            folder, _ = self._folder_link(context)
            node = self._nodes.get(_arg(command, "n", str))  # type: ignore[assignment]
            if node is None or all(n is not node for n in self._subtree(folder)):
                raise ApiError(ENOENT)
        else:
            node = self._own_node(context.require_account(), _arg(command, "n", str))
        if node.kind != FILE:
            raise ApiError(ENOENT)
        reply: dict[str, object] = {"s": node.size, "at": node.attributes}
        if node.file_attributes:
            reply["fa"] = node.file_attributes
        if command.get("g"):
            if node.download_token is None:
                node.download_token = self._unique_handle(UPLOAD_TOKEN_BYTES, self._download_tokens)
                self._download_tokens[node.download_token] = node.handle
            reply["g"] = f"{context.base_url}/dl/{node.download_token}"
        return reply

    def _file_attribute_url(self, command: Command, context: CallContext) -> object:
        """``ufa``: where to POST a file attribute (``s``: its size), or, with ``fah``,
        where to POST handles to read attributes back (the SDK's CommandGetFA)."""
        if "fah" in command:
            token = self.file_attributes.read_token(_arg(command, "fah", str))
        else:
            context.require_account()
            token = self.file_attributes.upload_token(_arg(command, "s", int))
        return {"p": f"{context.base_url}/fa/{token}"}

    def _attach_file_attribute(self, command: Command, context: CallContext) -> object:
        """``pfa``: name an uploaded attribute in the node's ``fa``; answers the new
        ``fa`` (the SDK's CommandAttachFA) and tells the account's other clients."""
        account = context.require_account()
        node = self._own_node(account, _arg(command, "n", str))
        if node.kind != FILE:
            raise ApiError(EACCESS)
        node.file_attributes = self.file_attributes.attach(
            node.file_attributes, _arg(command, "fa", str)
        )
        self._announce(
            account, command, [{"a": "fa", "n": node.handle, "fa": node.file_attributes}]
        )
        return node.file_attributes

    def _share(self, command: Command, context: CallContext) -> object:
        """``s2`` to the export pseudo-user: a folder link's share (folders.py)."""
        account = context.require_account()
        folder = self._own_node(account, _arg(command, "n", str))
        share = read_share(command, folder, self._shares.get(folder.handle))
        if share is None:
            self._shares.pop(folder.handle, None)
            return 0
        take_node_keys(folder.handle, share, command.get("cr"))
        self._shares[folder.handle] = share
        return 0

    def _folder_link(self, context: CallContext) -> tuple[Node, Share]:
        handle = self._public_handles.get(context.folder_link or "")
        node = self._nodes.get(handle) if handle else None
        return exported_folder(node, self._shares.get(handle or ""))

    def _delete_node(self, command: Command, context: CallContext) -> object:
        account = context.require_account()
        node = self._own_node(account, _arg(command, "n", str))
        if node.kind not in (FILE, FOLDER):
            raise ApiError(EACCESS)
        for doomed in list(self._subtree(node)):
            self._remove_node(doomed)
        self._announce(account, command, [{"a": "d", "n": node.handle, "ou": account.handle}])
        return 0

    def _move_node(self, command: Command, context: CallContext) -> object:
        account = context.require_account()
        node = self._own_node(account, _arg(command, "n", str))
        target = self._own_node(account, _arg(command, "t", str))
        if node.kind not in (FILE, FOLDER):
            raise ApiError(EACCESS)
        if target.kind not in CONTAINERS:
            raise ApiError(EARGS)
        if any(descendant is target for descendant in self._subtree(node)):
            raise ApiError(ECIRCULAR)
        node.parent = target.handle
        # A move is a deletion marked "m" followed by the subtree anew under its new
        # parent (the SDK's sc_deltree keeps the node for the "t" that follows).
        moved = {"a": "d", "n": node.handle, "m": 1, "ou": account.handle}
        self._announce(account, command, [moved, *_new_nodes(account, self._subtree(node))])
        return 0

    # ---- upload and download transfers ----------------------------------------------

    def open_upload_range(self, token: str, offset: int, length: int) -> BinaryIO:
        """Check a chunk POST before its body is read; the blob, open for writing.

        Opened under the lock, so a concurrent reset cannot delete the file in between.
        """
        with self._lock:
            upload = self._uploads.get(token)
            if upload is None or upload.expired:
                raise ApiError(EEXPIRED)
            upload.check_range(offset, length)
            return upload.blob.open("r+b")

    def close_upload_range(self, token: str, offset: int, length: int, confirm: bool) -> bytes:
        """Record a fully written range; the POST's reply body.

        Until all chunks are in: ``0`` if the POST carried the SDK's ``?d=`` checksum
        (``confirm``), else an empty body (``?c=`` or none), as MEGA answers (the SDK's
        commit d074b277a). Then the completion token: 27 characters of base64url text,
        or 36 raw bytes for uploads asked for with ``v``.
        """
        with self._lock:
            upload = self._uploads.get(token)
            if upload is None:  # reset while the body was being written
                raise ApiError(EEXPIRED)
            if not upload.mark_received(offset, length):
                return b"0" if confirm else b""
            if upload.completion_handle is None:
                if upload.binary_token:
                    upload.completion_reply = secrets.token_bytes(BINARY_TOKEN_BYTES)
                    upload.completion_handle = base64_url_encode(upload.completion_reply)
                else:
                    upload.completion_handle = base64_url_encode(
                        secrets.token_bytes(COMPLETION_HANDLE_BYTES)
                    )
                    upload.completion_reply = upload.completion_handle.encode()
                self._completions[upload.completion_handle] = token
            return upload.completion_reply

    def reject_upload_range(self, token: str, offset: int, length: int) -> None:
        """A range whose body did not match its checksum: not received (``-14``)."""
        with self._lock:
            upload = self._uploads.get(token)
            if upload is not None:
                upload.forget_range(offset, length)

    def expire_upload(self, token: str) -> None:
        """From now on the URL answers ``-8``, as MEGA's do once expired."""
        with self._lock:
            upload = self._uploads.get(token)
            if upload is not None:
                upload.expired = True

    def open_download(self, token: str) -> tuple[BinaryIO, int] | None:
        """The stored ciphertext behind a download URL, open, and its size; None if gone."""
        with self._lock:
            handle = self._download_tokens.get(token)
            node = self._nodes.get(handle) if handle else None
            if node is None or node.blob is None:
                return None
            return node.blob.open("rb"), node.size

    # ---- simulator controls ---------------------------------------------------------

    def reset(self, *, nodes: bool, quotas: bool, sessions: bool) -> None:
        """Forget files and folders, restore quotas, and/or end every session."""
        with self._lock:
            if nodes:
                for node in [n for n in self._nodes.values() if n.kind in (FILE, FOLDER)]:
                    self._remove_node(node)
                for upload in self._uploads.values():
                    upload.blob.unlink(missing_ok=True)
                self._uploads.clear()
                self._completions.clear()
                self.actions.forget()
                self.file_attributes.forget()
            if quotas:
                for account in self._accounts.values():
                    account.quota_bytes = self.default_quota
            if sessions:
                self._sessions.clear()

    def snapshot(self) -> dict[str, object]:
        """Everything ``/_sim/state`` shows; never a password, key or hash."""
        with self._lock:
            files = [node for node in self._nodes.values() if node.kind == FILE]
            return {
                "accounts": [account.public_view() for account in self._accounts.values()],
                "nodes": [
                    {**node.to_json(), "public_handle": node.public_handle}
                    for node in self._nodes.values()
                ],
                "bytes_stored": sum(node.size for node in files),
                "pending_uploads": [
                    {
                        "owner": upload.owner,
                        "size": upload.size,
                        "received_bytes": upload.received_bytes,
                        "complete": upload.completion_handle is not None,
                        "expired": upload.expired,
                    }
                    for upload in self._uploads.values()
                ],
                "file_attributes": self.file_attributes.count(),
                "sessions": len(self._sessions),
                "logins": self._logins,
            }

    # ---- helpers --------------------------------------------------------------------

    def _announce(self, account: Account, command: Command, packets: list[Packet]) -> None:
        """Record a change's action packets. A command's ``i`` (the SDK's and
        async-mega-py's client id) comes back right after ``a``, where the SDK looks for
        it to recognise (and skip) the packets of its own changes."""
        client_id = command.get("i")
        if isinstance(client_id, str):
            packets = [{"a": p["a"], "i": client_id, **p} for p in packets]
        self.actions.record(account.handle, packets)

    def _own_node(self, account: Account, handle: str) -> Node:
        node = self._nodes.get(handle)
        if node is None or node.owner != account.handle:
            raise ApiError(ENOENT)
        return node

    def _public_node(self, command: Command) -> Node:
        handle = self._public_handles.get(_arg(command, "p", str))
        if handle is None:
            raise ApiError(ENOENT)
        return self._nodes[handle]

    def _subtree(self, top: Node) -> Iterator[Node]:
        """``top`` and everything below it."""
        yield top
        for child in [node for node in self._nodes.values() if node.parent == top.handle]:
            yield from self._subtree(child)

    @staticmethod
    def _unique_handle(byte_count: int, taken: Container[str]) -> str:
        while (handle := random_handle(byte_count)) in taken:
            pass
        return handle

    def _new_node_handle(self) -> str:
        return self._unique_handle(6, self._nodes)

    def _remove_node(self, node: Node) -> None:
        del self._nodes[node.handle]
        self._shares.pop(node.handle, None)
        if node.public_handle is not None:
            del self._public_handles[node.public_handle]
        if node.download_token is not None:
            del self._download_tokens[node.download_token]
        if node.blob is not None:
            node.blob.unlink(missing_ok=True)
            self._accounts[node.owner].used_bytes -= node.size


def _new_nodes(account: Account, nodes: Iterable[Node]) -> list[Packet]:
    """The ``t`` packet of nodes that appeared, parents before children (``readtree``)."""
    return [{"a": "t", "t": {"f": [node.to_json() for node in nodes]}, "ou": account.handle}]
