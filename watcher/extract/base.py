"""What every extractor shares: the ``Extractor`` protocol and the clean-up of one block's text.

An extractor turns a fetched body into ``Block``s (normalised text with its heading path). It
does not apply ``remove_text``, ``min_chars`` or ``version_marker``: ``extract()`` does that the
same way for every format. It raises ``ExtractError`` and nothing else.

``clean_text`` is the one place a raw text fragment becomes block text: ``text.normalise``, then
the few fixes markup needs (no space before punctuation, no private-use icon glyphs, no
tracking parameters in URLs that are visible text).
"""

from __future__ import annotations

import re
from typing import ClassVar, Protocol
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from watcher.models import Block, Document, FetchResult
from watcher.text import normalise

__all__ = ["Extractor", "clean_text", "strip_tracking"]


class Extractor(Protocol):
    """One kind of body (``kind`` is the ``Document.format`` it serves)."""

    kind: ClassVar[str]

    def __init__(self, doc: Document) -> None: ...

    def blocks(self, fetched: FetchResult) -> list[Block]:
        """The body as blocks, in document order.

        :raises ExtractError: the body cannot be read, or a selector matched nothing.
        """
        ...


# Query parameters that identify a visit, not a page (utm_*, ad click ids, mail-campaign ids,
# OpenAI's per-request "openaicom-did"): they change on every fetch and mean nothing.
_TRACKING_PARAM = re.compile(
    r"^(?:utm_\w+|fbclid|gclid|dclid|gbraid|wbraid|msclkid|mc_cid|mc_eid|_hsenc|_hsmi|"
    r"igshid|yclid|ref_src|_ga|_gl|openaicom-did|trk|trkid)$",
    re.IGNORECASE,
)
# A URL written out in text; it does not end with the punctuation of the sentence around it.
_URL = re.compile(r"https?://[^\s<>\"')\]]*[^\s<>\"')\].,;:!?]")
# A space markup put before punctuation ("<a>Policy</a> ." -> "Policy."); only when the mark
# ends a word group, so ".png" or "3 : 2" inside a token stays as it is.
_SPACE_BEFORE_PUNCT = re.compile(r"(?<=[\w\"')\]]) +(?=[.,;:!?](?:\s|$))")
# What every _SPACE_BEFORE_PUNCT match holds; this literal-first search is ten times faster.
_PUNCT_AFTER_SPACE = re.compile(" [.,;:!?]")
# Icon-font glyphs (Font Awesome, IcoMoon...) live in the private-use area and are decoration.
_PRIVATE_USE = re.compile("[\ue000-\uf8ff]")


def _clean_url(match: re.Match[str]) -> str:
    url = match.group(0)
    if "?" not in url:
        return url
    parts = urlsplit(url)
    pairs = parse_qsl(parts.query, keep_blank_values=True)
    query = [(k, v) for k, v in pairs if not _TRACKING_PARAM.match(k)]
    if len(query) == len(pairs):
        return url  # nothing to drop: keep the URL exactly as written
    return urlunsplit(parts._replace(query=urlencode(query, doseq=True)))


def strip_tracking(text: str) -> str:
    """Drop tracking query parameters from every URL written out in ``text``."""
    if "http" not in text or "?" not in text:
        return text
    return _URL.sub(_clean_url, text)


def clean_text(raw: str) -> str:
    """Normalised text of one block (or heading) from a raw fragment; "" when nothing is left."""
    text = normalise(raw)
    if not text:
        return ""
    if not text.isascii() and _PRIVATE_USE.search(text):
        text = normalise(_PRIVATE_USE.sub("", text))
    if _PUNCT_AFTER_SPACE.search(text):
        text = _SPACE_BEFORE_PUNCT.sub("", text)
    return strip_tracking(text)
