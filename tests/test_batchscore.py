"""`mlpaint predict`: Parquet shards scored here, in local processes and on a Dask cluster."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from conftest import cli


@pytest.fixture
def shards(trained_db: Path, tmp_path: Path) -> Path:
    """Three Parquet shards of the test fold's digits (id, pixels)."""
    folder = tmp_path / "shards"
    folder.mkdir()
    con = duckdb.connect(str(trained_db), read_only=True)
    try:
        for i in range(3):
            con.sql(
                "SELECT id, pixels FROM digits WHERE is_test_fold(id) AND id % 3 = $i",
                params={"i": i},
            ).write_parquet(str(folder / f"part-{i}.parquet"))
    finally:
        con.close()
    return folder


def _rows(rows: list[tuple]) -> list[tuple]:
    """Rows with the probabilities as a list (Parquet has no fixed-size lists)."""
    return [(i, p, list(probabilities), u, d) for i, p, probabilities, u, d in rows]


def _predictions(folder: Path) -> list[tuple]:
    return _rows(
        duckdb.sql(
            "SELECT id, prediction, probabilities, uncertainty, is_digit "
            "FROM read_parquet($glob) ORDER BY id",
            params={"glob": str(folder / "*.parquet")},
        ).fetchall()
    )


def _in_sql(db: Path) -> list[tuple]:
    """What the ml_* functions say in SQL over the same digits (the active model)."""
    from mlpaint import sqlfunctions

    con = duckdb.connect(str(db), read_only=True)
    try:
        sqlfunctions.register(con)
        return _rows(
            con.sql(
                "SELECT id, ml_predict(pixels), ml_probabilities(pixels), ml_uncertainty(pixels), "
                "ml_is_digit(pixels) FROM digits WHERE is_test_fold(id) ORDER BY id"
            ).fetchall()
        )
    finally:
        con.close()


def _predict(db: Path, shards: Path, out: Path, *extra: str):  # -> CompletedProcess
    return cli(
        "predict",
        "--db",
        str(db),
        "--input",
        str(shards / "*.parquet"),
        "--output",
        str(out),
        *extra,
    )


def test_predict_here_matches_the_sql_functions(
    trained_db: Path, shards: Path, tmp_path: Path
) -> None:
    run = _predict(trained_db, shards, tmp_path / "out", "--workers", "1")
    assert run.returncode == 0, run.stderr
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [
        "part-0.parquet",
        "part-1.parquet",
        "part-2.parquet",
    ]
    assert "scored" in run.stdout and "rows/s" in run.stdout
    assert "shard" in run.stderr  # the progress bar counts shards
    got = _predictions(tmp_path / "out")
    assert got == _in_sql(trained_db)
    assert all(0.0 <= row[3] <= 1.0 for row in got)


def test_predict_in_local_processes(trained_db: Path, shards: Path, tmp_path: Path) -> None:
    run = _predict(trained_db, shards, tmp_path / "out", "--workers", "2")
    assert run.returncode == 0, run.stderr
    assert _predictions(tmp_path / "out") == _in_sql(trained_db)


@pytest.mark.cluster
def test_predict_on_a_cluster(trained_db: Path, shards: Path, tmp_path: Path, cluster) -> None:
    run = _predict(trained_db, shards, tmp_path / "out", "--dask", cluster.address)
    assert run.returncode == 0, run.stderr
    assert _predictions(tmp_path / "out") == _in_sql(trained_db)


def test_predict_with_a_named_model(trained_db: Path, shards: Path, tmp_path: Path) -> None:
    run = _predict(trained_db, shards, tmp_path / "out", "--model", "small2", "--workers", "1")
    assert run.returncode == 0, run.stderr
    assert "small2 version 1" in run.stdout


@pytest.mark.parametrize(
    ("setup", "extra", "status", "message"),
    [
        ("none", (), 2, "no file matches"),
        ("no_pixels", (), 1, "no 'pixels' column"),
        ("not_parquet", (), 1, "bad.parquet"),
        ("ok", ("--model", "nosuch"), 2, "no model nosuch"),
        ("ok", ("--dask", "nonsense"), 2, "cluster.dask"),
    ],
)
def test_bad_input_is_one_line(
    trained_db: Path, tmp_path: Path, setup: str, extra: tuple, status: int, message: str
) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    if setup == "no_pixels":
        duckdb.sql("SELECT 1 AS id").write_parquet(str(folder / "bad.parquet"))
    elif setup == "not_parquet":
        (folder / "bad.parquet").write_text("not parquet")
    elif setup == "ok":
        duckdb.sql(
            "SELECT 1 AS id, list_transform(range(784), lambda x: 0) AS pixels"
        ).write_parquet(str(folder / "a.parquet"))
    run = _predict(trained_db, folder, tmp_path / "out", "--workers", "1", *extra)
    assert run.returncode == status, run.stderr
    assert message in run.stderr and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()[-1]) < 400
    assert not list((tmp_path / "out").glob("*.parquet")) if (tmp_path / "out").exists() else True
