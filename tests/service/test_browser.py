"""End to end: a real browser types a sentence into the web page and sees the bars."""

import os
import shutil
import socket
import threading
import time
import urllib.request
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


def _serve(model_path):
    uvicorn = pytest.importorskip("uvicorn")
    from eqn.service import create_app

    port = _free_port()
    config = uvicorn.Config(
        create_app(model_path=model_path), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    # The default model's first start exports its ONNX graph: allow for it.
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        try:
            if urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz").status == 200:
                break
        except OSError:
            time.sleep(0.2)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def server(tiny_model_dir):
    yield from _serve(tiny_model_dir)


@pytest.fixture
def shipped_server():
    """What ``eqn serve`` runs: the shipped model on the default runtime."""
    yield from _serve(None)


def _playwright():
    if not CHROMIUM.exists():
        pytest.skip(
            "Chromium is not installed at /usr/bin/chromium (apt-get install chromium); "
            "skipping the browser test"
        )
    return pytest.importorskip("playwright.sync_api", reason="pip install playwright")


def test_the_default_server_in_a_browser(shipped_server, tmp_path):
    import eqn

    model = eqn.load()
    h = model.threshold_for(calibrated=True)
    sentence = "I am so grateful for your help, thank you!"
    expected = model.annotate(sentence).loc[0, "macro_emotion"]
    sync_api = _playwright()
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), args=FLAGS, headless=True
        )
        page = browser.new_page(bypass_csp=True)
        failures: list[str] = []
        page.on("response", lambda r: failures.append(r.url) if r.status >= 500 else None)
        page.goto(shipped_server, wait_until="networkidle")
        assert abs(float(page.input_value("#threshold")) - h) < 0.006
        assert f"{h:.2f}" in page.inner_text("#model-line")
        page.fill("#text", sentence)
        page.wait_for_selector(".bar.macro", timeout=20000)
        assert expected in page.inner_text("#summary")
        assert not failures
        # /docs with every request that leaves this server refused: it must work offline.
        offline = browser.new_context()
        offline.route(
            "**/*",
            lambda r: r.continue_() if r.request.url.startswith(shipped_server) else r.abort(),
        )
        docs = offline.new_page()
        docs.goto(shipped_server + "/docs")
        docs.wait_for_selector(".swagger-ui .opblock", timeout=20000)
        browser.close()


def test_typing_a_sentence_shows_the_bars(server, tmp_path, tiny_model_dir):
    sync_api = _playwright()
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
