"""Progress for people: a bar on a terminal, a few plain lines in a log file or a pipe.

A tqdm bar redraws itself with carriage returns, which a log file keeps as one line per frame
(about 200 of them for the default model). Off a terminal, a run prints a plain line at each
tenth of the way instead.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import TextIO

from tqdm import tqdm

PLAIN_LINES = 10


class Progress:
    """Counts up to ``total``; calls ``on_update(done, total)`` on every step if given."""

    def __init__(
        self,
        total: int,
        desc: str,
        unit: str,
        *,
        enabled: bool = True,
        on_update: Callable[[int, int], None] | None = None,
        stream: TextIO | None = None,
    ) -> None:
        self.total, self.done, self.desc, self.unit = max(total, 1), 0, desc, unit
        self.on_update = on_update
        self.stream = stream or sys.stderr
        terminal = enabled and self.stream.isatty()
        self.bar = tqdm(total=total, desc=desc, unit=unit, file=self.stream) if terminal else None
        self.plain = enabled and not terminal
        self.lines_shown = 0
        self.note = ""

    def update(self, n: int = 1) -> None:
        """Advance by ``n``."""
        self.advance_to(self.done + n)

    def advance_to(self, done: int) -> None:
        """Advance to ``done`` (never backwards)."""
        step = done - self.done
        if step <= 0:
            return
        self.done = done
        if self.bar is not None:
            self.bar.update(step)
        if self.plain:
            self._plain_lines()
        if self.on_update is not None:
            self.on_update(self.done, self.total)

    def describe(self, note: str) -> None:
        """Show a short note beside the count (the bar's postfix, or the next plain line's)."""
        self.note = note
        if self.bar is not None:
            self.bar.set_postfix_str(note)

    def _plain_lines(self) -> None:
        """One line when the count crosses into a new tenth (one line per step at most)."""
        tenth = min(self.done, self.total) * PLAIN_LINES // self.total
        if tenth <= self.lines_shown:
            return
        self.lines_shown = tenth
        note = f" {self.note}" if self.note else ""
        line = f"{self.desc}: {tenth * 100 // PLAIN_LINES}% ({self.done}/{self.total} {self.unit}s)"
        print(line + note, file=self.stream, flush=True)

    def close(self) -> None:
        """Close the bar (a no-op off a terminal)."""
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
