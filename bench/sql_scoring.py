"""Scoring and explaining from SQL vs the same boosters called directly from NumPy.

Usage: python bench/sql_scoring.py [--db PATH] [--model NAME] [--runs N]
Prints rows/s of `SELECT ml_predict(pixels) FROM digits_test` beside a direct NumPy call, the
ratio of the two; the four functions of `sql/predict.sql` in one query with the model's row memo
and without it (each function then walks the trees itself), side by side; and ml_explain
throughput and single-row latency: one digit a row from that digit's trees beside all ten digits
(native LightGBM TreeSHAP), with shap.TreeExplainer as the reference, and the model's tree count.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import duckdb
import numpy as np
import shap

from mlpaint import db, sqlfunctions
from mlpaint.explain import explain, explain_labels, explain_with_shap
from mlpaint.rowmemo import RowMemo


def timed(function: Callable[[], object], runs: int) -> float:
    """Median wall time of ``runs`` calls, after one warm-up call."""
    function()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database (default: $MLPAINT_DB or ./mlpaint.duckdb)")
    parser.add_argument("--model", help="model name (default: the active model)")
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    con = db.connect(args.db, read_only=True)
    loaded = sqlfunctions.register(con, args.model)
    model, trees = loaded.model, loaded.model.n_trees
    print(f"model {loaded.name} v{loaded.version}: {trees} trees in {model.n_boosters} boosters")
    pixels = np.array(
        con.sql("SELECT pixels FROM digits_test ORDER BY id").fetchnumpy()["pixels"].tolist(),
        dtype=np.uint8,
    )
    n = len(pixels)
    # Every run starts from an empty memo: a repeated query would otherwise time memo hits.
    predict_only = "SELECT ml_predict(pixels) FROM digits_test"
    sql = timed(lambda: cold(con, model, predict_only), args.runs)
    direct = timed(lambda: model.predict(pixels), args.runs)
    print(f"\nml_predict over digits_test ({n:,} rows), median of {args.runs} runs [{trees} trees]")
    print(f"  SQL    SELECT ml_predict(pixels) FROM digits_test  {n / sql:10,.0f} rows/s")
    print(f"  NumPy  model.predict(pixels) on the same rows      {n / direct:10,.0f} rows/s")
    ratio = direct / sql  # SQL throughput over direct throughput
    change = f"loses {1 - ratio:.1%}" if ratio < 1 else f"gains {ratio - 1:.1%}"
    print(f"  SQL / direct throughput {ratio:.2f}: the SQL path {change} (bar: loses < 15%)")
    _shared_figures(con, model, n, sql, args.runs)
    _explain_figures(con, model, pixels[:1000], trees, args.runs)
    con.close()


def cold(con: duckdb.DuckDBPyConnection, model: object, query: str) -> list:
    """Run ``query`` with the model's row memo emptied first."""
    model.row_memo.clear()
    return con.sql(query).fetchall()


def _shared_figures(
    con: duckdb.DuckDBPyConnection, model: object, n: int, predict_only: float, runs: int
) -> None:
    columns = "ml_predict(pixels), ml_probabilities(pixels), ml_uncertainty(pixels), "
    query = f"SELECT {columns}ml_is_digit(pixels) FROM digits_test"
    shared = timed(lambda: cold(con, model, query), runs)
    kept = model.row_memo
    model.row_memo = RowMemo(budget=0)  # keeps nothing: every function computes its own
    try:
        alone = timed(lambda: cold(con, model, query), runs)
    finally:
        model.row_memo = kept
    print(f"\nsql/predict.sql's four functions in one query over digits_test ({n:,} rows)")
    print(f"  sharing each slice's margins (the row memo)   {n / shared:10,.0f} rows/s")
    print(f"  each function on its own                      {n / alone:10,.0f} rows/s")
    print(
        f"  shared / alone throughput {alone / shared:.2f}; the four cost "
        f"{shared / predict_only:.2f}x ml_predict alone"
    )


def _explain_figures(
    con: duckdb.DuckDBPyConnection, model: object, sample: np.ndarray, trees: int, runs: int
) -> None:
    n = len(sample)
    labels = np.array(
        con.execute("SELECT label FROM digits_test ORDER BY id LIMIT ?", [n]).fetchnumpy()["label"]
    )
    query = "SELECT ml_explain(pixels, label) FROM (SELECT * FROM digits_test ORDER BY id LIMIT ?)"
    sql = timed(lambda: con.execute(query, [n]).fetchall(), runs)
    # One digit a row from that digit's trees, against all ten explained and one picked (what
    # ml_explain and the REST explainer did before), interleaved in the same run.
    one_digit = timed(lambda: explain_labels(model, sample, labels), runs)
    all_ten = timed(lambda: explain(model, sample), runs)
    one = sample[:1]
    single_sql = timed(
        lambda: con.execute("SELECT ml_explain(?, 3)", [one[0].tolist()]).fetchall(), 20
    )
    single_digit = timed(lambda: explain_labels(model, one, [3]), 50)
    single_all = timed(lambda: explain(model, one), 20)
    print(f"\nexplanations [{trees} trees], medians of {runs} runs")
    print(f"  SQL    ml_explain(pixels, label) over {n:,} test rows   {n / sql:10,.0f} rows/s")
    print(f"  native one digit a row, from its trees ({n:,} rows)  {n / one_digit:10,.0f} rows/s")
    print(f"  native all ten digits a row ({n:,} rows)            {n / all_ten:10,.0f} rows/s")
    print(f"  one digit / all ten throughput {all_ten / one_digit:.1f}x")
    print(
        f"  single row: SQL {single_sql * 1e3:.1f} ms, one digit {single_digit * 1e3:.2f} ms, "
        f"all ten {single_all * 1e3:.1f} ms ({single_all / single_digit:.1f}x)"
    )
    _shap_reference(model, sample, one)


def _shap_reference(model: object, sample: np.ndarray, one: np.ndarray) -> None:
    shap_rows = sample[:50]
    # The reference path builds its TreeExplainers per call; serving would build them once.
    explainers = [
        shap.TreeExplainer(b, feature_perturbation="tree_path_dependent") for b in model.boosters
    ]
    rows, row = model.prepare(shap_rows).astype(np.float32), model.prepare(one).astype(np.float32)
    shap_time = timed(lambda: [e.shap_values(rows) for e in explainers], 1)
    single_shap = timed(lambda: [e.shap_values(row) for e in explainers], 3)
    assert np.allclose(explain_with_shap(model, one).values, explain(model, one).values, atol=1e-4)
    shap_rate = len(shap_rows) / shap_time
    print(f"  shap.TreeExplainer, all ten, {len(shap_rows)} rows         {shap_rate:10,.0f} rows/s")
    print(f"  shap single row, all ten: {single_shap * 1e3:.1f} ms")
    print("  (shap timed with its TreeExplainers built once; every path gives the same values)")
    print("  serving uses the native path; shap.TreeExplainer is the reference in the tests")


if __name__ == "__main__":
    main()
