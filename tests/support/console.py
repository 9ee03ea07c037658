"""The owner's console as a browser's form posts reach it: its CSRF token and sign-in,
shared by the console's API tests and the webhook tests that delete from it."""

from __future__ import annotations

import re

import requests

_CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_of(page: str) -> str:
    """The CSRF token a console page's form carries."""
    return _CSRF.search(page)[1]


def sign_in(session: requests.Session, url: str, token: str) -> requests.Response:
    """Post the sign-in form with ``token`` as a browser does; the redirect (303 when
    signed in) is returned, not followed."""
    form = session.get(f"{url}/admin/sign-in", timeout=10).text
    return session.post(
        f"{url}/admin/sign-in",
        files={"csrf_token": (None, csrf_of(form)), "token": (None, token)},
        allow_redirects=False,
        timeout=10,
    )
