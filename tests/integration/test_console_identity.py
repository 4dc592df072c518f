"""The console's identity pages and their security: sign-in (same answer and time for an
unknown address and a wrong password, throttled), cookies, session fixation, CSRF, invitation
and reset links (scanner-proof, single use, expiring), sessions (sign out, everywhere, idle and
absolute expiry), roles, security headers, tenant isolation."""

from __future__ import annotations

import re
import statistics
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from chalice.local import LambdaEventConverter

from chalicelib.domain.identity import secret_hash
from chalicelib.storage.models import SessionModel, UserModel
from tests.integration.conftest import Http
from tests.integration.console_support import (
    ORIGIN,
    PASSWORD,
    Browser,
    accept_invitation,
    create_account_with_owner,
    link_in_mail,
    sent_mails,
    signed_in_owner,
)

OWNER = "owner@salon.example"
T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


class Clock:
    """The app's clock for one test: ``clock.now`` moves only when the test moves it."""

    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture
def clock(tune: Any) -> Clock:
    fixed = Clock(T0)
    tune().clock = fixed
    return fixed


@pytest.fixture
def owner(api: Any) -> tuple[Browser, dict[str, Any]]:
    return signed_in_owner(api)


def without_tokens(text: str) -> str:
    return re.sub(r'name="csrf_token" value="[^"]+"', "", text)


def label_for(html: str, text: str) -> str:
    """The id of the input labelled ``text`` (its accessible name)."""
    found = re.search(r'<label class="label" for="([^"]+)">' + re.escape(text) + "</label>", html)
    assert found, text
    return found.group(1)


# --- the sign-in page -------------------------------------------------------------------------


def test_sign_in_page_offers_the_named_controls(api: Any) -> None:
    page = Browser(api).get("/app/sign-in")
    assert page.status == 200
    html = page.text
    assert label_for(html, "Email") == "f-email" and 'type="email"' in html
    assert label_for(html, "Password") == "f-password" and 'type="password"' in html
    assert re.search(r'<button type="submit" class="button">Sign in</button>', html)
    assert re.search(r'<a href="/app/forgot-password">Forgot password\?</a>', html)
    assert html.count("<h1>") == 1 and '<html lang="en">' in html
    assert re.search(r'<link rel="stylesheet" href="/app/static/console\.[0-9a-f]{12}\.css">', html)


def test_sign_in_page_is_localised(api: Any) -> None:
    czech = Browser(api).get("/app/sign-in", headers={"Accept-Language": "cs-CZ,cs;q=0.9"})
    assert '<html lang="cs">' in czech.text and "Zapomněli jste heslo?" in czech.text
    italian = Browser(api).get("/app/sign-in?lang=it")
    assert '<html lang="it">' in italian.text and "Password dimenticata?" in italian.text


def test_sign_in_sets_a_new_hashed_session_cookie_with_every_flag(
    owner: tuple[Browser, dict[str, Any]],
) -> None:
    browser, _ = owner
    answer = browser.last
    assert answer is not None and answer.status == 303 and answer.location == "/app"
    line = answer.cookie("permesso_session")
    assert line is not None
    value = line.split(";", 1)[0].split("=", 1)[1]
    flags = {part.strip().split("=")[0].lower(): part.strip() for part in line.split(";")[1:]}
    assert {"httponly", "secure", "samesite", "path", "max-age"} <= set(flags)
    assert flags["samesite"] == "SameSite=Lax" and flags["path"] == "Path=/app"
    assert re.fullmatch(r"[A-Za-z0-9_-]{43}", value)  # 256 bits
    # Stored hashed: the cookie's value is nowhere in the table, its SHA-256 is the key.
    items = list(SessionModel.scan())
    assert [item.session_hash for item in items] == [secret_hash(value)]
    assert value not in str([item.attribute_values for item in items])
    # The anonymous form cookie is dropped at sign-in.
    assert "Max-Age=0" in (answer.cookie("permesso_form") or "")
    assert browser.get("/app").status == 200


