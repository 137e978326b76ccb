"""Shared test fixtures: a real local HTTP server whose pages a test edits, and a fixed clock."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.localserver import LocalServer, Reply, Request

__all__ = ["CORPUS", "DATA", "SHARED", "FixedClock", "LocalServer", "Reply", "Request"]

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
CORPUS = SHARED / "corpus"
DATA = Path(__file__).parent / "data"


@pytest.fixture
def http_server() -> Iterator[LocalServer]:
    server = LocalServer()
    server.start()
    try:
        yield server
    finally:
        server.stop()


class FixedClock:
    """A controllable UTC clock: ``clock()`` returns now; ``clock.advance(hours=1)`` moves it."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 6, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now += timedelta(**delta)
        return self.now


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock()
