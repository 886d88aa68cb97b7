"""Which signal tells digits from non-digits: AUROC and threshold rates per candidate signal.

    python bench/verdict.py --db PATH [--model NAME[:VERSION]] [--limit N] [--kinds a,b]
    python bench/verdict.py --train BAGS [--rows N]     # a small model on MNIST's first N rows

MNIST's official test digits (a seeded subset of ``--limit``), each captured as the kinds asked
(default ``canvas``; ``all`` takes each digit as the next kind in ``captures.KINDS``) and the
non-digit set (``mlpaint.nondigits``), both through the REST image path. For every candidate in
``mlpaint.verdict.SIGNALS``: the AUROC, then the threshold chosen on the validation halves (at
most ``verdict.FALSE_NON_DIGIT_RATE`` of digits above it) and its rates on the test halves.
Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from mlpaint import captures, db, registry, verdict
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


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database of the model")
    parser.add_argument("--model", help="NAME[:VERSION] (default: the active model)")
    parser.add_argument("--train", type=int, help="train a small model of this many bags instead")
    parser.add_argument("--rows", type=int, default=20000)
    parser.add_argument("--limit", type=int, default=2000, help="test digits; 0: all 10,000")
    parser.add_argument("--kinds", default="canvas", help="comma-separated kinds, or all")
    args = parser.parse_args()
    started = time.perf_counter()
    model = small_model(args.train, args.rows) if args.train else load(args.db, args.model)
    print(f"model: {model.n_boosters} bag(s), {model.n_trees} trees "
          f"({time.perf_counter() - started:.0f} s)")  # fmt: skip
    test = read_vendored()[1]
    rng = np.random.default_rng(0)
    limit = args.limit or len(test.labels)
    chosen = np.sort(rng.choice(len(test.labels), size=min(limit, len(test.labels)), replace=False))
    non_digits = model.bag_scores(verdict.non_digit_pixels())
    kinds = list(captures.KINDS) if args.kinds == "all" else args.kinds.split(",")
    by_kind: dict[str, np.ndarray] = {}
    for kind in kinds + (["mixed"] if len(kinds) > 1 else []):
        if kind == "mixed":
            pixels = np.concatenate([by_kind[k] for k in kinds])
        else:
            pixels = verdict.through_image_path(test.pixels[chosen], chosen, kind)
            by_kind[kind] = pixels
        digits = model.bag_scores(pixels)
        print(f"\n{len(pixels)} test digits ({kind}) vs {len(non_digits)} non-digits")
        print(f"  {'signal':<20}{'AUROC':>7}{'thresh':>9}  val: false-non-digit / detected"
              "   test: false-non-digit / detected   test AUROC")  # fmt: skip
        for name, signal in verdict.SIGNALS.items():
            d, n = signal(digits), signal(non_digits)
            c = verdict.choose(d, n)
            v, t = c.validation, c.test
            print(f"  {name:<20}{verdict.auroc(d, n):7.4f}{c.threshold:9.4f}"
                  f"       {v['false_non_digit_rate']:6.2%} / {v['detection_rate']:6.2%}"
                  f"           {t['false_non_digit_rate']:6.2%} / {t['detection_rate']:6.2%}"
                  f"      {t['auroc']:.4f}")  # fmt: skip


if __name__ == "__main__":
    main()
