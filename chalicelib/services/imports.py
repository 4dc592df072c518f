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
``BatchGetItem`` per 100 rows); new clients are created several to a
transaction (up to 16 rows: one call instead of one each), with the same
conditions as a single API call; each updated client is one transaction.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import TYPE_CHECKING, Any

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
from chalicelib.domain.jobs import Budget, ChunkOutcome, Job, add_counters
from chalicelib.domain.records import Account, Client
from chalicelib.domain.tags import retagged
from chalicelib.domain.time import parse_timestamp, to_iso, to_storage
from chalicelib.errors import ConcurrentModification, Conflict, InvalidInput, NotFound, PayloadTooLarge
from chalicelib.observability import logger, metrics
from chalicelib.services import clients as client_service
from chalicelib.services import jobs
from chalicelib.services.writers import concurrently, in_batches

if TYPE_CHECKING:
    from chalicelib.storage.consent import Stage


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
    profile: dict[str, Any] = field(default_factory=dict, compare=False)  # the input validated

    def stored(self) -> dict[str, Any]:
        """The row as a job's part holds it: the input exactly as validated, and the claim."""
        claim = self.claim
        return {
            "n": self.number,
            "p": self.profile,
            "c": None
            if claim is None
            else {"granted": claim.granted, "at": to_storage(claim.at), "source": claim.source},
        }

    @classmethod
    def loaded(cls, stored: dict[str, Any]) -> _Row:
        claim = stored.get("c")
        return cls(
            number=int(stored["n"]),
            data=ClientInput.model_validate(stored["p"]),
            claim=None
            if claim is None
            else ConsentClaim(bool(claim["granted"]), parse_timestamp(claim["at"]), str(claim["source"])),
            profile=stored["p"],
        )


@dataclass(frozen=True)
class _Options:
    update_existing: bool
    accept_consent: bool
    actor: str | None


@dataclass(frozen=True)
class _Receipts:
    """A job's receipts of its rows (``storage.jobs.JobPartRepository``): ``prior`` holds
    those of rows an earlier attempt of the chunk already ran."""

    deps: Deps
    account_id: str
    job_id: str
    expires: datetime
    prior: dict[int, dict[str, Any]]

    def first(self, row: int, outcome: dict[str, Any]) -> Stage:
        return partial(
            self.deps.job_parts.stage_receipt,
            account_id=self.account_id,
            job_id=self.job_id,
            row=row,
            outcome=outcome,
            expires=self.expires,
        )

    def read(self, row: int) -> dict[str, Any] | None:
        """The row's receipt, if another attempt of the chunk wrote one (one consistent read)."""
        return self.deps.job_parts.receipts(self.account_id, self.job_id, [row]).get(row)

    def change(self, row: int, expected: dict[str, Any], outcome: dict[str, Any]) -> Stage:
        return partial(
            self.deps.job_parts.stage_receipt_change,
            account_id=self.account_id,
            job_id=self.job_id,
            row=row,
            expected=expected,
            outcome=outcome,
        )


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
    deps: Deps,
    account: Account,
    client_id: str,
    claim: ConsentClaim,
    actor: str | None,
    stage_for: Callable[[str, str], Stage] | None = None,
) -> tuple[str, str]:
    """Record a proven consent claim in the ledger (source ``import``) — never loosening:
    a grant is recorded only for a client whose consent is still ``unknown``; a denial
    always (it can only make the client less sendable). ``stage_for(code, message)``: items
    written with the ledger event (a job's receipt of the row and its notice)."""
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
    recorded = ("consent_recorded", f"recorded in the consent ledger with source import ({note})")
    try:
        record_consent(
            deps, account, client_id, change, stage=None if stage_for is None else stage_for(*recorded)
        )
    except (ConcurrentModification, NotFound) as exc:
        return exc.code, exc.message
    return recorded


def _prepared(deps: Deps, raw: bytes, custom_fields: bool) -> tuple[ImportReport, list[_Row]]:
    """The file read and every row validated (no storage read): the report so far (file-level
    facts and row errors) and the rows to apply. ``PayloadTooLarge`` / ``InvalidInput`` for a
    file that cannot be imported at all."""
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
            profile = profile_of(row)
            data = ClientInput.model_validate(profile)
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
        rows.append(_Row(row.number, data, claim, profile))
    return report, rows


