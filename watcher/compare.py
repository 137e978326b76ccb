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
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from diff_match_patch import diff_match_patch

from watcher.models import ClauseDiff, Document, Severity, TextDiff
from watcher.text import TopicMatcher, normalise, parse_blocks, split_sentences

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

# --------------------------------------------------------------------------- cosmetic rules


class CosmeticRule(NamedTuple):
    """One normalisation of the comparison key: text that differs only here is cosmetic."""

    name: str
    description: str
    apply: Callable[[str], str]


_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_DATE = (
    rf"(?:{_MONTH}\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}|\d{{1,2}}(?:st|nd|rd|th)?\s+{_MONTH},?\s+\d{{4}}"
    rf"|{_MONTH}\s+\d{{4}}|\d{{4}}-\d{{2}}-\d{{2}}|\d{{1,2}}[/.]\d{{1,2}}[/.]\d{{2,4}})"
)
_WEEKDAY = r"(?:(?:mon|tues|wednes|thurs|fri|satur|sun)day,?\s+)?"
_STAMP = (
    r"(?:(?:last|date)\s+)?(?:updated|modified|revised|reviewed|edited|effective|published"
    r"|posted|dated|version)(?:\s+(?:date|on|as of|from))?\s*:?\s*"
)
_AGO = (
    r"(?:\b(?:updated|edited|modified|revised|posted|published)\s+)?"
    r"(?:(?:over|about|almost|nearly|less than|more than)\s+)?(?:a|an|one|a few|\d+)\s+"
    r"(?:second|minute|hour|day|week|month|year)s?\s+ago\b"
    r"|\b(?:updated|edited|modified)\s+(?:today|yesterday|just now)\b"
)
_LINK = (
    r"(?<![\w@./-])(?:https?://)?(?:www\.)?(?P<host>(?:[a-z0-9-]+\.)+)[a-z]{2,}(?![\w-])"
    r"(?P<path>/[^\s?#)\]]*)?(?:[?#][^\s)\]]*)?"
)
_ENUMERATOR = (
    r"^(?:(?:section|article|clause|part|§)\s*)?"
    r"(?:\(?(?:\d+(?:\.\d+)*|[a-z]|[ivxlc]{1,6})\)|(?:\d+(?:\.\d+)*|[a-z]|[ivxlc]{1,6})\.|\d+(?:\.\d+)+)"
    r"(?=\s)\s*"
)
_REFERENCE = r"\b(sections?|clauses?|articles?|paragraphs?|§)\s*\d+(?:\.\d+)*(?:\s*\([a-z0-9]+\))*"


def _link(match: re.Match[str]) -> str:
    return match.group("host").rstrip(".") + (match.group("path") or "").rstrip("/")


def _copyright(match: re.Match[str]) -> str:
    return re.sub(r"\b(?:19|20)\d\d\b", "", match.group())


def _spacing(text: str) -> str:
    return _SPACE_BEFORE.sub("", " ".join(text.split())).replace("( ", "(")


_SPACE_BEFORE = re.compile(r" (?=[.,;:!?)])")


def _rule(
    pattern: str, replacement: str | Callable[[re.Match[str]], str], trigger: str
) -> Callable[[str], str]:
    """Substitute ``pattern``; skipped (cheaply) when the ``trigger`` regex finds nothing."""
    compiled, guard = re.compile(pattern), re.compile(trigger)

    def apply(text: str) -> str:
        return compiled.sub(replacement, text) if guard.search(text) else text

    return apply


