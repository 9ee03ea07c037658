"""Thumbnails and previews of images stored in MEGA, and links with their key apart.

Images go through a real gunicorn into the emulator; the attributes are read back as
MEGA's web app reads a file link's thumbnail and decrypted by the tests' own reader
(tests/support/attributes.py, pycryptodome, not Paimon's code; checked against megajs's
attributes in tests/megasim/megajs), then decoded as images of MEGA's sizes.
"""

from __future__ import annotations

import io
import os
import struct
import zlib
from pathlib import Path

import pytest
import requests
from PIL import Image

from tests.support.attributes import public_node, read_attributes, wait_for_attributes
from tests.support.console import sign_in
from tests.support.known_secrets import ADMIN_TOKEN, TOKEN
from tests.support.megasim import MegaSim
from tests.support.s3 import S3Bucket
from tests.support.servers import ServerProcess, start_mega_server

#: One worker: its attribute thread takes images in the order they were stored.
MEGA_SETTINGS = {"auth_tokens": TOKEN, "workers": "1", "admin_tokens": f"owner={ADMIN_TOKEN}"}
THUMBNAIL, PREVIEW = 0, 1


def image_bytes(kind: str, size: tuple[int, int], **save: object) -> bytes:
    mode = "RGBA" if kind == "PNG" else "RGB"
    image = Image.new(mode, size, (200, 30, 30, 255)[: len(mode)])
    if kind == "PNG":  # a transparent band: the thumbnail must stay PNG
        image.paste((0, 0, 0, 0), (0, 0, size[0], size[1] // 4))
    out = io.BytesIO()
    image.save(out, kind, **save)
    return out.getvalue()


def rotated_jpeg(size: tuple[int, int]) -> bytes:
    """A JPEG stored landscape whose EXIF says "rotate 90" (orientation 6)."""
    exif = Image.Exif()
    exif[0x0112] = 6
    return image_bytes("JPEG", size, exif=exif.tobytes())


def png_bomb(width: int, height: int) -> bytes:
    """A valid grey PNG of ``width`` x ``height`` zeros: a few hundred KiB on disk."""
    packer = zlib.compressobj(9)
    row = bytes(width + 1)  # filter byte, then the pixels
    data = b"".join(packer.compress(row) for _ in range(height)) + packer.flush()

    def chunk(kind: bytes, body: bytes) -> bytes:
        return (
            struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
        )

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
    )


def upload(server: ServerProcess, tmp_path: Path, name: str, data: bytes) -> dict:
    path = tmp_path / name
    path.write_bytes(data)
    with path.open("rb") as stream:
        reply = requests.post(
            f"{server.url}/upload",
            files={"file": (name, stream)},
            headers={"X-Auth-Token": TOKEN},
            timeout=120,
        )
    assert reply.status_code == 200, reply.text
    return reply.json()


def decoded(data: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(data))  # trailing zero padding is ignored by decoders
    image.load()
    return image


CASES = [
    # name, bytes, thumbnail (format, size), preview size
    ("photo.jpg", lambda: rotated_jpeg((3000, 2000)), ("JPEG", (200, 200)), (666, 1000)),
    ("clear.png", lambda: image_bytes("PNG", (640, 480)), ("PNG", (200, 200)), (640, 480)),
    ("wide.gif", lambda: image_bytes("GIF", (1200, 300)), ("JPEG", (200, 200)), (1000, 250)),
    ("small.webp", lambda: image_bytes("WEBP", (150, 120)), ("JPEG", (150, 120)), (150, 120)),
    ("big.webp", lambda: image_bytes("WEBP", (2000, 1500)), ("JPEG", (200, 200)), (1000, 750)),
]


@pytest.mark.parametrize(("name", "make", "thumbnail", "preview"), CASES)
def test_images_get_a_thumbnail_and_a_preview(
    name, make, thumbnail, preview, sim: MegaSim, mega_server: ServerProcess, tmp_path: Path
) -> None:
    reply = upload(mega_server, tmp_path, name, make())
    images = read_attributes(sim, reply["link"], wait_for_attributes(sim, reply["link"]))
    assert sorted(images) == [THUMBNAIL, PREVIEW]
    thumb, view = decoded(images[THUMBNAIL]), decoded(images[PREVIEW])
    assert (thumb.format, thumb.size) == thumbnail
    assert (view.format, view.size) == ("JPEG", preview)
    assert "exif" not in view.info  # metadata dropped, as MEGA's apps drop it


def test_key_apart_makes_up_the_link(mega_server: ServerProcess, tmp_path: Path) -> None:
    reply = upload(mega_server, tmp_path, "notes.txt", b"plain text, no thumbnail")
    assert reply["link_without_key"] + "#" + reply["key"] == reply["link"]
    assert reply["link_without_key"].startswith("https://mega.nz/file/")
    assert "#" not in reply["link_without_key"] and len(reply["key"]) == 43
    status = requests.get(f"{mega_server.url}/status/{reply['id']}", timeout=30).json()
    assert status["link_without_key"] + "#" + status["key"] == status["link"] == reply["link"]
    owner = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    listed = requests.get(f"{mega_server.url}/api/uploads", headers=owner, timeout=30).json()
    entry = next(job for job in listed["uploads"] if job["id"] == reply["id"])
    assert (entry["link_without_key"], entry["key"]) == (reply["link_without_key"], reply["key"])
    console = requests.Session()
    assert sign_in(console, mega_server.url, ADMIN_TOKEN).status_code == 303
    for page in ("/admin", f"/admin/uploads/{reply['id']}"):
        html = console.get(f"{mega_server.url}{page}", timeout=30).text
        assert f'value="{reply["link_without_key"]}"' in html, page
        assert f'value="{reply["key"]}"' in html, page


def test_non_images_and_bombs_get_none_and_are_stored(
    sim: MegaSim, mega_server: ServerProcess, tmp_path: Path
) -> None:
    # 80 megapixels: under Pillow's own warning (89 MP), over Paimon's 50 MP limit.
    bomb = upload(mega_server, tmp_path, "bomb.png", png_bomb(10_000, 8_000))
    broken = upload(mega_server, tmp_path, "broken.jpg", b"\xff\xd8\xff\xe0" + os.urandom(4000))
    text = upload(mega_server, tmp_path, "photo.jpg", b"a text file named like a photo")
    after = upload(mega_server, tmp_path, "after.png", image_bytes("PNG", (300, 300)))
    wait_for_attributes(sim, after["link"])  # one worker, one thread: the bomb was tried
    for stored in (bomb, broken, text):
        assert stored["status"] == "success" and stored["link"]
        assert "fa" not in public_node(sim, stored["link"])


def test_thumbnails_off_makes_none(
    sim: MegaSim, mega_server: ServerProcess, tmp_path: Path
) -> None:
    """``PAIMON_MEGA_THUMBNAILS=false``: the image is stored without attributes (in the
    time the default server takes to attach its copy's)."""
    image = image_bytes("PNG", (300, 300))
    workdir = tmp_path / "off"
    workdir.mkdir()
    with start_mega_server(workdir, sim, auth_tokens=TOKEN, mega_thumbnails="false") as off:
        bare = upload(off, tmp_path, "off.png", image)
        made = upload(mega_server, tmp_path, "on.png", image)
        wait_for_attributes(sim, made["link"])
        assert "fa" not in public_node(sim, bare["link"])


def test_images_spooled_in_a_bucket_get_them_too(
    sim: MegaSim, s3_bucket: S3Bucket, tmp_path: Path
) -> None:
    """With the spool in object storage (PAIMON_SPOOL_URL) the spool object is deleted
    as soon as the file is stored, while its image waits for the attribute thread: the
    image is copied out first, so it gets its thumbnail and preview. (The photo is
    larger than the spool reader's 8 MiB buffer, which would otherwise hide this.)"""
    pixels = Image.frombytes("RGB", (3000, 2400), os.urandom(3000 * 2400 * 3))
    out = io.BytesIO()
    pixels.save(out, "JPEG", quality=97)
    assert out.tell() > 8 * 1024 * 1024
    workdir = tmp_path / "bucket"
    workdir.mkdir()
    settings = {"spool_url": s3_bucket.url("spool")}
    with start_mega_server(workdir, sim, auth_tokens=TOKEN, **settings) as server:
        reply = upload(server, tmp_path, "noise.jpg", out.getvalue())
        images = read_attributes(sim, reply["link"], wait_for_attributes(sim, reply["link"]))
    assert sorted(images) == [THUMBNAIL, PREVIEW]
    assert decoded(images[PREVIEW]).size == (1000, 800)
    assert s3_bucket.keys("spool") == []  # the spool object is gone all the same