def test_the_pre_sign_in_cookie_is_never_the_signed_in_one(api: Any) -> None:
    """Session fixation: a session id planted before sign-in is replaced, never promoted."""
    create_account_with_owner(api)
    accept_invitation(api, OWNER)
    planted = "A" * 43
    victim = Browser(api, cookies={"permesso_session": planted})
    form = victim.get("/app/sign-in")
    visitor = form.cookie("permesso_form")
    assert visitor is not None
    answer = victim.post("/app/sign-in", {"email": OWNER, "password": PASSWORD})
    assert answer.status == 303
    issued = victim.cookies["permesso_session"]
    assert issued != planted and issued != visitor.split(";")[0].split("=")[1]
    attacker = Browser(api, cookies={"permesso_session": planted})
    assert attacker.get("/app").status == 303  # the planted id is still nobody's session
    # Signing in again (after signing out) gives yet another id.
    victim.get("/app")
    victim.post("/app/sign-out")
    again = victim.sign_in(OWNER)
    assert again.status == 303 and victim.cookies["permesso_session"] not in (issued, planted)


def test_unknown_address_and_wrong_password_get_the_same_answer(api: Any) -> None:
    create_account_with_owner(api)
    accept_invitation(api, OWNER)
    answers = []
    for email, password in (
        ("nobody@salon.example", PASSWORD),
        (OWNER, "wrong password but long"),
        (OWNER.upper(), "wrong password but long"),
    ):
        answer = Browser(api).sign_in(email, password)
        answers.append((answer.status, without_tokens(answer.text).replace(email, "EMAIL")))
    assert answers[0][0] == 401
    assert answers[0] == answers[1] == answers[2]
    assert "The email address or the password is not right" in answers[0][1]


def test_an_invited_user_without_a_password_cannot_sign_in(api: Any) -> None:
    create_account_with_owner(api)
    answer = Browser(api).sign_in(OWNER, "")
    assert answer.status == 400  # empty password: the form's own error
    answer = Browser(api).sign_in(OWNER, "any password at all")
    assert answer.status == 401


def test_sign_in_takes_the_same_time_for_an_unknown_address_and_a_wrong_password(
    api: Any, clock: Clock
) -> None:
    create_account_with_owner(api)
    accept_invitation(api, OWNER)
    unknown, wrong, ratios = [], [], []
    for round_ in range(31):
        clock.advance(minutes=16)  # a fresh throttle window each round
        pair = [(f"nobody{round_}@salon.example", unknown), (OWNER, wrong)]
        for email, sink in pair if round_ % 2 else reversed(pair):  # neither always goes first
            browser = Browser(api)
            browser.get("/app/sign-in")
            started = time.perf_counter()
            answer = browser.post("/app/sign-in", {"email": email, "password": "wrong password but long"})
            sink.append(time.perf_counter() - started)
            assert answer.status == 401
        ratios.append(unknown[-1] / wrong[-1])
    median_unknown, median_wrong = statistics.median(unknown), statistics.median(wrong)
    # Each round's two sign-ins run back to back, so the machine's load (other test workers on
    # the same cores) weighs on both alike: the median of the rounds' ratios, not the ratio of
    # the medians, which a busy spell during one kind's slower half skews.
    ratio = statistics.median(ratios)
    print(
        f"sign-in median: unknown {median_unknown * 1000:.1f} ms, wrong password {median_wrong * 1000:.1f} ms, ratio {ratio:.3f}"
    )
    assert 0.8 <= ratio <= 1.2, (median_unknown, median_wrong)


def test_failed_sign_ins_are_slowed_per_address_then_429(api: Any, clock: Clock) -> None:
    create_account_with_owner(api)
    accept_invitation(api, OWNER)
    for _ in range(5):
        assert Browser(api).sign_in(OWNER, "wrong password but long").status == 401
    refused = Browser(api).sign_in(OWNER)  # even the right password waits
    assert refused.status == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 900
    assert "Too many attempts" in refused.text
    clock.advance(minutes=15)
    assert Browser(api).sign_in(OWNER).status == 303


