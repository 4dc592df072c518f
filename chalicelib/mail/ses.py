"""The SES adapter: the only module that talks to Amazon SES.

Sends raw MIME through SESv2 ``SendEmail`` (``Content.Raw``) with the
platform's configuration set, so bounce/complaint/send events reach the
SNS topic. The boto3 client is created on first use: importing boto3 costs
cold-start time that requests which send nothing should not pay.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from functools import cached_property
from typing import Any

from chalicelib.config import Settings
from chalicelib.mail.mime import OutgoingMail, build_mime
from chalicelib.resources import SES_CONFIGURATION_SET

_THROTTLED = frozenset(
    {"TooManyRequestsException", "Throttling", "ThrottlingException", "LimitExceededException"}
)


class MailError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code


class MailRejected(MailError):
    """SES refused the message (unverified sender, suspended sending, bad address…)."""


class MailThrottled(MailError):
    """SES asked to slow down: retry later; never a failure of the recipient."""


class MailTransient(MailError):
    """SES (or the connection to it) failed before accepting the message: safe to retry."""


_TRANSIENT = frozenset({"InternalFailure", "InternalServerError", "ServiceUnavailable", "RequestTimeout"})


class SesMailer:
    def __init__(self, settings: Settings, *, endpoint_url: str | None = None) -> None:
        self._settings = settings
        self._endpoint_url = endpoint_url or settings.aws_endpoint_url

    @cached_property
    def _client(self) -> Any:
        import boto3  # lazily: see the module docstring

        return boto3.client("sesv2", region_name=self._settings.region, endpoint_url=self._endpoint_url)

    @property
    def configuration_set(self) -> str:
        return self._settings.resource_name(SES_CONFIGURATION_SET)

    def send(self, mail: OutgoingMail, *, now: datetime, tags: Mapping[str, str] | None = None) -> str:
        """Build and send ``mail``; the SES message id."""
        return self.send_raw(build_mime(mail, now), sender=mail.sender_email, to=[mail.to], tags=tags)

    def send_raw(
        self, raw: bytes, *, sender: str, to: list[str], tags: Mapping[str, str] | None = None
    ) -> str:
        from botocore.exceptions import ClientError, ConnectTimeoutError, EndpointConnectionError

        try:
            response = self._client.send_email(
                FromEmailAddress=sender,
                Destination={"ToAddresses": to},
                Content={"Raw": {"Data": raw}},
                ConfigurationSetName=self.configuration_set,
                EmailTags=[{"Name": name, "Value": value} for name, value in (tags or {}).items()],
            )
        except (EndpointConnectionError, ConnectTimeoutError) as exc:
            # The request never reached SES: certainly not sent.
            raise MailTransient("ConnectionError", str(exc)) from exc
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code, message = str(error.get("Code", "")), str(error.get("Message", ""))
            status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
            if code in _THROTTLED or status == 429 or "maximum sending rate exceeded" in message.lower():
                raise MailThrottled(code, message) from exc
            if code in _TRANSIENT or status >= 500:
                raise MailTransient(code, message) from exc
            raise MailRejected(code, message) from exc
        return str(response["MessageId"])

    def verify_identity(self, email: str) -> None:
        """Start verification of a sender address (used by the local stack, whose
        emulator sends only from verified identities, like the SES sandbox)."""
        from botocore.exceptions import ClientError

        try:
            self._client.create_email_identity(EmailIdentity=email)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "AlreadyExistsException":
                raise
