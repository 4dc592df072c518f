"""The SES adapter: the only module that talks to Amazon SES.

Sends raw MIME through SESv2 ``SendEmail`` (``Content.Raw``) with the
platform's configuration set, so bounce/complaint/delivery events reach the
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
        from botocore.exceptions import ClientError

        try:
            response = self._client.send_email(
                FromEmailAddress=sender,
                Destination={"ToAddresses": to},
                Content={"Raw": {"Data": raw}},
                ConfigurationSetName=self.configuration_set,
                EmailTags=[{"Name": name, "Value": value} for name, value in (tags or {}).items()],
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            code, message = str(error.get("Code", "")), str(error.get("Message", ""))
            if code in _THROTTLED:
                raise MailThrottled(code, message) from exc
            raise MailRejected(code, message) from exc
        return str(response["MessageId"])
