"""CSV import through the HTTP API: per-row report, updates, and never more sendable."""

from __future__ import annotations

import codecs
from typing import Any

import pytest

from chalicelib.bootstrap import get_deps
from chalicelib.domain.contact import email_hash
from chalicelib.storage.models import ClientEmailModel, ClientModel, SuppressionModel, TagMemberModel
from tests.integration.conftest import Http

CSV = {"Content-Type": "text/csv"}


def upload(
    http: Http, text: str | bytes, query: str = "", headers: dict[str, str] | None = None
) -> tuple[int, Any]:
    raw = text.encode() if isinstance(text, str) else text
    return http.post(f"/v1/clients/import{query}", raw=raw, headers=headers or CSV)


def client_by_email(http: Http, email: str) -> dict[str, Any] | None:
    status, body = http.post("/v1/clients/search", {"filter": {"field": "email", "op": "eq", "value": email}})
    assert status == 200
    return body["items"][0] if body["items"] else None


def suppress(account_id: str, email: str, reason: str = "unsubscribed") -> None:
    SuppressionModel(
        account_id,
        email_hash(get_deps().email_hash_key, email),
        reason=reason,
        created_at="2026-01-01T00:00:00Z",
    ).save()


def test_import_creates_clients_and_reports_per_row(http: Http, account: dict) -> None:
    text = (
        "E-mail;First Name;Surname;Tags;Language;Last Visit;Loyalty Points;Note\n"
        "anna@example.com;Anna;Nováková;vip|hair;cs;2026-03-01;12;likes tea\n"
        "not-an-email;Bob;;;;;;\n"
        "eva@example.com;Eva;;;english;;;\n"
        "ANNA@example.com;Anna again;;;;;;\n"
        "ivo@example.com;Ivo;;;;yesterday;;\n"
        "\n"
        "jan@example.com;;;;;;007;\n"
    )
    status, body = upload(http, codecs.BOM_UTF8 + text.encode(), "?custom_fields=true")
    assert status == 200, body
    assert body["rows"] == 6 and body["created"] == 2 and body["updated"] == 0 and body["skipped"] == 0
    assert [(e["row"], e["code"]) for e in body["errors"]] == [
        (2, "invalid_row"),
        (3, "invalid_row"),
        (4, "duplicate_in_file"),
        (5, "invalid_row"),
    ]
    assert "email" in body["errors"][0]["message"] and "language" in body["errors"][1]["message"]
    assert "row 1" in body["errors"][2]["message"] and "last_visit_at" in body["errors"][3]["message"]
    anna = client_by_email(http, "anna@example.com")
    assert anna is not None
    assert (
        anna["first_name"] == "Anna" and anna["last_name"] == "Nováková" and anna["tags"] == ["vip", "hair"]
    )
    assert anna["language"] == "cs" and anna["last_visit_at"] == "2026-03-01T00:00:00Z"
    assert anna["fields"] == {"loyalty_points": 12, "note": "likes tea"}
    assert anna["consent"]["state"] == "unknown"
    assert {m.client_id for m in TagMemberModel.query(f"{account['account_id']}#vip")} == {anna["client_id"]}
    jan = client_by_email(http, "jan@example.com")
    assert jan is not None and jan["fields"] == {"loyalty_points": "007"}


def test_comma_delimited_with_quotes(http: Http) -> None:
    text = 'email,first_name,tags,status\r\n"a@example.com","Smith, Ann","vip,spa",regular\r\n'
    status, body = upload(http, text)
    assert status == 200 and body["created"] == 1, body
    client = client_by_email(http, "a@example.com")
    assert client is not None and client["first_name"] == "Smith, Ann" and client["tags"] == ["vip", "spa"]


