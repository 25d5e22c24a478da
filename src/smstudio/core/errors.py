"""The errors the CLI turns into a clear message: what is wrong, and the fix. A failure
exits 1; bad input (a team file, an argument, a name) exits 2."""

from __future__ import annotations


class SmstudioError(Exception):
    """A problem the user can fix. `fix` says how."""

    exit_code = 1

    def __init__(self, problem: str, fix: str = "") -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.problem}\n  fix: {self.fix}" if self.fix else self.problem


class BadInput(SmstudioError):
    """What the user gave is wrong (a team file, an argument, a name): exit 2."""

    exit_code = 2
