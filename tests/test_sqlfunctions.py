"""The ml_* SQL functions on a real DuckDB file with real tiny LightGBM models."""

from __future__ import annotations

from pathlib import Path

import duckdb
import numpy as np
import pytest

from mlpaint import registry, scoring, sqlfunctions, verdict
from mlpaint.explain import explain, explain_with_shap
from mlpaint.rowmemo import RowMemo


@pytest.fixture
def con(trained_db: Path):
    """A connection with the functions registered for the active model."""
    connection = duckdb.connect(str(trained_db))
    sqlfunctions.register(connection)
    yield connection
    connection.close()


def rows(con: duckdb.DuckDBPyConnection, sql: str, params: list | None = None) -> list[tuple]:
    return con.execute(sql, params or []).fetchall()


def test_functions_have_the_documented_types(con) -> None:
    types = rows(
        con,
        "SELECT typeof(ml_scores(pixels)), typeof(ml_probabilities(pixels)), "
        "typeof(ml_predict(pixels)), typeof(ml_explain(pixels, 3)), typeof(ml_explain_bias(3)) "
        "FROM digits LIMIT 1",
    )
    assert types == [("FLOAT[10]", "FLOAT[10]", "UTINYINT", "FLOAT[784]", "FLOAT")]


def test_uncertainty_verdict_and_bag_probabilities_agree_with_scoring(con) -> None:
    loaded = registry.load_model(con)  # tiny: 2 bags
    assert loaded.model.n_boosters == 2
    data = rows(
        con,
        "SELECT pixels, ml_uncertainty(pixels), ml_is_digit(pixels), ml_bag_probabilities(pixels), "
        "typeof(ml_uncertainty(pixels)), typeof(ml_is_digit(pixels)), "
        "typeof(ml_bag_probabilities(pixels)) FROM digits_test ORDER BY id LIMIT 600",
    )
    assert {r[4:] for r in data} == {("DOUBLE", "BOOLEAN", "FLOAT[10][2]")}
    pixels = np.array([r[0] for r in data], dtype=np.uint8)
    bags = np.array([r[3] for r in data])
    assert bags.shape == (len(data), 2, 10) and len(data) > 500
    assert np.allclose(bags, loaded.model.bag_probabilities(pixels), atol=1e-6)
    assert np.allclose(bags.sum(axis=2), 1, atol=1e-5)
    uncertainty = np.array([r[1] for r in data])
    assert np.allclose(uncertainty, scoring.uncertainties(bags), atol=1e-6)
    seen = loaded.model.prepare(pixels)
    says = verdict.scores_of(loaded.model, seen, loaded.model.bag_scores(seen, prepared=True))
    assert [r[2] for r in data] == (says <= verdict.threshold_of(loaded.model)).tolist()
    for i in (0, 1, 2):  # the REST answer says the same
        one = scoring.answer(loaded, pixels[i])
        assert one["uncertainty"] == pytest.approx(uncertainty[i], abs=1e-6)
        assert one["is_digit"] == data[i][2]
    assert rows(
        con,
        "SELECT ml_uncertainty(NULL), ml_is_digit(NULL), ml_bag_probabilities(NULL), "
        "tiny_is_digit(NULL), typeof(small2_bag_probabilities(pixels)) FROM digits LIMIT 1",
    ) == [(None, None, None, None, "FLOAT[10][1]")]


def test_the_functions_of_one_query_walk_the_trees_once_per_slice(trained_db: Path) -> None:
    functions = ["ml_predict", "ml_probabilities", "ml_uncertainty", "ml_is_digit"]

    def query(names: list[str]) -> tuple[list[tuple], RowMemo]:
        connection = duckdb.connect(str(trained_db), read_only=True)
        memo = sqlfunctions.register(connection).model.row_memo  # a fresh model: an empty memo
        columns = ", ".join(f"{name}(pixels)" for name in names)
        found = rows(connection, f"SELECT {columns} FROM digits_test ORDER BY id LIMIT 600")
        connection.close()
        return found, memo

    together, memo = query(functions)
    # ml_predict and ml_uncertainty compute the scores and the bags' scores (tiny: 2 bags) of
    # each slice; ml_probabilities and ml_is_digit find them.
    assert memo.hits == memo.misses > 0
    for i, function in enumerate(functions):
        alone, _ = query([function])
        assert [r[0] for r in alone] == [r[i] for r in together], function


def test_scores_predictions_and_probabilities_agree_with_the_model(con) -> None:
    loaded = registry.load_model(con)
    data = rows(
        con,
        "SELECT pixels, ml_scores(pixels), ml_probabilities(pixels), ml_predict(pixels) "
        "FROM digits_test ORDER BY id",
    )
    pixels = np.array([r[0] for r in data], dtype=np.uint8)
    scores = np.array([r[1] for r in data])
    assert len(data) > 500
    assert np.allclose(scores, loaded.model.scores(pixels), atol=1e-5)
    probabilities = np.array([r[2] for r in data])
    assert np.allclose(probabilities.sum(axis=1), 1, atol=1e-5)
    softmax = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    assert np.allclose(probabilities, softmax, atol=1e-5)
    assert [r[3] for r in data] == scores.argmax(axis=1).tolist()


def test_accuracy_in_sql_matches_the_stored_evaluation(con) -> None:
    (accuracy,) = rows(con, "SELECT avg((ml_predict(pixels) = label)::INT) FROM digits_test")[0]
    stored = registry.get_model_info(con, "tiny")["metrics"]["test"]["accuracy"]
    assert accuracy == pytest.approx(stored, abs=1e-9)
    assert accuracy > 0.6


