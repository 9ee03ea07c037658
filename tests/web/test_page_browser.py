"""The upload page in headless Chromium (Debian's package) driven by Playwright: three
files dropped at once, both progress legs reaching 100%, every link's bytes checked,
against local storage and against the MEGA emulator. A screenshot of each finished page
is kept under test-output/ for CI to publish."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser

from paimon.storage.mega.crypto import decrypt_file, parse_link
from tests.support.browser import OUTPUT, drop
from tests.support.mega import fetch_ciphertext
from tests.support.megasim import V2_EMAIL, V2_PASSWORD, MegaSim
from tests.support.servers import ServerProcess
from tests.support.uploads import MB

SIZES = {"notes.txt": 1234, "photo.jpg": 3 * MB + 1, "video.bin": 50 * MB}  # video: tus


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("page-files")
    paths = {name: folder / name for name in SIZES}
    for name, path in paths.items():
        path.write_bytes(os.urandom(SIZES[name]))
    return paths


def upload_through_page(browser: Browser, server: ServerProcess, files: dict[str, Path], name: str):
    """Drop the files, wait for every row to finish; the links by file name."""
    page = browser.new_page(viewport={"width": 900, "height": 1000})
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    sent: list[str] = []
    page.on("request", lambda r: sent.append(f"{r.method} {r.url.removeprefix(server.url)}"))
    page.goto(server.url)
    assert page.title() == "Paimon: upload files"
    drop(page, list(files.values()))
    page.locator(".upload.done, .upload.failed").nth(len(files) - 1).wait_for(timeout=180_000)
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=OUTPUT / f"upload-page-{name}.png", full_page=True)
    assert page.locator(".upload.failed").all_inner_texts() == []
    for row in page.locator(".upload").all():
        for output in row.locator("output").all():
            assert output.inner_text() == "100%"
        for bar in row.locator("progress").all():
            assert bar.get_attribute("value") == "100"
    links = {
        row.locator("h2").inner_text().split(" (")[0]: row.locator(".link input").input_value()
        for row in page.locator(".upload").all()
    }
    assert set(links) == set(files)
    assert any(r.startswith("PATCH /tus/") for r in sent), sent  # the large file: tus
    assert sent.count("POST /upload") == 2, sent  # the small ones: multipart
    assert errors == []
    page.close()
    return links


def test_page_uploads_to_local_storage(
    browser: Browser, local_server: ServerProcess, files: dict[str, Path]
) -> None:
    links = upload_through_page(browser, local_server, files, "local")
    for name, link in links.items():
        assert link.startswith(f"{local_server.url}/files/")
        assert requests.get(link, timeout=60).content == files[name].read_bytes()


def test_page_uploads_to_the_mega_emulator(
    browser: Browser, megasim: MegaSim, server_factory, files: dict[str, Path]
) -> None:
    server = server_factory(
        mega_api_url=megasim.url, mega_email=V2_EMAIL, mega_password=V2_PASSWORD
    )
    links = upload_through_page(browser, server, files, "mega")
    for name, link in links.items():
        assert link.startswith("https://mega.nz/file/")
        handle, key = parse_link(link)
        assert decrypt_file(fetch_ciphertext(megasim, handle), key) == files[name].read_bytes()


def test_status_page_for_browsers(
    browser: Browser, local_server: ServerProcess, files: dict[str, Path]
) -> None:
    """GET /status/<id> renders a page for a browser and stays JSON for programs."""
    job = requests.post(
        f"{local_server.url}/upload",
        files={"file": ("notes.txt", files["notes.txt"].read_bytes())},
        timeout=30,
    ).json()
    status_url = f"{local_server.url}/status/{job['id']}"
    assert requests.get(status_url, timeout=5).json()["link"] == job["link"]
    page = browser.new_page()
    page.goto(status_url)
    assert page.locator("h1").inner_text() == "notes.txt"
    assert page.locator("#link").input_value() == job["link"]
    assert page.locator("output").all_inner_texts() == ["100%", "100%"]
    page.close()


def test_token_field_keyboard_picker_and_failures_in_words(
    browser: Browser, server_factory, files: dict[str, Path]
) -> None:
    """With tokens on, the page asks for one, keeps it, and says why an upload failed."""
    server = server_factory(auth_tokens="page-token")
    page = browser.new_page()
    # File choosers are intercepted for the page's whole life. expect_file_chooser
    # alone turns interception on as it starts and off as it ends, without waiting
    # (Playwright sends updateSubscription fire-and-forget), so now and then the key
    # press reached Chromium first: a real chooser opened, and it blocked every later
    # one on the page. Measured under full CPU load: 4 of 190 picks lost without this
    # listener, 0 of 190 with it.
    page.on("filechooser", lambda _chooser: None)
    page.goto(server.url)
    token = page.get_by_label("Upload token")
    token.wait_for()  # shown once /status says tokens are on

    def pick_with_keyboard() -> None:
        """Open the native picker from the keyboard: Space on the focused input."""
        page.get_by_label("Choose files…").focus()  # the file input itself
        with page.expect_file_chooser(timeout=10_000) as chooser:
            page.keyboard.press("Space")
        chooser.value.set_files(files["notes.txt"])

    token.fill("wrong-token")
    pick_with_keyboard()
    failed = page.locator(".upload.failed .error")
    failed.wait_for()
    assert failed.inner_text().startswith(
        "Failed: The upload token is not valid: check the “Upload token” field above"
    )

    token.fill("page-token")
    pick_with_keyboard()
    page.locator(".upload.done").wait_for()
    link = page.locator(".upload.done .link input").input_value()
    assert requests.get(link, timeout=10).content == files["notes.txt"].read_bytes()
    page.reload()
    assert page.get_by_label("Upload token").input_value() == "page-token"  # localStorage
    page.close()


def test_the_plain_form_works_without_javascript(
    browser: Browser, local_server: ServerProcess, files: dict[str, Path]
) -> None:
    """JavaScript off: the page's <noscript> form posts to /upload, and the browser lands
    on the upload's own page (303 to /status/<id>), whose link downloads the file."""
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(local_server.url + "/")
        page.set_input_files("#plain-file", str(files["notes.txt"]))
        with page.expect_navigation():
            page.click(".plain-form button[type=submit]")
        assert "/status/" in page.url
        assert "delete" not in page.url  # the token is handed off, never in an address
        assert "/delete/" in page.locator("#delete-link").get_attribute("href")
        assert page.locator("strong").first.inner_text() == "done"
        link = page.locator("#download").get_attribute("href")
        assert link == page.locator("#link").input_value()
        page.screenshot(path=str(OUTPUT / "plain-form.png"))
    finally:
        context.close()
    assert requests.get(link, timeout=30).content == files["notes.txt"].read_bytes()
    # Scripts and libcurl programs still get the JSON they always had.
    reply = requests.post(f"{local_server.url}/upload", files={"file": ("a.txt", b"a")}, timeout=30)
    assert reply.status_code == 200 and reply.json()["status"] == "success"


