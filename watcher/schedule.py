"""When each document is checked: its APScheduler trigger and its first run after a start.

Pure apart from the scheduler object it fills; no I/O, no clock of its own (``now`` is passed
in). The daemon owns the event loop and the job functions.

- ``document_trigger(doc, settings)``: an ``IntervalTrigger`` every ``doc.every`` (or
  ``settings.schedule.every``) with jitter, or a ``CronTrigger`` for ``doc.cron``. Jitter is
  ``settings.schedule.jitter`` capped at a tenth of the period, so a fast schedule (tests,
  benches) is not swamped by a jitter meant for hours. Cron expressions are read as crontab
  does, Sunday = 0 or 7 (APScheduler 3.x ``from_crontab`` counts Monday = 0; issue 286).
- ``first_run_time(doc, last_check, now, settings)``: the next due time after the document's
  last check in the store (last check + period, or the next cron slot after it), or ``now``
  plus a small per-document spread when that is already past or the document was never
  checked. A restart therefore neither re-fetches everything at once nor skips a due check.
- ``build_scheduler()`` and ``schedule_documents(...)``: an ``AsyncIOScheduler`` in UTC with
  ``coalesce``, ``max_instances=1`` and no misfire limit (a late check still runs, once), and
  one job per document, re-synced the same way after a config reload.

Raises ``ValueError`` for a cron expression crontab would not accept (config.py validates
cron at load time, so a loaded config never does).
"""

from __future__ import annotations

import zlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from watcher.models import Document, Settings

__all__ = [
    "DOCUMENT_JOB_PREFIX",
    "STARTUP_SPREAD",
    "build_scheduler",
    "crontab_trigger",
    "document_period",
    "document_trigger",
    "first_run_time",
    "next_runs",
    "schedule_documents",
]

# Overdue documents start within this much of "now", spread by a hash of their id, so a
# restart after an outage does not fire every check in the same instant. Kept short: the
# fetcher's per-host politeness already paces the requests themselves.
STARTUP_SPREAD = timedelta(seconds=5)
# Jitter and startup spread never exceed this fraction of a document's period.
MAX_JITTER_FRACTION = 0.1
DOCUMENT_JOB_PREFIX = "doc:"

_WEEKDAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")

DocumentJob = Callable[[Document], Awaitable[None]]


def document_period(doc: Document, settings: Settings) -> timedelta:
    """The nominal time between two checks of ``doc`` (for cron: between its next two slots)."""
    if doc.cron:
        trigger = crontab_trigger(doc.cron, jitter=None)
        first = trigger.get_next_fire_time(None, _EPOCH)
        second = trigger.get_next_fire_time(first, first + timedelta(seconds=1))
        if first is None or second is None:
            raise ValueError(f"{doc.id}: cron {doc.cron!r} never fires")
        gap: timedelta = second - first
        return gap
    every = doc.every or settings.schedule.every
    if every <= timedelta(0):
        raise ValueError(f"{doc.id}: every must be positive, got {every}")
    return every


def document_trigger(doc: Document, settings: Settings) -> BaseTrigger:
    """The trigger that fires ``doc``'s checks, jitter included."""
    period = document_period(doc, settings)
    jitter = _jitter(period, settings.schedule.jitter)
    if doc.cron:
        return crontab_trigger(doc.cron, jitter=jitter)
    return IntervalTrigger(seconds=period.total_seconds(), jitter=jitter, timezone=UTC)


def first_run_time(
    doc: Document, last_check: datetime | None, now: datetime, settings: Settings
) -> datetime:
    """When ``doc`` should first be checked after a (re)start, given its last check."""
    period = document_period(doc, settings)
    if last_check is not None:
        due: datetime | None
        if doc.cron:
            due = crontab_trigger(doc.cron, jitter=None).get_next_fire_time(
                None, last_check
            )
            # the slot at last_check itself is the check that just happened
            if due is not None and due <= last_check:
                due = crontab_trigger(doc.cron, jitter=None).get_next_fire_time(
                    due, last_check + timedelta(seconds=1)
                )
        else:
            due = last_check + period
        if due is not None and due > now:
            return due
    spread = min(STARTUP_SPREAD, period * MAX_JITTER_FRACTION)
    fraction = zlib.crc32(doc.id.encode("utf-8")) / 2**32
    return now + spread * fraction


