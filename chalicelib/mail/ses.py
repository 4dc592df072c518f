"""The SES adapter: the only module that talks to Amazon SES.

Sends raw MIME through SESv2 ``SendEmail`` (``Content.Raw``) with the
platform's configuration set, so bounce/complaint/send events reach the
SNS topic, and manages the businesses' sender domains (SESv2 email
identities with Easy DKIM and a custom MAIL FROM domain). The boto3 clients
are created on first use: importing boto3 costs cold-start time that
requests which send nothing should not pay.

Every SES refusal of a send is classified (``classify``), because what the
caller must do differs:

- ``MailThrottled`` — SES asked to slow down; it did not send: retry later.
- ``MailTransient`` — the call never reached SES or SES failed before
  accepting (connection refused/timed out while connecting, 5xx): not sent.
- ``MailOutcomeUnknown`` — the call may have reached SES and the answer was
  lost (read timeout, connection dropped mid-call): SES may have sent it. The
  client never retries ``SendEmail`` by itself (chalicelib/aws.py), and the
  caller must not either: the send worker leaves the delivery ``sending``
  for the crash-reconciliation path.
- ``MailAccountProblem`` — SES refuses *every* message of this sender or
  account (sender not verified, sending paused for the account or the
  configuration set, MAIL FROM domain not verified, configuration set
  missing): nothing about the recipient is wrong, so the campaign pauses.
- ``MailRejected`` — this one message/recipient was refused.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from chalicelib.config import Settings
from chalicelib.mail.mime import OutgoingMail, build_mime
from chalicelib.resources import SES_CONFIGURATION_SET

_THROTTLED = frozenset(
    {"TooManyRequestsException", "Throttling", "ThrottlingException", "LimitExceededException"}
)
_TRANSIENT = frozenset({"InternalFailure", "InternalServerError", "ServiceUnavailable", "RequestTimeout"})
# SES error codes (SESv2 and the v1 spellings SES also answers with) that refuse every message of
# the sender or the account, with the campaign's pause reason each one gives.
ACCOUNT_LEVEL: Mapping[str, str] = {
    "AccountSendingPausedException": "ses_account_paused",
    "AccountSuspendedException": "ses_account_paused",
    "SendingPausedException": "ses_sending_paused",
    "ConfigurationSetSendingPausedException": "ses_sending_paused",
    "MailFromDomainNotVerifiedException": "mail_from_not_verified",
    "MailFromDomainNotVerified": "mail_from_not_verified",
    "ConfigurationSetDoesNotExist": "configuration_set_missing",
    "ConfigurationSetDoesNotExistException": "configuration_set_missing",
    # SESv2 answers NotFoundException when the configuration set (or the identity) is missing.
    "NotFoundException": "configuration_set_missing",
}
# ``MessageRejected`` is about the sender when its message says so (SES: "Email address is not
# verified…", moto: "Did not have authority to send from…"); otherwise about this message.
_SENDER_REFUSED = ("not verified", "not authorized", "did not have authority")
SENDER_NOT_VERIFIED = "sender_not_verified"


class MailError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class MailRejected(MailError):
    """SES refused this message (bad address, content…): a failure of this recipient only."""


class MailThrottled(MailError):
    """SES asked to slow down: retry later; never a failure of the recipient."""


class MailTransient(MailError):
    """SES (or the connection to it) failed before accepting the message: safe to retry."""


class MailOutcomeUnknown(MailError):
    """The call may have reached SES and its answer was lost: SES may have sent the message.
    Never retried (it could mail the recipient twice)."""


class MailAccountProblem(MailError):
    """SES refuses every message of this sender or account; ``reason`` is the campaign's pause reason."""

    def __init__(self, code: str, message: str, reason: str) -> None:
        super().__init__(code, message)
        self.reason = reason


def classify(code: str, message: str, status: int) -> MailError:
    """The exception an SES error answer to ``SendEmail`` means (see the module docstring)."""
    lowered = message.lower()
    if code in _THROTTLED or status == 429 or "maximum sending rate exceeded" in lowered:
        return MailThrottled(code, message)
    if code in ACCOUNT_LEVEL:
        return MailAccountProblem(code, message, ACCOUNT_LEVEL[code])
    if code == "MessageRejected" and any(marker in lowered for marker in _SENDER_REFUSED):
        return MailAccountProblem(code, message, SENDER_NOT_VERIFIED)
    if code in _TRANSIENT or status >= 500:
        return MailTransient(code, message)
    return MailRejected(code, message)


@dataclass(frozen=True)
class IdentityState:
    """What SES says about a domain identity (``GetEmailIdentity`` / ``CreateEmailIdentity``)."""

    verification_status: str | None  # SUCCESS | PENDING | FAILED | TEMPORARY_FAILURE | NOT_STARTED
    verified_for_sending: bool
    dkim_status: str | None
    dkim_tokens: tuple[str, ...]
    mail_from_domain: str | None = None
    mail_from_status: str | None = None  # SUCCESS | PENDING | FAILED | TEMPORARY_FAILURE


