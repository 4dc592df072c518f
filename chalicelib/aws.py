"""How the app talks to AWS: the SDK settings of every client, chosen on purpose.

The SDK's defaults (60 s connect and read timeouts, the "legacy" retry mode
with up to 5 attempts, retrying a read timeout) are wrong for a Lambda that
sends e-mail: a read timeout on ``SendEmail`` means SES *may* have sent the
message, and resending it would mail the client twice. Each client here has
explicit timeouts and a retry mode that fits what a repeated call would do:

| client | connect / read | retries | why |
|---|---|---|---|
| SES ``SendEmail`` (``ses_send``) | 2 s / 5 s | none (1 attempt) | an unanswered call may have sent: its outcome is *unknown*, and the send worker leaves the delivery ``sending`` for the crash-reconciliation path (SES's ``Send`` event, else ``failed``/``unconfirmed``), never a second call. Throttling and 5xx are retried by the worker itself, with its own backoff, only when SES certainly did not send |
| SES identities (``ses_manage``) | 2 s / 10 s | standard, 3 attempts | create/get/delete of a sender domain are idempotent or refused as "already exists" |
| SQS (``sqs``) | 2 s / 10 s | standard, 4 attempts | a message sent twice is harmless: every consumer is idempotent (conditional writes, batch markers, job leases) |
| SSM (secrets, cold start) | 2 s / 5 s | standard, 5 attempts | a read |
| DynamoDB (PynamoDB, ``DYNAMODB``) | 2 s / 5 s | standard, 1 + 4 attempts | every write is conditional or idempotent: a write retried after a timeout that had in fact succeeded fails its condition and is treated as "someone else did it" (a claim lost this way leaves the delivery ``sending``: never sent twice, reconciled like a crash) |

botocore is imported only inside ``client_config`` (cold start: nothing
heavy at import). ``max_pool_connections`` is raised for the clients used by
the send worker's threads (several messages at once, each with claim and
record threads).
"""

from __future__ import annotations

from typing import Any

# What botocore's Config gets for each client. Attempts are total attempts (1 = no retry).
CLIENTS: dict[str, dict[str, Any]] = {
    "ses_send": {"connect_timeout": 2, "read_timeout": 5, "mode": "standard", "attempts": 1, "pool": 32},
    "ses_manage": {"connect_timeout": 2, "read_timeout": 10, "mode": "standard", "attempts": 3, "pool": 10},
    "sqs": {"connect_timeout": 2, "read_timeout": 10, "mode": "standard", "attempts": 4, "pool": 16},
    "ssm": {"connect_timeout": 2, "read_timeout": 5, "mode": "standard", "attempts": 5, "pool": 2},
}

# PynamoDB's own settings (``Meta`` of every model, storage/base.py): it builds botocore's
# Config itself, standard retry mode with ``1 + max_retry_attempts`` attempts.
DYNAMODB = {
    "connect_timeout_seconds": 2,
    "read_timeout_seconds": 5,
    "max_retry_attempts": 4,
    "max_pool_connections": 48,
}


def client_config(name: str) -> Any:
    """The botocore ``Config`` of client ``name`` (a key of ``CLIENTS``)."""
    from botocore.config import Config

    spec = CLIENTS[name]
    return Config(
        connect_timeout=spec["connect_timeout"],
        read_timeout=spec["read_timeout"],
        retries={"mode": spec["mode"], "total_max_attempts": spec["attempts"]},
        max_pool_connections=spec["pool"],
    )
