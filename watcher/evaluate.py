r"""Fact verdicts: does a curated claim still hold on the current text of its documents?

Contract
--------
``evaluate(fact, texts, matcher=None, *, baseline_quote=None) -> Verdict``. ``texts`` maps a
document *name* of the fact's platform ("terms") to its current stored text (the
``text.render_blocks`` format), or to None when there is no usable snapshot; a name missing from
``texts`` counts as None. Pure: no I/O, and it raises nothing on valid input (the config loader
has already compiled every pattern). ``matcher`` is accepted for symmetry with
``compare.diff_texts``; verdicts do not depend on topics, so it is not used.

Verdicts (DESIGN.md): ``unknown`` if a document the fact needs (evidence docs and the quote's
doc) has no text; ``broken`` if an ``all_of`` fails, every ``any_of`` fails, a ``none_of``
matches, or nothing close to the quote is left; ``changed`` if the patterns hold but the quote
is no longer verbatim while a close passage (``CLOSE_ENOUGH``) exists; ``holds`` otherwise. A
fact without a quote holds on its patterns alone.

Matching text: each unit (heading or clause, ``compare.split_units``) is ``text.normalise``d,
lower-cased, stripped of Markdown backslash escapes, whitespace collapsed; clauses of one block
are joined by a space, blocks and headings by a newline. So ``[^.]{0,80}`` stays inside a
sentence, ``[\s\S]{0,600}`` can cross blocks, and curly quotes or nbsp change nothing. A line
hard-wrapped mid-sentence (no final punctuation, the next block starts lower-case) is joined
by a space, so reflowed text matches too. Patterns are compiled once (cached by pattern
string) with no flags.

Quotes: compared on the same form, also without Markdown emphasis (``**``, ``_``) and across
block boundaries. "…" or "..." in a quote is an elision: every fragment must be found, in
order, each within ``MAX_ELISION`` characters of the previous one. When the quote is not
verbatim, the passage of consecutive units nearest to it is found (``_closeness``: per
fragment, the Dice of its words against the stretch of passage they match, so a quote cut
from a longer clause still scores 1 and an inserted word lowers it; never above 0.99 when not
verbatim). At ``CLOSE_ENOUGH`` or more the quote has "changed", below it nothing close is left.

Evidence: the clause of the first ``none_of`` hit (it contradicts the claim), else the quote's
passage, else the clause where the first ``all_of`` (then ``any_of``) pattern matched. Reasons
are one line per pattern and one for the quote, e.g. ``all_of[0] (terms) matched: "…"``,
``none_of[0] (help) HIT: "…"``, ``quote not verbatim; closest clause 0.87 similar in "4. Rights >
Stealth"``.
"""

from __future__ import annotations

import heapq
import re
from bisect import bisect_right
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from difflib import SequenceMatcher
from functools import lru_cache
from itertools import pairwise

from watcher.compare import Unit, split_units, word_diff
from watcher.models import Fact, Verdict, VerdictName
from watcher.text import TopicMatcher, normalise, split_sentences

__all__ = ["CLOSE_ENOUGH", "MAX_ELISION", "evaluate"]

CLOSE_ENOUGH = 0.6  # closeness a passage needs for the quote to count as "changed"
MAX_ELISION = 2000  # characters an elision ("…") may stand for
_CANDIDATES = 6  # units with the most quote words, around which passages are scored
_ESCAPE = re.compile(r"\\(?=[^\w\s])")
_EMPHASIS = re.compile(r"\*+|(?<!\w)_+|_+(?!\w)")
_ELLIPSIS = re.compile(r"\s*\[?\.{3,}\]?\s*")
_WORD = re.compile(r"\w+")
_ELISION_ENDS = re.compile(r"^\s*\.{3,}\s*|\s*\.{3,}\s*$")
_WRAPPED = re.compile(r"[\"'(\[]*[a-z]")
_ENDED = re.compile(r"[.!?:;]\W*$")


