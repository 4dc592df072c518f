"""Console users, their sign-in address claims, owner counts, one-time links and sessions.

Invariants kept by transactions:
- one user per address across all accounts (sign-in asks for nothing but the address):
  the ``user-emails`` claim is written with ``attribute_not_exists`` with the user and
  deleted with it;
- an account never loses its last owner: every change that adds or removes an owner moves
  the account's owner count (``OwnerCountModel``) in the same transaction, on the
  condition that it stays at least 1;
- a link is used once: setting the password deletes the link's item on the condition that
  it still exists, in the same transaction as the user's change;
- no lost update on a user: every write is conditional on the version read.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pynamodb.exceptions import DeleteError, DoesNotExist, PutError, UpdateError

from chalicelib.domain.contact import email_key
from chalicelib.domain.identity import OneTimeToken, Session, User, session_expires_at
from chalicelib.domain.records import Page
from chalicelib.errors import ConcurrentModification, Conflict, NotFound
from chalicelib.storage.conversions import loaded_time, stored_time
from chalicelib.storage.models import (
    OWNER_COUNT_ID,
    USER_ID_PREFIX,
    OwnerCountModel,
    SessionModel,
    UserEmailModel,
    UserModel,
    UserTokenModel,
)
from chalicelib.storage.transactions import Transaction, TransactionFailed

# Read when a sign-in address is unknown (``UserRepository._read_decoy``); no account has this id.
DECOY_USER = ("~decoy", "usr_~decoy")


def _conditional_failed(exc: Exception) -> bool:
    return getattr(exc, "cause_response_code", None) == "ConditionalCheckFailedException"


def _to_user(item: UserModel) -> User:
    return User(
        account_id=item.account_id,
        user_id=item.user_id,
        email=item.email,
        role=item.role,  # type: ignore[arg-type]
        status=item.status,  # type: ignore[arg-type]
        created_at=loaded_time(item.created_at),  # type: ignore[arg-type]
        updated_at=loaded_time(item.updated_at),  # type: ignore[arg-type]
        password_hash=item.password_hash,
        language=item.language,
        session_generation=int(item.session_generation or 0),
        password_changed_at=loaded_time(item.password_changed_at),
        invited_by=item.invited_by,
        version=item.version,
    )


def user_item(user: User) -> UserModel:
    item = UserModel(
        account_id=user.account_id,
        user_id=user.user_id,
        email=user.email,
        email_key=email_key(user.email),
        role=user.role,
        status=user.status,
        password_hash=user.password_hash,
        language=user.language,
        session_generation=user.session_generation,
        password_changed_at=stored_time(user.password_changed_at),
        invited_by=user.invited_by,
        created_at=stored_time(user.created_at),
        updated_at=stored_time(user.updated_at),
    )
    if user.version is not None:
        item.version = user.version
    return item


def claim_item(user: User) -> UserEmailModel:
    return UserEmailModel(email_key=email_key(user.email), account_id=user.account_id, user_id=user.user_id)


def token_item(token: OneTimeToken) -> UserTokenModel:
    return UserTokenModel(
        token_hash=token.token_hash,
        purpose=token.purpose,
        account_id=token.account_id,
        user_id=token.user_id,
        created_at=stored_time(token.created_at),
        valid_until=stored_time(token.expires_at),
        expires_at=token.expires_at,
    )


def _to_token(item: UserTokenModel) -> OneTimeToken:
    return OneTimeToken(
        token_hash=item.token_hash,
        purpose=item.purpose,  # type: ignore[arg-type]
        account_id=item.account_id,
        user_id=item.user_id,
        created_at=loaded_time(item.created_at),  # type: ignore[arg-type]
        expires_at=loaded_time(item.valid_until),  # type: ignore[arg-type]
    )


def add_new_user(tx: Transaction, user: User, invitation: OneTimeToken | None) -> None:
    """The writes that create ``user`` (and its first link) inside ``tx``: the user, its
    address claim (label ``email``), its invitation, and one more owner if it is one."""
    tx.save(user_item(user), "user", condition=UserModel.user_id.does_not_exist())
    tx.save(claim_item(user), "email", condition=UserEmailModel.email_key.does_not_exist())
    if invitation is not None:
        tx.save(token_item(invitation), "token", condition=UserTokenModel.token_hash.does_not_exist())
    if user.is_owner:
        tx.update(
            OwnerCountModel(user.account_id, OWNER_COUNT_ID), [OwnerCountModel.owner_count.add(1)], "owners"
        )


class UserRepository:
    def create(self, user: User, invitation: OneTimeToken | None) -> User:
        tx = Transaction(UserModel._get_connection().connection)
        add_new_user(tx, user, invitation)
        try:
            tx.commit()
        except TransactionFailed as exc:
            if "email" in exc.labels:
                raise Conflict("this address already has a Permesso user", code="user_exists") from exc
            raise ConcurrentModification("the user could not be created; retry") from exc
        return self.get(user.account_id, user.user_id, consistent=True)

    def get(self, account_id: str, user_id: str, *, consistent: bool = False) -> User:
        if not user_id.startswith(USER_ID_PREFIX):
            raise NotFound("user not found")
        try:
            return _to_user(UserModel.get(account_id, user_id, consistent_read=consistent))
        except DoesNotExist:
            raise NotFound("user not found") from None

    def find_by_email(self, email: str) -> User | None:
        """The user who signs in with ``email`` (any account), or ``None``. An unknown address
        costs the same two reads as a known one (the second for a key that never exists), so
        sign-in takes the same time either way."""
        try:
            claim = UserEmailModel.get(email_key(email), consistent_read=True)
        except DoesNotExist:
            self._read_decoy()
            return None
        try:
            return _to_user(UserModel.get(claim.account_id, claim.user_id, consistent_read=True))
        except DoesNotExist:
            return None

    def _read_decoy(self) -> None:
        """Read the decoy user (an item shaped like a real user, in no account), creating it
        the first time: reading a present item costs what reading the user of a known
        address costs, where reading a missing key would be measurably cheaper."""
        try:
            UserModel.get(*DECOY_USER, consistent_read=True)
        except DoesNotExist:
            from chalicelib.domain.passwords import dummy_hash

            now = stored_time(datetime.now(UTC))
            decoy = UserModel(
                account_id=DECOY_USER[0],
                user_id=DECOY_USER[1],
                email="decoy@permesso.invalid",
                email_key="decoy@permesso.invalid",
                role="staff",
                status="invited",
                password_hash=dummy_hash(),
                created_at=now,
                updated_at=now,
            )
            try:
                decoy.save(condition=UserModel.user_id.does_not_exist())
            except PutError as exc:
                if not _conditional_failed(exc):
                    raise

    def page(self, account_id: str, *, limit: int, start_key: dict[str, Any] | None) -> Page:
        results = UserModel.query(
            account_id,
            UserModel.user_id.startswith(USER_ID_PREFIX),
            limit=limit,
            last_evaluated_key=start_key,
        )
        return Page(items=[_to_user(item) for item in results], next_key=results.last_evaluated_key)

    def save(self, user: User) -> User:
        """Write a user read earlier (profile, password, session generation); fails if it
        changed meanwhile. Role changes go through ``change_role`` (the owner count)."""
        item = user_item(user)
        try:
            item.save()
        except (PutError, UpdateError) as exc:
            if _conditional_failed(exc):
                raise ConcurrentModification("the user changed meanwhile; retry") from exc
            raise
        return _to_user(item)

    def change_role(self, user: User, updated: User) -> User:
        """``user`` (as read) becomes ``updated``, whose role differs; the owner count moves
        with it and may never drop below 1."""
        tx = Transaction(UserModel._get_connection().connection)
        tx.save(user_item(updated), "user")
        counter = OwnerCountModel(user.account_id, OWNER_COUNT_ID)
        if updated.is_owner:
            tx.update(counter, [OwnerCountModel.owner_count.add(1)], "owners")
        else:
            tx.update(
                counter,
                [OwnerCountModel.owner_count.add(-1)],
                "owners",
                condition=OwnerCountModel.owner_count > 1,
            )
        self._commit(tx)
        return self.get(user.account_id, user.user_id, consistent=True)

    def delete(self, user: User) -> None:
        """Remove ``user`` (as read), its address claim, and one owner if it was one."""
        tx = Transaction(UserModel._get_connection().connection)
        tx.delete(user_item(user), "user")
        tx.delete(claim_item(user), "email")
        if user.is_owner:
            tx.update(
                OwnerCountModel(user.account_id, OWNER_COUNT_ID),
                [OwnerCountModel.owner_count.add(-1)],
                "owners",
                condition=OwnerCountModel.owner_count > 1,
            )
        self._commit(tx)

    def _commit(self, tx: Transaction) -> None:
        try:
            tx.commit()
        except TransactionFailed as exc:
            if "owners" in exc.labels:
                raise Conflict("an account keeps at least one owner", code="last_owner") from exc
            raise ConcurrentModification("the user changed meanwhile; retry") from exc

    def owner_count(self, account_id: str) -> int:
        try:
            return int(OwnerCountModel.get(account_id, OWNER_COUNT_ID, consistent_read=True).owner_count or 0)
        except DoesNotExist:
            return 0

    # --- one-time links ---------------------------------------------------------------------

    def add_token(self, token: OneTimeToken) -> None:
        token_item(token).save(condition=UserTokenModel.token_hash.does_not_exist())

    def get_token(self, token_hash: str) -> OneTimeToken | None:
        try:
            return _to_token(UserTokenModel.get(token_hash, consistent_read=True))
        except DoesNotExist:
            return None

    def use_token(self, token: OneTimeToken, user: User, updated: User) -> User:
        """Spend ``token`` and save ``updated`` (as ``user`` was read) in one transaction: a
        link used twice at the same moment sets one password, the other finds it gone."""
        tx = Transaction(UserModel._get_connection().connection)
        tx.delete(token_item(token), "token", condition=UserTokenModel.token_hash.exists())
        tx.save(user_item(updated), "user")
        try:
            tx.commit()
        except TransactionFailed as exc:
            if "token" in exc.labels:
                raise NotFound("link already used") from exc
            raise ConcurrentModification("the user changed meanwhile; retry") from exc
        return self.get(user.account_id, user.user_id, consistent=True)

    def delete_token(self, token_hash: str) -> None:
        try:
            UserTokenModel(token_hash).delete()
        except DeleteError:
            pass


class SessionRepository:
    def create(self, session: Session) -> None:
        item = SessionModel(
            session_hash=session.session_hash,
            account_id=session.account_id,
            user_id=session.user_id,
            generation=session.generation,
            created_at=stored_time(session.created_at),
            last_seen_at=stored_time(session.last_seen_at),
            expires_at=session_expires_at(session.created_at, session.last_seen_at),
        )
        try:
            item.save(condition=SessionModel.session_hash.does_not_exist())
        except PutError as exc:
            if _conditional_failed(exc):  # 256 random bits: never, but never overwrite either
                raise Conflict("session id collision; retry") from exc
            raise

    def get(self, session_hash: str) -> Session | None:
        try:
            item = SessionModel.get(session_hash, consistent_read=True)
        except DoesNotExist:
            return None
        return Session(
            session_hash=item.session_hash,
            account_id=item.account_id,
            user_id=item.user_id,
            generation=int(item.generation),
            created_at=loaded_time(item.created_at),  # type: ignore[arg-type]
            last_seen_at=loaded_time(item.last_seen_at),  # type: ignore[arg-type]
        )

    def touch(self, session: Session, now: datetime) -> None:
        """Move ``last_seen_at`` to ``now`` unless another request already did (compare-and-set
        on the value read), so concurrent requests write once."""
        try:
            SessionModel(session.session_hash).update(
                actions=[
                    SessionModel.last_seen_at.set(stored_time(now)),
                    SessionModel.expires_at.set(session_expires_at(session.created_at, now)),
                ],
                condition=SessionModel.last_seen_at == stored_time(session.last_seen_at),
            )
        except UpdateError as exc:
            if not _conditional_failed(exc):
                raise

    def delete(self, session_hash: str) -> None:
        try:
            SessionModel(session_hash).delete()
        except DeleteError:
            pass
