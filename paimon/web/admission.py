"""Upload slots taken before a body is read (paimon/uploads/admission.py says why).

A request with a body (POST, PUT or PATCH with a Content-Length above zero, or
chunked) takes a slot in a before-request hook, ahead of the rate limiter, the token
check and the view, and gives it back when the request ends, whatever its outcome.
"""

from __future__ import annotations

from flask import Flask, g, request

from paimon.web.context import services

BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})


def sends_body() -> bool:
    if request.method not in BODY_METHODS:
        return False
    chunked = "chunked" in request.headers.get("Transfer-Encoding", "").lower()
    return chunked or bool(request.content_length)


def _claim() -> None:
    if sends_body():
        wired = services()
        g.upload_slot = wired.upload_slots.claim(wired.identity.key())


def _release(_exc: BaseException | None) -> None:
    slot = g.pop("upload_slot", None)
    if slot is not None:
        slot.release()


def register(app: Flask) -> None:
    app.before_request(_claim)
    app.teardown_request(_release)
