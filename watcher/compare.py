"""Document diffs: what changed between two stored texts, and whether anyone should care.

Contract
--------
``diff_texts(old, new, matcher, watched=None) -> TextDiff`` compares two stored texts (the
``text.render_blocks`` format). It is pure: no I/O, no logging, and it raises nothing on valid
input. ``summarize(doc, diff)`` prefixes ``diff.summary`` with the document's display name: the
diff cannot know the title, so ``TextDiff.summary`` holds only the part after the colon
(``training_use clause changed in "4. Rights"``, at most 130 characters; the whole line at most
``SUMMARY_LIMIT``). ``word_diff(old, new)`` is the word-level
diff the CLI, the notifier and the fact evaluator render.

How a diff is made
------------------
1. Both texts are parsed (``text.parse_blocks``) into headings and blocks, and these are diffed
   exactly (diff-match-patch over one character per distinct entry). Unchanged blocks cost
   nothing more: a 140 KB document with one changed clause is one pass.
2. The blocks of each changed run are cut into *units* (``split_units``: each heading, and each
   clause of ``text.split_sentences``, with its heading path) and the units are diffed by their
   *comparison key*: the text after ``COSMETIC_RULES``. Units whose keys line up but whose
   text differs are ``cosmetic`` ClauseDiffs.
3. Of what is left, a unit removed in one place whose key was added in another is a move, and a
   run that reads the same words on both sides is a reflow: neither is reported. Remaining
   units are paired by word similarity (``PAIR_THRESHOLD`` inside a run,
   ``MOVED_PAIR_THRESHOLD`` across runs) into ``changed`` diffs with a word-level diff; the
   rest are ``added``/``removed``, except reflow leftovers (a unit whose words still stand
   inside the other side of its run). An added/removed unit whose key is empty (a lone date
   stamp) is cosmetic.
4. Severity: ``cosmetic`` if every ClauseDiff is cosmetic (or there is none), ``alert`` if a
   non-cosmetic one carries a watched topic (on either side), else ``notice``.

Topics are tagged only on the units that end up in a ClauseDiff. A heading counts as a clause
in ``TextDiff.clauses``; the summary counts it only when no sentence changed.

Layout: the cosmetic rules and ``comparison_key`` live in ``watcher._cosmetic``, ``Unit`` and
``split_units`` in ``watcher._units``, ``word_diff`` and the sequence diff in
``watcher._seqdiff``; every name in ``__all__`` is importable from here.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from watcher._cosmetic import COSMETIC_RULES, CosmeticRule, comparison_key
from watcher._seqdiff import WORDS, Run, diff_runs, word_diff
from watcher._units import Unit, block_units, split_unit, split_units
from watcher.models import ClauseDiff, Document, Severity, TextDiff
from watcher.text import TopicMatcher

__all__ = [
    "COSMETIC_RULES",
    "MOVED_PAIR_THRESHOLD",
    "PAIR_THRESHOLD",
    "SUMMARY_LIMIT",
    "CosmeticRule",
    "Unit",
    "comparison_key",
    "diff_texts",
    "split_units",
    "summarize",
    "word_diff",
]

# word-bag Dice similarity at which a removed and an added unit are one edited clause: lenient
# inside one changed run (neighbours), strict across runs (a clause moved and edited)
PAIR_THRESHOLD = 0.4
MOVED_PAIR_THRESHOLD = 0.6
SUMMARY_LIMIT = 160  # characters of summarize()'s line
_SUMMARY_PART = 130  # characters of TextDiff.summary; the rest is the document's name
_PAIR_WINDOW = 12  # inside one run, compare units at most this far off the diagonal
_GLOBAL_PAIR_MAX = 2500  # leftover removed x added pairs compared across runs, at most

# --------------------------------------------------------------------------- diff machinery


Kind = Literal["added", "removed", "changed"]
# where a ClauseDiff sits in the new text: (block entry, unit in it, -1 = just before it)
_Pos = tuple[int, int, int]


@dataclass
class _Change:
    """Units (indices into _Differ.units) not yet explained, at ``pos`` in the new text."""

    pos: _Pos
    removed: list[int]
    added: list[int]


def _padded(words: Iterable[str]) -> str:
    return f" {' '.join(words)} "


class _Differ:
    """State of one diff_texts call: the units of changed blocks and what became of them."""

    def __init__(self) -> None:
        self.units: dict[int, list[Unit]] = {-1: [], 1: []}  # -1 old side, 1 new side
        self.new_pos: list[_Pos] = []
        self.keys: dict[str, str] = {}
        self.bags: dict[str, Counter[str]] = {}
        self.word_lists: dict[str, list[str]] = {}
        self.changes: list[_Change] = []
        self.found: list[tuple[_Pos, int, Kind, Unit | None, Unit | None, bool]] = []

    def key(self, sign: int, index: int) -> str:
        text = self.units[sign][index].text
        if text not in self.keys:
            self.keys[text] = comparison_key(text)
        return self.keys[text]

    def bag_words(self, sign: int, index: int) -> list[str]:
        key = self.key(sign, index)
        if key not in self.word_lists:
            self.word_lists[key] = WORDS.findall(key)
        return self.word_lists[key]

    def bag(self, sign: int, index: int) -> Counter[str]:
        key = self.key(sign, index)
        if key not in self.bags:
            self.bags[key] = Counter(self.bag_words(sign, index))
        return self.bags[key]

    def emit(
        self, pos: _Pos, kind: Kind, r: int | None, a: int | None, cosmetic: bool
    ) -> None:
        old = None if r is None else self.units[-1][r]
        new = None if a is None else self.units[1][a]
        self.found.append((pos, len(self.found), kind, old, new, cosmetic))

    def add_block_run(
        self, run: Run, old_items: Sequence[Unit], new_items: Sequence[Unit]
    ) -> None:
        """Split a changed run of blocks into units and line those up by comparison key."""
        o0, n0 = len(self.units[-1]), len(self.units[1])
        self.units[-1].extend(u for i in run.removed for u in split_unit(old_items[i]))
        for i in run.added:
            for k, unit in enumerate(split_unit(new_items[i])):
                self.units[1].append(unit)
                self.new_pos.append((i, k, 0))
        old_keys = [self.key(-1, r) for r in range(o0, len(self.units[-1]))]
        new_keys = [self.key(1, a) for a in range(n0, len(self.units[1]))]
        equal, subs = diff_runs(old_keys, new_keys)
        for i, j in equal:
            if self.units[-1][o0 + i].text != self.units[1][n0 + j].text:
                self.emit(self.new_pos[n0 + j], "changed", o0 + i, n0 + j, True)
        for sub in subs:
            at = n0 + sub.pos
            pos = (
                (self.new_pos[at][0], self.new_pos[at][1], -1)
                if at < len(self.units[1])
                else (run.pos + len(run.added), -1, -1)
            )
            self.changes.append(
                _Change(pos, [o0 + i for i in sub.removed], [n0 + j for j in sub.added])
            )

    def drop_moves(self) -> None:
        """A key removed in one place and added in another is a move: not reported."""
        moved = Counter(self.key(-1, r) for c in self.changes for r in c.removed)
        moved &= Counter(self.key(1, a) for c in self.changes for a in c.added)
        if not moved:
            return
        budget = {-1: Counter(moved), 1: Counter(moved)}
        for change in self.changes:
            for sign, items in ((-1, change.removed), (1, change.added)):
                kept = []
                for index in items:
                    if budget[sign][self.key(sign, index)] > 0:
                        budget[sign][self.key(sign, index)] -= 1
                    else:
                        kept.append(index)
                items[:] = kept

    def pair(
        self, removed: list[int], added: list[int], window: int | None, threshold: float
    ) -> None:
        """Greedy best-first pairing by word similarity: each pair is emitted as ``changed`` and
        leaves ``removed`` and ``added``. ``window`` bounds how far off the diagonal to look."""
        scored = []
        for x, r in enumerate(removed):
            for y, a in enumerate(added):
                if window is None or abs(x * len(added) / len(removed) - y) <= window:
                    bag_r, bag_a = self.bag(-1, r), self.bag(1, a)
                    total = bag_r.total() + bag_a.total()
                    score = 2 * (bag_r & bag_a).total() / total if total else 1.0
                    if score >= threshold:
                        scored.append((-score, r, a))
        taken_r: set[int] = set()
        taken_a: set[int] = set()
        for _, r, a in sorted(scored):
            if r not in taken_r and a not in taken_a:
                taken_r.add(r)
                taken_a.add(a)
                self.emit(self.new_pos[a], "changed", r, a, False)
        removed[:] = [r for r in removed if r not in taken_r]
        added[:] = [a for a in added if a not in taken_a]

    def words(self, sign: int, index: int) -> str:
        """The unit's key as bare words, space-separated and padded: for reflow checks."""
        return _padded(self.bag_words(sign, index))

    def settle(self) -> None:
        """Drop reflows, pair edits (within a change, then across), report the rest.

        Reflows are judged on words alone: a block boundary moved inside a sentence changes
        the punctuation at the ends of units but not the words."""
        joined = []
        for change in self.changes:
            old_join = _padded(w for r in change.removed for w in self.bag_words(-1, r))
            new_join = _padded(w for a in change.added for w in self.bag_words(1, a))
            joined.append((old_join, new_join))
            if old_join == new_join:
                change.removed.clear()
                change.added.clear()
            elif change.removed and change.added:
                self.pair(change.removed, change.added, _PAIR_WINDOW, PAIR_THRESHOLD)
        left_r = [r for c in self.changes for r in c.removed]
        left_a = [a for c in self.changes for a in c.added]
        if left_r and left_a and len(left_r) * len(left_a) <= _GLOBAL_PAIR_MAX:
            self.pair(left_r, left_a, None, MOVED_PAIR_THRESHOLD)
            kept_r, kept_a = set(left_r), set(left_a)
            for change in self.changes:
                change.removed[:] = [r for r in change.removed if r in kept_r]
                change.added[:] = [a for a in change.added if a in kept_a]
        for change, (old_join, new_join) in zip(self.changes, joined, strict=True):
            for r in change.removed:
                words = self.words(-1, r)  # unless its words still stand there (reflow)
                if not words.strip() or words not in new_join:
                    self.emit(change.pos, "removed", r, None, not self.key(-1, r))
            for a in change.added:
                words = self.words(1, a)
                if not words.strip() or words not in old_join:
                    self.emit(self.new_pos[a], "added", None, a, not self.key(1, a))


