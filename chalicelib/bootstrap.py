"""The composition root: wires repositories, keys and the clock, once per cold start.

Services receive a ``Deps`` and never build their own collaborators, so tests
can hand them other implementations (a fixed clock, another key ring).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property, lru_cache
from typing import TYPE_CHECKING

from chalicelib.config import Settings, get_settings
from chalicelib.domain.signing import KeyRing
from chalicelib.domain.time import Clock, system_clock
from chalicelib.queue import MessageQueue, SqsQueue
from chalicelib.storage.accounts import AccountRepository, ApiKeyRepository
from chalicelib.storage.campaigns import CampaignRepository, DeliveryRepository
from chalicelib.storage.client_index import ClientIndex
from chalicelib.storage.clients import ClientRepository
from chalicelib.storage.consent import ConsentLedgerRepository
from chalicelib.storage.jobs import JobRepository
from chalicelib.storage.lists import ListRepository
from chalicelib.storage.stats import StatsRepository
from chalicelib.storage.status_index import StatusIndexRepository
from chalicelib.storage.suppressions import SuppressionRepository
from chalicelib.storage.throttle import ThrottleRepository

if TYPE_CHECKING:
    from chalicelib.mail.ses import SesMailer


@dataclass
class Deps:
    settings: Settings
    clock: Clock = system_clock
    accounts: AccountRepository = field(default_factory=AccountRepository)
    api_keys: ApiKeyRepository = field(default_factory=ApiKeyRepository)
    clients: ClientRepository = field(default_factory=ClientRepository)
    suppressions: SuppressionRepository = field(default_factory=SuppressionRepository)
    stats: StatsRepository = field(default_factory=StatsRepository)
    consent: ConsentLedgerRepository = field(default_factory=ConsentLedgerRepository)
    throttle: ThrottleRepository = field(default_factory=ThrottleRepository)
    status_index: StatusIndexRepository = field(default_factory=StatusIndexRepository)
    client_index: ClientIndex = field(default_factory=ClientIndex)
    lists: ListRepository = field(default_factory=ListRepository)
    jobs: JobRepository = field(default_factory=JobRepository)
    campaigns: CampaignRepository = field(default_factory=CampaignRepository)
    deliveries: DeliveryRepository = field(default_factory=DeliveryRepository)
    # How a send worker waits for its throttle slot (tests advance a fake clock instead).
    sleep: Callable[[float], None] = time.sleep

    @cached_property
    def key_ring(self) -> KeyRing:
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
        return SqsQueue(self.settings)


@lru_cache(maxsize=1)
def get_deps() -> Deps:
    return Deps(settings=get_settings())