Outcome = tuple[str, str, str, tuple[str, str] | None]  # outcome, code, message, consent notice


def _applied(
    deps: Deps, account: Account, rows: list[_Row], options: _Options, receipts: _Receipts | None = None
) -> list[Outcome]:
    """Apply ``rows`` (lookups batched for all of them): for each, its outcome — created,
    updated, skipped or error — with its code and message, and its consent notice.

    With ``receipts`` (a job), every write of a row carries the row's receipt in its
    transaction, and a row with a receipt from an earlier attempt is not applied again: its
    outcome is the receipt's, and a consent claim the receipt still waits for is recorded now."""
    account_id = account.account_id
    update_existing, accept_consent, actor = options.update_existing, options.accept_consent, options.actor
    hashes = {row.number: email_hash(deps.email_hash_key, row.data.email) for row in rows}
    suppressed = deps.suppressions.suppressed_among(account_id, list(hashes.values()))
    owners = deps.client_index.client_ids_for_email_keys(account_id, [email_key(r.data.email) for r in rows])
    existing = deps.client_index.get_many(account_id, list(owners.values())) if update_existing else {}
    # Every tag of the rows in the account's spelling, registered once (not once per row).
    from chalicelib.services.tags import account_spellings

    spellings: dict[str, str] = {}
    account_spellings(deps, account_id, [tag for row in rows for tag in row.data.tags], spellings)

    def receipt(row: _Row, outcome: str) -> Stage | None:
        if receipts is None:
            return None
        written: dict[str, Any] = {"outcome": outcome}
        if accept_consent and row.claim is not None:
            written["consent"] = "pending"  # the claim is recorded next, moving the receipt on
        return receipts.first(row.number, written)

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
            made = fresh.get(row.number)
            if made is not None:
                return "created", "", "", made.client_id
            try:
                created = client_service.create_client(
                    deps, account, row.data, spellings, stage=receipt(row, "created")
                )
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
            client_service.update_client(
                deps, account, owner, patch, spellings, stage=receipt(row, "updated")
            )
        except (ConcurrentModification, NotFound) as exc:
            return "error", exc.code, exc.message, None
        return "updated", "", "", owner

    def claim_stage(row: _Row, outcome: str, code: str, message: str) -> Callable[[str, str], Stage] | None:
        """The receipt written with the row's ledger event (a job only)."""
        if receipts is None:
            return None
        if outcome in ("created", "updated"):  # its receipt exists and waits for the claim
            pending = {"outcome": outcome, "consent": "pending"}
            return lambda notice, text: receipts.change(
                row.number, pending, {**pending, "consent": notice, "consent_message": text}
            )
        return lambda notice, text: receipts.first(
            row.number,
            {
                "outcome": outcome,
                "code": code,
                "message": message,
                "consent": notice,
                "consent_message": text,
            },
        )

    def again(row: _Row, prior: dict[str, Any], receipts: _Receipts) -> Outcome:
        """A row an earlier attempt ran: its receipt's outcome, and the claim it still waits for."""
        outcome, code, message = prior["outcome"], prior.get("code", ""), prior.get("message", "")
        consent = prior.get("consent")
        notice: tuple[str, str] | None = None
        if consent == "pending" and row.claim is not None:
            owner = owners.get(email_key(row.data.email)) or deps.clients.id_for_email(
                account_id, row.data.email
            )
            if owner is None:
                notice = ("not_found", "the client with this e-mail address was erased meanwhile")
            else:
                notice = _record_claim(
                    deps,
                    account,
                    owner,
                    row.claim,
                    actor,
                    lambda code_, text: receipts.change(
                        row.number, prior, {**prior, "consent": code_, "consent_message": text}
                    ),
                )
        elif consent is not None:
            notice = (str(consent), str(prior.get("consent_message", "")))
        elif row.claim is not None and not accept_consent:
            notice = ("consent_not_accepted", "consent columns are ignored without accept_consent=true")
        return outcome, code, message, notice

    def apply_with_consent(row: _Row) -> Outcome:
        if receipts is not None and row.number in receipts.prior:
            return again(row, receipts.prior[row.number], receipts)
        outcome, code, message, client_id = apply(row)
        if receipts is not None and outcome not in ("created", "updated"):
            # Two attempts of a chunk can run at once (the first still working when its lease ran
            # out): a row the other one applied meanwhile is found existing or unchanged here, but
            # it is that attempt's outcome, which its receipt holds.
            earlier = receipts.read(row.number)
            if earlier is not None:
                return again(row, earlier, receipts)
        notice = None
        if row.claim is not None and client_id is not None:
            notice = (
                _record_claim(
                    deps, account, client_id, row.claim, actor, claim_stage(row, outcome, code, message)
                )
                if accept_consent
                else ("consent_not_accepted", "consent columns are ignored without accept_consent=true")
            )
        return outcome, code, message, notice

    def create(group: list[_Row]) -> list[Client | None]:
        return client_service.create_clients(
            deps, account, [(row.data, receipt(row, "created")) for row in group], spellings
        )

    # The rows that create a client (an earlier attempt did not run them; their address is
    # neither suppressed nor claimed) are created first, several to a transaction: one call
    # for up to TRANSACTION_ROWS (16) of them. A row that was not (its address claimed or
    # suppressed meanwhile, a collision) is created alone below, which says why.
    candidates = [
        row
        for row in rows
        if (receipts is None or row.number not in receipts.prior)
        and hashes[row.number] not in suppressed
        and email_key(row.data.email) not in owners
    ]
    made = in_batches(deps, candidates, create)
    fresh = {row.number: client for row, client in zip(candidates, made, strict=True)}
    return concurrently(deps, apply_with_consent, rows)


