"""MEGA's protocol details the emulator enforces, driven at the HTTP level."""

from __future__ import annotations

import http.client
import os
import time
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlsplit

import pytest
import requests
from mega import Mega
from mega.crypto import get_chunks
from mega.errors import RequestError

from tests.support.megasim import (
    ATTRIBUTES,
    V1_PASSWORD,
    V2_EMAIL,
    V2_PASSWORD,
    WRAPPED_KEY,
    MegaSim,
    post,
    upload_ciphertext,
    upload_url,
)

KIB = 1024


def test_chunk_ranges_must_fall_on_mega_chunk_boundaries(v2_client: Mega) -> None:
    url = upload_url(v2_client, 300_000)
    first_chunk = 128 * KIB
    assert post(url, 1, b"x" * 1000).text == "-7"  # does not start on a boundary
    assert post(url, 0, b"x" * 100_000).text == "-7"  # does not end on one
    assert post(url, first_chunk, b"x" * 300_000).text == "-7"  # runs past the end
    assert post(url, first_chunk, b"").text == "-7"  # empty range of a non-empty file
    assert post(url, first_chunk, b"x" * (300_000 - first_chunk)).text == ""  # incomplete
    completion_handle = post(url, 0, b"x" * first_chunk).text
    assert len(completion_handle) == 27


def test_several_chunks_per_post_and_concurrent_posts(megasim: MegaSim, v2_client: Mega) -> None:
    size = 6 * 1024 * KIB + 12_345
    data = os.urandom(size)
    groups: list[tuple[int, int]] = []  # (start, end) of about 1 MiB of whole chunks each
    for start, length in get_chunks(size):
        if groups and groups[-1][1] - groups[-1][0] < 1024 * KIB:
            groups[-1] = (groups[-1][0], start + length)
        else:
            groups.append((start, start + length))
    url = upload_url(v2_client, size)
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda g: post(url, g[0], data[g[0] : g[1]]).text, groups))
    completions = [answer for answer in answers if answer]
    assert len(groups) > 4
    assert len(completions) == 1 and len(completions[0]) == 27

    root = v2_client.get_node_by_type(2)[0]
    item = {"h": completions[0], "t": 0, "a": ATTRIBUTES, "k": WRAPPED_KEY}
    (node,) = v2_client._api_request({"a": "p", "t": root, "n": [item]})["f"]
    assert (node["s"], node["a"], node["k"]) == (size, ATTRIBUTES, f"{node['u']}:{WRAPPED_KEY}")
    download = v2_client._api_request({"a": "g", "g": 1, "n": node["h"]})
    assert requests.get(download["g"], timeout=30).content == data
    with pytest.raises(RequestError) as raised:  # a completion handle is used once
        v2_client._api_request({"a": "p", "t": root, "n": [item]})
    assert raised.value.code == -9


def test_download_honours_ranges(v2_client: Mega) -> None:
    data = os.urandom(5000)
    node = upload_ciphertext(v2_client, data)
    public_handle = v2_client._api_request({"a": "l", "n": node["h"]})
    download = v2_client._api_request({"a": "g", "g": 1, "p": public_handle})
    assert (download["s"], download["at"]) == (5000, ATTRIBUTES)

    whole = requests.get(download["g"], timeout=10)
    assert (whole.status_code, whole.headers["Content-Length"]) == (200, "5000")
    part = requests.get(download["g"], headers={"Range": "bytes=10-19"}, timeout=10)
    assert (part.status_code, part.content) == (206, data[10:20])
    assert part.headers["Content-Range"] == "bytes 10-19/5000"
    tail = requests.get(download["g"], headers={"Range": "bytes=-100"}, timeout=10)
    assert tail.content == data[-100:]
    assert requests.get(f"{download['g']}/100-199", timeout=10).content == data[100:200]
    beyond = requests.get(download["g"], headers={"Range": "bytes=6000-"}, timeout=10)
    assert beyond.status_code == 416


def test_download_faults(megasim: MegaSim, v2_client: Mega) -> None:
    data = os.urandom(300_000)
    node = upload_ciphertext(v2_client, data)
    url = v2_client._api_request({"a": "g", "g": 1, "n": node["h"]})["g"]
    megasim.fault("download", "http500")
    megasim.fault("download", "drop")
    assert requests.get(url, timeout=10).status_code == 500
    with pytest.raises(requests.exceptions.ChunkedEncodingError):  # body cut short
        requests.get(url, timeout=10)
    assert requests.get(url, timeout=10).content == data


def test_upload_over_quota_then_after_raising_it(megasim: MegaSim, v2_client: Mega) -> None:
    megasim.set_quota(V2_EMAIL, 4000)
    upload_ciphertext(v2_client, b"x" * 3000)
    with pytest.raises(RequestError) as raised:
        upload_url(v2_client, 2000)
    assert raised.value.code == -17
    megasim.set_quota(V2_EMAIL, 5000)
    upload_ciphertext(v2_client, b"x" * 2000)
    assert v2_client.get_storage_space() == {"used": 5000, "total": 5000}


