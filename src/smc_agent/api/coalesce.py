"""Request coalescing for expensive, read-only answers (``/v1/status`` probes every dependency).

Concurrent callers share computations, and each caller gets a result computed entirely AFTER it
arrived: a caller that finds a computation in flight waits for the next one, which starts when the
current one ends and serves everyone who arrived meanwhile. So nothing is cached (a halt set one
millisecond before the request shows), yet N concurrent requests cost about two computations.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Generic, TypeVar

from fastapi.concurrency import run_in_threadpool

T = TypeVar("T")


class Coalescer(Generic[T]):
    def __init__(self, compute: Callable[[], T]) -> None:
        self._compute = compute
        self._current: asyncio.Task[T] | None = None
        self._next: asyncio.Future[T] | None = None

    async def get(self) -> T:
        if self._current is None:
            self._current = self._start()
            return await asyncio.shield(self._current)
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
        return await asyncio.shield(self._next)

    def _start(self) -> asyncio.Task[T]:
        task: asyncio.Task[T] = asyncio.ensure_future(run_in_threadpool(self._compute))
        task.add_done_callback(self._finished)
        return task

    def _finished(self, _: asyncio.Task[T]) -> None:
        self._current = None
        waiting, self._next = self._next, None
        if waiting is None:
            return
        self._current = self._start()
        self._current.add_done_callback(lambda done: _transfer(done, waiting))


def _transfer(done: asyncio.Task[T], target: asyncio.Future[T]) -> None:
    if target.done():
        return
    if done.cancelled():
        target.cancel()
    elif done.exception() is not None:
        target.set_exception(done.exception())  # type: ignore[arg-type]
    else:
        target.set_result(done.result())
