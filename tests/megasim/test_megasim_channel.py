"""MEGA's server-to-client channel (``sn`` in ``f``, ``/sc``, ``/wsc``), ``sml``, what
``ug`` carries beyond the user handle, and downloads by POST: the shapes MEGA's SDK reads
(src/megaclient.cpp, src/commands.cpp) and megajs and go-mega poll for."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest
import requests
from mega import Mega
from mega.crypto import (
    a32_to_str,
    base64_to_a32,
    base64_url_decode,
    base64_url_encode,
    decrypt_key,
)

from tests.support.megasim import (
    ATTRIBUTES,
    V1_EMAIL,
    V2_EMAIL,
    WRAPPED_KEY,
    MegaSim,
    stock_mega_client,
    upload_ciphertext,
)

CLIENT_ID = "abcdefghij"  # the SDK's 10-character session id, sent as "i"
SHORT_HOLD = 0.5


def api(sim: MegaSim, sid: str, *commands: dict) -> list:
    reply = requests.post(f"{sim.url}/cs", params={"sid": sid}, json=list(commands), timeout=30)
    return reply.json()


def sc(sim: MegaSim, sid: str, sn: str, method: str = "POST") -> object:
    reply = requests.request(method, f"{sim.url}/sc", params={"sn": sn, "sid": sid}, timeout=30)
    return reply.json()


def hold(sim: MegaSim, seconds: float) -> None:
    reply = requests.post(f"{sim.url}/_sim/sc", json={"hold_seconds": seconds}, timeout=10)
    assert reply.json() == {"hold_seconds": seconds}


def tree(sim: MegaSim, sid: str) -> dict:
    (reply,) = api(sim, sid, {"a": "f", "c": 1, "r": 1})
    return reply


def root_handle(reply: dict) -> str:
    (root,) = [node["h"] for node in reply["f"] if node["t"] == 2]
    return root


def new_folder(sim: MegaSim, sid: str, parent: str, **extra: object) -> dict:
    item = {"h": "xxxxxxxx", "t": 1, "a": ATTRIBUTES, "k": WRAPPED_KEY}
    (reply,) = api(sim, sid, {"a": "p", "t": parent, "n": [item], **extra})
    return reply["f"][0]


def test_f_hands_out_the_sequence_number_and_exported_links(
    megasim: MegaSim, v2_client: Mega
) -> None:
    sid = v2_client.sid
    first = tree(megasim, sid)
    assert len(base64_url_decode(first["sn"])) == 8  # the SDK's SCSN: a handle
    assert first["ph"] == []
    folder = new_folder(megasim, sid, root_handle(first))
    (public_handle,) = api(megasim, sid, {"a": "l", "n": folder["h"]})

    second = tree(megasim, sid)
    assert second["sn"] != first["sn"]
    (link,) = second["ph"]
    assert link["h"] == folder["h"] and link["ph"] == public_handle
    assert abs(link["ts"] - time.time()) < 60  # procph ignores a link without its time


def test_each_change_is_an_action_packet_as_the_sdk_reads_it(
    megasim: MegaSim, v2_client: Mega
) -> None:
    sid = v2_client.sid
    start = tree(megasim, sid)
    root, user = root_handle(start), start["f"][0]["u"]
    i = {"i": CLIENT_ID}
    outer = new_folder(megasim, sid, root, **i)
    inner = new_folder(megasim, sid, outer["h"])
    (public_handle,) = api(megasim, sid, {"a": "l", "n": outer["h"], **i})
    assert api(megasim, sid, {"a": "l", "n": outer["h"], "d": 1}) == [0]
    target = new_folder(megasim, sid, root)
    assert api(megasim, sid, {"a": "m", "n": outer["h"], "t": target["h"], **i}) == [0]
    assert api(megasim, sid, {"a": "d", "n": target["h"]}) == [0]

    reply = sc(megasim, sid, start["sn"])
    moved = {**outer, "p": target["h"]}
    # The client's "i" comes right after "a", where the SDK looks for its own changes.
    assert reply["a"] == [
        {"a": "t", "i": CLIENT_ID, "t": {"f": [outer]}, "ou": user},
        {"a": "t", "t": {"f": [inner]}, "ou": user},
        {
            "a": "ph",
            "i": CLIENT_ID,
            "h": outer["h"],
            "ph": public_handle,
            "ts": reply["a"][2]["ts"],
            "n": 1,
        },
        {"a": "ph", "h": outer["h"], "ph": public_handle, "d": 1},
        {"a": "t", "t": {"f": [target]}, "ou": user},
        {"a": "d", "i": CLIENT_ID, "n": outer["h"], "m": 1, "ou": user},
        {"a": "t", "i": CLIENT_ID, "t": {"f": [moved, inner]}, "ou": user},
        {"a": "d", "n": target["h"], "ou": user},
    ]
    assert list(reply["a"][0]) == ["a", "i", "t", "ou"]
    assert reply["sn"] == tree(megasim, sid)["sn"]
    # From there on, nothing new: a wait URL, and the same sn.
    assert sc(megasim, sid, reply["sn"])["sn"] == reply["sn"]


@pytest.mark.parametrize("method", ["POST", "GET"])  # megajs POSTs the wait URL, go-mega GETs
def test_nothing_new_is_a_wait_url_held_until_the_hold_time(
    megasim: MegaSim, v2_client: Mega, method: str
) -> None:
    sid = v2_client.sid
    sn = tree(megasim, sid)["sn"]
    reply = sc(megasim, sid, sn, method)
    assert set(reply) == {"w", "sn"} and reply["sn"] == sn
    assert reply["w"].startswith(f"{megasim.url}/wsc/")

    hold(megasim, SHORT_HOLD)
    started = time.monotonic()
    waited = requests.request(method, reply["w"], timeout=30)
    assert (waited.status_code, waited.content) == (200, b"0")
    assert time.monotonic() - started >= SHORT_HOLD * 0.9


def change_later(action: Callable[[], object], delay: float) -> threading.Thread:
    def run() -> None:
        time.sleep(delay)
        action()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def test_a_held_wait_ends_as_soon_as_the_account_changes(megasim: MegaSim, v2_client: Mega) -> None:
    sid = v2_client.sid
    start = tree(megasim, sid)
    wait_url = sc(megasim, sid, start["sn"])["w"]
    hold(megasim, 60)
    change = change_later(lambda: new_folder(megasim, sid, root_handle(start)), 0.5)
    started = time.monotonic()
    assert requests.post(wait_url, timeout=90).content == b"0"
    assert time.monotonic() - started < 30  # well before the hold time
    change.join()
    assert sc(megasim, sid, start["sn"])["a"][0]["a"] == "t"


def test_the_sdks_wsc_long_poll(megasim: MegaSim, v2_client: Mega) -> None:
    """``wsc?sn=..&sid=..``: the packets once there are any, else the keep-alive ``0``
    (``MegaClient::handleScNonStreaming``: "SC keep-alive received")."""
    sid = v2_client.sid
    start = tree(megasim, sid)
    url = f"{megasim.url}/wsc"
    params = {"sn": start["sn"], "sid": sid}
    hold(megasim, SHORT_HOLD)
    assert requests.post(url, params=params, timeout=30).content == b"0"

    hold(megasim, 60)
    change = change_later(lambda: new_folder(megasim, sid, root_handle(start)), 0.5)
    started = time.monotonic()
    reply = requests.post(url, params=params, timeout=90).json()
    assert time.monotonic() - started < 30
    change.join()
    assert [packet["a"] for packet in reply["a"]] == ["t"]
    assert reply["sn"] == tree(megasim, sid)["sn"]
    # The SDK appends its own ?sn= and sid to a wait URL it was handed: same answer.
    wait_url = sc(megasim, sid, reply["sn"])["w"]
    assert requests.post(wait_url, params=params, timeout=30).json() == reply


def test_channel_errors(megasim: MegaSim, v2_client: Mega) -> None:
    sid = v2_client.sid
    sn = tree(megasim, sid)["sn"]
    assert sc(megasim, "not-a-session", sn) == -15  # ESID: the SDK logs in again
    assert sc(megasim, sid, "short") == -2
    future = base64_url_decode(sn)
    future = future[:-1] + bytes([future[-1] + 1])
    assert sc(megasim, sid, base64_url_encode(future)) == -2
    assert requests.post(f"{megasim.url}/wsc/garbage", timeout=30).json() == -2

    # Nodes reset behind the client's back: its sn is too old to catch up. -6 (ETOOMANY)
    # is what the SDK reloads its tree on; the reloaded tree's sn works.
    new_folder(megasim, sid, root_handle(tree(megasim, sid)))
    megasim.reset(nodes=True)
    assert sc(megasim, sid, sn) == -6
    assert "w" in sc(megasim, sid, tree(megasim, sid)["sn"])


def test_sml_ends_the_session(megasim: MegaSim, v2_client: Mega) -> None:
    sid = v2_client.sid
    assert api(megasim, sid, {"a": "ug"})[0]["u"]
    assert api(megasim, sid, {"a": "sml"}) == [0]
    assert api(megasim, sid, {"a": "ug"}) == [-15]
    assert api(megasim, sid, {"a": "sml"}) == [-15]


def private_key(client: Mega, wrapped: str) -> list[int]:
    """p, q, d, u from ``privk``, unwrapped with the client's master key (as mega.py)."""
    blob = a32_to_str(decrypt_key(base64_to_a32(wrapped), client.master_key))
    numbers = []
    for _ in range(4):
        length = 2 + (int.from_bytes(blob[:2], "big") + 7) // 8
        numbers.append(int.from_bytes(blob[2:length], "big"))
        blob = blob[length:]
    return numbers


