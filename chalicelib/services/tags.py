"""Tags of an account: the spellings first written, the list with counts, and the migration.

- ``account_spellings``: every write path that gives a client tags (create, update,
  import, bulk tags, segmentation's non-responder tag) passes them through here first:
  each tag takes the spelling the account first wrote for it, and new tags are
  registered before any client holds them (``storage/tags.py``).
- ``list_tags``: ``GET /v1/tags`` — a page of the registry, each tag with the number of
  clients holding it (a COUNT Query of its membership partition, a few in parallel);
  tags no client holds any more are left out.
- ``normalise_tags`` job: the data migration for tags written before they were compared
  case-insensitively. It walks the account's clients (their own partition, in chunks,
  resumable like every job) and gives each one tag per key, in the account's spelling,
  with its memberships moved to the case-insensitive partitions. Idempotent: a client
  already in shape is not written. Started per account by ``python -m tools.normalise_tags``
  (docs/data-model.md, *tags*).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from chalicelib.bootstrap import Deps
from chalicelib.domain.jobs import Budget, ChunkOutcome, Job
from chalicelib.domain.records import Account, Client
from chalicelib.domain.tags import label_key, spelled, unique_tags
from chalicelib.errors import ConcurrentModification, NotFound
from chalicelib.observability import logger
from chalicelib.services import jobs
from chalicelib.services.targets import counted_first

MIGRATION_KIND = "normalise_tags"
_COUNT_THREADS = 8
_PAGE = 200


def account_spellings(
    deps: Deps, account_id: str, tags: list[str], known: dict[str, str] | None = None
) -> list[str]:
    """``tags`` in the account's spellings (registering new ones first); ``known`` caches
    spellings already looked up (an import, a job chunk)."""
    if not tags:
        return []
    cache = known if known is not None else {}
    missing = [tag for tag in tags if label_key(tag) not in cache]
    if missing:
        cache.update(deps.tags.spellings(account_id, missing, deps.clock()))
    return spelled(tags, cache)


def list_tags(
    deps: Deps, account: Account, limit: int | None, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    from chalicelib.services.pagination import check_limit, decode_cursor, encode_cursor

    start = decode_cursor(deps.key_ring, account.account_id, "tags", cursor)
    entries, next_key = deps.tags.page(account.account_id, limit=check_limit(limit), start_key=start)
    with ThreadPoolExecutor(max_workers=min(_COUNT_THREADS, max(1, len(entries)))) as pool:
        counts = list(pool.map(lambda entry: deps.tags.count(account.account_id, entry[1]), entries))
    items = [
        {"tag": tag, "count": count} for (_, tag), count in zip(entries, counts, strict=True) if count > 0
    ]
    return items, encode_cursor(deps.key_ring, account.account_id, "tags", next_key)


# --- migration --------------------------------------------------------------------------------


def start_migration(deps: Deps, account_id: str) -> Job:
    from chalicelib.services.targets import job_start

    total, cursor = job_start(deps, account_id, EVERY_CLIENT)
    return jobs.start_job(deps, account_id, MIGRATION_KIND, {"account_id": account_id}, total, cursor=cursor)


EVERY_CLIENT: dict[str, Any] = {"filter": None}


def _normalised(deps: Deps, client: Client, known: dict[str, str], legacy: bool) -> Client | str:
    """The client with one tag per key in the account's spelling, written only if that changes
    something (``legacy``: it still has membership items in legacy partitions)."""
    for _ in range(3):
        tags = account_spellings(deps, client.account_id, unique_tags(client.tags), known)
        if tags == client.tags and not legacy:
            return "unchanged"
        try:
            return deps.clients.rekey_tags(client, tags, deps.clock())
        except ConcurrentModification:
            try:
                client = deps.clients.get(client.account_id, client.client_id, consistent=True)
            except NotFound:
                return "gone"
            legacy = True  # not known for the version read now: rewriting is harmless
    raise ConcurrentModification("a client kept changing during the tag migration; the job retries")


@jobs.register(MIGRATION_KIND)
@counted_first
def migration_chunk(deps: Deps, job: Job, budget: Budget) -> ChunkOutcome:
    cursor: Any = job.cursor
    done = 0
    counters = {"clients": 0, "rewritten": 0}
    known: dict[str, str] = {}
    while True:
        page = deps.clients.page(job.account_id, limit=_PAGE, start_key=cursor)
        legacy = deps.tags.with_legacy_memberships(page.items)  # one BatchGetItem per page
        for client in page.items:
            outcome = _normalised(deps, client, known, client.client_id in legacy)
            counters["clients"] += 1
            counters["rewritten"] += isinstance(outcome, Client)
        done += len(page.items)
        cursor = page.next_key
        if cursor is None or budget.spent(done):
            break
    if cursor is None:
        logger.info("tags normalised", extra={"account_id": job.account_id, **counters})
    return ChunkOutcome(cursor=cursor, done=done, finished=cursor is None, counters=counters)