# Applied in order to build a unit's comparison key. Two units with equal keys differ only
# cosmetically. Add a rule here (with a compare_cases.yaml case), nowhere else.
COSMETIC_RULES: tuple[CosmeticRule, ...] = (
    CosmeticRule("typography", "NFKC, straight quotes and dashes, no invisible characters, collapsed spaces", normalise),
    CosmeticRule("case", "letter case ('Registration and Access' = 'Registration and access')", str.casefold),
    CosmeticRule("markup", "Markdown emphasis markers and backslash escapes", _rule(r"\\(?=[^\w\s])|\*+|(?<!\w)_+|_+(?!\w)", "", r"[*_\\]")),
    CosmeticRule("links", "URLs and domains: scheme, www, TLD (civitai.green = civitai.com), query, fragment, final /", _rule(_LINK, _link, r"[a-z0-9-]\.[a-z]{2}")),
    CosmeticRule("copyright", "years after ©, (c) or 'copyright' (footer year bumps)", _rule(r"(?:©|\(c\)|\bcopyright\b).{0,60}", _copyright, r"©|\(c\)|copyright")),
    CosmeticRule("date_stamps", "'Last updated: May 1, 2026' and a unit that is only a date", _rule(rf"{_STAMP}{_WEEKDAY}{_DATE}|^{_WEEKDAY}{_DATE}\.?$", "", r"\d\d")),
    CosmeticRule("relative_times", "'Updated over a week ago', 'edited today'", _rule(_AGO, "", r"\bago\b|today|yesterday|just now")),
    CosmeticRule("numbering", "leading enumerators ('4. Rights' = '5. Rights', '(c)', '8.7')", _rule(_ENUMERATOR, "", r"^\(?[\divxlc§a-z]")),
    CosmeticRule("references", "section numbers in cross-references ('see Section 4')", _rule(_REFERENCE, r"\1 #", r"section|clause|article|paragraph|§")),
    CosmeticRule("spacing", "spaces left by the rules above, space before punctuation", _spacing),
    CosmeticRule("final_punctuation", "a full stop, comma, colon or semicolon ending the unit", _rule(r"[.,:;]+$", "", r"[.,:;]$")),
)  # fmt: skip


def comparison_key(text: str) -> str:
    """``text`` with every COSMETIC_RULES rule applied: equal keys mean a cosmetic difference."""
    for rule in COSMETIC_RULES:
        text = rule.apply(text)
    return text


# --------------------------------------------------------------------------- units


@dataclass(frozen=True, slots=True)
class Unit:
    """A heading or a clause of a stored text: the thing that is diffed and quoted."""

    heading: tuple[str, ...]  # heading path; a heading unit's path ends with itself
    text: str  # text.normalise'd, case kept
    block: int  # index of its block (a heading: of the block that follows it)
    is_heading: bool = False


def _items(stored: str) -> list[Unit]:
    """Headings and whole blocks (text not yet normalised), in reading order."""
    items: list[Unit] = []
    path: tuple[str, ...] = ()
    for index, block in enumerate(parse_blocks(stored)):
        if block.heading != path:
            common = 0
            while (
                common < min(len(path), len(block.heading))
                and path[common] == block.heading[common]
            ):
                common += 1
            for level in range(common, len(block.heading)):
                if block.heading[level].strip():
                    items.append(
                        Unit(
                            block.heading[: level + 1],
                            block.heading[level],
                            index,
                            True,
                        )
                    )
            path = block.heading
        items.append(Unit(block.heading, block.text, index))
    return items


def _split(item: Unit) -> list[Unit]:
    if item.is_heading:
        return [Unit(item.heading, normalise(item.text), item.block, True)]
    return [
        Unit(item.heading, s, item.block) for s in split_sentences(normalise(item.text))
    ]


def split_units(stored: str) -> tuple[Unit, ...]:
    """Headings and clauses (``text.split_sentences``) of a stored text, in reading order."""
    return tuple(unit for item in _items(stored) for unit in _split(item))


# --------------------------------------------------------------------------- diff machinery


def _symbol(index: int) -> str:
    """The index-th character usable by diff-match-patch (skipping surrogates)."""
    code = index + 0x100
    return chr(code + 0x800 if code >= 0xD800 else code)


def _encode(items: Sequence[str], table: dict[str, str]) -> str:
    """One character per item; ``table`` maps each distinct item to its character."""
    chars = []
    for item in items:
        char = table.get(item)
        if char is None:
            char = table[item] = _symbol(len(table))
        chars.append(char)
    return "".join(chars)


