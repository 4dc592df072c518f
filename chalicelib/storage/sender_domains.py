"""Sender domains and their claims (one account per domain)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pynamodb.exceptions import DoesNotExist

from chalicelib.domain.sender_domains import SenderDomain
from chalicelib.errors import ConcurrentModification, Conflict, NotFound
from chalicelib.storage.conversions import loaded_time, stored_time
from chalicelib.storage.models import SenderDomainClaimModel, SenderDomainModel
from chalicelib.storage.transactions import Transaction, TransactionFailed

DOMAIN_TAKEN = "domain_taken"


def _record(item: SenderDomainModel) -> SenderDomain:
    return SenderDomain(
        account_id=item.account_id,
        domain=item.domain,
        status=item.status,
        created_at=loaded_time(item.created_at),  # type: ignore[arg-type]
        dkim_tokens=tuple(item.dkim_tokens or ()),
        mail_from_domain=item.mail_from_domain,
        mail_from_status=item.mail_from_status,
        checked_at=loaded_time(item.checked_at),
        verified_at=loaded_time(item.verified_at),
    )


def _item(record: SenderDomain) -> SenderDomainModel:
    return SenderDomainModel(
        record.account_id,
        record.domain,
        status=record.status,
        dkim_tokens=list(record.dkim_tokens),
        mail_from_domain=record.mail_from_domain,
        mail_from_status=record.mail_from_status,
        created_at=stored_time(record.created_at),
        checked_at=stored_time(record.checked_at),
        verified_at=stored_time(record.verified_at),
    )


def add_to_transaction(tx: Transaction, record: SenderDomain) -> None:
    """The claim (``attribute_not_exists``: label ``domain_claim``) and the record, for a
    transaction that registers the domain with something else (a new account)."""
    claim = SenderDomainClaimModel(
        record.domain, account_id=record.account_id, created_at=stored_time(record.created_at)
    )
    tx.save(claim, "domain_claim", condition=SenderDomainClaimModel.domain.does_not_exist())
    tx.save(_item(record), "domain", condition=SenderDomainModel.domain.does_not_exist())


class SenderDomainRepository:
    def add(self, record: SenderDomain) -> SenderDomain:
        """Claim and register ``record.domain`` for its account, both or neither. The
        account's existing record if it already holds the domain; ``Conflict``
        (``domain_taken``) if another account does."""
        tx = Transaction(SenderDomainModel._get_connection().connection)
        add_to_transaction(tx, record)
        try:
            tx.commit()
        except TransactionFailed:
            existing = self.get(record.account_id, record.domain)
            if existing is not None:
                return existing
            if self.holder(record.domain) not in (None, record.account_id):
                raise Conflict("this domain is registered by another account", code=DOMAIN_TAKEN) from None
            raise ConcurrentModification("the domain is being registered concurrently; retry") from None
        return record

    def holder(self, domain: str) -> str | None:
        """The account that holds ``domain``, if any (consistent read of the claim)."""
        try:
            return str(SenderDomainClaimModel.get(domain, consistent_read=True).account_id)
        except DoesNotExist:
            return None

    def get(self, account_id: str, domain: str, *, consistent: bool = True) -> SenderDomain | None:
        try:
            return _record(SenderDomainModel.get(account_id, domain, consistent_read=consistent))
        except DoesNotExist:
            return None

    def page(
        self, account_id: str, *, limit: int, start_key: dict[str, Any] | None
    ) -> tuple[list[SenderDomain], dict[str, Any] | None]:
        results = SenderDomainModel.query(
            account_id, limit=limit, page_size=limit, last_evaluated_key=start_key, consistent_read=True
        )
        items = [_record(item) for item in results]
        return items, results.last_evaluated_key

    def save_status(
        self,
        record: SenderDomain,
        *,
        status: str,
        checked_at: datetime,
        dkim_tokens: tuple[str, ...],
        mail_from_domain: str | None,
        mail_from_status: str | None,
    ) -> SenderDomain:
        """What SES said at ``checked_at`` (conditional on the record still existing)."""
        verified_at = record.verified_at
        if status == "verified" and verified_at is None:
            verified_at = checked_at
        updated = SenderDomain(
            account_id=record.account_id,
            domain=record.domain,
            status=status,
            created_at=record.created_at,
            dkim_tokens=dkim_tokens,
            mail_from_domain=mail_from_domain,
            mail_from_status=mail_from_status,
            checked_at=checked_at,
            verified_at=verified_at,
        )
        item = SenderDomainModel(record.account_id, record.domain)
        actions = [
            SenderDomainModel.status.set(status),
            SenderDomainModel.checked_at.set(stored_time(checked_at)),
            SenderDomainModel.dkim_tokens.set(list(dkim_tokens)),
        ]
        for attribute, value in (
            (SenderDomainModel.mail_from_domain, mail_from_domain),
            (SenderDomainModel.mail_from_status, mail_from_status),
            (SenderDomainModel.verified_at, stored_time(verified_at)),
        ):
            actions.append(attribute.set(value) if value is not None else attribute.remove())
        from pynamodb.exceptions import UpdateError

        try:
            item.update(actions=actions, condition=SenderDomainModel.domain.exists())
        except UpdateError as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise NotFound("sender domain not found") from exc
            raise
        return updated

    def delete(self, account_id: str, domain: str) -> None:
        """The record and its claim, both or neither; ``NotFound`` unless the account holds it."""
        tx = Transaction(SenderDomainModel._get_connection().connection)
        tx.delete(
            SenderDomainModel(account_id, domain), "domain", condition=SenderDomainModel.domain.exists()
        )
        tx.delete(
            SenderDomainClaimModel(domain),
            "domain_claim",
            condition=SenderDomainClaimModel.account_id == account_id,
        )
        try:
            tx.commit()
        except TransactionFailed as exc:
            raise NotFound("sender domain not found") from exc