# --------------------------------------------------------------------------- diff_texts


def diff_texts(
    old: str, new: str, matcher: TopicMatcher, *, watched: Collection[str] | None = None
) -> TextDiff:
    """Compare two stored texts clause by clause (see the module docstring); never raises.

    ``watched`` = the topics that make a change an alert; None = every topic of ``matcher``.
    """
    if old == new:
        return TextDiff((), "cosmetic", (), "no changes")
    old_items, new_items = block_units(old), block_units(new)
    _, block_runs = diff_runs([u.text for u in old_items], [u.text for u in new_items])
    differ = _Differ()
    for run in block_runs:
        differ.add_block_run(run, old_items, new_items)
    differ.drop_moves()
    differ.settle()
    found = sorted(differ.found, key=lambda item: item[:2])
    clauses = tuple(
        _clause_diff(matcher, kind, o, n, cos) for _, _, kind, o, n, cos in found
    )
    watched_set = set(matcher.names if watched is None else watched)
    substantive = [c for c in clauses if not c.cosmetic]
    hit = {t for c in substantive for t in c.topics if t in watched_set}
    topics = tuple(t for t in matcher.names if t in hit)
    severity: Severity = (
        "cosmetic" if not substantive else "alert" if topics else "notice"
    )
    # the summary counts clauses; a changed heading counts only when nothing else changed
    sentences = [
        c
        for c, item in zip(clauses, found, strict=True)
        if not c.cosmetic and not any(u is not None and u.is_heading for u in item[3:5])
    ]
    return TextDiff(
        clauses, severity, topics, _summary(sentences or substantive, topics)
    )


