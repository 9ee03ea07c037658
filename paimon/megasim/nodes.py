"""Nodes: the files and folders of MEGA's tree, holding only what clients sent encrypted."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

FILE, FOLDER, ROOT, INBOX, RUBBISH_BIN = 0, 1, 2, 3, 4
CONTAINERS = (FOLDER, ROOT, INBOX, RUBBISH_BIN)


@dataclass
class Node:
    handle: str
    parent: str  # "" for the three top-level nodes
    owner: str  # user handle
    kind: int  # MEGA's "t"
    attributes: str = ""  # "a", base64url ciphertext as the client sent it
    wrapped_key: str = ""  # the client's key, wrapped with its master key
    size: int = 0
    created: int = field(default_factory=lambda: int(time.time()))
    blob: Path | None = None  # stored ciphertext, files only
    public_handle: str | None = None
    link_created: int | None = None  # when the public handle was made (``ts`` of ``ph``)
    download_token: str | None = None
    file_attributes: str = ""  # "fa": "<cluster>:<type>*<handle>/...", as ``pfa`` made it

    def to_json(self) -> dict[str, object]:
        """The node as ``f`` and ``p`` answer it."""
        # Every node carries "a" and "k", empty for the three top-level ones: clients
        # tested against MEGA rely on it (async-mega-py's Node.parse reads node["a"]).
        data: dict[str, object] = {
            "h": self.handle,
            "p": self.parent,
            "u": self.owner,
            "t": self.kind,
            "a": self.attributes,
            "k": f"{self.owner}:{self.wrapped_key}" if self.kind in (FILE, FOLDER) else "",
            "ts": self.created,
        }
        if self.kind == FILE:
            data["s"] = self.size
            if self.file_attributes:
                data["fa"] = self.file_attributes
        return data

    def link_json(self) -> dict[str, object]:
        """The node's public link as ``f`` lists it under ``ph`` (the SDK's procph needs
        ``h``, ``ph`` and the creation time ``ts``)."""
        return {"h": self.handle, "ph": self.public_handle, "ts": self.link_created}
