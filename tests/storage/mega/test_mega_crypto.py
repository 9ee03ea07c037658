"""The bulk crypto against mega.py's own per-block computation, for awkward sizes."""

from __future__ import annotations

import itertools
import os
from pathlib import Path

import pytest
from Crypto.Cipher import AES
from Crypto.Util import Counter
from mega.crypto import a32_to_str, get_chunks, makebyte, str_to_a32

from paimon.storage.mega.crypto import (
    FileKey,
    MacMismatch,
    chunk_mac,
    chunk_spans,
    decrypt_file,
    encrypt_chunk,
    iter_decrypt,
    mac_scratch,
    make_link,
    meta_mac,
    node_key,
    parse_link,
    seal,
    unpack_node_key,
)
from paimon.storage.mega.uploader import plan_posts
from tests.support.uploads import MIB

SIZES = [0, 1, 15, 16, 17, 31, 32, 33, *range(131_071, 131_090), 393_216 + 5, 5 * MIB + 3]


def megapy_upload_meta_mac(key: FileKey, data: bytes) -> tuple[int, int]:
    """mega.py 1.0.8's upload() MAC loop, verbatim but for the file I/O."""
    ul_key = [*key.aes, *key.nonce]
    k_str = a32_to_str(ul_key[:4])
    file_size = len(data)
    mac_str = "\0" * 16
    mac_encryptor = AES.new(k_str, AES.MODE_CBC, mac_str.encode("utf8"))
    iv_str = a32_to_str([ul_key[4], ul_key[5], ul_key[4], ul_key[5]])
    if file_size > 0:
        for chunk_start, chunk_size in get_chunks(file_size):
            chunk = data[chunk_start : chunk_start + chunk_size]
            encryptor = AES.new(k_str, AES.MODE_CBC, iv_str)
            for i in range(0, len(chunk) - 16, 16):
                block = chunk[i : i + 16]
                encryptor.encrypt(block)
            if file_size > 16:
                i += 16
            else:
                i = 0
            block = chunk[i : i + 16]
            if len(block) % 16:
                block += makebyte("\0" * (16 - len(block) % 16))
            mac_str = mac_encryptor.encrypt(encryptor.encrypt(block))
    file_mac = str_to_a32(mac_str)
    return (file_mac[0] ^ file_mac[1], file_mac[2] ^ file_mac[3])


def per_block_chunk_mac(key: FileKey, chunk: bytes) -> bytes:
    """CBC-MAC by its definition: one ECB call per 16-byte block, chained by hand."""
    ecb = AES.new(key.key_bytes, AES.MODE_ECB)
    mac = a32_to_str(key.nonce + key.nonce)
    padded = chunk + bytes(-len(chunk) % 16)
    for start in range(0, len(padded), 16):
        block = padded[start : start + 16]
        mixed = int.from_bytes(mac, "big") ^ int.from_bytes(block, "big")
        mac = ecb.encrypt(mixed.to_bytes(16, "big"))
    return mac


def megapy_bitten(size: int) -> bool:
    """mega.py's loop crashes when the last chunk is 1-16 bytes after a full chunk."""
    return size > 16 and 0 < chunk_spans(size)[-1][1] <= 16


def encrypt_whole(key: FileKey, data: bytes) -> tuple[bytes, tuple[int, ...]]:
    pieces, macs = [], []
    for offset, length in chunk_spans(len(data)):
        plaintext = data[offset : offset + length]
        pieces.append(encrypt_chunk(key, offset, plaintext))
        macs.append(chunk_mac(key, plaintext))
    return b"".join(pieces), node_key(key, meta_mac(key, macs))


@pytest.fixture(scope="module")
def data() -> bytes:
    return os.urandom(max(SIZES))


@pytest.mark.parametrize("size", SIZES)
def test_chunk_macs_match_the_per_block_definition(size: int, data: bytes) -> None:
    key = FileKey.generate()
    for offset, length in chunk_spans(size):
        chunk = data[offset : offset + length]
        assert chunk_mac(key, chunk) == per_block_chunk_mac(key, chunk)


@pytest.mark.parametrize("size", SIZES)
def test_meta_mac_matches_megapy_upload_loop(size: int, data: bytes) -> None:
    key = FileKey.generate()
    plaintext = data[:size]
    _, words = encrypt_whole(key, plaintext)
    ours = words[6:8]
    if megapy_bitten(size):
        with pytest.raises(IndexError):  # the defect this uploader exists to avoid
            megapy_upload_meta_mac(key, plaintext)
    else:
        assert ours == megapy_upload_meta_mac(key, plaintext)


