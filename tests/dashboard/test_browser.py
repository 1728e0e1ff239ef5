"""Every page in a real browser: ``slawatch dashboard`` on a seeded store, headless Chromium.

Skipped only when /usr/bin/chromium is missing and SLAWATCH_REQUIRE_BROWSER is
not set (CI sets it, so a missing browser fails there). Screenshots go to
artifacts/screenshots/ (git-ignored) for a person to look at.
"""

from __future__ import annotations

import os
import selectors
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import ROOT, Seeded

CHROMIUM = Path("/usr/bin/chromium")
SCREENSHOTS = ROOT / "artifacts" / "screenshots"
START_TIMEOUT_S = 60.0
PAGE_TIMEOUT_MS = 60_000
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]

# Streamlit is not running the script (its status widget says nothing) and nothing is loading.
IDLE = """() =>
    !document.querySelector('[data-testid="stStatusWidget"] [data-testid="stMarkdownContainer"]')
    && document.querySelectorAll('[data-testid="stSkeleton"]').length === 0"""

pytestmark = pytest.mark.skipif(
    not CHROMIUM.exists() and not os.environ.get("SLAWATCH_REQUIRE_BROWSER"),
    reason="/usr/bin/chromium is not installed (set SLAWATCH_REQUIRE_BROWSER to make this fail)",
)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_line(proc: subprocess.Popen[str], text: str, timeout_s: float) -> list[str]:
    """Read the process's output until a line contains ``text``; returns the lines read."""
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout_s
    with selectors.DefaultSelector() as selector:
        selector.register(proc.stdout, selectors.EVENT_READ)
        while time.monotonic() < deadline:
            if not selector.select(timeout=deadline - time.monotonic()):
                break
            line = proc.stdout.readline()
            if not line:
                break
            seen.append(line)
            if text in line:
                return seen
    raise AssertionError(f"never saw {text!r}; output was:\n{''.join(seen)}")


@pytest.fixture(scope="module")
def dashboard_url(seeded: Seeded, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``slawatch dashboard --db ... --port P``, the console script, as a user would start it."""
    port = free_port()
    cwd = tmp_path_factory.mktemp("dashboard-cwd")  # no ./slawatch.toml: the defaults
    exe = Path(sys.executable).parent / "slawatch"
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen(
        [str(exe), "dashboard", "--db", seeded.faulty, "--port", str(port)],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        wait_for_line(proc, f":{port}", START_TIMEOUT_S)
        yield f"http://127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        assert proc.stdout is not None
        proc.stdout.close()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    """One headless Chromium context for every page (so plotly.js is fetched once)."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        context = launched.new_context(viewport={"width": 1440, "height": 3400})
        yield context
        context.close()
        launched.close()


def open_page(browser: object, url: str, *ready: str, charts: int = 0) -> object:
    """Open ``url``; wait for every ``ready`` text, ``charts`` plotly charts and a still app.

    The Live page draws its objectives after its tables, so a test names each
    text it needs rather than relying on one of them appearing last.
    """
    page = browser.new_page()  # type: ignore[attr-defined]
    page.set_default_timeout(PAGE_TIMEOUT_MS)
    page.goto(url)
    main = page.locator('[data-testid="stMain"]')  # not the sidebar, which names every page
    for text in ready:
        main.get_by_text(text, exact=False).first.wait_for(state="visible")
    if charts:
        page.wait_for_function(
            "n => document.querySelectorAll('.js-plotly-plot .main-svg').length >= n", arg=charts
        )
    page.wait_for_function(IDLE)
    return page


def finish(page: object, name: str) -> None:
    """No exception box on the page; a full-page screenshot for a person to check."""
    assert page.locator('[data-testid="stException"]').count() == 0  # type: ignore[attr-defined]
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)  # type: ignore[attr-defined]
    page.close()  # type: ignore[attr-defined]


def test_live_page_in_a_browser(browser: object, dashboard_url: str) -> None:
    page = open_page(browser, dashboard_url, "Round drill-down", "objectives breached", charts=2)
    body = page.locator("body").inner_text()  # type: ignore[attr-defined]
    assert "objectives breached" in body
    assert "isolation" in body and "breached" in body
    assert "3 of 3 sessions failed" in body
    assert "probe-user-0" in body
    finish(page, "live")


def test_stability_page_in_a_browser(browser: object, dashboard_url: str) -> None:
    page = open_page(browser, f"{dashboard_url}/stability", "Deploys, incidents", "FAIL", charts=7)
    body = page.locator("body").inner_text()  # type: ignore[attr-defined]
    assert "FAIL" in body
    assert "Close codes" in body
    finish(page, "stability")


def test_reports_page_in_a_browser(browser: object, dashboard_url: str) -> None:
    page = open_page(browser, f"{dashboard_url}/reports", "Build report")
    assert page.get_by_role("heading", name="Reports").count() == 1  # type: ignore[attr-defined]
    finish(page, "reports")


def test_settings_page_in_a_browser(browser: object, dashboard_url: str) -> None:
    page = open_page(browser, f"{dashboard_url}/settings", "Probes")
    body = page.locator("body").inner_text()  # type: ignore[attr-defined]
    assert "Objectives" in body
    finish(page, "settings")
