"""A worker thread for the daemon's blocking calls (alert delivery), awaited from asyncio.

Contract: ``await Worker(name).run(func)`` runs ``func()`` on the worker's one thread, in
the order calls were made, and returns its result or re-raises its exception in the
awaiting task. The thread starts on first use and is a daemon thread, so the process may
exit while a call hangs; a result that arrives after its loop closed is dropped. Raises
nothing of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import TypeVar

__all__ = ["Worker"]

_T = TypeVar("_T")


class Worker:
    """One daemon thread that runs blocking calls (alert delivery) in order.

    A daemon thread, so the process may exit without waiting for a send that hangs; one
    long-lived thread rather than one per call keeps memory flat.
    """

    def __init__(self, name: str) -> None:
        self._name = name
        self._queue: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    async def run(self, func: Callable[[], _T]) -> _T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[_T] = loop.create_future()

        def settle(outcome: Callable[[], None]) -> None:
            with contextlib.suppress(RuntimeError):  # the loop has closed: no one waits
                loop.call_soon_threadsafe(lambda: None if future.done() else outcome())

        def call() -> None:
            try:
                result = func()
            except BaseException as exc:  # handed to the awaiting task, which re-raises
                error = exc
                settle(lambda: future.set_exception(error))
            else:
                settle(lambda: future.set_result(result))

        if self._thread is None:
            self._thread = threading.Thread(
                target=self._serve, name=self._name, daemon=True
            )
            self._thread.start()
        self._queue.put(call)
        return await future

    def _serve(self) -> None:
        while True:
            self._queue.get()()
