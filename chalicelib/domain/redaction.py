"""What erasure does to the addresses stored inside filters (pure).

A saved list's source and a campaign's audience may be a filter that names people by
address (``{"field": "email", "op": "eq", "value": "anna@example.com"}``, an ``in`` list, a
custom field compared with an address). Erasing a client replaces every filter value equal
to its address — compared as addresses are, case-insensitively — with
``erased:<keyed hash>``: the same keyed hash as the suppression entry and the pseudonymised
ledger, so the filter still says *that* someone was named without saying who. Such a value
matches no client (no address has that shape), so a redacted audience still runs.
"""

from __future__ import annotations

from typing import Any

from chalicelib.domain.contact import email_key

REDACTED_PREFIX = "erased:"


def redaction_marker(address_hash: str) -> str:
    return f"{REDACTED_PREFIX}{address_hash}"


def names_an_address(stored: Any) -> bool:
    """Whether a stored source or audience holds a value that may be an address (any string
    with an ``@`` that is not already redacted): the ones erasure must look at."""
    if isinstance(stored, str):
        return "@" in stored and not stored.startswith(REDACTED_PREFIX)
    if isinstance(stored, dict):
        return any(names_an_address(value) for value in stored.values())
    if isinstance(stored, list | tuple):
        return any(names_an_address(value) for value in stored)
    return False


def redact_address(stored: Any, address: str, marker: str) -> tuple[Any, bool]:
    """``stored`` with every string equal to ``address`` (as an address) replaced by
    ``marker``, and whether anything changed. Keys and every other value stay as they are."""
    key = email_key(address)
    if isinstance(stored, str):
        return (marker, True) if "@" in stored and email_key(stored) == key else (stored, False)
    if isinstance(stored, dict):
        changed = False
        out: dict[Any, Any] = {}
        for name, value in stored.items():
            out[name], hit = redact_address(value, address, marker)
            changed |= hit
        return out, changed
    if isinstance(stored, list | tuple):
        pairs = [redact_address(value, address, marker) for value in stored]
        return [value for value, _ in pairs], any(hit for _, hit in pairs)
    return stored, False
