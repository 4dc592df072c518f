"""Clients: create, read, update, list (one account's clients only)."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import TYPE_CHECKING

from ulid import ULID

from chalicelib.bootstrap import Deps
from chalicelib.domain.auto_status import compute_auto_status
from chalicelib.domain.client_profile import ClientInput, ClientPatch
from chalicelib.domain.contact import email_hash, email_key
from chalicelib.domain.records import Account, Client, Page
from chalicelib.errors import ConcurrentModification
from chalicelib.observability import logger, metrics
from chalicelib.services.pagination import check_limit, decode_cursor, encode_cursor
from chalicelib.services.retry import retry_conflicts
from chalicelib.storage.clients import SuppressionMismatch

if TYPE_CHECKING:
    from chalicelib.storage.consent import Stage

# A suppressed address takes two attempts (the first finds it on the list); one more for a race.
_MAX_ATTEMPTS = 4


def _with_auto_status(client: Client, account: Account, now: datetime) -> Client:
    result = compute_auto_status(
        client.created_at, client.last_visit_at, now, account.settings.auto_status.as_domain()
    )
    return replace(client, auto_status=result.status.value, next_status_at=result.next_change_at)


def _new_client(
    deps: Deps,
    account: Account,
    data: ClientInput,
    tag_spellings: dict[str, str] | None,
    pending: bool,
) -> Client:
    from chalicelib.services.tags import account_spellings

    now = deps.clock()
    client = Client(
        account_id=account.account_id,
        client_id=f"cl_{ULID()}",
        email=data.email,
        first_name=data.first_name,
        last_name=data.last_name,
        phone=data.phone,
        language=data.language,
        tags=account_spellings(deps, account.account_id, list(data.tags), tag_spellings),
        status=data.status,
        last_visit_at=data.last_visit_at,
        fields=dict(data.fields),
        created_at=now,
        updated_at=now,
        auto_status="new",
        # An address that was unsubscribed, bounced or erased stays unmailable: the creating
        # transaction checks the suppression list (most addresses are on none; one that is
        # is created again, flagged), so no separate read is needed and none can go stale.
        suppressed=False,
        pending=pending,
    )
    return _with_auto_status(client, account, now)


def create_client(
    deps: Deps,
    account: Account,
    data: ClientInput,
    tag_spellings: dict[str, str] | None = None,
    *,
    pending: bool = False,
    stage: Stage | None = None,
) -> Client:
    """A new client; ``pending`` for one the public form created (in no audience until its
    address's owner confirms, see ``services/intake.py``). ``tag_spellings``: the account's
    tag spellings already looked up (a caller creating many). ``stage``: items written in the
    same transaction (an import job's receipt of the row)."""
    client = _new_client(deps, account, data, tag_spellings, pending)
    address_hash = email_hash(deps.email_hash_key, data.email)
    for attempt in range(_MAX_ATTEMPTS):
        try:
            created = deps.clients.create(client, stage, email_hash=address_hash)
            break
        except SuppressionMismatch:
            # The list says otherwise (or changed since the last attempt): follow it.
            client = replace(client, suppressed=not client.suppressed)
            if attempt == _MAX_ATTEMPTS - 1:
                raise ConcurrentModification("the suppression list kept changing; retry") from None
        except ConcurrentModification:
            # Another transaction touched the same claim at the same instant: try
            # again, and the claim's condition then tells a duplicate from a race.
            if attempt == _MAX_ATTEMPTS - 1:
                raise
    logger.info("client created", extra={"account_id": account.account_id, "client_id": created.client_id})
    metrics.add_metric(name="ClientsCreated", unit="Count", value=1)
    return created


def create_clients(
    deps: Deps,
    account: Account,
    entries: list[tuple[ClientInput, Stage | None]],
    tag_spellings: dict[str, str],
) -> list[Client | None]:
    """New clients for an import's rows (``(input, stage)`` each), several to a transaction
    (``ClientRepository.create_many``). For each entry, in order: the client created, or None
    when it was not — the caller then creates it alone (``create_client``), which follows the
    suppression list, tells a duplicate address, or retries a collision, as for one client."""
    from chalicelib.storage.clients import NewClient

    new = [
        NewClient(
            _new_client(deps, account, data, tag_spellings, pending=False),
            stage,
            email_hash(deps.email_hash_key, data.email),
        )
        for data, stage in entries
    ]
    created = deps.clients.create_many(new)
    count = sum(client is not None for client in created)
    if count:
        logger.info("clients created", extra={"account_id": account.account_id, "clients": count})
        metrics.add_metric(name="ClientsCreated", unit="Count", value=count)
    return created


def get_client(deps: Deps, account: Account, client_id: str) -> Client:
    return deps.clients.get(account.account_id, client_id)


def _patched(client: Client, patch: ClientPatch) -> Client:
    changes = patch.changes()
    if "fields" in changes:
        fields = dict(client.fields)
        for name, value in (changes.pop("fields") or {}).items():
            if value is None:
                fields.pop(name, None)
            else:
                fields[name] = value
        changes["fields"] = fields
    return replace(client, **changes)


def update_client(
    deps: Deps,
    account: Account,
    client_id: str,
    patch: ClientPatch,
    tag_spellings: dict[str, str] | None = None,
    *,
    stage: Stage | None = None,
) -> Client:
    """Apply a partial update to the client as it is now. A blind patch has no reason to fail
    when another request changed the client meanwhile: it is read and applied again
    (``retry_conflicts``), and 409 means only that the client stayed too busy to change.
    Tags take the account's existing spellings (``tag_spellings``: already looked up);
    ``stage``: items written in the same transaction (an import job's receipt of the row)."""
    if patch.tags is not None:
        from chalicelib.services.tags import account_spellings

        tags = account_spellings(deps, account.account_id, patch.tags, tag_spellings)
        patch = patch.model_copy(update={"tags": tags})

    def attempt() -> Client:
        current = deps.clients.get(account.account_id, client_id, consistent=True)
        now = deps.clock()
        updated = _with_auto_status(replace(_patched(current, patch), updated_at=now), account, now)
        if email_key(updated.email) != email_key(current.email):
            suppressed = deps.suppressions.is_suppressed(
                account.account_id, email_hash(deps.email_hash_key, updated.email)
            )
            updated = replace(updated, suppressed=current.suppressed or suppressed)
        return deps.clients.update(current, updated, stage)

    return retry_conflicts(attempt, what="the client")


def list_clients(
    deps: Deps, account: Account, limit: int | None, cursor: str | None
) -> tuple[Page, str | None]:
    start = decode_cursor(deps.key_ring, account.account_id, "clients", cursor)
    page = deps.clients.page(account.account_id, limit=check_limit(limit), start_key=start)
    return page, encode_cursor(deps.key_ring, account.account_id, "clients", page.next_key)
