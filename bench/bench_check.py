"""Benchmark `watcher check` cycles over 1,000 generated ~140 KB policy pages.

The pages (header, nav, cookie banner, scripts, a long <main> of sections and paragraphs) are
served from a local HTTP server in its own process that honours ETag / If-None-Match and
Last-Modified / If-Modified-Since. Then:

  cycle 1   every page new (baselines)
  cycle 2   10% of the pages changed: half cosmetically (whitespace, nbsp, curly quotes,
            tracking parameters in links, script/nav/cookie text, a relative date), half with
            one clause rewritten
  cycle 3   nothing changed (every fetch a 304)

Each cycle runs `watcher check --no-notify` in a subprocess; reported per cycle: wall time,
CPU time (user+sys of the child), peak RSS, bytes added to the snapshot files and to the
database, and for cycle 2 the substantive changes found (of 50) and the cosmetic false
alarms (of 50). With --urlwatch, urlwatch 2.29 runs the same three cycles on the same pages
right after each of ours, and the CPU ratio is printed.

Both tools run from byte-compiled modules, as an installed package does: the bench runs
`compileall` over `watcher/` first (an editable install under PYTHONDONTWRITEBYTECODE would
otherwise compile the package on every command and count it as the cycle's CPU).

Two floor rows put the figures in proportion: the CPU of starting the command at all
(`python -c "import watcher.cli"`), and of httpx alone making the 1,000 conditional GETs of
a nothing-changed cycle (one pooled AsyncClient, nothing else).

    python bench/bench_check.py                   # policy-watcher only
    python bench/bench_check.py --urlwatch        # also urlwatch 2.29 (venv kept in bench/out/)
    python bench/bench_check.py --docs 200        # a smaller run
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import random
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from email.utils import formatdate
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing import Process
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORDS = [
    "service",
    "content",
    "user",
    "data",
    "account",
    "license",
    "terms",
    "policy",
    "provide",
    "access",
    "rights",
    "agree",
    "information",
    "process",
    "use",
    "may",
    "will",
    "including",
    "without",
    "limited",
    "reasonable",
    "applicable",
    "law",
    "request",
    "subscription",
    "feature",
    "image",
    "prompt",
    "generate",
    "output",
    "input",
    "platform",
    "community",
]


# --------------------------------------------------------------------------- page corpus


def _sentence(rng: random.Random) -> str:
    words = [rng.choice(WORDS) for _ in range(rng.randint(12, 28))]
    return " ".join(words).capitalize() + "."


def make_page(index: int, rng: random.Random) -> dict[str, object]:
    """A page as data, so edits can be applied and the HTML re-rendered."""
    sections = []
    for number in range(1, 19):
        paragraphs = [
            " ".join(_sentence(rng) for _ in range(rng.randint(3, 6)))
            for _ in range(rng.randint(4, 7))
        ]
        sections.append(
            {
                "title": f"{number}. Section {rng.choice(WORDS).title()}",
                "paragraphs": paragraphs,
            }
        )
    sections[3]["paragraphs"].insert(
        0,
        "By using the Services, You grant us a perpetual, worldwide, non-exclusive license to "
        "reproduce and distribute the Content You input, as needed to provide the Services.",
    )
    return {
        "index": index,
        "sections": sections,
        "session": hashlib.sha1(f"{index}".encode()).hexdigest(),
        "updated": "3 days ago",
        "tracking": "abc",
        "cookie": "We use cookies to improve your experience.",
        "nbsp": False,
        "curly": False,
        "spacing": " ",
    }


def render_page(page: dict[str, object]) -> bytes:
    sp = str(page["spacing"])
    blob = json.dumps({"props": {"session": page["session"], "filler": "x" * 60000}})
    nav = "".join(
        f'<li><a href="/p/{i}?utm={page["tracking"]}">Link {i}</a></li>'
        for i in range(40)
    )
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>Terms</title>",
        f"<script>window.__DATA__={blob}</script><style>{'.c{color:red}' * 300}</style></head><body>",
        f"<header><nav><ul>{nav}</ul></nav></header>",
        f'<div id="cookie-banner" class="cookie-consent">{page["cookie"]} <button>OK</button></div>',
        f"<main><h1>Terms of Service</h1><p class='updated'>Updated {page['updated']}</p>",
    ]
    for section in page["sections"]:  # type: ignore[attr-defined]
        parts.append(f"<section><h2>{section['title']}</h2>")
        for paragraph in section["paragraphs"]:
            text = paragraph.replace(" ", sp)
            if page["nbsp"]:
                text = text.replace(" the ", "\u00a0the\u00a0")
            if page["curly"]:
                text = text.replace("You", "\u201cYou\u201d")
            parts.append(
                f'<p>{text} <a href="/policy?ref={page["tracking"]}">details</a></p>'
            )
        parts.append("</section>")
    parts.append(
        f"</main><footer>{nav}</footer><script>track('{page['session']}')</script></body></html>"
    )
    return "".join(parts).encode("utf-8")


COSMETIC_EDITS = (
    "spacing",
    "nbsp",
    "curly",
    "tracking",
    "scripts",
    "cookie",
    "updated",
)


def cosmetic_edit(page: dict[str, object], kind: str) -> None:
    if kind == "spacing":
        page["spacing"] = "  \n "
    elif kind == "nbsp":
        page["nbsp"] = True
    elif kind == "curly":
        page["curly"] = True
    elif kind == "tracking":
        page["tracking"] = "xyz123"
    elif kind == "scripts":
        page["session"] = "0" * 40
    elif kind == "cookie":
        page["cookie"] = "This site uses cookies. Manage your preferences."
    elif kind == "updated":
        page["updated"] = "1 hour ago"


def substantive_edit(page: dict[str, object], rng: random.Random) -> None:
    sections = page["sections"]
    section = sections[rng.randrange(len(sections))]  # type: ignore[index]
    section["paragraphs"][0] = (
        "We may use the Content You input and the images You generate to train and improve "
        "our machine learning models, unless You opt out in your account settings."
    )


# --------------------------------------------------------------------------- server


def serve(directory: Path, port_file: Path) -> None:
    """Serve directory/<n>.html with ETag and Last-Modified (run in its own process)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        wbufsize = 1 << 16  # headers and body leave in one send (no Nagle stall)
        disable_nagle_algorithm = True

        def do_GET(self) -> None:
            path = directory / (self.path.strip("/").split("?")[0] + ".html")
            if not path.exists():
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            body = path.read_bytes()
            etag = '"' + hashlib.md5(body).hexdigest() + '"'
            modified = formatdate(path.stat().st_mtime, usegmt=True)
            if self.headers.get("If-None-Match") == etag or (
                "If-None-Match" not in self.headers
                and self.headers.get("If-Modified-Since") == modified
            ):
                self.send_response(304)
                self.send_header("ETag", etag)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("ETag", etag)
            self.send_header("Last-Modified", modified)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    port_file.write_text(str(httpd.server_address[1]))
    httpd.serve_forever()


