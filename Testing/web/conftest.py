"""Fixtures for the web front door: a root folder holding the shipped demo sample (CT, classifier, card)."""

from __future__ import annotations

import shutil

import pytest
from helpers.paths import SAMPLES

DEMO_FILES = ("sample_ct.nrrd", "lesion_classifier.pt", "lesion_classifier.json")


@pytest.fixture
def demo_root(tmp_path):
    """A fresh root with the demo's volume, model and card (what `python -m SaliencyExplorerLib demo` uses)."""
    root = tmp_path / "root"
    root.mkdir()
    for name in DEMO_FILES:
        shutil.copy(SAMPLES / name, root / name)
    return root


# -- a real server and a real browser (Testing/web/test_browser*.py) ---------------------------------------------
CHROMIUM = ("/usr/lib/chromium/chromium", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 800}


def _missing_for_browser() -> str | None:
    """Why the browser tests cannot run here, or None. CI sets SALIENCY_WEB_TESTS=required: no skip there."""
    import importlib.util
    import os

    if not any(os.path.exists(p) for p in CHROMIUM):
        return "Debian's chromium is not installed (apt-get install -y chromium)"
    for module, fix in (
        ("playwright", "pip install playwright"),
        ("trame_slicer", "pip install SaliencyExplorer[web]"),
    ):
        if importlib.util.find_spec(module) is None:
            return f"{module} is not installed ({fix})"
    return None


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Server:
    """`python -m SaliencyExplorerLib web` in its own process group, stopped (with its workers) at the end."""

    def __init__(self, root, timeout=180):
        import os
        import subprocess
        import sys
        import time

        self.root, self.port = root, _free_port()
        self.tmp = root.parent / "server-tmp"  # the server's own temp folder: its workers' job folders go here
        self.tmp.mkdir()
        env = dict(
            os.environ,
            PYTHONUNBUFFERED="1",
            OMP_NUM_THREADS=os.environ.get("OMP_NUM_THREADS", "1"),
            TMPDIR=str(self.tmp),
        )
        self.process = subprocess.Popen(
            [sys.executable, "-m", "SaliencyExplorerLib", "web", "--root", str(root), "--port", str(self.port)],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            start_new_session=True,
        )
        self.started = time.perf_counter()
        self.lines = []
        deadline = time.monotonic() + timeout
        for line in self.process.stdout:  # the server prints its address once it listens
            self.lines.append(line)
            if line.startswith("SaliencyExplorer web: "):
                self.url = line.split(": ", 1)[1].strip()
                break
            if time.monotonic() > deadline:
                break
        else:
            self.stop()
            raise RuntimeError("the web server stopped before it was ready:\n" + "".join(self.lines[-30:]))
        self.startup_seconds = time.perf_counter() - self.started
        import threading

        threading.Thread(target=lambda: [self.lines.append(x) for x in self.process.stdout], daemon=True).start()

    def rss_mb(self) -> float:
        with open(f"/proc/{self.process.pid}/status") as handle:
            line = next(x for x in handle if x.startswith("VmRSS:"))
        return int(line.split()[1]) / 1024

    def stop(self):
        import os
        import signal

        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except Exception:  # noqa: BLE001 - it did not stop in time: kill the group
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)


@pytest.fixture(scope="module")
def web_server(tmp_path_factory):
    """A server on a free port of 127.0.0.1, on a fresh root holding the demo sample; always stopped."""
    import os

    why = _missing_for_browser()
    if why:
        if os.environ.get("SALIENCY_WEB_TESTS") == "required":
            pytest.fail(f"browser tests are required here (SALIENCY_WEB_TESTS=required) but {why}")
        pytest.skip(f"browser tests skipped: {why}")
    root = tmp_path_factory.mktemp("web") / "root"
    root.mkdir()
    for name in DEMO_FILES:
        shutil.copy(SAMPLES / name, root / name)
    server = Server(root)
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def browser(web_server):
    import os

    from playwright.sync_api import sync_playwright

    executable = next(p for p in CHROMIUM if os.path.exists(p))
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()
