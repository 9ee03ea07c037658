"""Rate limits on starting uploads: per valid token, else per client address, with
X-Forwarded-For believed only from PAIMON_FORWARDED_ALLOW_IPS; 429 JSON + Retry-After."""

from __future__ import annotations

import requests

from tests.support.known_secrets import REDIS_PASSWORD, SECOND_TOKEN, TOKEN, WRONG_TOKEN
from tests.support.redis import RedisServer
from tests.support.servers import ServerProcess
from tests.support.uploads import post_file


def counted(server: ServerProcess, **headers: str) -> requests.Response:
    """One upload counted against the budget, on a connection of its own."""
    return post_file(server, b"rate", "r.txt", headers={"Connection": "close", **headers})


def assert_rate_limited(reply: requests.Response) -> None:
    assert reply.status_code == 429
    assert reply.json()["error"] == "rate_limited"
    assert 0 < int(reply.headers["Retry-After"]) <= 60


def test_wrong_tokens_and_spoofed_forwarding_share_the_address_budget(server_factory) -> None:
    """127.0.0.1 is not a trusted proxy here, so its X-Forwarded-For is ignored; and an
    invented token is no key of its own: all of these count against one address."""
    server = server_factory(
        workers="1",
        auth_tokens=f"{TOKEN},{SECOND_TOKEN}",
        rate_limit_uploads="3/minute",
        forwarded_allow_ips="10.9.9.9",
    )
    # A valid token has its own budget, whatever its address has used.
    assert [counted(server, **{"X-Auth-Token": TOKEN}).status_code for _ in range(3)] == [200] * 3
    assert_rate_limited(counted(server, Authorization=f"Bearer {TOKEN}"))
    assert counted(server, Authorization=f"Bearer {SECOND_TOKEN}").status_code == 200

    replies = [
        counted(
            server, **{"X-Auth-Token": f"{WRONG_TOKEN}{i}", "X-Forwarded-For": f"203.0.113.{i}"}
        )
        for i in range(4)
    ]
    assert [r.status_code for r in replies[:3]] == [403, 403, 403]
    assert_rate_limited(replies[3])
    assert WRONG_TOKEN not in replies[3].text
    # Past its wrong tokens, the address is refused before any token is compared: else
    # the one right guess would still be told apart from the wrong ones.
    assert_rate_limited(counted(server, Authorization=f"Bearer {SECOND_TOKEN}"))

    # Reads are never limited.
    for path in ("/healthz", "/readyz", "/status", "/ping", "/status/unknown-id"):
        reply = requests.get(f"{server.url}{path}", timeout=5)
        assert reply.status_code != 429
        assert "X-RateLimit-Limit" not in reply.headers


def test_trusted_proxy_forwarding_names_the_client(server_factory) -> None:
    """From a trusted proxy (127.0.0.1 by default) the last X-Forwarded-For entry, the
    one the proxy appended, is the client; what the client put before it is not."""
    server = server_factory(workers="1", rate_limit_uploads="1/minute")
    assert counted(server, **{"X-Forwarded-For": "198.51.100.1"}).status_code == 200
    assert counted(server, **{"X-Forwarded-For": "198.51.100.2"}).status_code == 200
    assert_rate_limited(counted(server, **{"X-Forwarded-For": "1.2.3.4, 198.51.100.1"}))


def test_redis_counts_for_every_worker(server_factory, tmp_path) -> None:
    """With PAIMON_REDIS_URL the budget is shared by the workers (and instances); the
    URL's password appears nowhere."""
    with RedisServer.start(tmp_path, password=REDIS_PASSWORD) as redis_server:
        server = server_factory(
            workers="2", redis_url=redis_server.url, rate_limit_uploads="2/minute"
        )
        codes = [counted(server).status_code for _ in range(5)]
        assert codes == [200, 200, 429, 429, 429]
        status = requests.get(f"{server.url}/status", timeout=5).text
        with redis_server.client() as client:
            assert any("paimon-rate" in key for key in client.scan_iter("*paimon-rate*"))
    assert REDIS_PASSWORD not in status
    assert REDIS_PASSWORD not in server.logs()


def test_empty_setting_turns_the_limit_off(server_factory) -> None:
    server = server_factory(workers="1", rate_limit_uploads="")
    assert all(counted(server).status_code == 200 for _ in range(5))
