"""Does `watcher run` keep a flat memory profile? 200 local documents on an accelerated schedule.

A local HTTP server (a thread of this script) serves ``--docs`` policy pages of ~4 KB, split
over 20 platforms with one curated fact each, honouring If-None-Match (unchanged pages are
304s). ``--change-fraction`` of them change every ``--change-every`` seconds, alternating
between a plain rewording and a clause about training, so the daemon stores snapshots,
diffs, evaluates facts and sends alerts (to a local JSON webhook, also served here).

The daemon runs as ``python -m watcher --config DIR run`` with every document due every
``--every`` seconds (no jitter, no per-host delay) for ``--duration`` seconds; its RSS
(/proc/PID/status VmRSS) is sampled every ``--sample`` seconds. Reported: RSS after the first
minute and at the end, the peak, the growth, the checks done and the alerts received, and
how long the SIGTERM stop took.

    python bench/bench_daemon_memory.py                      # 20 minutes, 200 documents
    python bench/bench_daemon_memory.py --duration 300       # a 5-minute run
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PLATFORMS = 20

SECTION = (
    "<h2>{n}. {title}</h2><p>{platform} provides the Services to you subject to these "
    "Terms. You keep the rights you hold in the Content you create, subject to the "
    "licence in this section, and you are responsible for the prompts you submit. We may "
    "suspend accounts that break these Terms or the law, after notice where the law "
    "requires it.</p><p>Clause {n}.2 of document {doc}: requests about this section go "
    "to the support address listed on the contact page, and we answer within thirty "
    "days.</p>"
)
CHANGING = [
    "We review these Terms every quarter and publish each version with its date.",
    "Images you create may be used to train and improve our machine learning models.",
]


def page(doc: int, version: int) -> bytes:
    platform = f"Platform {doc % PLATFORMS}"
    sections = "".join(
        SECTION.format(n=n, title=f"Section {n}", platform=platform, doc=doc)
        for n in range(1, 9)
    )
    tail = CHANGING[version % 2] + (f" Revision {version}." if version else "")
    return (
        f"<!doctype html><html><head><title>{platform} terms</title></head><body>"
        f"<nav><a href='/'>Home</a></nav><article><h1>Terms of Service</h1>{sections}"
        f"<h2>9. Changes</h2><p>{tail}</p><p>Stealth mode is sold with the Pro plan."
        f"</p></article></body></html>"
    ).encode()


class Site:
    """The pages and the webhook, on 127.0.0.1."""

    def __init__(self, docs: int, changing: int, change_every: float) -> None:
        self.started = time.monotonic()
        self.alerts = 0
        self.requests = 0
        site = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                site.requests += 1
                doc = int(self.path.rsplit("/", 1)[-1])
                version = 0
                if doc < changing:
                    version = int((time.monotonic() - site.started) / change_every)
                body = page(doc, version)
                etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
                if self.headers.get("If-None-Match") == etag:
                    self.send_response(304)
                    self.send_header("ETag", etag)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("ETag", etag)
                self.send_header("Content-Type", "text/html; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("Content-Length", "0")))
                site.alerts += 1
                self.send_response(200)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        # a connection the daemon drops when it stops is not worth a traceback
        self.httpd.handle_error = lambda request, client_address: None  # type: ignore[method-assign]
        self.port = self.httpd.server_address[1]
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


def write_config(root: Path, docs: int, every: float, port: int) -> Path:
    config = root / "config"
    (config / "platforms").mkdir(parents=True)
    (config / "watcher.yaml").write_text(
        f"""
storage: {{url: 'sqlite:///{root}/state/watcher.db', snapshots_dir: '{root}/state/snapshots'}}
fetch: {{timeout: 10s, per_host_interval: 0s, concurrency: 8, retries: 0}}
schedule: {{every: {every:g}s, jitter: 0s}}
notify: {{channels: [{{name: hook, url: 'json://127.0.0.1:{port}/hook'}}]}}
""",
        encoding="utf-8",
    )
    for p in range(PLATFORMS):
        mine = [d for d in range(docs) if d % PLATFORMS == p]
        documents = "".join(
            f"""
  doc{d}:
    type: terms_of_service
    url: http://127.0.0.1:{port}/p/{d}
    select: [article]