def public_key(pubk: str) -> tuple[int, int]:
    """n and e from ``pubk``: two MPIs (``AsymmCipher::setkey`` with PUBKEY)."""
    blob = base64_url_decode(pubk)
    numbers = []
    for _ in range(2):
        length = 2 + (int.from_bytes(blob[:2], "big") + 7) // 8
        numbers.append(int.from_bytes(blob[2:length], "big"))
        blob = blob[length:]
    assert blob == b""
    return numbers[0], numbers[1]


@pytest.mark.parametrize("version", [2, 1])
def test_ug_carries_the_rsa_keys_and_login_version(megasim: MegaSim, version: int) -> None:
    email = V2_EMAIL if version == 2 else V1_EMAIL
    client = stock_mega_client(megasim.url).login(email, megasim.accounts[email])
    (info,) = api(megasim, client.sid, {"a": "ug", "v": 1})  # as the SDK asks
    assert info["aav"] == version
    if version == 2:
        (prelogin,) = api(megasim, client.sid, {"a": "us0", "user": email})
        assert info["aas"] == prelogin["s"]
    else:
        assert "aas" not in info
    p, q, d, _ = private_key(client, info["privk"])
    n, e = public_key(info["pubk"])
    assert n == p * q
    assert e * d % ((p - 1) * (q - 1)) == 1
    message = 0x1234567890ABCDEF
    assert pow(pow(message, e, n), d, n) == message


def test_downloads_by_post_as_the_sdk_sends_them(v2_client: Mega) -> None:
    data = bytes(range(256)) * 1000
    node = upload_ciphertext(v2_client, data)
    url = v2_client._api_request({"a": "g", "g": 1, "n": node["h"]})["g"]
    # HttpReqDL::prepare asks for <url>/<from>-<to>, TransferSlot POSTs it.
    part = requests.post(f"{url}/1000-1999", timeout=30)
    assert (part.status_code, part.content) == (200, data[1000:2000])
    assert requests.post(url, timeout=30).content == data
    assert requests.post(f"{url}/0-{len(data)}", timeout=30).status_code == 416
    assert requests.post(f"{url[:-4]}XXXX/0-9", timeout=30).status_code == 404
