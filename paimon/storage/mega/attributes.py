"""Thumbnails and previews of stored images, made and attached as MEGA's own apps do.

MEGA's apps make them on the device that uploads (MEGA's servers never see a plaintext
byte); without them MEGA's apps show a stored photo as a bare icon. What MEGA's SDK does
(docs/mega.md, "Thumbnails and previews"), and so what this module does:

- a thumbnail (file attribute type 0): the image scaled so its shorter side is 200 px,
  then a 200x200 square cut from near the centre (a third of the spare height above,
  half the spare width left: src/gfx.cpp, ``transform``); a preview (type 1): the image
  scaled to fit inside 1000x1000. An image smaller than a size is kept as it is, never
  enlarged. Orientation from EXIF applied, metadata dropped; JPEG at quality 85, the
  thumbnail PNG when the image has transparency (src/gfx/freeimage.cpp);
- each one zero-padded to 16 bytes and AES-CBC encrypted (zero IV) under the file's
  AES key (MegaClient::putfa);
- ``ufa`` with the size answers an upload URL; a POST of the ciphertext answers the
  attribute's 8-byte handle; ``pfa`` attaches ``<type>*<handle>`` to the node.

It all happens in one background thread per process, after the file's node exists:
the transfer never waits for it nor fails because of it. An image that is broken, too
large once decoded (``MAX_PIXELS``) or not an image by its bytes just gets none, with a
line in the log. JPEG is decoded at reduced size (libjpeg's DCT scaling, ``draft``).
"""

from __future__ import annotations

import io
import logging
import math
import os
import queue
import shutil
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import filetype
import requests
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from mega.crypto import a32_to_str, base64_url_encode
from PIL import Image, ImageOps

from paimon.storage.mega.client import MegaClient
from paimon.storage.mega.crypto import BLOCK, NodeKey, unpack_node_key

log = logging.getLogger(__name__)

THUMBNAIL, PREVIEW = 0, 1  # MEGA's file attribute types (GfxProc::THUMBNAIL, PREVIEW)
THUMBNAIL_SIDE = 200  # GfxProc::DIMENSIONS: {200, 0}, a square crop
PREVIEW_SIDE = 1000  # GfxProc::DIMENSIONS: {1000, 1000}, a bounding box
JPEG_QUALITY = 85  # src/gfx/freeimage.cpp, decideSaveFormatFlag
#: Largest image decoded, in pixels as decoded (a JPEG's at reduced size): 50 MP of
#: RGBA is 200 MB. Pillow itself refuses above twice its MAX_IMAGE_PIXELS (179 MP).
MAX_PIXELS = 50_000_000
FORMATS = ("JPEG", "PNG", "GIF", "WEBP")
IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})
#: Images waiting for the thread; past this, an upload gets none (each waiting one
#: holds its spool file open, so its disk space, until its turn).
MAX_WAITING = 8
#: Largest image copied out of a spool object elsewhere (PAIMON_SPOOL_URL) to be read
#: after the object is gone; a larger one gets none.
MAX_COPIED_BYTES = 64 * 1024 * 1024
POST_TIMEOUT = (10.0, 60.0)


class NotAnImage(ValueError):
    """Bytes that cannot (or must not) be decoded into a thumbnail."""


def open_source(source: Path) -> BinaryIO:
    """The stored file's bytes, open for reading after the caller deletes its spool copy.

    A local spool file held open stays readable once deleted. A spool object in a
    bucket (PAIMON_SPOOL_URL; anything with ``open`` and ``stat`` that is not a Path)
    does not, so an image among them is copied into a temporary file first (at most
    ``MAX_COPIED_BYTES``); of anything else only the first bytes are read, which say it
    is no image."""
    if isinstance(source, Path):
        return source.open("rb")
    with source.open("rb") as remote:
        head = remote.read(261)
        if not is_image(io.BytesIO(head)):
            return io.BytesIO(head)
        size = source.stat().st_size
        if size > MAX_COPIED_BYTES:
            raise NotAnImage(f"{size} bytes is too large to copy from the spool")
        copy = tempfile.TemporaryFile()  # noqa: SIM115 (returned open; the thread closes it)
        try:
            copy.write(head)
            shutil.copyfileobj(remote, copy, 1024 * 1024)
        except BaseException:
            copy.close()
            raise
    copy.seek(0)
    return copy


