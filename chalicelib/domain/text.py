"""One validator for every text a person types that can reach an e-mail header or a page.

Use it as a pydantic annotation: ``Annotated[str, Text(100, name=True)]``. It strips
surrounding whitespace (unless ``strip=False``), checks the length, and refuses:

- always: control characters — C0 (``\\x00`` to ``\\x1f``), DEL and C1 (``\\x7f`` to ``\\x9f``) — except
  tab and line breaks in ``multiline`` text (campaign bodies, notes);
- in single-line text: Unicode's line and paragraph separators too (a subject, a name or a
  label is one line: a header cannot be split, a page cannot be re-laid out);
- in ``name`` text (people, businesses, senders, lists, campaigns): the invisible
  formatting characters (Unicode category Cf) — bidirectional overrides and isolates that
  reverse what a reader sees, zero-width spaces and joiners that hide a look-alike, the
  byte order mark, soft hyphens, tag characters;
- in ``display_name`` text (the From name of the business's mail): anything shaped like an
  address (look-alike at signs included), so a sender cannot show as ``support@bank.example``.

The same rules are stated in the OpenAPI document as a ``pattern`` (the address-like rule,
beyond what a portable JSON Schema regex states simply, is the validator's alone).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from typing import Any

# Characters and their JSON Schema spelling (ECMA-262 regex, as the OpenAPI document needs).
SINGLE_LINE_EXCLUDES = "\\u0000-\\u001F\\u007F-\\u009F\\u2028\\u2029"  # controls and line breaks
_MULTILINE = "\\u0000-\\u0008\\u000B\\u000C\\u000E-\\u001F\\u007F-\\u009F"  # tab, LF, CR allowed
# Unicode's Cf characters of the Basic Multilingual Plane (as of Unicode 14) (the validator checks them all).
FORMAT_CHARACTERS = (
    "\\u00AD\\u0600-\\u0605\\u061C\\u06DD\\u070F\\u0890\\u0891\\u08E2\\u180E"
    "\\u200B-\\u200F\\u202A-\\u202E\\u2060-\\u2064\\u2066-\\u206F\\uFEFF\\uFFF9-\\uFFFB"
)
# ``x@y.z``, with the look-alike at signs too (fullwidth, small): a From name that reads as an address.
_AT = "@\uff20\ufe6b"
_ADDRESS_LIKE = re.compile(f"[^\\s{_AT}<>]+[{_AT}][^\\s{_AT}<>]+[.\uff0e\u3002][^\\s{_AT}<>]+")


def text_pattern(*, multiline: bool = False, name: bool = False, display_name: bool = False) -> str:
    excluded = (_MULTILINE if multiline else SINGLE_LINE_EXCLUDES) + (FORMAT_CHARACTERS if name else "")
    return f"^[^{excluded}]*$"


def check_text(value: str, *, multiline: bool = False, name: bool = False, display_name: bool = False) -> str:
    """``value`` if it follows the rules above, else ``ValueError`` saying which."""
    for char in value:
        category = unicodedata.category(char)
        if category == "Cc" and not (multiline and char in "\t\n\r"):
            if char in "\n\r":
                raise ValueError("must be a single line (no line breaks)")
            raise ValueError("must not contain control characters")
        if category in ("Zl", "Zp") and not multiline:
            raise ValueError("must be a single line (no line breaks)")
        if category == "Cf" and name:
            raise ValueError(
                "must not contain invisible formatting characters (bidirectional controls, zero-width characters)"
            )
    if display_name and _ADDRESS_LIKE.search(value):
        raise ValueError("must be a name, not an e-mail address")
    return value


@dataclass(frozen=True)
class Text:
    """A pydantic annotation: ``Annotated[str, Text(max_length, ...)]`` (see the module)."""

    max_length: int
    min_length: int = 0
    multiline: bool = False
    name: bool = False
    display_name: bool = False
    strip: bool = True

    def check(self, value: str) -> str:
        return check_text(value, multiline=self.multiline, name=self.name, display_name=self.display_name)

    def __get_pydantic_core_schema__(self, source: Any, handler: Any) -> Any:
        from pydantic_core import core_schema

        base = handler(source)  # the str schema, with the model's strictness
        base.update(strip_whitespace=self.strip, max_length=self.max_length)
        if self.min_length:
            base["min_length"] = self.min_length
        return core_schema.no_info_after_validator_function(self.check, base)

    def __get_pydantic_json_schema__(self, schema: Any, handler: Any) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "string", "maxLength": self.max_length}
        if self.min_length:
            out["minLength"] = self.min_length
        out["pattern"] = text_pattern(
            multiline=self.multiline, name=self.name, display_name=self.display_name
        )
        return out