# --------------------------------------------------------------------------- runs


@dataclass
class Cycle:
    name: str
    wall: float
    cpu: float
    peak_rss_mb: float
    files_added: int  # snapshot files (raw bodies, texts)
    db_added: int  # the database (and its WAL)
    stdout: str


def _dir_size(path: Path, *, suffixes: tuple[str, ...] = ()) -> int:
    if not path.exists():
        return 0
    return sum(
        p.stat().st_size
        for p in path.rglob("*")
        if p.is_file() and (not suffixes or p.name.endswith(suffixes))
    )


_DB_FILES = (".db", ".db-wal", ".db-shm")


def run_measured(
    cmd: list[str], state: Path, name: str, env: dict[str, str] | None = None
) -> Cycle:
    """Run cmd in a fresh child and measure it alone (a wrapper reports its own rusage)."""
    total, db = _dir_size(state), _dir_size(state, suffixes=_DB_FILES)
    wrapper = [
        sys.executable,
        "-c",
        "import json,resource,subprocess,sys,time;t=time.perf_counter();"
        "p=subprocess.run(sys.argv[1:],capture_output=True,text=True);"
        "w=time.perf_counter()-t;r=resource.getrusage(resource.RUSAGE_CHILDREN);"
        "sys.stderr.write(p.stderr[-3000:]);"
        "print(json.dumps({'wall':w,'cpu':r.ru_utime+r.ru_stime,'rss':r.ru_maxrss,'out':p.stdout}))",
        *cmd,
    ]
    proc = subprocess.run(wrapper, capture_output=True, text=True, env=env, check=True)
    data = json.loads(proc.stdout.strip().splitlines()[-1])
    db_added = _dir_size(state, suffixes=_DB_FILES) - db
    return Cycle(
        name,
        data["wall"],
        data["cpu"],
        data["rss"] / 1024,
        _dir_size(state) - total - db_added,
        db_added,
        data["out"],
    )


def write_watcher_config(root: Path, port: int, docs: int) -> Path:
    config = root / "config"
    (config / "platforms").mkdir(parents=True, exist_ok=True)
    state = root / "state"
    (config / "watcher.yaml").write_text(
        f"storage: {{url: 'sqlite:///{state}/watcher.db', snapshots_dir: '{state}/snapshots'}}\n"
        # one local host: no politeness delay needed, and the whole cycle would otherwise wait
        "fetch: {timeout: 30s, per_host_interval: 0s, concurrency: 8, retries: 1}\n"
    )
    lines = ["name: Bench", "documents:"]
    for i in range(docs):
        lines += [
            f"  p{i}:",
            "    type: terms_of_service",
            f"    url: http://127.0.0.1:{port}/{i}",
            "    select: [main]",
            "    remove_text: ['updated \\d+ \\w+ ago']",
            "    min_chars: 2000",
        ]
    (config / "platforms" / "bench.yaml").write_text("\n".join(lines) + "\n")
    return config


