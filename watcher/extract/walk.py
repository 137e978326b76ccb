"""DOM to blocks: one pass over a parsed HTML tree, without recursion.

``walk(roots, skip=..., role_levels=..., heading=...)`` returns the ``Block``s under ``roots`` in
document order. Rules, as a reader of the page sees it:

- h1-h6 (and ``[role=heading]`` with its ``aria-level``) set the heading path (``Outline``).
- A short ``<p>`` whose text is all bold (``<p><strong>Stealth</strong></p>``), outside lists and
  tables, is a heading one level below the last real heading, unless it reads as a statement
  ("Effective date: June 1", or ends in a full stop).
- Blocks: p, li, dt+dd (one block, "term: definition"), tr (cells joined " | "), blockquote,
  pre, figcaption, and text directly inside div/section/article/... . Every block-level tag
  ends the text before it, so a nested list never repeats inside its parent item.
- Inline text is joined as the browser joins it; two inline elements that touch get a space
  only between two word characters (``<span>word1</span><span>word2</span>``). ``<br>`` is a
  space, ``<br><br>`` ends a block. Text is cleaned by ``base.clean_text``.
- Subtrees in ``DROP_TAGS`` or whose node id (``mem_id``) is in ``skip`` are not read.

The tree is only read; a 5 MB page is walked in one pass with O(depth) extra state.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Iterator, Mapping

from selectolax.lexbor import LexborNode

from watcher.extract.base import clean_text
from watcher.extract.outline import Outline
from watcher.models import Block

__all__ = ["BLOCK_TAGS", "DROP_TAGS", "walk"]


def _tags(names: str) -> frozenset[str]:
    return frozenset(names.split())


# Never text a reader sees: code, media, embedded documents, form controls.
DROP_TAGS = _tags(
    "script style template noscript svg math iframe frame object embed canvas audio video "
    "input select option textarea button head title meta link"
)
# Tags that start and end a block (HTML's block-level elements, plus table parts).
BLOCK_TAGS = _tags(
    "address article aside blockquote body caption center dd details dialog dir div dl dt "
    "fieldset figcaption figure footer form h1 h2 h3 h4 h5 h6 header hgroup hr html legend li "
    "listing main menu nav ol p pre search section summary table tbody td tfoot th thead tr ul "
    "xmp"
)
_HEADING_LEVEL = {f"h{n}": n for n in range(1, 7)}
_BOLD_TAGS = frozenset({"b", "strong"})
# A bold paragraph inside one of these is emphasis, not a heading.
_NESTING_TAGS = frozenset({"li", "dd", "dt", "td", "th", "blockquote", "caption"})
# A table row holding one of these is page layout, not data: its cells are read as blocks.
_LAYOUT_MARKERS = "h1, h2, h3, h4, h5, h6, table, [role=heading]"
# Rows asked one by one (a css_first each, 3-5 us) before one search of the whole root for the
# layout rows (~0.1-0.3 ms on a large page) costs less: few pages have tables this long.
_ROWS_ASKED_ALONE = 32
# Longest all-bold paragraph still read as a heading; longer ones are emphasised prose.
_PSEUDO_HEADING_MAX = 80
_BREAK = "\x00"  # a <br>; the parser never leaves NUL in text, so it cannot collide
_PARAGRAPH_BREAK = re.compile("\x00[\\s\x00]*\x00")
_PERMALINK = re.compile("\\s*[#\u00b6\U0001f517]+$")  # "Title ¶": anchor glyphs

# What an entered element does when it is left.
_INLINE, _BOLD, _BLOCK, _NESTED, _SPACE, _HEADING, _ROW, _CELL = range(8)


class _Walker:
    def __init__(
        self,
        skip: Collection[int],
        role_levels: Mapping[int, int],
        heading: tuple[str, ...],
    ) -> None:
        self._outline = Outline(heading)
        self._skip = skip
        self._role_levels = role_levels
        self._parts: list[str] = []  # raw text of the block, heading or cell being read
        self._mode = _BLOCK  # or _HEADING (in a heading), _ROW (in a table row)
        self._heading_level = 0
        self._cells: list[str] = []
        self._in_cell = False
        self._nested = 0
        self._bold = 0
        self._saw_bold = self._saw_plain = False
        # an inline element just closed / then another opened: maybe a space between them
        self._gap = self._gap_open = False
        self._dt: str | None = None
        self._dt_used = False
        self._root: LexborNode | None = None
        self._rows_asked = 0
        self._layout_rows: set[int] | None = None  # of self._root, once searched

    def run(self, roots: Iterable[LexborNode]) -> list[Block]:
        for root in roots:
            self._flush(None)
            self._root, self._rows_asked, self._layout_rows = root, 0, None
            self._walk(root)
        self._flush(None)
        self._end_dt()
        return self._outline.close()

    def _walk(self, root: LexborNode) -> None:
        role = self._enter(root)
        if role is None:
            return
        stack: list[tuple[Iterator[LexborNode], int, str]] = [
            (root.iter(include_text=True), role, root.tag or "")
        ]
        while stack:
            children, role, tag = stack[-1]
            for child in children:
                if child.is_text_node:
                    self._text(child.text_content or "")
                elif child.is_element_node:
                    child_role = self._enter(child)
                    if child_role is not None:
                        stack.append(
                            (child.iter(include_text=True), child_role, child.tag or "")
                        )
                        break
            else:
                stack.pop()
                self._leave(role, tag)

    def _enter(self, node: LexborNode) -> int | None:
        tag = node.tag or ""
        if tag in DROP_TAGS or node.mem_id in self._skip:
            return None
        if tag == "br":
            self._parts.append(_BREAK)
            return None
        if self._mode == _ROW and tag in ("td", "th"):
            self._end_cell()
            self._in_cell = True
            return _CELL
        if self._mode != _BLOCK:
            if tag in BLOCK_TAGS:
                self._space()
                return _SPACE
            return self._inline(tag)
        level = _HEADING_LEVEL.get(tag) or (
            self._role_levels.get(node.mem_id) if self._role_levels else None
        )
        if level:
            self._flush(None)
            self._mode, self._heading_level = _HEADING, level
            return _HEADING
        if tag == "tr" and not self._layout_row(node):
            self._flush(None)
            self._mode, self._cells, self._in_cell = _ROW, [], False
            return _ROW
        if tag in BLOCK_TAGS:
            self._flush(None)
            if tag in _NESTING_TAGS:
                self._nested += 1
                return _NESTED
            return _BLOCK
        return self._inline(tag)

    def _layout_row(self, row: LexborNode) -> bool:
        """Whether table row ``row`` holds a heading or a table (is page layout, not data)."""
        if self._layout_rows is None and self._rows_asked < _ROWS_ASKED_ALONE:
            self._rows_asked += 1
            return row.css_first(_LAYOUT_MARKERS) is not None
        if self._layout_rows is None:
            assert self._root is not None
            self._layout_rows = _rows_holding(self._root, _LAYOUT_MARKERS)
        return row.mem_id in self._layout_rows

    def _inline(self, tag: str) -> int:
        if self._gap:
            self._gap_open = True
        if tag in _BOLD_TAGS:
            self._bold += 1
            return _BOLD
        return _INLINE

    def _leave(self, role: int, tag: str) -> None:
        if role in (_INLINE, _CELL):
            self._gap = True
        elif role == _BOLD:
            self._bold -= 1
            self._gap = True
        elif role == _SPACE:
            self._space()
        elif role == _BLOCK:
            self._flush(tag)
        elif role == _NESTED:
            self._flush(tag)
            self._nested -= 1
        elif role == _HEADING:
            self._end_heading()
        elif role == _ROW:
            self._end_row()

    def _text(self, text: str) -> None:
        if not text:
            return
        parts = self._parts
        if self._gap_open and parts and parts[-1][-1:].isalnum() and text[0].isalnum():
            parts.append(" ")
        self._gap = self._gap_open = False
        parts.append(text)
        if self._mode == _BLOCK and not text.isspace():
            if self._bold:
                self._saw_bold = True
            else:
                self._saw_plain = True

    def _space(self) -> None:
        if self._parts:
            self._parts.append(" ")
        self._gap = self._gap_open = False

    def _take(self) -> str:
        raw = "".join(self._parts)
        self._parts.clear()
        self._gap = self._gap_open = False
        return raw

    def _flush(self, tag: str | None) -> None:
        """End the block being read; ``tag`` is the element that closed it (None: a child opened)."""
        saw_bold, saw_plain = self._saw_bold, self._saw_plain
        self._saw_bold = self._saw_plain = False
        if not self._parts:
            return
        raw = self._take()
        if _BREAK in raw:
            cleaned = (
                clean_text(p.replace(_BREAK, " ")) for p in _PARAGRAPH_BREAK.split(raw)
            )
            texts = [t for t in cleaned if t]
            if not texts:
                return
        else:
            text = clean_text(raw)
            if not text:
                return
            texts = [text]
        if (
            tag == "p"
            and len(texts) == 1
            and saw_bold
            and not saw_plain
            and not self._nested
            and _looks_like_heading(texts[0])
        ):
            self._end_dt()
            self._outline.heading(self._outline.real_level() + 1, texts[0], pseudo=True)
            return
        for text in texts:
            self._emit(text, tag)

    def _emit(self, text: str, tag: str | None) -> None:
        if tag == "dt":
            self._end_dt()
            self._dt, self._dt_used = text, False
            return
        if self._dt is not None:
            if tag == "dd":
                sep = " " if self._dt[-1] in ":.?!" else ": "
                text, self._dt_used = f"{self._dt}{sep}{text}", True
            else:
                self._end_dt()
        self._outline.add(text)

    def _end_dt(self) -> None:
        if self._dt is not None and not self._dt_used:
            self._outline.add(self._dt)
        self._dt = None

    def _end_heading(self) -> None:
        self._mode = _BLOCK
        text = _PERMALINK.sub("", clean_text(self._take().replace(_BREAK, " ")))
        if text:
            self._end_dt()
            self._outline.heading(self._heading_level, text)

    def _end_cell(self) -> None:
        if self._in_cell:
            self._cells.append(self._take())
        else:
            self._take()  # whitespace between <tr> and its first cell
        self._in_cell = False

    def _end_row(self) -> None:
        self._end_cell()
        self._mode = _BLOCK
        cells = [clean_text(cell.replace(_BREAK, " ")) for cell in self._cells]
        while cells and not cells[-1]:
            cells.pop()
        if any(cells):
            self._emit(" | ".join(cells), "tr")


def _rows_holding(root: LexborNode, selector: str) -> set[int]:
    """``mem_id``s of the ``tr``s in ``root`` (itself included) that hold a ``selector`` match
    or are one: for every row at once, whether ``row.css_first(selector)`` finds anything."""
    root_id = root.mem_id
    rows: set[int] = set()
    seen: set[int] = set()  # a node seen had its ancestors up to root seen too
    for match in root.css(selector):
        node: LexborNode | None = match
        while node is not None and node.mem_id not in seen:
            seen.add(node.mem_id)
            if node.tag == "tr":
                rows.add(node.mem_id)
            node = None if node.mem_id == root_id else node.parent
    return rows


def _looks_like_heading(text: str) -> bool:
    return (
        len(text) <= _PSEUDO_HEADING_MAX
        and text[-1] not in ".!?;,"
        and ":" not in text[:-1]  # "Effective date: June 1" is a statement
        and any(c.isalpha() for c in text)
    )


def walk(
    roots: Iterable[LexborNode],
    *,
    skip: Collection[int] = frozenset(),
    role_levels: Mapping[int, int] | None = None,
    heading: tuple[str, ...] = (),
) -> list[Block]:
    """Blocks under ``roots`` (walked in order, one heading path across them).

    ``skip``: ``mem_id``s of subtrees to leave out; ``role_levels``: ``mem_id`` -> level of
    ``[role=heading]`` elements; ``heading``: a path every block starts with (a JSON title,
    the Markdown headings above an HTML block); it is never emitted as a line of its own.
    """
    return _Walker(skip, role_levels or {}, heading).run(roots)