def test_failed_sign_ins_are_slowed_per_source_address(
    api: Any, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    create_account_with_owner(api)
    accept_invitation(api, OWNER)
    monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", "198.51.100.9")
    for n in range(30):
        assert Browser(api).sign_in(f"guess{n}@salon.example", "wrong password but long").status == 401
    assert Browser(api).sign_in(OWNER).status == 429
    # The forwarding headers a client writes change nothing.
    browser = Browser(api)
    browser.get("/app/sign-in")
    spoofed = browser.post(
        "/app/sign-in", {"email": OWNER, "password": PASSWORD}, headers={"X-Forwarded-For": "203.0.113.1"}
    )
    assert spoofed.status == 429
    monkeypatch.setattr(LambdaEventConverter, "LOCAL_SOURCE_IP", "198.51.100.10")
    assert Browser(api).sign_in(OWNER).status == 303


def test_the_password_is_never_logged(api: Any, capsys: pytest.CaptureFixture[str]) -> None:
    create_account_with_owner(api)
    accept_invitation(api, OWNER, "unusual secret phrase 4711")
    Browser(api).sign_in(OWNER, "unusual secret phrase 4711")
    Browser(api).sign_in(OWNER, "another secret phrase 4712")
    captured = capsys.readouterr()
    assert "secret phrase" not in captured.out + captured.err


# --- CSRF -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("csrf", "origin"),
    [
        (None, ORIGIN),  # no token
        ("forged-token", ORIGIN),  # wrong token
        (True, "https://evil.example"),  # cross-origin
        (True, None),  # no Origin at all
        (True, "null"),  # an opaque origin
        (True, "http://permesso.test"),  # another scheme is another origin
    ],
)
def test_anonymous_forms_refuse_csrf(api: Any, csrf: Any, origin: str | None) -> None:
    create_account_with_owner(api)
    accept_invitation(api, OWNER)
    browser = Browser(api)
    browser.get("/app/sign-in")
    answer = browser.post("/app/sign-in", {"email": OWNER, "password": PASSWORD}, csrf=csrf, origin=origin)
    assert answer.status == 403 and "permesso_session" not in browser.cookies
    assert "The form has expired" in answer.text


@pytest.mark.parametrize(
    ("csrf", "origin"),
    [(None, ORIGIN), ("forged-token", ORIGIN), (True, "https://evil.example"), (True, None)],
)
def test_signed_in_forms_refuse_csrf_and_change_nothing(
    api: Any, owner: tuple[Browser, dict[str, Any]], csrf: Any, origin: str | None
) -> None:
    browser, created = owner
    http = Http(api, created["api_key"])
    browser.get("/app/settings/users")
    answer = browser.post(
        "/app/settings/users", {"email": "new@salon.example", "role": "owner"}, csrf=csrf, origin=origin
    )
    assert answer.status == 403
    assert [u["email"] for u in http.get("/v1/users")[1]["items"]] == [OWNER]
    answer = browser.post("/app/sign-out-everywhere", csrf=csrf, origin=origin)
    assert answer.status == 403
    assert browser.get("/app").status == 200  # still signed in


def test_a_token_of_another_session_is_refused(api: Any, owner: tuple[Browser, dict[str, Any]]) -> None:
    browser, _ = owner
    other = Browser(api)
    other.sign_in(OWNER)
    other_token = other.get("/app").csrf
    browser.get("/app")
    assert browser.post("/app/sign-out", csrf=other_token).status == 403
    assert browser.get("/app").status == 200


def test_a_state_change_without_a_session_is_refused(api: Any) -> None:
    browser = Browser(api)
    browser.get("/app/sign-in")
    assert browser.post("/app/sign-out").status == 403
    browser.get("/app/sign-in")
    assert browser.post("/app/settings/users", {"email": "x@y.example"}).status == 403


# --- invitation and reset links -------------------------------------------------------------


