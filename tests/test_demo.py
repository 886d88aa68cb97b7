"""`mlpaint demo`: import if needed, train if there is no model, then serve the page."""

from __future__ import annotations

import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from conftest import free_port


def run_demo_until_served(db: Path, config: Path, port: int) -> str:
    """Start the demo, wait for the page, stop it; return everything it printed."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "mlpaint",
            "demo",
            "--db",
            str(db),
            "--port",
            str(port),
            "--config",
            str(config),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and process.poll() is None:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/", timeout=2) as page:
                    assert b'id="paint"' in page.read()
                break
            except OSError:
                time.sleep(0.5)
        else:
            raise AssertionError("the demo did not serve the page")
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=30)
    return output


def test_demo_imports_trains_and_serves(tmp_path: Path) -> None:
    config = tmp_path / "quick.toml"
    config.write_text(
        'input_data = "SELECT id, pixels AS features, label FROM digits"\n'
        "[algorithm]\nbags = 1\nmax_iter = 2\nnum_leaves = 7\nnum_threads = 1\n"
    )
    db = tmp_path / "demo.duckdb"
    port = free_port()
    first = run_demo_until_served(db, config, port)
    assert "Imported 70,000 digits" in first
    assert "no model yet: training 'quick'" in first and "top-1 accuracy" in first
    assert f"open the paint page: http://127.0.0.1:{port}/" in first
    assert f"mlpaint serving {db} (read-write, training allowed) at http://127.0.0.1:{port}/" in (
        first
    )
    again = run_demo_until_served(db, config, free_port())
    assert "already holds 70,000 digits" in again and "no model yet" not in again
