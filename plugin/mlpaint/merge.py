"""Merging bagged LightGBM boosters into one booster that scores (and explains) their mean."""

from __future__ import annotations

import lightgbm
import numpy as np


def _scale_values(block: str, scale: float) -> str:
    """Multiply a tree block's leaf and internal values by ``scale``."""
    out = []
    for line in block.split("\n"):
        key, sep, values = line.partition("=")
        if sep and key in ("leaf_value", "internal_value"):
            scaled = np.array(values.split(), dtype=np.float64) * scale
            line = f"{key}=" + " ".join(repr(v) for v in scaled.tolist())
        out.append(line)
    return "\n".join(out)


def merge_boosters(boosters: list[lightgbm.Booster]) -> lightgbm.Booster:
    """One booster whose raw margin is the mean of the boosters' raw margins.

    Trees are concatenated (each booster holds whole rounds, so tree i still scores class i % 10)
    and every leaf is scaled by 1/B. TreeSHAP is additive over trees, so its explanation is the
    mean of the boosters' explanations too.
    """
    scale = 1.0 / len(boosters)
    header, blocks = "", []
    for booster in boosters:
        head, _, rest = booster.model_to_string().partition("\nTree=")
        trees = rest.split("end of trees", 1)[0]
        # tree_sizes would describe the first booster's trees only; without it LightGBM just
        # parses the trees one after another.
        header = header or "\n".join(
            line for line in head.split("\n") if not line.startswith("tree_sizes=")
        )
        blocks += [b.split("\n", 1)[1] for b in ("Tree=" + trees).split("Tree=")[1:]]
    parts = [header.rstrip("\n") + "\n\n"]
    parts += [f"Tree={i}\n{_scale_values(b, scale)}" for i, b in enumerate(blocks)]
    parts.append("end of trees\n")
    return lightgbm.Booster(model_str="".join(parts))
