"""The small document model messages are built from, and its three output formats.

Internal to ``watcher.notify``: ``Block``s of ``Span``s rendered as plain text, HTML (whose
apprise HTML-to-text conversion reads like the plain text) or CommonMark for Slack; ``cost``
bounds a body's length after the channel's own escaping; ``fit`` keeps what fits a budget.
Pure; raises nothing.
"""

from __future__ import annotations

import html
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "DROPPED_NOTE_ROOM",
    "RENDERERS",
    "Block",
    "BodyFormat",
    "Line",
    "Section",
    "Span",
    "Style",
    "clean",
    "cost",
    "cut",
    "cut_cost",
    "diff_spans",
    "fit",
    "para",
    "render_text",
    "shown",
    "spans",
]

BodyFormat = Literal["html", "markdown", "text"]
# Room a digest keeps for its "… and N more alerts" line.
DROPPED_NOTE_ROOM = 120

# --------------------------------------------------------------------------- document model

Style = Literal["plain", "removed", "added", "strong", "code", "link"]


@dataclass(frozen=True, slots=True)
class Span:
    text: str
    style: Style = "plain"


Line = tuple[Span, ...]


@dataclass(frozen=True, slots=True)
class Block:
    kind: Literal["heading", "para", "item", "rule"]
    lines: tuple[Line, ...] = ()


@dataclass(slots=True)
class Section:
    """One event: ``head`` and ``tail`` always shown, ``groups`` while they fit."""

    head: list[Block] = field(default_factory=list)
    groups: list[list[Block]] = field(default_factory=list)
    tail: list[Block] = field(default_factory=list)
    more: str = "watcher changes"  # the command that shows everything


def spans(*parts: Span | str) -> Line:
    return tuple(Span(p) if isinstance(p, str) else p for p in parts)


def para(*lines: Line) -> Block:
    return Block("para", tuple(line for line in lines if shown(line)))


def shown(line: Line) -> bool:
    return any(span.text.strip() for span in line)


# --------------------------------------------------------------------------- text hygiene

_ANSI = re.compile(
    r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])"
)
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_SPACE = re.compile(r"[ \t\r\n\f\v\u2028\u2029]+")


def clean(text: str) -> str:
    """Untrusted text on one line: no terminal escapes, controls shown as U+FFFD."""
    text = _ANSI.sub("", text)
    text = _SPACE.sub(" ", text)
    return _CONTROL.sub("\ufffd", text)


def cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


# --------------------------------------------------------------------------- formats

_DEL = "color:#82071e;background-color:#ffebe9;text-decoration:line-through"
_INS = "color:#116329;background-color:#dafbe1;text-decoration:none"
_MD_SPECIAL = re.compile(r"([\\`*\[\]()<>#!])")


def _md(text: str) -> str:
    return _MD_SPECIAL.sub(r"\\\1", text)


def _span_text(s: Span) -> str:
    if s.style == "removed":
        return f"[-{s.text}-]"
    if s.style == "added":
        return f"{{+{s.text}+}}"
    return s.text


def _span_html(s: Span) -> str:
    t = html.escape(s.text, quote=True)
    if s.style == "removed":
        return f'<del style="{_DEL}">[-{t}-]</del>'
    if s.style == "added":
        return f'<ins style="{_INS}">{{+{t}+}}</ins>'
    if s.style == "strong":
        return f"<strong>{t}</strong>"
    if s.style == "code":
        return f'<span style="font-family:monospace">{t}</span>'
    if s.style == "link":
        return f'<a href="{t}">{t}</a>'
    return t


def _span_md(s: Span) -> str:
    if s.style == "removed":
        return f"~{_md(s.text)}~"
    if s.style in ("added", "strong"):
        return f"**{_md(s.text)}**"
    if s.style == "code":
        return "`" + s.text.replace("`", "'") + "`"
    if s.style == "link":
        return f"<{s.text}>"
    return _md(s.text)


def render_text(blocks: Sequence[Block]) -> str:
    out: list[str] = []
    previous = ""
    for b in blocks:
        lines = ["".join(_span_text(s) for s in line).strip() for line in b.lines]
        if b.kind == "item":
            text = "- " + "\n  ".join(lines)
            if previous == "item":
                out[-1] += "\n" + text
            else:
                out.append(text)
        elif b.kind == "rule":
            out.append("---")
        else:
            out.append("\n".join(lines))
        previous = b.kind
    return "\n\n".join(out) + "\n"


def _render_html(blocks: Sequence[Block]) -> str:
    out: list[str] = []
    in_list = False
    for b in blocks:
        inner = "<br>".join(
            "".join(_span_html(s) for s in line).strip() for line in b.lines
        )
        if b.kind == "item":
            if not in_list:
                out.append('<ul style="margin:4px 0 8px 0;padding-left:20px">')
                in_list = True
            out.append(f'<li style="margin:2px 0">{inner}</li>')
            continue
        if in_list:
            out.append("</ul>")
            in_list = False
        if b.kind == "heading":
            out.append(f'<h3 style="font-size:15px;margin:16px 0 4px 0">{inner}</h3>')
        elif b.kind == "rule":
            out.append(
                '<hr style="border:0;border-top:1px solid #d0d7de;margin:16px 0">'
            )
        else:
            out.append(f'<p style="margin:6px 0">{inner}</p>')
    if in_list:
        out.append("</ul>")
    style = "font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;font-size:14px;line-height:1.45;color:#1f2328"
    return f'<div style="{style}">' + "".join(out) + "</div>"


