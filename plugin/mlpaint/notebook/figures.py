"""The notebook's pictures (matplotlib): digits, a confusion matrix, SHAP maps, score bars.

SHAP maps use the paint page's colours and ramp: green pushes toward the digit, red away from
it, on a symmetric scale (+-max |value|) with a square-root ramp, so small values still show.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import FuncNorm, LinearSegmentedColormap, PowerNorm
from matplotlib.figure import Figure

SIDE = 28
# The same colours as FOR and AGAINST in web/heatmap.js (a test checks they agree).
TOWARD = (22, 163, 74)
AGAINST = (220, 38, 38)


def _rgb(color: tuple[int, int, int], alpha: float) -> tuple[float, float, float, float]:
    return (color[0] / 255, color[1] / 255, color[2] / 255, alpha)


# Transparent at 0, so the digit drawn beneath shows through where a pixel does not matter.
SHAP_CMAP = LinearSegmentedColormap.from_list(
    "mlpaint_shap", [_rgb(AGAINST, 0.95), (1.0, 1.0, 1.0, 0.0), _rgb(TOWARD, 0.95)]
)
ATTENTION_CMAP = LinearSegmentedColormap.from_list(
    "mlpaint_attention", [(1.0, 1.0, 1.0, 1.0), _rgb(TOWARD, 1.0)]
)


def shap_norm(scale: float) -> FuncNorm:
    """A symmetric norm on [-scale, scale] with the paint page's square-root ramp."""
    scale = float(scale) or 1.0

    def forward(x: np.ndarray) -> np.ndarray:
        return np.sign(x) * np.sqrt(np.abs(x))

    def inverse(y: np.ndarray) -> np.ndarray:
        return np.sign(y) * y**2

    return FuncNorm((forward, inverse), vmin=-scale, vmax=scale)


def _square(values: Sequence[float] | np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=np.float64).reshape(SIDE, SIDE)


def _bare(ax: Axes, title: str = "") -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    if title:
        ax.set_title(title, fontsize=9)


def draw_digit(ax: Axes, pixels: Sequence[float] | np.ndarray, title: str = "") -> None:
    """A 28x28 digit, ink dark on paper."""
    ax.imshow(_square(pixels), cmap="gray_r", vmin=0, vmax=255, interpolation="nearest")
    _bare(ax, title)


def draw_shap(
    ax: Axes,
    values: Sequence[float] | np.ndarray,
    pixels: Sequence[float] | np.ndarray | None = None,
    title: str = "",
    scale: float | None = None,
) -> float:
    """A SHAP map over the digit (drawn faintly beneath); returns the scale (max |value|)."""
    shap = _square(values)
    scale = float(scale or np.abs(shap).max() or 1.0)
    if pixels is not None:
        ax.imshow(_square(pixels), cmap="gray_r", vmin=0, vmax=255 / 0.3, interpolation="nearest")
    ax.imshow(shap, cmap=SHAP_CMAP, norm=shap_norm(scale), interpolation="nearest")
    _bare(ax, title)
    return scale


def digit_grid(
    images: Sequence[Sequence[float]] | np.ndarray, titles: Sequence[str], columns: int = 10
) -> Figure:
    """Digits side by side (one row of ten by default), each with its title."""
    rows = -(-len(images) // columns)
    fig = Figure(figsize=(1.1 * columns, 1.3 * rows))
    for i, (pixels, title) in enumerate(zip(images, titles, strict=True)):
        draw_digit(fig.add_subplot(rows, columns, i + 1), pixels, title)
    fig.tight_layout()
    return fig


def confusion_figure(matrix: Sequence[Sequence[int]] | np.ndarray, title: str = "") -> Figure:
    """The confusion matrix as a heatmap (rows actual, columns predicted), counts written in."""
    counts = np.asarray(matrix)
    fig = Figure(figsize=(5.2, 4.6))
    ax = fig.add_subplot()
    # Log colours: the diagonal holds about a thousand, the mistakes a handful each.
    image = ax.imshow(np.log1p(counts), cmap="Blues")
    for (actual, predicted), n in np.ndenumerate(counts):
        if n:
            dark = np.log1p(n) > 0.6 * np.log1p(counts.max())
            ax.text(predicted, actual, str(n), ha="center", va="center", fontsize=7,
                    color="white" if dark else "black")  # fmt: skip
    ax.set(xticks=range(10), yticks=range(10), xlabel="predicted", ylabel="actual", title=title)
    fig.colorbar(image, ax=ax, label="log(1 + count)")
    fig.tight_layout()
    return fig


def explanation_figure(
    pixels: Sequence[float] | np.ndarray,
    values: Sequence[float] | np.ndarray,
    probabilities: Sequence[float] | np.ndarray,
    digit: int,
    seen: Sequence[float] | np.ndarray | None = None,
) -> Figure:
    """MLPaint's three figures: the digit, its SHAP map toward ``digit``, the ten scores."""
    fig = Figure(figsize=(10, 3.2))
    left, middle, right = fig.subplots(1, 3, width_ratios=[1, 1.25, 1.4])
    draw_digit(left, pixels, "the digit")
    scale = draw_shap(middle, values, pixels if seen is None else seen, f"SHAP toward {digit}")
    mappable = middle.images[-1]
    fig.colorbar(mappable, ax=middle, label="green toward, red against", fraction=0.046)
    p = np.asarray(probabilities, dtype=np.float64)
    colors = ["#2563eb" if d == int(p.argmax()) else "#9aa0ab" for d in range(10)]
    right.bar(range(10), p, color=colors)
    right.set(xticks=range(10), ylim=(0, 1), xlabel="digit", title="the ten scores (probability)")
    right.title.set_fontsize(9)
    middle.set_xlabel(f"scale ±{scale:.2g}", fontsize=8)
    fig.tight_layout()
    return fig


def maps_figure(
    maps: Sequence[Sequence[float]] | np.ndarray, titles: Sequence[str], signed: bool = False
) -> Figure:
    """Ten 28x28 maps on one colour scale: SHAP (signed) or mean |SHAP| (paper to green)."""
    values = np.asarray(maps, dtype=np.float64)
    scale = float(np.abs(values).max() or 1.0)
    fig = Figure(figsize=(11, 1.6))
    axes = fig.subplots(1, len(values))
    for ax, square, title in zip(np.atleast_1d(axes), values, titles, strict=True):
        if signed:
            draw_shap(ax, square, title=title, scale=scale)
        else:
            ax.imshow(_square(square), cmap=ATTENTION_CMAP, norm=PowerNorm(0.5, 0, scale))
            _bare(ax, title)
    fig.tight_layout()
    return fig
