"""Console users through the API: the operator's ``owner_email``, invitations by e-mail,
roles, removal (never the last owner), one address per user across accounts."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib.storage.models import UserModel
from tests.integration.conftest import OPERATOR, Http, verify_sender
from tests.integration.console_support import (
    Browser,
    accept_invitation,
    create_account_with_owner,
    link_in_mail,
    sent_mails,
    signed_in_owner,
)


@pytest.fixture
def owned(api: Any) -> dict[str, Any]:
    return create_account_with_owner(api)


def test_owner_email_invites_the_first_owner(api: Any, owned: dict[str, Any]) -> None:
    http = Http(api, owned["api_key"])
    [owner] = http.get("/v1/users")[1]["items"]
    assert owner["email"] == "owner@salon.example" and owner["role"] == "owner"
    assert owner["status"] == "invited" and owner["invited_by"] is None
    [mail] = [m for m in sent_mails() if "owner@salon.example" in str(m["To"])]
    assert "Salon Bella" in str(mail["Subject"]) and str(mail["From"]).endswith("<hello@salon.example>")
    link = link_in_mail("owner@salon.example", "/app/invitation/")
    html = (
        next(p for p in mail.walk() if p.get_content_type() == "text/html").get_payload(decode=True).decode()
    )
    assert 'data-cta="invitation_mail"' in html and link in html
    accept_invitation(api, "owner@salon.example")
    [owner] = http.get("/v1/users")[1]["items"]
    assert owner["status"] == "active"
    assert "password" not in str(http.get(f"/v1/users/{owner['user_id']}")[1])


def test_an_account_without_owner_email_has_no_users(http: Http) -> None:
    assert http.get("/v1/users")[1] == {"items": [], "next_cursor": None}


def test_an_address_belongs_to_one_user_across_accounts(api: Any, owned: dict[str, Any]) -> None:
    verify_sender("hi@other.example")
    status, body = Http(api, None).post(
        "/v1/accounts",
        {"name": "Other", "sender_email": "hi@other.example", "owner_email": "OWNER@salon.example"},
        headers=OPERATOR,
    )
    assert status == 409 and body["error"]["code"] == "user_exists", body
    # Nothing of the refused account was created (one transaction).
    http = Http(api, owned["api_key"])
    assert http.post("/v1/users", {"email": "owner@salon.example"})[1]["error"]["code"] == "user_exists"


def test_invite_change_role_and_remove(api: Any, owned: dict[str, Any]) -> None:
    http = Http(api, owned["api_key"])
    [key] = http.get("/v1/api-keys")[1]["items"]
    status, staff = http.post("/v1/users", {"email": "Front.Desk@Salon.example", "language": "cs"})
    assert status == 201, staff
    assert (
        staff["role"] == "staff"
        and staff["status"] == "invited"
        and staff["email"] == "Front.Desk@salon.example"
    )
    assert staff["invited_by"] == key["key_id"] and staff["language"] == "cs"
    mail = [m for m in sent_mails() if "Front.Desk@salon.example" in str(m["To"])][-1]
    assert mail["Content-Language"] == "cs"

    status, promoted = http.patch(f"/v1/users/{staff['user_id']}", {"role": "owner"})
    assert status == 200 and promoted["role"] == "owner"
    status, back = http.patch(f"/v1/users/{staff['user_id']}", {"role": "staff"})
    assert status == 200 and back["role"] == "staff"
    assert http.post(f"/v1/users/{staff['user_id']}/invitation")[0] == 202
    assert http.delete(f"/v1/users/{staff['user_id']}") == (204, None)
    assert http.get(f"/v1/users/{staff['user_id']}")[0] == 404
    # The address is free again.
    assert http.post("/v1/users", {"email": "front.desk@salon.example"})[0] == 201


def test_the_last_owner_can_be_neither_demoted_nor_removed(api: Any, owned: dict[str, Any]) -> None:
    http = Http(api, owned["api_key"])
    [owner] = http.get("/v1/users")[1]["items"]
    status, body = http.patch(f"/v1/users/{owner['user_id']}", {"role": "staff"})
    assert status == 409 and body["error"]["code"] == "last_owner"
    status, body = http.delete(f"/v1/users/{owner['user_id']}")
    assert status == 409 and body["error"]["code"] == "last_owner"
    _, second = http.post("/v1/users", {"email": "second@salon.example", "role": "owner"})
    assert http.delete(f"/v1/users/{owner['user_id']}") == (204, None)
    status, body = http.delete(f"/v1/users/{second['user_id']}")
    assert status == 409 and body["error"]["code"] == "last_owner"


def test_two_owners_demoting_each_other_at_once_leave_one_owner(api: Any, owned: dict[str, Any]) -> None:
    """The owner count is changed in the users' transactions: the second demotion fails."""
    import threading

    http = Http(api, owned["api_key"])
    [first] = http.get("/v1/users")[1]["items"]
    _, second = http.post("/v1/users", {"email": "second@salon.example", "role": "owner"})
    results: list[int] = []

    def demote(user_id: str) -> None:
        results.append(http.patch(f"/v1/users/{user_id}", {"role": "staff"})[0])

    threads = [threading.Thread(target=demote, args=(u["user_id"],)) for u in (first, second)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [200, 409]
    roles = [u["role"] for u in http.get("/v1/users")[1]["items"]]
    assert roles.count("owner") == 1


def test_resending_is_for_invited_users_only(api: Any, owned: dict[str, Any]) -> None:
    http = Http(api, owned["api_key"])
    [owner] = http.get("/v1/users")[1]["items"]
    accept_invitation(api, "owner@salon.example")
    status, body = http.post(f"/v1/users/{owner['user_id']}/invitation")
    assert status == 409 and body["error"]["code"] == "already_active"


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"email": "not an address"},
        {"email": "a@b.example", "role": "admin"},
        {"email": "a@b.example", "x": 1},
    ],
)
def test_bad_invitations_are_400(http: Http, body: dict[str, Any]) -> None:
    status, answer = http.post("/v1/users", body)
    assert status == 400 and answer["error"]["details"], answer