def _match_form(text: str) -> str:
    text = text.lower()
    return " ".join((_ESCAPE.sub("", text) if "\\" in text else text).split())


def _unemphasise(form: str) -> str:
    return (
        " ".join(_EMPHASIS.sub("", form).split())
        if "*" in form or "_" in form
        else form
    )


def _quote_form(text: str) -> str:
    return _unemphasise(_match_form(normalise(text)))


@dataclass(frozen=True, slots=True, eq=False)  # identity hash: a cache key
class _Doc:
    """A stored text prepared for patterns and quotes (cached per text)."""

    units: tuple[Unit, ...]
    text: str  # matching text, what patterns run on
    starts: tuple[int, ...]  # offset of each unit in ``text``
    quote_text: str  # every unit's quote form, joined by spaces
    quote_starts: tuple[int, ...]
    quote_forms: tuple[str, ...]

    def span(self, first: int, last: int) -> tuple[str, tuple[str, ...]]:
        """The text and heading path of units first..last (inclusive)."""
        units = self.units[first : last + 1]
        return " ".join(u.text for u in units), units[0].heading


def _continues(before: Unit, unit: Unit) -> bool:
    """Is ``unit`` on the same line of the matching text as ``before``? Yes inside a block, and
    across blocks when a line was hard-wrapped mid-sentence (no final punctuation before, a
    lower-case word after)."""
    if before.is_heading or unit.is_heading:
        return False
    if unit.block == before.block:
        return True
    return bool(_WRAPPED.match(unit.text)) and not _ENDED.search(before.text)


def _grams(words: Sequence[str]) -> frozenset[str]:
    """Words and adjacent word pairs: shared pairs tell the right passage from one that
    merely uses the same vocabulary."""
    return frozenset(words).union(f"{a} {b}" for a, b in pairwise(words))


@lru_cache(maxsize=32)
def _prepare(stored: str) -> _Doc:
    units = split_units(stored)
    parts: list[str] = []
    starts: list[int] = []
    quote_starts: list[int] = []
    offset = quote_offset = 0
    quote_forms: list[str] = []
    for index, unit in enumerate(units):
        if index:
            parts.append(" " if _continues(units[index - 1], unit) else "\n")
            offset += 1
        form = _match_form(unit.text)
        starts.append(offset)
        parts.append(form)
        offset += len(form)
        quote_form = _unemphasise(form)
        quote_starts.append(quote_offset)
        quote_forms.append(quote_form)
        quote_offset += len(quote_form) + 1
    return _Doc(
        units,
        "".join(parts),
        tuple(starts),
        " ".join(quote_forms),
        tuple(quote_starts),
        tuple(quote_forms),
    )


@lru_cache(maxsize=32)
def _word_index(
    doc: _Doc,
) -> tuple[tuple[tuple[str, ...], ...], tuple[frozenset[str], ...]]:
    """Per unit: its words, and its words and word pairs (built only when a quote is not
    verbatim, to find the passages worth scoring)."""
    words = tuple(tuple(_WORD.findall(form)) for form in doc.quote_forms)
    return words, tuple(_grams(w) for w in words)


