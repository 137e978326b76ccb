"""Markdown (GitBook's ``.md`` twins, READMEs): a line-based reader into blocks.

- Headings: ATX (``## Title ##``) and setext (``Title`` over ``===`` / ``---``) set the path;
  a heading with nothing under it stays as a line of text, as in HTML.
- Blocks: paragraphs (soft-wrapped lines joined), list items (each its own block, nested ones
  too; ``[ ]``/``[x]`` boxes dropped), table rows (cells joined " | ", separator rows dropped),
  blockquotes (read as Markdown), fenced code (one block).
- Inline markup is stripped: ``[text](url)`` and ``[text][ref]`` -> text, images and footnote
  marks dropped, emphasis/strike/code marks dropped, backslash escapes resolved, HTML tags
  dropped, entities decoded. Reference definitions and thematic breaks are dropped.
- Dropped before reading: YAML front matter, GitBook template tags (``{% hint %}``,
  ``{% endhint %}``, ``{% tabs %}``...: the text between them is kept).
- A block of raw HTML (a line opening with ``<table``, ``<figure``, ``<details``...) up to the
  next blank line is read by the HTML walker, under the current heading path.
"""

from __future__ import annotations

import html
import re
from typing import ClassVar

from watcher.extract.base import clean_text
from watcher.extract.html import html_blocks
from watcher.extract.outline import Outline
from watcher.models import Block, Document, FetchResult

__all__ = ["MarkdownExtractor", "markdown_blocks"]

_GITBOOK_TAG = re.compile(r"\{%-?\s*[a-z].*?-?%\}")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_ATX = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
_SETEXT = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
_HR = re.compile(r"^ {0,3}([-*_])(?:[ \t]*\1){2,}[ \t]*$")
_QUOTE = re.compile(r"^ {0,3}> ?")
_LIST_ITEM = re.compile(r"^\s*(?:[-*+]|\d{1,9}[.)])[ \t]+(?:\[[ xX]\][ \t]+)?(.*)$")
_REF_DEF = re.compile(r"^ {0,3}\[[^\]^]+\]:\s*\S+")
_TABLE_SEP = re.compile(r"^\s*\|?\s*:?-+:?\s*(?:\|\s*:?-+:?\s*)*\|?\s*$")
_CELL_SPLIT = re.compile(r"(?<!\\)\|")
_HTML_BLOCK = re.compile(
    r"^ {0,3}<(?:!--|/?(?:table|thead|tbody|tfoot|tr|td|th|caption|div|figure|figcaption|"
    r"details|summary|dl|dt|dd|ul|ol|li|p|blockquote|section|article|aside|header|footer|"
    r"nav|main|center|h[1-6]|picture|img|iframe|video|audio|embed|object|hr|pre|script|"
    r"style|noscript|form)\b)",
    re.IGNORECASE,
)

_ESCAPED = re.compile(r"\\([!-/:-@\[-`{-~])")
_CODE_SPAN = re.compile(r"(`+)(.+?)\1")
_IMAGE = re.compile(r"!\[[^\]]*\](?:\((?:[^()]|\([^()]*\))*\)|\[[^\]]*\])")
_FOOTNOTE_REF = re.compile(r"\[\^[^\]]+\]")
_LINK = re.compile(r"\[([^\]]*)\](?:\((?:[^()]|\([^()]*\))*\)|\[[^\]]*\])")
_AUTOLINK = re.compile(r"<((?:https?|mailto|ftp):[^>\s]+|[^@\s<>]+@[^@\s<>]+)>")
_BR = re.compile(r"<br\s*/?>", re.IGNORECASE)
_TAG = re.compile(r"<!--.*?-->|</?[A-Za-z][^<>]*>", re.DOTALL)
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_EM_STAR = re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])")
_EM_UNDERSCORE = re.compile(r"(?<![\w_])_(?=[^\s_])(.+?)(?<=[^\s_])_(?![\w_])")
# Escaped and code characters are parked in Supplementary Private Use Area-A while the
# markup is stripped, so "\*" or "`a_b_c`" are never read as emphasis.
_PARK = 0xF0000
_PARKED = re.compile("[\U000f0021-\U000f007e]")


def _park(text: str) -> str:
    return "".join(chr(_PARK + ord(c)) if "!" <= c <= "~" else c for c in text)