def test_an_invitation_link_shows_a_form_and_only_its_post_acts(api: Any) -> None:
    create_account_with_owner(api)
    link = link_in_mail(OWNER, "/app/invitation/")
    scanner = Browser(api)
    for _ in range(3):  # mail scanners open links: nothing happens
        page = scanner.get(link)
        assert page.status == 200
    html = page.text
    assert (
        label_for(html, "New password") == "f-password"
        and label_for(html, "Confirm password") == "f-confirmation"
    )
    assert '<button type="submit" class="button">Set password</button>' in html
    assert OWNER in html and "Welcome to Salon Bella" in html
    assert (
        page.headers["Cache-Control"] == "no-store"
        and "frame-ancestors 'none'" in page.headers["Content-Security-Policy"]
    )
    assert page.headers["Referrer-Policy"] == "same-origin"
    assert UserModel.get(*_owner_key(api)).status == "invited"

    browser = Browser(api)
    browser.get(link)
    for fields, message in (
        ({"password": "short", "confirmation": "short"}, "at least 12 characters"),
        ({"password": "Password123!", "confirmation": "Password123!"}, "too common"),
        ({"password": PASSWORD, "confirmation": PASSWORD + "x"}, "not the same"),
        ({"password": "", "confirmation": ""}, "Enter a new password"),
    ):
        answer = browser.post(link, fields)
        assert answer.status == 400 and message in answer.text, fields
        assert 'class="error-summary"' in answer.text and 'aria-invalid="true"' in answer.text
    answer = browser.post(link, {"password": PASSWORD, "confirmation": PASSWORD})
    assert answer.status == 303 and answer.location == "/app/sign-in?done=password_set"
    assert "Your password is set" in browser.get(answer.location).text
    # Single use.
    again = Browser(api)
    assert again.get(link).status == 404
    again.get("/app/sign-in")
    assert (
        again.post(
            link, {"password": PASSWORD + "2", "confirmation": PASSWORD + "2"}, csrf=again.last.csrf
        ).status
        == 404
    )
    assert Browser(api).sign_in(OWNER).status == 303


def _owner_key(api: Any) -> tuple[str, str]:
    [item] = [u for u in UserModel.scan() if u.user_id.startswith("usr_") and u.email == OWNER]
    return item.account_id, item.user_id


def test_an_invitation_expires_after_seven_days(api: Any, clock: Clock) -> None:
    create_account_with_owner(api)
    link = link_in_mail(OWNER, "/app/invitation/")
    clock.advance(days=6, hours=23)
    assert Browser(api).get(link).status == 200
    clock.advance(hours=1)
    browser = Browser(api)
    page = browser.get(link)
    assert page.status == 404 and "This link is not valid or has expired" in page.text
    browser.get("/app/sign-in")
    assert (
        browser.post(link, {"password": PASSWORD, "confirmation": PASSWORD}, csrf=browser.last.csrf).status
        == 404
    )


@pytest.mark.parametrize("mutation", ["x", "A" * 43, "A" * 42 + "!", "%00", "A" * 500])
def test_a_tampered_link_is_the_same_404(api: Any, mutation: str) -> None:
    create_account_with_owner(api)
    link = link_in_mail(OWNER, "/app/invitation/")
    page = Browser(api).get(link[:-1] + mutation if mutation == "x" else "/app/invitation/" + mutation)
    assert page.status == 404
    assert Browser(api).get(link.replace("/invitation/", "/reset/")).status == 404  # wrong purpose


def test_reset_answers_the_same_for_any_address_and_mails_only_users(api: Any, clock: Clock) -> None:
    create_account_with_owner(api)
    accept_invitation(api, OWNER)
    before = len(sent_mails())
    answers = []
    for email in ("nobody@salon.example", OWNER, "not an address"):
        browser = Browser(api)
        browser.get("/app/forgot-password")
        answer = browser.post("/app/forgot-password", {"email": email})
        answers.append((answer.status, without_tokens(answer.text)))
    assert answers[0] == answers[1] == answers[2] and answers[0][0] == 200
    assert "Check your email" in answers[0][1]
    assert len(sent_mails()) == before + 1
    link = link_in_mail(OWNER, "/app/reset/")

    # Signed in elsewhere before the reset: those sessions end with it.
    elsewhere = Browser(api)
    elsewhere.sign_in(OWNER)
    assert elsewhere.get("/app").status == 200
    browser = Browser(api)
    page = browser.get(link)
    assert page.status == 200 and "Choose a new password" in page.text
    new_password = "a brand new passphrase"
    assert browser.post(link, {"password": new_password, "confirmation": new_password}).status == 303
    assert elsewhere.get("/app").status == 303
    assert Browser(api).sign_in(OWNER).status == 401  # the old password is gone
    assert Browser(api).sign_in(OWNER, new_password).status == 303
    assert Browser(api).get(link).status == 404  # used