def watcher_cycle(config: Path, root: Path, name: str) -> Cycle:
    cmd = [
        sys.executable,
        "-m",
        "watcher",
        "--config",
        str(config),
        "check",
        "--no-notify",
    ]
    return run_measured(cmd, root / "state", name)


def changes_after(config: Path, since_id: int) -> list[dict[str, object]]:
    out = subprocess.run(
        [sys.executable, "-m", "watcher", "--config", str(config), "changes", "--json"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return [c for c in json.loads(out) if int(c["id"]) > since_id]  # type: ignore[call-overload]


# --------------------------------------------------------------------------- floors

_HTTPX_ALONE = """
import asyncio, sys, httpx
port, count = int(sys.argv[1]), int(sys.argv[2])
etags = sys.argv[3].split(",")
async def main():
    async with httpx.AsyncClient() as client:
        for i in range(count):
            url = f"http://127.0.0.1:{port}/{i}"
            async with client.stream("GET", url, headers={"If-None-Match": etags[i]}) as r:
                await r.aread()
asyncio.run(main())
"""


def floor_cycles(pages_dir: Path, port: int, docs: int, root: Path) -> list[Cycle]:
    """What any such command pays: starting up, and httpx's own conditional GETs."""
    etags = [
        '"' + hashlib.md5((pages_dir / f"{i}.html").read_bytes()).hexdigest() + '"'
        for i in range(docs)
    ]
    startup = [sys.executable, "-c", "import watcher.cli"]
    httpx_alone = [
        sys.executable,
        "-c",
        _HTTPX_ALONE,
        str(port),
        str(docs),
        ",".join(etags),
    ]
    return [
        run_measured(startup, root, "import watcher.cli"),
        run_measured(httpx_alone, root, f"httpx alone, {docs} 304s"),
    ]


# --------------------------------------------------------------------------- urlwatch

URLWATCH_VENV = ROOT / "bench" / "out" / "urlwatch-2.29"


def urlwatch_setup() -> Path:
    """urlwatch 2.29 in a venv of its own under bench/out/ (kept for the next run)."""
    urlwatch = URLWATCH_VENV / "bin" / "urlwatch"
    if urlwatch.exists():
        return urlwatch
    subprocess.run([sys.executable, "-m", "venv", str(URLWATCH_VENV)], check=True)
    subprocess.run(
        [
            str(URLWATCH_VENV / "bin" / "pip"),
            "install",
            "--quiet",
            "urlwatch==2.29",
            "beautifulsoup4",
            "html2text",
            "cssselect",
            "lxml",
        ],
        check=True,
    )
    return urlwatch


def urlwatch_files(root: Path, port: int, docs: int) -> list[str]:
    uw = root / "uw"
    uw.mkdir(exist_ok=True)
    jobs = [
        f"name: p{i}\nurl: http://127.0.0.1:{port}/{i}\nfilter:\n  - css: main\n  - html2text\n"
        for i in range(docs)
    ]
    (uw / "urls.yaml").write_text("---\n".join(jobs))
    (uw / "urlwatch.yaml").write_text(
        "display: {new: true, error: true, unchanged: false}\n"
        "report: {text: {details: true, footer: false}, stdout: {enabled: true, color: false}}\n"
    )
    return [
        "--urls",
        str(uw / "urls.yaml"),
        "--config",
        str(uw / "urlwatch.yaml"),
        "--cache",
        str(uw / "cache.db"),
    ]


def urlwatch_changed(stdout: str) -> set[str]:
    return {
        line.split("CHANGED: ", 1)[1].split(" ")[0]
        for line in stdout.splitlines()
        if "CHANGED: " in line
    }


# --------------------------------------------------------------------------- main


@dataclass
class Edits:
    cosmetic: set[int]
    substantive: set[int]


def edit_tenth(
    pages: list[dict[str, object]], pages_dir: Path, rng: random.Random
) -> Edits:
    """Edit 10% of the pages (half cosmetically, half in a clause) and rewrite them."""
    chosen = rng.sample(range(len(pages)), max(2, len(pages) // 10))
    edits = Edits(set(chosen[: len(chosen) // 2]), set(chosen[len(chosen) // 2 :]))
    for n, index in enumerate(sorted(edits.cosmetic)):
        cosmetic_edit(pages[index], COSMETIC_EDITS[n % len(COSMETIC_EDITS)])
    for index in edits.substantive:
        substantive_edit(pages[index], rng)
    time.sleep(1.1)  # a new Last-Modified second for the edited files
    for index in chosen:
        (pages_dir / f"{index}.html").write_bytes(render_page(pages[index]))
    return edits


def found_and_false(raised: set[str], edits: Edits) -> tuple[int, int]:
    return (
        len({f"p{i}" for i in edits.substantive} & raised),
        len({f"p{i}" for i in edits.cosmetic} & raised),
    )


def print_table(results: list[tuple[str, Cycle]]) -> None:
    print(
        f"\n{'tool':15} {'cycle':26} {'wall s':>7} {'cpu s':>7} {'peak MB':>8}"
        f" {'files added':>12} {'db added':>10}"
    )
    for tool, c in results:
        print(
            f"{tool:15} {c.name:26} {c.wall:7.2f} {c.cpu:7.2f} {c.peak_rss_mb:8.0f}"
            f" {c.files_added:12,} {c.db_added:10,}"
        )


def print_ratios(results: list[tuple[str, Cycle]]) -> None:
    ours = {c.name: c for tool, c in results if tool == "policy-watcher"}
    theirs = {c.name: c for tool, c in results if tool == "urlwatch"}
    for name, cycle in ours.items():
        if name in theirs and theirs[name].cpu > 0:
            print(
                f"cpu {name}: policy-watcher {cycle.cpu:.2f} s / urlwatch "
                f"{theirs[name].cpu:.2f} s = {cycle.cpu / theirs[name].cpu:.2f}"
            )


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--docs", type=int, default=1000)
    parser.add_argument(
        "--urlwatch",
        action="store_true",
        help="also run urlwatch 2.29 (pip, in a venv kept under bench/out/)",
    )
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    subprocess.run(
        [sys.executable, "-m", "compileall", "-q", str(ROOT / "watcher")], check=True
    )
    uw_bin = urlwatch_setup() if args.urlwatch else None
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        pages_dir = root / "pages"
        pages_dir.mkdir()
        pages = [make_page(i, rng) for i in range(args.docs)]
        for page in pages:
            (pages_dir / f"{page['index']}.html").write_bytes(render_page(page))
        sizes = [len(render_page(p)) for p in pages[:20]]
        print(f"{args.docs} pages, ~{sum(sizes) / len(sizes) / 1024:.0f} KB each")
        port_file = root / "port"
        server = Process(target=serve, args=(pages_dir, port_file), daemon=True)
        server.start()
        while not port_file.exists() or not port_file.read_text():
            time.sleep(0.05)
        port = int(port_file.read_text())
        config = write_watcher_config(root, port, args.docs)
        uw_args = urlwatch_files(root, port, args.docs) if uw_bin else []
        results: list[tuple[str, Cycle]] = []

        def cycle(name: str) -> Cycle:
            ours = watcher_cycle(config, root, name)
            results.append(("policy-watcher", ours))
            if uw_bin:
                theirs = run_measured([str(uw_bin), *uw_args], root / "uw", name)
                results.append(("urlwatch", theirs))
            return ours

        try:
            cycle("1 baseline")
            last_id = max([0, *(int(c["id"]) for c in changes_after(config, 0))])  # type: ignore[call-overload]
            edits = edit_tenth(pages, pages_dir, rng)
            cycle2 = cycle("2 ten percent changed")
            raised = {
                str(c["document"]).split("/")[1]
                for c in changes_after(config, last_id)
                if c["severity"] != "cosmetic"
            }
            found, false_alarms = found_and_false(raised, edits)
            cycle("3 nothing changed")
            floors = floor_cycles(pages_dir, port, args.docs, root)
            results.extend(("floor", c) for c in floors)
        finally:
            server.terminate()
        print_table(results)
        print()
        print_ratios(results)
        print(
            f"\npolicy-watcher cycle 2: {found}/{len(edits.substantive)} substantive changes found, "
            f"{false_alarms}/{len(edits.cosmetic)} cosmetic edits raised (false alarms); "
            f"{cycle2.files_added / max(1, len(edits.substantive)):,.0f} snapshot-file bytes per "
            "substantive change"
        )
        if uw_bin:
            uw2 = next(
                c for t, c in results if t == "urlwatch" and c.name == cycle2.name
            )
            uw_found, uw_false = found_and_false(urlwatch_changed(uw2.stdout), edits)
            print(
                f"urlwatch cycle 2: {uw_found}/{len(edits.substantive)} found, "
                f"{uw_false}/{len(edits.cosmetic)} false alarms"
            )
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PYTHONHASHSEED", "0")
    resource.setrlimit(resource.RLIMIT_NOFILE, (4096, 4096))
    sys.exit(main())
