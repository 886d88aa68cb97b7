"""The training config's one schema (mlpaint.knobs): tables, types, ranges, one error type."""

from __future__ import annotations

from typing import Any

import pytest

from mlpaint import experiment, knobs
from mlpaint.experiment import ExperimentConfig
from mlpaint.knobs import ConfigError, check_type, table
from mlpaint.model import ModelSpec
from mlpaint.preprocess import AugmentSpec


def test_one_error_type_for_every_config_mistake() -> None:
    assert experiment.ConfigError is knobs.ConfigError and issubclass(ConfigError, ValueError)
    for build in (
        lambda: ModelSpec.from_dict({"bags": "5"}),
        lambda: ModelSpec.from_dict({"bags": 10**6}),
        lambda: AugmentSpec(blur=2.0),
        lambda: ModelSpec.from_dict({"bagz": 2}),
    ):
        with pytest.raises(ConfigError):
            build()


def test_table_names_the_unknown_or_missing_key_and_what_it_takes() -> None:
    assert table("algorithm", {"bags": 2}, {"bags", "seed"}) == {"bags": 2}
    message = r"^algorithm\.bagz: unknown key 'bagz'; algorithm takes bags, seed$"
    with pytest.raises(ConfigError, match=message):
        table("algorithm", {"bagz": 2}, {"seed", "bags"})
    with pytest.raises(ConfigError, match=r"^colour: unknown key 'colour'; the config takes"):
        table("", {"colour": "blue"}, ["description"])
    with pytest.raises(ConfigError, match=r"^folds\[0\]\.b: missing key 'b'$"):
        table("folds[0]", {"a": "x"}, ["a", "b"], required=["a", "b"])
    with pytest.raises(ConfigError, match=r"^the config must be a table, got list$"):
        table("", [], ["a"])


@pytest.mark.parametrize(
    ("default", "good", "bad"),
    [
        ("", "text", 5),
        (False, True, 1),
        (3, 4, True),
        (3, 4, 4.0),
        (0.5, 1, "1"),
    ],
)
def test_check_type_follows_the_default(default: Any, good: Any, bad: Any) -> None:
    assert check_type("k", good, default) == good
    with pytest.raises(ConfigError, match=f"^k must be {type(default).__name__}, got"):
        check_type("k", bad, default)


def test_ints_given_for_a_float_knob_are_stored_as_floats() -> None:
    value = check_type("k", 1, 0.5)
    assert value == 1.0 and isinstance(value, float)


def test_a_long_wrong_value_is_shortened_in_the_message() -> None:
    with pytest.raises(ConfigError) as caught:
        check_type("input_data", ["SELECT 1"] * 1000, "")
    assert len(str(caught.value)) < 200


@pytest.mark.parametrize(
    ("keys", "message"),
    [
        ({"preprocess": []}, "preprocess must be a table, got list"),
        ({"augment": 0}, "augment must be a table, got int"),
        ({"algorithm": ""}, "algorithm must be a table, got str"),
        ({"folds": ["x"]}, r"folds\[0\] must be a table, got str"),
        (
            {"folds": [{"training_where": 1, "testing_where": "true"}]},
            r"folds\[0\]\.training_where",
        ),
        ({"input_data": 5}, "input_data must be str, got 5"),
        ({"description": None}, "description must be str"),
    ],
)
def test_experiment_keys_go_through_the_schema(keys: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ExperimentConfig.from_dict(keys)
