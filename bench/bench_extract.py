"""How fast and how lean extraction is.

Usage: ``python bench/bench_extract.py [--runs N] [--corpus DIR] [--mb 5]``

1. CPU time per 100 KB of page (``time.process_time``, so other work on the machine does not
   count): the median over ``--runs`` runs on a generated page in the shape of a real policy
   page (head scripts and JSON blobs, nav, cookie banner, sections of paragraphs with links,
   lists and a table, footer), and the median over the real corpus pages (OTA selectors)
   when the corpus is present. Two columns: ``blocks`` is the extractor alone
   (parse, select, walk, normalise); ``extract`` adds remove_text, rendering and hashing.
2. Peak memory of extracting a generated ``--mb`` MB page, in a fresh subprocess: the growth of
   ``ru_maxrss`` over the process's size just before extracting, and the ``tracemalloc`` peak
   (selectolax allocates lexbor's tree through Python's allocator, so the peak includes the
   tree; its share is measured apart).
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import subprocess
import sys
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from selectolax.lexbor import LexborHTMLParser

from watcher.extract import EXTRACTORS, extract
from watcher.models import Document, FetchResult, Validators

__all__ = ["generate_page", "main"]

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
SELECTORS = {  # OTA's selectors of the corpus documents (DALL-E's before 2024-05 second)
    "dall-e": ("main", '[id^="landings-"]'),
    "civitai": (".mantine-Container-root",),
    "stability-ai": (".content",),
}
_HEAD = """<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>Terms of Service</title>
<link rel="stylesheet" href="/_next/static/css/app.css"><style>{style}</style>
<script>window.dataLayer=window.dataLayer||[];function gtag(){{dataLayer.push(arguments)}}{script}</script>
</head><body><a class="skip-link" href="#main">Skip to content</a>
<header><nav><a href="/">Home</a><a href="/pricing?utm_source=nav">Pricing</a><a href="/login">Log in</a></nav></header>
<div class="cookie-consent-banner" role="dialog" aria-label="Cookie consent">We use cookies.
<button>Accept all</button></div><main id="main"><h1>Terms of Service</h1>
<p><strong>Last updated:</strong> <span>June 1, 2026</span></p>"""
_SECTION = """<section id="s{n}"><h2 id="h_{n}">{n}. Section about content, licences and visibility</h2>
<p>By using the <a href="/services?utm_campaign=x{n}">Services</a>, you grant us a worldwide,
non-exclusive, royalty-free <strong>licence</strong> to host, reproduce and display the content you
submit, including to <em>improve our models</em> and services.<sup><a href="#fn{n}">{n}</a></sup></p>
<p>Images you create are <span class="hl">public by default</span> and appear in the community
gallery; with a Pro plan you may generate them privately. We retain prompts for 30 days.</p>
<h3>{n}.1 Details</h3><ul><li>First point about <a href="/a">accounts</a> and age limits.</li>
<li>Second point with a nested list:<ul><li>nested item one</li><li>nested item two</li></ul></li></ul>
<table><tr><th>Plan</th><th>Price</th><th>Private</th></tr><tr><td>Basic</td><td>$10 / month</td>
<td>No</td></tr><tr><td>Pro</td><td>$60 / month</td><td>Yes</td></tr></table>
<div class="callout">Text straight in a div, <span>with</span><span>spans</span> and a<br>line break.</div>
</section>"""
_TAIL = """</main><footer><p>© 2026 Example, Inc.</p><a href="/privacy">Privacy</a></footer>
<script id="__NEXT_DATA__" type="application/json">{blob}</script></body></html>"""


def generate_page(size: int) -> str:
    """A policy-like HTML page of about ``size`` bytes (a third of it scripts and JSON)."""
    sections: list[str] = []
    total = 0
    n = 0
    while total < size * 2 // 3:
        n += 1
        section = _SECTION.format(n=n)
        sections.append(section)
        total += len(section)
    filler = size // 6
    style = ".c{color:#123456;margin:0 auto;padding:4px}" * (filler // 45)
    script = "gtag('event','view',{'page':'terms','n':1});" * (filler // 45)
    blob = json.dumps({"props": {"pageProps": {"html": "<p>" + "x" * filler + "</p>"}}})
    return (
        _HEAD.format(style=style, script=script)
        + "".join(sections)
        + _TAIL.format(blob=blob)
    )


def _doc(*select: str) -> Document:
    return Document(
        platform="bench",
        name="page",
        platform_name="Bench",
        type="terms_of_service",
        url="https://example.com/terms",
        select=select,
        min_chars=0,
    )


def _fetched(page: str) -> FetchResult:
    return FetchResult(
        "https://example.com/terms",
        "https://example.com/terms",
        200,
        b"",
        page,
        "text/html",
        "utf-8",
        Validators(),
        datetime.now(UTC),
    )


def _median_ms_per_100kb(page: str, doc: Document, runs: int, full: bool) -> float:
    fetched = _fetched(page)
    extractor = EXTRACTORS[doc.format](doc)
    times: list[float] = []
    for _ in range(runs):
        start = time.process_time()
        if full:
            extract(doc, fetched)
        else:
            extractor.blocks(fetched)
        times.append(time.process_time() - start)
    return statistics.median(times) * 1000 / (len(page.encode("utf-8")) / 100_000)


def _memory_child(megabytes: float) -> None:
    page = generate_page(int(megabytes * 1_000_000))
    doc, fetched = _doc("main"), _fetched(page)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    start = time.perf_counter()
    result = extract(doc, fetched)
    elapsed = time.perf_counter() - start
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.reset_peak()
    base, _ = tracemalloc.get_traced_memory()
    tree = LexborHTMLParser(page)  # the parsed tree alone, for scale
    held, _ = tracemalloc.get_traced_memory()
    del tree
    tracemalloc.stop()
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    report = {
        "page_mb": len(page.encode("utf-8")) / 1e6,
        "text_kb": len(result.text) / 1e3,
        "blocks": len(result.blocks),
        "rss_before_mb": before / 1024,
        "rss_delta_mb": (after - before) / 1024,
        "tracemalloc_peak_mb": peak / 1e6,
        "tree_mb": (held - base) / 1e6,
        "seconds_traced": elapsed,
    }
    print(json.dumps(report))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--mb", type=float, default=5.0)
    parser.add_argument("--memory-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_child:
        _memory_child(args.mb)
        return 0

    print(f"{'page':38} {'KB':>7} {'blocks ms/100KB':>16} {'extract ms/100KB':>17}")
    page = generate_page(100_000)
    for label, doc in (
        ("generated (select main)", _doc("main")),
        ("generated (whole body)", _doc()),
    ):
        blocks = _median_ms_per_100kb(page, doc, args.runs, full=False)
        full = _median_ms_per_100kb(page, doc, args.runs, full=True)
        print(f"{label:38} {len(page) / 1000:7.0f} {blocks:16.1f} {full:17.1f}")

    pages = sorted(args.corpus.glob("*/*/*.html")) if args.corpus.is_dir() else []
    per_service: dict[str, list[tuple[float, float, int]]] = {}
    for path in pages:
        selector = SELECTORS.get(path.parts[-3])
        if selector is None:
            continue
        html = path.read_text(encoding="utf-8", errors="replace")
        runs = max(3, args.runs // 5)
        blocks = _median_ms_per_100kb(html, _doc(*selector), runs, full=False)
        full = _median_ms_per_100kb(html, _doc(*selector), runs, full=True)
        per_service.setdefault(path.parts[-3], []).append((blocks, full, len(html)))
    for service, items in sorted(per_service.items()):
        label = f"corpus {service} (median of {len(items)})"
        size = statistics.median(i[2] for i in items) / 1000
        blocks = statistics.median(i[0] for i in items)
        full = statistics.median(i[1] for i in items)
        print(f"{label:38} {size:7.0f} {blocks:16.1f} {full:17.1f}")

    child = subprocess.run(
        [sys.executable, __file__, "--memory-child", "--mb", str(args.mb)],
        capture_output=True,
        text=True,
        check=True,
    )
    memory = json.loads(child.stdout)
    print()
    print(
        f"memory, one {memory['page_mb']:.1f} MB page ({memory['blocks']} blocks, "
        f"{memory['text_kb']:.0f} KB text), fresh process:"
    )
    print(f"  ru_maxrss before extract   {memory['rss_before_mb']:8.1f} MB")
    print(f"  ru_maxrss growth           {memory['rss_delta_mb']:8.1f} MB")
    print(f"  tracemalloc peak           {memory['tracemalloc_peak_mb']:8.1f} MB")
    print(f"    of which the lexbor tree {memory['tree_mb']:8.1f} MB")
    print(f"  time (under tracemalloc)   {memory['seconds_traced']:8.2f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