@pytest.mark.parametrize("size", SIZES)
def test_ciphertext_matches_one_ctr_stream(size: int, data: bytes) -> None:
    key = FileKey.generate()
    plaintext = data[:size]
    counter = Counter.new(128, initial_value=((key.nonce[0] << 32) + key.nonce[1]) << 64)
    expected = AES.new(key.key_bytes, AES.MODE_CTR, counter=counter).encrypt(plaintext)
    assert encrypt_whole(key, plaintext)[0] == expected


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("max_post", [MIB, 3 * MIB + 1])
def test_seal_encrypts_posts_in_place_like_the_chunk_functions(
    size: int, max_post: int, data: bytes
) -> None:
    """What the uploader sends: every POST sealed in one reused buffer, with one scratch."""
    key = FileKey.generate()
    plaintext = data[:size]
    expected_ciphertext, expected_key = encrypt_whole(key, plaintext)
    buffer = memoryview(bytearray(max_post))
    scratch = mac_scratch()
    sent, macs = [], []
    for post in plan_posts(size, max_post):
        body = buffer[: post.length]
        body[:] = plaintext[post.offset : post.offset + post.length]
        macs += seal(key, post.offset, post.chunks, body, scratch)
        sent.append(bytes(body))
    assert b"".join(sent) == expected_ciphertext
    assert node_key(key, meta_mac(key, macs)) == expected_key


@pytest.mark.parametrize("size", SIZES)
def test_round_trip_checks_the_meta_mac(size: int, data: bytes) -> None:
    key = FileKey.generate()
    plaintext = data[:size]
    ciphertext, words = encrypt_whole(key, plaintext)
    assert decrypt_file(ciphertext, words) == plaintext
    # Cut anywhere, the stream decrypts the same.
    pieces = [ciphertext[i : i + 7777] for i in range(0, len(ciphertext), 7777)]
    assert b"".join(iter_decrypt(pieces, words)) == plaintext
    if size:
        tampered = bytes([ciphertext[0] ^ 1]) + ciphertext[1:]
        with pytest.raises(MacMismatch):
            decrypt_file(tampered, words)


def test_decrypt_file_reads_a_path(tmp_path: Path, data: bytes) -> None:
    key = FileKey.generate()
    plaintext = data[: 3 * MIB + 17]
    ciphertext, words = encrypt_whole(key, plaintext)
    path = tmp_path / "blob"
    path.write_bytes(ciphertext)
    assert decrypt_file(path, words) == plaintext


def test_wrong_meta_mac_is_detected(data: bytes) -> None:
    key = FileKey.generate()
    ciphertext, words = encrypt_whole(key, data[:1000])
    wrong = (*words[:6], words[6] ^ 1, words[7])
    with pytest.raises(MacMismatch):
        decrypt_file(ciphertext, wrong)


def test_node_key_unpacks_as_megapy_reads_it() -> None:
    key = FileKey.generate()
    mac = (0x01234567, 0x89ABCDEF)
    words = node_key(key, mac)
    # mega.py's _process_file: k = key[:4] ^ key[4:], iv = key[4:6], meta_mac = key[6:8].
    assert tuple(words[i] ^ words[i + 4] for i in range(4)) == key.aes
    assert words[4:6] == key.nonce
    assert words[6:8] == mac
    assert unpack_node_key(words) == (key, mac)


def test_link_round_trip() -> None:
    words = node_key(FileKey.generate(), (1, 2))
    link = make_link("AbCdEfGh", words)
    assert link.startswith("https://mega.nz/file/AbCdEfGh#")
    assert parse_link(link) == ("AbCdEfGh", words)


def test_keys_are_not_repeated() -> None:
    assert len({FileKey.generate() for _ in range(100)}) == 100


def test_chunk_boundaries_follow_megapy() -> None:
    assert chunk_spans(0) == []
    assert chunk_spans(1) == [(0, 1)]
    assert chunk_spans(131_072) == [(0, 131_072)]
    assert chunk_spans(131_073) == [(0, 131_072), (131_072, 1)]
    spans = chunk_spans(10 * MIB + 5)
    lengths = [length for _, length in spans]
    assert lengths[:8] == [128 * 1024 * n for n in range(1, 9)]
    assert set(lengths[8:-1]) == {MIB}
    assert lengths[-1] <= MIB
    assert all(a + la == b for (a, la), (b, _) in itertools.pairwise(spans))
    assert sum(lengths) == 10 * MIB + 5


def test_an_empty_file_has_the_sdks_meta_mac() -> None:
    """MEGA's SDK encrypts no chunk for 0 bytes and folds an empty chunk-MAC map into a
    zero block (``chunkmac_map::macsmac``): meta-MAC (0, 0), not the "one empty chunk
    whose MAC is the IV" some clients compute."""
    key = FileKey.generate()
    assert chunk_spans(0) == []
    assert meta_mac(key, []) == (0, 0)
    iv_as_mac = a32_to_str(key.nonce + key.nonce)
    assert meta_mac(key, [iv_as_mac]) != (0, 0)
    words = node_key(key, meta_mac(key, []))
    assert words[6:8] == (0, 0)
    assert decrypt_file(b"", words) == b""
