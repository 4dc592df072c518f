"""Where the embedded AWS emulator (moto) differs from AWS in ways the product relies on.

``patch_emulator()`` applies every fix below; never part of the deployed code.

DynamoDB writes atomic across threads: DynamoDB runs each transaction in
isolation (serializable). moto does not: its ``transact_write_items``
snapshots the tables, applies the items one by one and, when a condition
fails, *restores the snapshot* — wiping whatever another thread wrote in
between. Under concurrent requests (the threaded moto server of
the local stack, threaded tests) that loses acknowledged writes, which real
DynamoDB never does. One lock around moto's DynamoDB write operations restores
DynamoDB's guarantee in the emulator. It changes nothing the application
reads or writes, and is never part of the deployed code.
"""

from __future__ import annotations

import functools
import threading
from typing import Any

_LOCK = threading.RLock()
_WRITES = ("transact_write_items", "put_item", "update_item", "delete_item", "batch_write_item")
_PATCHED = "_permesso_serialised"


def locked(operation: Any) -> Any:
    """``operation`` run under the emulator's DynamoDB write lock."""

    @functools.wraps(operation)
    def run(self: Any, *args: Any, **kwargs: Any) -> Any:
        with _LOCK:
            return operation(self, *args, **kwargs)

    return run


def serialise_dynamodb_writes() -> None:
    """Patch moto's DynamoDB backend once per process (idempotent)."""
    from moto.dynamodb.models import DynamoDBBackend

    if getattr(DynamoDBBackend, _PATCHED, False):
        return
    for name in _WRITES:
        setattr(DynamoDBBackend, name, locked(getattr(DynamoDBBackend, name)))
    setattr(DynamoDBBackend, _PATCHED, True)


# --- SES identities -------------------------------------------------------------------------
#
# moto 5.2.5 creates SESv2 email identities but (1) gives a domain no Easy DKIM tokens and
# reports it not ``VerifiedForSendingStatus``, and (2) has no
# ``PutEmailIdentityMailFromAttributes``. SES itself returns three DKIM tokens for a domain
# created with Easy DKIM, and the local stack "verifies a domain at once" (API.md): the
# emulator answers like SES does once the DNS records are published, so the application runs
# the same calls locally as on AWS.

_SES_PATCHED = "_permesso_ses_identities"


def _easy_dkim_tokens(domain: str) -> list[str]:
    """Three stable, SES-shaped (32 lower-case characters) tokens for ``domain``."""
    import hashlib

    return [hashlib.sha256(f"{domain}#{n}".encode()).hexdigest()[:32] for n in range(3)]


def emulate_ses_identities() -> None:
    """Patch moto's SES identities once per process (idempotent)."""
    from moto.ses.models import EmailIdentity
    from moto.sesv2.responses import SESV2Response

    if getattr(EmailIdentity, _SES_PATCHED, False):
        return
    original_init = EmailIdentity.__init__
    original_response = EmailIdentity.get_response_object.fget  # type: ignore[attr-defined]

    def init(self: Any, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        self.mail_from_attributes = None
        if self.identity_type == "DOMAIN":
            self.verified_for_sending_status = True
            self.dkim_attributes.update(
                {
                    "SigningEnabled": True,
                    "Status": "SUCCESS",
                    "Tokens": _easy_dkim_tokens(self.email_identity),
                    "SigningAttributesOrigin": "AWS_SES",
                }
            )

    def response_object(self: Any) -> dict[str, Any]:
        body = dict(original_response(self))
        if getattr(self, "mail_from_attributes", None):
            body["MailFromAttributes"] = self.mail_from_attributes
        return body

    def put_email_identity_mail_from_attributes(self: Any) -> str:
        import json
        from urllib.parse import unquote

        name = unquote(self.path.split("/v2/email/identities/", 1)[1].split("/", 1)[0])
        identity = self.sesv2_backend.get_email_identity(name)
        params = json.loads(self.body or "{}")
        identity.mail_from_attributes = {
            "MailFromDomain": params.get("MailFromDomain"),
            "MailFromDomainStatus": "SUCCESS",
            "BehaviorOnMxFailure": params.get("BehaviorOnMxFailure", "USE_DEFAULT_VALUE"),
        }
        return "{}"

    from moto.sesv2 import urls

    # The moto *server* routes only the paths it lists (its catch-all regex does not reach this one).
    urls.url_paths["{0}/v2/email/identities/(?P<EmailIdentity>[^/]+)/mail-from$"] = SESV2Response.dispatch
    EmailIdentity.__init__ = init  # type: ignore[method-assign]
    EmailIdentity.get_response_object = property(response_object)  # type: ignore[assignment,method-assign]
    SESV2Response.put_email_identity_mail_from_attributes = put_email_identity_mail_from_attributes  # type: ignore[attr-defined]
    setattr(EmailIdentity, _SES_PATCHED, True)


def patch_emulator() -> None:
    """Every emulator patch above (the local stack, the tests and the benchmarks apply it)."""
    serialise_dynamodb_writes()
    emulate_ses_identities()
