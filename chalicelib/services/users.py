"""Console users: invitations, roles, removal, and the one-time links that set a password.

- An owner (or the operator, through ``POST /v1/accounts`` with ``owner_email``) invites
  a person by address; the user exists at once with status ``invited`` and gets an e-mail
  with a link valid for 7 days. The link's page sets the first password; the user is then
  ``active``.
- A forgotten password is reset through a link valid for 1 hour, sent only to an active
  user; asking answers the same whether or not the address is known.
- A link is 256 random bits, stored only as its SHA-256, used once (deleted in the same
  transaction as the password change), refused after its expiry by the code itself
  (DynamoDB's TTL only cleans up). Opening it (``GET``) changes nothing; only the form's
  ``POST`` acts, so mail scanners that open links spend nothing.
- Setting a password through a link ends every session of the user (the session
  generation moves), and so does removing the user (the user is gone).
- Every account keeps at least one owner (``storage.users``: the owner count).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from pydantic import BaseModel, ConfigDict
from ulid import ULID

from chalicelib.bootstrap import Deps
from chalicelib.domain.account_settings import Email, Language
from chalicelib.domain.contact import email_hash, normalise_email
from chalicelib.domain.identity import (
    OneTimeToken,
    Role,
    TokenPurpose,
    User,
    looks_like_secret,
    new_secret,
    secret_hash,
    token_alive,
    token_validity,
)
from chalicelib.domain.intake import keyed_subject
from chalicelib.domain.passwords import hash_password, password_problem
from chalicelib.domain.rate_limit import FixedWindow
from chalicelib.domain.records import Account
from chalicelib.errors import ConcurrentModification, Conflict, InvalidInput, NotFound, RateLimited
from chalicelib.observability import logger, metrics
from chalicelib.services.pagination import check_limit, decode_cursor, encode_cursor

INVITATION_PATH = "/app/invitation/"
RESET_PATH = "/app/reset/"
_PATHS: dict[TokenPurpose, str] = {"invitation": INVITATION_PATH, "reset": RESET_PATH}
# Reset requests: each may send an e-mail, so they are few per address and per source.
RESET_PER_ADDRESS = FixedWindow("reset-email", limit=3, seconds=3600)
RESET_PER_IP = FixedWindow("reset-ip", limit=20, seconds=3600)
_ATTEMPTS = 3


class NewUser(BaseModel):
    """An invitation: the person's address, role and (optionally) console language."""

    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)

    email: Email
    role: Role = "staff"
    language: Language | None = None


class RoleChange(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True, defer_build=True)

    role: Role


@dataclass(frozen=True)
class LinkVisit:
    """What an invitation or reset link's page shows: whose account, which address."""

    account: Account
    user: User
    purpose: TokenPurpose


# --- records ------------------------------------------------------------------------------


def new_link(purpose: TokenPurpose, account_id: str, user_id: str, now: datetime) -> tuple[OneTimeToken, str]:
    secret = new_secret()
    token = OneTimeToken(
        token_hash=secret_hash(secret),
        purpose=purpose,
        account_id=account_id,
        user_id=user_id,
        created_at=now,
        expires_at=now + token_validity(purpose),
    )
    return token, secret


def new_invited_user(
    account_id: str, data: NewUser, now: datetime, invited_by: str | None
) -> tuple[User, OneTimeToken, str]:
    """A user waiting for their first password, and their invitation (secret shown once)."""
    user = User(
        account_id=account_id,
        user_id=f"usr_{ULID()}",
        email=data.email,
        role=data.role,
        status="invited",
        created_at=now,
        updated_at=now,
        language=data.language,
        invited_by=invited_by,
    )
    token, secret = new_link("invitation", account_id, user.user_id, now)
    return user, token, secret


def link_url(deps: Deps, purpose: TokenPurpose, secret: str) -> str:
    return f"{deps.settings.public_base_url}{_PATHS[purpose]}{secret}"


