"""Run every corpus ``.html`` through ``extract`` and compare with the archive's own ``.md``.

Usage: ``python bench/corpus_extract.py [--corpus DIR] [--service NAME] [--diff N]``

The corpus (``../shared/corpus`` by default) holds raw pages and Open Terms Archive's Markdown
extraction of the same versions. For each page we take the OTA selectors valid at its date
(``ota-declarations/*.json``, ``*.history.json``; a list of selectors is one CSS group, as OTA
reads all of them), extract it, and compare with the ``.md`` it produced (``INDEX.tsv``
``related_commit``; else the latest ``.md`` at or before the page; else the nearest). The
``.md`` is read by our Markdown extractor so both sides are in the same text format.

Per document it prints the mean and worst word-level similarity (difflib ratio over words),
the mean extracted size of both sides and the time per page; ``--diff N`` prints the first N
differing word runs of each document's worst page. OTA ``filter`` functions (site-specific
JavaScript) are not run, so documents that rely on them differ by design.
"""

from __future__ import annotations

import argparse
import csv
import difflib
import json
import statistics
import sys
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from watcher.errors import ExtractError
from watcher.extract import extract
from watcher.extract.markdown import markdown_blocks
from watcher.models import Document, FetchResult, Validators
from watcher.text import render_blocks

__all__ = ["main"]

DEFAULT_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"
DECLARATION_FILES = {
    "bing": "contrib--Bing",
    "civitai": "genai-contrib--Civitai",
    "dall-e": "genai-contrib--DALL-E",
    "stability-ai": "genai-contrib--Stability-AI",
}


@dataclass(frozen=True)
class Row:
    service: str
    doctype: str
    kind: str
    path: str
    commit: str
    stamp: str
    related: str


def _rows(corpus: Path) -> list[Row]:
    with (corpus / "INDEX.tsv").open(encoding="utf-8") as handle:
        return [
            Row(
                r["service"],
                r["doctype"],
                r["kind"],
                r["path"],
                r["commit"],
                r["datetime"],
                r["related_commit"],
            )
            for r in csv.DictReader(handle, delimiter="\t")
        ]


def _when(stamp: str) -> datetime:
    return datetime.strptime(stamp, "%Y-%m-%dT%H%M%SZ").replace(tzinfo=UTC)


def _declaration(
    corpus: Path, service: str, doctype: str, stamp: str
) -> dict[str, object] | None:
    name = DECLARATION_FILES.get(service)
    if name is None:
        return None
    terms = json.loads((corpus / "ota-declarations" / f"{name}.json").read_text())[
        "terms"
    ]
    key = next((k for k in terms if k.lower().replace(" ", "-") == doctype), None)
    if key is None:
        return None
    history_file = corpus / "ota-declarations" / f"{name}.history.json"
    if history_file.exists():
        history = json.loads(history_file.read_text()).get(key, [])
        for entry in history:  # oldest first; the first still valid at `stamp` applies
            until = datetime.fromisoformat(entry["validUntil"].replace("Z", "+00:00"))
            if _when(stamp) < until:
                return dict(entry)
    return dict(terms[key])


def _selectors(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(item, str) for item in items):
        raise ValueError("range selectors are not supported")
    return (", ".join(str(item) for item in items),)


def _pair(row: Row, mds: list[Row]) -> Row | None:
    for md in mds:
        if (row.related and md.commit == row.related) or md.related == row.commit:
            return md
    before = [md for md in mds if md.stamp <= row.stamp]
    if before:
        return max(before, key=lambda md: md.stamp)
    return min(
        mds,
        key=lambda md: abs((_when(md.stamp) - _when(row.stamp)).total_seconds()),
        default=None,
    )


def similarity(ours: str, theirs: str) -> float:
    return difflib.SequenceMatcher(
        None, ours.split(), theirs.split(), autojunk=False
    ).ratio()


def _differences(ours: str, theirs: str, limit: int) -> list[str]:
    a, b = ours.split(), theirs.split()
    out: list[str] = []
    matcher = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op != "equal":
            out.append(
                f"    {op:7} ours: {' '.join(a[i1:i2])[:110]!r}\n            ota:  {' '.join(b[j1:j2])[:110]!r}"
            )
        if len(out) >= limit:
            break
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--service")
    parser.add_argument(
        "--diff", type=int, default=0, help="show N differences per document"
    )
    args = parser.parse_args(argv)
    corpus: Path = args.corpus
    if not (corpus / "INDEX.tsv").exists():
        print(f"no corpus at {corpus}")
        return 1
    rows = _rows(corpus)
    mds: dict[tuple[str, str], list[Row]] = defaultdict(list)
    for row in rows:
        if row.kind == "md":
            mds[(row.service, row.doctype)].append(row)
    results: dict[
        tuple[str, str], list[tuple[float, int, int, float, Row, str, str]]
    ] = defaultdict(list)
    failures: list[str] = []
    for row in rows:
        if row.kind != "html" or (args.service and row.service != args.service):
            continue
        declaration = _declaration(corpus, row.service, row.doctype, row.stamp)
        md = _pair(row, mds[(row.service, row.doctype)])
        if declaration is None or md is None:
            continue
        doc = Document(
            platform=row.service,
            name=row.doctype,
            platform_name=row.service,
            type=row.doctype.replace("-", "_"),
            url=str(declaration.get("fetch", "")),
            select=_selectors(declaration.get("select")),
            remove=_selectors(declaration.get("remove")),
            min_chars=0,
        )
        html = (corpus / row.path).read_text(encoding="utf-8", errors="replace")
        fetched = FetchResult(
            doc.url,
            doc.url,
            200,
            b"",
            html,
            "text/html",
            "utf-8",
            Validators(),
            _when(row.stamp),
        )
        start = time.perf_counter()
        try:
            ours = extract(doc, fetched).text
        except ExtractError as exc:
            failures.append(f"{row.path}: {exc}")
            continue
        elapsed = time.perf_counter() - start
        theirs = render_blocks(
            markdown_blocks((corpus / md.path).read_text(encoding="utf-8"))
        )
        results[(row.service, row.doctype)].append(
            (
                similarity(ours, theirs),
                len(ours),
                len(theirs),
                elapsed,
                row,
                ours,
                theirs,
            )
        )
    print(
        f"{'document':42} {'pages':>5} {'mean':>6} {'worst':>6} {'ours kB':>8} {'ota kB':>7} {'ms/page':>8}"
    )
    for (service, doctype), items in sorted(results.items()):
        ratios = [item[0] for item in items]
        worst = min(items, key=lambda item: item[0])
        print(
            f"{service + '/' + doctype:42} {len(items):5d} {statistics.mean(ratios):6.3f} {worst[0]:6.3f} "
            f"{statistics.mean(i[1] for i in items) / 1000:8.1f} {statistics.mean(i[2] for i in items) / 1000:7.1f} "
            f"{statistics.mean(i[3] for i in items) * 1000:8.1f}"
        )
        if args.diff:
            print(f"  worst: {worst[4].path}")
            print("\n".join(_differences(worst[5], worst[6], args.diff)))
    for failure in failures:
        print(f"FAILED {failure}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