def _clause_diff(
    matcher: TopicMatcher,
    kind: Kind,
    old: Unit | None,
    new: Unit | None,
    cosmetic: bool,
) -> ClauseDiff:
    # both sides' topics (a deleted training clause is a training change); a cosmetic
    # change means the same on both sides, so its new side is enough
    sides = (new,) if cosmetic and new is not None else (old, new)
    tagged = {
        t for unit in sides if unit is not None for t in matcher.topics(unit.text)
    }
    topics = tuple(t for t in matcher.names if t in tagged)
    old_text = None if old is None else old.text
    new_text = None if new is None else new.text
    if old_text is not None and new_text is not None:
        ops = word_diff(old_text, new_text)
    else:
        ops = ((-1, old_text),) if old_text is not None else ((1, new_text or ""),)
    heading = new.heading if new is not None else old.heading if old is not None else ()
    return ClauseDiff(kind, heading, old_text, new_text, topics, ops, cosmetic)


# --------------------------------------------------------------------------- summaries


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _summary(substantive: Sequence[ClauseDiff], topics: Sequence[str]) -> str:
    """The part of summarize()'s line after the colon."""
    if not substantive:
        return "cosmetic changes only"
    listed = f" ({', '.join(topics)})" if topics else ""
    if len(substantive) == 1:
        kind = substantive[0].kind
        what = (
            f"{topics[0]} clause {kind}"
            if len(topics) == 1
            else f"1 clause {kind}{listed}"
        )
    else:
        counts = Counter(c.kind for c in substantive)
        parts = [
            f"{counts[k]} {k}" for k in ("changed", "added", "removed") if counts[k]
        ]
        number, first = parts[0].split(" ")
        parts[0] = f"{number} clause{'' if number == '1' else 's'} {first}"
        what = ", ".join(parts) + listed
    sections = list(dict.fromkeys(c.heading for c in substantive))
    main = next(
        (c.heading for c in substantive if set(c.topics) & set(topics)), sections[0]
    )
    others = len(sections) - 1
    tail = f" and {others} other section{'s' * (others > 1)}" if others else ""
    if main:
        removal = len(substantive) == 1 and substantive[0].kind == "removed"
        room = max(20, _SUMMARY_PART - len(what) - len(tail) - 9)
        where = f' {"from" if removal else "in"} "{_clip(main[-1], room)}"{tail}'
    else:
        where = f" in {len(sections)} sections" if others else ""
    return _clip(what + where, _SUMMARY_PART)


def summarize(doc: Document, diff: TextDiff) -> str:
    """One line for a notification subject, ``<display name>: <diff.summary>``, at most
    SUMMARY_LIMIT characters."""
    return _clip(f"{doc.display_name}: {diff.summary}", SUMMARY_LIMIT)
