"""The people who receive a link, in headless Chromium (Debian's) driven by Playwright:
an image opens as the image and a sound plays (served inline, under a sandbox), any
other file opens as its page with a Download button that no look at the page spends,
and a link that no longer works (expired, used up, deleted, unknown, a delete link
opened again) is a page that says why, with the right status. Screenshots go to
test-output/."""

from __future__ import annotations

import time

import requests
from playwright.sync_api import Browser

from tests.support import media
from tests.support.browser import OUTPUT
from tests.support.servers import ServerProcess
from tests.support.uploads import downloads, put_file


def test_an_image_link_shows_the_image_and_a_sound_plays(
    browser: Browser, local_server: ServerProcess
) -> None:
    image = put_file(local_server, "screenshot.png", media.png(40, 30))["link"]
    sound = put_file(local_server, "voice.wav", media.wav(1.0))["link"]
    page = browser.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    try:
        reply = page.goto(image)
        assert reply is not None and reply.headers["content-type"] == "image/png"
        size = page.evaluate(
            "() => [document.images[0].naturalWidth, document.images[0].naturalHeight]"
        )
        assert size == [40, 30]
        page.screenshot(path=OUTPUT / "recipient-image.png")
        # Chromium plays it in a <video> of its own, which fetches the file again: the
        # sandbox must let it (PLAYED_FILE_CSP), or the media never loads.
        page.goto(sound)
        player = page.locator("video")
        page.wait_for_function("() => document.querySelector('video').readyState >= 1")
        assert abs(player.evaluate("v => v.duration") - 1.0) < 0.01
        assert player.evaluate("v => v.error") is None
        assert errors == []
    finally:
        page.close()


def test_a_file_opens_as_its_page_and_downloads_from_its_button(
    browser: Browser, local_server: ServerProcess
) -> None:
    content = b"rows of data,\n" * 5000
    upload = put_file(
        local_server, "report.csv", content, **{"Max-Downloads": "2", "Max-Days": "3"}
    )
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    try:
        for _ in range(2):  # looking at the page, twice, spends nothing
            reply = page.goto(upload["link"])
            assert reply is not None and reply.status == 200
        assert downloads(local_server, upload["id"]) == 0
        assert page.title() == "report.csv"
        assert page.locator("#name").inner_text() == "report.csv"
        assert page.locator("#size").inner_text() == "70.0 KB (70,000 bytes)"
        assert page.locator("#expires").inner_text().startswith("until 20")
        assert page.locator("#downloads-left").inner_text() == "2 of 2 left"
        page.screenshot(path=OUTPUT / "recipient-file-page.png", full_page=True)
        with page.expect_download() as started:
            page.get_by_role("link", name="Download").click()
        download = started.value
        assert download.suggested_filename == "report.csv"
        with open(download.path(), "rb") as saved:
            assert saved.read() == content
        assert downloads(local_server, upload["id"]) == 1
        page.reload()
        assert page.locator("#downloads-left").inner_text() == "1 of 2 left"
    finally:
        context.close()


def test_links_that_no_longer_work_say_why(browser: Browser, local_server: ServerProcess) -> None:
    expired = put_file(local_server, "old.txt", b"old", **{"Max-Days": "0.000001"})["link"]
    used_up = put_file(local_server, "once.txt", b"once", **{"Max-Downloads": "1"})["link"]
    assert requests.get(used_up, timeout=10).content == b"once"
    deleted = put_file(local_server, "gone.txt", b"gone")
    assert requests.delete(deleted["delete_url"], timeout=10).status_code == 200
    unknown = f"{local_server.url}/files/AAAAAAAAAAAAAAAAAAAAAA"
    time.sleep(0.2)  # the expired one's 86 ms are over
    page = browser.new_page()
    try:
        cases = [
            (expired, 410, "This file is no longer here", "This upload expired at"),
            (used_up, 410, "This file is no longer here", "could be downloaded 1"),
            (deleted["link"], 404, "No file at this link", "its uploader deleted it"),
            (unknown, 404, "No file at this link", "not whole"),
            (deleted["delete_url"], 404, "Nothing to delete", "deleted already"),
        ]
        for index, (link, status, heading, says) in enumerate(cases):
            reply = page.goto(link)
            assert reply is not None and reply.status == status, link
            assert page.locator("h1").inner_text() == heading
            assert says in page.locator("#reason").inner_text()
            # The upload page's style: its stylesheet applied (no raw JSON, no bare HTML).
            assert page.locator("main").evaluate("m => getComputedStyle(m).maxWidth") != "none"
            page.screenshot(path=OUTPUT / f"recipient-refused-{index}.png")
    finally:
        page.close()


def test_a_delete_link_opened_twice_in_a_browser(
    browser: Browser, local_server: ServerProcess
) -> None:
    """ShareX opens the delete link in a browser: a button deletes, and opening the
    link again says there is nothing left to delete."""
    upload = put_file(local_server, "shot.png", media.png())
    page = browser.new_page()
    try:
        page.goto(upload["delete_url"])
        page.get_by_role("button", name="Delete shot.png").click()
        page.locator("#deleted").wait_for()
        reply = page.goto(upload["delete_url"])
        assert reply is not None and reply.status == 404
        assert page.locator("h1").inner_text() == "Nothing to delete"
        reply = page.goto(upload["link"])
        assert reply is not None and reply.status == 404
        assert page.locator("h1").inner_text() == "No file at this link"
    finally:
        page.close()