def build_scheduler() -> AsyncIOScheduler:
    """An AsyncIOScheduler in UTC; it binds to the running loop when started."""
    return AsyncIOScheduler(
        timezone=UTC,
        job_defaults={
            "coalesce": True,  # missed runs collapse into one
            "max_instances": 1,  # never two checks of one document at once
            "misfire_grace_time": None,  # late is better than skipped
        },
    )


def schedule_documents(
    scheduler: AsyncIOScheduler,
    docs: Iterable[Document],
    settings: Settings,
    last_checks: Mapping[str, datetime],
    now: datetime,
    job: DocumentJob,
) -> None:
    """Give every document of ``docs`` a job (``job(doc)``) and drop jobs of documents gone.

    Each job's first run follows from ``last_checks[doc.id]`` (see ``first_run_time``), so
    calling this again after a reload keeps every document on its own rhythm.
    """
    wanted: set[str] = set()
    for doc in docs:
        job_id = DOCUMENT_JOB_PREFIX + doc.id
        wanted.add(job_id)
        scheduler.add_job(
            job,
            trigger=document_trigger(doc, settings),
            args=[doc],
            id=job_id,
            name=doc.id,
            next_run_time=first_run_time(doc, last_checks.get(doc.id), now, settings),
            replace_existing=True,
        )
    for existing in scheduler.get_jobs():
        if existing.id.startswith(DOCUMENT_JOB_PREFIX) and existing.id not in wanted:
            scheduler.remove_job(existing.id)


def next_runs(scheduler: AsyncIOScheduler) -> dict[str, datetime]:
    """Document id -> next scheduled check, for the heartbeat and ``watcher status``."""
    runs: dict[str, datetime] = {}
    for job in scheduler.get_jobs():
        when = getattr(job, "next_run_time", None)
        if job.id.startswith(DOCUMENT_JOB_PREFIX) and when is not None:
            runs[job.id[len(DOCUMENT_JOB_PREFIX) :]] = when.astimezone(UTC)
    return runs


# --------------------------------------------------------------------------- cron

_EPOCH = datetime(2026, 1, 1, tzinfo=UTC)


def _jitter(period: timedelta, jitter: timedelta) -> float | None:
    seconds = min(jitter, period * MAX_JITTER_FRACTION).total_seconds()
    return seconds if seconds > 0 else None


def crontab_trigger(
    expr: str, *, jitter: float | None = None, timezone: str = "UTC"
) -> CronTrigger:
    """``CronTrigger.from_crontab`` with crontab's weekday numbers (0 and 7 = Sunday).

    Raises ``ValueError`` for an expression crontab would not accept.
    """
    fields = expr.split()
    if len(fields) != 5:
        raise ValueError(f"cron {expr!r}: expected 5 fields, got {len(fields)}")
    minute, hour, day, month, day_of_week = fields
    return CronTrigger(
        minute=minute,
        hour=hour,
        day=day,
        month=month,
        day_of_week=_crontab_weekdays(day_of_week),
        timezone=timezone,
        jitter=jitter,
    )


def _crontab_weekdays(spec: str) -> str:
    """Rewrite crontab weekday numbers as names; names and ``*`` pass through.

    ``1-5`` -> ``mon,tue,wed,thu,fri``; ``*/2`` -> ``sun,tue,thu,sat``; ``0,7`` -> ``sun``.
    """
    if spec == "*" or not any(ch.isdigit() for ch in spec):
        return spec
    days: list[int] = []
    for part in spec.split(","):
        span, _, step_text = part.partition("/")
        step = int(step_text) if step_text else 1
        if span == "*":
            first, last = 0, 6
        elif "-" in span:
            start, _, end = span.partition("-")
            first, last = _weekday_number(start), _weekday_number(end)
        else:
            first = _weekday_number(span)
            last = 6 if step_text else first
        if step < 1 or first > last:
            raise ValueError(f"cron day of week {spec!r}: bad range {part!r}")
        days.extend(range(first, last + 1, step))
    ordered = sorted({d % 7 for d in days})
    return ",".join(_WEEKDAYS[d] for d in ordered)


def _weekday_number(text: str) -> int:
    if text.isdigit():
        number = int(text)
        if 0 <= number <= 7:
            return number
    elif text.lower() in _WEEKDAYS:
        return _WEEKDAYS.index(text.lower())
    raise ValueError(f"cron day of week: {text!r} is not 0-7 or a day name")
