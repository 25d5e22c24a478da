"""wait.until on a clock the test drives: no real time passes."""

from __future__ import annotations

import pytest

from smstudio.core import wait


class FakeClock:
    def __init__(self) -> None:
        self.t = 0.0
        self.sleeps: list[float] = []

    def now(self) -> float:
        return self.t

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.t += seconds

    @property
    def clock(self) -> wait.Clock:
        return wait.Clock(self.now, self.sleep)


def test_returns_the_first_value_checked_at_once() -> None:
    fake = FakeClock()
    assert wait.until(lambda: "ready", 10, clock=fake.clock) == "ready"
    assert fake.sleeps == []


def test_polls_at_the_interval_until_a_value() -> None:
    fake = FakeClock()
    answers = iter([None, None, 0, 5])
    assert wait.until(lambda: next(answers), 10, 2, fake.clock) == 0  # 0 is a value
    assert fake.sleeps == [2, 2]


def test_times_out_without_sleeping_past_the_deadline() -> None:
    fake = FakeClock()
    with pytest.raises(wait.TimedOut):
        wait.until(lambda: None, 5, 2, fake.clock)
    assert fake.sleeps == [2, 2, 1] and fake.t == 5


def test_backs_off_up_to_the_largest_interval() -> None:
    fake = FakeClock()
    with pytest.raises(wait.TimedOut):
        wait.until(lambda: None, 10, 0.5, fake.clock, backoff=2, max_interval=3)
    assert fake.sleeps[:5] == [0.5, 1, 2, 3, 3]


def test_an_exception_from_the_check_goes_through() -> None:
    def broken() -> None:
        raise ValueError("no")

    with pytest.raises(ValueError):
        wait.until(broken, 10, clock=FakeClock().clock)
