"""BaggedBoostedTrees and ModelSpec on tiny real LightGBM models trained on MNIST slices."""

from __future__ import annotations

from dataclasses import replace

import lightgbm
import numpy as np
import pytest
from mnist_slice import load_slice

from mlpaint.experiment import load_config
from mlpaint.merge import merge_boosters, split_by_class
from mlpaint.model import BaggedBoostedTrees, ModelSpec, train_booster
from mlpaint.preprocess import AugmentSpec

# One thread: OpenMP barriers crawl when other jobs share the two cores.
TINY = {"bags": 3, "max_iter": 4, "num_leaves": 15, "max_depth": 5, "seed": 7, "num_threads": 1}


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """2,000 training digits and 300 held-out digits."""
    x, y = load_slice(2000)
    xt, yt = load_slice(300, offset=60000)
    return x, y, xt, yt


@pytest.fixture(scope="module")
def model(data: tuple) -> BaggedBoostedTrees:
    """A tiny deskewing model shared by the read-only tests."""
    x, y, _, _ = data
    return BaggedBoostedTrees.fit(x, y, ModelSpec.from_dict(TINY, {"deskew": True}))


def test_same_seed_same_model_and_other_seed_differs(data: tuple) -> None:
    x, y, xt, _ = data
    spec = ModelSpec.from_dict(TINY)
    first, second = BaggedBoostedTrees.fit(x, y, spec), BaggedBoostedTrees.fit(x, y, spec)
    assert first.to_bytes() == second.to_bytes()
    np.testing.assert_array_equal(first.scores(xt), second.scores(xt))
    other = BaggedBoostedTrees.fit(x, y, ModelSpec.from_dict({**TINY, "seed": 8}))
    assert not np.array_equal(first.scores(xt), other.scores(xt))


def test_round_trip_through_bytes(model: BaggedBoostedTrees, data: tuple) -> None:
    blob = model.to_bytes()
    loaded = BaggedBoostedTrees.from_bytes(blob)
    assert loaded.spec == model.spec
    assert loaded.n_boosters == model.n_boosters == 3
    assert loaded.n_trees == model.n_trees == 3 * 4 * 10
    np.testing.assert_array_equal(loaded.scores(data[2]), model.scores(data[2]))
    assert len(blob) < len("".join(b.model_to_string() for b in model.boosters))


def test_from_bytes_rejects_garbage() -> None:
    with pytest.raises(ValueError, match="not an mlpaint"):
        BaggedBoostedTrees.from_bytes(b"hello")
    with pytest.raises(ValueError, match="corrupt"):
        BaggedBoostedTrees.from_bytes(b"MLPAINT-BBT1\nxx")


def test_scores_are_the_mean_of_booster_margins(model: BaggedBoostedTrees, data: tuple) -> None:
    xt = data[2]
    prepared = model.prepare(xt)
    margins = [b.predict(prepared.astype(np.float64), raw_score=True) for b in model.boosters]
    expected = np.mean(margins, axis=0)
    scores = model.scores(xt)
    assert scores.shape == (300, 10) and scores.dtype == np.float32
    np.testing.assert_allclose(scores, expected, atol=1e-5)
    np.testing.assert_allclose(model.scores(prepared, prepared=True), scores, atol=0)
    # Single rows take the one-thread path; they must agree with the batch.
    np.testing.assert_allclose(model.scores(xt[17])[0], scores[17], atol=1e-6)


def test_margins_from_one_traversal_equal_the_predictions_exactly(
    model: BaggedBoostedTrees, data: tuple
) -> None:
    # Bags of different lengths too, as early stopping leaves them.
    shorter = lightgbm.Booster(model_str=model.boosters[1].model_to_string(num_iteration=2))
    uneven = BaggedBoostedTrees(model.spec, [model.boosters[0], shorter, model.boosters[2]])
    single = BaggedBoostedTrees(model.spec, model.boosters[:1])
    xt = data[2]
    for m in (model, uneven, single):
        for rows in (xt[5], xt[:40], xt[:200]):  # one row, the leaf path's batch, past it
            served, bags = m.margins(rows)
            assert served.dtype == bags.dtype == np.float32
            assert bags.shape == (len(served), m.n_boosters, 10)
            np.testing.assert_array_equal(served, m.scores(rows))
            np.testing.assert_array_equal(bags, m.bag_scores(rows))
    assert uneven.n_trees == (4 + 2 + 4) * 10