def test_expired_upload_url_stays_expired(megasim: MegaSim, v2_client: Mega) -> None:
    url = upload_url(v2_client, 1000)
    megasim.fault("upload", -8)
    assert post(url, 0, b"x" * 1000).text == "-8"
    assert post(url, 0, b"x" * 1000).text == "-8"
    assert len(post(upload_url(v2_client, 1000), 0, b"x" * 1000).text) == 27


def test_transient_upload_faults_then_success(megasim: MegaSim, v2_client: Mega) -> None:
    url = upload_url(v2_client, 1024 * KIB)
    body = os.urandom(1024 * KIB)
    megasim.fault("upload", "http500")
    megasim.fault("upload", "drop")
    megasim.fault("upload", -18, count=2)
    assert post(url, 0, body).status_code == 500
    with pytest.raises(requests.ConnectionError):
        post(url, 0, body)
    assert [post(url, 0, body).text for _ in range(2)] == ["-18", "-18"]
    assert len(post(url, 0, body).text) == 27


def test_api_faults_answer_in_queue_order(megasim: MegaSim, v2_client: Mega) -> None:
    megasim.fault("api", -18)
    megasim.fault("api", -15)
    assert [fault["error"] for fault in megasim.state()["faults"]] == [-18, -15]
    url, session = f"{megasim.url}/cs", {"sid": v2_client.sid}
    command = [{"a": "ug"}]
    answers = [requests.post(url, params=session, json=command, timeout=10).json() for _ in "abc"]
    assert answers[:2] == [-18, -15]
    assert answers[2][0]["email"] == V2_EMAIL


def test_fault_requests_are_validated(megasim: MegaSim) -> None:
    for bad in (
        {"target": "nowhere", "error": -3},
        {"target": "api", "error": 3},
        {"target": "api", "error": "boom"},
        {"target": "download", "error": -8},
        {"target": "api", "error": -3, "count": 0},
    ):
        response = requests.post(f"{megasim.url}/_sim/faults", json=bad, timeout=10)
        assert response.status_code == 400, bad
    assert megasim.state()["faults"] == []


def test_a_paused_answer_comes_after_the_command_was_carried_out(
    megasim: MegaSim, v2_client: Mega
) -> None:
    """`/_sim/pause`: the next request with that command is carried out at once, and its
    answer held back; other commands pass; bad requests are 400 and queue nothing."""
    for bad in ({"action": "", "seconds": 1}, {"action": "ug", "seconds": 0}, {"action": "ug"}):
        response = requests.post(f"{megasim.url}/_sim/pause", json=bad, timeout=10)
        assert response.status_code == 400, bad
    assert megasim.state()["pauses"] == {"queued": [], "holding": 0}
    assert megasim.pause("ug", 1.5)["queued"] == [{"action": "ug", "seconds": 1.5}]
    started = time.monotonic()
    assert v2_client.get_quota() > 0  # "uq": not paused
    assert time.monotonic() - started < 1
    started = time.monotonic()
    assert v2_client.get_user()["email"] == V2_EMAIL  # "ug": held 1.5 s
    assert time.monotonic() - started >= 1.4
    assert megasim.state()["pauses"] == {"queued": [], "holding": 0}


def test_throttle_limits_upload_bodies(megasim: MegaSim, v2_client: Mega) -> None:
    body = b"x" * (384 * KIB)  # the first two chunks: 128 KiB + 256 KiB
    megasim.throttle(512 * KIB)
    started = time.monotonic()
    assert post(upload_url(v2_client, len(body)), 0, body).status_code == 200
    assert time.monotonic() - started >= 0.6
    assert megasim.state()["throttle_bytes_per_second"] == 512 * KIB
    megasim.reset()
    started = time.monotonic()
    post(upload_url(v2_client, len(body)), 0, body)
    assert time.monotonic() - started < 0.5


def test_move_and_recursive_delete(megasim: MegaSim, v2_client: Mega) -> None:
    folders = v2_client.create_folder("outer/inner")
    node = upload_ciphertext(v2_client, b"y" * 1000)
    api = v2_client._api_request
    assert api({"a": "m", "n": node["h"], "t": folders["inner"]}) == 0
    with pytest.raises(RequestError) as raised:
        api({"a": "m", "n": folders["outer"], "t": folders["inner"]})
    assert raised.value.code == -10

    assert api({"a": "d", "n": folders["outer"]}) == 0
    remaining = {n["h"] for n in megasim.state()["nodes"]}
    assert not remaining & {node["h"], *folders.values()}
    assert v2_client.get_storage_space()["used"] == 0
    assert not list((megasim.data_dir / "megasim-blobs").glob("*.blob"))
    with pytest.raises(RequestError) as raised:
        api({"a": "d", "n": v2_client.get_node_by_type(2)[0]})
    assert raised.value.code == -11


