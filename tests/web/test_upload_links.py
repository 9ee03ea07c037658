"""Upload links against real servers: every limit checked before the body is read (a
head alone is answered), what a refused or failed upload took given back, multipart and
raw bodies, expiry, the links' own Max-Days, nothing else reachable through a link,
MEGA folders; and two instances of two workers each on one Redis letting in exactly as
many concurrent uploads as a link allows."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from tests.support.known_secrets import ADMIN_TOKEN, CREATED, TOKEN
from tests.support.megasim import V2_EMAIL, V2_PASSWORD, MegaSim, stock_mega_client
from tests.support.rawhttp import BOUNDARY, END, connect, exchange, file_part, request_bytes
from tests.support.redis import RedisServer
from tests.support.servers import ServerProcess, eventually, start_mega_server, start_server

ADMIN = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
JSON = {"Accept": "application/json"}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    server = start_server(
        tmp_path_factory.mktemp("upload-links"),
        auth_tokens=f"ci={TOKEN}",
        admin_tokens=f"owner={ADMIN_TOKEN}",
        rate_limit_uploads="",
    )
    yield server
    server.stop()


def new_link(server: ServerProcess, **limits: object) -> dict:
    made = requests.post(f"{server.url}/api/upload-links", json=limits, headers=ADMIN, timeout=10)
    assert made.status_code == 201, made.text
    return made.json()


def use_of(server: ServerProcess, link: dict) -> tuple[int, int]:
    """The files and bytes the link has taken so far."""
    links = requests.get(f"{server.url}/api/upload-links", headers=ADMIN, timeout=10).json()
    current = next(entry for entry in links["upload_links"] if entry["id"] == link["id"])
    return current["files"], current["bytes"]


def path_of(link: dict, server: ServerProcess) -> str:
    return link["url"].removeprefix(server.url)


def head_only(server: ServerProcess, method: str, path: str, length: int, **headers: str):
    """A request head announcing ``length`` bytes, and not one of them: the reply can
    only come from checks made before the body."""
    fields = {"Content-Length": str(length), "Accept": "application/json", **headers}
    return exchange(server.url, request_bytes(method, path, headers=fields), timeout=10)


def test_limits_are_checked_before_the_body_is_read(server: ServerProcess) -> None:
    link = new_link(server, max_files=2, max_file_bytes=1000, max_total_bytes=1500)
    path = path_of(link, server)
    too_big = head_only(server, "PUT", f"{path}/big.bin", 10**9)
    assert (too_big.status, too_big.json()["error"]) == (413, "link_file_too_large")
    assert requests.put(f"{link['url']}/a.bin", data=b"a" * 900, timeout=10).status_code == 200
    over_total = head_only(server, "PUT", f"{path}/b.bin", 700)
    assert (over_total.status, over_total.json()["error"]) == (413, "link_too_large")
    assert "600 bytes more" in over_total.json()["message"]
    multipart = head_only(
        server,
        "POST",
        path,
        10**6,
        **{"Content-Type": f"multipart/form-data; boundary={BOUNDARY.decode()}"},
    )
    assert (multipart.status, multipart.json()["error"]) == (413, "link_too_large")
    assert use_of(server, link) == (1, 900)  # refusals took nothing
    assert requests.put(f"{link['url']}/c.bin", data=b"c" * 600, timeout=10).status_code == 200
    for method, target in (("PUT", f"{path}/d.bin"), ("POST", path)):
        used_up = head_only(server, method, target, 1)
        assert (used_up.status, used_up.json()["error"]) == (410, "link_used_up")
    assert use_of(server, link) == (2, 1500)


def test_a_chunked_body_where_the_link_limits_sizes(server: ServerProcess) -> None:
    limited = new_link(server, max_total_bytes=10_000)
    chunks = iter([b"x" * 100, b"y" * 50])
    refused = requests.put(f"{limited['url']}/chunked.bin", data=chunks, headers=JSON, timeout=10)
    assert (refused.status_code, refused.json()["error"]) == (411, "length_required")
    open_ended = new_link(server, max_files=3)
    chunks = iter([b"x" * 100, b"y" * 50])
    taken = requests.put(f"{open_ended['url']}/chunked.bin", data=chunks, headers=JSON, timeout=10)
    assert taken.status_code == 200 and taken.json()["size"] == 150
    CREATED.append(taken.json()["id"])
    assert use_of(server, open_ended) == (1, 150)  # counted once the body was in


def multipart_body(*files: tuple[str, bytes]) -> bytes:
    return b"".join(file_part(name.encode(), content) for name, content in files) + END


def post_files(link: dict, *files: tuple[str, bytes]) -> requests.Response:
    return requests.post(
        link["url"],
        data=multipart_body(*files),
        headers={"Content-Type": f"multipart/form-data; boundary={BOUNDARY.decode()}", **JSON},
        timeout=30,
    )


def test_multipart_bodies_through_a_link(server: ServerProcess) -> None:
    link = new_link(server, max_files=2, max_file_bytes=500)
    stored = post_files(link, ("one.txt", b"1" * 300), ("two.txt", b"2" * 200))
    assert stored.status_code == 200, stored.text
    assert [entry["filename"] for entry in stored.json()["files"]] == ["one.txt", "two.txt"]
    CREATED.extend(entry["id"] for entry in stored.json()["files"])
    assert use_of(server, link) == (2, 500)  # the part headers' bytes given back

    three = new_link(server, max_files=2)
    refused = post_files(three, ("a", b"a"), ("b", b"b"), ("c", b"c"))
    assert (refused.status_code, refused.json()["error"]) == (400, "too_many_files")
    assert use_of(server, three) == (0, 0)
    big = new_link(server, max_file_bytes=100)
    refused = post_files(big, ("small", b"s" * 10), ("large", b"L" * 101))
    assert (refused.status_code, refused.json()["error"]) == (413, "link_file_too_large")
    assert use_of(server, big) == (0, 0)
    listed = requests.get(
        f"{server.url}/api/uploads", params={"link": big["id"]}, headers=ADMIN, timeout=10
    )
    assert listed.json()["uploads"] == []  # nothing of a refused body is kept


def test_an_upload_cut_off_gives_back_what_it_took(server: ServerProcess) -> None:
    link = new_link(server, max_files=1)
    with connect(server.url) as sock:
        sock.sendall(
            request_bytes(
                "PUT", f"{path_of(link, server)}/cut.bin", headers={"Content-Length": "100000"}
            )
        )
        sock.sendall(b"x" * 1000)
        assert eventually(lambda: use_of(server, link) == (1, 100_000), timeout=10)
        sock.shutdown(socket.SHUT_RDWR)
    assert eventually(lambda: use_of(server, link) == (0, 0), timeout=30)
    again = requests.put(f"{link['url']}/whole.bin", data=b"w" * 10, timeout=10)
    assert again.status_code == 200  # the file it took is free again


def test_an_expired_link_answers_410_with_a_page_for_a_browser(server: ServerProcess) -> None:
    link = new_link(server, expires_in_seconds=1)
    assert requests.get(link["url"], headers=JSON, timeout=10).json()["expires_at"] > time.time()
    time.sleep(1.2)
    refused = requests.put(f"{link['url']}/late.txt", data=b"late", headers=JSON, timeout=10)
    assert (refused.status_code, refused.json()["error"]) == (410, "link_expired")
    page = requests.get(link["url"], headers={"Accept": "text/html"}, timeout=10)
    assert page.status_code == 410 and page.headers["Content-Type"].startswith("text/html")
    assert "This upload link is closed" in page.text and "expired at" in page.text
    assert page.headers["Content-Security-Policy"].startswith("default-src 'self'")
    unknown = requests.get(
        f"{server.url}/u/no-such-link", headers={"Accept": "text/html"}, timeout=10
    )
    assert unknown.status_code == 404 and "No such upload link" in unknown.text
    assert (
        requests.get(f"{server.url}/u/no-such-link", timeout=10).json()["error"] == "link_not_found"
    )


def test_a_links_max_days_bounds_its_uploads(server: ServerProcess) -> None:
    link = new_link(server, max_days=1)
    default = requests.put(f"{link['url']}/kept.txt", data=b"k", headers=JSON, timeout=10).json()
    assert default["expires_at"] == pytest.approx(time.time() + 86_400, abs=60)
    shorter = requests.put(
        f"{link['url']}/short.txt", data=b"s", headers={"Max-Days": "0.5", **JSON}, timeout=10
    )
    assert shorter.json()["expires_at"] == pytest.approx(time.time() + 43_200, abs=60)
    longer = requests.put(
        f"{link['url']}/long.txt", data=b"l", headers={"Max-Days": "2", **JSON}, timeout=10
    )
    assert (longer.status_code, longer.json()["error"]) == (400, "max_days_too_large")
    CREATED.extend([default["id"], shorter.json()["id"]])


def test_a_link_reaches_nothing_else(server: ServerProcess) -> None:
    link = new_link(server, label="only this", max_files=5)
    token = link["url"].rsplit("/", 1)[1]
    bearer = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{server.url}/api/uploads", headers=bearer, timeout=10).status_code == 403
    assert (
        requests.put(
            f"{server.url}/upload/x.txt", data=b"x", headers=bearer, timeout=10
        ).status_code
        == 403
    )
    info = requests.get(link["url"], headers=JSON, timeout=10).json()
    assert set(info) == {
        "label",
        "expires_at",
        "files_left",
        "bytes_left",
        "max_file_bytes",
        "max_days",
    }
    assert requests.get(f"{link['url']}/x.txt", timeout=10).status_code == 405
    assert requests.patch(link["url"], timeout=10).status_code == 405


def test_a_links_uploads_land_in_its_mega_folder(
    megasim: MegaSim, tmp_path_factory: pytest.TempPathFactory
) -> None:
    server = start_mega_server(
        tmp_path_factory.mktemp("link-folder"), megasim, admin_tokens=f"owner={ADMIN_TOKEN}"
    )
    try:
        link = new_link(server, folder="From Anna", max_files=1)
        assert link["folder_path"] == "Paimon/From Anna"
        content = os.urandom(20_000)
        stored = requests.put(f"{link['url']}/anna.bin", data=content, headers=JSON, timeout=60)
        assert stored.status_code == 200, stored.text
        CREATED.append(stored.json()["id"])
    finally:
        server.stop()
    nodes = stock_mega_client(megasim.url).login(V2_EMAIL, V2_PASSWORD).get_files()
    named = {node["a"]["n"]: (handle, node) for handle, node in nodes.items() if node.get("a")}
    paimon, anna = named["Paimon"], named["From Anna"]
    assert anna[1]["p"] == paimon[0]  # inside the upload folder
    assert named["anna.bin"][1]["p"] == anna[0]


@pytest.fixture
def pair(
    server_factory, redis_db: RedisServer, tmp_path: Path
) -> tuple[ServerProcess, ServerProcess]:
    """Two instances of two workers each: one Redis, one data directory."""
    shared = {
        "data_dir": str(tmp_path / "shared-volume"),
        "redis_url": redis_db.url,
        "workers": "2",
        "admin_tokens": f"owner={ADMIN_TOKEN}",
        "rate_limit_uploads": "",
    }
    return server_factory(**shared), server_factory(**shared)


def test_one_links_count_holds_across_workers_and_instances(
    pair: tuple[ServerProcess, ServerProcess],
) -> None:
    first, second = pair
    link = new_link(first, max_files=5)
    token = link["url"].rsplit("/", 1)[1]

    def upload(n: int) -> int:
        instance = pair[n % 2]
        reply = requests.put(
            f"{instance.url}/u/{token}/race-{n}.bin",
            data=os.urandom(2000),
            headers={"Connection": "close", **JSON},
            timeout=60,
        )
        if reply.status_code == 200:
            CREATED.append(reply.json()["id"])
        return reply.status_code

    with ThreadPoolExecutor(12) as pool:
        statuses = list(pool.map(upload, range(24)))
    assert statuses.count(200) == 5, statuses
    assert statuses.count(410) == 19, statuses
    assert use_of(second, link) == (5, 5 * 2000)
    listed = requests.get(
        f"{second.url}/api/uploads", params={"link": link["id"]}, headers=ADMIN, timeout=10
    )
    assert len(listed.json()["uploads"]) == 5
