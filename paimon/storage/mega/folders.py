"""The upload folder and the folders below it, found or created on demand and cached.

MEGA lets a folder hold several folders of one name (the SDK's ``CommandPutNodes``
creates one whatever is there), so two uploads into a new folder at once, from two
workers or two instances, could make two. Within a process a lock makes lookups one at
a time. Between processes, every one picks the same folder of a name, the canonical
one: the oldest (MEGA's ``ts``, whole seconds), ties broken by handle. A process that
created one waits SETTLE_SECONDS (past the next whole second), then lists the parent
again: a folder it does not see then was created later, in a later second, so is never
canonical over its own; one it sees is weighed with its own. If its own is not the
canonical one, it deletes its own (empty: no lister ever picked it, as anyone who saw
it also saw the older one) and uses the canonical one.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

from paimon.storage.mega.client import FOLDER, MegaClient
from paimon.storage.mega.codes import ENOENT
from paimon.storage.mega.errors import MegaApiError

log = logging.getLogger(__name__)

#: After creating a folder, wait this long before looking for others of its name: more
#: than a second, MEGA's ``ts`` resolution.
SETTLE_SECONDS = 1.05


class FolderTree:
    """Handles of the upload folder (``root_name``, under the Cloud Drive) and of paths
    below it (``a/b/c``), cached for the life of the process."""

    def __init__(self, client: MegaClient, root_name: str):
        self._client = client
        self._root_name = root_name
        self._handles: dict[str, str] = {}  # "" is the upload folder itself
        self._lock = threading.Lock()

    def handle(self, path: str | None = None, stale: str | None = None) -> str:
        """The folder at ``path`` below the upload folder (None: the upload folder),
        found or created, then cached. ``stale``: a handle MEGA no longer knows (the
        folder was deleted): everything cached is looked up again."""
        key = path or ""
        if stale is None and (cached := self._handles.get(key)) is not None:
            return cached  # no lock: a creation under way elsewhere does not hold it up
        with self._lock:
            if stale is not None and stale in self._handles.values():
                self._handles.clear()
            if key not in self._handles:
                self._walk(key)
            return self._handles[key]

    def _walk(self, key: str) -> None:
        """Find (or create) each folder from the upload folder down to ``key``, with one
        listing of the account for the lookups."""
        nodes = self._client.with_session(self._client.get_files)
        parent = self._client.root_id
        names = key.split("/") if key else []
        for depth, name in enumerate([self._root_name, *names]):
            path = "/".join(names[:depth])
            if path in self._handles:
                parent = self._handles[path]
                continue
            found = _canonical(_children_named(nodes, parent, name))
            if found is None:
                found, nodes = self._create(parent, name)
            self._handles[path] = parent = found

    def _create(self, parent: str, name: str) -> tuple[str, dict[str, Any]]:
        """Create ``name`` under ``parent``; then the canonical one of that name there
        (ours, unless another process made one too), and the account's nodes as listed
        after."""
        mine = self._client.create_folder_node(name, parent)
        time.sleep(SETTLE_SECONDS)
        nodes = self._client.with_session(self._client.get_files)
        canonical = _canonical(_children_named(nodes, parent, name)) or mine
        if canonical != mine:
            log.info("Another process created MEGA folder %r too; using its, deleting ours", name)
            try:
                self._client.call({"a": "d", "n": mine})
            except MegaApiError as exc:
                if exc.code != ENOENT:
                    raise
        return canonical, nodes


def _children_named(nodes: dict[str, Any], parent: str, name: str) -> list[tuple[int, str]]:
    """(``ts``, handle) of the folders called ``name`` directly under ``parent``."""
    return [
        (int(node.get("ts", 0)), handle)
        for handle, node in nodes.items()
        if node["t"] == FOLDER
        and node["p"] == parent
        and isinstance(node.get("a"), dict)
        and node["a"].get("n") == name
    ]


def _canonical(folders: list[tuple[int, str]]) -> str | None:
    """The oldest folder, ties broken by handle: every process picks the same."""
    return min(folders)[1] if folders else None