def test_merge_of_one_booster_predicts_like_it(model: BaggedBoostedTrees, data: tuple) -> None:
    booster = model.boosters[0]
    merged = merge_boosters([booster])
    x = model.prepare(data[2]).astype(np.float64)
    np.testing.assert_allclose(
        merged.predict(x, raw_score=True), booster.predict(x, raw_score=True)
    )


def test_split_by_class_gives_each_class_its_margin_exactly(
    model: BaggedBoostedTrees, data: tuple
) -> None:
    x = model.prepare(data[2]).astype(np.float32)
    margins = model.merged.predict(x, raw_score=True)
    parts = split_by_class(model.merged, 10)
    assert [p.num_trees() for p in parts] == [model.merged.num_trees() // 10] * 10
    for digit, part in enumerate(parts):
        np.testing.assert_array_equal(part.predict(x, raw_score=True), margins[:, digit])


def test_probabilities_and_predictions(model: BaggedBoostedTrees, data: tuple) -> None:
    xt, yt = data[2], data[3]
    proba = model.probabilities(xt)
    assert proba.dtype == np.float32 and proba.shape == (300, 10)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, atol=1e-5)
    predicted = model.predict(xt)
    assert predicted.dtype == np.uint8
    np.testing.assert_array_equal(predicted, proba.argmax(axis=1))
    # Even a tiny model must beat chance by far, or the labels/pixels got misaligned.
    assert (predicted == yt).mean() > 0.6
    assert model.predict(xt[3]).shape == (1,)
    assert model.predict(xt[:0]).shape == (0,)


def test_prepare_deskews_only_when_asked(model: BaggedBoostedTrees, data: tuple) -> None:
    xt = data[2]
    assert model.prepare(xt).shape == (300, 784)
    assert model.prepare(xt[0]).shape == (1, 784)
    assert not np.array_equal(model.prepare(xt), xt)
    plain = BaggedBoostedTrees(ModelSpec(), model.boosters)
    np.testing.assert_array_equal(plain.prepare(xt), xt)
    with pytest.raises(ValueError, match="784"):
        model.prepare(np.zeros((2, 10), np.uint8))


def test_progress_callback_reaches_the_total_with_early_stopping(data: tuple) -> None:
    x, y, _, _ = data
    spec = ModelSpec.from_dict({**TINY, "bags": 2, "max_iter": 60, "early_stopping": 2})
    calls: list[tuple[int, int]] = []
    model = BaggedBoostedTrees.fit(
        x, y, spec, on_round=lambda done, total: calls.append((done, total))
    )
    assert calls[-1] == (120, 120)
    assert [done for done, _ in calls] == sorted(done for done, _ in calls)
    # Early stopping kept fewer than the 60 rounds in at least one bag.
    assert model.n_trees < 2 * 60 * 10
    assert all(b.num_trees() % 10 == 0 for b in model.boosters)


def test_augmentation_adds_rows_and_still_learns(data: tuple) -> None:
    x, y, xt, yt = data
    spec = ModelSpec.from_dict(
        TINY, None, {"copies": 1, "max_shift": 1, "thicken": 0.3, "blur": 0.3}
    )
    assert spec.augment == AugmentSpec(copies=1, max_shift=1, thicken=0.3, blur=0.3)
    model = BaggedBoostedTrees.fit(x, y, spec)
    assert (model.predict(xt) == yt).mean() > 0.6


def test_goss_trains_on_a_sample_of_the_rows_and_still_learns(data: tuple) -> None:
    x, y, xt, yt = data
    # LightGBM samples no rows in its first 1 / learning_rate rounds: two here, then six with GOSS.
    settings = {**TINY, "max_iter": 8, "learning_rate": 0.5}
    every_row = BaggedBoostedTrees.fit(x, y, ModelSpec.from_dict(settings))
    sampled = BaggedBoostedTrees.fit(x, y, ModelSpec.from_dict({**settings, "goss": True}))
    assert sampled.spec.lightgbm_params(0)["data_sample_strategy"] == "goss"
    assert "data_sample_strategy" not in every_row.spec.lightgbm_params(0)
    assert not np.array_equal(sampled.scores(xt), every_row.scores(xt))
    assert (sampled.predict(xt) == yt).mean() > 0.75


def test_spec_dict_round_trip() -> None:
    spec = ModelSpec.from_dict(
        {"bags": 2, "learning_rate": 1, "bag_replacement": True},
        {"deskew": True},
        {"copies": 2, "max_shift": 2},
    )
    assert spec.learning_rate == 1.0 and isinstance(spec.learning_rate, float)
    assert ModelSpec.from_dict(**spec.to_dict()) == spec
    assert ModelSpec.from_dict({}) == ModelSpec()