# --- mail -------------------------------------------------------------------------------


def send_link(deps: Deps, account: Account, user: User, purpose: TokenPurpose, secret: str) -> bool:
    """E-mail an invitation or reset link through the platform's one door for transactional
    mail (``services.outbound``: the sender check, the account's caps and pace, the platform's
    SES rate, the reputation); ``False`` if it was not sent (logged, not raised: the owner can
    send the invitation again, the user can ask for another reset)."""
    from chalicelib.mail.messages import invitation_mail, password_reset_mail
    from chalicelib.services.outbound import send_transactional

    build = invitation_mail if purpose == "invitation" else password_reset_mail
    mail = build(account, user, link_url(deps, purpose, secret))
    ids = {"account_id": account.account_id, "user_id": user.user_id, "kind": purpose}
    outcome = send_transactional(deps, account, mail, kind=purpose)
    if outcome.refused is not None:
        logger.warning("identity mail not sent", extra={**ids, "code": outcome.refused})
        metrics.add_metric(name="IdentityMailFailed", unit="Count", value=1)
        return False
    logger.info("identity mail sent", extra={**ids, "ses_message_id": outcome.message_id})
    return True


# --- management (owners) ----------------------------------------------------------------


def invite_user(deps: Deps, account: Account, data: NewUser, actor: str) -> User:
    user, token, secret = new_invited_user(account.account_id, data, deps.clock(), actor)
    created = deps.users.create(user, token)
    logger.info("user invited", extra={"account_id": account.account_id, "user_id": user.user_id})
    send_link(deps, account, created, "invitation", secret)
    return created


def resend_invitation(deps: Deps, account: Account, user_id: str) -> User:
    """A new invitation link for a user who has not set a password yet (the old one still
    works until it expires)."""
    user = deps.users.get(account.account_id, user_id, consistent=True)
    if user.status != "invited":
        raise Conflict("this user has already accepted the invitation", code="already_active")
    token, secret = new_link("invitation", account.account_id, user.user_id, deps.clock())
    deps.users.add_token(token)
    send_link(deps, account, user, "invitation", secret)
    return user


def list_users(
    deps: Deps, account: Account, limit: int | None, cursor: str | None
) -> tuple[list[User], str | None]:
    start = decode_cursor(deps.key_ring, account.account_id, "users", cursor)
    page = deps.users.page(account.account_id, limit=check_limit(limit), start_key=start)
    return list(page.items), encode_cursor(deps.key_ring, account.account_id, "users", page.next_key)


def get_user(deps: Deps, account: Account, user_id: str) -> User:
    return deps.users.get(account.account_id, user_id)


def change_role(deps: Deps, account: Account, user_id: str, role: Role, actor: str) -> User:
    """Make a user owner or staff; demoting the last owner is a 409 ``last_owner``."""
    for _ in range(_ATTEMPTS):
        user = deps.users.get(account.account_id, user_id, consistent=True)
        if user.role == role:
            return user
        updated = replace(user, role=role, updated_at=deps.clock())
        try:
            saved = deps.users.change_role(user, updated)
        except ConcurrentModification:
            continue
        logger.info(
            "user role changed",
            extra={"account_id": account.account_id, "user_id": user_id, "role": role, "actor": actor},
        )
        return saved
    raise ConcurrentModification("the user is being changed concurrently; retry")


def remove_user(deps: Deps, account: Account, user_id: str, actor: str) -> None:
    """Remove a user: their sessions end at once (a session of a missing user is over).
    Removing the last owner is a 409 ``last_owner``."""
    for _ in range(_ATTEMPTS):
        user = deps.users.get(account.account_id, user_id, consistent=True)
        try:
            deps.users.delete(user)
        except ConcurrentModification:
            continue
        logger.info(
            "user removed", extra={"account_id": account.account_id, "user_id": user_id, "actor": actor}
        )
        return
    raise ConcurrentModification("the user is being changed concurrently; retry")


