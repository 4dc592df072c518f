"""Campaign subject and bodies: Jinja2 templates written by the business.

Templates run in Jinja2's immutable sandbox (they are user input) with
autoescaping for HTML, so a client called ``<script>`` is shown, not run.
Only the variables listed in ``TEMPLATE_VARIABLES`` exist; a template that
names another is refused when the campaign is saved, not when it is sent.
Jinja2 is imported on first use, to keep it out of every cold start.

The sandbox is tightened further, because a template runs once per recipient
inside the send worker:
- touching an unsafe attribute (``__class__``, ``update``…) is an error at
  once, not a silently empty value;
- only the filters of ``ALLOWED_FILTERS`` exist: ``safe`` would let a
  client's name (which anyone can type into the intake form) write HTML into
  the business's e-mails, and width or repeat arguments (``center``,
  ``indent``, ``format``…) could build gigabyte strings;
- ``*``, ``**`` and ``range()`` refuse results larger than ``MAX_REPEAT``
  items or ``MAX_POWER_BITS`` bits, loops nest at most ``MAX_LOOP_NESTING``
  deep, and no rendering may exceed ``MAX_RENDERED_CHARS``;
- any error while rendering (a division by zero included) is a
  ``TemplateProblem``; saving a campaign renders its templates once with
  sample values, so such a template is refused then, with a 400.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from html.parser import HTMLParser
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2 import Environment, Template

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
        "business_address",
        "business_website",
        "business_contact",
        "logo_url",
        "brand_color",
        "unsubscribe_url",
        "confirm_url",
        "decline_url",
        "terms_url",
        "legitimate_interest_url",
    }
)


class TemplateProblem(ValueError):
    """A template that cannot be used; the message says why, for a person."""


ALLOWED_FILTERS = frozenset(
    {
        "abs", "capitalize", "count", "d", "default", "dictsort", "e", "escape", "first",
        "float", "int", "items", "join", "last", "length", "list", "lower", "max", "min",
        "reverse", "round", "sort", "string", "striptags", "sum", "title", "trim",
        "truncate", "unique", "upper", "urlencode", "wordcount",
    }
)  # fmt: skip
MAX_REPEAT = 1_000  # items (or characters) a ``*`` or ``range()`` may produce
MAX_LOOP_NESTING = 2  # with MAX_REPEAT, at most a million iterations per rendering
MAX_POWER_BITS = 256  # size of an integer ``**`` may produce
MAX_RENDERED_CHARS = 1_000_000  # one rendered subject or body
# Values every template is tried with when a campaign is saved.
SAMPLE_CONTEXT: dict[str, Any] = {
    **{name: "sample" for name in TEMPLATE_VARIABLES},
    "fields": {},
    "logo_url": "https://example.com/logo.png",
    "brand_color": "#0b4f9c",
    "unsubscribe_url": "https://example.com/unsubscribe",
    "confirm_url": "https://example.com/confirm",
    "decline_url": "https://example.com/decline",
    "terms_url": "https://example.com/terms",
    "legitimate_interest_url": "https://example.com/legitimate-interest",
}


def _bounded_binop(operator: str, left: Any, right: Any) -> Any:
    from jinja2.exceptions import SecurityError

    if operator == "*":
        for sized, times in ((left, right), (right, left)):
            if isinstance(sized, str | list | tuple) and isinstance(times, int):
                if len(sized) * max(times, 0) > MAX_REPEAT:
                    raise SecurityError(f"a repetition may produce at most {MAX_REPEAT} items")
        return left * right
    if isinstance(left, int) and isinstance(right, int) and right > 0:
        if max(abs(left).bit_length(), 1) * right > MAX_POWER_BITS:
            raise SecurityError("the power is too large")
    return left**right


def _bounded_range(*args: int) -> range:
    from jinja2.exceptions import SecurityError

    numbers = range(*args)
    if len(numbers) > MAX_REPEAT:
        raise SecurityError(f"a range may hold at most {MAX_REPEAT} numbers")
    return numbers


def _loop_nesting(node: Any, depth: int = 0) -> int:
    from jinja2 import nodes

    depth += isinstance(node, nodes.For)
    return max([depth, *(_loop_nesting(child, depth) for child in node.iter_child_nodes())])


@lru_cache(maxsize=2)
def _environment(html: bool) -> Environment:
    from jinja2.exceptions import SecurityError
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class CampaignSandbox(ImmutableSandboxedEnvironment):
        intercepted_binops = frozenset({"*", "**"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            return _bounded_binop(operator, left, right)

        def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
            raise SecurityError(
                f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe"
            )

    env = CampaignSandbox(autoescape=html, trim_blocks=True, lstrip_blocks=True)
    env.filters = {name: f for name, f in env.filters.items() if name in ALLOWED_FILTERS}
    env.globals.pop("lipsum", None)  # builds text of any size
    env.globals["range"] = _bounded_range
    return env


def check_template(source: str, *, html: bool) -> None:
    """Parse a template and refuse syntax errors and unknown variables."""
    from jinja2 import TemplateSyntaxError, meta

    env = _environment(html)
    try:
        parsed = env.parse(source)
        undeclared = meta.find_undeclared_variables(parsed)  # compiles: an unknown filter fails here
    except TemplateSyntaxError as exc:
        raise TemplateProblem(f"template syntax error on line {exc.lineno}: {exc.message}") from None
    unknown = sorted(undeclared - TEMPLATE_VARIABLES)
    if unknown:
        raise TemplateProblem(
            f"unknown variable(s): {', '.join(unknown)}; available: {', '.join(sorted(TEMPLATE_VARIABLES))}"
        )
    render(source, SAMPLE_CONTEXT, html=html)  # sandbox violations and errors show only when run


@lru_cache(maxsize=32)
def _compiled(source: str, html: bool) -> Template:
    """A template compiled once per worker (every recipient of a batch shares it)."""
    env = _environment(html)
    if _loop_nesting(env.parse(source)) > MAX_LOOP_NESTING:
        raise TemplateProblem(f"loops may be nested at most {MAX_LOOP_NESTING} deep")
    return env.from_string(source)


def render(source: str, context: dict[str, Any], *, html: bool) -> str:
    try:
        parts, size = [], 0
        for part in _compiled(source, html).generate(context):
            size += len(part)
            if size > MAX_RENDERED_CHARS:
                raise TemplateProblem(f"template renders more than {MAX_RENDERED_CHARS} characters")
            parts.append(part)
        return "".join(parts)
    except TemplateProblem:
        raise
    except Exception as exc:  # noqa: BLE001 — user code: any failure (sandbox, 1/0, overflow) is the template's
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
