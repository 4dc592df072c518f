"""CSV import of an existing client database (see docs/import.md).

Each row is validated with the same ``ClientInput`` rules as ``POST
/v1/clients`` and created through the same service; a bad row is reported
and never stops the good ones.  An import never makes a client more
sendable than it was:
- rows whose address is suppressed (unsubscribed, declined, bounced,
  complained, erased) are skipped — nothing is created or changed;
- existing clients (``update_existing=true``) get their profile columns
  updated, tags added, custom fields merged — never their consent state or
  suppression;
- consent columns are a claim that must carry its proof (date and source);
  with ``accept_consent=true`` a proven claim is recorded as a consent-ledger
  event with source ``import`` (notice ``consent_recorded``) — a grant only
  for a client whose consent is still ``unknown`` (else ``consent_not_changed``),
  a denial always; without it the claim is ignored (``consent_not_accepted``).

Lookups are batched (e-mail claims, suppressions, existing clients: one
``BatchGetItem`` per 100 rows); each created or updated client is one
transaction, like a single API call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from chalicelib.bootstrap import Deps
from chalicelib.domain.client_profile import MAX_TAGS, ClientInput, ClientPatch
from chalicelib.domain.consent import ConsentState, EventType, Source
from chalicelib.domain.contact import email_hash, email_key
from chalicelib.domain.csv_import import (
    ConsentClaim,
    CsvFileError,
    RowError,
    consent_of,
    parse_csv,
    profile_of,
)
from chalicelib.domain.records import Account, Client
from chalicelib.domain.tags import retagged
from chalicelib.domain.time import to_iso
from chalicelib.errors import ConcurrentModification, Conflict, InvalidInput, NotFound, PayloadTooLarge
from chalicelib.observability import logger, metrics
from chalicelib.services import clients as client_service


@dataclass
class ImportReport:
    rows: int = 0
    created: int = 0
    updated: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)
    skipped_rows: list[dict[str, Any]] = field(default_factory=list)
    notices: list[dict[str, Any]] = field(default_factory=list)
    ignored_columns: list[str] = field(default_factory=list)
    unknown_columns: list[str] = field(default_factory=list)
    columns: list[dict[str, Any]] = field(default_factory=list)

    def error(self, row: int, code: str, message: str) -> None:
        self.errors.append({"row": row, "code": code, "message": message})

    def skip(self, row: int, code: str, message: str) -> None:
        self.skipped_rows.append({"row": row, "code": code, "message": message})

    def notice(self, row: int, code: str, message: str) -> None:
        self.notices.append({"row": row, "code": code, "message": message})

    def as_json(self) -> dict[str, Any]:
        by_row = lambda entry: entry["row"]  # noqa: E731
        return {
            "rows": self.rows,
            "created": self.created,
            "updated": self.updated,
            "skipped": len(self.skipped_rows),
            "errors": sorted(self.errors, key=by_row),
            "skipped_rows": sorted(self.skipped_rows, key=by_row),
            "notices": sorted(self.notices, key=by_row),
            "ignored_columns": self.ignored_columns,
            "unknown_columns": self.unknown_columns,
            "columns": self.columns,
        }


@dataclass(frozen=True)
class _Row:
    number: int
    data: ClientInput
    claim: ConsentClaim | None


def _row_message(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors(include_url=False, include_input=False):
        where = ".".join(str(p) for p in err.get("loc", ())) or "row"
        text = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        parts.append(f"{where}: {text}")
    return "; ".join(parts)


def _file_error(exc: CsvFileError) -> InvalidInput | PayloadTooLarge:
    if exc.code == "too_many_rows":
        return PayloadTooLarge(exc.message, code="payload_too_large", details=exc.details)
    return InvalidInput(exc.message, code=exc.code, details=exc.details)


def _patch_for(existing: Client, data: ClientInput) -> ClientPatch | None:
    """What the row changes on an existing client: profile columns given in the file, tags
    added, custom fields merged.  None when it changes nothing.  Never consent or suppression."""
    changes: dict[str, Any] = {}
    for name in ("first_name", "last_name", "phone", "language", "status", "last_visit_at"):
        if name in data.model_fields_set and getattr(data, name) != getattr(existing, name):
            changes[name] = getattr(data, name)
    tags = retagged(existing.tags, data.tags, [])
    if tags != existing.tags:
        changes["tags"] = tags
    fields = {name: value for name, value in data.fields.items() if existing.fields.get(name) != value}
    if fields:
        changes["fields"] = fields
    if not changes:
        return None
    return ClientPatch.model_validate(changes, strict=False)


def _record_claim(
    deps: Deps, account: Account, client_id: str, claim: ConsentClaim, actor: str | None
) -> tuple[str, str]:
    """Record a proven consent claim in the ledger (source ``import``) — never loosening:
    a grant is recorded only for a client whose consent is still ``unknown``; a denial
    always (it can only make the client less sendable)."""
    from chalicelib.services.consent import ConsentChange, record_consent

    note = (
        f"imported claim: {'granted' if claim.granted else 'denied'} on {to_iso(claim.at)} via {claim.source}"
    )
    if claim.granted:
        client = deps.clients.get(account.account_id, client_id, consistent=True)
        if client.consent_state != ConsentState.UNKNOWN.value:
            return (
                "consent_not_changed",
                f"the client's consent is already {client.consent_state}; an import never overrides it",
            )
    change = ConsentChange(
        type=EventType.GRANTED if claim.granted else EventType.DENIED,
        source=Source.IMPORT,
        note=note,
        actor=actor,
    )
    try:
        record_consent(deps, account, client_id, change)
    except (ConcurrentModification, NotFound) as exc:
        return exc.code, exc.message
    return "consent_recorded", f"recorded in the consent ledger with source import ({note})"


def import_clients(
    deps: Deps,
    account: Account,
    raw: bytes,
    *,
    update_existing: bool,
    accept_consent: bool,
    custom_fields: bool = False,
    actor: str | None = None,
) -> dict[str, Any]:
    settings = deps.settings
    if len(raw) > settings.max_csv_body_bytes:
        raise PayloadTooLarge(
            f"the CSV file is larger than {settings.max_csv_body_bytes} bytes; split it into smaller files",
            details={"limit_bytes": settings.max_csv_body_bytes, "received_bytes": len(raw)},
        )
    try:
        parsed = parse_csv(raw, settings.max_import_rows, custom_fields=custom_fields)
    except CsvFileError as exc:
        raise _file_error(exc) from None
    report = ImportReport(
        ignored_columns=parsed.ignored, unknown_columns=parsed.unknown, columns=parsed.mapping
    )
    report.rows = len(parsed.rows) + len(parsed.row_errors)
    for number, row_error in parsed.row_errors:
        report.error(number, row_error.code, row_error.message)

    now = deps.clock()
    rows: list[_Row] = []
    first_seen: dict[str, int] = {}
    for row in parsed.rows:
        try:
            claim = consent_of(row, now)
            data = ClientInput.model_validate(profile_of(row))
        except RowError as exc:
            report.error(row.number, exc.code, exc.message)
            continue
        except ValidationError as exc:
            report.error(row.number, "invalid_row", _row_message(exc))
            continue
        key = email_key(data.email)
        if key in first_seen:
            report.error(row.number, "duplicate_in_file", f"the same e-mail address as row {first_seen[key]}")
            continue
        first_seen[key] = row.number
        rows.append(_Row(row.number, data, claim))

    account_id = account.account_id
    hashes = {row.number: email_hash(deps.email_hash_key, row.data.email) for row in rows}
    suppressed = deps.suppressions.suppressed_among(account_id, list(hashes.values()))
    owners = deps.client_index.client_ids_for_email_keys(account_id, [email_key(r.data.email) for r in rows])
    existing = deps.client_index.get_many(account_id, list(owners.values())) if update_existing else {}
    # Every tag of the file in the account's spelling, registered once (not once per row).
    from chalicelib.services.tags import account_spellings

    spellings: dict[str, str] = {}
    account_spellings(deps, account_id, [tag for row in rows for tag in row.data.tags], spellings)

    def apply(row: _Row) -> tuple[str, str, str, str | None]:
        """(outcome, code, message, client id): outcome is created, updated, skipped or error."""
        if hashes[row.number] in suppressed:
            return (
                "skipped",
                "suppressed",
                "the address is suppressed (unsubscribed, bounced, complained or erased)",
                None,
            )
        owner = owners.get(email_key(row.data.email))
        if owner is None:
            try:
                created = client_service.create_client(deps, account, row.data, spellings)
            except Conflict:
                return "skipped", "exists", "a client with this e-mail address was created meanwhile", None
            return "created", "", "", created.client_id
        if not update_existing:
            return (
                "skipped",
                "exists",
                "a client with this e-mail address exists; use update_existing=true",
                owner,
            )
        current = existing.get(owner)
        if current is None:
            return "error", "not_found", "the client with this e-mail address was erased meanwhile", None
        if len(retagged(current.tags, row.data.tags, [])) > MAX_TAGS:
            return "error", "invalid_row", f"tags: a client has at most {MAX_TAGS} tags", None
        patch = _patch_for(current, row.data)
        if patch is None:
            return "skipped", "unchanged", "the client already has these values", owner
        try:
            client_service.update_client(deps, account, owner, patch, spellings)
        except (ConcurrentModification, NotFound) as exc:
            return "error", exc.code, exc.message, None
        return "updated", "", "", owner

    def apply_with_consent(row: _Row) -> tuple[str, str, str, tuple[str, str] | None]:
        outcome, code, message, client_id = apply(row)
        notice = None
        if row.claim is not None and client_id is not None:
            notice = (
                _record_claim(deps, account, client_id, row.claim, actor)
                if accept_consent
                else ("consent_not_accepted", "consent columns are ignored without accept_consent=true")
            )
        return outcome, code, message, notice

    threads = min(settings.write_concurrency, max(1, len(rows)))
    if threads == 1:
        outcomes = [apply_with_consent(row) for row in rows]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=threads) as pool:
            outcomes = list(pool.map(apply_with_consent, rows))
    for row, (outcome, code, message, notice) in zip(rows, outcomes, strict=True):
        if outcome == "created":
            report.created += 1
        elif outcome == "updated":
            report.updated += 1
        elif outcome == "skipped":
            report.skip(row.number, code, message)
        else:
            report.error(row.number, code, message)
        if notice is not None:
            report.notice(row.number, *notice)
    logger.info(
        "clients imported",
        extra={
            "account_id": account_id,
            "rows": report.rows,
            "rows_created": report.created,
            "rows_updated": report.updated,
            "rows_failed": len(report.errors),
        },
    )
    metrics.add_metric(name="ClientsImported", unit="Count", value=report.created)
    return report.as_json()
