"""Console reads benchmark: DynamoDB items read by one view of each console page.

Run: ``python -m bench.console_reads`` (about a minute on 2 cores; ``BENCH_CLIENTS`` sets
the account's size, default 5,000). The targeting benchmark's machinery is reused: an
in-process emulator, the app's tables, a generated account loaded with batch writes (setup,
not measured) and the meter wrapped around PynamoDB's ``Connection._make_api_call`` that
counts the items every response returned and the read capacity DynamoDB would charge.

Each page is requested through the Chalice app (``chalice.test.Client``) by a signed-in
owner, exactly as a browser would, so the figures include the session check (session,
user, account). The point is the bound: no page reads more as the account grows past the
count budget (2,000 candidates) and the page size (50). Run it with two sizes to see it.
One page is bounded differently, on purpose: "Send" shows the counts of the API's own
``preview`` (the campaign's audience, up to ``preview_max_clients``), the same reads a
``POST /v1/campaigns/{id}/send`` makes before it sends.
Figures go to ``bench/results/console_reads.json``.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

os.environ.setdefault("BENCH_CLIENTS", "5000")

# BENCH_CLIENTS is read when targeting is imported, so it is set above.
from bench import targeting

RESULTS = Path(__file__).parent / "results" / "console_reads.json"
OWNER = "owner@bench.example"
PASSWORD = "a long and private bench passphrase"


def _owner(deps: Any, account: Any) -> None:
    from chalicelib.domain.identity import User
    from chalicelib.domain.passwords import hash_password

    now = deps.clock()
    deps.users.create(
        User(
            account_id=account.account_id,
            user_id="usr_bench0000000000000000000000",
            email=OWNER,
            role="owner",
            status="active",
            created_at=now,
            updated_at=now,
            password_hash=hash_password(PASSWORD),
        ),
        None,
    )


def run() -> dict[str, Any]:
    from chalice.test import Client

    from app import app
    from chalicelib.bootstrap import get_deps
    from tests.integration.console_support import Browser

    targeting.create_resources()
    deps = get_deps()
    account, tag_counts = targeting.load_account(deps)
    _owner(deps, account)
    aid = account.account_id
    common_tag = max(tag_counts, key=lambda tag: tag_counts[tag])
    rare_tag = min(tag_counts, key=lambda tag: tag_counts[tag])
    client_id = f"cl_{0:026d}"
    from chalicelib.services import lists

    small = lists.create_list(
        deps, account, lists.NewList.model_validate({"name": "Rare", "source": {"tag": rare_tag}})
    )
    from chalicelib.services import campaigns

    draft = campaigns.create_campaign(
        deps,
        account,
        campaigns.NewCampaign.model_validate(
            {
                "name": "Spring",
                "subject": "Hi",
                "html": "<p>Hi {{ first_name }}</p>",
                "audience": {"tag": common_tag},
            }
        ),
    )
    targeting.install_meter()
    pages = {
        "clients (every client)": "/app/clients",
        "clients (a common tag)": "/app/clients?"
        + urlencode({"f": "tags", "o": "contains", "v": common_tag}),
        "clients (confirmation date is filled)": "/app/clients?"
        + urlencode({"f": "consent.confirmed_at", "o": "is_set", "v": ""}),
        "clients (search: a first name)": "/app/clients?" + urlencode({"q": "Giulia"}),
        "clients (search: an e-mail address)": "/app/clients?" + urlencode({"q": "client42@example.com"}),
        "clients (a selective filter: visits > 38 and lapsing)": "/app/clients?"
        + urlencode(
            [
                ("f", "fields.visits"),
                ("o", "gt"),
                ("v", "38"),
                ("f", "auto_status"),
                ("o", "eq"),
                ("v", "lapsing"),
            ]
        ),
        "select all, add tag (confirmation)": "/app/clients/selection?"
        + urlencode({"f": "tags", "o": "contains", "v": common_tag, "select": "all", "action": "add_tag"}),
        "client card": f"/app/clients/{client_id}",
        "lists": "/app/lists",
        "list and its members": f"/app/lists/{small.list_id}",
        "campaigns": "/app/campaigns",
        "new campaign (the audience picker)": "/app/campaigns/new",
        "a draft campaign (its preview's recipients)": f"/app/campaigns/{draft.campaign_id}",
        "send confirmation (counts the audience: the API's preview)": f"/app/campaigns/{draft.campaign_id}/send",
        "settings": "/app/settings",
    }
    results: dict[str, Any] = {"clients": targeting.N_CLIENTS, "account_id": aid, "pages": {}}
    with Client(app) as client:
        browser = Browser(client)
        assert browser.sign_in(OWNER, PASSWORD).status == 303
        for name, path in pages.items():
            browser.get(path)  # warm (first imports), then measure
            targeting.METER.reset()
            started = time.perf_counter()
            answer = browser.get(path)
            seconds = time.perf_counter() - started
            assert answer.status == 200, (name, answer.status)
            results["pages"][name] = {
                "path": path,
                "seconds": round(seconds, 3),
                **targeting.METER.snapshot(),
            }
    return results


def main() -> None:
    server = targeting.start_emulator()
    os.environ["PERMESSO_PUBLIC_BASE_URL"] = "https://permesso.test"
    try:
        results = run()
    finally:
        server.stop()
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    width = max(len(name) for name in results["pages"])
    print(f"console page views on an account of {results['clients']} clients")
    print(f"{'page':<{width}}  items read  RCU   calls")
    for name, figures in results["pages"].items():
        print(
            f"{name:<{width}}  {figures['items_read']:>10}  {figures['rcu']:>5}  {sum(figures['calls'].values())}"
        )


if __name__ == "__main__":
    main()
