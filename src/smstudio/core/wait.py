"""The one way to wait: `until(check, timeout)` polls a check until it gives a value (not
None), with a clock that tests can replace."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Clock:
    now: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep


REAL = Clock()


class TimedOut(Exception):
    """The check gave nothing within the timeout."""


def until(
    check: Callable[[], T | None],
    timeout: float,
    interval: float = 1.0,
    clock: Clock = REAL,
    backoff: float = 1.0,
    max_interval: float | None = None,
) -> T:
    """The first value `check` gives that is not None; checked at once, then every
    `interval` seconds (multiplied by `backoff` each time, up to `max_interval`).
    TimedOut when `timeout` seconds pass first. An exception from `check` goes through."""
    deadline = clock.now() + timeout
    pause = interval
    while True:
        found = check()
        if found is not None:
            return found
        left = deadline - clock.now()
        if left <= 0:
            raise TimedOut(f"nothing after {timeout:g} s")
        clock.sleep(min(pause, left))
        pause = min(pause * backoff, max_interval or pause * backoff)