"""
            for d in mine
        )
        fact = f"""
facts:
  - id: stealth-pro
    topic: private_mode
    claim: Stealth mode is sold with the Pro plan.
    evidence:
      all_of: [{{doc: doc{mine[0]}, pattern: 'stealth mode is sold with the pro plan'}}]
      none_of: [{{doc: doc{mine[0]}, pattern: 'train and improve'}}]
"""
        (config / "platforms" / f"platform{p}.yaml").write_text(
            f"name: Platform {p}\ndocuments:{documents}{fact}", encoding="utf-8"
        )
    return config


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError("no VmRSS")


def attempts(db: Path) -> int:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True, timeout=30) as conn:
        return int(conn.execute("SELECT count(*) FROM attempts").fetchone()[0])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--docs", type=int, default=200)
    parser.add_argument("--duration", type=float, default=1200.0, help="seconds")
    parser.add_argument("--every", type=float, default=2.0, help="schedule, seconds")
    parser.add_argument("--change-fraction", type=float, default=0.1)
    parser.add_argument("--change-every", type=float, default=20.0, help="seconds")
    parser.add_argument("--sample", type=float, default=30.0, help="seconds")
    parser.add_argument("--json", action="store_true", help="print the result as JSON")
    args = parser.parse_args()

    site = Site(args.docs, int(args.docs * args.change_fraction), args.change_every)
    with tempfile.TemporaryDirectory(prefix="bench-daemon-") as tmp:
        root = Path(tmp)
        config = write_config(root, args.docs, args.every, site.port)
        log = (root / "daemon.log").open("wb")
        proc = subprocess.Popen(
            [sys.executable, "-m", "watcher", "--config", str(config), "run"],
            cwd=root,
            stdout=subprocess.DEVNULL,
            stderr=log,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        started = time.monotonic()
        samples: list[tuple[float, int]] = []
        try:
            while (elapsed := time.monotonic() - started) < args.duration:
                if proc.poll() is not None:
                    raise SystemExit(f"daemon exited with {proc.returncode}")
                samples.append((elapsed, rss_kib(proc.pid)))
                if not args.json:
                    print(
                        f"{elapsed:7.0f}s  RSS {samples[-1][1] / 1024:7.1f} MiB",
                        flush=True,
                    )
                time.sleep(min(args.sample, max(0.1, args.duration - elapsed)))
            samples.append((time.monotonic() - started, rss_kib(proc.pid)))
            stop_started = time.monotonic()
            proc.send_signal(signal.SIGTERM)
            code = proc.wait(60)
            stop_took = time.monotonic() - stop_started
        finally:
            if proc.poll() is None:
                proc.kill()
            log.close()
        checks = attempts(root / "state" / "watcher.db")
        errors = [
            line
            for line in (root / "daemon.log").read_text(errors="replace").splitlines()
            if line.startswith(("ERROR", "CRITICAL"))
        ]
    after_minute = next((kib for t, kib in samples if t >= 60), samples[-1][1])
    end = samples[-1][1]
    result = {
        "docs": args.docs,
        "every_s": args.every,
        "duration_s": round(samples[-1][0]),
        "rss_after_1min_mib": round(after_minute / 1024, 1),
        "rss_end_mib": round(end / 1024, 1),
        "rss_peak_mib": round(max(k for _, k in samples) / 1024, 1),
        "growth_after_1min_mib": round((end - after_minute) / 1024, 1),
        "checks": checks,
        "checks_per_s": round(checks / samples[-1][0], 1),
        "http_requests": site.requests,
        "alerts_received": site.alerts,
        "stop_exit_code": code,
        "stop_seconds": round(stop_took, 2),
        "error_lines": len(errors),
    }
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        for key, value in result.items():
            print(f"{key:24} {value}")
        for line in errors[:5]:
            print("  " + line)
    return 0 if code == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