def test_explanations_add_up_for_every_digit(con) -> None:
    residuals = rows(
        con,
        "SELECT max(abs(ml_explain_bias(d) + list_sum(ml_explain(pixels, d)) "
        "- ml_scores(pixels)[d + 1])) FROM (SELECT * FROM digits_test LIMIT 200), range(10) t(d)",
    )
    assert residuals[0][0] < 1e-4


def test_explanations_match_lightgbm_and_shap(con) -> None:
    loaded = registry.load_model(con)
    data = rows(
        con,
        "SELECT pixels, [ml_explain(pixels, d) FOR d IN range(10)] FROM digits_test LIMIT 25",
    )
    pixels = np.array([r[0] for r in data], dtype=np.uint8)
    sql_values = np.array([r[1] for r in data])  # (n, 10, 784)
    prepared = loaded.model.prepare(pixels).astype(np.float64)
    native = np.mean(
        [
            b.predict(prepared, pred_contrib=True).reshape(len(pixels), 10, 785)[:, :, :784]
            for b in loaded.model.boosters
        ],
        axis=0,
    )
    assert np.allclose(sql_values, native, atol=1e-5)
    reference = explain_with_shap(loaded.model, pixels)
    assert np.allclose(sql_values, reference.values, atol=1e-4)
    biases = [r[0] for r in rows(con, "SELECT ml_explain_bias(d) FROM range(10) t(d) ORDER BY d")]
    assert np.allclose(biases, reference.bias, atol=1e-4)


def test_explanations_of_mixed_and_repeated_digits_are_those_of_all_ten(con) -> None:
    loaded = registry.load_model(con)
    data = rows(
        con,
        "SELECT pixels, d, ml_explain(pixels, d) FROM (SELECT * FROM digits_test LIMIT 30), "
        "(VALUES (1), (7), (7), (NULL)) t(d) ORDER BY id, d",
    )
    pixels = np.array([r[0] for r in data], dtype=np.uint8)
    labels = [r[1] for r in data]
    every = explain(loaded.model, pixels).values
    for i, (label, values) in enumerate((r[1], r[2]) for r in data):
        if label is None:
            assert values is None
        else:
            np.testing.assert_array_equal(np.array(values, np.float32), every[i, label])
    assert labels.count(None) == 30


def test_each_model_has_its_own_functions(con) -> None:
    ((same, different),) = rows(
        con,
        "SELECT avg((tiny_predict(pixels) = ml_predict(pixels))::INT), "
        "avg((small2_scores(pixels) != tiny_scores(pixels))::INT) FROM digits_test",
    )
    assert same == 1.0 and different == 1.0


def test_register_a_named_model(trained_db: Path) -> None:
    connection = duckdb.connect(str(trained_db))
    try:
        slot = sqlfunctions.register(connection, model="small2")
        assert (slot.name, slot.version) == ("small2", 1)
        ((same,),) = rows(
            connection,
            "SELECT avg((ml_predict(pixels) = small2_predict(pixels))::INT) FROM digits_test",
        )
        assert same == 1.0
    finally:
        connection.close()


def test_inputs_accepted(con) -> None:
    pixels = rows(con, "SELECT pixels FROM digits WHERE id = 7")[0][0]
    as_ints = [int(p) for p in pixels]
    (expected,) = rows(con, "SELECT ml_predict(pixels) FROM digits WHERE id = 7")[0]
    assert rows(con, "SELECT ml_predict(?::INTEGER[])", [as_ints]) == [(expected,)]
    assert rows(con, "SELECT ml_predict(?::DOUBLE[])", [[float(p) for p in as_ints]]) == [
        (expected,)
    ]


def test_null_in_null_out(con) -> None:
    assert rows(
        con,
        "SELECT ml_predict(NULL), ml_scores(NULL), ml_explain(NULL, 3), ml_explain(pixels, NULL), "
        "ml_explain_bias(NULL) FROM digits LIMIT 1",
    ) == [(None, None, None, None, None)]
    mixed = rows(
        con,
        "SELECT ml_predict(CASE WHEN id % 2 = 0 THEN pixels END) IS NULL FROM digits "
        "WHERE id < 6 ORDER BY id",
    )
    assert [r[0] for r in mixed] == [False, True, False, True, False, True]


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT ml_predict([1, 2, 3])", "ml_predict: pixels must hold 784 values"),
        ("SELECT ml_scores(list_resize([0], 785, 0))", "ml_scores: pixels must hold 784"),
        ("SELECT ml_probabilities(list_resize([300], 784, 0))", "ml_probabilities: pixel values"),
        ("SELECT ml_predict(list_resize([-1], 784, 0))", "ml_predict: pixel values"),
        ("SELECT ml_explain(pixels, 10) FROM digits LIMIT 1", "ml_explain: label must be"),
        ("SELECT ml_explain_bias(-1)", "ml_explain_bias: label must be"),
        ("SELECT ml_predict(list_resize([NULL::INT], 784, 0))", "must not contain NULL"),
    ],
)
def test_bad_input_is_a_clear_sql_error(con, sql: str, message: str) -> None:
    with pytest.raises(duckdb.Error, match=message):
        con.execute(sql).fetchall()
    assert rows(con, "SELECT 1") == [(1,)]  # the connection (and process) carry on


def test_register_if_available_without_models(small_db: Path) -> None:
    connection = duckdb.connect(str(small_db))
    try:
        assert sqlfunctions.register_if_available(connection) is None
        with pytest.raises(duckdb.CatalogException):
            connection.execute("SELECT ml_predict(pixels) FROM digits").fetchall()
    finally:
        connection.close()
