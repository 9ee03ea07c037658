"""The owners (``PAIMON_ADMIN_TOKENS``): who may use the console (``/admin``) and the
JSON API (``/api/``). Without admin tokens neither exists: their routes answer 404.

The API takes an admin token as a bearer header, and nothing else: no cookie reaches
it, so no other site can make a browser call it. In a browser the owner signs in once
with an admin token and gets a session: Flask's cookie session, signed with
itsdangerous under a key derived from the install's secret, ``HttpOnly``,
``SameSite=Strict``, ``Secure`` when the request came over https, sent only to
``/admin``, lasting ``PAIMON_ADMIN_SESSION_HOURS`` from signing in. It names the owner's
label and a reference to the token's digest, so removing a token from the settings ends
its sessions. Every form that changes something carries the session's CSRF token
(``csrf_token``), compared in constant time; a post without it is refused with 403
before anything changes. A wrong admin token, by header or at sign-in, counts against
the same guessing budget as a wrong upload token.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from datetime import timedelta

from flask import Flask, abort, current_app, g, request, session
from flask.sessions import SecureCookieSessionInterface

from paimon.observability.logs import reference
from paimon.web.auth import presented_token
from paimon.web.context import services
from paimon.web.errors import ApiError
from paimon.web.tokens import Holder

SESSION_COOKIE = "paimon_owner"
CSRF_FIELD = "csrf_token"


class OwnerSessions(SecureCookieSessionInterface):
    """Flask's signed cookie session, ``Secure`` whenever the request is https (as a
    trusted proxy reports it), so plain http on 127.0.0.1 still works."""

    def get_cookie_secure(self, app: Flask) -> bool:
        return request.is_secure


def session_key(install_secret: bytes) -> bytes:
    """The key the owners' session cookies are signed with: the install's secret's own,
    so a new install (or a new secret) ends every session."""
    return hmac.new(install_secret, b"paimon owner sessions", hashlib.sha256).digest()


def register(app: Flask, key: bytes, lifetime_seconds: float) -> None:
    """Flask's session, as the owners' sessions: signed with ``key`` (``session_key``)."""
    app.secret_key = key
    app.session_interface = OwnerSessions()
    app.config.update(
        SESSION_COOKIE_NAME=SESSION_COOKIE,
        SESSION_COOKIE_PATH="/admin",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Strict",
        SESSION_REFRESH_EACH_REQUEST=False,
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=lifetime_seconds),
    )


def require_console() -> None:
    """A before-request hook of the console's and the API's blueprints: 404 when this
    server has no admin tokens (no console)."""
    if not services().owners:
        abort(404)


def _checked(token: str) -> Holder | None:
    """The owner holding ``token``, or None, with the guessing limit applied first
    (429 once the client address has used it up) and a wrong token spent from it."""
    limits = services().limits
    limits.check()
    holder = services().owners.holder(token)
    if holder is None:
        limits.spend()
    return holder


def check_api_owner() -> None:
    """A before-request hook of the API: the request bears an owner's admin token (its
    label then in ``g.who``); 401 without one, 403 with a wrong one (an upload token is
    a wrong one)."""
    token = presented_token()
    if token is None:
        raise ApiError(
            "admin_token_required",
            "The API needs an admin token (PAIMON_ADMIN_TOKENS): send it as "
            "'Authorization: Bearer <token>'.",
        )
    holder = _checked(token)
    if holder is None:
        raise ApiError("admin_token_rejected", "The admin token is not valid.")
    g.who = holder.label


def sign_in(token: str) -> str | None:
    """Open a session for the owner of ``token``: their label, or None (a wrong token,
    counted against the guessing limit)."""
    holder = _checked(token)
    if holder is None:
        return None
    session.clear()
    session.permanent = True
    session["owner"] = holder.label
    session["token"] = reference(holder.digest.hex(), 32)
    session["since"] = time.time()
    session[CSRF_FIELD] = secrets.token_urlsafe(32)  # a new one at every sign-in
    g.who = holder.label
    return holder.label


def sign_out() -> None:
    session.clear()


def signed_in() -> str | None:
    """The label of the owner signed in with this request's session, if any: a session
    from before its owner's token was removed, or older than its lifetime, is none."""
    label, token, since = session.get("owner"), session.get("token"), session.get("since")
    if not (isinstance(label, str) and isinstance(token, str) and isinstance(since, float)):
        return None
    lifetime = current_app.permanent_session_lifetime.total_seconds()
    holder = services().owners.holds(token)
    if holder is None or holder.label != label or not 0 <= time.time() - since < lifetime:
        return None
    g.who = label
    return label


def csrf_token() -> str:
    """The session's CSRF token, made for a visitor who has none yet (the sign-in form)."""
    token = session.get(CSRF_FIELD)
    if not isinstance(token, str):
        token = session[CSRF_FIELD] = secrets.token_urlsafe(32)
    return token


def check_csrf() -> None:
    """403 ``csrf_failed`` unless the form carries this session's CSRF token."""
    expected = session.get(CSRF_FIELD)
    sent = request.form.get(CSRF_FIELD, "")
    if not isinstance(expected, str) or not hmac.compare_digest(sent.encode(), expected.encode()):
        raise ApiError(
            "csrf_failed",
            "This form is not from this console's page (or the page is older than the "
            "sign-in): reload the page and try again.",
        )