# --- links (no sign-in) -----------------------------------------------------------------


def _token(deps: Deps, purpose: TokenPurpose, secret: str) -> OneTimeToken:
    """The live link behind ``secret``; ``NotFound`` for anything else (malformed, unknown,
    used, expired, or of the other purpose): one answer, so a link reveals nothing."""
    if not looks_like_secret(secret):
        raise NotFound("link not valid")
    token = deps.users.get_token(secret_hash(secret))
    if token is None or token.purpose != purpose or not token_alive(token, deps.clock()):
        raise NotFound("link not valid")
    return token


def open_link(deps: Deps, purpose: TokenPurpose, secret: str) -> LinkVisit:
    """What the link's page needs (``GET``: nothing is changed)."""
    token = _token(deps, purpose, secret)
    user = deps.users.get(token.account_id, token.user_id, consistent=True)
    if purpose == "invitation" and user.status != "invited":
        raise NotFound("link not valid")  # accepted already (through another invitation link)
    if purpose == "reset" and user.password_changed_at and user.password_changed_at > token.created_at:
        raise NotFound("link not valid")  # a newer password outlives older reset links
    return LinkVisit(account=deps.accounts.get(token.account_id), user=user, purpose=purpose)


def set_password_with_link(
    deps: Deps, purpose: TokenPurpose, secret: str, password: str, confirmation: str
) -> LinkVisit:
    """The link's ``POST``: check the new password, spend the link, set the password, end
    every session of the user. A rejected password leaves the link usable."""
    visit = open_link(deps, purpose, secret)
    problem = password_problem(password, confirmation, email=visit.user.email)
    if problem is not None:
        raise InvalidInput(
            "the password cannot be used",
            code=f"password_{problem}",
            details=[{"field": "confirmation" if problem == "mismatch" else "password", "message": problem}],
        )
    token = _token(deps, purpose, secret)
    password_hash = hash_password(password)
    for _ in range(_ATTEMPTS):
        user = deps.users.get(token.account_id, token.user_id, consistent=True)
        now = deps.clock()
        updated = replace(
            user,
            status="active",
            password_hash=password_hash,
            password_changed_at=now,
            session_generation=user.session_generation + 1,
            updated_at=now,
        )
        try:
            saved = deps.users.use_token(token, user, updated)
        except ConcurrentModification:
            continue
        logger.info(
            "password set", extra={"account_id": user.account_id, "user_id": user.user_id, "kind": purpose}
        )
        return LinkVisit(account=visit.account, user=saved, purpose=purpose)
    raise ConcurrentModification("the user is being changed concurrently; retry")


def _limit(deps: Deps, window: FixedWindow, subject: str, now: datetime) -> None:
    if not deps.throttle.hit_window(window.bucket(subject, now), window.limit, window.window_end(now)):
        metrics.add_metric(name="ResetRateLimited", unit="Count", value=1)
        raise RateLimited(
            "too many requests; try again later", details={"retry_after": window.retry_after(now)}
        )


def request_reset(deps: Deps, email: str, *, source_ip: str | None) -> None:
    """Send a reset link to ``email`` if it is an active user's. The caller answers the same
    in every case; the limits (per source address, per address) count every request."""
    now = deps.clock()
    _limit(deps, RESET_PER_IP, keyed_subject(deps.email_hash_key, "ip", source_ip or "unknown"), now)
    try:
        address = normalise_email(email)
    except ValueError:
        return
    _limit(deps, RESET_PER_ADDRESS, email_hash(deps.email_hash_key, address)[:32], now)
    user = deps.users.find_by_email(address)
    if user is None or user.status != "active":
        return
    token, secret = new_link("reset", user.account_id, user.user_id, now)
    deps.users.add_token(token)
    send_link(deps, deps.accounts.get(user.account_id), user, "reset", secret)
