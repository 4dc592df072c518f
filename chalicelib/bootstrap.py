"""The composition root: wires repositories, keys and the clock, once per cold start.

Services receive a ``Deps`` and never build their own collaborators, so tests
can hand them other implementations (a fixed clock, another key ring).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING

from chalicelib.domain.time import Clock, system_clock

if TYPE_CHECKING:
    from chalicelib.config import Settings
    from chalicelib.domain.signing import KeyRing
    from chalicelib.mail.ses import SesMailer
    from chalicelib.queue import MessageQueue
    from chalicelib.storage.accounts import AccountRepository
    from chalicelib.storage.api_keys import ApiKeyRepository
    from chalicelib.storage.campaigns import CampaignRepository, DeliveryRepository
    from chalicelib.storage.client_index import ClientIndex
    from chalicelib.storage.clients import ClientRepository
    from chalicelib.storage.consent import ConsentLedgerRepository
    from chalicelib.storage.jobs import JobPartRepository, JobRepository
    from chalicelib.storage.lists import ListRepository
    from chalicelib.storage.sender_domains import SenderDomainRepository
    from chalicelib.storage.stats import StatsRepository
    from chalicelib.storage.status_index import StatusIndexRepository
    from chalicelib.storage.suppressions import SuppressionRepository
    from chalicelib.storage.tags import TagRepository
    from chalicelib.storage.throttle import ThrottleRepository
    from chalicelib.storage.users import SessionRepository, UserRepository


@dataclass
class Deps:
    """What services need; a repository is built (and its storage module, with its PynamoDB
    model, imported) the first time a request uses it, so a cold start loads only that."""

    settings: Settings
    clock: Clock = system_clock
    # How a send worker waits for its throttle slot (tests advance a fake clock instead).
    sleep: Callable[[float], None] = time.sleep

    @cached_property
    def accounts(self) -> AccountRepository:
        from chalicelib.storage.accounts import AccountRepository

        return AccountRepository()

    @cached_property
    def api_keys(self) -> ApiKeyRepository:
        from chalicelib.storage.api_keys import ApiKeyRepository

        return ApiKeyRepository()

    @cached_property
    def users(self) -> UserRepository:
        from chalicelib.storage.users import UserRepository

        return UserRepository()

    @cached_property
    def sessions(self) -> SessionRepository:
        from chalicelib.storage.users import SessionRepository

        return SessionRepository()

    @cached_property
    def clients(self) -> ClientRepository:
        from chalicelib.storage.clients import ClientRepository

        return ClientRepository()

    @cached_property
    def tags(self) -> TagRepository:
        from chalicelib.storage.tags import TagRepository

        return TagRepository()

    @cached_property
    def suppressions(self) -> SuppressionRepository:
        from chalicelib.storage.suppressions import SuppressionRepository

        return SuppressionRepository()

    @cached_property
    def stats(self) -> StatsRepository:
        from chalicelib.storage.stats import StatsRepository

        return StatsRepository()

    @cached_property
    def consent(self) -> ConsentLedgerRepository:
        from chalicelib.storage.consent import ConsentLedgerRepository

        return ConsentLedgerRepository()

    @cached_property
    def throttle(self) -> ThrottleRepository:
        from chalicelib.storage.throttle import ThrottleRepository

        return ThrottleRepository()

    @cached_property
    def status_index(self) -> StatusIndexRepository:
        from chalicelib.storage.status_index import StatusIndexRepository

        return StatusIndexRepository()

    @cached_property
    def client_index(self) -> ClientIndex:
        from chalicelib.storage.client_index import ClientIndex

        return ClientIndex()

    @cached_property
    def lists(self) -> ListRepository:
        from chalicelib.storage.lists import ListRepository

        return ListRepository()

    @cached_property
    def jobs(self) -> JobRepository:
        from chalicelib.storage.jobs import JobRepository

        return JobRepository()

    @cached_property
    def job_parts(self) -> JobPartRepository:
        from chalicelib.storage.jobs import JobPartRepository

        return JobPartRepository()

    @cached_property
    def campaigns(self) -> CampaignRepository:
        from chalicelib.storage.campaigns import CampaignRepository

        return CampaignRepository()

    @cached_property
    def deliveries(self) -> DeliveryRepository:
        from chalicelib.storage.campaigns import DeliveryRepository

        return DeliveryRepository()

    @cached_property
    def sender_domains(self) -> SenderDomainRepository:
        from chalicelib.storage.sender_domains import SenderDomainRepository

        return SenderDomainRepository()

    @cached_property
    def key_ring(self) -> KeyRing:
        from chalicelib.domain.signing import KeyRing

        return KeyRing.parse(self.settings.require("token_keys"))

    @cached_property
    def email_hash_key(self) -> bytes:
        return self.settings.require("email_hash_key").encode()

    @cached_property
    def mailer(self) -> SesMailer:
        from chalicelib.mail.ses import SesMailer  # boto3 only for requests that send

        return SesMailer(self.settings)

    @cached_property
    def queue(self) -> MessageQueue:
        from chalicelib.queue import SqsQueue

        return SqsQueue(self.settings)


@lru_cache(maxsize=1)
def get_deps() -> Deps:
    from chalicelib.config import get_settings  # pydantic, and in the cloud the SSM secrets

    return Deps(settings=get_settings())
