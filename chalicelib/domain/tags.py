"""Tags and manual status labels: compared case-insensitively, stored as first written (pure).

``VIP``, ``vip`` and ``Vip`` are one tag. Everything that compares tags or
status labels — filters, bulk tagging, audiences, the tag-membership index —
compares their *keys* (``label_key``: Unicode NFC, trimmed, case-folded), so a
campaign aimed at ``VIP`` reaches the clients tagged ``vip``. What is shown is
the spelling first written for the account (the tag registry,
``storage/tags.py``), so a client never holds two spellings of one tag and
``GET /v1/tags`` lists each tag once.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping


def label_key(label: str) -> str:
    """The comparison key of a tag or status label: NFC, trimmed, case-folded."""
    return unicodedata.normalize("NFC", label.strip()).casefold()


def same_label(a: str | None, b: str | None) -> bool:
    if a is None or b is None:
        return a is b
    return label_key(a) == label_key(b)


def unique_tags(tags: Iterable[str]) -> list[str]:
    """Tags without a second spelling of any of them (the first spelling kept, order kept)."""
    seen: set[str] = set()
    kept: list[str] = []
    for tag in tags:
        key = label_key(tag)
        if key not in seen:
            seen.add(key)
            kept.append(tag)
    return kept


def has_tag(tags: Iterable[str], tag: str) -> bool:
    key = label_key(tag)
    return any(label_key(t) == key for t in tags)


def retagged(tags: list[str], add: Iterable[str], remove: Iterable[str]) -> list[str]:
    """A client's tags after adding and removing some: order kept, new tags appended, each tag
    once, whatever its spelling (a tag the client has keeps the client's spelling)."""
    removed = {label_key(tag) for tag in remove}
    kept = [tag for tag in unique_tags(tags) if label_key(tag) not in removed]
    return unique_tags([*kept, *add])


def spelled(tags: Iterable[str], spellings: Mapping[str, str]) -> list[str]:
    """``tags`` in the account's spellings (``spellings``: key → spelling first written)."""
    return unique_tags(spellings.get(label_key(tag), tag) for tag in tags)
