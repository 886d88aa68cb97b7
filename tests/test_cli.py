"""The command line: `mlpaint sql` formats and errors, `python -m mlpaint`, usage errors."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mlpaint.cli import main


def test_sql_table_csv_json(small_db: Path, capsys) -> None:
    query = "SELECT label, count(*) AS n FROM digits WHERE label < 2 GROUP BY label ORDER BY label"
    assert main(["sql", "--db", str(small_db), query]) == 0
    table = capsys.readouterr().out
    assert "label" in table and "│" in table
    assert main(["sql", "--db", str(small_db), "--format", "csv", query]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "label,n" and lines[1].startswith("0,") and len(lines) == 3
    assert main(["sql", "--db", str(small_db), "--format", "json", query]) == 0
    records = json.loads(capsys.readouterr().out)
    assert [r["label"] for r in records] == [0, 1] and all(r["n"] > 200 for r in records)


def test_sql_script_prints_every_result(small_db: Path, tmp_path: Path, capsys) -> None:
    script = tmp_path / "two.sql"
    script.write_text(
        "CREATE TEMP TABLE t AS SELECT 1 AS x;\nSELECT x FROM t;\nSELECT 'second' AS y;\n"
    )
    assert main(["sql", "--db", str(small_db), "-f", str(script), "--format", "csv"]) == 0
    assert capsys.readouterr().out == "x\n1\n\ny\nsecond\n"


def test_sql_lists_render_as_json_in_csv(small_db: Path, capsys) -> None:
    assert (
        main(
            [
                "sql",
                "--db",
                str(small_db),
                "--format",
                "csv",
                "SELECT pixels FROM digits WHERE id = 0",
            ]
        )
        == 0
    )
    cell = capsys.readouterr().out.splitlines()[1]
    assert len(json.loads(json.loads(f"{cell}") if cell.startswith('"') else cell)) == 784


def test_sql_errors_exit_nonzero_with_duckdb_message(small_db: Path, capsys) -> None:
    assert main(["sql", "--db", str(small_db), "SELECT * FROM no_such_table"]) == 1
    assert "no_such_table" in capsys.readouterr().err
    assert main(["sql", "--db", str(small_db)]) == 2
    assert main(["sql", "--db", str(small_db / "missing"), "SELECT 1"]) == 1
    assert "no database" in capsys.readouterr().err
    assert main(["sql", "--db", str(small_db), "-f", "/no/such/file.sql"]) == 2


def test_python_dash_m_and_console_script(small_db: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mlpaint",
            "sql",
            "--db",
            str(small_db),
            "--format",
            "csv",
            "SELECT count(*) AS n FROM digits",
        ],
        capture_output=True,
        text=True,
        check=True,
    )
    assert result.stdout == "n\n3000\n"
    version = subprocess.run(
        [sys.executable, "-m", "mlpaint", "--version"], capture_output=True, text=True, check=True
    )
    assert version.stdout.startswith("mlpaint ")


def test_env_var_chooses_the_database(small_db: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv("MLPAINT_DB", str(small_db))
    assert main(["sql", "--format", "csv", "SELECT count(*) AS n FROM digits"]) == 0
    assert capsys.readouterr().out == "n\n3000\n"


def test_sql_reads_only_unless_told_to_write(small_db: Path, capsys) -> None:
    assert main(["sql", "--db", str(small_db), "CREATE TABLE notes AS SELECT 1 AS x"]) == 1
    assert "read-only" in capsys.readouterr().err
    assert main(["sql", "--db", str(small_db), "--write", "CREATE TABLE notes AS SELECT 1"]) == 0
    assert main(["sql", "--db", str(small_db), "--format", "csv", "FROM notes"]) == 0
    assert capsys.readouterr().out.splitlines()[-1] == "1"
