"""How the uploader cuts a file into POSTs."""

from __future__ import annotations

import itertools

import pytest

from paimon.storage.mega.crypto import chunk_spans
from paimon.storage.mega.uploader import DEFAULT_MAX_POST, plan_posts
from tests.support.uploads import MIB


@pytest.mark.parametrize("size", [1, 131_072, 131_082, 5 * MIB + 3, 64 * MIB, 1024 * MIB + 1])
@pytest.mark.parametrize("max_post", [1, MIB, 3 * MIB + 1, DEFAULT_MAX_POST])
def test_posts_cover_the_file_on_chunk_boundaries(size: int, max_post: int) -> None:
    posts = plan_posts(size, max_post)
    boundaries = {offset for offset, _ in chunk_spans(size)} | {size}
    assert posts[0].offset == 0
    for post, following in itertools.pairwise(posts):
        assert post.offset + post.length == following.offset
    assert posts[-1].offset + posts[-1].length == size
    for post in posts:
        assert post.offset in boundaries
        assert post.offset + post.length in boundaries
        assert post.length <= max_post or len(post.chunks) == 1
    assert [span for post in posts for span in post.chunks] == chunk_spans(size)


def test_an_empty_file_is_one_empty_post() -> None:
    (post,) = plan_posts(0)
    assert (post.offset, post.length, post.chunks) == (0, 0, ())


def test_default_posts_carry_several_chunks() -> None:
    posts = plan_posts(64 * MIB)
    # Greedy: every POST but the last is within one chunk of the limit.
    assert all(DEFAULT_MAX_POST - MIB < post.length <= DEFAULT_MAX_POST for post in posts[:-1])
    assert len(posts) == 9