@dataclass
class _Run:
    """Old entries ``removed`` became new entries ``added`` (indices), before new entry ``pos``."""

    pos: int
    removed: list[int] = field(default_factory=list)
    added: list[int] = field(default_factory=list)


def _runs(
    old: Sequence[str], new: Sequence[str]
) -> tuple[list[tuple[int, int]], list[_Run]]:
    """Diff two string sequences (one diff-match-patch character per distinct string): the
    (old, new) index pairs that stay equal, and the changed runs between them."""
    table: dict[str, str] = {}
    encoded = [_encode(old, table), _encode(new, table)]
    if set(encoded[0]).isdisjoint(
        encoded[1]
    ):  # nothing in common: skip the O(N*D) bisect
        diffs = [(-1, encoded[0]), (1, encoded[1])]
    else:
        engine = diff_match_patch()
        engine.Diff_Timeout = 2.0
        diffs = engine.diff_main(encoded[0], encoded[1], False)
    equal: list[tuple[int, int]] = []
    runs: list[_Run] = []
    current: _Run | None = None
    i = j = 0
    for op, chars in diffs:
        count = len(chars)
        if op == 0:
            equal.extend((i + k, j + k) for k in range(count))
            i, j, current = i + count, j + count, None
            continue
        if current is None:
            current = _Run(j)
            runs.append(current)
        if op < 0:
            current.removed.extend(range(i, i + count))
            i += count
        else:
            current.added.extend(range(j, j + count))
            j += count
    return equal, runs


_TOKEN = re.compile(r"\w+|\s+|[^\w\s]")
_WORDS = re.compile(r"\w+")


def word_diff(old: str, new: str) -> tuple[tuple[int, str], ...]:
    """Word-level diff: (-1 removed | 0 kept | 1 added, text) runs; never splits a word.

    Texts that share under a fifth of their words are shown as one removal and one addition
    (a word-by-word diff of them is slow to compute and useless to read)."""
    old_words, new_words = Counter(_WORDS.findall(old)), Counter(_WORDS.findall(new))
    total = old_words.total() + new_words.total()
    if total and 2 * (old_words & new_words).total() < 0.2 * total:
        return tuple((op, text) for op, text in ((-1, old), (1, new)) if text)
    table: dict[str, str] = {}
    encoded = [_encode(_TOKEN.findall(old), table), _encode(_TOKEN.findall(new), table)]
    engine = diff_match_patch()
    diffs = engine.diff_main(encoded[0], encoded[1], False)
    engine.diff_cleanupSemantic(diffs)
    decode = {char: token for token, char in table.items()}
    ops: list[tuple[int, str]] = []
    for op, chars in diffs:
        text = "".join([decode[char] for char in chars])
        if ops and ops[-1][0] == op:
            ops[-1] = (op, ops[-1][1] + text)
        elif text:
            ops.append((op, text))
    return tuple(ops)


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
            self.word_lists[key] = _WORDS.findall(key)
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
        self, run: _Run, old_items: Sequence[Unit], new_items: Sequence[Unit]
    ) -> None:
        """Split a changed run of blocks into units and line those up by comparison key."""
        o0, n0 = len(self.units[-1]), len(self.units[1])
        self.units[-1].extend(u for i in run.removed for u in _split(old_items[i]))
        for i in run.added:
            for k, unit in enumerate(_split(new_items[i])):
                self.units[1].append(unit)
                self.new_pos.append((i, k, 0))
        old_keys = [self.key(-1, r) for r in range(o0, len(self.units[-1]))]
        new_keys = [self.key(1, a) for a in range(n0, len(self.units[1]))]
        equal, subs = _runs(old_keys, new_keys)
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
    old_items, new_items = _items(old), _items(new)
    _, block_runs = _runs([u.text for u in old_items], [u.text for u in new_items])
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
