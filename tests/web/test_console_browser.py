"""The owner's console in headless Chromium (Debian's package) driven by Playwright, on a
server storing in the MEGA emulator: sign in with the admin token, see uploads made by
curl and by the upload page, search by name, delete one (its MEGA node is gone and its
status answers 404), retry a failed one; CSRF refused; a signed-out browser and an
upload token refused; an upload link used to its limit, then 410."""

from __future__ import annotations

import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from playwright.sync_api import Browser, BrowserContext, Page

from paimon.storage.mega.crypto import parse_link
from tests.support.browser import OUTPUT
from tests.support.known_secrets import ADMIN_TOKEN, CREATED, SECOND_TOKEN, TOKEN
from tests.support.megasim import V2_EMAIL, MegaSim
from tests.support.servers import ServerProcess, eventually, start_mega_server

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@pytest.fixture(scope="module")
def server(sim: MegaSim, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_mega_server(
        tmp_path_factory.mktemp("console-server"),
        sim,
        auth_tokens=f"ci={TOKEN},phone={SECOND_TOKEN}",
        admin_tokens=f"owner={ADMIN_TOKEN}",
        retry_hours="0",  # a failed upload waits for the owner's retry
        rate_limit_uploads="",
    )
    yield server
    server.stop()


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    yield context
    context.close()


def signed_in(context: BrowserContext, server: ServerProcess, token: str = ADMIN_TOKEN) -> Page:
    """A page of the console, signed in with ``token`` through the sign-in form."""
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # admin.js asks before a delete
    page.goto(f"{server.url}/admin")
    assert page.url == f"{server.url}/admin/sign-in"  # a signed-out browser is sent there
    page.fill("#token", token)
    page.click("#sign-in")
    page.wait_for_load_state()
    return page


def rows(page: Page) -> dict[str, dict[str, str]]:
    """The uploads the console's table shows, by name: their state and uploader."""
    shown = {}
    for row in page.locator("tr.upload-row").all():
        shown[row.locator("td.name").inner_text()] = {
            "id": row.get_attribute("data-id") or "",
            "state": row.get_attribute("data-state") or "",
            "uploader": row.locator("td.uploader").inner_text(),
        }
    return shown


def curl_put(server: ServerProcess, path: Path, token: str, *more: str) -> str:
    """Upload with curl (`curl -T`), as the README shows: the link, as text."""
    command = ["curl", "-sS", "-T", str(path), "-H", f"Authorization: Bearer {token}", *more]
    done = subprocess.run(
        [*command, f"{server.url}/upload/"], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def upload_through_page(context: BrowserContext, server: ServerProcess, path: Path) -> str:
    """Upload on the upload page with the phone's token: the link it shows."""
    page = context.new_page()
    page.goto(server.url)
    token = page.get_by_label("Upload token")
    token.wait_for()
    token.fill(SECOND_TOKEN)
    page.set_input_files("#files", str(path))
    page.locator(".upload.done").wait_for(timeout=120_000)
    link = page.locator(".upload.done .link input").input_value()
    page.close()
    return link


def node_is_gone(sim: MegaSim, link: str) -> bool:
    """MEGA answers a download request for the link's node with an error code."""
    handle, _ = parse_link(link)
    reply = requests.post(f"{sim.url}/cs", json=[{"a": "g", "g": 1, "p": handle}], timeout=30)
    return isinstance(reply.json()[0], int)


def job_state(server: ServerProcess, job_id: str) -> str:
    reply = requests.get(f"{server.url}/api/uploads/{job_id}", headers=ADMIN, timeout=10)
    return reply.json()["state"] if reply.status_code == 200 else str(reply.status_code)


def test_sign_in_see_search_delete_and_retry(
    context: BrowserContext, server: ServerProcess, sim: MegaSim, tmp_path: Path
) -> None:
    sim.reset(nodes=False)
    report = tmp_path / "quarterly report.pdf"
    report.write_bytes(os.urandom(300_000))
    photo = tmp_path / "holiday photo.jpg"
    photo.write_bytes(os.urandom(200_000))
    curl_link = curl_put(server, report, TOKEN)
    page_link = upload_through_page(context, server, photo)
    assert curl_link.startswith("https://mega.nz/file/") and page_link != curl_link

    page = signed_in(context, server)
    assert page.locator("#owner").inner_text() == "owner"
    shown = rows(page)
    assert shown["quarterly report.pdf"]["uploader"] == "ci"  # the token's label
    assert shown["holiday photo.jpg"]["uploader"] == "phone"
    assert {shown[name]["state"] for name in shown} == {"done"}
    assert page.locator("#totals tr[data-state=done] td").first.inner_text().startswith("2 ")
    assert "mega" in page.locator("#storage").inner_text()
    CREATED.extend(row["id"] for row in shown.values())

    page.fill("input[name=q]", "QUARTER")  # names are searched by prefix, in any case
    page.click("#search")
    page.wait_for_load_state()
    assert list(rows(page)) == ["quarterly report.pdf"]
    OUTPUT.mkdir(exist_ok=True)
    page.screenshot(path=OUTPUT / "console-search.png", full_page=True)

    report_id = shown["quarterly report.pdf"]["id"]
    page.locator(f"tr[data-id='{report_id}'] button.danger").click()
    page.wait_for_load_state()
    assert "q=QUARTER" in page.url  # back where the owner was
    assert page.locator("#no-uploads").is_visible()
    assert node_is_gone(sim, curl_link)
    assert not node_is_gone(sim, page_link)
    assert requests.get(f"{server.url}/status/{report_id}", timeout=10).status_code == 404

    # A failed upload: the account is full, and the server does not retry by itself.
    used = next(a["used_bytes"] for a in sim.state()["accounts"] if a.get("email") == V2_EMAIL)
    sim.set_quota(V2_EMAIL, used + 1000)
    notes = tmp_path / "notes.txt"
    notes.write_bytes(os.urandom(50_000))
    assert "storage" in curl_put(server, notes, TOKEN).lower()
    sim.set_quota(V2_EMAIL, 50 * 1024**3)
    page.goto(f"{server.url}/admin?state=failed")
    failed = rows(page)
    assert list(failed) == ["notes.txt"] and failed["notes.txt"]["state"] == "failed"
    CREATED.append(failed["notes.txt"]["id"])
    page.locator("tr.upload-row button.retry").click()
    page.wait_for_load_state()
    assert eventually(lambda: job_state(server, failed["notes.txt"]["id"]) == "done", timeout=60)
    page.goto(f"{server.url}/admin?q=notes")
    assert rows(page)["notes.txt"]["state"] == "done"
    page.screenshot(path=OUTPUT / "console-retried.png", full_page=True)


def test_a_post_without_the_csrf_token_changes_nothing(
    context: BrowserContext, server: ServerProcess, tmp_path: Path
) -> None:
    kept = tmp_path / "kept.txt"
    kept.write_bytes(b"still here")
    curl_put(server, kept, TOKEN)
    page = signed_in(context, server)
    page.goto(f"{server.url}/admin?q=kept")
    job_id = rows(page)["kept.txt"]["id"]
    CREATED.append(job_id)
    delete = f"{server.url}/admin/uploads/{job_id}/delete"
    # The browser's own cookie goes along (the context's request client shares it).
    for form in ({"next": "/admin"}, {"csrf_token": "guessed", "next": "/admin"}):
        refused = context.request.post(delete, multipart=form)
        assert refused.status == 403, refused.text()
        assert 'data-error="csrf_failed"' in refused.text()
    assert context.request.post(f"{server.url}/admin/sign-out", multipart={}).status == 403
    assert job_state(server, job_id) == "done"
    page.reload()
    assert "kept.txt" in rows(page)  # and still signed in


def test_a_signed_out_browser_and_an_upload_token_are_refused(
    context: BrowserContext, server: ServerProcess
) -> None:
    page = context.new_page()
    for path in ("/admin", "/admin/links", "/admin/uploads/anything"):
        page.goto(f"{server.url}{path}")
        assert page.url == f"{server.url}/admin/sign-in"
    posted = context.request.post(f"{server.url}/admin/uploads/anything/delete", multipart={})
    assert posted.status == 403 and "Sign in" in posted.text()

    page = context.new_page()
    page.goto(f"{server.url}/admin/sign-in")
    page.fill("#token", TOKEN)  # an upload token is no admin token
    with page.expect_response(f"{server.url}/admin/sign-in") as answer:
        page.click("#sign-in")
    assert answer.value.status == 403
    assert page.locator("#refused").is_visible()
    page.goto(f"{server.url}/admin")
    assert page.url == f"{server.url}/admin/sign-in"
    by_api = requests.get(f"{server.url}/api/uploads", headers={"X-Auth-Token": TOKEN}, timeout=10)
    assert (by_api.status_code, by_api.json()["error"]) == (403, "admin_token_rejected")


def test_an_upload_link_used_to_its_limit_then_410(
    browser: Browser, context: BrowserContext, server: ServerProcess, tmp_path: Path
) -> None:
    owner = signed_in(context, server)
    owner.goto(f"{server.url}/admin/links")
    owner.fill("input[name=label]", "Photos from Anna")
    owner.fill("input[name=max_files]", "2")
    owner.fill("input[name=max_file_size]", "1MB")
    owner.click("#create-link")
    owner.wait_for_load_state()
    created = owner.locator("tr.link-row.created")
    url = created.locator("td.link input").input_value()
    assert re.fullmatch(rf"{re.escape(server.url)}/u/[A-Za-z0-9_-]{{32}}", url)
    assert created.locator("td.state").inner_text() == "active"

    guest = browser.new_context()  # whoever got the link: no token, no session
    try:
        page = guest.new_page()
        for n in range(2):
            page.goto(url)
            assert "2 more file(s)" in page.locator("#limits").inner_text() or n == 1
            photo = tmp_path / f"anna-{n}.jpg"
            photo.write_bytes(os.urandom(40_000))
            page.set_input_files("#link-files", str(photo))
            page.click("#send")
            page.wait_for_load_state()
            assert page.locator("h1").inner_text() == photo.name  # its status page
            assert page.locator("#download").get_attribute("href").startswith("https://mega.nz/")
        answer = page.goto(url)
        assert answer is not None and answer.status == 410
        assert page.locator("h1").inner_text() == "This upload link is closed"
        assert "all the files it allows (2)" in page.locator("#refusal").inner_text()
        OUTPUT.mkdir(exist_ok=True)
        page.screenshot(path=OUTPUT / "upload-link-closed.png", full_page=True)
    finally:
        guest.close()

    owner.reload()
    row = owner.locator("tr.link-row").first
    assert row.locator("td.state").inner_text() == "used_up"
    assert row.locator("td.files").inner_text() == "2 of 2"
    owner.locator("tr.link-row").first.locator("a", has_text="Uploads").click()
    owner.wait_for_load_state()
    shown = rows(owner)
    assert sorted(shown) == ["anna-0.jpg", "anna-1.jpg"]
    assert {row["uploader"] for row in shown.values()} == {"link: Photos from Anna"}
    CREATED.extend(row["id"] for row in shown.values())


def test_the_console_revokes_a_link(context: BrowserContext, server: ServerProcess) -> None:
    owner = signed_in(context, server)
    owner.goto(f"{server.url}/admin/links")
    owner.fill("input[name=label]", "Revoked soon")
    owner.click("#create-link")
    owner.wait_for_load_state()
    created = owner.locator("tr.link-row.created")
    url = created.locator("td.link input").input_value()
    assert requests.get(url, timeout=10).status_code == 200  # the upload page
    created.locator("button.danger").click()  # Revoke (admin.js asks first: accepted)
    owner.wait_for_load_state()
    row = owner.locator("tr.link-row", has_text="Revoked soon")
    assert row.locator("td.state").inner_text() == "revoked"
    assert row.locator("button.danger").count() == 0
    closed = requests.get(url, headers={"Accept": "text/html"}, timeout=10)
    assert closed.status_code == 410 and "This upload link is closed" in closed.text
    assert "revoked" in closed.text
