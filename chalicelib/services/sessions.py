"""Signing in to the console, and the sessions that follow.

Sign-in (``sign_in``) answers the same way, in the same time, whether the address is
unknown, invited but without a password, or the password is wrong: every path reads the
same throttle counters and the address claim, verifies one argon2id hash (the user's, or a
dummy one), and counts a failure. Failures are counted per address (keyed hash) and per
source address (the connection's, never a header) in fixed windows of the shared throttle
table; once either is full the answer is 429 with ``Retry-After``, before any hash is
verified.

A session is 256 random bits in a cookie, stored only as its SHA-256 with the user, the
user's session generation, the sign-in time and the last request's time. It is over when
12 hours pass without a request, 30 days after sign-in, when the user signs out (its item
is deleted), when the user's generation moves (sign out everywhere, a new password), or
when the user is removed — every one of these is checked by ``resolve`` on each request,
since DynamoDB's TTL deletes expired items only eventually (and the emulator never does).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from chalicelib.bootstrap import Deps
from chalicelib.domain.contact import email_hash, normalise_email
from chalicelib.domain.identity import (
    Session,
    User,
    due_for_touch,
    looks_like_secret,
    new_secret,
    secret_hash,
    session_alive,
)
from chalicelib.domain.intake import keyed_subject
from chalicelib.domain.passwords import MAX_LENGTH, dummy_hash, hash_password, needs_rehash, verify_password
from chalicelib.domain.rate_limit import FixedWindow
from chalicelib.domain.records import Account
from chalicelib.errors import ConcurrentModification, NotFound, RateLimited, Unauthenticated
from chalicelib.observability import logger, metrics

# Failed sign-ins: per address, few (a person mistyping); per source address, more (an
# office behind one address). 15-minute windows: a locked-out person waits at most that.
SIGN_IN_PER_ADDRESS = FixedWindow("signin-email", limit=5, seconds=900)
SIGN_IN_PER_IP = FixedWindow("signin-ip", limit=30, seconds=900)


@dataclass(frozen=True)
class SignedIn:
    """The session behind a request's cookie, with its user and account."""

    session: Session
    user: User
    account: Account

    @property
    def actor(self) -> str:
        return self.user.user_id


def _subjects(deps: Deps, email: str, source_ip: str | None) -> tuple[str, str]:
    ip_subject = keyed_subject(deps.email_hash_key, "ip", source_ip or "unknown")
    address_subject = email_hash(deps.email_hash_key, email.strip())[:32]
    return address_subject, ip_subject


def _check_limits(deps: Deps, address_subject: str, ip_subject: str, now: datetime) -> None:
    waits = []
    for window, subject in ((SIGN_IN_PER_ADDRESS, address_subject), (SIGN_IN_PER_IP, ip_subject)):
        if deps.throttle.window_count(window.bucket(subject, now)) >= window.limit:
            waits.append(window.retry_after(now))
    if waits:
        metrics.add_metric(name="SignInRateLimited", unit="Count", value=1)
        raise RateLimited("too many failed sign-ins; try again later", details={"retry_after": max(waits)})


def _count_failure(deps: Deps, address_subject: str, ip_subject: str, now: datetime) -> None:
    for window, subject in ((SIGN_IN_PER_ADDRESS, address_subject), (SIGN_IN_PER_IP, ip_subject)):
        deps.throttle.hit_window(window.bucket(subject, now), window.limit, window.window_end(now))


def _find(deps: Deps, email: str) -> User | None:
    try:
        address = normalise_email(email)
    except ValueError:
        address = email.strip()
    return deps.users.find_by_email(address) if address else None


def sign_in(deps: Deps, email: str, password: str, *, source_ip: str | None) -> tuple[SignedIn, str]:
    """A new session for the user with this address and password, and its id (the cookie's
    value, shown once). ``Unauthenticated`` with one message for every failure."""
    now = deps.clock()
    address_subject, ip_subject = _subjects(deps, email, source_ip)
    _check_limits(deps, address_subject, ip_subject, now)
    user = _find(deps, email)
    stored = user.password_hash if user is not None and user.status == "active" else None
    matches = verify_password(stored or dummy_hash(), password[: MAX_LENGTH * 4]) and stored is not None
    if user is None or not matches:
        _count_failure(deps, address_subject, ip_subject, now)
        metrics.add_metric(name="SignInFailed", unit="Count", value=1)
        logger.info("sign-in refused")
        raise Unauthenticated("the e-mail address or the password is not right")
    if needs_rehash(stored):  # parameters raised since the password was set
        _rehash(deps, user, password)
    secret = new_secret()
    session = Session(
        session_hash=secret_hash(secret),
        account_id=user.account_id,
        user_id=user.user_id,
        generation=user.session_generation,
        created_at=now,
        last_seen_at=now,
    )
    deps.sessions.create(session)
    logger.info("signed in", extra={"account_id": user.account_id, "user_id": user.user_id})
    return SignedIn(session=session, user=user, account=deps.accounts.get(user.account_id)), secret


def _rehash(deps: Deps, user: User, password: str) -> None:
    try:
        deps.users.save(replace(user, password_hash=hash_password(password), updated_at=deps.clock()))
    except ConcurrentModification:
        pass  # the next sign-in rehashes


def resolve(deps: Deps, secret: str | None) -> SignedIn | None:
    """The live session behind a cookie's value, or ``None`` (absent, malformed, unknown,
    signed out, expired, ended everywhere, or its user removed)."""
    if not looks_like_secret(secret):
        return None
    session = deps.sessions.get(secret_hash(secret or ""))
    now = deps.clock()
    if session is None or not session_alive(session, now):
        return None
    try:
        user = deps.users.get(session.account_id, session.user_id, consistent=True)
    except NotFound:
        return None
    if user.session_generation != session.generation or user.status != "active":
        return None
    if due_for_touch(session.last_seen_at, now):
        deps.sessions.touch(session, now)
        session = replace(session, last_seen_at=now)
    return SignedIn(session=session, user=user, account=deps.accounts.get(session.account_id))


def sign_out(deps: Deps, signed_in: SignedIn) -> None:
    deps.sessions.delete(signed_in.session.session_hash)
    logger.info("signed out", extra={"account_id": signed_in.account.account_id, "user_id": signed_in.actor})


def sign_out_everywhere(deps: Deps, signed_in: SignedIn) -> None:
    """End every session of the user, on every device: their generation moves on."""
    for _ in range(3):
        user = deps.users.get(signed_in.user.account_id, signed_in.user.user_id, consistent=True)
        try:
            deps.users.save(
                replace(user, session_generation=user.session_generation + 1, updated_at=deps.clock())
            )
            break
        except ConcurrentModification:
            continue
    else:
        raise ConcurrentModification("the user is being changed concurrently; retry")
    deps.sessions.delete(signed_in.session.session_hash)
    logger.info(
        "signed out everywhere",
        extra={"account_id": signed_in.account.account_id, "user_id": signed_in.actor},
    )