@pytest.mark.parametrize(
    ("sections", "message"),
    [
        ({"algorithm": {"bagz": 2}}, "algorithm.bagz"),
        ({"algorithm": {}, "preprocess": {"deskw": True}}, "preprocess.deskw"),
        ({"algorithm": {}, "augment": {"rotation": 5}}, "augment.rotation"),
        ({"algorithm": {}, "augment": {"rotate": 90.0}}, "augment.rotate"),
        ({"algorithm": {"bags": "5"}}, "algorithm.bags"),
        ({"algorithm": {"bags": 2.0}}, "algorithm.bags"),
        ({"algorithm": {"deskew": True}}, "algorithm.deskew"),
        ({"algorithm": {"bag_fraction": 1.5}}, "algorithm.bag_fraction"),
        ({"algorithm": {"learning_rate": 0}}, "algorithm.learning_rate"),
        ({"algorithm": {"goss": "yes"}}, "algorithm.goss"),
        ({"algorithm": {}, "preprocess": {"deskew": 1}}, "preprocess.deskew"),
        ({"algorithm": {}, "augment": {"blur": 2.0}}, "augment.blur"),
    ],
)
def test_bad_spec_raises_value_error_naming_the_key(sections: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message.replace(".", r"\.")):
        ModelSpec.from_dict(**sections)


def test_fit_rejects_bad_training_data() -> None:
    with pytest.raises(ValueError, match=r"0\.\.9"):
        BaggedBoostedTrees.fit(np.zeros((4, 784), np.uint8), np.array([0, 1, 2, 10]), ModelSpec())
    with pytest.raises(ValueError, match="784"):
        BaggedBoostedTrees.fit(np.zeros((4, 783), np.uint8), np.zeros(4), ModelSpec())


def test_boosters_are_real_lightgbm(model: BaggedBoostedTrees) -> None:
    assert all(isinstance(b, lightgbm.Booster) for b in model.boosters)


def test_the_thread_count_changes_no_tree() -> None:
    """Cluster workers train with their share of cores: the trees must not depend on it."""
    x, y = load_slice(2000)
    texts = []
    for threads in (1, 3):
        spec = ModelSpec.from_dict({"bags": 1, "max_iter": 8, "num_threads": threads})
        text = train_booster(x, y.astype(np.int32), spec, 0).model_to_string()
        texts.append(text[text.index("Tree=0") : text.index("end of trees")])
    assert texts[0] == texts[1]


def _largest_leaf(booster: lightgbm.Booster) -> float:
    """The largest absolute leaf value of any tree."""
    largest, nodes = 0.0, [tree["tree_structure"] for tree in booster.dump_model()["tree_info"]]
    while nodes:
        node = nodes.pop()
        if "leaf_value" in node:
            largest = max(largest, abs(node["leaf_value"]))
        else:
            nodes += [node["left_child"], node["right_child"]]
    return largest


def test_lambda_l2_keeps_leaves_bounded_where_an_unregularised_booster_blows_up() -> None:
    """The augmentation "collapse": leaves of rows the softmax is sure of, plus a few it is sure
    and wrong about, have tiny hessian sums, so -G/H leaf values reach the thousands on the full
    data and the booster diverges. Here: 1,000 digits seen 15 times, 1% with the wrong label."""
    x, y = load_slice(1000)
    wrong = np.random.default_rng(0).random(len(y)) < 0.01
    y = np.where(wrong, (y + 1) % 10, y)
    x, y = np.tile(x, (15, 1)), np.tile(y, 15)
    default = load_config("experiments/default.toml").spec
    fast = {"augment": AugmentSpec(), "deskew": False, "max_iter": 150, "learning_rate": 0.5}
    # The trees of the default that collapsed: 31 leaves on 30% of the pixels, every row a round.
    shape = {"num_leaves": 31, "max_depth": 8, "feature_fraction": 0.3, "goss": False}
    spec = replace(default, bags=1, num_threads=2, **fast, **shape)
    assert default.lambda_l2 >= 1.0
    bounded = _largest_leaf(train_booster(x, y, spec, bag=0))
    diverging = _largest_leaf(train_booster(x, y, replace(spec, lambda_l2=0.0), bag=0))
    assert bounded < 20 < diverging, (bounded, diverging)
