"""Reading a client CSV file (pure): encoding, delimiter, header mapping, rows, consent proof.

- UTF-8, with or without a byte-order mark; anything else is refused whole.
- The delimiter is ``,`` or ``;`` (or a tab), decided from the header line:
  the one that occurs most often there outside quotes (``,`` on a tie).
- Header names are matched case- and accent-insensitively, with spaces, dots
  and dashes read as ``_``, in English, Czech and Italian (``HEADER_NAMES``:
  ``Nome``/``Jméno``/``First name`` → ``first_name``, ``Ultima visita``/
  ``Poslední návštěva`` → ``last_visit_at``…).  A column named ``fields.x``
  is the custom field ``x``.  Any other column is *unknown*: reported and not
  imported, unless the caller asks for custom fields (then ``Note`` becomes
  ``fields.note``).  Columns the system owns (ids, automatic status,
  timestamps, suppression) are ignored and reported.  ``describe_columns`` is
  the mapping as data (never raises), for an import preview.
- Cells are trimmed; an empty cell means "no value".  Tags are separated
  by ``|``, ``,`` or ``;``.  Custom-field cells that are canonical integers,
  decimals or ``true``/``false`` become numbers/booleans; anything else,
  e.g. ``007`` or ``1e3``, stays text.
- Consent columns (``consent``, ``consent_date``, ``consent_source``) are a
  claim that needs proof: all three or none.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.domain.time import parse_timestamp

PROFILE_COLUMNS = ("email", "first_name", "last_name", "phone", "language", "tags", "status", "last_visit_at")
CONSENT_COLUMNS = ("consent", "consent_date", "consent_source")
IGNORED_COLUMNS = (
    "client_id",
    "auto_status",
    "suppressed",
    "created_at",
    "updated_at",
    "consent_state",
    "confirmed_at",
    "consent_confirmed_at",
)
# Every built-in column and the header names it is recognised by (en, cs, it), written as
# ``normalise_header`` reads them: lower case, no accents, separators as ``_``.
HEADER_NAMES: dict[str, tuple[str, ...]] = {
    "email": (
        "email", "e_mail", "mail", "email_address", "e_mail_address",  # en
        "emailova_adresa", "e_mailova_adresa", "adresa_e_mailu",  # cs
        "indirizzo_email", "indirizzo_e_mail", "posta_elettronica",  # it
    ),
    "first_name": (
        "first_name", "firstname", "given_name",
        "jmeno", "krestni_jmeno",
        "nome",
    ),
    "last_name": (
        "last_name", "lastname", "surname", "family_name",
        "prijmeni",
        "cognome",
    ),
    "phone": (
        "phone", "telephone", "phone_number", "mobile", "tel", "mobile_phone",
        "telefon", "mobil", "telefonni_cislo", "cislo_telefonu",
        "telefono", "cellulare", "numero_di_telefono",
    ),
    "language": ("language", "lang", "jazyk", "lingua"),
    "tags": ("tags", "tag", "labels", "stitky", "stitek", "etichette", "etichetta"),
    "status": ("status", "stav", "stato"),
    "last_visit_at": (
        "last_visit_at", "last_visit", "last_visit_date",
        "posledni_navsteva", "datum_posledni_navstevy",
        "ultima_visita", "data_ultima_visita",
    ),
    "consent": ("consent", "souhlas", "consenso"),
    "consent_date": (
        "consent_date", "consent_at", "consent_proof_date",
        "datum_souhlasu",
        "data_consenso", "data_del_consenso",
    ),
    "consent_source": (
        "consent_source",
        "zdroj_souhlasu",
        "fonte_consenso", "origine_consenso",
    ),
}  # fmt: skip
_ALIASES = {name: field for field, names in HEADER_NAMES.items() for name in names}
_FIELD_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_SEPARATORS = re.compile(r"[\s.\-]+")
_TAG_SPLIT = re.compile(r"[|,;]")
_INT = re.compile(r"^-?(0|[1-9][0-9]{0,14})$")
_DECIMAL = re.compile(r"^-?(0|[1-9][0-9]{0,14})\.[0-9]{1,10}$")
_GRANTED = frozenset({"granted", "yes", "true", "1", "y"})
_DENIED = frozenset({"denied", "no", "false", "0", "n"})
MAX_CONSENT_SOURCE = 200


class CsvFileError(ValueError):
    """The file as a whole cannot be read; ``code`` is the API error code."""

    def __init__(self, code: str, message: str, details: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.details = details


class RowError(ValueError):
    """One row cannot be imported; the others go on."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True)
