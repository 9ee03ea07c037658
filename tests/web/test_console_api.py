"""The owner's JSON API under /api/ and the console's owner checks, against a real server
(local storage): a bearer admin token and nothing else, listing with cursor pages,
filters and search, one upload, its deletion and retry, totals and storage, upload
links made and revoked; the session cookie's attributes and lifetime; wrong admin
tokens counted as guesses; labels shown, tokens never."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import requests

from paimon.bootstrap.wiring import build_app
from paimon.config import Settings
from paimon.web.tokens import TokenBook, split_entry
from tests.support.console import csrf_of, sign_in
from tests.support.known_secrets import ADMIN_TOKEN, CREATED, SECOND_TOKEN, TOKEN
from tests.support.servers import ServerProcess, start_server

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
NAMES = ["Report 2026.pdf", "report-draft.txt", "holiday.jpg", "Holiday 2.jpg", "notes.md"]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(
        tmp_path_factory.mktemp("owner-api"),
        auth_tokens=f"ci={TOKEN},{SECOND_TOKEN}",  # the second one bare: no label
        admin_tokens=f"owner={ADMIN_TOKEN}",
        rate_limit_uploads="",
    )
    yield server
    server.stop()


@pytest.fixture(scope="module")
def uploaded(server: ServerProcess) -> list[dict]:
    """Ten uploads, five with each token, oldest first: their upload replies."""
    replies = []
    for n in range(10):
        token = TOKEN if n % 2 == 0 else SECOND_TOKEN
        reply = requests.put(
            f"{server.url}/upload/{NAMES[n % len(NAMES)]}",
            data=f"upload {n}".encode(),
            headers={"Authorization": f"Bearer {token}", "Accept": "application/json"},
            timeout=30,
        )
        assert reply.status_code == 200, reply.text
        replies.append(reply.json())
        CREATED.append(reply.json()["id"])
    return replies


def api(server: ServerProcess, path: str, **params: str) -> requests.Response:
    return requests.get(f"{server.url}/api{path}", params=params, headers=ADMIN, timeout=10)


def listed(server: ServerProcess, **params: str) -> list[str]:
    """The ids a listing shows, every page followed."""
    ids, cursor = [], ""
    while True:
        page = api(server, "/uploads", **params, **({"cursor": cursor} if cursor else {}))
        assert page.status_code == 200, page.text
        ids += [upload["id"] for upload in page.json()["uploads"]]
        cursor = page.json()["next"]
        if cursor is None:
            return ids


def test_without_admin_tokens_there_is_no_console(local_server: ServerProcess) -> None:
    for path in ("/admin", "/admin/sign-in", "/admin/links", "/api/uploads", "/api/totals"):
        reply = requests.get(f"{local_server.url}{path}", headers=ADMIN, timeout=10)
        assert (reply.status_code, reply.json()["error"]) == (404, "not_found"), path
    reply = requests.post(
        f"{local_server.url}/api/upload-links", json={}, headers=ADMIN, timeout=10
    )
    assert reply.status_code == 404
    assert requests.get(f"{local_server.url}/u/anything", timeout=10).status_code == 404


def test_the_api_takes_an_admin_token_as_a_bearer_and_nothing_else(
    server: ServerProcess,
) -> None:
    url = f"{server.url}/api/uploads"
    missing = requests.get(url, timeout=10)
    assert (missing.status_code, missing.json()["error"]) == (401, "admin_token_required")
    for token in (TOKEN, "owner=" + ADMIN_TOKEN, ADMIN_TOKEN + "x"):
        wrong = requests.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=10)
        assert (wrong.status_code, wrong.json()["error"]) == (403, "admin_token_rejected")
    assert requests.get(url, headers=ADMIN, timeout=10).status_code == 200
    assert requests.get(url, headers=ADMIN, timeout=10).headers["Cache-Control"] == "no-store"


def test_pages_newest_first_with_a_cursor(server: ServerProcess, uploaded: list[dict]) -> None:
    newest_first = [reply["id"] for reply in reversed(uploaded)]
    first = api(server, "/uploads", limit="4").json()
    assert [upload["id"] for upload in first["uploads"]] == newest_first[:4]
    assert isinstance(first["next"], str)
    second = api(server, "/uploads", limit="4", cursor=first["next"]).json()
    assert [upload["id"] for upload in second["uploads"]] == newest_first[4:8]
    assert listed(server, limit="3")[-10:] == newest_first


def test_an_upload_as_the_owner_sees_it(server: ServerProcess, uploaded: list[dict]) -> None:
    view = api(server, f"/uploads/{uploaded[0]['id']}").json()
    assert view["filename"] == NAMES[0] and view["state"] == "done"
    assert (view["uploader_label"], view["upload_link"], view["folder"]) == ("ci", None, None)
    assert view["link"] == uploaded[0]["link"] and view["stored_at"] >= view["created_at"]
    bare = api(server, f"/uploads/{uploaded[1]['id']}").json()["uploader_label"]
    assert re.fullmatch(r"token-[0-9a-f]{6}", bare)  # a bare token's label: its reference
    for private in ("spool_path", "delete_digest", "uploader", "lease_owner", "transfer_state"):
        assert private not in view
    assert api(server, "/uploads/no-such-upload").status_code == 404


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"q": "report"}, lambda n: NAMES[n % 5].lower().startswith("report")),
        ({"q": "HOLIDAY 2"}, lambda n: NAMES[n % 5] == "Holiday 2.jpg"),
        ({"uploader": "ci"}, lambda n: n % 2 == 0),
        ({"uploader": "ci", "q": "ho"}, lambda n: n % 2 == 0 and NAMES[n % 5][0] in "hH"),
        ({"state": "done", "backend": "local", "removed": "false"}, lambda n: True),
        ({"state": "failed,receiving"}, lambda n: False),
        ({"backend": "mega"}, lambda n: False),
        ({"removed": "true"}, lambda n: False),
        ({"link": "no-such-link"}, lambda n: False),
        ({"from": "2000-01-01", "to": "2999-12-31"}, lambda n: True),
        ({"to": "2000-01-01T00:00:00Z"}, lambda n: False),
    ],
)
def test_filters_and_search(
    server: ServerProcess, uploaded: list[dict], params: dict, expected
) -> None:
    ids = {reply["id"] for n, reply in enumerate(uploaded) if expected(n)}
    assert set(listed(server, **params)) & {reply["id"] for reply in uploaded} == ids


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"state": "paused"}, "bad_query"),
        ({"limit": "0"}, "bad_query"),
        ({"limit": "201"}, "bad_query"),
        ({"removed": "maybe"}, "bad_query"),
        ({"from": "yesterday"}, "bad_query"),
        ({"q": "x" * 256}, "bad_query"),
        ({"cursor": "not-a-cursor"}, "bad_cursor"),
    ],
)
def test_bad_queries_say_what_is_wrong(server: ServerProcess, params: dict, error: str) -> None:
    reply = api(server, "/uploads", **params)
    assert (reply.status_code, reply.json()["error"]) == (400, error)
    assert next(iter(params)) in reply.json()["message"]


def test_totals_and_storage(server: ServerProcess, uploaded: list[dict]) -> None:
    totals = api(server, "/totals").json()
    done = totals["all"]["done"]
    assert done["uploads"] >= len(uploaded) and done["bytes"] >= sum(r["size"] for r in uploaded)
    assert totals["today"]["done"]["uploads"] >= len(uploaded)  # all made today (UTC)
    assert totals["all"]["total"]["uploads"] == sum(
        tally["uploads"] for state, tally in totals["all"].items() if state != "total"
    )
    disk = totals["storage"]["disk"]
    assert totals["storage"]["backend"] == "local" and 0 < disk["free_bytes"] <= disk["total_bytes"]
    assert disk["reservations"] == 0 and disk["reserved_bytes"] == 0
    assert "usage" not in totals["storage"]  # local storage: the disk is the usage


def test_delete_and_retry_by_the_owner(server: ServerProcess) -> None:
    put = requests.put(
        f"{server.url}/upload/doomed.txt",
        data=b"doomed",
        headers={"Authorization": f"Bearer {TOKEN}", "Accept": "application/json"},
        timeout=30,
    ).json()
    CREATED.append(put["id"])
    not_failed = requests.post(
        f"{server.url}/api/uploads/{put['id']}/retry", headers=ADMIN, timeout=10
    )
    assert (not_failed.status_code, not_failed.json()["error"]) == (409, "not_failed")
    deleted = requests.delete(f"{server.url}/api/uploads/{put['id']}", headers=ADMIN, timeout=10)
    assert deleted.status_code == 200 and deleted.json()["status"] == "deleted"
    assert requests.get(put["link"], timeout=10).status_code in (404, 410)
    assert api(server, f"/uploads/{put['id']}").status_code == 404
    again = requests.delete(f"{server.url}/api/uploads/{put['id']}", headers=ADMIN, timeout=10)
    assert again.status_code == 404


def test_upload_links_made_listed_and_revoked(server: ServerProcess) -> None:
    made = requests.post(
        f"{server.url}/api/upload-links",
        json={"label": "from Anna", "max_files": 3, "max_file_bytes": 1000, "max_days": 2},
        headers=ADMIN,
        timeout=10,
    )
    assert made.status_code == 201, made.text
    link = made.json()
    assert link["status"] == "created" and link["state"] == "active"
    assert re.fullmatch(rf"{re.escape(server.url)}/u/[A-Za-z0-9_-]{{32}}", link["url"])
    assert (link["files"], link["files_left"], link["created_by"]) == (0, 3, "owner")
    assert "token_digest" not in link and "sealed_token" not in link
    sent = requests.put(f"{link['url']}/a.txt", data=b"a", timeout=10)
    assert sent.status_code == 200, sent.text
    listing = api(server, "/upload-links").json()["upload_links"]
    mine = next(entry for entry in listing if entry["id"] == link["id"])
    assert (mine["files"], mine["bytes"], mine["url"]) == (1, 1, link["url"])
    through = api(server, "/uploads", link=link["id"]).json()["uploads"]
    assert [(u["filename"], u["upload_link"]) for u in through] == [("a.txt", link["id"])]
    assert through[0]["expires_at"] == pytest.approx(through[0]["created_at"] + 2 * 86400)
    CREATED.append(through[0]["id"])

    revoked = requests.delete(
        f"{server.url}/api/upload-links/{link['id']}", headers=ADMIN, timeout=10
    )
    assert revoked.status_code == 200 and revoked.json()["state"] == "revoked"
    closed = requests.put(f"{link['url']}/b.txt", data=b"b", timeout=10)
    assert (closed.status_code, closed.json()["error"]) == (410, "link_revoked")
    missing = requests.delete(f"{server.url}/api/upload-links/nope", headers=ADMIN, timeout=10)
    assert missing.status_code == 404


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"max_files": 0}, 400, "bad_upload_link"),
        ({"max_files": "3"}, 400, "bad_upload_link"),
        ({"max_files": True}, 400, "bad_upload_link"),
        ({"expires_in_seconds": -1}, 400, "bad_upload_link"),
        ({"colour": "red"}, 400, "bad_upload_link"),
        ({"label": ""}, 400, "bad_upload_link"),
        ({"folder": "Clients/../x"}, 400, "bad_upload_link"),
        ({"folder": "a//b"}, 400, "bad_upload_link"),
        ([1, 2], 400, "bad_upload_link"),
    ],
)
def test_a_bad_upload_link_is_refused(
    server: ServerProcess, body: object, status: int, error: str
) -> None:
    reply = requests.post(f"{server.url}/api/upload-links", json=body, headers=ADMIN, timeout=10)
    assert (reply.status_code, reply.json()["error"]) == (status, error), reply.text


def test_an_upload_link_body_must_be_json(server: ServerProcess) -> None:
    reply = requests.post(
        f"{server.url}/api/upload-links",
        data="max_files=1",
        headers=ADMIN | {"Content-Type": "text/plain"},
        timeout=10,
    )
    assert (reply.status_code, reply.json()["error"]) == (415, "unsupported_media_type")


def test_the_session_cookie(server: ServerProcess) -> None:
    """HttpOnly, SameSite=Strict, only for /admin, Secure behind https (as a trusted
    proxy says it), lasting PAIMON_ADMIN_SESSION_HOURS (12 by default)."""
    plain = requests.get(f"{server.url}/admin/sign-in", timeout=10).headers["Set-Cookie"]
    assert "paimon_owner=" in plain and "HttpOnly" in plain and "SameSite=Strict" in plain
    assert "Path=/admin" in plain and "Secure" not in plain
    behind_https = requests.get(
        f"{server.url}/admin/sign-in", headers={"X-Forwarded-Proto": "https"}, timeout=10
    )
    assert "; Secure" in behind_https.headers["Set-Cookie"]
    assert behind_https.headers["Strict-Transport-Security"]
    session = requests.Session()
    signed = sign_in(session, server.url, ADMIN_TOKEN)
    assert signed.status_code == 303
    expires = re.search(r"Expires=([^;]+)", signed.headers["Set-Cookie"])[1]
    lifetime = datetime.strptime(expires, "%a, %d %b %Y %H:%M:%S GMT").replace(tzinfo=UTC)
    assert abs(lifetime.timestamp() - time.time() - 12 * 3600) < 60
    page = session.get(f"{server.url}/admin", timeout=10)
    assert page.status_code == 200 and ADMIN_TOKEN not in page.text
    for cookie in session.cookies:
        assert ADMIN_TOKEN not in (cookie.value or "")


def sign_in_in_process(client, token: str):
    form = client.get("/admin/sign-in").text
    return client.post(
        "/admin/sign-in",
        data={"csrf_token": csrf_of(form), "token": token},
        content_type="multipart/form-data",
    )


def test_a_session_ends_with_its_lifetime_and_with_its_token(tmp_path: Path) -> None:
    settings = Settings(
        data_dir=tmp_path, admin_tokens=f"owner={ADMIN_TOKEN}", admin_session_hours=1 / 3600
    )
    client = build_app(settings).test_client()
    assert sign_in_in_process(client, ADMIN_TOKEN).status_code == 303
    assert client.get("/admin").status_code == 200
    time.sleep(1.1)
    assert client.get("/admin").headers["Location"] == "/admin/sign-in"

    lasting = Settings(data_dir=tmp_path, admin_tokens=f"owner={ADMIN_TOKEN}")
    first = build_app(lasting).test_client()
    assert sign_in_in_process(first, ADMIN_TOKEN).status_code == 303
    cookie = first.get_cookie("paimon_owner", path="/admin")
    # The same install (data directory), with the owner's token changed: its sessions end.
    changed = Settings(data_dir=tmp_path, admin_tokens=f"owner={TOKEN}")
    second = build_app(changed).test_client()
    second.set_cookie("paimon_owner", cookie.value, path="/admin")
    assert second.get("/admin").status_code == 303
    again = build_app(lasting).test_client()
    again.set_cookie("paimon_owner", cookie.value, path="/admin")
    assert again.get("/admin").status_code == 200  # the same token: the session holds


def test_wrong_admin_tokens_count_against_the_guessing_limit(server_factory) -> None:
    # One worker: without Redis each worker process counts its own (configuration.md),
    # and which of two takes each connection is the kernel's choice.
    server = server_factory(
        admin_tokens=f"owner={ADMIN_TOKEN}", rate_limit_uploads="4/minute", workers="1"
    )
    url = f"{server.url}/api/totals"
    for _ in range(2):
        assert (
            requests.get(url, headers={"Authorization": "Bearer guess"}, timeout=10).status_code
            == 403
        )
    session = requests.Session()
    for _ in range(2):  # the sign-in form's wrong tokens count the same
        assert sign_in(session, server.url, "guess").status_code == 403
    limited = requests.get(url, headers=ADMIN, timeout=10)  # even the right one, now
    assert (limited.status_code, limited.json()["error"]) == (429, "rate_limited")
    assert int(limited.headers["Retry-After"]) > 0


def test_labels_are_shown_and_tokens_never(server: ServerProcess, uploaded: list[dict]) -> None:
    replies = [
        requests.get(f"{server.url}/status", timeout=10).text,
        api(server, "/uploads").text,
        api(server, "/totals").text,
        api(server, "/upload-links").text,
    ]
    for text in replies:
        for secret in (TOKEN, SECOND_TOKEN, ADMIN_TOKEN):
            assert secret not in text
    lines = [json.loads(line) for line in server.logs().splitlines() if line.startswith("{")]
    who = {line.get("who") for line in lines if line.get("message") == "request"}
    assert {"ci", "owner"} <= who  # the request log names the token's holder by label


@pytest.mark.parametrize(
    ("entry", "label", "token"),
    [
        ("ci=0123456789abcdef", "ci", "0123456789abcdef"),
        ("build-bot_2=a long token with spaces", "build-bot_2", "a long token with spaces"),
        ("ci=short", None, "ci=short"),  # a token under 16 characters: a bare entry
        ("dGhpcyBpcyBhIHRva2Vu==", None, "dGhpcyBpcyBhIHRva2Vu=="),  # base64: '=' at the end
        ("my label=0123456789abcdef", None, "my label=0123456789abcdef"),
        ("=0123456789abcdef", None, "=0123456789abcdef"),
    ],
)
def test_labelled_token_entries(entry: str, label: str | None, token: str) -> None:
    assert split_entry(entry) == (label, token)


def test_a_token_book_finds_holders_by_their_token() -> None:
    from pydantic import SecretStr

    book = TokenBook([SecretStr("ci=0123456789abcdef"), SecretStr("plain-token")], "token")
    assert book.holder("0123456789abcdef").label == "ci"
    assert book.holder("ci=0123456789abcdef") is None  # the entry is not the token
    assert re.fullmatch(r"token-[0-9a-f]{6}", book.holder("plain-token").label)
    assert book.holder("sécurisé") is None
