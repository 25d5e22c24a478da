"""The one error type the CLI turns into a clear message: what is wrong, and the fix."""

from __future__ import annotations


class SmstudioError(Exception):
    """A problem the user can fix. `fix` says how."""

    def __init__(self, problem: str, fix: str = "") -> None:
        super().__init__(problem)
        self.problem = problem
        self.fix = fix

    def __str__(self) -> str:
        return f"{self.problem}\n  fix: {self.fix}" if self.fix else self.problem
