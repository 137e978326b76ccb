"""Running checks: ``check``, ``run``, ``reload``, ``status``, ``reextract``, ``migrate``, ``notify``."""

from __future__ import annotations

import argparse
import logging
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.table import Table
from rich.text import Text

from watcher import pipeline
from watcher.cli._common import UsageError, document, load, runtime, store
from watcher.cli._output import clean, console, err_console, iso, print_json
from watcher.errors import ExtractError
from watcher.models import Config, Document
from watcher.notify import AppriseNotifier, send_test

__all__ = ["add_commands"]

_OUTCOME_STYLE = {
    "baseline": "cyan",
    "changed": "yellow",
    "unchanged": "green",
    "not_modified": "green",
    "failed": "red",
}


def add_commands(sub: Any) -> None:
    cmd = sub.add_parser(
        "check", help="one cycle now over every document, or over TARGETs"
    )
    cmd.add_argument(
        "targets", nargs="*", metavar="TARGET", help="platform or platform/document"
    )
    cmd.add_argument(
        "--no-notify",
        action="store_true",
        help="record alerts but send nothing (dry run)",
    )
    cmd.set_defaults(handler=check)

    cmd = sub.add_parser(
        "run", help="the daemon: check every document on its schedule until SIGTERM"
    )
    cmd.add_argument(
        "--pidfile",
        type=Path,
        default=None,
        help="write the PID here (for `watcher reload`)",
    )
    cmd.add_argument(
        "--stop-timeout",
        type=float,
        default=10.0,
        help="seconds to finish in-flight checks on stop",
    )
    cmd.set_defaults(handler=run)

    cmd = sub.add_parser(
        "reload", help="make the running daemon re-read its config (SIGHUP)"
    )
    cmd.add_argument("--pidfile", type=Path, default=None, help="the daemon's pidfile")
    cmd.set_defaults(handler=reload)

    cmd = sub.add_parser(
        "status", help="per document: last check, outcome, last change; facts; alerts"
    )
    cmd.add_argument("--json", action="store_true")
    cmd.set_defaults(handler=status)

    cmd = sub.add_parser(
        "reextract", help="rebuild text from stored raw bodies after a rule change"
    )
    cmd.add_argument(
        "documents",
        nargs="*",
        metavar="DOCUMENT",
        help="platform/document (default: all)",
    )
    cmd.set_defaults(handler=reextract)

    cmd = sub.add_parser("migrate", help="bring the database schema up to date")
    cmd.set_defaults(handler=migrate)

    cmd = sub.add_parser(
        "notify",
        help="--test: a test message to every channel; --flush: send what is pending",
    )
    group = cmd.add_mutually_exclusive_group(required=True)
    group.add_argument("--test", action="store_true")
    group.add_argument("--flush", action="store_true")
    cmd.set_defaults(handler=notify)


def _default_pidfile(config: Config) -> Path:
    return config.settings.storage.snapshots_dir / "watcher.pid"


