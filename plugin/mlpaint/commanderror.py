"""How a command fails: one line on stderr and an exit status (shared by the CLI's commands)."""

from __future__ import annotations

EXIT_BAD_INPUT = 2


class CommandError(Exception):
    """A failure to report as one line on stderr, with an exit status."""

    def __init__(self, message: str, status: int = 1) -> None:
        super().__init__(message)
        self.status = status