def test_users_of_another_account_are_not_found(api: Any, owned: dict[str, Any]) -> None:
    verify_sender("hi@other.example")
    other = create_account_with_owner(api, "boss@other.example", name="Other", sender="hi@other.example")
    [theirs] = Http(api, other["api_key"]).get("/v1/users")[1]["items"]
    http = Http(api, owned["api_key"])
    for method, path, body in (
        ("GET", f"/v1/users/{theirs['user_id']}", None),
        ("PATCH", f"/v1/users/{theirs['user_id']}", {"role": "staff"}),
        ("DELETE", f"/v1/users/{theirs['user_id']}", None),
        ("POST", f"/v1/users/{theirs['user_id']}/invitation", None),
    ):
        assert http.call(method, path, body)[0] == 404, (method, path)
    assert "boss@other.example" not in str(http.get("/v1/users")[1])
    assert UserModel.get(other["account_id"], theirs["user_id"]).role == "owner"


def test_removing_a_user_ends_their_sessions_at_once(api: Any) -> None:
    browser, created = signed_in_owner(api)
    http = Http(api, created["api_key"])
    _, staff = http.post("/v1/users", {"email": "staff@salon.example"})
    staff_browser = accept_invitation(api, "staff@salon.example")
    assert staff_browser.sign_in("staff@salon.example").status == 303
    assert staff_browser.get("/app").status == 200
    assert http.delete(f"/v1/users/{staff['user_id']}") == (204, None)
    answer = staff_browser.get("/app")
    assert answer.status == 303 and answer.location == "/app/sign-in"
    assert browser.get("/app").status == 200  # the owner's session is untouched
    assert isinstance(staff_browser, Browser)
