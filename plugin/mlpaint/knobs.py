"""The training config's schema rules: tables of known keys, each value's type, and its range.

Experiment files (TOML, or the same keys as JSON) and the model's spec are read with these, so
every config mistake is a ``ConfigError`` whose message starts with the key it is about.
"""

from __future__ import annotations

import dataclasses
import math
import reprlib
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

# Off only while a stored model's spec is read back (bounds_relaxed).
_BOUNDS_ENFORCED: ContextVar[bool] = ContextVar("mlpaint_bounds_enforced", default=True)


class ConfigError(ValueError):
    """An experiment config that cannot be trained: the message names the offending key."""


def table(
    where: str, value: Any, allowed: Collection[str], required: Collection[str] = ()
) -> dict[str, Any]:
    """A copy of a TOML table or JSON object whose keys are all ``allowed``, ``required`` there.

    ``where`` names the table in messages (``algorithm``, ``folds[0]``; "" for the top level).
    """
    name = where or "the config"
    if not isinstance(value, dict):
        raise ConfigError(f"{name} must be a table, got {type(value).__name__}")
    unknown = sorted(set(value) - set(allowed))
    if unknown:
        raise ConfigError(
            f"{_key(where, unknown[0])}: unknown key {unknown[0]!r}; "
            f"{name} takes {', '.join(sorted(allowed))}"
        )
    missing = [key for key in required if key not in value]
    if missing:
        raise ConfigError(f"{_key(where, missing[0])}: missing key {missing[0]!r}")
    return dict(value)


def _key(where: str, key: str) -> str:
    return f"{where}.{key}" if where else key


def check_type(name: str, value: Any, default: Any) -> Any:
    """Return ``value`` if it has the type of ``default`` (ints widen to float), else raise."""
    if isinstance(default, (bool, str)):
        ok = isinstance(value, type(default))
    elif isinstance(default, int):
        ok = isinstance(value, int) and not isinstance(value, bool)
    else:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
    if not ok:
        raise ConfigError(f"{name} must be {type(default).__name__}, got {reprlib.repr(value)}")
    if isinstance(default, float) and not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}")
    return float(value) if isinstance(default, float) else value


def check_knobs(
    spec: Any, bounds: Mapping[str, Bounds], section: str, moved: Mapping[str, str] | None = None
) -> None:
    """Check every plain field of a frozen dataclass: its default's type, then its bounds.

    A field is named ``<section>.<field>`` in messages, or in the table ``moved`` gives it;
    ints given for a float field are stored as floats. Fields built by a factory are skipped.
    """
    for f in dataclasses.fields(spec):
        if f.default is dataclasses.MISSING:
            continue
        name = f"{(moved or {}).get(f.name, section)}.{f.name}"
        value = check_type(name, getattr(spec, f.name), f.default)
        if f.name in bounds:
            bounds[f.name].check(name, value)
        object.__setattr__(spec, f.name, value)


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
        """Raise ``ConfigError`` naming ``name`` unless ``value`` is allowed (or bounds are off)."""
        if _BOUNDS_ENFORCED.get() and value not in self:
            raise ConfigError(f"{name} = {value!r} is out of range; allowed: {self}")


PROBABILITY = Bounds(0.0, 1.0)


@contextmanager
def bounds_relaxed() -> Iterator[None]:
    """Skip range checks in a block: a model stored under looser bounds must still load."""
    token = _BOUNDS_ENFORCED.set(False)
    try:
        yield
    finally:
        _BOUNDS_ENFORCED.reset(token)