class Column:
    header: str  # as written in the file
    target: str  # a profile column, a consent column, "fields.<name>", or "" (not imported)
    kind: str = "field"  # field | custom | ignored (the system's) | unknown | invalid
    problem: str | None = None  # why an invalid column cannot be used


@dataclass(frozen=True)
class CsvRow:
    number: int  # 1-based data row (the header is not counted)
    values: dict[str, str]  # target -> trimmed cell text, empty cells left out


@dataclass
class CsvFile:
    delimiter: str
    columns: list[Column]
    rows: list[CsvRow] = field(default_factory=list)
    row_errors: list[tuple[int, RowError]] = field(default_factory=list)

    @property
    def ignored(self) -> list[str]:
        return [c.header for c in self.columns if c.kind == "ignored"]

    @property
    def unknown(self) -> list[str]:
        return [c.header for c in self.columns if c.kind == "unknown"]

    @property
    def mapping(self) -> list[dict[str, str | None]]:
        """Which header went where (``field`` null: not imported)."""
        return [{"header": c.header, "field": c.target or None, "kind": c.kind} for c in self.columns]


@dataclass(frozen=True)
class ConsentClaim:
    granted: bool
    at: datetime
    source: str


def decode(raw: bytes) -> str:
    if raw.startswith(codecs.BOM_UTF8):
        raw = raw[len(codecs.BOM_UTF8) :]
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CsvFileError(
            "invalid_encoding",
            f"the file is not UTF-8 (invalid byte at offset {exc.start}); save it as UTF-8 CSV",
            details=[{"field": "body", "message": f"invalid UTF-8 at byte {exc.start}"}],
        ) from None


def detect_delimiter(text: str) -> str:
    """``,``, ``;`` or tab: whichever occurs most in the header line outside quotes."""
    counts = {",": 0, ";": 0, "\t": 0}
    quoted = False
    for char in text:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in "\r\n":
            break
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(counts.values())
    if best == 0:
        return ","
    return next(d for d in (",", ";", "\t") if counts[d] == best)


def normalise_header(name: str) -> str:
    """Lower-cased, accents dropped (``Jméno`` → ``jmeno``), separators as ``_``, the names of
    ``HEADER_NAMES`` mapped to their column; ``fields.<name>`` keeps its name as written."""
    text = name.strip().lstrip("\ufeff")
    if text.lower().startswith("fields."):
        return "fields." + text[len("fields.") :].strip()
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    key = _SEPARATORS.sub("_", ascii_text.lower()).strip("_")
    return _ALIASES.get(key, key)


def describe_columns(header: list[str], *, custom_fields: bool = False) -> list[Column]:
    """Where each header of a file goes — the import's mapping as data, for a preview; never
    raises (an unusable column is ``kind="invalid"`` with its ``problem``).  Unknown headers
    become custom fields only with ``custom_fields``."""
    columns: list[Column] = []
    seen: dict[str, str] = {}
    for position, name in enumerate(header, start=1):
        key = normalise_header(name)
        if not key:
            columns.append(Column(name, "", "invalid", f"column {position}: the header cell is empty"))
            continue
        if key in IGNORED_COLUMNS:
            columns.append(Column(name, "", "ignored"))
            continue
        if key in PROFILE_COLUMNS or key in CONSENT_COLUMNS:
            target, kind = key, "field"
        elif key.startswith("fields.") or custom_fields:
            custom = key.removeprefix("fields.")
            if not _FIELD_NAME.match(custom):
                problem = f"column {position}: {name!r} is not a usable custom field name"
                columns.append(Column(name, "", "invalid", problem))
                continue
            target, kind = f"fields.{custom}", "custom"
        else:
            columns.append(Column(name, "", "unknown"))
            continue
        if target in seen:
            problem = f"column {position}: {name!r} repeats column {seen[target]!r}"
            columns.append(Column(name, "", "invalid", problem))
            continue
        seen[target] = name
        columns.append(Column(name, target, kind))
    return columns


def map_columns(header: list[str], *, custom_fields: bool = False) -> list[Column]:
    columns = describe_columns(header, custom_fields=custom_fields)
    problems = [
        {"field": (c.problem or "").split(":", 1)[0], "message": (c.problem or "").split(": ", 1)[-1]}
        for c in columns
        if c.kind == "invalid"
    ]
    if problems:
        raise CsvFileError("invalid_header", "the header row has unusable columns", details=problems)
    if not any(c.target == "email" for c in columns):
        raise CsvFileError(
            "missing_email_column",
            "the header row must have an email column",
            details=[{"field": "header", "message": "no email (or e-mail) column"}],
        )
    return columns


