"""`watcher run` as a user runs it: a subprocess against a local site on a 2 s schedule.

Alerts go to a local JSON webhook (apprise ``json://``) whose POSTs the tests count.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from tests.conftest import LocalServer
from watcher.daemon import reload_running
from watcher.models import Validators
from watcher.store import SnapshotStore

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[1]
PERIOD = 2.0  # seconds: the accelerated schedule of these tests

PAGE = """<!doctype html><html><head><title>Terms</title></head><body>
<nav><a href="/">Home</a></nav>
<article>
<h1>Terms of Service</h1>
<h2>1. Introduction</h2>
<p>These Terms of Service govern the relationship between Example, Inc. and the person using
the services. Please read them carefully before you create anything with the service.</p>
<h2>4. Rights You give to Example</h2>
<p>{license}</p>
<h2>5. Miscellaneous</h2>
<p>Governing Law. This Agreement shall be governed by the laws of the State of California,
USA, without reference to conflict of law rules.</p>
</article></body></html>"""
LICENSE = (
    "By using the Services, You grant to Example a perpetual, worldwide, non-exclusive, "
    "royalty-free copyright license to reproduce and publicly display the Content You "
    "input into the Services."
)
TRAINING = LICENSE.replace(
    "the Services.", "the Services, and to use it to train our machine learning models."
)
GALLERY = (
    TRAINING + " Images you create are public in the community gallery by default."
)


# --------------------------------------------------------------------------- helpers


class Hook:
    """A local webhook: apprise ``json://127.0.0.1:PORT/hook`` POSTs land in ``bodies``."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, object]] = []
        self.times: list[float] = []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(length) or b"{}")
                hook.bodies.append(body)
                hook.times.append(time.monotonic())
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"json://127.0.0.1:{self._httpd.server_address[1]}/hook"
        threading.Thread(target=self._httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()


@pytest.fixture
def hook() -> Iterator[Hook]:
    sink = Hook()
    try:
        yield sink
    finally:
        sink.close()


def write_config(
    root: Path,
    docs: dict[str, str],
    *,
    hook_url: str | None = None,
    every: str = f"{PERIOD:g}s",
    per_host_interval: str = "0s",
) -> Path:
    config = root / "config"
    (config / "platforms").mkdir(parents=True, exist_ok=True)
    channels = (
        f"[{{name: hook, url: '{hook_url}', min_severity: alert}}]"
        if hook_url
        else "[]"
    )
    (config / "watcher.yaml").write_text(
        f"""
storage: {{url: 'sqlite:///{root}/state/watcher.db', snapshots_dir: '{root}/state/snapshots'}}
fetch: {{timeout: 15s, per_host_interval: {per_host_interval}, retries: 0}}
schedule: {{every: {every}, jitter: 0s}}
notify: {{channels: {channels}}}
""",
        encoding="utf-8",
    )
    documents = "".join(
        f"""
  {name}:
    type: terms_of_service
    url: {url}
    select: [article]
    min_chars: 200
"""
        for name, url in docs.items()
    )
    (config / "platforms" / "example.yaml").write_text(
        f"name: Example\ndocuments:{documents}", encoding="utf-8"
    )
    return config


class Daemon:
    """`python -m watcher run` in a subprocess; its stderr goes to ``log``."""

    def __init__(
        self,
        config: Path,
        root: Path,
        *,
        stop_timeout: float = 10.0,
        env: dict[str, str] | None = None,
    ) -> None:
        self.pidfile = root / "watcher.pid"
        self.log = root / f"daemon-{time.monotonic_ns()}.log"
        self._log_file = self.log.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "watcher",
                "--config",
                str(config),
                "-v",
                "run",
                "--pidfile",
                str(self.pidfile),
                "--stop-timeout",
                str(stop_timeout),
            ],
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=self._log_file,
            env={**os.environ, "PYTHONPATH": str(ROOT), **(env or {})},
        )
        wait_for(lambda: "daemon started" in self.text(), 20, self.text)

    def text(self) -> str:
        return self.log.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 30) -> tuple[int, float]:
        """SIGTERM; returns (exit code, seconds it took)."""
        started = time.monotonic()
        self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout)
        return code, time.monotonic() - started

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)
        self._log_file.close()


