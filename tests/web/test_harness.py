"""The browser harness itself: headless Chromium loads loopback pages and reaches nothing else."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from selenium.common.exceptions import WebDriverException
from selenium.webdriver.chrome.webdriver import WebDriver
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions
from selenium.webdriver.support.wait import WebDriverWait

from tests.web.conftest import PAGE_TIMEOUT


class _Page(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"<!doctype html><title>harness</title><h1 id='greeting'>Hallo Castrop-Rauxel</h1>"
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Quiet: the test output is no place for access logs."""


@pytest.fixture
def loopback_page() -> Iterator[str]:
    """A tiny HTTP server on a free loopback port; yields its URL."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def test_browser_renders_a_loopback_page(browser: WebDriver, loopback_page: str) -> None:
    """The headless Chromium fixture loads a page from 127.0.0.1 and its DOM can be read."""
    browser.get(loopback_page)
    heading = WebDriverWait(browser, PAGE_TIMEOUT).until(
        expected_conditions.presence_of_element_located((By.ID, "greeting"))
    )
    assert heading.text == "Hallo Castrop-Rauxel"


def test_browser_cannot_resolve_outside_hosts(browser: WebDriver) -> None:
    """Any host name but loopback fails to resolve: a console page can never load from the internet."""
    with pytest.raises(WebDriverException, match="ERR_NAME_NOT_RESOLVED"):
        browser.get("http://example.org/")
