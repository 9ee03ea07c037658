"""Headless Chromium (Debian's package) driven by Playwright, for the tests of the pages:
the ``browser`` fixture, dropping files on the upload page as a person does, and where
screenshots are kept for CI to publish.

Registered as a pytest plugin by tests/conftest.py (``pytest_plugins``).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from paimon_devtools.servers import REPO_ROOT

CHROMIUM = "/usr/bin/chromium"  # scripts/test installs Debian's chromium
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
#: Screenshots of the pages, published by CI.
OUTPUT = REPO_ROOT / "test-output"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    """One Chromium for a test module."""
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def drop(page: Page, paths: list[Path]) -> None:
    """Drop real files on the drop zone: a DataTransfer built from files Playwright put
    in a scratch input, dispatched as the browser does for a drag from the desktop."""
    page.evaluate(
        """() => {
            const input = Object.assign(document.createElement("input"),
                {type: "file", multiple: true, id: "test-source", hidden: true});
            document.body.append(input);
        }"""
    )
    page.set_input_files("#test-source", [str(p) for p in paths])
    page.evaluate(
        """() => {
            const input = document.getElementById("test-source");
            const transfer = new DataTransfer();
            for (const file of input.files) transfer.items.add(file);
            input.remove();
            const zone = document.getElementById("drop-zone");
            for (const type of ["dragenter", "dragover", "drop"]) {
                zone.dispatchEvent(new DragEvent(type,
                    {dataTransfer: transfer, bubbles: true, cancelable: true}));
            }
        }"""
    )
