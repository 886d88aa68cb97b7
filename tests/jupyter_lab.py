"""JupyterLab on loopback in a temporary folder, driven by Playwright (tests and bench/notebook.py).

The server runs with a random token, its own config, data, settings and runtime folders (nothing
read from or written to ~/.jupyter), no news or update checks, and is stopped with its kernels.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from playwright.sync_api import Locator, Page

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SERVER_CONFIG = """
c.ServerApp.ip = "127.0.0.1"
c.ServerApp.open_browser = False
c.ServerApp.allow_root = True  # CI containers run as root; the token still guards the server
c.ServerApp.terminals_enabled = False
c.LabApp.news_url = None
c.LabApp.check_for_updates_class = "jupyterlab.NeverCheckForUpdate"
c.LabApp.extension_manager = "readonly"
"""
# Every cell in the page, so widgets far down the notebook are laid out and can be drawn on.
SETTINGS = {
    "@jupyterlab/notebook-extension/tracker": {
        "windowingMode": "none",
        "autoStartDefaultKernel": True,
    },
    "@jupyterlab/apputils-extension/notification": {"fetchNews": "false"},
}


@dataclass(frozen=True)
class Lab:
    """A running JupyterLab: its address and token."""

    url: str
    token: str

    def notebook_url(self, name: str) -> str:
        """The address that opens ``name`` (relative to the server's root folder)."""
        return f"{self.url}/lab/tree/{name}?token={self.token}"


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _private_dirs(home: Path) -> dict[str, str]:
    """Environment variables that keep Jupyter's own files inside ``home``."""
    config, settings = home / "config", home / "settings"
    config.mkdir(parents=True)
    (config / "jupyter_server_config.py").write_text(SERVER_CONFIG, encoding="utf-8")
    for plugin, values in SETTINGS.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(values), encoding="utf-8")
    return {
        "JUPYTER_CONFIG_DIR": str(config),
        "JUPYTER_DATA_DIR": str(home / "data"),
        "JUPYTER_RUNTIME_DIR": str(home / "runtime"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
        "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces"),
        "IPYTHONDIR": str(home / "ipython"),
        "MPLCONFIGDIR": str(home / "matplotlib"),
    }


@contextmanager
def jupyter_lab(root: Path, env: dict[str, str]) -> Iterator[Lab]:
    """Run JupyterLab serving ``root``, with ``env`` added for it and its kernels."""
    port, token = free_port(), secrets.token_hex(16)
    with tempfile.TemporaryDirectory(prefix="mlpaint-jupyter-") as home:
        command = [sys.executable, "-m", "jupyterlab", f"--port={port}", "--no-browser"]
        command += [f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={root}"]
        log = Path(home) / "server.log"
        with log.open("w") as out:
            process = subprocess.Popen(
                command,
                env={**os.environ, **_private_dirs(Path(home)), **env},
                stdout=out,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: stopping it stops its kernels too
            )
            lab = Lab(f"http://127.0.0.1:{port}", token)
            try:
                _wait_until_up(lab, process, log)
                yield lab
            except BaseException:
                # pytest shows what a failing test printed: the server's and kernels' last words.
                print(f"JupyterLab's log:\n{log.read_text()[-30000:]}", file=sys.stderr)
                raise
            finally:
                _stop(process)


def _wait_until_up(lab: Lab, process: subprocess.Popen, log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"JupyterLab exited: {log.read_text()[-3000:]}")
        try:
            with urllib.request.urlopen(f"{lab.url}/api/status?token={lab.token}", timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"JupyterLab did not start within 90 s: {log.read_text()[-3000:]}")


def _stop(process: subprocess.Popen) -> None:
    process.send_signal(signal.SIGINT)  # twice: the server asks for confirmation after one
    time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)  # any kernel left behind


def open_notebook(page: Page, lab: Lab, name: str) -> None:
    """Open a notebook and wait until its kernel is idle."""
    page.goto(lab.notebook_url(name))
    page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=60_000)
    wait_idle(page)


def wait_idle(page: Page, steady_ms: int = 2000, timeout_ms: int = 120_000) -> None:
    """Wait until the kernel has been idle for ``steady_ms``.

    Opening a notebook can start a kernel, report it idle, then replace it by another; only a
    steady idle says the kernel that will run the cells is connected.
    """
    page.evaluate("window.__mlpaintIdleSince = null")
    page.wait_for_function(
        """(steady) => {
          const s = document.querySelector('.jp-Notebook-ExecutionIndicator')?.dataset.status;
          if (s !== 'idle') { window.__mlpaintIdleSince = null; return false; }
          window.__mlpaintIdleSince ??= performance.now();
          return performance.now() - window.__mlpaintIdleSince > steady;
        }""",
        arg=steady_ms,
        timeout=timeout_ms,
        polling=100,
    )


def run_menu(page: Page, menu: str, item: str) -> None:
    """Choose ``item`` in the menu bar's ``menu`` (e.g. "Run", "Run All Cells")."""
    page.click(f".lm-MenuBar-itemLabel:text-is('{menu}')")
    page.click(f".lm-Menu-itemLabel:text-is('{item}')")


def run_all(page: Page, done_text: str, timeout_ms: int = 240_000) -> None:
    """Run every cell; wait for ``done_text`` in an output; fail naming the first error."""
    run_menu(page, "Run", "Run All Cells")
    error = ".jp-OutputArea-output[data-mime-type='application/vnd.jupyter.stderr']"
    page.wait_for_function(
        "([text, error]) => [...document.querySelectorAll('.jp-OutputArea-output')]"
        ".some(o => o.textContent.includes(text)) || "
        "[...document.querySelectorAll(error)].some(o => /Error|Traceback/.test(o.textContent))",
        arg=[done_text, error],
        timeout=timeout_ms,
    )
    failures = [t for t in page.locator(error).all_text_contents() if "Error" in t]
    assert not failures, f"a cell failed: {failures[0][-2000:]}"


def run_cell(page: Page, cell: Locator, timeout_ms: int = 60_000) -> None:
    """Run one cell in place and wait until it has run (its prompt shows a new number)."""
    cell.scroll_into_view_if_needed()
    prompt = cell.locator(".jp-InputPrompt").element_handle()
    before = prompt.text_content()
    cell.locator(".jp-InputArea-editor").click()
    page.keyboard.press("Control+Enter")
    page.wait_for_function(
        "([el, before]) => el.textContent !== before && !el.textContent.includes('*')",
        arg=[prompt, before],
        timeout=timeout_ms,
    )


Stroke = list[tuple[float, float]]


def draw_strokes(page: Page, target: Locator, strokes: list[Stroke]) -> float:
    """Draw strokes (points 0..1 of the target's box) with real mouse events; return the
    page's performance.now() from just before the first stroke."""
    target.scroll_into_view_if_needed()
    since = page.evaluate("performance.now()")
    box = target.bounding_box()
    assert box is not None
    for stroke in strokes:
        points = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in stroke]
        page.mouse.move(*points[0])
        page.mouse.down()
        for point in points[1:]:
            page.mouse.move(*point, steps=2)
        page.mouse.up()
    return since