def test_the_plain_form_sends_several_files_without_javascript(
    browser: Browser, local_server: ServerProcess, files: dict[str, Path]
) -> None:
    """JavaScript off, two files picked in the <noscript> form: one request, redirected
    (303, so a reload sends nothing again) to one page listing each file with its link,
    copy field, status and delete links."""
    chosen = [files["notes.txt"], files["photo.jpg"]]
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(local_server.url + "/")
        page.set_input_files("#plain-file", [str(path) for path in chosen])
        with page.expect_navigation():
            page.click(".plain-form button[type=submit]")
        assert "/uploaded?" in page.url
        assert page.locator("h1").inner_text() == "2 files"
        items = page.locator("li.file")
        assert items.count() == 2
        links, deletes = [], []
        for index, path in enumerate(chosen):
            item = items.nth(index)
            assert item.locator("h2").inner_text() == path.name
            assert item.locator("strong").inner_text() == "done"
            link = item.locator("a.download").get_attribute("href")
            assert link == item.locator(".link input").input_value()
            links.append(link)
            deletes.append(item.locator("a.delete-link").get_attribute("href"))
        page.screenshot(path=str(OUTPUT / "plain-form-several.png"))
        page.reload()  # a GET: no file is sent again, and the delete links were shown once
        assert page.locator("li.file").count() == 2
        assert page.locator("a.delete-link").count() == 0
    finally:
        context.close()
    for link, path in zip(links, chosen, strict=True):
        assert requests.get(link, timeout=30).content == path.read_bytes()
    assert requests.delete(deletes[0], timeout=10).status_code == 200
    assert requests.get(links[0], timeout=10).status_code == 404
