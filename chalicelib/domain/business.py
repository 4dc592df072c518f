"""The business's identity on its clients' pages and e-mails (pure).

Clients trust what they recognise: the public pages (confirm, decline,
unsubscribe, the intake form, their thank-you pages) and the e-mails show the
business's name, logo, brand colour, address, website and contact — never the
product's name, which the salon's clients have never heard.

The brand colour is the background of the pages' main button (white text) and
the colour of their links (on white), so it must keep WCAG's 4.5:1 contrast
against white: ``contrast_ratio`` is WCAG 2's formula.
"""

from __future__ import annotations

import re
from typing import Any

HEX_COLOUR = re.compile(r"^#[0-9A-Fa-f]{6}$")
MIN_CONTRAST = 4.5  # WCAG 2 AA, normal text
WHITE = "#ffffff"
DEFAULT_BRAND = "#0b4f9c"  # contrast 8.1:1 on white


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4


def luminance(colour: str) -> float:
    """WCAG relative luminance of ``#rrggbb``."""
    if not HEX_COLOUR.match(colour):
        raise ValueError("a colour is written #rrggbb")
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * _channel(r) + 0.7152 * _channel(g) + 0.0722 * _channel(b)


def contrast_ratio(a: str, b: str) -> float:
    """WCAG contrast ratio of two ``#rrggbb`` colours (1 to 21)."""
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def check_brand_colour(colour: str) -> str:
    """``colour`` normalised to lower case, if white text on it (and it on white) is readable."""
    if not HEX_COLOUR.match(colour):
        raise ValueError("write the colour as #rrggbb, e.g. #0b4f9c")
    ratio = contrast_ratio(colour, WHITE)
    if ratio < MIN_CONTRAST:
        raise ValueError(
            f"contrast with white is {ratio:.2f}:1; buttons and links need at least {MIN_CONTRAST}:1 "
            "(choose a darker shade)"
        )
    return colour.lower()


def business_context(name: str, settings: Any) -> dict[str, Any]:
    """The identity variables of campaign templates and pages."""
    return {
        "business_name": name,
        "business_address": getattr(settings, "business_address", None),
        "business_website": getattr(settings, "website_url", None),
        "business_contact": contact_line(settings),
        "logo_url": getattr(settings, "logo_url", None),
        "brand_color": getattr(settings, "brand_color", None) or DEFAULT_BRAND,
    }


def contact_line(settings: Any) -> str | None:
    parts = [getattr(settings, "contact_email", None), getattr(settings, "contact_phone", None)]
    shown = [part for part in parts if part]
    return " · ".join(shown) if shown else None


def footer_lines(settings: Any) -> list[str]:
    """What an e-mail footer says about the sender besides its name: address, website, contact."""
    lines: list[str] = []
    address = getattr(settings, "business_address", None)
    if address:
        lines.append(", ".join(part.strip() for part in address.splitlines() if part.strip()))
    for value in (getattr(settings, "website_url", None), contact_line(settings)):
        if value:
            lines.append(value)
    return lines
