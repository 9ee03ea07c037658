"""What the people who receive a link get, over plain HTTP against a real server: safe
types inline under their real type (read from the content, never from the name), every
other type an octet-stream attachment, nosniff and a sandboxing CSP on every file, the
file's page for a browser where the file is not shown, and pages (for browsers) or
JSON (for scripts) for links that no longer work. The same in Chromium:
tests/web/test_recipient_pages.py."""

from __future__ import annotations

import time

import pytest
import requests

from paimon.web.security import FILE_CSP, PAGE_CSP, PLAYED_FILE_CSP
from tests.support import media
from tests.support.servers import ServerProcess
from tests.support.uploads import downloads, put_file

#: What Chromium sends when a person opens a link.
BROWSER = {
    "Accept": "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,"
    "image/webp,image/apng,*/*;q=0.8"
}


INLINE = [
    ("shot.png", media.png(), "image/png"),
    ("pixel.gif", media.GIF, "image/gif"),
    ("photo.jpg", media.JPEG_HEAD + bytes(64), "image/jpeg"),
    ("photo.webp", media.WEBP_HEAD + bytes(64), "image/webp"),
    ("paper.pdf", media.pdf(), "application/pdf"),
    ("clip.mp4", media.MP4_HEAD + bytes(64), "video/mp4"),
    ("clip.webm", media.WEBM_HEAD + bytes(64), "video/webm"),
    ("song.mp3", media.MP3_HEAD + bytes(64), "audio/mpeg"),
    ("song.m4a", media.M4A_HEAD + bytes(64), "audio/mp4"),
    ("song.ogg", media.OGG_HEAD + bytes(64), "audio/ogg"),
    ("song.flac", media.FLAC_HEAD + bytes(64), "audio/flac"),
    ("voice.wav", media.wav(0.1), "audio/wav"),
    # The name says nothing: the content decides, and it is a PNG, never HTML.
    ("page.html", media.png(), "image/png"),
    ("drawing.svg", media.png(), "image/png"),
    ("no-extension", media.GIF, "image/gif"),
]


@pytest.mark.parametrize(
    ("name", "content", "mimetype"), INLINE, ids=[name for name, _, _ in INLINE]
)
def test_safe_types_are_inline_under_their_real_type(
    local_server: ServerProcess, name: str, content: bytes, mimetype: str
) -> None:
    link = put_file(local_server, name, content)["link"]
    for headers in ({}, BROWSER):  # curl and a chat's unfurler; a browser opening the link
        reply = requests.get(link, headers=headers, timeout=10)
        assert reply.status_code == 200
        assert reply.content == content
        assert reply.headers["Content-Type"] == mimetype
        assert reply.headers["Content-Disposition"] == f"inline; filename={name}"
        assert reply.headers["X-Content-Type-Options"] == "nosniff"
        played = mimetype.startswith(("audio/", "video/"))
        assert reply.headers["Content-Security-Policy"] == (PLAYED_FILE_CSP if played else FILE_CSP)
        assert "Accept" in reply.headers["Vary"]
    forced = requests.get(f"{link}?download", headers=BROWSER, timeout=10)
    assert forced.headers["Content-Disposition"] == f"attachment; filename={name}"
    assert forced.headers["Content-Type"] == mimetype
    assert forced.headers["Content-Security-Policy"] == FILE_CSP
    assert forced.content == content


def test_every_file_policy_is_a_sandbox_without_scripts() -> None:
    for policy in (FILE_CSP, PLAYED_FILE_CSP):
        directives = dict(d.strip().partition(" ")[::2] for d in policy.split(";"))
        assert "sandbox" in directives and "allow-scripts" not in directives["sandbox"]
        assert directives["default-src"] == "'none'"
        assert "script-src" not in directives and "object-src" not in directives
        assert directives["frame-ancestors"] == "'none'"


NEVER_INLINE = [
    ("page.html", b"<!doctype html><script>alert(document.domain)</script>"),
    ("drawing.svg", b'<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>'),
    ("feed.xml", b'<?xml version="1.0"?><rss><script>alert(1)</script></rss>'),
    ("page.xhtml", b'<html xmlns="http://www.w3.org/1999/xhtml"><script>alert(1)</script></html>'),
    ("app.js", b"alert(document.cookie)"),
    ("notes.txt", b"plain words"),
    # A name that claims a safe type changes nothing: the content is HTML.
    ("photo.png", b"<html><body onload=alert(1)>"),
    ("clip.mp4", b"<svg onload=alert(1)>"),
]


@pytest.mark.parametrize(("name", "content"), NEVER_INLINE, ids=[name for name, _ in NEVER_INLINE])
def test_other_types_stay_octet_stream_attachments(
    local_server: ServerProcess, name: str, content: bytes
) -> None:
    link = put_file(local_server, name, content)["link"]
    reply = requests.get(link, timeout=10)  # curl, a script
    assert reply.content == content
    assert reply.headers["Content-Type"] == "application/octet-stream"
    assert reply.headers["Content-Disposition"] == f"attachment; filename={name}"
    assert reply.headers["X-Content-Type-Options"] == "nosniff"
    assert reply.headers["Content-Security-Policy"] == FILE_CSP
    # A browser opening it gets the file's page, whose Download button is ?download.
    page = requests.get(link, headers=BROWSER, timeout=10)
    assert page.status_code == 200
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["Content-Security-Policy"] == PAGE_CSP
    assert page.headers["Cache-Control"] == "no-store"
    assert "Accept" in page.headers["Vary"]
    assert f'href="{link.removeprefix(local_server.url)}?download"' in page.text
    assert "<script" not in page.text.replace('<script src="/static/', "")
    forced = requests.get(f"{link}?download", headers=BROWSER, timeout=10)
    assert forced.headers["Content-Type"] == "application/octet-stream"
    assert forced.headers["Content-Disposition"].startswith("attachment")
    assert forced.content == content


