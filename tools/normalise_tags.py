"""Start the tag migration (``normalise_tags`` jobs) for every account, or for some.

Tags written before tags were compared case-insensitively may hold two spellings
of one tag on a client (``VIP`` and ``vip``) and keep their memberships in
partitions named as written. Once per stage, after deploying the release that
compares tags case-insensitively::

    PERMESSO_STAGE=prod python -m tools.normalise_tags            # every account
    PERMESSO_STAGE=prod python -m tools.normalise_tags acc_01J…   # some accounts

(run where the stage's settings and AWS credentials are, like a deploy). Each
account gets one job on the jobs queue; the deployed worker runs it in resumable
chunks, and ``GET /v1/jobs/{job_id}`` with the account's key shows its progress.
Running it twice is harmless: a client already in shape is not written. Listing
every account is a Scan of the accounts table: an operations tool, never a request.
"""

from __future__ import annotations

import argparse
import sys


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m tools.normalise_tags", description=__doc__.split("\n")[0]
    )
    parser.add_argument("accounts", nargs="*", help="account ids (default: every account)")
    args = parser.parse_args(argv)

    from chalicelib.bootstrap import get_deps
    from chalicelib.services.tags import start_migration

    deps = get_deps()
    account_ids = args.accounts or deps.accounts.every_account_id()
    for account_id in account_ids:
        deps.accounts.get(account_id)  # a mistyped id stops here
        job = start_migration(deps, account_id)
        print(f"{account_id}\t{job.job_id}", flush=True)
    print(f"started {len(account_ids)} tag migration job(s)", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
