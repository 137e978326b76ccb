"""Decode a fetched body to text: the charset rules, kept apart from the HTTP machinery.

Contract: ``decode_body(body, content_type) -> (text, encoding)`` never raises. It tries a
byte-order mark, then the Content-Type charset, then a ``<meta>`` charset or XML declaration,
then UTF-8, then charset-normalizer's detection (leaning to windows-1252 as browsers do), and
finally the declared charset (or UTF-8) with replacement characters. ``watcher.fetch``
re-exports ``decode_body``; the pipeline and the CLI use it on stored raw bodies.
"""

from __future__ import annotations

import codecs
import contextlib
import re

__all__ = ["decode_body"]

# WHATWG: a <meta> charset counts only within the first 1024 bytes; 4 KB tolerates long heads.
_META_CHARSET = re.compile(
    rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)"""
    rb"""|<\?xml[^>]+encoding\s*=\s*["']([A-Za-z0-9_.:-]+)""",
    re.IGNORECASE,
)
_BOMS = (
    (codecs.BOM_UTF8, "utf-8"),
    (codecs.BOM_UTF16_LE, "utf-16-le"),
    (codecs.BOM_UTF16_BE, "utf-16-be"),
)
# Browsers read these labels as windows-1252; servers mean it too.
_AS_CP1252 = frozenset({"iso8859-1", "ascii"})
# How much more "chaos" (charset-normalizer's mess ratio) windows-1252 may show than the
# best guess and still win: Polish cp1250 text read as cp1252 scores about 0.085 worse,
# English cp1252 with curly quotes about 0.03 worse than a mac_iceland guess.
_CP1252_MARGIN = 0.05


def decode_body(body: bytes, content_type: str | None) -> tuple[str, str]:
    """Decode ``body`` to ``(text, encoding)``; never raises.

    Order: a byte-order mark; the Content-Type charset; a ``<meta>`` charset or XML
    declaration in the first 4 KB (HTML/XML or unknown type); UTF-8; charset-normalizer's
    detection; the declared charset (or UTF-8) with replacement characters. A declared
    charset that the bytes contradict falls through to the next step.
    """
    for bom, bom_codec in _BOMS:
        if body.startswith(bom):
            return body[len(bom) :].decode(bom_codec, errors="replace"), bom_codec
    declared = _codec(_header_charset(content_type))
    candidates = [declared]
    if content_type is None or "html" in content_type or "xml" in content_type:
        match = _META_CHARSET.search(body[:4096])
        if match:
            meta = _codec((match.group(1) or match.group(2)).decode("ascii"))
            # WHATWG: a <meta> cannot declare UTF-16/32, the bytes around it are ASCII
            candidates.append("utf-8" if meta and meta.startswith("utf-") else meta)
    candidates.append("utf-8")
    for name in candidates:
        if name is not None:
            with contextlib.suppress(UnicodeDecodeError):
                return body.decode(name), name
    detected = _detect(body)
    if detected is not None:
        return detected
    fallback = declared or "utf-8"
    return body.decode(fallback, errors="replace"), fallback


def _detect(body: bytes) -> tuple[str, str] | None:
    """charset-normalizer's guess, leaning to windows-1252 when it fits nearly as well.

    Its ranking is unreliable on short Western text (French in Latin-1 came out as cp1257);
    browsers fall back to windows-1252 for English pages, and so do we within a margin.
    """
    # imported here: few pages need detection, and the detector is slow to import
    import charset_normalizer

    # Web pages are never UTF-16/32 without a BOM (handled before); binary junk often
    # "detects" as such, so only ASCII-compatible guesses count.
    matches = [
        match
        for match in charset_normalizer.from_bytes(body)
        if not match.encoding.startswith(("utf_16", "utf_32"))
    ]
    if not matches:
        return None
    best = matches[0]
    for match in matches:
        near = match.chaos <= best.chaos + _CP1252_MARGIN
        if near and "cp1252" in match.could_be_from_charset:
            with contextlib.suppress(UnicodeDecodeError):
                return body.decode("cp1252"), "cp1252"
    return str(best), _codec(best.encoding) or best.encoding


def _header_charset(content_type: str | None) -> str | None:
    if not content_type:
        return None
    for part in content_type.split(";")[1:]:
        key, _, value = part.partition("=")
        if key.strip().lower() == "charset":
            return value.strip().strip("\"'") or None
    return None


def _codec(label: str | None) -> str | None:
    """Python's name for a charset label, or None when Python has no such codec."""
    if not label:
        return None
    try:
        name = codecs.lookup(label).name
        b"x".decode(name, errors="ignore")  # LookupError for base64, rot13 and kin
    except LookupError:
        return None
    return "cp1252" if name in _AS_CP1252 else name
