"""The upload page people keep open, in headless Chromium (Debian's) driven by
Playwright: each upload's delete link and Delete button, the list of this browser's
uploads after a reload (copy, QR code, clear), Max-Days and Max-Downloads from the
page, a 250 MB file sent in chunks no larger than PAIMON_TUS_CHUNK_BYTES (proved by the
server's own request log), a refused upload in words with its bar short of 100%, and
only the plain form without JavaScript. Screenshots go to test-output/."""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import zxingcpp
from playwright.sync_api import Browser, Page

from tests.support import uploads
from tests.support.browser import OUTPUT, drop
from tests.support.megasim import V2_EMAIL, V2_PASSWORD, MegaSim
from tests.support.servers import ServerProcess
from tests.support.uploads import MB, MIB


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("page-uploads")


def a_file(folder: Path, name: str, size: int) -> Path:
    path = folder / name
    if not path.exists():
        with path.open("wb") as out:
            for start in range(0, size, 8 * MIB):
                out.write(os.urandom(min(8 * MIB, size - start)))
    return path


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A page in a fresh context (empty localStorage) that may use the clipboard; fails
    the test on any script error."""
    context = browser.new_context(
        viewport={"width": 900, "height": 1000}, permissions=["clipboard-read", "clipboard-write"]
    )
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda e: errors.append(str(e)))
    yield page
    context.close()
    assert errors == []


def finished_rows(page: Page, count: int) -> None:
    page.locator(".upload.done, .upload.failed").nth(count - 1).wait_for(timeout=300_000)
    assert page.locator(".upload.failed").all_inner_texts() == []


def remembered(page: Page) -> list[dict]:
    return page.evaluate("() => JSON.parse(localStorage.getItem('paimon-uploads') || '[]')")


def qr_text(page: Page, row) -> str:
    """Draw the row's QR code (its SVG) on a canvas, as a phone's camera would see it,
    and read it back with ZXing."""
    side = 400
    gray = row.locator(".qr svg").evaluate(
        """async (svg, side) => {
            const image = new Image();
            image.src = "data:image/svg+xml;base64," +
                btoa(new XMLSerializer().serializeToString(svg));
            await image.decode();
            const canvas = Object.assign(document.createElement("canvas"),
                {width: side, height: side});
            const context = canvas.getContext("2d");
            context.drawImage(image, 0, 0, side, side);
            const rgba = context.getImageData(0, 0, side, side).data;
            return Array.from({length: side * side}, (_, i) => rgba[4 * i]);
        }""",
        side,
    )
    found = zxingcpp.read_barcodes(memoryview(bytes(gray)).cast("B", (side, side)))
    assert len(found) == 1
    return found[0].text


def test_history_survives_a_reload_with_copy_qr_code_and_clear(
    page: Page, local_server: ServerProcess, folder: Path
) -> None:
    files = [a_file(folder, "notes.txt", 1234), a_file(folder, "photo.jpg", 2 * MB + 1)]
    page.goto(local_server.url)
    drop(page, files)
    finished_rows(page, 2)
    before = [
        {
            "name": row.locator("h2").inner_text().split(" (")[0],
            "link": row.locator(".link input").input_value(),
            "delete": row.locator("a.delete-link").get_attribute("href"),
        }
        for row in page.locator(".upload").all()
    ]
    assert [entry["name"] for entry in before] == ["notes.txt", "photo.jpg"]  # as dropped
    page.reload()
    rows = page.locator(".upload.done")
    assert rows.count() == 2
    page.screenshot(path=OUTPUT / "upload-page-history.png", full_page=True)
    for row, entry, path in zip(rows.all(), before, files, strict=True):
        assert row.locator("h2").inner_text().split(" (")[0] == entry["name"]
        assert row.locator(".link input").input_value() == entry["link"]
        assert row.locator("a.delete-link").get_attribute("href") == entry["delete"]
        assert row.locator(".when").inner_text().startswith("Uploaded ")
        assert qr_text(page, row) == entry["link"]
        row.get_by_role("button", name="Copy link").click()
        assert page.evaluate("() => navigator.clipboard.readText()") == entry["link"]
        assert requests.get(entry["link"], timeout=30).content == path.read_bytes()
        # The delete link answers for its file (GET deletes nothing).
        assert requests.get(entry["delete"], timeout=10).json()["filename"] == entry["name"]
    stored = remembered(page)
    assert [e["name"] for e in stored] == ["notes.txt", "photo.jpg"]
    assert all(isinstance(e["at"], int) and e["id"] for e in stored)

    page.get_by_role("button", name="Clear list").click()
    assert page.locator(".upload").count() == 0
    assert remembered(page) == []
    page.reload()
    assert page.locator(".upload").count() == 0
    assert page.locator("#history-tools").is_hidden()
    for entry in before:  # the list is forgotten; the files are not deleted
        assert requests.get(entry["link"], timeout=30).status_code == 200


def test_delete_button_and_delete_link(
    page: Page, local_server: ServerProcess, folder: Path
) -> None:
    files = [a_file(folder, "first.txt", 100), a_file(folder, "second.txt", 200)]
    page.goto(local_server.url)
    drop(page, files)
    finished_rows(page, 2)
    first, second = page.locator(".upload").all()
    first_link = first.locator(".link input").input_value()
    second_link = second.locator(".link input").input_value()

    first.get_by_role("button", name="Delete first.txt").click()
    assert first.locator(".deleted-note").inner_text() == "Deleted: the file and its link are gone."
    assert requests.get(first_link, timeout=10).status_code == 404
    assert [e["name"] for e in remembered(page)] == ["second.txt"]

    # The delete link itself, as a person clicks it: its page, and its button.
    second.locator("a.delete-link").click()
    page.get_by_role("button", name="Delete second.txt").click()
    page.locator("#deleted").wait_for()
    assert requests.get(second_link, timeout=10).status_code == 404
    # Back on the upload page the row is still remembered: its Delete says it is gone.
    page.goto(local_server.url)
    rows = page.locator(".upload")
    assert rows.count() == 1
    rows.first.get_by_role("button", name="Delete second.txt").click()
    note = rows.first.locator(".deleted-note")
    assert note.inner_text().startswith("Already gone: No upload has this delete link")
    page.reload()
    assert page.locator(".upload").count() == 0


def test_max_days_and_max_downloads_from_the_page(
    page: Page, local_server: ServerProcess, folder: Path
) -> None:
    """Both ways the page sends: multipart (small) and tus (above 8 MiB)."""
    files = [a_file(folder, "small.txt", 500), a_file(folder, "large.bin", 9 * MIB)]
    page.goto(local_server.url)
    page.get_by_label("For days").fill("2.5")
    page.get_by_label("For downloads").fill("3")
    drop(page, files)
    finished_rows(page, 2)
    for entry in remembered(page):
        job = uploads.job(local_server, entry["id"])
        assert job["expires_at"] - job["created_at"] == pytest.approx(2.5 * 86400, abs=60)
        assert job["max_downloads"] == 3
        assert entry["expiresAt"] == job["expires_at"] and entry["maxDownloads"] == 3
    assert all("kept until" in t for t in page.locator(".when").all_inner_texts())
    assert all("for 3 downloads" in t for t in page.locator(".when").all_inner_texts())


def test_a_250_mb_file_goes_in_chunks_no_larger_than_the_setting(
    page: Page, server_factory, folder: Path
) -> None:
    chunk = 16 * MIB
    server = server_factory(tus_chunk_bytes="16MiB")
    path = a_file(folder, "backup.tar", 250 * MB)
    page.goto(server.url)
    page.set_input_files("#files", str(path))
    finished_rows(page, 1)
    entry = remembered(page)[0]
    job = uploads.job(server, entry["id"])
    digest = hashlib.sha256()
    with path.open("rb") as source:
        while block := source.read(8 * MIB):
            digest.update(block)
    assert (job["size"], job["sha256"]) == (250 * MB, digest.hexdigest())
    # The server's request log: one line per request, with the body's Content-Length.
    lines = [json.loads(line) for line in server.logs().splitlines() if line.startswith("{")]
    patches = [
        line["bytes_in"]
        for line in lines
        if line.get("message") == "request" and line["method"] == "PATCH"
    ]
    assert max(patches) <= chunk
    assert sum(patches) == 250 * MB
    assert len(patches) == math.ceil(250 * MB / chunk)  # 15: no chunk sent twice
    assert requests.get(f"{server.url}/status", timeout=5).json()["tus_chunk_bytes"] == chunk


@pytest.mark.parametrize("size", [300, 9 * MIB], ids=["multipart", "tus"])
def test_a_refused_upload_says_why_and_its_bar_stays_short(
    page: Page, server_factory, folder: Path, size: int
) -> None:
    server = server_factory(auth_tokens="page-token")
    path = a_file(folder, f"refused-{size}.bin", size)
    page.goto(server.url)
    page.get_by_label("Upload token").wait_for()  # shown once /status says tokens are on
    cases = [
        ("", "This server needs an upload token: type it in the “Upload token” field above"),
        ("wrong", "The upload token is not valid: check the “Upload token” field above"),
    ]
    for index, (token, said) in enumerate(cases):
        page.get_by_label("Upload token").fill(token)
        page.set_input_files("#files", str(path))
        page.locator(".upload.failed").nth(index).wait_for()
        row = page.locator(".upload").first  # the newest, on top
        assert row.locator(".error").inner_text().startswith(f"Failed: {said}")
        assert "Authorization" not in row.inner_text()
        assert row.locator(".sent output").inner_text() == "Failed"
        assert row.locator(".sent progress").get_attribute("value") == "0"
        assert row.locator(".stored output").inner_text() == "0%"
    page.screenshot(path=OUTPUT / f"upload-page-refused-{size}.png", full_page=True)
    page.get_by_label("For days").fill("0")  # not a number of days above 0
    page.get_by_label("Upload token").fill("page-token")
    page.set_input_files("#files", str(path))
    page.locator(".upload.failed").nth(2).wait_for()
    row = page.locator(".upload").first
    said = row.locator(".error").inner_text()  # the field, and the bounds the server named
    assert said.startswith("Failed: “Keep each file”: “For days” must be a number of days above 0")
    assert "below 1000000" in said and "header" not in said


def test_without_javascript_only_the_plain_form_shows(
    browser: Browser,
    local_server: ServerProcess,
) -> None:
    context = browser.new_context(java_script_enabled=False)
    try:
        plain = context.new_page()
        plain.goto(local_server.url)
        for hidden in ("#drop-zone", "#keep", "#token-row", "#history-tools"):
            assert plain.locator(hidden).is_hidden(), hidden
        assert plain.locator(".plain-form").is_visible()
        for name in ("file", "max_days", "max_downloads"):
            assert plain.locator(f".plain-form [name={name}]").is_visible()
        plain.screenshot(path=OUTPUT / "upload-page-without-javascript.png", full_page=True)
    finally:
        context.close()
    scripted = browser.new_page()
    try:
        scripted.goto(local_server.url)
        assert scripted.locator("#drop-zone").is_visible()
        assert scripted.locator("#keep").is_visible()
        assert scripted.locator(".plain-form").count() == 0  # <noscript> is text here
    finally:
        scripted.close()


def test_with_mega_the_page_offers_days_but_no_download_limit(
    page: Page, megasim: MegaSim, server_factory
) -> None:
    """MEGA serves its links' downloads itself: Paimon cannot count them (it refuses
    Max-Downloads there), so the page does not offer it."""
    server = server_factory(
        mega_api_url=megasim.url, mega_email=V2_EMAIL, mega_password=V2_PASSWORD
    )
    page.goto(server.url)
    page.wait_for_function("() => document.getElementById('max-downloads-row').hidden")
    assert page.get_by_label("For days").is_visible()
    assert page.get_by_label("For downloads").is_hidden()
