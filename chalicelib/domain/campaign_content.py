"""Campaign subject and bodies: Jinja2 templates written by the business.

Templates run in Jinja2's immutable sandbox (they are user input) with
autoescaping for HTML, so a client called ``<script>`` is shown, not run.
Only the variables listed in ``TEMPLATE_VARIABLES`` exist; a template that
names another is refused when the campaign is saved, not when it is sent.
Jinja2 is imported on first use, to keep it out of every cold start.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2 import Environment

TEMPLATE_VARIABLES = frozenset(
    {
        "first_name",
        "last_name",
        "email",
        "phone",
        "language",
        "status",
        "auto_status",
        "fields",
        "business_name",
        "unsubscribe_url",
        "confirm_url",
        "decline_url",
        "terms_url",
        "legitimate_interest_url",
    }
)


class TemplateProblem(ValueError):
    """A template that cannot be used; the message says why, for a person."""


@lru_cache(maxsize=2)
def _environment(html: bool) -> Environment:
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    return ImmutableSandboxedEnvironment(autoescape=html, trim_blocks=True, lstrip_blocks=True)


def check_template(source: str, *, html: bool) -> None:
    """Parse a template and refuse syntax errors and unknown variables."""
    from jinja2 import TemplateSyntaxError, meta

    env = _environment(html)
    try:
        parsed = env.parse(source)
    except TemplateSyntaxError as exc:
        raise TemplateProblem(f"template syntax error on line {exc.lineno}: {exc.message}") from None
    unknown = sorted(meta.find_undeclared_variables(parsed) - TEMPLATE_VARIABLES)
    if unknown:
        raise TemplateProblem(
            f"unknown variable(s): {', '.join(unknown)}; available: {', '.join(sorted(TEMPLATE_VARIABLES))}"
        )


def render(source: str, context: dict[str, Any], *, html: bool) -> str:
    from jinja2 import TemplateError

    try:
        return _environment(html).from_string(source).render(context)
    except TemplateError as exc:  # e.g. a sandbox violation found only at render time
        raise TemplateProblem(f"template could not be rendered: {exc}") from None


@dataclass(frozen=True)
class RenderedMessage:
    subject: str
    html: str
    text: str


def render_message(subject: str, html: str, text: str | None, context: dict[str, Any]) -> RenderedMessage:
    rendered_html = render(html, context, html=True)
    rendered_text = render(text, context, html=False) if text else html_to_text(rendered_html)
    # A subject is one line of plain text: no template can inject extra headers.
    rendered_subject = " ".join(render(subject, context, html=False).split())
    return RenderedMessage(subject=rendered_subject, html=rendered_html, text=rendered_text)


_BLOCKS = frozenset({"p", "div", "br", "tr", "li", "h1", "h2", "h3", "h4", "h5", "h6", "table", "ul", "ol"})
_SKIP = frozenset({"style", "script", "head", "title"})


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._links: list[str | None] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skip += 1
        elif tag in _BLOCKS:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append("- ")
        if tag == "a":
            self._links.append(dict(attrs).get("href"))

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skip = max(0, self._skip - 1)
        elif tag == "a" and self._links:
            href = self._links.pop()
            if href and not href.startswith("#"):
                self.parts.append(f" ({href})")
        elif tag in _BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skip:
            self.parts.append(data)


def html_to_text(html: str) -> str:
    """A readable plain-text part from an HTML body, links kept as ``text (url)``."""
    extractor = _TextExtractor()
    extractor.feed(html)
    extractor.close()
    lines = [re.sub(r"[ \t\r\f\v]+", " ", line).strip() for line in "".join(extractor.parts).split("\n")]
    text = "\n".join(lines)
    return re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
