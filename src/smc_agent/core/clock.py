"""Clock protocol and a deterministic test clock. Time is ms since epoch, UTC."""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    def timestamp_ms(self) -> int:
        """Current time in milliseconds since the Unix epoch, UTC."""
        ...


class TestClock:
    """A clock that only moves when told to (backtests and tests). Never goes backwards."""

    __test__ = False  # not a pytest test class
    __slots__ = ("_now",)

    def __init__(self, start_ms: int = 0) -> None:
        self._now = start_ms

    def timestamp_ms(self) -> int:
        return self._now

    def set_time(self, ms: int) -> None:
        if ms < self._now:
            raise ValueError(f"TestClock cannot go backwards: {ms} < {self._now}")
        self._now = ms

    def advance(self, ms: int) -> None:
        if ms < 0:
            raise ValueError(f"TestClock cannot advance by a negative amount: {ms}")
        self._now += ms
