"""Robustness: MNIST's test digits captured in named ways, read through the REST image path.

    python bench/robustness.py --db PATH [--old NAME[:VERSION]] [--new NAME[:VERSION]]
        [--old-db PATH] [--new-db PATH] [--old-images FILE] [--new-images FILE]
        [--limit N] [--kinds a,b] [--nondigits N] [--all-test]

MNIST's official test digits that the hash folds also hold out (about 2,000 of the 10,000, so that
no model trained on the default fold has seen them; ``--all-test`` takes all 10,000), a seeded
subset of ``--limit`` per kind (default 2,000; 0 for all), each captured by every kind in
``mlpaint.captures.KINDS``, normalised by ``image_to_pixels`` (what the REST scorer's ``"image"``
input does) and scored by ``mlpaint.scoring``, for two columns side by side: old and new. A column
is a model and an image normaliser: ``--old-images FILE`` loads another ``images.py`` (for example
main's, saved with ``git show main:plugin/mlpaint/images.py > /tmp/old_images.py``) to measure a
change to the normaliser on one model. Then the non-digit set (``mlpaint.nondigits``): the
histogram of the top predicted digit and the mean top probability. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import importlib.util
import time
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

import numpy as np

from mlpaint import captures, db, images, nondigits, registry, scoring
from mlpaint.bags import held_out_mask
from mlpaint.registry import LoadedModel
from mlpaint.sources import read_vendored


@dataclass
class Column:
    """One side of the comparison: a model and the image normaliser in front of it."""

    title: str
    loaded: LoadedModel
    images: ModuleType


def load_images(path: str | None) -> ModuleType:
    """``mlpaint.images``, or an ``images.py`` from a file (to compare normalisers)."""
    if path is None:
        return images
    spec = importlib.util.spec_from_file_location(f"images_{Path(path).stem}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load_model(path: str, ref: str | None) -> LoadedModel:
    """``NAME[:VERSION]`` (default: the active model) from the database at ``path``."""
    name, _, version = (ref or "").partition(":")
    con = db.connect(path, read_only=True)
    try:
        return registry.load_model(con, name or None, int(version) if version else None)
    finally:
        con.close()


def column(side: str, args: argparse.Namespace) -> Column:
    path = getattr(args, f"{side}_db") or args.db
    loaded = load_model(path, getattr(args, side))
    module_file = getattr(args, f"{side}_images")
    where = Path(module_file).name if module_file else "mlpaint.images"
    return Column(
        f"{side}: {loaded.name} v{loaded.version}, {where}", loaded, load_images(module_file)
    )


def read_all(column: Column, blobs: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """(n, 784) pixels of each image (zeros where refused) and which were refused (a 422)."""
    pixels = np.zeros((len(blobs), 784), dtype=np.uint8)
    refused = np.zeros(len(blobs), dtype=bool)
    for i, data in enumerate(blobs):
        try:
            pixels[i] = column.images.image_to_pixels(data)
        except column.images.ImageError:
            refused[i] = True
    return pixels, refused


def probabilities(column: Column, pixels: np.ndarray) -> np.ndarray:
    """The batch form of what ``scoring.answer`` (the REST scorer) computes per row."""
    batch = scoring.probabilities(column.loaded, pixels)
    one = scoring.answer(column.loaded, pixels[0])
    assert np.allclose(one["probabilities"], batch[0], atol=1e-5)
    return batch


def main() -> None:
    """Run the benchmark and print its figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", help="database of both models (default: $MLPAINT_DB)")
    for side in ("old", "new"):
        parser.add_argument(f"--{side}", help="NAME[:VERSION] (default: the active model)")
        parser.add_argument(f"--{side}-db", help="database of this side's model (default: --db)")
        parser.add_argument(f"--{side}-images", help="an images.py file (default: mlpaint's)")
    parser.add_argument("--limit", type=int, default=2000, help="digits per kind; 0: all 10,000")
    parser.add_argument("--kinds", help="comma-separated kinds (default: all)")
    parser.add_argument("--nondigits", type=int, default=nondigits.SIZE)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--all-test", action="store_true", help="also digits the hash folds train on (see above)"
    )
    args = parser.parse_args()
    columns = [column("old", args), column("new", args)]
    test = read_vendored()[1]
    pool = np.arange(len(test.labels))
    if not args.all_test:
        pool = pool[held_out_mask(len(read_vendored()[0].labels) + pool)]
    rng = np.random.default_rng(args.seed)
    limit = min(args.limit or len(pool), len(pool))
    chosen = np.sort(rng.choice(pool, size=limit, replace=False))
    digits, labels = test.pixels[chosen], test.labels[chosen]
    kinds = args.kinds.split(",") if args.kinds else list(captures.KINDS)
    for col in columns:
        print(col.title)
    which = "MNIST test digits" if args.all_test else "held-out MNIST test digits"
    print(f"\n{len(chosen):,} {which} per kind (seed {args.seed}), top-1 %")
    print(f"  {'kind':<10}{'old':>9}{'new':>9}{'change':>9}   refused old/new   s old/new")
    plain = [probabilities(col, digits).argmax(axis=1) for col in columns]
    accuracy = [100 * (p == labels).mean() for p in plain]
    print(
        f"  {'(pixels)':<10}{accuracy[0]:9.2f}{accuracy[1]:9.2f}{accuracy[1] - accuracy[0]:+9.2f}"
    )
    for kind in kinds:
        blobs = [
            captures.capture(kind, d, seed=int(i)) for d, i in zip(digits, chosen, strict=True)
        ]
        figures = []
        for col in columns:
            started = time.perf_counter()
            pixels, refused = read_all(col, blobs)
            seconds = time.perf_counter() - started
            right = (probabilities(col, pixels).argmax(axis=1) == labels) & ~refused
            figures.append((100 * right.mean(), refused.sum(), seconds))
        (a, ra, sa), (b, rb, sb) = figures
        print(f"  {kind:<10}{a:9.2f}{b:9.2f}{b - a:+9.2f}   {ra:7d}/{rb:<7d}   {sa:5.1f}/{sb:.1f}")
    if args.nondigits:
        non_digit_figures(columns, nondigits.make(args.nondigits))


def non_digit_figures(columns: list[Column], blobs: list[tuple[str, bytes]]) -> None:
    """How each column answers things that are not digits."""
    print(f"\nnon-digit set ({len(blobs)} images): top digit histogram, mean top probability")
    groups = sorted({group for group, _ in blobs})
    for col in columns:
        pixels, refused = read_all(col, [data for _, data in blobs])
        proba = probabilities(col, pixels)
        top, sure = proba.argmax(axis=1), proba.max(axis=1)
        histogram = " ".join(f"{d}:{n}" for d, n in enumerate(np.bincount(top, minlength=10)))
        print(f"  {col.title}")
        print(f"    top digit  {histogram}   refused (no ink) {refused.sum()}")
        above = (sure > 0.9).mean()
        print(f"    mean top probability {sure.mean():.3f}  (share above 0.9: {above:.1%})")
        for group in groups:
            mask = np.array([g == group for g, _ in blobs])
            common = np.bincount(top[mask], minlength=10).argmax()
            print(
                f"    {group:<9} n={mask.sum():4d}  mean top p {sure[mask].mean():.3f}"
                f"  most often {common} ({(top[mask] == common).mean():.0%})"
            )


if __name__ == "__main__":
    main()
