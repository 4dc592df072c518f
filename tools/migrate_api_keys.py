"""One-off migration: give every API key created before keys were manageable its record.

Before, an account had one key, stored only as a credential item in ``api-keys`` (keyed by
the key's SHA-256, label ``default``). Now each key also has a record in ``account-keys``
(``account_id``, ``key_id``) that owners list and revoke. This reads every credential (a
paginated Scan: a one-off maintenance job, never a request path) and puts the missing
records with ``attribute_not_exists``, so it is safe to run any number of times and while
the API serves requests. Keys keep working before, during and after it; until it has run,
an old key is simply absent from ``GET /v1/api-keys``.

    PERMESSO_STAGE=prod python -m tools.migrate_api_keys      # with the stage's AWS credentials
"""

from __future__ import annotations

import sys


def migrate() -> int:
    """Create the missing records; how many were created."""
    from pynamodb.exceptions import PutError

    from chalicelib.storage.models import AccountKeyModel, ApiKeyModel

    created = 0
    for credential in ApiKeyModel.scan():
        record = AccountKeyModel(
            account_id=credential.account_id,
            key_id=credential.key_id,
            name="Initial key" if credential.label in ("", "default") else credential.label,
            prefix=credential.prefix,
            key_hash=credential.key_hash,
            created_at=credential.created_at,
        )
        try:
            record.save(condition=AccountKeyModel.key_id.does_not_exist())
        except PutError as exc:
            if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
                raise
            continue
        created += 1
    return created


def main() -> int:
    print(f"records created: {migrate()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