def _records(text: str, delimiter: str) -> Iterator[list[str]]:
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    try:
        yield from reader
    except csv.Error as exc:
        raise CsvFileError(
            "malformed_csv",
            f"the CSV is malformed near line {reader.line_num}: {exc}",
            details=[{"field": f"line {reader.line_num}", "message": str(exc)}],
        ) from None


def parse_csv(raw: bytes, max_rows: int, *, custom_fields: bool = False) -> CsvFile:
    """Header mapping and trimmed rows; raises ``CsvFileError`` for a file that cannot be read,
    and ``CsvFileError("too_many_rows")`` past ``max_rows`` data rows."""
    text = decode(raw)
    if not text.strip():
        raise CsvFileError(
            "empty_file", "the file is empty", details=[{"field": "body", "message": "no header row"}]
        )
    delimiter = detect_delimiter(text)
    records = _records(text, delimiter)
    header = next(records)
    parsed = CsvFile(delimiter, map_columns(header, custom_fields=custom_fields))
    width = len(header)
    for number, cells in enumerate(records, start=1):
        if number > max_rows:
            raise CsvFileError(
                "too_many_rows",
                f"the file has more than {max_rows} data rows; split it into smaller files",
                details={"max_rows": max_rows},
            )
        if not any(cell.strip() for cell in cells):
            continue  # a blank line
        if len(cells) > width:
            parsed.row_errors.append(
                (number, RowError("invalid_row", f"the row has {len(cells)} cells, the header has {width}"))
            )
            continue
        values = {
            column.target: cell.strip()
            for column, cell in zip(parsed.columns, cells, strict=False)
            if column.target and cell.strip()
        }
        parsed.rows.append(CsvRow(number, values))
    return parsed


def custom_value(text: str) -> str | int | float | bool:
    if _INT.match(text):
        return int(text)
    if _DECIMAL.match(text):
        return float(text)
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    return text


def profile_of(row: CsvRow) -> dict[str, Any]:
    """The row as client input (the same shape as ``POST /v1/clients``), not yet validated."""
    data: dict[str, Any] = {}
    fields: dict[str, Any] = {}
    for target, text in row.values.items():
        if target == "tags":
            data["tags"] = [tag.strip() for tag in _TAG_SPLIT.split(text) if tag.strip()]
        elif target.startswith("fields."):
            fields[target.removeprefix("fields.")] = custom_value(text)
        elif target in PROFILE_COLUMNS:
            data[target] = text
    if fields:
        data["fields"] = fields
    return data


def consent_of(row: CsvRow, now: datetime) -> ConsentClaim | None:
    """The row's consent claim, which needs its proof: consent, consent_date (not in the future)
    and consent_source together.  None when the row makes no claim; ``RowError`` when it is
    unproven or unreadable."""
    given = {name: row.values.get(name) for name in CONSENT_COLUMNS}
    if not any(given.values()):
        return None
    if not all(given.values()):
        missing = ", ".join(name for name, value in given.items() if not value)
        raise RowError(
            "consent_without_proof",
            f"consent needs consent, consent_date and consent_source together (missing: {missing})",
        )
    choice = str(given["consent"]).strip().lower()
    if choice not in _GRANTED | _DENIED:
        raise RowError("invalid_consent", "consent must be granted/yes/true/1 or denied/no/false/0")
    try:
        at = parse_timestamp(given["consent_date"])
    except ValueError as exc:
        raise RowError("invalid_consent", f"consent_date {exc}") from None
    if at > now:
        raise RowError("invalid_consent", "consent_date is in the future")
    source = str(given["consent_source"])
    if len(source) > MAX_CONSENT_SOURCE:
        raise RowError("invalid_consent", f"consent_source has at most {MAX_CONSENT_SOURCE} characters")
    return ConsentClaim(granted=choice in _GRANTED, at=at, source=source)


def parts_of(rows: list[dict[str, Any]], max_rows: int, max_bytes: int) -> list[list[dict[str, Any]]]:
    """``rows`` (JSON-able) cut, in order, into parts of at most ``max_rows`` rows and, as JSON,
    about ``max_bytes`` bytes (a part always holds at least one row), so each part is one
    storage item well under DynamoDB's 400 KB limit (a CSV file is at most 5 MiB)."""
    parts: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    size = 0
    for row in rows:
        row_size = len(json.dumps(row, separators=(",", ":"), ensure_ascii=False).encode()) + 1
        if current and (len(current) >= max_rows or size + row_size > max_bytes):
            parts.append(current)
            current, size = [], 0
        current.append(row)
        size += row_size
    if current:
        parts.append(current)
    return parts
