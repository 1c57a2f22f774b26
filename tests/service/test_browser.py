"""End to end: a real browser types a sentence into the web page and sees the bars."""

import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture
def server(tiny_model_dir):
    uvicorn = pytest.importorskip("uvicorn")
    from eqn.service import create_app

    port = _free_port()
    config = uvicorn.Config(
        create_app(model_path=tiny_model_dir), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def test_typing_a_sentence_shows_the_bars(server, tmp_path, tiny_model_dir):
    if not CHROMIUM.exists():
        pytest.skip(
            "Chromium is not installed at /usr/bin/chromium (apt-get install chromium); "
            "skipping the browser test"
        )
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    from eqn.model.estimator import EQN

    labels = EQN.load(tiny_model_dir).labels
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=FLAGS, headless=True
        )
        # The page's CSP forbids eval, which Playwright's probes use; the app's own
        # scripts still run under it.
        page = browser.new_page(viewport={"width": 1280, "height": 900}, bypass_csp=True)
        page.goto(server)
        page.wait_for_function(
            "document.getElementById('model-line').textContent.includes('labels')"
        )
        page.fill("#text", "What a lovely surprise, I adore it!")
        page.wait_for_selector(".bar.macro", timeout=15000)
        bars = page.locator("#bars .bar")
        assert bars.count() == len(labels)
        assert page.locator(".bar.macro").count() == 1
        assert "Macro-emotion:" in page.inner_text("#summary")
        page.fill("#threshold", "0")  # the server re-applies eq. 8 at the new threshold
        page.dispatch_event("#threshold", "input")
        page.wait_for_selector(".bar.micro", timeout=15000)
        assert page.locator(".bar.micro").count() >= 1
        page.click(".bar.macro")  # explanations need a transformer: the error shows as text
        page.wait_for_function(
            "document.getElementById('explanation').textContent.includes('transformer')"
        )
        shot = tmp_path / "page.png"
        page.screenshot(path=str(shot), full_page=True)
        browser.close()
    assert shot.stat().st_size > 10_000
    if os.environ.get("EQN_SCREENSHOT_DIR"):
        shutil.copy(shot, Path(os.environ["EQN_SCREENSHOT_DIR"]) / "page.png")
