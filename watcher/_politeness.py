"""Per-host turn-taking and a global concurrency cap for ``watcher.fetch.Fetcher``.

Contract: ``async with Politeness(interval, concurrency).turn(host):`` admits one request at
a time per host, starts it at least ``interval`` seconds after the previous request to that
host ended, and admits at most ``concurrency`` requests at once. This holds across tasks,
event loops and threads (the daemon may call ``asyncio.run`` per job). It raises nothing of
its own; cancellation while waiting gives the turn up cleanly.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import AsyncIterator, Callable

__all__ = ["Politeness"]


class Politeness:
    """Turn-taking for one Fetcher, valid across tasks, event loops and threads.

    Waiters park on a future of their own loop and are woken with call_soon_threadsafe, so
    no asyncio primitive is bound to a loop that a later ``asyncio.run`` no longer has.
    """

    def __init__(self, interval: float, concurrency: int) -> None:
        self._interval = interval
        self._capacity = max(1, concurrency)
        self._lock = threading.Lock()
        self._busy: set[str] = set()
        self._last_end: dict[str, float] = {}
        self._active = 0
        # key: a host, or "" for the concurrency slots
        self._waiters: dict[
            str, list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]]
        ] = {}

    @contextlib.asynccontextmanager
    async def turn(self, host: str) -> AsyncIterator[None]:
        await self._claim(
            host, lambda: host not in self._busy, lambda: self._busy.add(host)
        )
        try:
            while (
                wait := self._last_end.get(host, -1e9)
                + self._interval
                - time.monotonic()
            ) > 0:
                await asyncio.sleep(wait)
            await self._claim(
                "", lambda: self._active < self._capacity, self._take_slot
            )
            try:
                yield
            finally:
                self._release("", self._give_slot)
        finally:
            self._release(host, lambda: self._end(host))

    def _take_slot(self) -> None:
        self._active += 1

    def _give_slot(self) -> None:
        self._active -= 1

    def _end(self, host: str) -> None:
        self._busy.discard(host)
        self._last_end[host] = time.monotonic()

    async def _claim(
        self, key: str, free: Callable[[], bool], take: Callable[[], None]
    ) -> None:
        loop = asyncio.get_running_loop()
        while True:
            with self._lock:
                if free():
                    take()
                    return
                future: asyncio.Future[None] = loop.create_future()
                entry = (loop, future)
                self._waiters.setdefault(key, []).append(entry)
            try:
                await future
            except BaseException:
                with self._lock:
                    queue = self._waiters.get(key, [])
                    woken = entry not in queue
                    if not woken:
                        queue.remove(entry)
                if woken:  # the turn was handed to us as we were cancelled: pass it on
                    self._wake_next(key)
                raise

    def _release(self, key: str, give: Callable[[], None]) -> None:
        with self._lock:
            give()
        self._wake_next(key)

    def _wake_next(self, key: str) -> None:
        """Wake the longest-waiting task of ``key`` (only one: a release frees one turn).

        Waking every waiter would make n queued requests to one host cost n^2 wake-ups.
        """
        while True:
            with self._lock:
                queue = self._waiters.get(key)
                if not queue:
                    return
                loop, future = queue.pop(0)
            try:
                loop.call_soon_threadsafe(_wake, future)
                return
            except RuntimeError:
                continue  # its loop has closed: nobody waits there, wake the next one


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
