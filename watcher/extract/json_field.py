"""JSON APIs (the Zendesk Help Center API, say): one field of the body holds the document.

``doc.json_field`` is a dotted path; a part that is an integer indexes a list
(``article.body``, ``articles.0.body``). The value must be a string:

- with HTML tags in it, it is read as an HTML fragment (``html.html_blocks`` with
  ``doc.select``/``doc.remove`` when given, else the whole fragment, header/footer included);
- otherwise as plain text, blank-line separated paragraphs (``select`` does not apply).

The title: when the object holding the field also has a non-empty string ``title`` (a Zendesk
``article`` has ``title`` beside ``body``), that title is the top of every block's heading path,
as the page's ``<h1>`` would be. The body's own headings nest below it. Dates such as
``edited_at`` are not read: ``version_marker`` works on the text alone.

Bad JSON, a missing field or a value that is not a string -> ``ExtractError`` naming the field.
"""

from __future__ import annotations

import json
import re
from typing import ClassVar

from watcher.errors import ExtractError
from watcher.extract.base import clean_text
from watcher.extract.html import html_blocks
from watcher.extract.plain import text_blocks
from watcher.models import Block, Document, FetchResult

__all__ = ["JsonExtractor", "json_field"]

_HAS_TAG = re.compile(r"</?[a-zA-Z][a-zA-Z0-9-]*(?:\s[^<>]*)?/?>")


def json_field(data: object, path: str) -> tuple[object, object]:
    """``(value, holder)`` at the dotted ``path``: the value and the object it sits in.

    :raises ExtractError: a part of the path is missing.
    """
    holder: object = None
    value = data
    walked: list[str] = []
    for part in path.split("."):
        holder = value
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and re.fullmatch(r"-?\d+", part):
            index = int(part)
            if not -len(value) <= index < len(value):
                raise ExtractError(
                    f"JSON field {path!r} missing: {'.'.join(walked) or 'the body'} "
                    f"has {len(value)} items, no [{index}]"
                )
            value = value[index]
        else:
            where = ".".join(walked) or "the body"
            kind = type(value).__name__
            raise ExtractError(
                f"JSON field {path!r} missing: no {part!r} in {where} ({kind})"
            )
        walked.append(part)
    return value, holder


class JsonExtractor:
    """``format: json``: the text (HTML or plain) of ``doc.json_field``."""

    kind: ClassVar[str] = "json"

    def __init__(self, doc: Document) -> None:
        self._doc = doc

    def blocks(self, fetched: FetchResult) -> list[Block]:
        field = self._doc.json_field
        if not field:
            raise ExtractError(
                "format json needs json_field (the field holding the text)"
            )
        try:
            data = json.loads(fetched.text)
        except (ValueError, RecursionError) as exc:
            raise ExtractError(
                f"body is not JSON ({exc}); expected field {field!r}"
            ) from exc
        value, holder = json_field(data, field)
        if not isinstance(value, str):
            raise ExtractError(
                f"JSON field {field!r} holds {type(value).__name__}, not text"
            )
        heading: tuple[str, ...] = ()
        if isinstance(holder, dict) and field.rsplit(".", 1)[-1] != "title":
            title = holder.get("title")
            if isinstance(title, str) and clean_text(title):
                heading = (clean_text(title),)
        if _HAS_TAG.search(value):
            return html_blocks(
                value, self._doc.select, self._doc.remove, page=False, heading=heading
            )
        return text_blocks(value, heading=heading)
