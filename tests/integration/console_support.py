"""Drive the console like a browser through the Chalice test client: cookies kept per path,
the CSRF token taken from the last page's form, ``Origin`` sent on every POST.

``Browser(api)`` is the helper every console test uses; ``signed_in_owner(api)`` creates an
account whose owner has accepted the invitation and signed in."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from email import message_from_bytes
from email.message import Message
from typing import Any
from urllib.parse import urlencode

ORIGIN = "https://permesso.test"  # PERMESSO_PUBLIC_BASE_URL of the test stage
FORM = "application/x-www-form-urlencoded"
PASSWORD = "correct horse battery staple"
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@dataclass
class Answer:
    status: int
    headers: dict[str, Any]
    text: str

    @property
    def cookies_set(self) -> list[str]:
        value = self.headers.get("Set-Cookie") or self.headers.get("set-cookie") or []
        return [value] if isinstance(value, str) else list(value)

    def cookie(self, name: str) -> str | None:
        """The full ``Set-Cookie`` line for ``name``, if this answer sets it."""
        for line in self.cookies_set:
            if line.split("=", 1)[0] == name:
                return line
        return None

    @property
    def location(self) -> str | None:
        return self.headers.get("Location")

    @property
    def csrf(self) -> str | None:
        found = CSRF.search(self.text)
        return found.group(1) if found else None


@dataclass
class Browser:
    client: Any
    cookies: dict[str, str] = field(default_factory=dict)
    last: Answer | None = None

    def _send(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Answer:
        sent = dict(headers or {})
        if self.cookies:
            sent["Cookie"] = "; ".join(f"{name}={value}" for name, value in self.cookies.items())
        response = getattr(self.client.http, method.lower())(path, headers=sent, body=body)
        answer = Answer(
            response.status_code, dict(response.headers), response.body.decode() if response.body else ""
        )
        for line in answer.cookies_set:
            pair = line.split(";", 1)[0]
            name, _, value = pair.partition("=")
            if "Max-Age=0" in line or not value:
                self.cookies.pop(name, None)
            else:
                self.cookies[name] = value
        self.last = answer
        return answer

    def get(self, path: str, headers: dict[str, str] | None = None) -> Answer:
        return self._send("GET", path, headers=headers)

    def post(
        self,
        path: str,
        fields: dict[str, str] | list[tuple[str, str]] | None = None,
        *,
        csrf: str | bool | None = True,
        origin: str | None = ORIGIN,
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """POST a form; ``csrf=True`` takes the token from the last page, a string sends that,
        ``None``/``False`` sends none. ``origin=None`` sends no Origin header. ``fields`` as
        pairs repeats a name (several ticked checkboxes)."""
        data = list(fields.items()) if isinstance(fields, dict) else list(fields or [])
        if csrf is True:
            token = self.last.csrf if self.last else None
            assert token, "no CSRF token on the last page"
            data.append(("csrf_token", token))
        elif isinstance(csrf, str):
            data.append(("csrf_token", csrf))
        sent = {"Content-Type": FORM, **(headers or {})}
        if origin is not None:
            sent["Origin"] = origin
        return self._send("POST", path, urlencode(data).encode(), sent)

    def upload(self, path: str, fields: list[tuple[str, str]], files: dict[str, tuple[str, bytes]]) -> Answer:
        """POST a ``multipart/form-data`` form (a file input), with the last page's CSRF token."""
        boundary = "----permesso-test-boundary"
        token = self.last.csrf if self.last else None
        assert token, "no CSRF token on the last page"
        chunks: list[bytes] = []
        for name, value in [*fields, ("csrf_token", token)]:
            chunks.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode()
            )
        for name, (filename, content) in files.items():
            head = (
                f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\n'
                "Content-Type: text/csv\r\n\r\n"
            )
            chunks.append(head.encode() + content + b"\r\n")
        chunks.append(f"--{boundary}--\r\n".encode())
        headers = {"Content-Type": f"multipart/form-data; boundary={boundary}", "Origin": ORIGIN}
        return self._send("POST", path, b"".join(chunks), headers)

    def sign_in(self, email: str, password: str = PASSWORD) -> Answer:
        self.get("/app/sign-in")
        return self.post("/app/sign-in", {"email": email, "password": password})


# --- mail -------------------------------------------------------------------------------


def sent_mails() -> list[Message]:
    from tests.integration.conftest import sent_messages

    return [
        message_from_bytes(m.raw_data.encode() if isinstance(m.raw_data, str) else m.raw_data)
        for m in sent_messages()
    ]


def _text(mail: Message) -> str:
    for part in mail.walk():
        if part.get_content_type() == "text/plain":
            payload = part.get_payload(decode=True)
            return payload.decode("utf-8") if isinstance(payload, bytes) else str(payload)
    return ""


def link_in_mail(to: str, path: str) -> str:
    """The newest link under ``path`` (``/app/invitation/``, ``/app/reset/``) e-mailed to ``to``."""
    for mail in reversed(sent_mails()):
        if to in str(mail["To"]):
            found = re.search(re.escape(ORIGIN + path) + r"([A-Za-z0-9_-]+)", _text(mail))
            if found:
                return path + found.group(1)
    raise AssertionError(f"no {path} link was mailed to {to}")


def accept_invitation(api: Any, email: str, password: str = PASSWORD) -> Browser:
    browser = Browser(api)
    link = link_in_mail(email, "/app/invitation/")
    assert browser.get(link).status == 200
    answer = browser.post(link, {"password": password, "confirmation": password})
    assert answer.status == 303, answer.text
    return browser


def create_account_with_owner(
    api: Any,
    owner_email: str = "owner@salon.example",
    name: str = "Salon Bella",
    sender: str = "hello@salon.example",
) -> dict[str, Any]:
    from tests.integration.conftest import OPERATOR, Http, verify_sender

    verify_sender(sender)
    status, body = Http(api, None).post(
        "/v1/accounts", {"name": name, "sender_email": sender, "owner_email": owner_email}, headers=OPERATOR
    )
    assert status == 201, body
    return body


def signed_in_owner(
    api: Any, owner_email: str = "owner@salon.example", **account: str
) -> tuple[Browser, dict[str, Any]]:
    """A new account whose owner accepted the invitation and is signed in."""
    created = create_account_with_owner(api, owner_email, **account)
    browser = accept_invitation(api, owner_email)
    answer = browser.sign_in(owner_email)
    assert answer.status == 303 and answer.location == "/app", answer.text
    return browser, created


def signed_in_staff(
    api: Any, owner_api_key: str, email: str = "staff@salon.example", password: str = PASSWORD
) -> Browser:
    """A staff user of the account of ``owner_api_key``, invited through the API, signed in."""
    from tests.integration.conftest import Http

    status, body = Http(api, owner_api_key).post("/v1/users", {"email": email, "role": "staff"})
    assert status == 201, body
    browser = accept_invitation(api, email, password)
    assert browser.sign_in(email, password).status == 303
    return browser
