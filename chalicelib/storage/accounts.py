"""Accounts (created with their first API key and, when named, their first owner)."""

from __future__ import annotations

from pynamodb.exceptions import DoesNotExist, PutError, UpdateError

from chalicelib.domain.account_settings import AccountSettings
from chalicelib.domain.identity import ApiKeyRecord, OneTimeToken, User
from chalicelib.domain.limits import AccountLimits
from chalicelib.domain.records import Account
from chalicelib.domain.sender_domains import SenderDomain
from chalicelib.errors import ConcurrentModification, Conflict, NotFound
from chalicelib.storage.api_keys import add_new_key
from chalicelib.storage.conversions import loaded_time, stored_time
from chalicelib.storage.models import AccountModel
from chalicelib.storage.transactions import Transaction, TransactionFailed
from chalicelib.storage.users import add_new_user


def _to_record(item: AccountModel) -> Account:
    return Account(
        account_id=item.account_id,
        name=item.name,
        public_slug=item.public_slug,
        settings=AccountSettings.model_validate(item.settings.as_dict(), strict=False),
        created_at=loaded_time(item.created_at),  # type: ignore[arg-type]
        updated_at=loaded_time(item.updated_at),  # type: ignore[arg-type]
        status=item.status,
        suspension_reason=item.suspension_reason,
        suspended_at=loaded_time(item.suspended_at),
        reinstated_at=loaded_time(item.reinstated_at),
        version=item.version,
        limits=AccountLimits.model_validate(item.limits.as_dict(), strict=False) if item.limits else None,
    )


def _to_item(account: Account) -> AccountModel:
    item = AccountModel(
        account_id=account.account_id,
        name=account.name,
        public_slug=account.public_slug,
        settings=account.settings.model_dump(mode="json"),
        created_at=stored_time(account.created_at),
        updated_at=stored_time(account.updated_at),
        status=account.status,
        suspension_reason=account.suspension_reason,
        suspended_at=stored_time(account.suspended_at),
        reinstated_at=stored_time(account.reinstated_at),
        limits=account.limits.model_dump(mode="json") if account.limits is not None else None,
    )
    if account.version is not None:
        item.version = account.version
    return item


class AccountRepository:
    def create(
        self,
        account: Account,
        first_key: ApiKeyRecord,
        sender_domain: SenderDomain | None = None,
        owner: User | None = None,
        invitation: OneTimeToken | None = None,
    ) -> Account:
        """The account, its first API key, the claim of its sender domain and (when given) its
        first owner with the owner's invitation: all of them or none (``Conflict``
        ``domain_taken`` when another account holds the domain)."""
        from chalicelib.storage.sender_domains import DOMAIN_TAKEN, add_to_transaction

        tx = Transaction(AccountModel._get_connection().connection)
        tx.save(_to_item(account), "account", condition=AccountModel.account_id.does_not_exist())
        add_new_key(tx, first_key)
        if sender_domain is not None:
            add_to_transaction(tx, sender_domain)
        if owner is not None:
            add_new_user(tx, owner, invitation)
        try:
            tx.commit()
        except TransactionFailed as exc:
            if "domain_claim" in exc.labels:
                raise Conflict(
                    f"the sender domain {sender_domain.domain if sender_domain else ''} is registered "
                    "by another account",
                    code=DOMAIN_TAKEN,
                    details={"domain": sender_domain.domain if sender_domain else None},
                ) from exc
            if "email" in exc.labels:
                raise Conflict(
                    "owner_email already belongs to a Permesso user",
                    code="user_exists",
                    details=[{"field": "owner_email", "message": "already a user"}],
                ) from exc
            raise Conflict("account already exists", code="account_exists") from exc
        return _to_record(AccountModel.get(account.account_id, consistent_read=True))

    def every_account_id(self) -> list[str]:
        """Every account's id — a Scan of the accounts table, keys only. For operations tools
        run by hand (``tools/normalise_tags.py``), never on a request or per-recipient path."""
        return [item.account_id for item in AccountModel.scan(attributes_to_get=["account_id"])]

    def get(self, account_id: str) -> Account:
        try:
            return _to_record(AccountModel.get(account_id))
        except DoesNotExist:
            raise NotFound("account not found") from None

    def slug_taken(self, public_slug: str) -> bool:
        return any(True for _ in AccountModel.by_public_slug.query(public_slug, limit=1))

    def find_by_slug(self, public_slug: str) -> Account:
        for entry in AccountModel.by_public_slug.query(public_slug, limit=1):
            return self.get(entry.account_id)
        raise NotFound("account not found")

    def save(self, account: Account) -> Account:
        """Write an account read earlier; fails if someone changed it meanwhile."""
        item = _to_item(account)
        try:
            item.save()
        except (PutError, UpdateError) as exc:
            if exc.cause_response_code == "ConditionalCheckFailedException":
                raise ConcurrentModification("the account changed meanwhile; retry") from exc
            raise
        return _to_record(item)