def test_a_reset_link_expires_after_an_hour_and_when_the_password_changes(api: Any, clock: Clock) -> None:
    create_account_with_owner(api)
    accept_invitation(api, OWNER)
    for _ in range(2):
        browser = Browser(api)
        browser.get("/app/forgot-password")
        browser.post("/app/forgot-password", {"email": OWNER})
    links = [m for m in sent_mails() if "/app/reset/" in str(m)]
    assert len(links) == 2
    first = link_in_mail(OWNER, "/app/reset/")
    clock.advance(minutes=59)
    assert Browser(api).get(first).status == 200
    clock.advance(minutes=1)
    assert Browser(api).get(first).status == 404


def test_reset_requests_are_limited(api: Any, clock: Clock) -> None:
    create_account_with_owner(api)
    accept_invitation(api, OWNER)
    statuses = []
    for _ in range(4):
        browser = Browser(api)
        browser.get("/app/forgot-password")
        statuses.append(browser.post("/app/forgot-password", {"email": OWNER}).status)
    assert statuses == [200, 200, 200, 429]


# --- sessions -------------------------------------------------------------------------------


def test_sign_out_ends_the_session_and_the_old_cookie_no_longer_works(
    owner: tuple[Browser, dict[str, Any]], api: Any
) -> None:
    browser, _ = owner
    old = dict(browser.cookies)
    home = browser.get("/app")
    assert '<button type="submit" class="button button--link">Sign out</button>' in home.text
    answer = browser.post("/app/sign-out")
    assert answer.status == 303 and answer.location == "/app/sign-in?done=signed_out"
    assert "Max-Age=0" in (answer.cookie("permesso_session") or "")
    replay = Browser(api, cookies=old)
    assert replay.get("/app").status == 303
    assert list(SessionModel.scan()) == []


def test_sign_out_everywhere_ends_every_session_of_the_user(
    api: Any, owner: tuple[Browser, dict[str, Any]]
) -> None:
    browser, created = owner
    phone = Browser(api)
    phone.sign_in(OWNER)
    http = Http(api, created["api_key"])
    http.post("/v1/users", {"email": "staff@salon.example"})
    staff = accept_invitation(api, "staff@salon.example")
    staff.sign_in("staff@salon.example")
    home = browser.get("/app")
    assert '<button type="submit" class="button button--secondary">Sign out everywhere</button>' in home.text
    assert browser.post("/app/sign-out-everywhere").status == 303
    assert browser.get("/app").status == 303 and phone.get("/app").status == 303
    assert staff.get("/app").status == 200  # another user's session is not theirs to end
    assert Browser(api).sign_in(OWNER).status == 303


def test_a_session_ends_after_12_idle_hours(api: Any, clock: Clock) -> None:
    browser, _ = signed_in_owner(api)
    clock.advance(hours=11, minutes=59)
    assert browser.get("/app").status == 200  # activity moves the idle window
    clock.advance(hours=11, minutes=59)
    assert browser.get("/app").status == 200
    clock.advance(hours=12)
    answer = browser.get("/app")
    assert answer.status == 303 and answer.location == "/app/sign-in"
    assert "Max-Age=0" in (answer.cookie("permesso_session") or "")  # the dead cookie is cleared


def test_a_session_ends_30_days_after_sign_in_however_active(api: Any, clock: Clock) -> None:
    browser, _ = signed_in_owner(api)
    for _ in range(29 * 2):
        clock.advance(hours=12, minutes=-1)
        assert browser.get("/app").status == 200
    clock.advance(days=1)
    assert browser.get("/app").status == 303


def test_last_seen_is_written_at_most_every_five_minutes(api: Any, clock: Clock) -> None:
    browser, _ = signed_in_owner(api)
    [item] = list(SessionModel.scan())
    first_seen = item.last_seen_at
    for _ in range(5):
        clock.advance(seconds=30)
        browser.get("/app")
    assert SessionModel.get(item.session_hash).last_seen_at == first_seen
    clock.advance(minutes=3)
    browser.get("/app")
    assert SessionModel.get(item.session_hash).last_seen_at > first_seen


def test_pages_need_a_session(api: Any) -> None:
    for path in ("/app", "/app/settings", "/app/settings/users", "/app/settings/api-keys"):
        answer = Browser(api).get(path)
        assert answer.status == 303 and answer.location == "/app/sign-in", path


