"""The client card (``/app/clients/{client_id}``) and the new-client form.

Profile edits go through ``services.clients`` with the API's own ``ClientInput`` /
``ClientPatch`` models; the consent checkbox through ``services.consent.set_staff_consent``
(a ``staff`` ledger event whose actor is the signed-in user); the history is one page of
the ledger, newest first; "Download data" is the GDPR export (``services.gdpr``) as a JSON
file; erasure (owners only) asks first, naming the client.
"""

from __future__ import annotations

import json
from typing import Any

from chalice import Response

from chalicelib.api.console.framework import Page, page
from chalicelib.errors import Conflict, InvalidInput, NotFound
from chalicelib.lazy import lazy_module

clients = lazy_module("chalicelib.services.clients")
consent = lazy_module("chalicelib.services.consent")
gdpr = lazy_module("chalicelib.services.gdpr")

HISTORY_PAGE = 20
PROFILE_FIELDS = ("email", "first_name", "last_name", "phone", "language", "status", "last_visit_at", "tags")
NOTICES = {
    "created": "console.card.notice.created",
    "updated": "console.card.notice.updated",
    "consent": "console.card.notice.consent",
    "unchanged": "console.card.notice.unchanged",
}


def display_name(client: Any) -> str:
    name = " ".join(part for part in (client.first_name, client.last_name) if part)
    return name or client.email


# --- reading the profile form -----------------------------------------------------------


def profile_values(page: Page) -> dict[str, str]:
    return {name: page.field(name) for name in PROFILE_FIELDS}


def profile_data(values: dict[str, str], *, new: bool) -> dict[str, Any]:
    """The form as the API's JSON: empty optional fields are cleared (``None``), tags are
    comma-separated, a date is a day."""
    data: dict[str, Any] = {"email": values["email"]}
    for name in ("first_name", "last_name", "phone", "language", "status", "last_visit_at"):
        value = values[name]
        if value or not new:
            data[name] = value or None
    data["tags"] = [tag.strip() for tag in values["tags"].split(",") if tag.strip()]
    return data


def profile_errors(exc: Any) -> dict[str, str]:
    """A pydantic ``ValidationError`` as the form's errors, one message per field."""
    errors: dict[str, str] = {}
    for err in exc.errors():
        where = str(err["loc"][0]) if err.get("loc") else "email"
        if where in PROFILE_FIELDS and where not in errors:
            errors[where] = f"console.card.error.{where}"
    return errors or {"email": "console.card.error.email"}


# --- the card ---------------------------------------------------------------------------


def _actors(page: Page, events: list[Any]) -> dict[str, dict[str, str]]:
    """Who made each change of this page of the ledger: a user's address, a key's name."""
    found: dict[str, dict[str, str]] = {}
    for event in events:
        actor = event.actor
        if not actor or actor in found:
            continue
        try:
            if actor.startswith("usr_"):
                found[actor] = {
                    "kind": "user",
                    "name": page.deps.users.get(page.account.account_id, actor).email,
                }
            elif actor.startswith("key_"):
                record = page.deps.api_keys.record(page.account.account_id, actor)
                found[actor] = {"kind": "key", "name": record.name}
            else:
                found[actor] = {"kind": "other", "name": actor}
        except NotFound:
            found[actor] = {"kind": "removed_user" if actor.startswith("usr_") else "removed_key", "name": ""}
    return found


def _card(
    page: Page,
    client_id: str,
    *,
    status: int = 200,
    errors: dict[str, Any] | None = None,
    values: dict[str, str] | None = None,
    note: str = "",
) -> Response:
    client, events, next_cursor = consent.history_page(
        page.deps, page.account, client_id, HISTORY_PAGE, page.query("cursor")
    )
    if values is None:
        values = {
            "email": client.email,
            "first_name": client.first_name or "",
            "last_name": client.last_name or "",
            "phone": client.phone or "",
            "language": client.language or "",
            "status": client.status or "",
            "last_visit_at": client.last_visit_at.date().isoformat() if client.last_visit_at else "",
            "tags": ", ".join(client.tags),
        }
    base = f"/app/clients/{client.client_id}"
    return page.render(
        "console/client_card.html",
        status=status,
        section="clients",
        client=client,
        name=display_name(client),
        events=events,
        actors=_actors(page, events),
        history_next=page.url(f"{base}?cursor={next_cursor}#history") if next_cursor else None,
        history_first=page.url(f"{base}#history") if page.query("cursor") else None,
        errors=errors or {},
        values=values,
        note=note,
        notice=NOTICES.get(page.query("done") or ""),
    )


