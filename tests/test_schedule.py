"""When documents are checked: triggers, jitter, and the first run after a (re)start."""

from __future__ import annotations

import asyncio
import itertools
from datetime import UTC, datetime, timedelta

import pytest
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from watcher.models import Document, ScheduleSettings, Settings
from watcher.schedule import (
    STARTUP_SPREAD,
    build_scheduler,
    document_trigger,
    first_run_time,
    next_runs,
    schedule_documents,
)

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
SETTINGS = Settings(
    schedule=ScheduleSettings(every=timedelta(hours=6), jitter=timedelta(minutes=10))
)


def doc(
    name: str = "terms",
    *,
    every: timedelta | None = None,
    cron: str | None = None,
    platform: str = "acme",
) -> Document:
    return Document(
        platform=platform,
        name=name,
        platform_name="Acme",
        type="terms_of_service",
        url=f"http://127.0.0.1/{name}",
        every=every,
        cron=cron,
    )


def fire_times(trigger, start: datetime, count: int) -> list[datetime]:
    times, previous = [], None
    now = start
    for _ in range(count):
        nxt = trigger.get_next_fire_time(previous, now)
        times.append(nxt)
        previous, now = nxt, nxt + timedelta(microseconds=1)
    return times


# --------------------------------------------------------------------------- first run


def test_recently_checked_document_waits_for_its_period() -> None:
    hourly = doc(every=timedelta(hours=1))
    first = first_run_time(hourly, NOW - timedelta(minutes=1), NOW, SETTINGS)
    assert first == NOW + timedelta(minutes=59)


def test_overdue_document_runs_promptly() -> None:
    hourly = doc(every=timedelta(hours=1))
    first = first_run_time(hourly, NOW - timedelta(hours=2), NOW, SETTINGS)
    assert NOW <= first <= NOW + STARTUP_SPREAD


def test_never_checked_document_runs_promptly() -> None:
    first = first_run_time(doc(), None, NOW, SETTINGS)
    assert NOW <= first <= NOW + STARTUP_SPREAD


def test_document_without_every_uses_the_global_schedule() -> None:
    first = first_run_time(doc(), NOW - timedelta(hours=1), NOW, SETTINGS)
    assert first == NOW + timedelta(hours=5)


def test_overdue_documents_do_not_all_start_at_the_same_instant() -> None:
    docs = [doc(f"page-{i}") for i in range(50)]
    starts = {first_run_time(d, None, NOW, SETTINGS) for d in docs}
    assert len(starts) > 40
    assert all(NOW <= s <= NOW + STARTUP_SPREAD for s in starts)


def test_startup_spread_is_small_beside_a_fast_schedule() -> None:
    fast = doc(every=timedelta(seconds=2))
    first = first_run_time(fast, None, NOW, SETTINGS)
    assert first - NOW <= timedelta(seconds=0.2)


def test_cron_document_checked_at_its_slot_waits_for_the_next_slot() -> None:
    daily = doc(cron="0 9 * * *")
    checked = datetime(2026, 6, 1, 9, 0, 30, tzinfo=UTC)
    first = first_run_time(
        daily, checked, datetime(2026, 6, 1, 15, 0, tzinfo=UTC), SETTINGS
    )
    assert first == datetime(2026, 6, 2, 9, 0, tzinfo=UTC)


def test_cron_document_that_missed_its_slot_runs_promptly() -> None:
    daily = doc(cron="0 9 * * *")
    checked = datetime(2026, 5, 31, 9, 0, 30, tzinfo=UTC)
    now = datetime(2026, 6, 1, 10, 0, tzinfo=UTC)
    first = first_run_time(daily, checked, now, SETTINGS)
    assert now <= first <= now + STARTUP_SPREAD


# --------------------------------------------------------------------------- triggers