def is_image(stream: BinaryIO) -> bool:
    """A JPEG, PNG, GIF or WebP by its first bytes (not by its name)."""
    kind = filetype.guess(stream.read(261))
    stream.seek(0)
    return kind is not None and kind.mime in IMAGE_TYPES


def make_images(stream: BinaryIO) -> dict[int, bytes]:
    """The thumbnail and the preview of an image, as MEGA's SDK makes them; NotAnImage
    for bytes that are none, broken or too large."""
    try:
        with Image.open(stream, formats=FORMATS) as opened:
            width, height = opened.size
            if opened.format == "JPEG":  # decode at 1/2, 1/4 or 1/8 while still >= needed
                opened.draft("RGB", _draft_size(width, height))
            if opened.size[0] * opened.size[1] > MAX_PIXELS:
                raise NotAnImage(f"{opened.size[0]}x{opened.size[1]} is too large to decode")
            swapped = opened.getexif().get(0x0112) in (5, 6, 7, 8)  # EXIF Orientation
            image = ImageOps.exif_transpose(opened)  # loads the (reduced) pixels
            if swapped:
                width, height = height, width
            image = _plain(image)
            return {
                THUMBNAIL: _save(_thumbnail(image, width, height), png_allowed=True),
                PREVIEW: _save(_preview(image, width, height), png_allowed=False),
            }
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
        raise NotAnImage(str(exc)) from exc


def _draft_size(width: int, height: int) -> tuple[int, int]:
    """The least a JPEG must decode to for both images: the preview's box (the longer
    side at 1000) and the thumbnail's crop (the shorter side at 200)."""
    longer, shorter = max(width, height), max(min(width, height), 1)
    scale = min(1.0, max(PREVIEW_SIDE / longer, THUMBNAIL_SIDE / shorter))
    return (math.ceil(width * scale), math.ceil(height * scale))


def _plain(image: Image.Image) -> Image.Image:
    """RGB, or RGBA when the image has an alpha channel or a transparent colour."""
    if image.mode in ("RGBA", "LA", "PA") or "transparency" in image.info:
        return image.convert("RGBA")
    return image.convert("RGB")


def _resized(
    image: Image.Image, width: int, height: int, size: tuple[int, int], box: tuple[int, ...]
) -> Image.Image:
    """``box`` of the image at its original ``width`` x ``height``, scaled to ``size``:
    the box is mapped onto the pixels as decoded, which a JPEG draft made fewer."""
    sx, sy = image.width / width, image.height / height
    source = (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)
    return image.resize(size, Image.Resampling.LANCZOS, box=source, reducing_gap=3.0)


def _thumbnail(image: Image.Image, width: int, height: int) -> Image.Image:
    """GfxProc's square crop: scaled so the shorter side is 200, then 200x200 from
    ``((w - 200) / 2, (h - 200) / 3)``; an image under 200x200 kept as it is."""
    side = THUMBNAIL_SIDE
    if width < side and height < side:
        return _resized(image, width, height, (width, height), (0, 0, width, height))
    if width < height:
        scaled_w, scaled_h = side, height * side // width
    else:
        scaled_w, scaled_h = width * side // height, side
    left, top = (scaled_w - side) // 2, (scaled_h - side) // 3
    # the crop, in the original's pixels
    box = (
        left * width / scaled_w,
        top * height / scaled_h,
        (left + side) * width / scaled_w,
        (top + side) * height / scaled_h,
    )
    return _resized(image, width, height, (side, side), box)  # type: ignore[arg-type]


