"""The account's tag registry (spellings first written) and tag counts.

- ``spellings``: the spelling the account first wrote for each tag; tags never
  seen are registered on the way (``UpdateItem SET tag = if_not_exists(tag, :t)``
  returns the spelling that won, so two writers racing with ``VIP`` and ``vip``
  agree). A ``BatchGetItem`` first, so known tags cost a read, not a write.
  Registration happens *before* any client is written with the tag, so every
  tag that has members is in the registry.
- ``page``: the registry, in key order (``Query account_id``).
- ``count``: how many clients hold a tag: ``Query tag-members`` of its
  partition with ``Select=COUNT`` (keys-only items, ~15,000 per 1 MB page):
  cost grows with the tag's members, never with the account's clients, and no
  client write pays for it.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from chalicelib.domain.records import Client
from chalicelib.domain.tags import label_key
from chalicelib.storage.clients import legacy_partitions, tag_partition
from chalicelib.storage.conversions import stored_time
from chalicelib.storage.models import TagMemberModel, TagModel


class TagRepository:
    def spellings(self, account_id: str, tags: list[str], now: datetime) -> dict[str, str]:
        """``label_key(tag) -> spelling first written`` for ``tags``, registering the new ones."""
        wanted: dict[str, str] = {}
        for tag in tags:
            wanted.setdefault(label_key(tag), tag.strip())
        if not wanted:
            return {}
        found: dict[str, str] = {}
        keys = [(account_id, key) for key in wanted]
        for start in range(0, len(keys), 100):
            for item in TagModel.batch_get(keys[start : start + 100]):
                found[item.tag_key] = item.tag
        for key, tag in wanted.items():
            if key in found:
                continue
            item = TagModel(account_id, key)
            item.update(
                actions=[
                    TagModel.tag.set(TagModel.tag | tag),  # if_not_exists: the first spelling wins
                    TagModel.created_at.set(TagModel.created_at | stored_time(now)),
                ]
            )
            found[key] = item.tag
        return found

    def page(
        self, account_id: str, *, limit: int, start_key: dict[str, Any] | None
    ) -> tuple[list[tuple[str, str]], dict[str, Any] | None]:
        """``(key, spelling)`` of the account's tags in key order, and where the next page starts."""
        results = TagModel.query(account_id, limit=limit, page_size=limit, last_evaluated_key=start_key)
        items = [(item.tag_key, item.tag) for item in results]
        return items, results.last_evaluated_key

    def count(self, account_id: str, tag: str) -> int:
        """How many clients hold ``tag`` (any spelling): a COUNT Query of its membership partition."""
        return int(TagMemberModel.count(tag_partition(account_id, tag)))

    def with_legacy_memberships(self, clients: list[Client]) -> set[str]:
        """Which of ``clients`` still have membership items in legacy partitions (tags written
        before they were keyed case-insensitively): ``BatchGetItem`` of those keys."""
        keys = [
            (partition, client.client_id)
            for client in clients
            for partition in sorted(legacy_partitions(client.account_id, client.tags))
        ]
        found: set[str] = set()
        for start in range(0, len(keys), 100):
            found.update(item.client_id for item in TagMemberModel.batch_get(keys[start : start + 100]))
        return found
