"""A headless Chromium driven over the DevTools protocol, for the browser tests.

Streamlit renders in the browser over a websocket, so ``--dump-dom`` (taken at the load
event) sees an empty shell; this driver instead opens the page, waits until the rendered text
holds what the test expects, and takes a screenshot. It needs only the ``chromium`` binary
(Debian's package) and ``websockets``; nothing is downloaded.
"""

from __future__ import annotations

import base64
import contextlib
import json
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from websockets.sync.client import connect

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync", "--no-first-run", "--window-size=1400,1000")


def chromium_binary() -> str | None:
    """Return the path of the chromium binary, or None when it is not installed."""
    return shutil.which("chromium") or shutil.which("chromium-browser")


def free_port() -> int:
    """Return a TCP port free on loopback now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class Browser:
    """One page of a headless Chromium, driven over CDP."""

    def __init__(self, ws_url: str) -> None:
        self._stack = contextlib.ExitStack()
        self._ws = self._stack.enter_context(connect(ws_url, max_size=64 * 2**20,
                                                     open_timeout=20))
        self._id = 0

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send a CDP command and return its result (events in between are dropped)."""
        self._id += 1
        self._ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            msg = json.loads(self._ws.recv(timeout=60))
            if msg.get("id") == self._id:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                result: dict[str, Any] = msg.get("result", {})
                return result

    def goto(self, url: str) -> None:
        self.call("Page.navigate", url=url)

    def text(self) -> str:
        """Return the page's rendered text (``document.body.innerText``)."""
        r = self.call("Runtime.evaluate", expression="document.body ? document.body.innerText "
                      ": ''", returnByValue=True)
        return str(r.get("result", {}).get("value") or "")

    def grid_cells(self) -> list[str]:
        """Return the text of every header and cell the page's data grids (``st.dataframe``)
        render: they draw on a canvas, and keep the visible cells in a table for screen
        readers, which ``innerText`` leaves out."""
        r = self.call("Runtime.evaluate", expression=(
            "Array.from(document.querySelectorAll('[data-testid=stDataFrame] table th, "
            "[data-testid=stDataFrame] table td')).map(c => c.textContent)"),
            returnByValue=True)
        return [str(x) for x in r.get("result", {}).get("value") or []]

    def scroll_to(self, heading: str) -> None:
        """Scroll the page until the first heading that starts with ``heading`` is on top."""
        self.call("Runtime.evaluate", expression=(
            "Array.from(document.querySelectorAll('h1,h2,h3,h4')).find(h => h.textContent"
            f".startsWith({json.dumps(heading)}))?.scrollIntoView({{block: 'start'}})"))
        time.sleep(1.0)

    def wait_for(self, *needles: str, timeout_s: float = 60.0, settle_s: float = 1.5) -> str:
        """Wait until the rendered text holds every ``needle`` and Streamlit is idle (no
        "Running..." status); return the text. Raises ``TimeoutError`` with the text seen."""
        deadline = time.monotonic() + timeout_s
        text = ""
        while time.monotonic() < deadline:
            text = self.text()
            if all(n in text for n in needles) and "Running..." not in text:
                time.sleep(settle_s)  # let the charts draw before a screenshot
                return self.text()
            time.sleep(0.5)
        raise TimeoutError(f"page never showed {needles!r}; it showed:\n{text[:3000]}")

    def screenshot(self, path: Path) -> Path:
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> None:
        self._stack.close()


@contextlib.contextmanager
def headless_chromium(binary: str) -> Iterator[Browser]:
    """Start a headless Chromium on a fresh profile and yield its first page."""
    port = free_port()
    profile = tempfile.mkdtemp(prefix="catalyst-chromium-")
    proc = subprocess.Popen([binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}",
                             f"--remote-debugging-port={port}", "about:blank"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    browser = None
    try:
        deadline = time.monotonic() + 30
        targets: list[dict[str, Any]] = []
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/json/list", timeout=2) as r:
                    targets = [t for t in json.load(r) if t.get("type") == "page"]
                if targets:
                    break
            except OSError:
                pass
            time.sleep(0.3)
        if not targets:
            raise RuntimeError("chromium did not open its DevTools port")
        browser = Browser(targets[0]["webSocketDebuggerUrl"])
        browser.call("Page.enable")
        browser.call("Emulation.setDeviceMetricsOverride", width=1400, height=1000,
                     deviceScaleFactor=1, mobile=False)
        yield browser
    finally:
        if browser is not None:
            browser.close()
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        shutil.rmtree(profile, ignore_errors=True)
