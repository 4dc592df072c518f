"""Importing clients from a CSV file (``/app/clients/import``): upload, a preview of the first
rows with where each column goes (headers in English, Czech and Italian are recognised by the
import itself), then the import and its report row by row.

The preview reads the file with the import's own parser (``domain.csv_import.parse_csv``), and
the import is ``services.imports.import_clients``, exactly as ``POST /v1/clients/import`` runs
it (the same limits: 5 MiB, 10,000 rows). Between the two steps the file travels in the
preview's form (no server-side copy is kept). A file with more rows than the request applies
(``import_inline_rows``) is imported by a job: the import step then leads to the job's progress
page (``/app/jobs/{id}``), which shows the counts and the rows with errors when it is done."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from chalice import Response

from chalicelib.api.console.framework import Page, page
from chalicelib.errors import InvalidInput, PayloadTooLarge

PREVIEW_ROWS = 5
CONSENT_TARGETS = ("consent", "consent_date", "consent_source")


def _options(page: Page) -> dict[str, bool]:
    return {
        "update_existing": page.field("update_existing") == "1",
        "accept_consent": page.field("accept_consent") == "1",
        "custom_fields": page.field("custom_fields") == "1",
    }


def _column_words(target: str, kind: str) -> tuple[str, dict[str, str]]:
    if kind == "unknown":  # not a column we know, and custom fields were not asked for
        return "console.import.target.unknown", {}
    if not target:
        return "console.import.target.ignored", {}
    if target.startswith("fields."):
        return "console.import.target.custom", {"name": target.removeprefix("fields.")}
    if target in CONSENT_TARGETS:
        return "console.import.target." + target, {}
    return "console.clients.field." + target, {}


def _form(page: Page, *, status: int = 200, errors: dict[str, Any] | None = None) -> Response:
    return page.render(
        "console/import.html",
        status=status,
        section="clients",
        step="upload",
        errors=errors or {},
        limits={"rows": page.deps.settings.max_import_rows, "bytes": page.deps.settings.max_csv_body_bytes},
    )


def _file_error(exc: InvalidInput | PayloadTooLarge) -> str:
    known = {
        "invalid_encoding": "console.import.error.encoding",
        "empty_file": "console.import.error.empty",
        "missing_email_column": "console.import.error.no_email",
        "invalid_header": "console.import.error.header",
        "payload_too_large": "console.import.error.too_large",
    }
    return known.get(exc.code, "console.import.error.unreadable")


@page("/app/clients/import", ["GET"])
def import_form(page: Page) -> Response:
    return _form(page)


@page("/app/clients/import", ["POST"], upload=True)
def import_step(page: Page) -> Response:
    # The file: uploaded (the first step), or carried back by the preview's form (the second).
    raw = page.files.get("file") or page.form.get("file", "").encode("utf-8")
    if not raw.strip():
        return _form(page, status=400, errors={"file": "console.import.error.no_file"})
    if page.field("step") == "import":
        return _run(page, raw)
    return _preview(page, raw)


def _preview(page: Page, raw: bytes) -> Response:
    from chalicelib.domain.csv_import import CsvFileError, decode, parse_csv

    settings = page.deps.settings
    if len(raw) > settings.max_csv_body_bytes:
        return _form(page, status=413, errors={"file": "console.import.error.too_large"})
    try:
        parsed = parse_csv(raw, settings.max_import_rows, custom_fields=_options(page)["custom_fields"])
        text = decode(raw)
    except CsvFileError as exc:
        return _form(page, status=400, errors={"file": _file_error(InvalidInput(exc.message, code=exc.code))})
    columns = [
        {"header": c.header, "target": c.target, "words": _column_words(c.target, c.kind)}
        for c in parsed.columns
    ]
    shown = [c for c in parsed.columns if c.target]
    return page.render(
        "console/import.html",
        section="clients",
        step="preview",
        columns=columns,
        shown=[
            {"target": c.target, "words": _column_words(c.target, c.kind), "header": c.header} for c in shown
        ],
        rows=[[row.values.get(c.target, "") for c in shown] for row in parsed.rows[:PREVIEW_ROWS]],
        total=len(parsed.rows) + len(parsed.row_errors),
        file=text,
        options=_options(page),
        errors={},
    )


def _run(page: Page, raw: bytes) -> Response:
    from chalicelib.services import imports

    options = _options(page)
    try:
        status, report = imports.import_clients(page.deps, page.account, raw, actor=page.actor, **options)
    except (InvalidInput, PayloadTooLarge) as exc:
        return _form(page, status=400, errors={"file": _file_error(exc)})
    if status == 202:  # a large file: the import continues as a job, its page shows the progress
        return page.redirect(f"/app/jobs/{report['job_id']}?back=" + quote("/app/clients/import", safe=""))
    problems = sorted(
        [{**entry, "kind": "error"} for entry in report["errors"]]
        + [{**entry, "kind": "skipped"} for entry in report["skipped_rows"]]
        + [{**entry, "kind": "notice"} for entry in report["notices"]],
        key=lambda entry: (entry["row"], entry["kind"]),
    )
    return page.render(
        "console/import.html",
        section="clients",
        step="report",
        report=report,
        problems=problems,
        errors={},
    )