def check(args: argparse.Namespace) -> int:
    config = load(args)
    try:
        pipeline.select_documents(
            config, args.targets
        )  # a usage error before any fetch
    except KeyError as exc:
        raise UsageError(f"no platform or document {exc}") from None
    err = err_console()
    interactive = err.is_terminal

    def progress(outcome: pipeline.DocumentOutcome) -> None:
        if not interactive:
            return
        line = Text(f"{outcome.doc_id:40} ")
        line.append(outcome.outcome, style=_OUTCOME_STYLE[outcome.outcome])
        if outcome.change is not None:
            line.append(
                f"  [{outcome.change.severity}] {clean(outcome.change.summary)}"
            )
        if outcome.error:
            line.append(f"  {clean(outcome.error)}", style="red")
        err.print(line)

    with runtime(args, config, notify=not args.no_notify) as rt:
        report = pipeline.run_once(
            rt, args.targets, notify=not args.no_notify, progress=progress
        )
    out = console()
    counts = {
        "checked": report.outcomes,
        "unchanged": report.of("unchanged", "not_modified"),
        "new baseline": report.of("baseline"),
        "changed": report.of("changed"),
        "failed": report.of("failed"),
    }
    out.print(", ".join(f"{len(v)} {k}" for k, v in counts.items()), markup=False)
    for outcome in report.changed:
        assert outcome.change is not None
        out.print(
            Text(
                f"  changed {outcome.doc_id}: [{outcome.change.severity}] "
                f"{clean(outcome.change.summary)} (watcher diff {outcome.change.id})"
            )
        )
    for outcome in report.failed:
        out.print(
            Text(
                f"  failed  {outcome.doc_id}: {clean(outcome.error or '')}", style="red"
            )
        )
    for verdict, before in report.moved_facts:
        was = before.verdict.verdict if before else "new"
        out.print(
            Text(
                f"  fact {verdict.fact_id}: {was} -> {verdict.verdict}", style="yellow"
            )
        )
    if report.delivery is not None:
        for line in report.delivery.lines():
            out.print(Text("  " + clean(line)))
    return 1 if report.failed else 0


def run(args: argparse.Namespace) -> int:
    from watcher.daemon import run_daemon

    config = load(args)  # refuse a bad config before daemonising
    if args.verbose == 0:  # a service logs one line per check by default
        logging.getLogger("watcher").setLevel(logging.INFO)
    return run_daemon(
        args.config,
        args.db,
        log_json=args.log_format == "json",
        stop_timeout=args.stop_timeout,
        pidfile=args.pidfile or _default_pidfile(config),
    )


def reload(args: argparse.Namespace) -> int:
    from watcher.daemon import reload_running

    config = load(
        args
    )  # a config that does not load would be refused by the daemon anyway
    reload_running(args.pidfile or _default_pidfile(config))
    console().print("reload signal sent")
    return 0


def _expected_interval(config: Config, doc: Document) -> timedelta:
    if doc.cron:
        return timedelta(days=1)
    return (
        doc.every or config.settings.schedule.every
    ) + config.settings.schedule.jitter


