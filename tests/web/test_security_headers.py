"""Security headers on every response, a strict Content-Security-Policy on pages, and
pages that need no inline script."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import requests

from paimon.web.security import DATA_CSP, FILE_CSP, PAGE_CSP
from tests.support.servers import REPO_ROOT, ServerProcess

ALWAYS = {
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
}


def assert_headers(reply: requests.Response, csp: str) -> None:
    for name, value in ALWAYS.items():
        assert reply.headers[name] == value, name
    assert reply.headers["Content-Security-Policy"] == csp


@pytest.mark.parametrize("path", ["/healthz", "/status", "/ping", "/nowhere", "/status/x"])
def test_json_answers_carry_the_headers(local_server: ServerProcess, path: str) -> None:
    reply = requests.get(f"{local_server.url}{path}", timeout=5)
    assert reply.headers["Content-Type"] == "application/json"
    assert_headers(reply, DATA_CSP)
    assert "Strict-Transport-Security" not in reply.headers  # plain http


def test_downloads_are_attachments_that_run_nothing(local_server: ServerProcess) -> None:
    upload = requests.post(
        f"{local_server.url}/upload", files={"file": ("x.svg", b"<svg onload=alert(1)>")}, timeout=5
    )
    download = requests.get(upload.json()["link"], timeout=5)
    assert download.headers["Content-Disposition"].startswith("attachment")
    assert download.headers["Content-Type"] == "application/octet-stream"
    assert_headers(download, FILE_CSP)


def test_upload_page_has_a_strict_policy(local_server: ServerProcess) -> None:
    page = requests.get(f"{local_server.url}/", timeout=5)
    assert page.headers["Content-Type"].startswith("text/html")
    assert_headers(page, PAGE_CSP)
    assert "'unsafe-inline'" not in PAGE_CSP and "frame-ancestors 'none'" in PAGE_CSP


def test_https_behind_a_trusted_proxy_gets_hsts(local_server: ServerProcess) -> None:
    """127.0.0.1 is a trusted proxy by default, so its X-Forwarded-Proto counts."""
    reply = requests.get(
        f"{local_server.url}/healthz", headers={"X-Forwarded-Proto": "https"}, timeout=5
    )
    assert reply.headers["Strict-Transport-Security"] == "max-age=31536000"


PAGES = sorted((REPO_ROOT / "paimon").glob("**/*.html"))


@pytest.mark.parametrize("page", PAGES, ids=[p.name for p in PAGES])
def test_pages_have_no_inline_script(page: Path) -> None:
    """The policy forbids inline script; a page that had some would silently break. A
    page may have none (the delete page works without; a part of pages, such as
    _link.html, is no page); what it has comes from files."""
    html = page.read_text()
    scripts = re.findall(r"<script\b([^>]*)>(.*?)</script>", html, re.S | re.I)
    whole_page = "<html" in html
    assert scripts or page.name == "delete.html" or not whole_page, "behaviour from a file"
    assert all("src=" in attrs and not body.strip() for attrs, body in scripts)
    assert not re.search(r"\son[a-z]+\s*=", html, re.I), "inline event handler"
    assert "javascript:" not in html.lower()