def test_unknown_handles_are_enoent(v2_client: Mega) -> None:
    for command in (
        {"a": "g", "g": 1, "p": "AAAAAAAA"},
        {"a": "g", "g": 1, "n": "AAAAAAAA"},
        {"a": "l", "n": "AAAAAAAA"},
        {"a": "p", "t": "AAAAAAAA", "n": [{"h": "x", "t": 1, "a": "", "k": ""}]},
    ):
        with pytest.raises(RequestError) as raised:
            v2_client._api_request(command)
        assert raised.value.code == -9, command
    with pytest.raises(RequestError) as raised:
        v2_client._api_request({"a": "u", "s": "big"})
    assert raised.value.code == -2


def test_state_and_reset(megasim: MegaSim, v2_client: Mega) -> None:
    upload_ciphertext(v2_client, b"z" * 1234)
    megasim.fault("download", "drop")
    state = megasim.state()
    accounts = {account["email"]: account for account in state["accounts"]}
    assert accounts[V2_EMAIL]["used_bytes"] == 1234
    assert accounts[V2_EMAIL]["quota_bytes"] == 50 * 1024**3
    assert state["bytes_stored"] == 1234
    assert state["faults"] == [{"target": "download", "error": "drop", "count": 1}]
    text = requests.get(f"{megasim.url}/_sim/state", timeout=10).text
    assert V2_PASSWORD not in text and V1_PASSWORD not in text

    megasim.reset()
    state = megasim.state()
    assert state["faults"] == [] and state["bytes_stored"] == 0
    assert all(node["t"] in (2, 3, 4) for node in state["nodes"])


def test_one_connection_serves_many_requests(megasim: MegaSim, v2_client: Mega) -> None:
    url = urlsplit(upload_url(v2_client, 1000))
    connection = http.client.HTTPConnection(url.netloc, timeout=10)
    requests_on_one_socket = [
        ("POST", f"{url.path}/5", b"x" * 1000, b"-7"),  # refused, body still drained
        ("POST", f"{url.path}/0", b"x" * 1000, None),  # completes: a completion handle
        ("POST", "/cs", b'[{"a": "us0", "user": "user@example.com"}]', None),
        ("GET", "/nowhere", None, b"not found\n"),
        ("GET", "/_sim/state", None, None),
    ]
    connection.connect()
    first_socket = connection.sock  # http.client would silently reconnect if we hung up
    for method, path, body, expected in requests_on_one_socket:
        connection.request(method, path, body=body)
        response = connection.getresponse()
        content = response.read()
        assert response.getheader("Content-Length") == str(len(content))
        if expected is not None:
            assert content == expected
        assert connection.sock is first_socket
    connection.close()


def test_upload_without_content_length_is_refused(v2_client: Mega) -> None:
    url = upload_url(v2_client, 1000)
    response = requests.post(f"{url}/0", data=iter([b"x" * 1000]), timeout=10)  # chunked
    assert response.status_code == 411


def test_expired_session_fault_waits_for_a_request_with_a_session(megasim: MegaSim) -> None:
    """A login carries no session, so MEGA cannot answer it -15; the fault stays queued."""
    megasim.fault("api", -15)
    prelogin = requests.post(f"{megasim.url}/cs", json=[{"a": "us0", "user": V2_EMAIL}], timeout=10)
    assert isinstance(prelogin.json()[0], dict)
    assert megasim.state()["faults"] == [{"target": "api", "error": -15, "count": 1}]
    with_session = requests.post(
        f"{megasim.url}/cs", params={"sid": "some-session"}, json=[{"a": "ug"}], timeout=10
    )
    assert with_session.json() == -15
    assert megasim.state()["faults"] == []


def test_ciphertext_can_be_checked_without_being_kept(megasim: MegaSim, v2_client: Mega) -> None:
    """For benchmarks: bodies are read and checked, not stored; downloads are zeros."""
    control = f"{megasim.url}/_sim/ciphertext"
    assert requests.post(control, json={"keep": "no"}, timeout=10).status_code == 400
    assert requests.post(control, json={"keep": False}, timeout=10).json() == {"keep": False}
    assert megasim.state()["keep_ciphertext"] is False
    assert post(upload_url(v2_client, 300_000), 1, b"x" * 1000).text == "-7"  # still checked
    node = upload_ciphertext(v2_client, os.urandom(300_000))
    download = v2_client._api_request({"a": "g", "g": 1, "n": node["h"]})
    assert download["s"] == 300_000
    assert requests.get(download["g"], timeout=10).content == bytes(300_000)

    megasim.reset()
    assert megasim.state()["keep_ciphertext"] is True
    data = os.urandom(5000)
    node = upload_ciphertext(v2_client, data)
    download = v2_client._api_request({"a": "g", "g": 1, "n": node["h"]})
    assert requests.get(download["g"], timeout=10).content == data


def test_every_node_carries_attributes_and_key(v2_client: Mega) -> None:
    """async-mega-py, tested against MEGA, reads ``a`` of every node, top-level ones too
    (it failed with KeyError on the emulator before): they carry empty ones."""
    nodes = v2_client._api_request({"a": "f", "c": 1, "r": 1})["f"]
    top = [node for node in nodes if node["t"] in (2, 3, 4)]
    assert len(top) == 3
    assert all(node["a"] == "" and node["k"] == "" for node in top)
