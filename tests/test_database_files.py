"""Damaged, unwritable and read-only database files: one line and a non-zero exit, no traceback."""

from __future__ import annotations

import random
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from conftest import announcement, cli, copy_db, running_server

COMMANDS = {
    "sql": ["sql", "SELECT count(*) FROM digits"],
    "models": ["models"],
    "train": ["train", "--config"],  # + a tiny config
    "import": ["import", "--replace"],
    "serve": ["serve", "--port", "0"],
}
WRITING = {
    "train": ["train", "--config"],
    "import": ["import", "--replace"],
    "serve": ["serve", "--port", "0", "--allow-training"],
    "models": ["models", "activate", "small2"],
}


def command_line(command: str, args: list[str], db: Path) -> list[str]:
    """The arguments, with a tiny experiment config after ``--config``."""
    if args[-1] == "--config":
        config = db.parent.parent / "tiny.toml"
        config.write_text(
            'input_data = "SELECT id, pixels AS features, label FROM digits"\n'
            "[algorithm]\nbags = 1\nmax_iter = 2\nnum_leaves = 7\nnum_threads = 1\n"
        )
        args = [*args, str(config)]
    return [args[0], "--db", str(db), *args[1:]]


def assert_one_line(result: subprocess.CompletedProcess[str], command: str) -> str:
    """A non-zero exit with one message line on stderr (after any progress bar); the line."""
    assert result.returncode != 0
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert lines and lines[-1].startswith(f"mlpaint {command}: "), result.stderr
    assert "Traceback" not in result.stderr and "rror" not in "".join(lines[:-1])
    assert "serving" not in result.stdout
    return lines[-1]


@pytest.fixture(params=["empty", "truncated", "random bytes"])
def bad_db(request: pytest.FixtureRequest, tmp_path: Path, trained_db_template: Path) -> Path:
    """A database file that DuckDB cannot use: empty, cut in half, or noise."""
    (tmp_path / "db").mkdir()
    path = tmp_path / "db" / "bad.duckdb"
    whole = trained_db_template.read_bytes()
    path.write_bytes(
        {
            "empty": b"",
            "truncated": whole[: len(whole) // 2],
            "random bytes": random.Random(0).randbytes(256 * 1024),
        }[request.param]
    )
    return path


@pytest.mark.parametrize("command", list(COMMANDS))
def test_a_bad_database_file_is_one_line(bad_db: Path, command: str) -> None:
    assert_one_line(cli(*command_line(command, COMMANDS[command], bad_db)), command)
    assert announcement(bad_db) is None


@pytest.fixture
def immutable_db(tmp_path: Path, trained_db_template: Path) -> Iterator[Path]:
    """The trained database, made immutable (``chattr +i``: root cannot write it either)."""
    (tmp_path / "db").mkdir()
    path = copy_db(trained_db_template, tmp_path / "db")
    if not shutil.which("chattr") or subprocess.run(["chattr", "+i", str(path)]).returncode:
        pytest.skip("cannot make a file immutable here (chattr +i)")
    try:
        yield path
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@pytest.fixture
def read_only_fs_db(tmp_path: Path, trained_db_template: Path) -> Iterator[Path]:
    """The trained database on a filesystem mounted read-only (a tmpfs: needs root)."""
    mount = tmp_path / "ro"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64m", "tmpfs", str(mount)]).returncode:
        pytest.skip("cannot mount a filesystem here (needs root)")
    try:
        path = copy_db(trained_db_template, mount)
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        yield path
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True)


@pytest.mark.parametrize("where", ["immutable file", "read-only filesystem"])
def test_an_unwritable_database_is_read_and_served_but_not_written(
    request: pytest.FixtureRequest, where: str
) -> None:
    db = request.getfixturevalue("immutable_db" if where == "immutable file" else "read_only_fs_db")
    for command, args in WRITING.items():
        line = assert_one_line(cli(*command_line(command, args, db)), command)
        assert "cannot be written" in line
    if where == "read-only filesystem":
        line = assert_one_line(cli("import", "--db", str(db.with_name("new.duckdb"))), "import")
        assert "cannot be created" in line
    counted = cli("sql", "--db", str(db), "--format", "csv", "SELECT count(*) AS n FROM digits")
    assert counted.returncode == 0 and counted.stdout == "n\n3000\n"
    with running_server(db) as base:
        assert requests.get(base + "/v1/health", timeout=10).status_code == 200
        listed = cli("models", "--db", str(db))
        assert listed.returncode == 0 and "tiny" in listed.stdout
        # Where the file's folder is read-only too, the server serves unannounced.
        assert (announcement(db) is None) == (where == "read-only filesystem")
