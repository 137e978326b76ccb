"""HTML pages: select the main text with CSS, leave the noise out, walk it into blocks.

``html_blocks(markup, select, remove)``:

1. Parse with lexbor (``LexborHTMLParser``); the tree is never modified.
2. Noise is left out everywhere: ``walk.DROP_TAGS`` (scripts, styles, svg, iframes, form
   controls...), ``NOISE_SELECTORS`` (nav, hidden and ``aria-hidden`` elements, inline
   ``display:none``, cookie and consent banners) and "skip to content" links.
3. ``select``: the first selector (in order) that matches anything wins; all its matches are
   read in document order (a match inside another match is read once). A match that is itself
   noise, or lies in the page's own header/footer/sidebar, is dropped unless every match is. None matching -> ``ExtractError("selector broke:
   none of [...] matched")``. Without ``select`` the whole ``<body>`` is read, minus the page's
   own banner, footer and sidebars (``header``/``footer`` not inside article/main/section,
   ``aside``, landmark roles) when ``page`` is true.
4. ``remove``: subtrees matching these selectors inside the selection are left out.
5. ``walk.walk`` turns what is left into blocks.

An invalid selector raises ``ExtractError`` naming it.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Iterator
from typing import ClassVar

from selectolax.lexbor import LexborHTMLParser, LexborNode, SelectolaxError

from watcher.errors import ExtractError
from watcher.extract.walk import walk
from watcher.models import Block, Document, FetchResult

__all__ = ["NOISE_SELECTORS", "HtmlExtractor", "html_blocks"]

logger = logging.getLogger(__name__)

# Left out of every page, whatever the selection. Cookie/consent patterns are specific on
# purpose: a bare [class*=cookie] would also drop the "Cookies" section of a privacy policy.
_CONSENT_SELECTORS = tuple(
    f'[{attr}*="{pattern}" i]'
    for attr in ("id", "class", "data-testid")
    for pattern in (
        "cookie-banner",
        "cookie_banner",
        "cookiebanner",
        "cookie-consent",
        "cookie_consent",
        "cookieconsent",
        "cookie-notice",
        "cookie-bar",
        "cookie-popup",
        "cookie-modal",
        "cookies-banner",
        "consent-banner",
        "consent-manager",
        "consent-modal",
    )
)
NOISE_SELECTORS: tuple[str, ...] = (
    "nav",
    "[role=navigation]",
    'sup > a[href^="#"]',  # footnote marks ("Services.[1]"); the footnote itself stays
    # screen-reader-only link annotations ("(opens in a new window)") come and go with redesigns
    "a .sr-only, a .visually-hidden, a .screen-reader-text",
    '[hidden]:not([hidden="until-found" i])',  # until-found: a collapsed, searchable section
    '[aria-hidden="true" i]',
    '[style*="display:none" i]',
    '[style*="display: none" i]',
    *_CONSENT_SELECTORS,
    '[id^="onetrust-" i]',
    '[id^="CybotCookiebot" i]',
    "#usercentrics-root",
    "#didomi-host",
    ".cc-window",
    ".osano-cm-window",
    ".qc-cmp2-container",
    "#shopify-pc__banner",
    '[role=dialog][aria-label*="cookie" i]',
    '[role=region][aria-label*="cookie" i]',
    '[role=alertdialog][aria-label*="cookie" i]',
)
# The consent selectors are two thirds of the list and of the cost of a noise search, yet each
# needs its attribute to hold "cookie" or "consent", which few elements do: they run only in
# the subtrees of such elements.
_CONSENT = ", ".join(_CONSENT_SELECTORS)
_CONSENT_WORDS = ("cookie", "consent")
_CONSENT_HINT = ", ".join(
    f'[{attr}*="{word}" i]'
    for attr in ("id", "class", "data-testid")
    for word in _CONSENT_WORDS
)
_NOISE_REST = ", ".join(s for s in NOISE_SELECTORS if s not in _CONSENT_SELECTORS)
_SKIP_LINK = re.compile(r"\s*skip\s+(?:to\b|navigation\b)", re.IGNORECASE)
# Page chrome left out only when the whole <body> is read.
_CHROME = "aside, [role=banner], [role=contentinfo], [role=complementary]"
# A header/footer inside one of these belongs to that content (an article's title).
_SECTIONING = frozenset({"article", "aside", "main", "nav", "section"})


def _css(node: LexborHTMLParser | LexborNode, selector: str) -> list[LexborNode]:
    try:
        return node.css(selector)
    except (SelectolaxError, ValueError) as exc:
        raise ExtractError(f"invalid CSS selector {selector!r}: {exc}") from exc


def _ancestors(node: LexborNode) -> Iterator[LexborNode]:
    parent = node.parent
    while parent is not None:
        yield parent
        parent = parent.parent


def _consent_noise(tree: LexborHTMLParser) -> Iterator[int]:
    """``_CONSENT`` matches: searched only in the subtrees of ``_CONSENT_HINT`` matches."""
    searched: set[int] = set()
    for hint in _css(tree, _CONSENT_HINT):
        # lexbor lists a node once per selector it matches, and a hint inside a subtree
        # already searched needs no search of its own
        if searched & {hint.mem_id, *(a.mem_id for a in _ancestors(hint))}:
            continue
        searched.add(hint.mem_id)
        for node in _css(hint, _CONSENT):
            yield node.mem_id


def _noise(tree: LexborHTMLParser) -> set[int]:
    skip = {node.mem_id for node in _css(tree, _NOISE_REST)}
    skip.update(_consent_noise(tree))
    for link in _css(tree, 'a[href^="#"]'):
        if _SKIP_LINK.match(link.text(deep=True)):
            skip.add(link.mem_id)
    return skip


def _chrome(tree: LexborHTMLParser) -> Iterator[int]:
    for node in _css(tree, "header, footer"):
        if not any(a.tag in _SECTIONING for a in _ancestors(node)):
            yield node.mem_id
    for node in _css(tree, _CHROME):
        yield node.mem_id


def _select(
    tree: LexborHTMLParser, select: Iterable[str], skip: set[int], chrome: set[int]
) -> list[LexborNode]:
    """The matches of the first selector that matches, less those in noise or page chrome.

    A site footer built from the same blocks as the article (``.content`` in both) is a
    match too; it is dropped unless nothing else matched.
    """
    selectors = list(select)
    for selector in selectors:
        matches = _css(tree, selector)
        if matches:
            break
    else:
        raise ExtractError(f"selector broke: none of {selectors} matched")
    # lexbor lists an element once per part of a selector list it matches ("main, #m")
    matches = list({node.mem_id: node for node in matches}.values())
    ids = {node.mem_id for node in matches}
    hidden = skip | chrome
    outer: list[LexborNode] = []
    visible: list[LexborNode] = []
    for node in matches:
        above = {a.mem_id for a in _ancestors(node)}
        if above & ids:
            continue  # read as part of the match that holds it
        outer.append(node)
        if node.mem_id not in hidden and not above & hidden:
            visible.append(node)
    if not visible:
        logger.debug("selector %r matched only hidden or noise elements", selector)
    return visible or outer


def html_blocks(
    markup: str,
    select: Iterable[str] = (),
    remove: Iterable[str] = (),
    *,
    page: bool = True,
    heading: tuple[str, ...] = (),
) -> list[Block]:
    """Blocks of an HTML page or fragment (see the module docstring).

    ``page=False`` for a fragment (a JSON field): its header/footer are content, not chrome.
    ``heading`` is a path every block starts with.

    :raises ExtractError: no ``select`` selector matched, or a selector is invalid.
    """
    tree = LexborHTMLParser(markup)
    skip = _noise(tree)
    select = tuple(select)
    if select:
        roots = _select(tree, select, skip, set(_chrome(tree)) if page else set())
    else:
        body = tree.body
        roots = [body] if body is not None else []
        if page:
            skip.update(_chrome(tree))
    for selector in remove:
        for root in roots:
            skip.update(node.mem_id for node in _css(root, selector))
    role_levels = {
        node.mem_id: _aria_level(node.attributes.get("aria-level"))
        for node in _css(tree, "[role=heading]")
    }
    return walk(roots, skip=skip, role_levels=role_levels, heading=heading)


def _aria_level(value: str | None) -> int:
    """``aria-level`` as 1..6; ARIA's default for a heading without one is 2."""
    if value and value.strip().isdigit():
        return min(max(int(value.strip()), 1), 6)
    return 2


class HtmlExtractor:
    """``format: html``: the page's text through ``select``/``remove``."""

    kind: ClassVar[str] = "html"

    def __init__(self, doc: Document) -> None:
        self._doc = doc

    def blocks(self, fetched: FetchResult) -> list[Block]:
        return html_blocks(fetched.text, self._doc.select, self._doc.remove)
