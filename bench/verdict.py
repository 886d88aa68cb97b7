"""Which signal tells digits from non-digits: AUROC and threshold rates per candidate signal.

    python bench/verdict.py --db PATH [--model NAME[:VERSION]] [--limit N] [--kinds a,b]
    python bench/verdict.py --train BAGS [--rows N]     # a small model on MNIST's first N rows

MNIST's official test digits (a seeded subset of ``--limit``), each captured as the kinds asked
(default ``canvas``; ``all`` takes each digit as the next kind in ``captures.KINDS``) and the
non-digit set (``mlpaint.nondigits``), both through the REST image path. For every candidate in
``mlpaint.verdict.SIGNALS``, the learned detector alone (``mlpaint.detector``) and the verdict's
combination of it with the entropy (weights fitted on the validation halves): the AUROC, then the
threshold chosen on the validation halves (at most ``verdict.FALSE_NON_DIGIT_RATE`` of digits
above it) and its rates on the test halves; then the rule the model serves (its stored weights
and threshold, chosen when it was trained) on every row. The detector is the model's own when it
has one (unless ``--retrain``), else trained here on MNIST's training digits as ``mlpaint train``
would.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from mlpaint import captures, db, detector, registry, verdict
from mlpaint.model import BaggedBoostedTrees, ModelSpec
from mlpaint.sources import read_vendored


def load(path: str, ref: str | None) -> BaggedBoostedTrees:
    name, _, version = (ref or "").partition(":")
    con = db.connect(path, read_only=True)
    try:
        return registry.load_model(con, name or None, int(version) if version else None).model
    finally:
        con.close()


def small_model(bags: int, rows: int) -> BaggedBoostedTrees:
    """The stand-in's settings with ``bags`` bags on MNIST's first ``rows`` training digits."""
    train = read_vendored()[0]
    spec = ModelSpec(
        bags=bags, bag_fraction=0.5 if bags > 1 else 1.0, max_iter=40, num_leaves=31,
        learning_rate=0.2, feature_fraction=0.5, seed=1, num_threads=1, deskew=True,
    )  # fmt: skip
    return BaggedBoostedTrees.fit(train.pixels[:rows], train.labels[:rows], spec)


def detector_of(model: BaggedBoostedTrees, retrain: bool) -> str:
    """The model's detector text, or one trained here on MNIST's training digits (timed)."""
    rule = model.verdict or {}
    if "detector" in rule and not retrain:
        print("detector: the model's own")
        return rule["detector"]
    train = read_vendored()[0]
    started = time.perf_counter()
    sizes = (verdict.DETECTOR_CAPTURED, verdict.DETECTOR_DIRECT, verdict.DETECTOR_NON_DIGITS)
    text = detector.train(model, train.pixels, None, *sizes)
    print(f"detector: trained here on {sizes} ({time.perf_counter() - started:.0f} s)")
    return text


def print_row(name: str, d: np.ndarray, n: np.ndarray) -> None:
    """One candidate's AUROC, validation-chosen threshold and its rates on both halves."""
    c = verdict.choose(d, n)
    v, t = c.validation, c.test
    print(f"  {name:<20}{verdict.auroc(d, n):7.4f}{c.threshold:9.4f}"
          f"       {v['false_non_digit_rate']:6.2%} / {v['detection_rate']:6.2%}"
          f"           {t['false_non_digit_rate']:6.2%} / {t['detection_rate']:6.2%}"
          f"      {t['auroc']:.4f}")  # fmt: skip


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database of the model")
    parser.add_argument("--model", help="NAME[:VERSION] (default: the active model)")
    parser.add_argument("--train", type=int, help="train a small model of this many bags instead")
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--limit", type=int, default=2000, help="test digits; 0: all 10,000")
    parser.add_argument("--kinds", default="canvas", help="comma-separated kinds, or all")
    parser.add_argument("--retrain", action="store_true", help="train a detector even if stored")
    args = parser.parse_args()
    started = time.perf_counter()
    model = small_model(args.train, args.rows) if args.train else load(args.db, args.model)
    print(f"model: {model.n_boosters} bag(s), {model.n_trees} trees "
          f"({time.perf_counter() - started:.0f} s)")  # fmt: skip
    test = read_vendored()[1]
    rng = np.random.default_rng(0)
    limit = args.limit or len(test.labels)
    chosen = np.sort(rng.choice(len(test.labels), size=min(limit, len(test.labels)), replace=False))
    text = detector_of(model, args.retrain)
    seen_non_digits = model.prepare(verdict.non_digit_pixels())
    non_digits = model.bag_scores(seen_non_digits, prepared=True)
    n_det, n_val = detector.margins(text, seen_non_digits, 2), verdict.halves(len(non_digits))
    kinds = list(captures.KINDS) if args.kinds == "all" else args.kinds.split(",")
    by_kind: dict[str, np.ndarray] = {}
    for kind in kinds + (["mixed"] if len(kinds) > 1 else []):
        if kind == "mixed":
            pixels = np.concatenate([by_kind[k] for k in kinds])
        else:
            pixels = verdict.through_image_path(test.pixels[chosen], chosen, kind)
            by_kind[kind] = pixels
        seen = model.prepare(pixels)
        digits = model.bag_scores(seen, prepared=True)
        print(f"\n{len(pixels)} test digits ({kind}) vs {len(non_digits)} non-digits")
        print(f"  {'signal':<20}{'AUROC':>7}{'thresh':>9}  val: false-non-digit / detected"
              "   test: false-non-digit / detected   test AUROC")  # fmt: skip
        for name, signal in verdict.SIGNALS.items():
            print_row(name, signal(digits), signal(non_digits))
        d_det, d_val = detector.margins(text, seen, 2), verdict.halves(len(digits))
        print_row("detector", d_det, n_det)
        d_ent, n_ent = verdict.score(digits), verdict.score(non_digits)
        weights = detector.fit_weights((d_det[d_val], d_ent[d_val]), (n_det[n_val], n_ent[n_val]))
        combined = detector.combine(d_det, d_ent, weights), detector.combine(n_det, n_ent, weights)
        print_row("combined (verdict)", *combined)
        print(f"  combined weights (detector, logit entropy, 1): {np.round(weights, 3).tolist()}")
        if not args.train and not args.retrain:
            print_served(model, seen, digits, seen_non_digits, non_digits)


def print_served(
    model: BaggedBoostedTrees,
    seen: np.ndarray,
    digits: np.ndarray,
    seen_non_digits: np.ndarray,
    non_digits: np.ndarray,
) -> None:
    """The rates of the rule the model serves: its stored weights and threshold, all rows."""
    threshold = verdict.threshold_of(model)
    d = verdict.scores_of(model, seen, digits)
    n = verdict.scores_of(model, seen_non_digits, non_digits)
    print(f"  served rule (stored, threshold {threshold:.4f}): "
          f"{(d > threshold).mean():.2%} of digits called non-digits, "
          f"{(n > threshold).mean():.2%} of non-digits caught")  # fmt: skip


if __name__ == "__main__":
    main()
