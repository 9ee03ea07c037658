"""Folder links: a folder shared with the export pseudo-user (``s2``) and given a public
handle (``l``), which anyone then lists (``f`` with ``?n=<public handle>``) and
downloads from (``g`` with ``n`` = a file's handle and ``?n=``), holding the key.

What a client sends is kept as sent (ciphertext and wrapped keys only): the share key
wrapped with the owner's master key (``ok``), its handle authentication (``ha``), and
each node's key wrapped with the share key (``cr``: ``[[share handles], [node handles],
[share index, node index, wrapped key, ...]]``, as megajs and MEGA's SDK send it). A
folder link's visitor gets each node of the folder's tree with ``k`` =
``<folder handle>:<node key under the share key>``: megajs finds the folder as the node
whose handle is the first part of its ``k``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from paimon.megasim.errors import ApiError
from paimon.megasim.nodes import FOLDER, Node
from paimon.storage.mega.codes import EACCESS, EARGS, ENOENT

#: The pseudo-users a folder is shared with to export it: megajs says "EXP", MEGA's SDK
#: (MegaClient::EXPORTEDLINK) "EXP" too; "EXP0" is accepted as older clients sent it.
EXPORT_USERS = ("EXP", "EXP0")


@dataclass
class Share:
    """A folder's export: the share key wrapped with the owner's master key, its ``ha``,
    when it was made, and the nodes' keys wrapped with the share key."""

    owner_key: str
    handle_auth: str
    created: int
    node_keys: dict[str, str] = field(default_factory=dict)  # node handle -> wrapped key


def read_share(command: dict[str, Any], folder: Node, existing: Share | None) -> Share | None:
    """The folder's share after ``s2`` (None: unshared, ``r`` = "" for every user)."""
    if folder.kind != FOLDER:
        raise ApiError(EACCESS)
    users = command.get("s")
    if not isinstance(users, list) or not users:
        raise ApiError(EARGS)
    if any(not isinstance(u, dict) or u.get("u") not in EXPORT_USERS for u in users):
        raise ApiError(EACCESS)  # sharing with people needs contacts: not emulated
    if all(u.get("r") == "" for u in users):
        return None
    if existing is not None:
        return existing
    owner_key, handle_auth = command.get("ok"), command.get("ha")
    if not isinstance(owner_key, str) or not isinstance(handle_auth, str):
        raise ApiError(EARGS)
    return Share(owner_key, handle_auth, folder.created)


def take_node_keys(share_handle: str, share: Share, crypto_request: object) -> None:
    """Keep the node keys ``cr`` wraps with the share of ``share_handle``."""
    if crypto_request is None:
        return
    if not (isinstance(crypto_request, list) and len(crypto_request) == 3):
        raise ApiError(EARGS)
    shares, nodes, keyed = crypto_request
    if not all(isinstance(part, list) for part in crypto_request) or len(keyed) % 3:
        raise ApiError(EARGS)
    for i in range(0, len(keyed), 3):
        share_index, node_index, wrapped = keyed[i : i + 3]
        try:
            if shares[share_index] == share_handle and isinstance(wrapped, str):
                share.node_keys[str(nodes[node_index])] = wrapped
        except (IndexError, TypeError):
            raise ApiError(EARGS) from None


def visitor_view(node: Node, folder: Node, share: Share) -> dict[str, object]:
    """A node of an exported folder as a folder link's visitor lists it."""
    data = node.to_json()
    data["k"] = f"{folder.handle}:{share.node_keys.get(node.handle, '')}"
    return data


def exported_folder(folder: Node | None, share: Share | None) -> tuple[Node, Share]:
    """The folder behind a folder link's public handle, or ENOENT."""
    if folder is None or share is None or folder.kind != FOLDER:
        raise ApiError(ENOENT)
    return folder, share