@page("/app/clients/{client_id}", ["GET"])
def card(page: Page, client_id: str) -> Response:
    return _card(page, client_id)


@page("/app/clients/{client_id}", ["POST"])
def update_profile(page: Page, client_id: str) -> Response:
    from pydantic import ValidationError

    from chalicelib.domain.client_profile import ClientPatch

    values = profile_values(page)
    try:
        patch = ClientPatch.model_validate(profile_data(values, new=False), strict=False)
    except ValidationError as exc:
        return _card(page, client_id, status=400, errors=profile_errors(exc), values=values)
    try:
        clients.update_client(page.deps, page.account, client_id, patch)
    except Conflict as exc:
        if exc.code != "duplicate_email":
            raise
        return _card(
            page, client_id, status=409, errors={"email": "console.card.error.duplicate"}, values=values
        )
    return page.redirect(f"/app/clients/{client_id}?done=updated")


@page("/app/clients/{client_id}/consent", ["POST"])
def update_consent(page: Page, client_id: str) -> Response:
    """Record a staff consent change only when the box differs from the client's state: ticking
    grants; unticking a granted consent denies it; an unknown consent left unticked stays unknown."""
    wanted = page.field("consent") == "granted"
    note = page.field("note")
    client = clients.get_client(page.deps, page.account, client_id)
    granted = client.consent_state == "granted"
    if wanted == granted or (not wanted and client.consent_state != "granted"):
        return page.redirect(f"/app/clients/{client_id}?done=unchanged#consent")
    from pydantic import ValidationError

    try:
        data = consent.StaffConsentInput.model_validate({"granted": wanted, "note": note or None})
    except ValidationError:
        return _card(page, client_id, status=400, errors={"note": "console.card.error.note"}, note=note)
    try:
        consent.set_staff_consent(page.deps, page.account, page.actor, client_id, data.granted, data.note)
    except InvalidInput as exc:
        if exc.code != "note_required":
            raise
        return _card(
            page, client_id, status=400, errors={"note": "console.card.error.note_required"}, note=note
        )
    return page.redirect(f"/app/clients/{client_id}?done=consent#consent")


@page("/app/clients/{client_id}/export", ["GET"])
def export(page: Page, client_id: str) -> Response:
    """The GDPR export as a file: everything held about the client (``GET .../export``)."""
    document = gdpr.export_client(page.deps, page.account, client_id)
    return page.respond(
        Response(
            body=json.dumps(document, ensure_ascii=False, indent=2),
            status_code=200,
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "Content-Disposition": f'attachment; filename="client-{client_id}.json"',
            },
        )
    )


@page("/app/clients/{client_id}/erase", ["GET"], access="owner")
def erase_confirmation(page: Page, client_id: str) -> Response:
    client = clients.get_client(page.deps, page.account, client_id)
    return page.render(
        "console/client_erase.html", section="clients", client=client, name=display_name(client)
    )


@page("/app/clients/{client_id}/erase", ["POST"], access="owner")
def erase(page: Page, client_id: str) -> Response:
    from chalicelib.domain.consent import Source

    gdpr.erase_client(page.deps, page.account, client_id, source=Source.STAFF, actor=page.actor)
    return page.redirect("/app/clients?done=erased")


# --- a new client ---------------------------------------------------------------------------


@page("/app/clients/new", ["GET"])
def new_client_form(page: Page) -> Response:
    return page.render("console/client_new.html", section="clients", values=dict.fromkeys(PROFILE_FIELDS, ""))


@page("/app/clients/new", ["POST"])
def create_client(page: Page) -> Response:
    from pydantic import ValidationError

    from chalicelib.domain.client_profile import ClientInput

    values = profile_values(page)
    try:
        data = ClientInput.model_validate(profile_data(values, new=True), strict=False)
    except ValidationError as exc:
        errors = profile_errors(exc) if values["email"] else {"email": "console.card.error.email_required"}
        return page.render(
            "console/client_new.html", status=400, section="clients", values=values, errors=errors
        )
    try:
        created = clients.create_client(page.deps, page.account, data)
    except Conflict as exc:
        if exc.code != "duplicate_email":
            raise
        errors = {"email": "console.card.error.duplicate"}
        return page.render(
            "console/client_new.html", status=409, section="clients", values=values, errors=errors
        )
    return page.redirect(f"/app/clients/{created.client_id}?done=created")
