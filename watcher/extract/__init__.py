"""The extract stage: a fetched body becomes clean, heading-tagged, topic-tagged text.

``extract(doc, fetched) -> Extracted`` is the one entry point:

1. ``EXTRACTORS[doc.format]`` reads the body into ``Block``s (see each module: ``html``,
   ``json_field``, ``markdown``, ``plain``). Every block's text is ``text.normalise``d.
   ``doc.select``/``doc.remove`` apply to HTML: a page, or the HTML held in a JSON field.
2. ``doc.remove_text`` regexes (case-insensitive) delete what they match from each block; a
   block left empty is dropped ("Updated over a week ago", "Did this answer your question?").
   They apply to block text, not to heading paths (``remove``).
3. ``.text = text.render_blocks(blocks)`` (what is stored and hashed) and ``.text_sha256``.
   Clauses and their topics are not made here: a check only needs them for the few blocks
   that changed (``compare``), and ``watcher extract`` asks ``text.split_clauses`` itself.
4. ``doc.version_marker`` is searched case-insensitively in ``.text``; its group 1 (or the whole
   match when the pattern has no group, or group 1 did not take part) is ``.version_date``.

It raises ``ExtractError`` and nothing else: a selector that matches nothing ("selector broke:
none of [...] matched"), text shorter than ``doc.min_chars`` ("selector broke: 123 chars
extracted, expected at least 2000"), no text at all, a body that cannot be read as its
format, an invalid selector or regex. There is never an empty ``Extracted``.

``EXTRACTORS`` is an explicit dict from ``Document.format`` to extractor class; a new kind (a
headless "browser" one, say) is one module and one line here.
"""

from __future__ import annotations

import logging
import re

from watcher.errors import ExtractError
from watcher.extract.base import Extractor
from watcher.extract.html import HtmlExtractor
from watcher.extract.json_field import JsonExtractor
from watcher.extract.markdown import MarkdownExtractor
from watcher.extract.plain import TextExtractor
from watcher.extract.remove import remove_text
from watcher.models import Document, Extracted, FetchResult
from watcher.text import render_blocks, sha256_text

__all__ = [
    "EXTRACTORS",
    "Extractor",
    "HtmlExtractor",
    "JsonExtractor",
    "MarkdownExtractor",
    "TextExtractor",
    "extract",
]

logger = logging.getLogger(__name__)

# Document.format -> extractor. A future "browser" kind (a headless render) is one more line.
EXTRACTORS: dict[str, type[Extractor]] = {
    "html": HtmlExtractor,
    "json": JsonExtractor,
    "markdown": MarkdownExtractor,
    "text": TextExtractor,
}


def _compile(pattern: str, what: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, re.IGNORECASE)
    except re.error as exc:
        raise ExtractError(f"invalid {what} regex {pattern!r}: {exc}") from exc


def _version_date(marker: str | None, text: str) -> str | None:
    if not marker:
        return None
    match = _compile(marker, "version_marker").search(text)
    if match is None:
        return None
    found = match.group(1) if match.re.groups and match.group(1) is not None else None
    value = (found if found is not None else match.group(0)).strip()
    return value or None


def extract(doc: Document, fetched: FetchResult) -> Extracted:
    """The clean text of ``fetched`` as ``doc`` describes it.

    :raises ExtractError: see the module docstring.
    """
    if fetched.not_modified:
        raise ExtractError("nothing to extract: the fetch was not modified (304)")
    extractor = EXTRACTORS.get(doc.format)
    if extractor is None:
        raise ExtractError(f"no extractor for format {doc.format!r}")
    blocks = extractor(doc).blocks(fetched)
    removals = [_compile(p, "remove_text") for p in doc.remove_text]
    blocks = remove_text(blocks, removals)
    if not blocks:
        raise ExtractError("selector broke: no text extracted")
    text = render_blocks(blocks)
    if len(text) < doc.min_chars:
        raise ExtractError(
            f"selector broke: {len(text)} chars extracted, expected at least {doc.min_chars}"
        )
    version_date = _version_date(doc.version_marker, text)
    logger.debug(
        "%s: %d blocks, %d chars, version %s",
        doc.id,
        len(blocks),
        len(text),
        version_date,
    )
    return Extracted(
        blocks=tuple(blocks),
        text=text,
        text_sha256=sha256_text(text),
        version_date=version_date,
    )