def _preview(image: Image.Image, width: int, height: int) -> Image.Image:
    """Inside a 1000x1000 box, proportions kept (integer sizes as the SDK computes
    them); an image that fits already is kept as it is."""
    side = PREVIEW_SIDE
    if width < side and height < side:
        size = (width, height)
    elif height > width:
        size = (max(width * side // height, 1), side)
    else:
        size = (side, max(height * side // width, 1))
    return _resized(image, width, height, size, (0, 0, width, height))


def _save(image: Image.Image, *, png_allowed: bool) -> bytes:
    """JPEG (quality 85, optimised), or PNG for a thumbnail with transparent pixels; a
    JPEG's transparent parts become black, as FreeImage makes them."""
    out = io.BytesIO()
    transparent = image.mode == "RGBA" and image.getchannel("A").getextrema()[0] < 255
    if transparent and png_allowed:
        image.save(out, "PNG")
    else:
        if image.mode == "RGBA":
            black = Image.new("RGB", image.size)
            black.paste(image, mask=image.getchannel("A"))
            image = black
        image.save(out, "JPEG", quality=JPEG_QUALITY, optimize=True)
    return out.getvalue()


def encrypt_attribute(key: NodeKey, data: bytes) -> bytes:
    """AES-CBC with a zero IV under the file's AES key, after zero padding to 16 bytes
    (MegaClient::putfa); the key is the node key's halves XORed (its ``aes`` words)."""
    padded = data + bytes(-len(data) % BLOCK)
    aes = a32_to_str(unpack_node_key(key)[0].aes)
    cbc = Cipher(algorithms.AES(aes), modes.CBC(bytes(BLOCK))).encryptor()
    return cbc.update(padded) + cbc.finalize()


def _yield_to_transfers() -> None:
    """Run this thread at the lowest CPU priority (nice 19; Linux's priorities are per
    thread): Pillow decodes and scales without the GIL, so on a busy machine the cores
    go to transfers first and images wait."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
    except (AttributeError, OSError):  # not Linux, or not allowed: run as the others
        log.debug("The thumbnail thread keeps its priority", exc_info=True)


@dataclass
class _Image:
    stream: BinaryIO
    node: str
    key: NodeKey


class AttributeMaker:
    """Gives stored images their thumbnail and preview, one at a time, in a daemon
    thread of this process (started on first use, so also after a fork)."""

    def __init__(self, client: MegaClient, *, enabled: bool = True):
        self._client = client
        self._enabled = enabled
        self._waiting: queue.Queue[_Image] = queue.Queue(MAX_WAITING)
        self._started_in: int | None = None
        self._start_lock = threading.Lock()

    def submit(self, source: Path, node: str, key: NodeKey) -> None:
        """Queue the file at ``source`` (stored as ``node`` under ``key``) if it is an
        image; never raises (the transfer is done whatever happens here)."""
        if not self._enabled:
            return
        stream: BinaryIO | None = None
        try:
            stream = open_source(source)
            if not is_image(stream):
                stream.close()
                return
            self._start()
            self._waiting.put_nowait(_Image(stream, node, key))
        except queue.Full:
            log.warning("No thumbnail for MEGA node %s: %d images wait already", node, MAX_WAITING)
            stream.close()  # type: ignore[union-attr]
        except Exception:
            log.warning("No thumbnail for MEGA node %s", node, exc_info=True)
            if stream is not None:
                stream.close()

    def _start(self) -> None:
        with self._start_lock:
            if self._started_in != os.getpid():
                self._started_in = os.getpid()
                threading.Thread(target=self._run, name="mega-attributes", daemon=True).start()

    def _run(self) -> None:
        _yield_to_transfers()
        http = requests.Session()
        while True:
            item = self._waiting.get()
            try:
                self._attach_images(http, item)
            except NotAnImage as exc:
                log.info("No thumbnail for MEGA node %s: %s", item.node, exc)
            except Exception:
                log.warning("No thumbnail for MEGA node %s", item.node, exc_info=True)

    def _attach_images(self, http: requests.Session, item: _Image) -> None:
        with item.stream:
            images = make_images(item.stream)
        for kind, image in images.items():
            handle = self._upload(http, item.node, encrypt_attribute(item.key, image))
            self._client.call({"a": "pfa", "n": item.node, "fa": f"{kind}*{handle}"})
        log.info("Attached a thumbnail and a preview to MEGA node %s", item.node)

    def _upload(self, http: requests.Session, node: str, ciphertext: bytes) -> str:
        """``ufa`` for a URL, then the POST that answers the attribute's handle."""
        url = self._client.call({"a": "ufa", "s": len(ciphertext), "h": node, "ssl": 2})["p"]
        response = http.post(url, data=ciphertext, timeout=POST_TIMEOUT)
        response.raise_for_status()
        if len(response.content) != 8:
            raise ValueError(f"ufa's URL answered {response.content[:20]!r}, not a handle")
        return base64_url_encode(response.content)