def _render_md(blocks: Sequence[Block]) -> str:
    out: list[str] = []
    previous = ""
    for b in blocks:
        lines = ["".join(_span_md(s) for s in line).strip() for line in b.lines]
        if b.kind == "item":
            text = "• " + "\n   ".join(lines)
            if previous == "item":
                out[-1] += "\n" + text
            else:
                out.append(text)
        elif b.kind == "heading":
            out.append("**" + " ".join(lines) + "**")
        elif b.kind == "rule":
            out.append("────────")
        else:
            out.append("\n".join(lines))
        previous = b.kind
    return "\n\n".join(out)


RENDERERS: dict[BodyFormat, Callable[[Sequence[Block]], str]] = {
    "html": _render_html,
    "markdown": _render_md,
    "text": render_text,
}


def cost(text: str, fmt: BodyFormat) -> int:
    """Length after the channel's own escaping, an upper bound: Slack turns & into &amp;."""
    if fmt != "markdown":
        return len(text)
    return len(text) + 4 * text.count("&") + 3 * (text.count("<") + text.count(">"))


def cut_cost(text: str, budget: int, fmt: BodyFormat) -> str:
    if cost(text, fmt) <= budget:
        return text
    used = 1  # the ellipsis
    for i, ch in enumerate(text):
        used += cost(ch, fmt)
        if used > budget:
            return text[:i].rstrip().rstrip("\\") + "…"
    return text


def fit(
    intro: list[Block], sections: Sequence[Section], fmt: BodyFormat, budget: int
) -> list[Block]:
    """The blocks of ``sections`` that fit ``budget``, with a pointer to what was left out.

    A digest shows whole events while they fit; one event shows its head and tail and then
    its groups (facts, clauses) while they fit.
    """
    render_ = RENDERERS[fmt]
    single = len(sections) == 1
    if not single:
        budget -= DROPPED_NOTE_ROOM
    chosen = list(intro)
    dropped = 0
    for index, section in enumerate(sections):
        rule = [Block("rule")] if not single else []
        whole = [
            *rule,
            *section.head,
            *(b for g in section.groups for b in g),
            *section.tail,
        ]
        if not single and cost(render_([*chosen, *whole]), fmt) <= budget:
            chosen += whole
            continue
        if not single and index > 0:
            dropped = len(sections) - index
            break
        base = [*chosen, *rule, *section.head]
        note = para(
            spans("Not everything fits here; run ", Span(section.more, "code"), ".")
        )
        for group in section.groups:
            trial = [*base, *group, note, *section.tail]
            if cost(render_(trial), fmt) > budget:
                base += [note]
                break
            base += group
        chosen = [*base, *section.tail]
        if not single:
            dropped = len(sections) - 1
            break
    if dropped:
        chosen.append(
            para(
                spans(
                    f"… and {dropped} more alerts not shown here: run ",
                    Span("watcher changes --unreviewed", "code"),
                    ".",
                )
            )
        )
    return chosen


# --------------------------------------------------------------------------- word diffs

# Kept words shown on each side of a change; longer unchanged runs are elided with "…".
CONTEXT_WORDS = 8


def diff_spans(ops: Sequence[object], limit: int) -> Line:
    """Word diff as spans: kept runs elided to CONTEXT_WORDS each side, ``limit`` characters."""
    pairs: list[tuple[int, str]] = []
    for op in ops:
        if isinstance(op, list | tuple) and len(op) == 2 and isinstance(op[1], str):
            code = op[0] if isinstance(op[0], int) else 0
            pairs.append((max(-1, min(1, code)), clean(op[1])))
    spans: list[Span] = []
    for i, (code, text) in enumerate(pairs):
        if code == 0:
            spans.append(Span(_elide(text, first=i == 0, last=i == len(pairs) - 1)))
            continue
        core = text.strip()
        if not core:
            spans.append(Span(text))
            continue
        if text[0] == " " or (spans and spans[-1].style != "plain"):
            spans.append(Span(" "))  # styled runs never touch: "[-a-] {+b+}", "~a~ *b*"
        spans.append(Span(core, "removed" if code < 0 else "added"))
        if text[-1] == " ":
            spans.append(Span(" "))
    out: list[Span] = []
    room = limit
    for span in spans:
        if room <= 0:
            break
        if len(span.text) > room:
            out.append(Span(span.text[:room].rstrip() + "…", span.style))
            break
        out.append(span)
        room -= len(span.text)
    return _merge(out)


def _elide(text: str, *, first: bool, last: bool) -> str:
    words = text.split(" ")
    n = CONTEXT_WORDS
    if first and not last and len(words) > n + 1:
        return "… " + " ".join(words[-n:])
    if last and not first and len(words) > n + 1:
        return " ".join(words[:n]) + " …"
    if not first and not last and len(words) > 2 * n + 1:
        return " ".join(words[:n]) + " … " + " ".join(words[-n:])
    return text


def _merge(items: Sequence[Span]) -> Line:
    out: list[Span] = []
    for span in items:
        if out and span.style == "plain" and out[-1].style == "plain":
            out[-1] = Span(re.sub(" +", " ", out[-1].text + span.text))
        elif span.text:
            out.append(span)
    return tuple(out)
