"""The daemon behind ``watcher run``: every document checked on its own schedule, forever.

Contract of ``run_daemon(config_dir, db_url, *, stop_timeout=10.0, pidfile=None) -> int``:

- One asyncio loop runs an ``AsyncIOScheduler`` (see ``watcher.schedule``): a job per
  document awaiting ``pipeline.check_documents(runtime, [doc], notify=False)``, all sharing
  one ``Fetcher``, so its per-host politeness and concurrency cap hold across jobs. Each
  document's first run follows from its last check in the store.
- Alerts leave the outbox in a job of their own (at start, every ``DELIVERY_INTERVAL``, and
  right after a check that may have queued one), in a worker thread so a slow channel never
  stalls the checks. Digest channels get a job on their ``digest_every`` crontab.
- A heartbeat (``store.heartbeat(now, {"pid", "started_at", "version", "next_runs"})``) is
  written at start, after a reload and every ``HEARTBEAT_INTERVAL``; ``watcher status`` reads
  it.
- SIGTERM/SIGINT: take no new work, let in-flight checks and deliveries finish for up to
  ``stop_timeout`` less a margin, cancel what is left (a check is cancelled only while it
  awaits the network, before its store transaction, so the store stays consistent and the
  check simply runs again after a restart), flush the logs, return 0. A second signal
  cancels at once.
- SIGHUP (``reload_running(pidfile)`` sends it): re-read the config; a bad config is logged
  and the old one kept. Schedules, documents, topics, fetch and notify settings take effect;
  storage settings need a restart.
- With ``$NOTIFY_SOCKET`` set (systemd ``Type=notify``): READY=1 once scheduled,
  RELOADING=1/READY=1 around a reload, STOPPING=1 on stop.
- Returns 0 after a clean stop, 1 when the store failed (systemd restarts the unit).

Raises ``ConfigError`` (the config does not load at start) and ``StoreError`` (the database
cannot be opened). ``reload_running`` raises ``WatcherError`` when no daemon answers.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Coroutine
from dataclasses import replace
from datetime import UTC
from functools import partial
from pathlib import Path
from typing import Any

from apscheduler.triggers.interval import IntervalTrigger

from watcher import __version__, _service, pipeline
from watcher._service import reload_running
from watcher._worker import Worker
from watcher.config import load_config
from watcher.errors import ConfigError, StoreError
from watcher.fetch import Fetcher
from watcher.models import Config, Document
from watcher.schedule import (
    build_scheduler,
    crontab_trigger,
    next_runs,
    schedule_documents,
)
from watcher.text import TopicMatcher

__all__ = [
    "DELIVERY_INTERVAL",
    "HEARTBEAT_INTERVAL",
    "reload_running",
    "run_daemon",
]

logger = logging.getLogger(__name__)

# Seconds between two outbox sweeps; a check that may have queued an alert sweeps at once,
# so this only paces retries of channels that were down.
DELIVERY_INTERVAL = 30.0
# Seconds between heartbeats; `watcher status` calls a daemon dead after several missed.
HEARTBEAT_INTERVAL = 30.0
# Part of stop_timeout kept back for cancelling, closing and flushing after the grace
# period: 2 s of the default 10, a quarter of shorter bounds.
_STOP_MARGIN = 2.0


def run_daemon(
    config_dir: Path | None,
    db_url: str | None,
    *,
    log_json: bool = False,
    stop_timeout: float = 10.0,
    pidfile: Path | None = None,
) -> int:
    """Run until SIGTERM/SIGINT; see the module docstring. ``log_json`` formats the log
    lines as JSON when no logging is configured yet (the CLI configures its own)."""
    _service.ensure_logging(log_json)
    # a reload asked for while starting must not end the process (SIGHUP's default)
    previous_hup = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        config = load_config(config_dir)
        with (
            pipeline.open_runtime(config, db_url=db_url) as runtime,
            _service.pidfile(pidfile),
        ):
            daemon = _Daemon(config_dir, runtime, stop_timeout)
            return asyncio.run(daemon.main())
    finally:
        signal.signal(signal.SIGHUP, previous_hup)
        for handler in logging.getLogger().handlers:
            handler.flush()


class _Daemon:
    """The running daemon's state; lives inside one ``asyncio.run``."""

    def __init__(
        self, config_dir: Path | None, runtime: pipeline.Runtime, stop_timeout: float
    ) -> None:
        self._config_dir = config_dir
        self._runtime = runtime
        self._stop_timeout = stop_timeout
        self._scheduler = build_scheduler()
        self._sender = Worker("watcher-deliver")
        self._tasks: set[asyncio.Task[Any]] = set()
        self._checking: set[str] = set()
        self._failing: set[str] = set()
        self._delivering = False
        self._deliver_again = False
        self._stopping = False
        self._exit_code = 0
        self._started_at = runtime.now()
        self._stop_event: asyncio.Event | None = None

    async def main(self) -> int:
        loop = asyncio.get_running_loop()
        self._stop_event = asyncio.Event()
        fetcher = Fetcher(self._runtime.config.settings.fetch).open()
        self._runtime = replace(self._runtime, fetcher=fetcher)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, self._on_stop_signal, sig)
        loop.add_signal_handler(signal.SIGHUP, self._on_reload_signal)
        try:
            self._schedule(self._runtime.config)
            self._scheduler.add_job(
                self._deliver,
                IntervalTrigger(seconds=DELIVERY_INTERVAL, timezone=UTC),
                id="deliver",
                name="deliver alerts",
                next_run_time=self._runtime.now(),  # what a previous run left pending
            )
            self._scheduler.add_job(
                self._heartbeat_job,
                IntervalTrigger(seconds=HEARTBEAT_INTERVAL, timezone=UTC),
                id="heartbeat",
                name="heartbeat",
            )
            self._scheduler.start()
            self._heartbeat()
            docs = len(self._runtime.config.documents())
            logger.info(
                "daemon started: %d documents scheduled (pid %d)", docs, os.getpid()
            )
            _service.sd_notify(f"READY=1\nSTATUS=watching {docs} documents")
            await self._stop_event.wait()
            _service.sd_notify("STOPPING=1")
            await self._shutdown()
            self._heartbeat(stopped=True)  # `watcher status` sees a clean stop at once
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
                loop.remove_signal_handler(sig)
            if self._scheduler.running:
                self._scheduler.shutdown(wait=False)
            assert self._runtime.fetcher is not None
            await self._runtime.fetcher.aclose()
        logger.info("daemon stopped")
        return self._exit_code

    # ------------------------------------------------------------------ jobs

    def _schedule(self, config: Config) -> None:
        """(Re)create every document's job from its last check, and the digest jobs."""
        last = {d: a.at for d, a in self._runtime.store.last_attempts().items()}
        schedule_documents(
            self._scheduler,
            config.documents(),
            config.settings,
            last,
            self._runtime.now(),
            self._check,
        )
        for job in self._scheduler.get_jobs():
            if job.id.startswith("digest:"):
                job.remove()
        for channel in config.settings.notify.channels:
            if channel.mode == "digest" and channel.digest_every:
                self._scheduler.add_job(
                    self._deliver,
                    crontab_trigger(channel.digest_every, timezone=channel.timezone),
                    id=f"digest:{channel.name}",
                    name=f"digest {channel.name}",
                )

    async def _check(self, doc: Document) -> None:
        if self._stopping or doc.id in self._checking:
            return
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._checking.add(doc.id)
        try:
            report = await pipeline.check_documents(self._runtime, [doc], notify=False)
        except asyncio.CancelledError:
            # only _shutdown cancels: nothing of this check was stored; it runs again later
            logger.info("%s: check abandoned at shutdown", doc.id)
            return
        except StoreError as exc:
            logger.critical("%s: the store failed, stopping: %s", doc.id, exc)
            self._fail()
            return
        finally:
            self._checking.discard(doc.id)
            self._tasks.discard(task)
        failed = bool(report.failed)
        recovered = not failed and doc.id in self._failing
        if failed:
            self._failing.add(doc.id)
        else:
            self._failing.discard(doc.id)
        if report.changed or report.moved_facts or failed or recovered:
            self._spawn(self._deliver())

    async def _deliver(self) -> None:
        """Send what the outbox holds; one sender at a time, re-run if asked meanwhile."""
        if self._delivering:
            self._deliver_again = True
            return
        self._delivering = True
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            while not self._stopping:
                self._deliver_again = False
                runtime = self._runtime
                report = await self._sender.run(
                    partial(pipeline.deliver_pending, runtime)
                )
                for line in report.lines():
                    logger.info("deliver: %s", line)
                if not self._deliver_again:
                    break
        except asyncio.CancelledError:
            logger.warning("delivery abandoned at shutdown; unsent alerts stay queued")
        except StoreError as exc:
            logger.critical("the store failed while delivering, stopping: %s", exc)
            self._fail()
        finally:
            self._delivering = False
            self._tasks.discard(task)

    async def _heartbeat_job(self) -> None:
        self._heartbeat()  # a coroutine job runs on the loop, not in a thread

    def _heartbeat(self, *, stopped: bool = False) -> None:
        runtime = self._runtime
        info: dict[str, object] = {
            "stopped": stopped,
            "pid": os.getpid(),
            "started_at": self._started_at.isoformat(),
            "version": __version__,
            "next_runs": {
                doc_id: at.isoformat()
                for doc_id, at in sorted(next_runs(self._scheduler).items())
            },
        }
        try:
            runtime.store.heartbeat(runtime.now(), info)
        except StoreError as exc:
            logger.critical("the store failed writing the heartbeat, stopping: %s", exc)
            self._fail()

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        if self._stopping:
            coro.close()
            return
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------------ signals

    def _on_stop_signal(self, sig: signal.Signals) -> None:
        assert self._stop_event is not None
        if self._stopping:
            logger.warning("%s again: abandoning in-flight work now", sig.name)
            for task in list(self._tasks):
                task.cancel()
            return
        logger.info("%s: stopping", sig.name)
        self._stopping = True
        self._stop_event.set()

    def _fail(self) -> None:
        self._exit_code = 1
        if not self._stopping:
            self._stopping = True
            assert self._stop_event is not None
            self._stop_event.set()

    def _on_reload_signal(self) -> None:
        if self._stopping:
            return
        _service.sd_notify(f"RELOADING=1\nMONOTONIC_USEC={time.monotonic_ns() // 1000}")
        try:
            self._reload()
        finally:
            _service.sd_notify("READY=1")

    def _reload(self) -> None:
        try:
            config = load_config(self._config_dir)
        except ConfigError as exc:
            logger.error(
                "reload refused, keeping the running config: %s",
                "; ".join(exc.problems),
            )
            return
        old = self._runtime
        if config.settings.storage != old.config.settings.storage:
            logger.warning("reload: storage settings change only after a restart")
        runtime = replace(
            old, config=config, matcher=TopicMatcher(config.settings.topics)
        )
        if config.settings.fetch != old.config.settings.fetch and old.fetcher:
            # in-flight fetches finish on the old one; new checks take the new one
            runtime = replace(runtime, fetcher=Fetcher(config.settings.fetch).open())
            self._spawn(old.fetcher.aclose())
        self._runtime = runtime
        self._schedule(config)
        self._heartbeat()
        logger.info("reloaded config: %d documents", len(config.documents()))

    async def _shutdown(self) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._stop_timeout
        self._scheduler.pause()  # no new runs; shutdown() would cancel in-flight jobs
        margin = min(_STOP_MARGIN, self._stop_timeout / 4)
        grace = max(0.0, self._stop_timeout - margin)
        pending = {t for t in self._tasks if not t.done()}
        if pending:
            logger.info(
                "waiting up to %.1fs for %d in-flight check(s)", grace, len(pending)
            )
            _, pending = await asyncio.wait(pending, timeout=grace)
        if pending:
            logger.warning(
                "abandoning %d unfinished task(s) after %.1fs; checks run again on start",
                len(pending),
                grace,
            )
            for task in pending:
                task.cancel()
            await asyncio.wait(
                pending, timeout=max(0.1, deadline - loop.time() - margin / 2)
            )
        self._scheduler.shutdown(wait=False)
        await asyncio.sleep(0)  # let the scheduler's shutdown callback run