def _inline(text: str) -> str:
    """Text of one Markdown line or block with the inline markup stripped."""
    text = _ESCAPED.sub(lambda m: _park(m.group(1)), text)
    text = _CODE_SPAN.sub(lambda m: _park(m.group(2)), text)
    text = _IMAGE.sub("", text)
    text = _FOOTNOTE_REF.sub("", text)
    previous = None
    while previous != text:  # [a [b](x)](y), nested emphasis
        previous = text
        text = _LINK.sub(r"\1", text)
        text = _STRONG.sub(r"\2", text)
    text = _AUTOLINK.sub(r"\1", text)
    text = _BR.sub(" ", text)
    text = _TAG.sub("", text)
    text = _STRIKE.sub(r"\1", text)
    text = _EM_STAR.sub(r"\1", text)
    text = _EM_UNDERSCORE.sub(r"\1", text)
    text = html.unescape(text)
    return _PARKED.sub(lambda m: chr(ord(m.group(0)) - _PARK), text)


class _Reader:
    def __init__(self) -> None:
        self.outline = Outline()
        self._para: list[str] = []
        self._kind = "p"  # "p" or "li": what the lines in _para are

    def _add(self, text: str) -> None:
        text = clean_text(text)
        if text:
            self.outline.add(text)

    def _heading(self, level: int, text: str) -> None:
        text = clean_text(_inline(text))
        if text:
            self.outline.heading(level, text)

    def _flush(self) -> None:
        if self._para:
            self._add(_inline(" ".join(self._para)))
            self._para = []
        self._kind = "p"

    def feed(self, lines: list[str]) -> None:
        i, count = 0, len(lines)
        while i < count:
            line = lines[i]
            i += 1
            if not line.strip():
                self._flush()
            elif fence := _FENCE.match(line):
                self._flush()
                code: list[str] = []
                while i < count and not lines[i].lstrip().startswith(fence.group(1)):
                    code.append(lines[i])
                    i += 1
                i += 1
                self._add(" ".join(code))
            elif _REF_DEF.match(line):
                self._flush()
            elif heading := _ATX.match(line):
                self._flush()
                self._heading(len(heading.group(1)), heading.group(2) or "")
            elif self._para and self._kind == "p" and (setext := _SETEXT.match(line)):
                text = " ".join(self._para)
                self._para = []
                self._heading(1 if setext.group(1)[0] == "=" else 2, text)
            elif _HR.match(line):
                self._flush()
            elif _QUOTE.match(line):
                self._flush()
                inner = [_QUOTE.sub("", line, count=1)]
                while i < count and _QUOTE.match(lines[i]):
                    inner.append(_QUOTE.sub("", lines[i], count=1))
                    i += 1
                self.feed(inner)
                self._flush()
            elif _HTML_BLOCK.match(line):
                self._flush()
                chunk = [line]
                while i < count and lines[i].strip():
                    chunk.append(lines[i])
                    i += 1
                self._html("\n".join(chunk))
            elif "|" in line and (
                line.lstrip().startswith("|")
                or (i < count and _TABLE_SEP.match(lines[i]) and "-" in lines[i])
            ):
                self._flush()
                i -= 1
                while i < count and "|" in lines[i] and lines[i].strip():
                    if not _TABLE_SEP.match(lines[i]):
                        self._row(lines[i])
                    i += 1
            elif item := _LIST_ITEM.match(line):
                self._flush()
                self._para, self._kind = [item.group(1)], "li"
            else:
                self._para.append(line.strip())
        self._flush()

    def _row(self, line: str) -> None:
        line = line.strip()
        line = line.removeprefix("|")
        if line.endswith("|") and not line.endswith("\\|"):
            line = line[:-1]
        cells = [clean_text(_inline(cell)) for cell in _CELL_SPLIT.split(line)]
        while cells and not cells[-1]:
            cells.pop()
        if any(cells):
            self._add(" | ".join(cells))

    def _html(self, fragment: str) -> None:
        self.outline.extend(
            html_blocks(fragment, page=False, heading=self.outline.path)
        )


def _drop_front_matter(lines: list[str]) -> list[str]:
    if lines and lines[0].strip() == "---":
        for end in range(1, min(len(lines), 200)):
            if lines[end].strip() in ("---", "..."):
                return lines[end + 1 :]
    return lines


def markdown_blocks(text: str) -> list[Block]:
    """Blocks of a Markdown document (see the module docstring)."""
    text = _GITBOOK_TAG.sub("", text.replace("\r\n", "\n").replace("\r", "\n"))
    reader = _Reader()
    reader.feed(_drop_front_matter(text.split("\n")))
    return reader.outline.close()


class MarkdownExtractor:
    """``format: markdown``."""

    kind: ClassVar[str] = "markdown"

    def __init__(self, doc: Document) -> None:
        self._doc = doc

    def blocks(self, fetched: FetchResult) -> list[Block]:
        return markdown_blocks(fetched.text)
