"""Plain text: paragraphs separated by blank lines, each one block; no headings.

Lines inside a paragraph are joined (hard-wrapped text reads as one block), so re-wrapping a
paragraph does not change the extracted text.
"""

from __future__ import annotations

import re
from typing import ClassVar

from watcher.extract.base import clean_text
from watcher.models import Block, Document, FetchResult

__all__ = ["TextExtractor", "text_blocks"]

_BLANK_LINE = re.compile(r"\n[ \t\f\v\u00a0]*\n")


def text_blocks(text: str, *, heading: tuple[str, ...] = ()) -> list[Block]:
    """One block per blank-line separated paragraph, each under ``heading``."""
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    blocks: list[Block] = []
    for paragraph in _BLANK_LINE.split(text):
        cleaned = clean_text(paragraph)
        if cleaned:
            blocks.append(Block(heading, cleaned))
    return blocks


class TextExtractor:
    """``format: text``."""

    kind: ClassVar[str] = "text"

    def __init__(self, doc: Document) -> None:
        self._doc = doc

    def blocks(self, fetched: FetchResult) -> list[Block]:
        return text_blocks(fetched.text)