def import_clients(
    deps: Deps,
    account: Account,
    raw: bytes,
    *,
    update_existing: bool,
    accept_consent: bool,
    custom_fields: bool = False,
    actor: str | None = None,
) -> tuple[int, dict[str, Any]]:
    """(200, the report) for a file with at most ``import_inline_rows`` rows to apply, applied
    in the request; (202, ``{job_id, status, done, total}``) for a larger one: the request reads
    and validates the whole file (its errors are the same 4xx), stores the valid rows in the
    job's parts and starts an ``import_clients`` job, whose record ends with the counts and
    the row errors."""
    report, rows = _prepared(deps, raw, custom_fields)
    options = _Options(update_existing=update_existing, accept_consent=accept_consent, actor=actor)
    if len(rows) > deps.settings.import_inline_rows:
        return 202, _start_job(deps, account, report, rows, options)
    outcomes = _applied(deps, account, rows, options)
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
            "account_id": account.account_id,
            "rows": report.rows,
            "rows_created": report.created,
            "rows_updated": report.updated,
            "rows_failed": len(report.errors),
        },
    )
    metrics.add_metric(name="ClientsImported", unit="Count", value=report.created)
    return 200, report.as_json()


# --- Large imports: a job ---------------------------------------------------------------

KIND = "import_clients"
PART_ROWS = 200  # rows of one stored part (its item stays far below 400 KB, see parts_of)
PART_BYTES = 200_000
PAGE_ROWS = 50  # rows applied between two looks at the chunk's time
PARTS_KEPT = timedelta(days=7)  # the parts and receipts expire (TTL) this long after the start


def _start_job(
    deps: Deps, account: Account, report: ImportReport, rows: list[_Row], options: _Options
) -> dict[str, Any]:
    """Store the rows (parts, batch-written) and start the job, whose ``total`` is every row of
    the file; the rows found invalid here are ``done`` already, their errors in the job's."""
    from ulid import ULID

    from chalicelib.domain.csv_import import parts_of

    job_id = f"job_{ULID()}"
    parts = parts_of([row.stored() for row in rows], PART_ROWS, PART_BYTES)
    deps.job_parts.put_parts(account.account_id, job_id, parts, deps.clock() + PARTS_KEPT)
    errors = [_kept(entry) for entry in sorted(report.errors, key=lambda entry: entry["row"])]
    job = jobs.start_job(
        deps,
        account.account_id,
        KIND,
        {
            "parts": len(parts),
            "update_existing": options.update_existing,
            "accept_consent": options.accept_consent,
        },
        total=report.rows,
        done=len(errors),
        result={"rows": report.rows, "created": 0, "updated": 0, "skipped": 0, "errors": len(errors)},
        errors=errors,
        job_id=job_id,
        actor=options.actor,
    )
    logger.info(
        "clients import continues in a job",
        extra={"account_id": account.account_id, "job_id": job_id, "rows": report.rows, "parts": len(parts)},
    )
    return {"job_id": job.job_id, "status": job.status, "done": job.done, "total": job.total}


