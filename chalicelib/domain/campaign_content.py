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
- every value the template builds is bounded *before* it is built: each
  operation that can make a large value — the binary operators, ``~``, every
  call (string methods such as ``ljust``, ``replace``, ``join``, ``format``),
  every filter (``join``, ``sum``, ``string``, ``escape``…) and the printing of
  a value — measures its operands and refuses a result of more than
  ``MAX_VALUE_SIZE`` characters or items (a list counts what printing it
  would write), and all of a rendering's operations together may build at
  most ``MAX_ALLOCATION``: that budget is the memory cap of a rendering, the
  save-time check included, without a process-wide limit (``setrlimit`` is
  unsafe in a Lambda that serves other requests);
- any error while rendering (a division by zero included) is a
  ``TemplateProblem``; saving a campaign renders its templates once with
  sample values, so such a template is refused then, with a 400.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from contextvars import ContextVar
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
MAX_VALUE_SIZE = 1_000_000  # characters (or items) of one value a template builds
MAX_ALLOCATION = 4_000_000  # characters (or items) all of one rendering's operations build
MAX_INT_BITS = 4096  # an integer product
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


def size_of(value: Any, limit: int = MAX_VALUE_SIZE) -> int:
    """What printing ``value`` would write, roughly, in characters: a string's length, a
    container's items plus theirs (each item counts at least one). Stops counting once past
    ``limit``, so measuring costs at most ``limit`` steps whatever the value."""
    total, stack = 0, [value]
    while stack and total <= limit:
        item = stack.pop()
        if isinstance(item, str | bytes):
            total += len(item) + 1
        elif isinstance(item, list | tuple | set | frozenset):
            total += len(item) + 1
            stack.extend(item)
        elif isinstance(item, dict):
            total += len(item) + 1
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, int) and not isinstance(item, bool):
            total += item.bit_length() // 3 + 1
        else:
            total += 1
    return total


class _Allocation:
    """What one rendering's operations have built so far."""

    def __init__(self) -> None:
        self.used = 0


_allocation: ContextVar[_Allocation | None] = ContextVar("template_allocation", default=None)


def _refuse(message: str) -> None:
    from jinja2.exceptions import SecurityError

    raise SecurityError(message)


def _allow(size: int) -> None:
    """Admit a value of ``size`` about to be built: at most ``MAX_VALUE_SIZE`` by itself, and
    at most ``MAX_ALLOCATION`` with everything this rendering built before."""
    if size > MAX_VALUE_SIZE:
        _refuse(f"a template may build values of at most {MAX_VALUE_SIZE:,} characters")
    allocation = _allocation.get()
    if allocation is not None:  # None while compiling (constant folding): the value bound holds
        allocation.used += size
        if allocation.used > MAX_ALLOCATION:
            _refuse(f"a template may build at most {MAX_ALLOCATION:,} characters in all")


def _built(value: Any) -> Any:
    """Charge a value an operation returned (one that could not be measured beforehand)."""
    if isinstance(value, str | bytes | list | tuple | set | frozenset | dict | int):
        _allow(size_of(value))
    return value


_SEQUENCES = (str, bytes, list, tuple)
_WIDTH = re.compile(r"\d+")
_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _widths(spec: str) -> int:
    return sum(int(number) for number in _WIDTH.findall(spec))


def _percent_size(template: str, args: Any) -> int:
    """``template % args``: refuse ``*`` widths (taken from the arguments) and count the
    widths written in the template, plus the arguments themselves."""
    width = 0
    for star_or_width, star_or_precision in _PERCENT_SPEC.findall(template):
        if "*" in (star_or_width, star_or_precision):
            _refuse("a '*' width is not allowed in a % format")
        width += int(star_or_width or 0) + int(star_or_precision or 0)
    return len(template) + width + size_of(args)


def _format_size(template: str, args: Any, kwargs: Any) -> int:
    """``template.format(...)``: refuse nested replacement fields in a spec (a width taken
    from an argument) and count the widths written, plus the arguments."""
    from string import Formatter

    width = 0
    try:
        for _literal, _field, spec, _conversion in Formatter().parse(template):
            if spec and "{" in spec:
                _refuse("a format spec may not take its width from an argument")
            width += _widths(spec or "")
    except ValueError:
        return len(template)  # the call itself will fail with a clear message
    return len(template) + width + size_of(args) + size_of(kwargs)


def _bounded_binop(operator: str, left: Any, right: Any) -> Any:
    import operator as ops

    if operator == "*":
        for sized, times in ((left, right), (right, left)):
            if isinstance(sized, _SEQUENCES) and isinstance(times, int):
                if len(sized) * max(times, 0) > MAX_REPEAT:
                    _refuse(f"a repetition may produce at most {MAX_REPEAT} items")
                _allow(size_of(sized) * max(times, 0))
                return left * right
        if isinstance(left, int) and isinstance(right, int):
            if left.bit_length() + right.bit_length() > MAX_INT_BITS:
                _refuse("the product is too large")
        return left * right
    if operator == "**":
        if isinstance(left, int) and isinstance(right, int) and right > 0:
            if max(abs(left).bit_length(), 1) * right > MAX_POWER_BITS:
                _refuse("the power is too large")
        return left**right
    if operator == "+" and isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        _allow(size_of(left) + size_of(right))
        return ops.add(left, right)
    if operator == "%" and isinstance(left, str):
        _allow(_percent_size(left, right))
        return _built(left % right)
    table: dict[str, Callable[[Any, Any], Any]] = {
        "+": ops.add,
        "-": ops.sub,
        "/": ops.truediv,
        "//": ops.floordiv,
        "%": ops.mod,
    }
    return table[operator](left, right)