def status(args: argparse.Namespace) -> int:
    config = load(args)
    now = datetime.now(UTC)
    threshold = config.settings.notify.alert_after_failures
    with store(args, config) as st:
        attempts = st.last_attempts()
        heartbeat = st.last_heartbeat()
        next_runs: dict[str, Any] = {}
        if heartbeat is not None:
            raw = heartbeat[1].get("next_runs")
            next_runs = raw if isinstance(raw, dict) else {}
        daemon_stopped = heartbeat is not None and heartbeat[1].get("stopped") is True
        daemon_alive = (
            heartbeat is not None
            and not daemon_stopped
            and now - heartbeat[0] < timedelta(minutes=5)
        )
        rows: list[dict[str, Any]] = []
        problems: list[str] = []
        for doc in config.documents():
            attempt = attempts.get(doc.id)
            failures = st.consecutive_failures(doc.id)
            last_change = next(iter(st.changes(doc_id=doc.id, limit=1)), None)
            overdue = (
                daemon_alive
                and attempt is not None
                and now - attempt.at > 2 * _expected_interval(config, doc)
            )
            if failures >= threshold:
                problems.append(f"{doc.id}: {failures} failed checks in a row")
            if overdue:
                problems.append(f"{doc.id}: overdue")
            rows.append(
                {
                    "document": doc.id,
                    "last_check": iso(attempt.at) if attempt else None,
                    "outcome": attempt.outcome if attempt else None,
                    "error": attempt.message
                    if attempt and attempt.outcome == "failed"
                    else None,
                    "consecutive_failures": failures,
                    "last_change": iso(last_change.detected_at)
                    if last_change
                    else None,
                    "last_change_id": last_change.id if last_change else None,
                    "next_run": next_runs.get(doc.id),
                    "overdue": overdue,
                }
            )
        verdicts = st.current_verdicts()
        facts: list[dict[str, Any]] = []
        for platform in config.platforms:
            tally: dict[str, int] = {}
            for fact in platform.facts:
                stored = verdicts.get(fact.id)
                value = stored.verdict.verdict if stored else "unknown"
                tally[value] = tally.get(value, 0) + 1
            facts.append({"platform": platform.id, **tally})
        pending = st.pending_events()
        failed = st.failed_deliveries()
    if heartbeat is not None and not daemon_alive and not daemon_stopped:
        problems.append(f"daemon heartbeat is stale (last {iso(heartbeat[0])})")
    if failed:
        problems.append(f"{len(failed)} alert deliveries failed")
    result = {
        "daemon": {
            "last_heartbeat": iso(heartbeat[0]) if heartbeat else None,
            "alive": daemon_alive,
        },
        "documents": rows,
        "facts": facts,
        "alerts": {
            "pending": len(pending),
            "failed": [
                {"event": ev.event.subject, "channel": d.channel, "error": d.last_error}
                for ev, d in failed
            ],
        },
        "problems": problems,
    }
    if args.json:
        print_json(result)
        return 1 if problems else 0
    out = console()
    out.print(
        f"daemon: {'running' if daemon_alive else 'not running'}"
        + (f", last heartbeat {iso(heartbeat[0])}" if heartbeat else ""),
        markup=False,
    )
    table = Table()
    for column in (
        "document",
        "last check",
        "outcome",
        "fails",
        "last change",
        "next run",
    ):
        table.add_column(column)
    for row in rows:
        outcome = str(row["outcome"] or "never checked")
        table.add_row(
            row["document"],
            row["last_check"] or "-",
            Text(outcome, style=_OUTCOME_STYLE.get(outcome, "")),
            str(row["consecutive_failures"]),
            f"{row['last_change']} (#{row['last_change_id']})"
            if row["last_change"]
            else "-",
            row["next_run"] or "-",
        )
    out.print(table)
    for entry in facts:
        counts = ", ".join(f"{v} {k}" for k, v in entry.items() if k != "platform")
        out.print(f"facts {entry['platform']}: {counts or 'none'}", markup=False)
    out.print(f"alerts: {len(pending)} pending, {len(failed)} failed", markup=False)
    for problem in problems:
        out.print(Text(f"problem: {clean(problem)}", style="red"))
    return 1 if problems else 0


def reextract(args: argparse.Namespace) -> int:
    config = load(args)
    docs = [document(config, d) for d in args.documents] or list(config.documents())
    out = console()
    failed = 0
    with runtime(args, config, notify=False) as rt:
        for doc in docs:
            try:
                change = pipeline.reextract(rt, doc)
            except ExtractError as exc:
                failed += 1
                out.print(Text(f"{doc.id}: {clean(str(exc))}", style="red"))
                continue
            if change is None:
                out.print(f"{doc.id}: text unchanged", markup=False)
            else:
                out.print(
                    Text(
                        f"{doc.id}: technical change {change.id}: {clean(change.summary)}"
                    )
                )
    return 1 if failed else 0


def migrate(args: argparse.Namespace) -> int:
    config = load(args)
    with store(args, config) as st:
        st.migrate()
    console().print("database schema is up to date")
    return 0


def notify(args: argparse.Namespace) -> int:
    config = load(args)
    channels = config.settings.notify.channels
    if not channels:
        print(
            "no notify channels configured (notify.channels in watcher.yaml)",
            file=sys.stderr,
        )
        return 1
    out = console()
    if args.test:
        results = send_test(channels, AppriseNotifier())
        for name, error in results.items():
            if error is None:
                out.print(Text(f"{name}: ok", style="green"))
            else:
                out.print(Text(f"{name}: FAILED: {clean(error)}", style="red"))
        return 1 if any(results.values()) else 0
    with runtime(args, config) as rt:
        report = pipeline.deliver_pending(rt)
    for line in report.lines():
        out.print(Text(clean(line)))
    return 0
