"""Issue 30, the owner's side: an event names who sent the upload (its token's label, the
upload link it came through), verified in the body a real receiver got; the deliveries
listed and sent again in the JSON API (an admin token as bearer) and in the console
(signed in, with its CSRF token), the same delivery both ways."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from paimon_devtools.receiver import Receiver
from tests.support.console import csrf_of, sign_in
from tests.support.known_secrets import ADMIN_TOKEN, TOKEN
from tests.support.servers import ServerProcess, eventually, start_server
from tests.support.webhooks import hooked, verified

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
JSON = {"Accept": "application/json"}


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, receiver: Receiver) -> Iterator[ServerProcess]:
    server = start_server(
        tmp_path_factory.mktemp("deliveries-owner"),
        auth_tokens=f"ci={TOKEN}",
        admin_tokens=f"owner={ADMIN_TOKEN}",
        **hooked(receiver),
    )
    yield server
    server.stop()


def stored_event(receiver: Receiver, job_id: str) -> tuple[str, dict]:
    """The webhook-id and the verified body of ``job_id``'s upload.stored."""

    def got() -> list:
        return [
            (r.id, event)
            for r in receiver.of_type("upload.stored")
            if (event := verified(r))["data"]["job_id"] == job_id
        ]

    assert eventually(got, timeout=15), receiver.received
    (found,) = got()
    return found


def put_with_token(server: ServerProcess, name: str, content: bytes) -> str:
    """PUT a file with the upload token labelled ci; its job id."""
    reply = requests.put(
        f"{server.url}/upload/{name}",
        data=content,
        headers={**JSON, "Authorization": f"Bearer {TOKEN}"},
        timeout=10,
    )
    assert reply.status_code == 200, reply.text
    return reply.json()["id"]


def sends_of(receiver: Receiver, delivery_id: str) -> int:
    return sum(1 for r in receiver.received if r.id == delivery_id)


def test_stored_names_the_uploaders_label_and_the_upload_link(
    server: ServerProcess, receiver: Receiver
) -> None:
    _, event = stored_event(receiver, put_with_token(server, "a.txt", b"with the ci token"))
    assert (event["data"]["uploader_label"], event["data"]["upload_link"]) == ("ci", None)

    made = requests.post(
        f"{server.url}/api/upload-links", json={"label": "Anna"}, headers=ADMIN, timeout=10
    )
    assert made.status_code == 201, made.text
    link = made.json()
    by_link = requests.put(f"{link['url']}/b.txt", data=b"through a link", headers=JSON, timeout=10)
    assert by_link.status_code == 200, by_link.text
    _, event = stored_event(receiver, by_link.json()["id"])
    assert (event["data"]["uploader_label"], event["data"]["upload_link"]) == (None, link["id"])
    assert link["url"].rsplit("/", 1)[1] not in str(event)  # the link's token is not sent


def test_the_api_lists_deliveries_and_sends_one_again(
    server: ServerProcess, receiver: Receiver
) -> None:
    job_id = put_with_token(server, "c.txt", b"c")
    delivery_id, _ = stored_event(receiver, job_id)
    listing = f"{server.url}/api/webhooks/deliveries"
    assert requests.get(listing, timeout=10).status_code == 401
    assert (
        requests.get(listing, headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10).status_code
        == 403
    )
    assert (
        requests.get(listing, params={"state": "lost"}, headers=ADMIN, timeout=10).status_code
        == 400
    )

    def sent_row() -> dict | None:
        view = requests.get(listing, params={"state": "sent"}, headers=ADMIN, timeout=10).json()
        return next((d for d in view["deliveries"] if d["id"] == delivery_id), None)

    assert eventually(sent_row)
    row = sent_row()
    assert (row["event"], row["job_id"], row["endpoint"]) == ("upload.stored", job_id, receiver.url)
    assert (row["attempts"], row["last_status"], row["next_attempt_at"]) == (1, 200, None)
    assert "job" not in row and "lease_owner" not in row
    counts = requests.get(listing, headers=ADMIN, timeout=10).json()["counts"]
    assert set(counts) == {"pending", "sent", "failed"} and counts["sent"] >= 1

    again = requests.post(f"{listing}/{delivery_id}/resend", headers=ADMIN, timeout=10)
    assert again.status_code == 202, again.text
    assert (again.json()["id"], again.json()["state"]) == (delivery_id, "pending")
    assert eventually(lambda: sends_of(receiver, delivery_id) == 2)
    first, second = (r for r in receiver.received if r.id == delivery_id)
    assert second.body == first.body
    missing = requests.post(f"{listing}/msg_nothing/resend", headers=ADMIN, timeout=10)
    assert (missing.status_code, missing.json()["error"]) == (404, "not_found")


def test_the_console_shows_deliveries_and_sends_one_again(
    server: ServerProcess, receiver: Receiver
) -> None:
    delivery_id, _ = stored_event(receiver, put_with_token(server, "d.txt", b"d"))
    page_url = f"{server.url}/admin/webhooks"
    stranger = requests.get(page_url, allow_redirects=False, timeout=10)
    assert (stranger.status_code, stranger.headers["Location"]) == (303, "/admin/sign-in")

    session = requests.Session()
    assert sign_in(session, server.url, ADMIN_TOKEN).status_code == 303
    assert 'href="/admin/webhooks"' in session.get(f"{server.url}/admin", timeout=10).text
    page = session.get(page_url, timeout=10)
    assert page.status_code == 200 and f'data-id="{delivery_id}"' in page.text
    resend = f"{page_url}/{delivery_id}/resend"
    forged = session.post(
        resend, files={"csrf_token": (None, "forged")}, allow_redirects=False, timeout=10
    )
    assert forged.status_code == 403
    before = sends_of(receiver, delivery_id)
    reply = session.post(
        resend, files={"csrf_token": (None, csrf_of(page.text))}, allow_redirects=False, timeout=10
    )
    assert reply.status_code == 303, reply.text
    assert reply.headers["Location"] == f"/admin/webhooks?resent={delivery_id}"
    assert eventually(lambda: sends_of(receiver, delivery_id) == before + 1)
    assert before == 1  # the forged post sent nothing


def test_without_webhooks_the_api_is_404_and_the_console_says_so(tmp_path: Path) -> None:
    server = start_server(tmp_path, admin_tokens=f"owner={ADMIN_TOKEN}")
    try:
        reply = requests.get(f"{server.url}/api/webhooks/deliveries", headers=ADMIN, timeout=10)
        assert (reply.status_code, reply.json()["error"]) == (404, "not_found")
        assert "PAIMON_WEBHOOK_URLS" in reply.json()["message"]
        session = requests.Session()
        assert sign_in(session, server.url, ADMIN_TOKEN).status_code == 303
        page = session.get(f"{server.url}/admin/webhooks", timeout=10)
        assert page.status_code == 200 and 'id="no-webhooks"' in page.text
    finally:
        server.stop()