def _identity_state(response: Mapping[str, Any]) -> IdentityState:
    dkim = response.get("DkimAttributes") or {}
    mail_from = response.get("MailFromAttributes") or {}
    return IdentityState(
        verification_status=response.get("VerificationStatus"),
        verified_for_sending=bool(response.get("VerifiedForSendingStatus")),
        dkim_status=dkim.get("Status"),
        dkim_tokens=tuple(str(t) for t in dkim.get("Tokens") or ()),
        mail_from_domain=mail_from.get("MailFromDomain"),
        mail_from_status=mail_from.get("MailFromDomainStatus"),
    )


class SesMailer:
    def __init__(self, settings: Settings, *, endpoint_url: str | None = None) -> None:
        self._settings = settings
        self._endpoint_url = endpoint_url or settings.aws_endpoint_url
        self._clients: dict[str, Any] = {}
        self._lock = threading.Lock()  # the send worker calls from several threads

    def _client_for(self, purpose: str) -> Any:
        with self._lock:
            if purpose not in self._clients:
                import boto3  # lazily: see the module docstring

                from chalicelib.aws import client_config

                self._clients[purpose] = boto3.client(
                    "sesv2",
                    region_name=self._settings.region,
                    endpoint_url=self._endpoint_url,
                    config=client_config(purpose),
                )
            return self._clients[purpose]

    @property
    def _client(self) -> Any:
        """The client of ``SendEmail``: one attempt, never retried (chalicelib/aws.py)."""
        return self._client_for("ses_send")

    @property
    def _manage(self) -> Any:
        """The client of the identity calls: retried (they are idempotent)."""
        return self._client_for("ses_manage")

    @property
    def configuration_set(self) -> str:
        return self._settings.resource_name(SES_CONFIGURATION_SET)

    def send(self, mail: OutgoingMail, *, now: datetime, tags: Mapping[str, str] | None = None) -> str:
        """Build and send ``mail``; the SES message id."""
        return self.send_raw(build_mime(mail, now), sender=mail.sender_email, to=[mail.to], tags=tags)

    def send_raw(
        self, raw: bytes, *, sender: str, to: list[str], tags: Mapping[str, str] | None = None
    ) -> str:
        from botocore.exceptions import ClientError, ConnectionError, HTTPClientError

        try:
            response = self._client.send_email(
                FromEmailAddress=sender,
                Destination={"ToAddresses": to},
                Content={"Raw": {"Data": raw}},
                ConfigurationSetName=self.configuration_set,
                EmailTags=[{"Name": name, "Value": value} for name, value in (tags or {}).items()],
            )
        except ConnectionError as exc:
            # Connecting failed (refused, DNS, connect timeout): the request never reached SES.
            raise MailTransient("ConnectionError", str(exc)) from exc
        except HTTPClientError as exc:
            # The request was (or may have been) sent and no answer came back: read timeout,
            # connection dropped mid-call. SES may have accepted it.
            raise MailOutcomeUnknown(type(exc).__name__, str(exc)) from exc
        except ClientError as exc:
            error = exc.response.get("Error", {})
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            raise classify(str(error.get("Code", "")), str(error.get("Message", "")), status) from exc
        return str(response["MessageId"])

    # --- sender identities ----------------------------------------------------------------------

    def create_domain_identity(self, domain: str) -> IdentityState:
        """Create ``domain`` as an identity with Easy DKIM (SES generates the keys; the DNS
        records are CNAMEs to them) and the platform's configuration set as its default;
        an identity that already exists is read instead."""
        from botocore.exceptions import ClientError

        try:
            self._manage.create_email_identity(
                EmailIdentity=domain,
                DkimSigningAttributes={"NextSigningKeyLength": "RSA_2048_BIT"},
                ConfigurationSetName=self.configuration_set,
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "AlreadyExistsException":
                raise
        state = self.get_identity(domain)
        assert state is not None, "SES lost an identity it just created"
        return state

    def set_mail_from(self, domain: str, mail_from_domain: str) -> None:
        """A custom MAIL FROM domain (``bounce.<domain>``): the envelope sender is then the
        business's own domain, so SPF passes *aligned* with the From domain (DMARC). If its
        MX record is missing SES falls back to its own MAIL FROM rather than refusing."""
        self._manage.put_email_identity_mail_from_attributes(
            EmailIdentity=domain, MailFromDomain=mail_from_domain, BehaviorOnMxFailure="USE_DEFAULT_VALUE"
        )

    def get_identity(self, domain: str) -> IdentityState | None:
        from botocore.exceptions import ClientError

        try:
            response = self._manage.get_email_identity(EmailIdentity=domain)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") == "NotFoundException":
                return None
            raise
        return _identity_state(response)

    def delete_identity(self, domain: str) -> None:
        from botocore.exceptions import ClientError

        try:
            self._manage.delete_email_identity(EmailIdentity=domain)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NotFoundException":
                raise

    def verify_identity(self, email: str) -> None:
        """Start verification of a sender address (used by the local stack, whose
        emulator sends only from verified identities, like the SES sandbox)."""
        from botocore.exceptions import ClientError

        try:
            self._manage.create_email_identity(EmailIdentity=email)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "AlreadyExistsException":
                raise