def test_the_page_of_a_file_says_what_it_is_and_counts_nothing(
    local_server: ServerProcess,
) -> None:
    upload = put_file(local_server, "report.bin", b"x" * 123_456, **{"Max-Downloads": "2"})
    link, job_id = upload["link"], upload["id"]
    for _ in range(3):  # a person looking, a chat unfurler that asks for HTML
        page = requests.get(link, headers=BROWSER, timeout=10)
        assert page.status_code == 200
    assert downloads(local_server, job_id) == 0
    assert '<h1 id="name">report.bin</h1>' in page.text
    assert "123.5 KB" in page.text and "123,456 bytes" in page.text
    assert "2 of 2 left" in page.text
    assert '<meta property="og:title" content="report.bin">' in page.text
    assert requests.get(f"{link}?download", headers=BROWSER, timeout=10).status_code == 200
    assert downloads(local_server, job_id) == 1
    assert "1 of 2 left" in requests.get(link, headers=BROWSER, timeout=10).text


def test_a_file_with_a_download_limit_is_never_inline(local_server: ServerProcess) -> None:
    """A preview in a browser or a chat would spend a download: the browser gets the
    page first, a script the file as an attachment (counted)."""
    upload = put_file(local_server, "secret.png", media.png(), **{"Max-Downloads": "1"})
    link = upload["link"]
    page = requests.get(link, headers=BROWSER, timeout=10)
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert '<img class="preview"' not in page.text  # a preview would be a download
    assert downloads(local_server, upload["id"]) == 0
    reply = requests.get(link, timeout=10)
    assert reply.headers["Content-Type"] == "image/png"
    assert reply.headers["Content-Disposition"] == "attachment; filename=secret.png"
    assert downloads(local_server, upload["id"]) == 1


def test_page_query_shows_the_page_of_a_file_shown_inline(local_server: ServerProcess) -> None:
    upload = put_file(local_server, "shot.png", media.png(), **{"Max-Days": "3"})
    link = upload["link"]
    page = requests.get(f"{link}?page", timeout=10)
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert f'<img class="preview" src="{link.removeprefix(local_server.url)}"' in page.text
    assert "until 20" in page.text  # the expiry, in UTC
    assert downloads(local_server, upload["id"]) == 0


def expired_link(server: ServerProcess) -> str:
    link = put_file(server, "old.bin", b"old", **{"Max-Days": "0.000001"})["link"]  # 86 ms
    time.sleep(0.2)
    return link


def used_up_link(server: ServerProcess) -> str:
    link = put_file(server, "once.bin", b"once", **{"Max-Downloads": "1"})["link"]
    assert requests.get(link, timeout=10).content == b"once"
    return link


def deleted_link(server: ServerProcess) -> str:
    upload = put_file(server, "gone.bin", b"gone")
    assert requests.delete(upload["delete_url"], timeout=10).status_code == 200
    return upload["link"]


@pytest.mark.parametrize(
    ("make_link", "status", "heading", "says"),
    [
        (expired_link, 410, "This file is no longer here", "expired at"),
        (used_up_link, 410, "This file is no longer here", "could be downloaded 1"),
        (deleted_link, 404, "No file at this link", "its uploader deleted it"),
        (
            lambda server: f"{server.url}/files/AAAAAAAAAAAAAAAAAAAAAA",
            404,
            "No file at this link",
            "not whole",
        ),
    ],
    ids=["expired", "used up", "deleted", "unknown"],
)
def test_a_link_that_no_longer_works_says_why(
    local_server: ServerProcess, make_link, status: int, heading: str, says: str
) -> None:
    link = make_link(local_server)
    page = requests.get(link, headers=BROWSER, timeout=10)
    assert page.status_code == status
    assert page.headers["Content-Type"] == "text/html; charset=utf-8"
    assert page.headers["Content-Security-Policy"] == PAGE_CSP
    assert f"<h1>{heading}</h1>" in page.text and says in page.text
    reply = requests.get(link, timeout=10)  # curl: the JSON it always had
    assert reply.status_code == status
    assert reply.headers["Content-Type"] == "application/json"
    assert reply.json()["error"] == ("gone" if status == 410 else "not_found")


def test_a_delete_link_opened_again_says_so(local_server: ServerProcess) -> None:
    delete_url = put_file(local_server, "twice.bin", b"twice")["delete_url"]
    assert requests.post(delete_url, headers=BROWSER, timeout=10).status_code == 200
    for method in ("GET", "POST"):  # the link opened again; its page's button again
        page = requests.request(method, delete_url, headers=BROWSER, timeout=10)
        assert page.status_code == 404
        assert page.headers["Content-Type"] == "text/html; charset=utf-8"
        assert "<h1>Nothing to delete</h1>" in page.text
        assert "deleted already" in page.text
    reply = requests.delete(delete_url, timeout=10)
    assert (reply.status_code, reply.json()["error"]) == (404, "not_found")