def test_a_signed_in_user_visiting_sign_in_goes_home(owner: tuple[Browser, dict[str, Any]]) -> None:
    browser, _ = owner
    answer = browser.get("/app/sign-in")
    assert answer.status == 303 and answer.location == "/app"


# --- roles ----------------------------------------------------------------------------------


def test_staff_cannot_reach_settings(api: Any, owner: tuple[Browser, dict[str, Any]]) -> None:
    browser, created = owner
    http = Http(api, created["api_key"])
    http.post("/v1/users", {"email": "staff@salon.example"})
    staff = accept_invitation(api, "staff@salon.example")
    staff.sign_in("staff@salon.example")
    home = staff.get("/app")
    assert ">Clients</a>" in home.text and ">Settings</a>" not in home.text
    assert ">Settings</a>" in browser.get("/app").text
    for path in ("/app/settings", "/app/settings/users", "/app/settings/api-keys"):
        assert staff.get(path).status == 403, path
    staff.get("/app")
    assert staff.post("/app/settings/users", {"email": "sneaky@salon.example", "role": "owner"}).status == 403
    assert staff.post("/app/settings/api-keys", {"name": "sneaky"}).status == 403
    assert len(http.get("/v1/users")[1]["items"]) == 2
    assert len(http.get("/v1/api-keys")[1]["items"]) == 1


# --- headers ----------------------------------------------------------------------------------


def console_routes() -> list[tuple[str, str]]:
    from app import app

    return sorted(
        (path, method)
        for path, entries in app.routes.items()
        if path == "/app" or path.startswith("/app/")
        for method in entries
    )


def test_every_console_answer_carries_the_security_headers(
    api: Any, owner: tuple[Browser, dict[str, Any]]
) -> None:
    browser, _ = owner
    tried = 0
    for path, method in console_routes():
        if path.startswith("/app/static/"):
            continue
        concrete = (
            path.replace("{token}", "A" * 43).replace("{user_id}", "usr_x").replace("{key_id}", "key_x")
        )
        for visitor in (browser, Browser(api)):
            visitor.get("/app/sign-in")
            answer = visitor.get(concrete) if method == "GET" else visitor.post(concrete, csrf=None)
            headers = answer.headers
            assert headers["Cache-Control"] == "no-store", (method, path)
            csp = headers["Content-Security-Policy"]
            assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp, (method, path)
            assert "unsafe-inline" not in csp
            assert headers["Referrer-Policy"] == "same-origin"
            assert headers["X-Content-Type-Options"] == "nosniff"
            tried += 1
    assert tried >= 30


def test_pages_hold_no_inline_script_or_style(api: Any, owner: tuple[Browser, dict[str, Any]]) -> None:
    browser, _ = owner
    for path in ("/app", "/app/settings", "/app/settings/users", "/app/settings/api-keys"):
        html = browser.get(path).text
        # the one script is the console's own file (content-hashed), never inline code
        [script] = re.findall(r"<script[^>]*>.*?</script>", html, re.S)
        assert re.fullmatch(r'<script src="/app/static/console\.[0-9a-f]{12}\.js" defer></script>', script)
        html = html.replace(script, "")
        assert "<script" not in html and "<style" not in html and " style=" not in html, path
        assert html.count("<h1>") == 1 and "<title>" in html


def test_static_files_have_hashed_names_and_long_caching(api: Any) -> None:
    html = Browser(api).get("/app/sign-in").text
    href = re.search(r'href="(/app/static/console\.[0-9a-f]{12}\.css)"', html).group(1)  # type: ignore[union-attr]
    response = api.http.get(href)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("text/css")
    assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
    assert b"error-summary" in response.body
    assert api.http.get("/app/static/console.000000000000.css").status_code == 404
    assert api.http.get("/app/static/console.css").status_code == 404


# --- settings pages -----------------------------------------------------------------------------


