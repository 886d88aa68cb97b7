"""Checking a config knob's value: its type, and the range it must lie in."""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

# Off only while a stored model's spec is read back (bounds_relaxed).
_BOUNDS_ENFORCED: ContextVar[bool] = ContextVar("mlpaint_bounds_enforced", default=True)


def check_type(name: str, value: Any, default: Any) -> Any:
    """Return ``value`` if it has the type of ``default`` (ints widen to float), else raise."""
    if isinstance(default, bool):
        ok = isinstance(value, bool)
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok:
        raise ValueError(f"{name} must be {type(default).__name__}, got {value!r}")
    if isinstance(default, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value) if isinstance(default, float) else value


@dataclass(frozen=True)
class Bounds:
    """The values a numeric knob accepts: an interval, closed unless an end is marked open."""

    low: float
    high: float
    open_low: bool = False
    open_high: bool = False
    also: float | None = None  # one special value allowed outside the interval (-1 = no limit)

    def __contains__(self, value: float) -> bool:
        above = value > self.low if self.open_low else value >= self.low
        below = value < self.high if self.open_high else value <= self.high
        return (above and below) or value == self.also

    def __str__(self) -> str:
        closed = not (self.open_low or self.open_high)
        if closed and isinstance(self.low, int) and isinstance(self.high, int):
            text = f"{self.low}..{self.high}"
        else:
            left, right = "(" if self.open_low else "[", ")" if self.open_high else "]"
            text = f"{left}{self.low}, {self.high}{right}"
        return text if self.also is None else f"{text} or {self.also}"

    def check(self, name: str, value: float) -> None:
        """Raise ``ValueError`` naming ``name`` unless ``value`` is allowed (or bounds are off)."""
        if _BOUNDS_ENFORCED.get() and value not in self:
            raise ValueError(f"{name} = {value!r} is out of range; allowed: {self}")


PROBABILITY = Bounds(0.0, 1.0)


@contextmanager
def bounds_relaxed() -> Iterator[None]:
    """Skip range checks in a block: a model stored under looser bounds must still load."""
    token = _BOUNDS_ENFORCED.set(False)
    try:
        yield
    finally:
        _BOUNDS_ENFORCED.reset(token)