@pytest.fixture
def daemons() -> Iterator[list[Daemon]]:
    started: list[Daemon] = []
    try:
        yield started
    finally:
        for daemon in started:
            daemon.kill()


def wait_for(
    condition: Callable[[], bool],
    timeout: float,
    explain: Callable[[], str] = lambda: "",
) -> float:
    """Poll until ``condition()``; returns the monotonic time it became true."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s\n{explain()}")
        time.sleep(0.05)
    return time.monotonic()


def open_store(root: Path) -> SnapshotStore:
    return SnapshotStore(f"sqlite:///{root}/state/watcher.db", root / "state/snapshots")


def changes(root: Path) -> int:
    with open_store(root) as store:
        return len(store.changes())


# --------------------------------------------------------------------------- tests


def test_change_is_alerted_within_two_periods_and_a_stop_finishes_the_check(
    http_server: LocalServer,
    hook: Hook,
    tmp_path: Path,
    daemons: list[Daemon],
) -> None:
    url = http_server.set("/terms", PAGE.format(license=LICENSE))
    config = write_config(tmp_path, {"terms": url}, hook_url=hook.url)
    notify_socket = tmp_path / "notify.sock"
    systemd = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    systemd.bind(str(notify_socket))
    systemd.settimeout(10)

    daemon = Daemon(config, tmp_path, env={"NOTIFY_SOCKET": str(notify_socket)})
    daemons.append(daemon)
    assert b"READY=1" in systemd.recv(4096)
    wait_for(
        lambda: http_server.hits("/terms") >= 2, 10, daemon.text
    )  # baseline stored
    assert hook.bodies == []  # a baseline is not a change

    edited = time.monotonic()
    http_server.set("/terms", PAGE.format(license=TRAINING))
    alerted = wait_for(lambda: len(hook.bodies) == 1, 4 * PERIOD, daemon.text)
    assert alerted - edited <= 2 * PERIOD
    assert "train" in json.dumps(hook.bodies[0]).lower()

    # a stop while a check waits on a slow page lets that check finish and store its change
    hits = http_server.hits("/terms")
    http_server.set("/terms", PAGE.format(license=GALLERY), delay=1.5)
    wait_for(lambda: http_server.hits("/terms") > hits, 3 * PERIOD, daemon.text)
    code, took = daemon.stop()
    assert code == 0, daemon.text()
    assert took < 10.0
    assert b"STOPPING=1" in systemd.recv(4096)
    systemd.close()
    assert changes(tmp_path) == 2

    # the restart sends the alert the stop left queued, once, and detects nothing twice
    http_server.set("/terms", PAGE.format(license=GALLERY))
    daemon = Daemon(config, tmp_path)
    daemons.append(daemon)
    wait_for(lambda: len(hook.bodies) == 2, 4 * PERIOD, daemon.text)
    assert "gallery" in json.dumps(hook.bodies[1]).lower()
    seen = http_server.hits("/terms")
    wait_for(lambda: http_server.hits("/terms") >= seen + 2, 4 * PERIOD, daemon.text)
    assert daemon.stop()[0] == 0
    assert len(hook.bodies) == 2
    assert changes(tmp_path) == 2


def test_stop_abandons_a_hung_check_within_the_bound_and_restart_catches_up(
    http_server: LocalServer,
    hook: Hook,
    tmp_path: Path,
    daemons: list[Daemon],
) -> None:
    url = http_server.set("/terms", PAGE.format(license=LICENSE))
    config = write_config(tmp_path, {"terms": url}, hook_url=hook.url)
    daemon = Daemon(config, tmp_path, stop_timeout=3)
    daemons.append(daemon)
    wait_for(lambda: http_server.hits("/terms") >= 2, 10, daemon.text)

    hits = http_server.hits("/terms")
    http_server.set("/terms", PAGE.format(license=TRAINING), delay=12)
    wait_for(lambda: http_server.hits("/terms") > hits, 3 * PERIOD, daemon.text)
    code, took = daemon.stop()
    assert code == 0, daemon.text()
    assert took < 3.0
    assert "abandoned" in daemon.text()
    assert changes(tmp_path) == 0  # the cut-short check stored nothing
    assert hook.bodies == []

    http_server.set("/terms", PAGE.format(license=TRAINING))
    daemon = Daemon(config, tmp_path, stop_timeout=3)
    daemons.append(daemon)
    wait_for(lambda: len(hook.bodies) == 1, 4 * PERIOD, daemon.text)
    seen = http_server.hits("/terms")
    wait_for(lambda: http_server.hits("/terms") >= seen + 2, 4 * PERIOD, daemon.text)
    assert daemon.stop()[0] == 0
    assert len(hook.bodies) == 1
    assert changes(tmp_path) == 1


def test_restart_fetches_overdue_documents_and_leaves_recent_ones(
    http_server: LocalServer, tmp_path: Path, daemons: list[Daemon]
) -> None:
    recent = http_server.set("/recent", PAGE.format(license=LICENSE))
    overdue = http_server.set("/overdue", PAGE.format(license=TRAINING))
    config_dir = write_config(
        tmp_path, {"recent": recent, "overdue": overdue}, every="1h"
    )
    now = datetime.now(UTC)
    with open_store(tmp_path) as store:  # as if checked 1 minute and 2 hours ago
        for doc_id, ago in (("example/recent", 1), ("example/overdue", 120)):
            store.record_unchanged(
                doc_id, now - timedelta(minutes=ago), Validators(), not_modified=False
            )

    daemon = Daemon(config_dir, tmp_path)
    daemons.append(daemon)
    wait_for(lambda: http_server.hits("/overdue") == 1, 8, daemon.text)
    time.sleep(1.0)
    assert http_server.hits("/recent") == 0

    status = subprocess.run(
        [
            sys.executable,
            "-m",
            "watcher",
            "--config",
            str(config_dir),
            "status",
            "--json",
        ],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=60,
        check=False,
    )
    assert status.returncode == 0, status.stdout + status.stderr
    rows = {row["document"]: row for row in json.loads(status.stdout)["documents"]}
    assert rows["example/recent"]["next_run"] is not None
    next_recent = datetime.fromisoformat(rows["example/recent"]["next_run"])
    assert abs(next_recent - (now + timedelta(minutes=59))) < timedelta(seconds=5)
    assert daemon.stop()[0] == 0


def test_reload_keeps_the_old_config_when_the_new_one_is_bad(
    http_server: LocalServer, tmp_path: Path, daemons: list[Daemon]
) -> None:
    first = http_server.set("/first", PAGE.format(license=LICENSE))
    config = write_config(tmp_path, {"first": first})
    daemon = Daemon(config, tmp_path)
    daemons.append(daemon)
    wait_for(lambda: http_server.hits("/first") >= 1, 10, daemon.text)

    good = (config / "watcher.yaml").read_text(encoding="utf-8")
    (config / "watcher.yaml").write_text(
        good.replace("every: 2s", "every: soon"), encoding="utf-8"
    )
    reload_running(daemon.pidfile)
    wait_for(lambda: "reload refused" in daemon.text(), 5, daemon.text)
    hits = http_server.hits("/first")
    wait_for(lambda: http_server.hits("/first") >= hits + 2, 4 * PERIOD, daemon.text)

    second = http_server.set("/second", PAGE.format(license=TRAINING))
    write_config(tmp_path, {"first": first, "second": second})
    reload_running(daemon.pidfile)
    wait_for(lambda: http_server.hits("/second") >= 1, 4 * PERIOD, daemon.text)
    assert daemon.proc.poll() is None
    assert daemon.stop()[0] == 0
    assert not daemon.pidfile.exists()


def test_jobs_share_one_fetcher_so_a_host_is_never_hit_twice_at_once(
    http_server: LocalServer, tmp_path: Path, daemons: list[Daemon]
) -> None:
    pages = {
        f"page{i}": http_server.set(f"/page{i}", PAGE.format(license=LICENSE))
        for i in range(3)
    }
    config = write_config(tmp_path, pages, every="1s", per_host_interval="1s")
    daemon = Daemon(config, tmp_path)
    daemons.append(daemon)
    wait_for(lambda: len(http_server.requests) >= 6, 15, daemon.text)
    assert daemon.stop()[0] == 0
    arrivals = sorted(r.at for r in http_server.requests)
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    # three documents due every second, but one request to the host per second at most
    assert min(gaps) >= 0.9, gaps