@lru_cache(maxsize=4096)
def _compile(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def _snippet(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > 120:
        text = f"{text[:80]} … {text[-30:]}"
    return f'"…{text}…"'


def _where(heading: Sequence[str]) -> str:
    return f'"{" > ".join(heading)}"' if heading else "(no heading)"


@dataclass(frozen=True, slots=True)
class _Passage:
    doc: str
    text: str
    heading: tuple[str, ...]
    closeness: float


def _find_verbatim(doc: _Doc, fragments: Sequence[str]) -> tuple[int, int] | None:
    """Units (first, last) holding every fragment in order, or None."""
    start = doc.quote_text.find(fragments[0])
    while start != -1:
        end = start + len(fragments[0])
        for fragment in fragments[1:]:
            found = doc.quote_text.find(
                fragment, end, end + MAX_ELISION + len(fragment)
            )
            if found == -1:
                break
            end = found + len(fragment)
        else:
            last = bisect_right(doc.quote_starts, end - 1) - 1
            return bisect_right(doc.quote_starts, start) - 1, last
        start = doc.quote_text.find(fragments[0], start + 1)
    return None


def _closeness(pieces: Sequence[Sequence[str]], passage: Sequence[str]) -> float:
    """How close ``passage`` is to a quote (its words, one list per elided piece): for each
    piece, Dice of its words against the stretch of the passage its matches span; averaged by
    piece length. Words the passage adds inside that stretch count against it; words around
    it do not (a quote may be cut from a longer clause)."""
    total = score = 0.0
    for piece in pieces:
        blocks = [
            b
            for b in SequenceMatcher(
                None, piece, passage, autojunk=False
            ).get_matching_blocks()
            if b.size
        ]
        if blocks:
            matched = sum(b.size for b in blocks)
            stretch = blocks[-1].b + blocks[-1].size - blocks[0].b
            score += len(piece) * 2 * matched / (len(piece) + stretch)
        total += len(piece)
    return score / total if total else 0.0


def _closest(
    doc: _Doc, pieces: Sequence[Sequence[str]], longest: int
) -> tuple[float, int, int]:
    """(closeness, first, last) of the passage of at most ``longest`` units nearest the quote."""
    words, grams = _word_index(doc)
    wanted = frozenset().union(*(_grams(piece) for piece in pieces))
    overlap = ((len(wanted & g), i) for i, g in enumerate(grams))
    seeds = [i for hits, i in heapq.nlargest(_CANDIDATES, overlap) if hits]
    scored: dict[tuple[int, int], float] = {}
    for seed in seeds:
        for first in range(max(0, seed - longest + 1), seed + 1):
            for last in range(seed, min(len(doc.units), first + longest)):
                if (first, last) not in scored:
                    passage = [w for unit in words[first : last + 1] for w in unit]
                    scored[(first, last)] = _closeness(pieces, passage)
    if not scored:
        return 0.0, 0, 0
    best = max(scored.values())
    # among passages about as close as the best, the shortest
    first, last = min(
        (span for span, score in scored.items() if score >= best - 0.02),
        key=lambda s: (s[1] - s[0], -scored[s]),
    )
    return min(scored[(first, last)], 0.99), first, last


def _fragments(quote: str) -> list[str]:
    """The quote's pieces between elisions ("…", "..."), in quote form."""
    return [f for f in (_quote_form(p) for p in _ELLIPSIS.split(normalise(quote))) if f]


def _check_quote(
    fragments: Sequence[str], sentences: int, docs: Mapping[str, _Doc]
) -> tuple[bool, _Passage | None]:
    """(verbatim?, the passage holding the quote or nearest to it) over ``docs``."""
    for name, doc in docs.items():
        found = _find_verbatim(doc, fragments)
        if found:
            return True, _Passage(name, *doc.span(*found), 1.0)
    pieces = [_WORD.findall(f) for f in fragments]
    best: _Passage | None = None
    for name, doc in docs.items():
        score, first, last = _closest(doc, pieces, sentences + len(fragments))
        if doc.units and (best is None or score > best.closeness):
            best = _Passage(name, *doc.span(first, last), round(score, 2))
    return False, best


@dataclass
class _Patterns:
    """What the evidence patterns said."""

    reasons: list[str]
    broken: bool = False
    support: _Passage | None = (
        None  # where the first pattern that holds the claim matched
    )
    contradiction: _Passage | None = None  # where the first none_of hit


def _run_patterns(fact: Fact, docs: Mapping[str, _Doc]) -> _Patterns:
    result = _Patterns([])

    def run(kind: str, index: int, name: str, pattern: str) -> _Passage | None:
        doc = docs[name]
        match = _compile(pattern).search(doc.text)
        label = f"{kind}[{index}] ({name})"
        if match is None:
            outcome = "clear" if kind == "none_of" else "did not match"
            result.reasons.append(f"{label} {outcome}: /{pattern}/")
            return None
        outcome = "HIT" if kind == "none_of" else "matched"
        result.reasons.append(f"{label} {outcome}: {_snippet(match.group())}")
        first = bisect_right(doc.starts, match.start()) - 1
        last = bisect_right(doc.starts, max(match.start(), match.end() - 1)) - 1
        return _Passage(name, *doc.span(first, last), 1.0)

    evidence = fact.evidence
    all_hits = [
        run("all_of", i, p.doc, p.pattern) for i, p in enumerate(evidence.all_of)
    ]
    any_hits = [
        run("any_of", i, p.doc, p.pattern) for i, p in enumerate(evidence.any_of)
    ]
    none_hits = [
        run("none_of", i, p.doc, p.pattern) for i, p in enumerate(evidence.none_of)
    ]
    if any_hits and not any(any_hits):
        result.reasons.append("every any_of failed")
    result.broken = (
        not all(all_hits) or (bool(any_hits) and not any(any_hits)) or any(none_hits)
    )
    result.support = next((hit for hit in (*all_hits, *any_hits) if hit), None)
    result.contradiction = next((hit for hit in none_hits if hit), None)
    return result


def evaluate(
    fact: Fact,
    texts: Mapping[str, str | None],
    matcher: TopicMatcher | None = None,
    *,
    baseline_quote: str | None = None,
) -> Verdict:
    """The verdict of ``fact`` on ``texts`` (see the module docstring); never raises on valid
    input.

    ``baseline_quote`` (the passage last accepted) replaces ``fact.quote.text`` when given; it is
    looked for in the quote's document, or in every document of the fact when it has no quote.
    """
    needed = fact.documents()
    missing = [name for name in needed if texts.get(name) is None]
    if missing:
        unknown = tuple(f"no usable snapshot of {name}" for name in missing)
        return Verdict(fact.id, "unknown", unknown)
    docs = {name: _prepare(texts[name] or "") for name in needed}
    patterns = _run_patterns(fact, docs)
    reasons = patterns.reasons
    verdict: VerdictName = "broken" if patterns.broken else "holds"

    quote = fact.quote.text if fact.quote else None
    quote = baseline_quote if baseline_quote is not None else quote
    fragments = _fragments(quote or "")
    passage: _Passage | None = None  # the quote's passage, when close enough
    closeness: float | None = None
    quote_diff: tuple[tuple[int, str], ...] = ()
    if quote and fragments:
        where = {fact.quote.doc: docs[fact.quote.doc]} if fact.quote else docs
        sentences = len(split_sentences(normalise(quote)))
        verbatim, nearest = _check_quote(fragments, sentences, where)
        closeness = nearest.closeness if nearest else 0.0
        if nearest and verbatim:
            reasons.append(f"quote found verbatim in {_where(nearest.heading)}")
            passage = nearest
        elif nearest and nearest.closeness >= CLOSE_ENOUGH:
            similar = (
                f"closest clause {closeness:.2f} similar in {_where(nearest.heading)}"
            )
            reasons.append(f"quote not verbatim; {similar}")
            passage = nearest
            if verdict == "holds":
                verdict = "changed"
                shown = _ELISION_ENDS.sub("", normalise(quote))
                quote_diff = word_diff(shown, nearest.text)
        else:
            best = (
                f"best {closeness:.2f} in {_where(nearest.heading)}"
                if nearest
                else "no text"
            )
            reasons.append(f"nothing close to the quote is left ({best})")
            verdict = "broken"

    evidence = patterns.contradiction or passage or patterns.support
    return Verdict(
        fact.id,
        verdict,
        tuple(reasons),
        evidence=evidence.text if evidence else None,
        evidence_heading=evidence.heading if evidence else (),
        evidence_doc=evidence.doc if evidence else None,
        closeness=closeness,
        quote_diff=quote_diff,
    )
