"""Rendering of public pages and e-mails: one Jinja2 environment, message catalogues.

The environment is built on first use (Jinja2 is not imported by requests
that render nothing) and autoescapes every ``.html`` template, so names,
addresses and anything else a visitor typed are always escaped. Text
e-mails (``.txt``) are not escaped: they are not HTML.

Localisation: one JSON catalogue per language in ``templates/i18n/``
(``en`` is the reference; a unit test keeps the others complete). Templates
call ``t("key", name=value)``; the text is formatted with ``str.format`` and
then escaped like any other value.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from jinja2 import Environment

TEMPLATES_DIR = Path(__file__).resolve().parent.parent / "templates"
LANGUAGES = ("en", "cs", "it")
DEFAULT_LANGUAGE = "en"


def pick_language(*candidates: str | None) -> str:
    """The first supported language among ``candidates`` (client's, then account's…)."""
    for candidate in candidates:
        if candidate:
            code = candidate.strip().lower()[:2]
            if code in LANGUAGES:
                return code
    return DEFAULT_LANGUAGE


def accepted_language(header: str | None) -> str | None:
    """The best supported language of an ``Accept-Language`` header, if any."""
    if not header:
        return None
    ranked: list[tuple[float, int, str]] = []
    for position, part in enumerate(header.split(",")[:20]):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                continue
        code = tag.strip().lower()[:2]
        if code in LANGUAGES and quality > 0:
            ranked.append((-quality, position, code))
    return min(ranked)[2] if ranked else None


@lru_cache(maxsize=len(LANGUAGES))
def catalogue(language: str) -> dict[str, str]:
    path = TEMPLATES_DIR / "i18n" / f"{pick_language(language)}.json"
    data: dict[str, str] = json.loads(path.read_text(encoding="utf-8"))
    return data


class Translator:
    """``t("key", **params)`` for one language; a missing key falls back to English."""

    def __init__(self, language: str) -> None:
        self.language = pick_language(language)
        self._messages = catalogue(self.language)

    def __call__(self, key: str, **params: Any) -> str:
        text = self._messages.get(key)
        if text is None:
            text = catalogue(DEFAULT_LANGUAGE)[key]  # a KeyError here is a bug in a template
        return text.format(**params) if params else text


@lru_cache(maxsize=1)
def environment() -> Environment:
    from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=FileSystemLoader(str(TEMPLATES_DIR)),
        autoescape=select_autoescape(
            enabled_extensions=("html",), disabled_extensions=("txt",), default_for_string=True, default=True
        ),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


def render(template: str, language: str, **context: Any) -> str:
    """Render ``template`` (a path under ``templates/``) in ``language``."""
    translate = Translator(language)
    return environment().get_template(template).render(t=translate, lang=translate.language, **context)


def template_names(prefix: str) -> Iterable[str]:
    return sorted(
        str(p.relative_to(TEMPLATES_DIR)) for p in (TEMPLATES_DIR / prefix).rglob("*") if p.is_file()
    )