def _bounded_concat(join: Callable[[Any], str], parts: tuple[Any, ...]) -> str:
    """``a ~ b``: measured before it is joined (escaping may grow a plain part sixfold)."""
    escaping = any(hasattr(part, "__html__") for part in parts)
    size = sum(size_of(part) * (6 if escaping and not hasattr(part, "__html__") else 1) for part in parts)
    _allow(size)
    return join(parts)


_STRING_METHODS_SIZES: dict[str, Callable[..., int]] = {
    "ljust": lambda s, width=0, *_: max(len(s), int(width)),
    "rjust": lambda s, width=0, *_: max(len(s), int(width)),
    "center": lambda s, width=0, *_: max(len(s), int(width)),
    "zfill": lambda s, width=0, *_: max(len(s), int(width)),
    "expandtabs": lambda s, tabsize=8, *_: (
        len(s) + s.count("\t" if isinstance(s, str) else b"\t") * int(tabsize)
    ),
    "replace": lambda s, old, new, count=-1, *_: (
        len(s)
        + max(0, len(new) - len(old)) * (s.count(old) if int(count) < 0 else min(int(count), s.count(old)))
    ),
    "join": lambda s, items, *_: (
        size_of(items) + len(s) * (len(items) if hasattr(items, "__len__") else MAX_VALUE_SIZE)
    ),
    "translate": lambda s, table, *_: (
        len(s) * max([1, *(size_of(v) for v in getattr(table, "values", list)())])
    ),
    "encode": lambda s, *_: 4 * len(s),
}


def _call_size(func: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int | None:
    """The size of what a call of a string's method would build, if it may build a large one."""
    method = getattr(func, "__wrapped__", func)  # the sandbox wraps str.format / format_map
    owner = getattr(method, "__self__", None)
    if not isinstance(owner, str | bytes):
        return None
    name = getattr(method, "__name__", "")
    if name in ("format", "format_map") and isinstance(owner, str):
        return _format_size(owner, args, kwargs)
    measure = _STRING_METHODS_SIZES.get(name)
    if measure is None:
        return None
    try:
        return int(measure(owner, *args, *kwargs.values()))
    except (TypeError, ValueError):
        return None  # wrong arguments: the call itself fails with a clear message


# How much larger than its input a filter's result may be (escaping writes ``&amp;`` for
# ``&``; URL encoding up to 12 characters for one; upper-casing ``ß`` gives ``SS``).
_FILTER_GROWTH = {"e": 6, "escape": 6, "urlencode": 12, "upper": 3, "lower": 3, "title": 3, "capitalize": 3}


def _bounded_filter(name: str, func: Callable[..., Any]) -> Callable[..., Any]:
    """``func`` measured before it runs (its input, its arguments, its growth) and after."""
    passes_first = getattr(func, "jinja_pass_arg", None) is not None
    growth = _FILTER_GROWTH.get(name, 1)

    @functools.wraps(func)
    def bounded(*args: Any, **kwargs: Any) -> Any:
        inputs = args[1:] if passes_first else args
        size = sum(size_of(value) for value in inputs) + size_of(kwargs)
        if name == "join" and inputs and hasattr(inputs[0], "__len__"):
            separator = inputs[1] if len(inputs) > 1 else kwargs.get("d", "")
            size += len(inputs[0]) * size_of(separator)
        _allow(size * growth)
        return _built(func(*args, **kwargs))

    return bounded


def _bounded_finalize(value: Any) -> Any:
    """What ``{{ }}`` prints is measured before it is turned into text."""
    if not isinstance(value, str) and size_of(value) > MAX_VALUE_SIZE:
        _refuse(f"a template may print values of at most {MAX_VALUE_SIZE:,} characters")
    return value


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
    from jinja2.compiler import CodeGenerator, Frame
    from jinja2.exceptions import SecurityError
    from jinja2.nodes import Concat
    from jinja2.sandbox import ImmutableSandboxedEnvironment

    class BoundedCodeGenerator(CodeGenerator):
        """Compiles ``a ~ b`` through the environment, like the intercepted operators."""

        def visit_Concat(self, node: Concat, frame: Frame) -> None:
            if frame.eval_ctx.volatile:
                join = "(markup_join if context.eval_ctx.volatile else str_join)"
            else:
                join = "markup_join" if frame.eval_ctx.autoescape else "str_join"
            self.write(f"environment.bounded_concat({join}, (")
            for argument in node.nodes:
                self.visit(argument, frame)
                self.write(", ")
            self.write("))")

    class CampaignSandbox(ImmutableSandboxedEnvironment):
        code_generator_class = BoundedCodeGenerator
        intercepted_binops = frozenset({"*", "**", "+", "-", "/", "//", "%"})

        def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
            return _bounded_binop(operator, left, right)

        def bounded_concat(self, join: Callable[[Any], str], parts: tuple[Any, ...]) -> str:
            return _bounded_concat(join, parts)

        def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
            size = _call_size(__obj, args, kwargs)
            if size is not None:
                _allow(size)
            return _built(super().call(__context, __obj, *args, **kwargs))

        def unsafe_undefined(self, obj: Any, attribute: str) -> Any:
            raise SecurityError(
                f"access to attribute {attribute!r} of {type(obj).__name__!r} object is unsafe"
            )

    env = CampaignSandbox(autoescape=html, trim_blocks=True, lstrip_blocks=True, finalize=_bounded_finalize)
    env.filters = {
        name: _bounded_filter(name, func) for name, func in env.filters.items() if name in ALLOWED_FILTERS
    }
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
    token = _allocation.set(_Allocation())  # this rendering's budget (per thread: a context var)
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
    finally:
        _allocation.reset(token)


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