def test_owners_manage_users_from_settings(api: Any, owner: tuple[Browser, dict[str, Any]]) -> None:
    browser, created = owner
    http = Http(api, created["api_key"])
    page = browser.get("/app/settings/users")
    assert page.status == 200
    answer = browser.post("/app/settings/users", {"email": "staff@salon.example", "role": "staff"})
    assert answer.status == 303 and answer.location == "/app/settings/users?done=invited"
    assert "The invitation has been sent" in browser.get(answer.location).text
    staff = next(u for u in http.get("/v1/users")[1]["items"] if u["email"] == "staff@salon.example")
    assert staff["invited_by"].startswith("usr_")  # the owner who invited, not a key
    assert link_in_mail("staff@salon.example", "/app/invitation/")
    duplicate = browser.post("/app/settings/users", {"email": "staff@salon.example"})
    assert duplicate.status == 409 and "already has a Permesso user" in duplicate.text
    browser.get("/app/settings/users")
    assert browser.post(f"/app/settings/users/{staff['user_id']}/role", {"role": "owner"}).status == 303
    assert http.get(f"/v1/users/{staff['user_id']}")[1]["role"] == "owner"
    browser.get("/app/settings/users")
    assert browser.post(f"/app/settings/users/{staff['user_id']}/remove").status == 303
    assert http.get(f"/v1/users/{staff['user_id']}")[0] == 404
    [me] = http.get("/v1/users")[1]["items"]
    browser.get("/app/settings/users")
    last = browser.post(f"/app/settings/users/{me['user_id']}/role", {"role": "staff"})
    assert last.status == 409 and "at least one owner" in last.text


def test_owners_create_and_revoke_keys_from_settings(api: Any, owner: tuple[Browser, dict[str, Any]]) -> None:
    browser, created = owner
    browser.get("/app/settings/api-keys")
    answer = browser.post("/app/settings/api-keys", {"name": "Booking system"})
    assert answer.status == 201
    secret = re.search(r'<code class="secret">(pm_[A-Za-z0-9_-]{43})</code>', answer.text).group(1)  # type: ignore[union-attr]
    key = Http(api, secret)
    assert key.get("/v1/account")[0] == 200
    listed = browser.get("/app/settings/api-keys")
    assert "Booking system" in listed.text and secret not in listed.text  # shown once
    [record] = [
        k
        for k in Http(api, created["api_key"]).get("/v1/api-keys")[1]["items"]
        if k["name"] == "Booking system"
    ]
    assert browser.post(f"/app/settings/api-keys/{record['key_id']}/revoke").status == 303
    assert key.get("/v1/account")[0] == 401
    browser.get("/app/settings/api-keys")
    assert browser.post("/app/settings/api-keys", {"name": ""}).status == 400


def test_another_accounts_users_and_keys_are_not_found_in_the_console(
    api: Any, owner: tuple[Browser, dict[str, Any]]
) -> None:
    browser, _ = owner
    other = create_account_with_owner(api, "boss@other.example", name="Other", sender="hi@other.example")
    other_http = Http(api, other["api_key"])
    [their_user] = other_http.get("/v1/users")[1]["items"]
    [their_key] = other_http.get("/v1/api-keys")[1]["items"]
    for path, fields in (
        (f"/app/settings/users/{their_user['user_id']}/role", {"role": "staff"}),
        (f"/app/settings/users/{their_user['user_id']}/remove", {}),
        (f"/app/settings/users/{their_user['user_id']}/invitation", {}),
        (f"/app/settings/api-keys/{their_key['key_id']}/revoke", {}),
    ):
        browser.get("/app/settings")
        answer = browser.post(path, fields)
        assert answer.status == 404, path
        assert "boss@other.example" not in answer.text
    assert other_http.get("/v1/account")[0] == 200
    assert other_http.get(f"/v1/users/{their_user['user_id']}")[1]["role"] == "owner"
    assert "boss@other.example" not in browser.get("/app/settings/users").text


def test_once_accepted_no_other_invitation_link_works(api: Any) -> None:
    """An invitation sent twice: the first link used makes the second one dead too, so an
    old invitation can never reset an active user's password."""
    created = create_account_with_owner(api)
    http = Http(api, created["api_key"])
    [owner] = http.get("/v1/users")[1]["items"]
    first = link_in_mail(OWNER, "/app/invitation/")
    assert http.post(f"/v1/users/{owner['user_id']}/invitation")[0] == 202
    second = link_in_mail(OWNER, "/app/invitation/")
    assert first != second
    browser = Browser(api)
    browser.get(second)
    assert browser.post(second, {"password": PASSWORD, "confirmation": PASSWORD}).status == 303
    assert Browser(api).get(first).status == 404