def test_existing_clients_are_skipped_or_updated(http: Http, account: dict) -> None:
    status, anna = http.post(
        "/v1/clients",
        {"email": "anna@example.com", "first_name": "Anna", "tags": ["vip"], "fields": {"visits": 3}},
    )
    assert status == 201
    text = "email,first_name,last_name,tags,visits,phone\nAnna@Example.com,Anna,Novak,hair,4,\n"
    status, body = upload(http, text)
    assert status == 200 and body["created"] == 0 and body["skipped"] == 1
    assert body["skipped_rows"] == [
        {"row": 1, "code": "exists", "message": body["skipped_rows"][0]["message"]}
    ]
    status, body = upload(http, text, "?update_existing=true&custom_fields=true")
    assert status == 200 and body["updated"] == 1 and body["skipped"] == 0, body
    updated = client_by_email(http, "anna@example.com")
    assert updated is not None
    assert updated["client_id"] == anna["client_id"] and updated["email"] == anna["email"]
    assert updated["last_name"] == "Novak" and updated["tags"] == ["vip", "hair"]  # tags are added
    assert updated["fields"] == {"visits": 4}
    assert updated["phone"] is None  # an empty cell changes nothing
    status, body = upload(http, text, "?update_existing=true&custom_fields=true")
    assert body["updated"] == 0 and body["skipped_rows"][0]["code"] == "unchanged"
    assert upload(http, text, "?update_existing=maybe")[0] == 400


def test_import_never_makes_a_client_sendable_again(http: Http, account: dict) -> None:
    aid = account["account_id"]
    _, denied = http.post("/v1/clients", {"email": "denied@example.com"})
    item = ClientModel.get(aid, denied["client_id"])
    item.update(actions=[ClientModel.consent_state.set("denied")])
    _, unsub = http.post("/v1/clients", {"email": "unsub@example.com"})
    suppress(aid, "unsub@example.com")
    ClientModel.get(aid, unsub["client_id"]).update(actions=[ClientModel.suppressed.set(True)])
    suppress(aid, "erased@example.com", "erased")  # erased: only the keyed hash remains
    suppress(aid, "bounced@example.com", "hard_bounce")
    text = (
        "email,first_name,consent,consent_date,consent_source\n"
        "denied@example.com,Dee,granted,2019-01-01,paper form\n"
        "unsub@example.com,Una,,,\n"
        "erased@example.com,Eras,,,\n"
        "BOUNCED@example.com,Bo,,,\n"
    )
    status, body = upload(http, text, "?update_existing=true&accept_consent=true")
    assert status == 200, body
    assert body["created"] == 0 and body["updated"] == 1
    assert [(s["row"], s["code"]) for s in body["skipped_rows"]] == [
        (2, "suppressed"),
        (3, "suppressed"),
        (4, "suppressed"),
    ]
    assert [(n["row"], n["code"]) for n in body["notices"]] == [(1, "consent_not_changed")]
    after = client_by_email(http, "denied@example.com")
    assert after is not None and after["first_name"] == "Dee" and after["consent"]["state"] == "denied"
    assert client_by_email(http, "unsub@example.com")["suppressed"] is True  # type: ignore[index]
    assert client_by_email(http, "erased@example.com") is None
    assert ClientEmailModel.count(aid) == 2


def test_consent_columns_need_proof_and_never_grant(http: Http) -> None:
    text = (
        "email,consent,consent_date,consent_source\n"
        "a@example.com,granted,2019-05-01T10:00:00Z,paper form signed in the salon\n"
        "b@example.com,granted,,\n"
        "c@example.com,,2019-05-01,web\n"
        "d@example.com,perhaps,2019-05-01,web\n"
        "e@example.com,,,\n"
    )
    status, body = upload(http, text)
    assert status == 200 and body["created"] == 2, body
    assert [(e["row"], e["code"]) for e in body["errors"]] == [
        (2, "consent_without_proof"),
        (3, "consent_without_proof"),
        (4, "invalid_consent"),
    ]
    assert [(n["row"], n["code"]) for n in body["notices"]] == [(1, "consent_not_accepted")]
    assert client_by_email(http, "a@example.com")["consent"]["state"] == "unknown"  # type: ignore[index]
    _, body = upload(http, text.replace("a@example.com", "f@example.com"), "?accept_consent=true")
    assert [(n["row"], n["code"]) for n in body["notices"]] == [(1, "consent_recorded")]
    granted = client_by_email(http, "f@example.com")
    assert granted is not None and granted["consent"]["state"] == "granted"
    assert granted["consent"]["source"] == "import"
    _, ledger = http.get(f"/v1/clients/{granted['client_id']}/consent")
    [event] = ledger["events"]
    assert (event["type"], event["source"]) == ("granted", "import")
    assert "2019-05-01T10:00:00Z" in event["note"] and "paper form signed in the salon" in event["note"]


