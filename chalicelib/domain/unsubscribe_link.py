"""Whether a rendered marketing e-mail shows its unsubscribe link, and where a footer goes.

Every marketing e-mail must carry a visible unsubscribe link (besides the RFC 8058
headers). A business writes its own HTML, so the rendered body is *parsed* (stdlib
``html.parser``) rather than searched for a marker: only an anchor whose ``href`` is the
recipient's real unsubscribe URL counts, and only if a reader can see it — it has text,
and neither it nor an element around it is hidden (``hidden``, ``display:none``,
``visibility:hidden``, ``opacity:0``, ``font-size:0``) or outside the body (``head``,
``title``, ``template``; comments, scripts and styles are not elements at all). This is a
guarantee against a template that only pretends to have the link, not a CSS engine: when
in doubt the footer is added, and a second link harms nobody.

The footer goes inside ``<body>`` (before the last real ``</body>`` end tag), else before
``</html>``, else at the end.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser

# Elements whose content a reader never sees as part of the message.
_UNSEEN = frozenset({"head", "title", "template", "script", "style", "noframes"})
_VOID = frozenset(
    {"area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track", "wbr"}
)
_HIDING_STYLE = re.compile(
    r"(?:^|;)(?:display:none|visibility:(?:hidden|collapse)|opacity:0(?:\.0*)?(?:;|$|!)"
    r"|font-size:0(?:\.0*)?(?:px|pt|em|rem|%)?(?:;|$|!))"
)


def _hides(attrs: dict[str, str | None]) -> bool:
    if "hidden" in attrs:
        return True
    style = re.sub(r"\s+", "", (attrs.get("style") or "").lower())
    return bool(_HIDING_STYLE.search(style))


class _Scan(HTMLParser):
    def __init__(self, url: str) -> None:
        super().__init__(convert_charrefs=True)
        self.url = url
        self.stack: list[tuple[str, bool]] = []  # (tag, hidden: this element or one around it)
        self.anchor: list[str] | None = None  # the text of the open anchor to ``url``, if any
        self.shows = False
        self.body_end: tuple[int, int] | None = None
        self.html_end: tuple[int, int] | None = None

    @property
    def hidden(self) -> bool:
        return bool(self.stack) and self.stack[-1][1]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = dict(attrs)
        hidden = self.hidden or tag in _UNSEEN or _hides(values)
        if tag == "a":
            self._close_anchor()
            href = (values.get("href") or "").strip()
            self.anchor = [] if href == self.url and not hidden else None
        if tag not in _VOID:
            self.stack.append((tag, hidden))

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in _VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "body":
            self.body_end = self.getpos()
        elif tag == "html":
            self.html_end = self.getpos()
        if tag == "a":
            self._close_anchor()
        if any(open_tag == tag for open_tag, _ in self.stack):
            while self.stack.pop()[0] != tag:
                pass

    def handle_data(self, data: str) -> None:
        if self.anchor is not None and not self.hidden:
            self.anchor.append(data)

    def _close_anchor(self) -> None:
        if self.anchor is not None and "".join(self.anchor).strip():
            self.shows = True
        self.anchor = None

    def finish(self) -> None:
        self.close()
        self._close_anchor()


def _scan(html: str, url: str) -> _Scan:
    scan = _Scan(url)
    scan.feed(html)
    scan.finish()
    return scan


def shows_link(html: str, url: str) -> bool:
    """``html`` holds a visible anchor, with text, whose ``href`` is exactly ``url``."""
    return _scan(html, url).shows


def _offset(html: str, position: tuple[int, int]) -> int:
    line, column = position
    start = 0
    for _ in range(line - 1):
        start = html.index("\n", start) + 1
    return start + column


def with_footer(html: str, footer: str) -> str:
    """``html`` with ``footer`` inside its body: before the last ``</body>`` end tag (one in a
    comment or a script does not count), else before ``</html>``, else at the end."""
    scan = _scan(html, "\0")
    where = scan.body_end or scan.html_end
    if where is None:
        return f"{html.rstrip()}\n{footer}\n"
    at = _offset(html, where)
    return f"{html[:at].rstrip()}\n{footer}\n{html[at:]}"
