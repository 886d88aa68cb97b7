"""The accuracy bar: MLDB's MLPaint configuration, trained on the full data, from the CLI."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from mlpaint import registry
from mlpaint.cli import main
from mlpaint.resources import resource_dir

pytestmark = pytest.mark.slow


def test_mldb_configuration_reaches_the_bar(full_db: Path, tmp_path: Path, capsys) -> None:
    db = tmp_path / "full.duckdb"
    db.write_bytes(full_db.read_bytes())
    config = resource_dir("experiments") / "mldb_bbdt.toml"
    assert main(["train", "--db", str(db), "--config", str(config), "--name", "mldb"]) == 0
    report = capsys.readouterr().out
    assert "MLDB-style one-vs-rest weighted accuracy" in report
    con = duckdb.connect(str(db), read_only=True)
    try:
        info = registry.get_model_info(con, "mldb")
    finally:
        con.close()
    test = info["metrics"]["test"]
    assert info["row_counts"][0] == {"fold": 0, "train": 56098, "test": 13902}
    assert test["accuracy"] >= 0.965, test["accuracy"]
    assert test["mldb_weighted_accuracy"] >= 0.99
    assert info["n_trees"] <= 5 * 30 * 10