def test_imported_denial_is_recorded_for_existing_clients(http: Http) -> None:
    _, anna = http.post("/v1/clients", {"email": "anna@example.com"})
    http.put(f"/v1/clients/{anna['client_id']}/consent", {"granted": True})
    text = "email,consent,consent_date,consent_source\nanna@example.com,no,2020-02-02,phone call\n"
    status, body = upload(http, text, "?update_existing=true&accept_consent=true")
    assert status == 200 and [(n["row"], n["code"]) for n in body["notices"]] == [(1, "consent_recorded")]
    after = http.get(f"/v1/clients/{anna['client_id']}")[1]
    assert after["consent"]["state"] == "denied"


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        (b"email\nanna@example.com\n\xff", "invalid_encoding"),
        (b"", "empty_file"),
        (b"name\nAnna\n", "missing_email_column"),
        (b'email\n"unterminated\n', "malformed_csv"),
    ],
)
def test_unreadable_files_are_400(http: Http, raw: bytes, code: str) -> None:
    status, body = upload(http, raw)
    assert status == 400 and body["error"]["code"] == code and body["error"]["details"], body


def test_limits_are_413(http: Http, tune: Any) -> None:
    tune(max_csv_body_bytes=100, max_import_rows=2)
    status, body = upload(http, "email\n" + "a" * 200 + "@example.com\n")
    assert status == 413 and body["error"]["code"] == "payload_too_large"
    assert "100 bytes" in body["error"]["message"] and body["error"]["details"]["limit_bytes"] == 100
    status, body = upload(http, "email\na@x.example\nb@x.example\nc@x.example\n")
    assert status == 413 and "2 data rows" in body["error"]["message"]


def test_content_type_must_be_csv(http: Http) -> None:
    status, body = upload(http, '{"email": "a@example.com"}', headers={"Content-Type": "application/json"})
    assert status == 415 and body["error"]["code"] == "unsupported_media_type"
    status, body = upload(http, "email\na@example.com\n", headers={"Content-Type": "text/plain"})
    assert status == 200 and body["created"] == 1
    assert Http(http.client, None).post("/v1/clients/import", raw=b"email\n", headers=CSV)[0] == 401


def test_italian_and_czech_headers_fill_the_built_in_fields_and_say_where(http: Http) -> None:
    """Issue: "Nome", "Cognome", "Telefono", "Ultima visita" became custom fields, so e-mails
    said "Ciao," with no name and the automatic status ignored visit dates."""
    text = (
        "E-mail;Nome;Cognome;Telefono;Ultima visita;Tag;Note\n"
        "giulia@example.com;Giulia;Rossi;+39 333 1234567;2020-01-15;VIP|colore;cliente storica\n"
    )
    status, body = upload(http, text)
    assert status == 200 and body["created"] == 1, body
    assert body["columns"] == [
        {"header": "E-mail", "field": "email", "kind": "field"},
        {"header": "Nome", "field": "first_name", "kind": "field"},
        {"header": "Cognome", "field": "last_name", "kind": "field"},
        {"header": "Telefono", "field": "phone", "kind": "field"},
        {"header": "Ultima visita", "field": "last_visit_at", "kind": "field"},
        {"header": "Tag", "field": "tags", "kind": "field"},
        {"header": "Note", "field": None, "kind": "unknown"},
    ]
    assert body["unknown_columns"] == ["Note"]
    giulia = client_by_email(http, "giulia@example.com")
    assert giulia is not None
    assert (giulia["first_name"], giulia["last_name"], giulia["phone"]) == (
        "Giulia",
        "Rossi",
        "+39 333 1234567",
    )
    assert giulia["last_visit_at"] == "2020-01-15T00:00:00Z" and giulia["auto_status"] == "lost"
    assert giulia["tags"] == ["VIP", "colore"] and giulia["fields"] == {}
    czech = "Jméno,Příjmení,E-mail,Telefon,Poslední návštěva,Štítky\nJana,Nová,jana@example.com,777 123 456,2026-11-01,vip\n"
    status, body = upload(http, czech)
    assert status == 200 and body["created"] == 1 and body["unknown_columns"] == []
    jana = client_by_email(http, "jana@example.com")
    assert jana is not None and jana["first_name"] == "Jana" and jana["last_name"] == "Nová"
    assert jana["tags"] == ["VIP"]  # the account's spelling of the tag
    status, body = upload(http, "email,Note\nx@example.com,hello\n", "?custom_fields=true")
    assert body["columns"][1] == {"header": "Note", "field": "fields.note", "kind": "custom"}
    assert client_by_email(http, "x@example.com")["fields"] == {"note": "hello"}  # type: ignore[index]