def test_interval_trigger_uses_the_documents_every_with_capped_jitter() -> None:
    trigger = document_trigger(doc(every=timedelta(seconds=10)), SETTINGS)
    assert isinstance(trigger, IntervalTrigger)
    times = fire_times(trigger, NOW, 20)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    # a 10-minute jitter on a 10 s schedule is capped at a tenth of the period
    assert all(10.0 <= gap <= 11.0 for gap in gaps), gaps


def test_interval_trigger_spreads_runs_by_the_configured_jitter() -> None:
    trigger = document_trigger(doc(every=timedelta(hours=6)), SETTINGS)
    times = fire_times(trigger, NOW, 30)
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(times)]
    assert all(6 * 3600 <= gap <= 6 * 3600 + 600 for gap in gaps)
    assert len({round(g) for g in gaps}) > 1  # jittered, not fixed


def test_zero_jitter_gives_a_fixed_rhythm() -> None:
    settings = Settings(schedule=ScheduleSettings(jitter=timedelta(0)))
    trigger = document_trigger(doc(every=timedelta(seconds=2)), settings)
    times = fire_times(trigger, NOW, 5)
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(times)] == [2.0] * 4


def test_cron_trigger_fires_on_its_slots() -> None:
    trigger = document_trigger(doc(cron="30 6 * * *"), SETTINGS)
    assert isinstance(trigger, CronTrigger)
    times = fire_times(trigger, NOW, 3)
    for when, day in zip(times, (2, 3, 4), strict=True):
        assert when.date() == datetime(2026, 6, day).date()
        assert (
            timedelta(0)
            <= when - when.replace(hour=6, minute=30)
            <= timedelta(minutes=10)
        )


@pytest.mark.parametrize(
    ("day_of_week", "weekdays"),
    [
        ("1", {"Mon"}),  # crontab: 1 = Monday (APScheduler 3.x alone reads Tuesday)
        ("0", {"Sun"}),
        ("7", {"Sun"}),
        ("1-5", {"Mon", "Tue", "Wed", "Thu", "Fri"}),
        ("0,6", {"Sat", "Sun"}),
        ("*/3", {"Sun", "Wed", "Sat"}),
        ("mon-wed", {"Mon", "Tue", "Wed"}),
    ],
)
def test_cron_weekdays_mean_what_crontab_means(
    day_of_week: str, weekdays: set[str]
) -> None:
    settings = Settings(schedule=ScheduleSettings(jitter=timedelta(0)))
    trigger = document_trigger(doc(cron=f"0 9 * * {day_of_week}"), settings)
    times = fire_times(trigger, NOW, 14)
    assert {t.strftime("%a") for t in times} == weekdays


def test_bad_cron_is_refused() -> None:
    with pytest.raises(ValueError, match="day of week"):
        document_trigger(doc(cron="0 9 * * 9"), SETTINGS)


# --------------------------------------------------------------------------- scheduler


def test_scheduler_gets_one_job_per_document_and_drops_removed_ones() -> None:
    async def scenario() -> dict[str, datetime]:
        scheduler = build_scheduler()

        async def check(_: Document) -> None:
            return None

        recent, overdue, gone = (
            doc("recent", every=timedelta(hours=1)),
            doc("overdue", every=timedelta(hours=1)),
            doc("gone"),
        )
        last = {
            recent.id: NOW - timedelta(minutes=1),
            overdue.id: NOW - timedelta(hours=3),
        }
        scheduler.start(paused=True)
        try:
            schedule_documents(
                scheduler, [recent, overdue, gone], SETTINGS, last, NOW, check
            )
            schedule_documents(scheduler, [recent, overdue], SETTINGS, last, NOW, check)
            job = scheduler.get_job("doc:acme/recent")
            assert job.coalesce is True
            assert job.max_instances == 1
            return next_runs(scheduler)
        finally:
            scheduler.shutdown(wait=False)

    runs = asyncio.run(scenario())
    assert set(runs) == {"acme/recent", "acme/overdue"}
    assert runs["acme/recent"] == NOW + timedelta(minutes=59)
    assert NOW <= runs["acme/overdue"] <= NOW + STARTUP_SPREAD
