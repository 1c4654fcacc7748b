"""The browser test of the built book: collected only when ``LESSONS_BROWSER_TEST=1``.

    LESSONS_BROWSER_TEST=1 python -m pytest tests/browser -p no:cacheprovider

It needs the built book (``_build/html``: skipped when absent), Debian's ``chromium`` and
``chromium-driver`` packages and selenium; it never downloads a browser or a driver. The
plain ``pytest tests book`` run leaves this directory alone (nothing here is even imported).
``LESSONS_BOOK_HTML`` points it at another build folder (screenshots go beside it).

test_pages.py checks every page of the built book; test_page_checks.py proves each of its
reader checks (page_checks.js, run through browsing.py) on tiny synthetic pages, and needs
no built book. Every page is saved whole at 1400 and 390 px under ``_build/screenshots/``.
"""
import os
import socket
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

ENABLED = os.environ.get("LESSONS_BROWSER_TEST") == "1"
collect_ignore_glob = [] if ENABLED else ["*.py"]

ROOT = Path(__file__).resolve().parents[2]
HTML = Path(os.environ.get("LESSONS_BOOK_HTML", ROOT / "_build" / "html")).resolve()
SCREENSHOTS = HTML.parent / "screenshots"
CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"


class _QuietHandler(SimpleHTTPRequestHandler):
    def log_message(self, *args):  # keep pytest's output readable
        pass


@pytest.fixture(scope="session")
def html_dir():
    if not (HTML / "index.html").is_file():
        pytest.skip(f"the book is not built ({HTML / 'index.html'} does not exist): run `jupyter-book build .` first")
    return HTML


@pytest.fixture(scope="session")
def server(html_dir):
    """``_build/html`` served on 127.0.0.1 at a free port, from a thread; yields the base URL."""
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), partial(_QuietHandler, directory=str(html_dir)))
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium driven by the system's chromedriver (never a downloaded one).

    browsing.visit sets the width of each page it opens (1400 or 390 px, device scale 1)."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    for exe, pkg in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(exe, os.X_OK):
            pytest.fail(f"{exe} is missing: install Debian's {pkg} package (apt-get install -y chromium chromium-driver)")
    opts = webdriver.ChromeOptions()
    opts.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1400,900", "--hide-scrollbars", "--force-device-scale-factor=1",
                "--no-first-run", "--disable-extensions", "--disable-background-networking"):
        opts.add_argument(arg)
    opts.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=opts)
    driver.set_page_load_timeout(60)
    driver.set_script_timeout(60)
    yield driver
    driver.quit()


@pytest.fixture(scope="session")
def screenshots_dir(html_dir):
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