JOB_MESSAGE_CHARS = 200  # a row error's message as a job keeps it (1,000 of them stay ~250 KB)


def _kept(entry: dict[str, Any]) -> dict[str, Any]:
    message = str(entry["message"])
    if len(message) > JOB_MESSAGE_CHARS:
        message = message[: JOB_MESSAGE_CHARS - 1] + "…"
    return {"row": entry["row"], "code": entry["code"], "message": message}


def _counted(rows: list[_Row], outcomes: list[Outcome]) -> tuple[dict[str, int], list[dict[str, Any]]]:
    counts = {"created": 0, "updated": 0, "skipped": 0, "errors": 0}
    errors: list[dict[str, Any]] = []
    for row, (outcome, code, message, _) in zip(rows, outcomes, strict=True):
        if outcome == "error":
            counts["errors"] += 1
            errors.append(_kept({"row": row.number, "code": code, "message": message}))
        else:
            counts[outcome] += 1
    return counts, errors


def _chunk_done(
    job: Job, cursor: Any, handled: int, counts: dict[str, int], errors: list[dict[str, Any]]
) -> ChunkOutcome:
    logger.info(
        "clients import chunk",
        extra={
            "account_id": job.account_id,
            "job_id": job.job_id,
            "rows": handled,
            **{f"rows_{name}": value for name, value in counts.items()},
        },
    )
    metrics.add_metric(name="ClientsImported", unit="Count", value=counts.get("created", 0))
    return ChunkOutcome(cursor=cursor, done=handled, finished=cursor is None, counters=counts, errors=errors)


def _when_done(deps: Deps, job: Job) -> None:
    """The rows (names, addresses) are deleted once every one is applied; the receipts, which
    hold none, expire with their TTL."""
    deps.job_parts.delete_parts(job.account_id, job.job_id, int(job.params["parts"]))


@jobs.register(KIND, when_done=_when_done)
def run_chunk(deps: Deps, job: Job, budget: Budget) -> ChunkOutcome:
    """Apply the stored rows from the saved position (``{part, row}``) page by page until
    the chunk's time or items are spent. Before a page is applied, the part's mark is raised
    past it; rows below the mark as it was when the chunk started may have run in an attempt
    that never committed (its worker died, its lease was lost), so their receipts are read and
    a row that has one is not applied again."""
    params = job.params
    account = deps.accounts.get(job.account_id)
    options = _Options(
        update_existing=bool(params["update_existing"]),
        accept_consent=bool(params["accept_consent"]),
        actor=job.actor,
    )
    cursor = job.cursor or {"part": 0, "row": 0}
    part, start = int(cursor["part"]), int(cursor["row"])
    counts: dict[str, int] = {}
    errors: list[dict[str, Any]] = []
    handled = 0
    expires = job.created_at + PARTS_KEPT
    while part < int(params["parts"]):
        rows = [_Row.loaded(entry) for entry in deps.job_parts.part(job.account_id, job.job_id, part)]
        # Rows below ``reached`` may have run in an attempt that did not commit: read their receipts.
        reached = deps.job_parts.reached(job.account_id, job.job_id, part)
        marked = reached
        while start < len(rows):
            if handled and budget.spent(handled):
                return _chunk_done(job, {"part": part, "row": start}, handled, counts, errors)
            page = rows[start : start + PAGE_ROWS]
            end = start + len(page)
            if end > marked:
                deps.job_parts.reach(job.account_id, job.job_id, part, end, expires)
                marked = end
            ran = [row.number for row in rows[start : min(end, reached)]]
            prior = deps.job_parts.receipts(job.account_id, job.job_id, ran) if ran else {}
            receipts = _Receipts(deps, job.account_id, job.job_id, expires, prior)
            page_counts, page_errors = _counted(page, _applied(deps, account, page, options, receipts))
            counts = add_counters(counts, page_counts)
            errors += page_errors
            start = end
            handled += len(page)
        part, start = part + 1, 0
    return _chunk_done(job, None, handled, counts, errors)
