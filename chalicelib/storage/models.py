"""The DynamoDB tables, as PynamoDB models.

These classes are the single source of truth for table and index shapes:
the local stack creates its tables from them (``ALL_MODELS``), and the
infrastructure code derives its table definitions from the same schemas.
``docs/data-model.md`` explains every key, index and access pattern.

Timestamps are stored as sortable UTC text (``domain.time.to_storage``).
"""

from __future__ import annotations

import hashlib

from pynamodb.attributes import (
    BooleanAttribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    VersionAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex, IncludeProjection, KeysOnlyProjection
from pynamodb.models import Model

from chalicelib.storage.base import table_meta

STATUS_SHARDS = 16
STALL_SHARDS = 16


def shard_of(key: str, shards: int) -> str:
    """The partition (``"0"`` … ``str(shards - 1)``) of a sharded global index that ``key`` lands in."""
    return str(int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % shards)


def shard_names(shards: int) -> tuple[str, ...]:
    """Every partition of a sharded global index, for a job that reads them all."""
    return tuple(str(n) for n in range(shards))


class AccountBySlugIndex(GlobalSecondaryIndex["AccountModel"]):
    """Public pages (intake form) find their account by its public slug."""

    class Meta:
        index_name = "by-public-slug"
        projection = KeysOnlyProjection()

    public_slug = UnicodeAttribute(hash_key=True)


class AccountModel(Model):
    Meta = table_meta("accounts")

    account_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    public_slug = UnicodeAttribute()
    status = UnicodeAttribute(default="active")  # active | suspended
    suspension_reason = UnicodeAttribute(null=True)
    suspended_at = UnicodeAttribute(null=True)
    reinstated_at = UnicodeAttribute(null=True)
    settings = MapAttribute[str, object]()  # validated by domain.account_settings
    # Operator-owned ceilings (domain.limits.AccountLimits); absent: the new-account defaults.
    limits = MapAttribute[str, object](null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    version = VersionAttribute()

    by_public_slug = AccountBySlugIndex()


class ApiKeyModel(Model):
    """An API key's credential, found by the SHA-256 of the key (keys are 256-bit random):
    what authenticating a request reads. Revoking a key deletes this item; its record in
    ``account-keys`` stays, so the actor ids in the ledger keep a name."""

    Meta = table_meta("api-keys")

    key_hash = UnicodeAttribute(hash_key=True)
    account_id = UnicodeAttribute()
    key_id = UnicodeAttribute()
    label = UnicodeAttribute()  # the name given at creation
    prefix = UnicodeAttribute()  # first characters, to recognise a key without storing it
    created_at = UnicodeAttribute()
    last_used_at = UnicodeAttribute(null=True)  # written at most every few minutes


class AccountKeyModel(Model):
    """An account's API keys as its owners manage them: name, prefix, dates, revocation."""

    Meta = table_meta("account-keys")

    account_id = UnicodeAttribute(hash_key=True)
    key_id = UnicodeAttribute(range_key=True)  # key_<ULID>: sorted by creation
    name = UnicodeAttribute()
    prefix = UnicodeAttribute()
    key_hash = UnicodeAttribute()
    created_at = UnicodeAttribute()
    created_by = UnicodeAttribute(
        null=True
    )  # user_id or key_id that created it (null: the account's creation)
    last_used_at = UnicodeAttribute(null=True)  # copied from the credential when it is revoked
    revoked_at = UnicodeAttribute(null=True)
    revoked_by = UnicodeAttribute(null=True)


USER_ID_PREFIX = "usr_"
OWNER_COUNT_ID = "~owners"  # sorts after every usr_<ULID>


class UserModel(Model):
    """A person who signs in to an account's console."""

    Meta = table_meta("users")

    account_id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute(range_key=True)  # usr_<ULID>
    email = UnicodeAttribute()
    email_key = UnicodeAttribute()  # case-folded; unique across all accounts via UserEmailModel
    role = UnicodeAttribute()  # owner | staff
    status = UnicodeAttribute()  # invited | active (a password is set)
    password_hash = UnicodeAttribute(null=True)  # argon2id string, parameters included
    language = UnicodeAttribute(null=True)
    session_generation = NumberAttribute(default=0)  # sessions of older generations are over
    password_changed_at = UnicodeAttribute(null=True)
    invited_by = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    version = VersionAttribute()


class OwnerCountModel(Model):
    """How many owners an account has: one item per account in the ``users`` table (sort key
    ``~owners``), changed in the same transaction as any user who becomes or stops being an
    owner, with the condition that it stays at least 1 — so the last owner can never be
    removed or demoted, even by two owners acting at the same moment. Not in ``ALL_MODELS``:
    it shares ``UserModel``'s table."""

    Meta = table_meta("users")

    account_id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute(range_key=True)  # always OWNER_COUNT_ID
    owner_count = NumberAttribute(default=0)


class UserEmailModel(Model):
    """Sign-in finds a user by address: one claim per address across all accounts, written
    with ``attribute_not_exists`` in the same transaction as the user."""

    Meta = table_meta("user-emails")

    email_key = UnicodeAttribute(hash_key=True)
    account_id = UnicodeAttribute()
    user_id = UnicodeAttribute()


class UserTokenModel(Model):
    """An invitation or password-reset link, by the SHA-256 of its token; deleted when used
    (single use). ``expires_at`` is checked by the code; TTL only cleans up."""

    Meta = table_meta("user-tokens")

    token_hash = UnicodeAttribute(hash_key=True)
    purpose = UnicodeAttribute()  # invitation | reset
    account_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    created_at = UnicodeAttribute()
    valid_until = UnicodeAttribute()
    expires_at = TTLAttribute()


class SessionModel(Model):
    """A signed-in console session, by the SHA-256 of its id (the cookie's value). Expiry
    (12 h idle, 30 days absolute) is checked by the code; TTL only cleans up."""

    Meta = table_meta("sessions")

    session_hash = UnicodeAttribute(hash_key=True)
    account_id = UnicodeAttribute()
    user_id = UnicodeAttribute()
    generation = NumberAttribute()  # the user's session_generation at sign-in
    created_at = UnicodeAttribute()
    last_seen_at = UnicodeAttribute()  # written at most every few minutes
    expires_at = TTLAttribute()


class ClientsByAutoStatusIndex(GlobalSecondaryIndex["ClientModel"]):
    """Audience "all clients of automatic status X": ``<account>#<status>``."""

    class Meta:
        index_name = "by-auto-status"
        projection = KeysOnlyProjection()

    account_auto_status = UnicodeAttribute(hash_key=True)
    client_id = UnicodeAttribute(range_key=True)


class ClientsByStatusSinceIndex(GlobalSecondaryIndex["ClientModel"]):
    """Who entered automatic status X of an account since a moment: ``<account>#<status>``,
    ``status_since``. An automatic round reads only the clients who changed into its audience
    since the previous round (cost proportional to the change, not the audience)."""

    class Meta:
        index_name = "by-status-since"
        projection = KeysOnlyProjection()

    account_auto_status = UnicodeAttribute(hash_key=True)
    status_since = UnicodeAttribute(range_key=True)


class ClientsByConfirmationIndex(GlobalSecondaryIndex["ClientModel"]):
    """Sparse: only clients with a consent confirmation date (seed 003's segment)."""

    class Meta:
        index_name = "by-consent-confirmed"
        projection = KeysOnlyProjection()

    account_id = UnicodeAttribute(hash_key=True)
    consent_confirmed_at = UnicodeAttribute(range_key=True)


class ClientsByStatusChangeIndex(GlobalSecondaryIndex["ClientModel"]):
    """Sparse: when a client's automatic status next changes by time alone.

    Global across accounts and sharded (``STATUS_SHARDS`` partitions chosen by
    client id), so the daily job queries ``next_status_at <= now`` per shard
    and touches only the clients whose status changes.
    """

    class Meta:
        index_name = "by-next-status-change"
        # What recomputing a status needs, so the job reads nothing but the index.
        projection = IncludeProjection(["created_at", "last_visit_at", "auto_status", "version"])

    status_shard = UnicodeAttribute(hash_key=True)
    next_status_at = UnicodeAttribute(range_key=True)


class ClientModel(Model):
    Meta = table_meta("clients")

    account_id = UnicodeAttribute(hash_key=True)
    client_id = UnicodeAttribute(range_key=True)
    email = UnicodeAttribute()
    email_key = UnicodeAttribute()  # case-folded; unique per account via ClientEmailModel
    first_name = UnicodeAttribute(null=True)
    last_name = UnicodeAttribute(null=True)
    phone = UnicodeAttribute(null=True)
    language = UnicodeAttribute(null=True)
    tags = ListAttribute[str](of=UnicodeAttribute, default=list)
    status = UnicodeAttribute(null=True)
    auto_status = UnicodeAttribute()
    account_auto_status = UnicodeAttribute(null=True)  # absent while pending: in no audience
    status_since = UnicodeAttribute(null=True)  # entered auto_status then (by-status-since)
    next_status_at = UnicodeAttribute(null=True)
    status_shard = UnicodeAttribute(
        null=True
    )  # set with next_status_at (sparse index key), not while pending
    last_visit_at = UnicodeAttribute(null=True)
    fields = MapAttribute[str, object](default=dict)
    consent_state = UnicodeAttribute(default="unknown")
    consent_confirmed_at = UnicodeAttribute(null=True)
    consent_source = UnicodeAttribute(null=True)
    consent_event_id = UnicodeAttribute(null=True)  # newest ledger event: the next one sorts after it
    suppressed = BooleanAttribute(default=False)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    version = VersionAttribute()
    tagged_by_job = UnicodeAttribute(null=True)  # the job that last changed ``tags`` (bulk tagging)
    # Created by the public form and not confirmed by its address's owner yet: kept out of
    # every index an audience is read from (tag members, automatic status).
    pending = BooleanAttribute(null=True)

    by_auto_status = ClientsByAutoStatusIndex()

    by_status_since = ClientsByStatusSinceIndex()
    by_consent_confirmed = ClientsByConfirmationIndex()
    by_next_status_change = ClientsByStatusChangeIndex()


class ClientEmailModel(Model):
    """Uniqueness claim of an address within an account; written in the same
    transaction as the client, with ``attribute_not_exists``."""

    Meta = table_meta("client-emails")

    account_id = UnicodeAttribute(hash_key=True)
    email_key = UnicodeAttribute(range_key=True)
    client_id = UnicodeAttribute()


class TagMemberModel(Model):
    """Tag membership: who has tag X, kept in step with ``ClientModel.tags`` by transactions."""

    Meta = table_meta("tag-members")

    account_tag = UnicodeAttribute(hash_key=True)  # <account_id>#<label_key(tag)>
    client_id = UnicodeAttribute(range_key=True)


class TagModel(Model):
    """The account's tag registry: one item per tag (by its case-insensitive key), holding the
    spelling first written. ``GET /v1/tags`` lists it; counts come from ``tag-members``."""

    Meta = table_meta("tags")

    account_id = UnicodeAttribute(hash_key=True)
    tag_key = UnicodeAttribute(range_key=True)  # domain.tags.label_key(tag)
    tag = UnicodeAttribute()  # as first written
    created_at = UnicodeAttribute()


class SuppressionModel(Model):
    """An address that must never receive marketing from this account.

    Keyed by a keyed hash (HMAC) of the address, so an erased client's
    address stays suppressed without being stored.
    """

    Meta = table_meta("suppressions")

    account_id = UnicodeAttribute(hash_key=True)
    email_hash = UnicodeAttribute(range_key=True)
    reason = UnicodeAttribute()  # unsubscribed | declined | hard_bounce | complaint | erased | soft_bounces
    created_at = UnicodeAttribute()
    campaign_id = UnicodeAttribute(null=True)


class AccountDayStatsModel(Model):
    """Per-account daily sending counters (atomic ``ADD``), for the rolling 7-day
    reputation rates and the volume-spike check: a Query of at most 8 items."""

    Meta = table_meta("account-stats")

    account_id = UnicodeAttribute(hash_key=True)
    day = UnicodeAttribute(range_key=True)  # YYYY-MM-DD (UTC)
    sent = NumberAttribute(default=0)
    hard_bounces = NumberAttribute(default=0)
    complaints = NumberAttribute(default=0)
    soft_bounces = NumberAttribute(default=0)


class ConsentEventModel(Model):
    """The append-only consent ledger (GDPR Art. 7(1) proof), one partition per client.

    Written only with ``attribute_not_exists`` in the same transaction as the
    client's consent fields; the one code path that updates an item is erasure's
    pseudonymisation (``ConsentLedgerRepository.pseudonymise_for_erasure``).
    """

    Meta = table_meta("consent-events")

    account_client = UnicodeAttribute(hash_key=True)  # <account_id>#<client_id>
    event_id = UnicodeAttribute(range_key=True)  # evt_<ULID>: time-ordered, grows in commit order
    type = UnicodeAttribute()
    at = UnicodeAttribute()
    source = UnicodeAttribute()
    ip = UnicodeAttribute(null=True)
    user_agent = UnicodeAttribute(null=True)
    campaign_id = UnicodeAttribute(null=True)
    terms_url = UnicodeAttribute(null=True)
    legitimate_interest_url = UnicodeAttribute(null=True)
    actor = UnicodeAttribute(null=True)
    note = UnicodeAttribute(null=True)
    email_hash = UnicodeAttribute(null=True)  # set by erasure only
    pseudonymised_at = UnicodeAttribute(null=True)  # set by erasure only


class ThrottleModel(Model):
    """Token buckets and fixed-window counters shared by every concurrent Lambda.

    A fixed window is one item per (subject, window) whose ``count`` grows by a
    conditional ``ADD``; ``expires_at`` lets DynamoDB's TTL remove old windows.
    """

    Meta = table_meta("throttle")

    bucket = UnicodeAttribute(hash_key=True)
    count = NumberAttribute(null=True)
    tokens = NumberAttribute(null=True)
    refilled_at = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)
    tat = NumberAttribute(null=True)  # GCRA rate buckets: epoch seconds of the next free slot
    # The platform's registry of accounts sending now (``platform#senders``): JSON
    # ``{account_id: [rate, until]}`` written compare-and-set on ``rev``.
    senders = UnicodeAttribute(null=True)
    rev = NumberAttribute(null=True)
    marked_at = NumberAttribute(null=True)  # once-per-period markers: epoch seconds of the last mark


class SenderDomainModel(Model):
    """A domain an account sends as (``domain.sender_domains``): its SES status and DNS tokens.
    Written in one transaction with its claim (``SenderDomainClaimModel``)."""

    Meta = table_meta("sender-domains")

    account_id = UnicodeAttribute(hash_key=True)
    domain = UnicodeAttribute(range_key=True)  # normalised: lower case, ASCII (xn--) form
    status = UnicodeAttribute()  # pending | verified | failed
    dkim_tokens = ListAttribute[str](of=UnicodeAttribute, default=list)
    mail_from_domain = UnicodeAttribute(null=True)
    mail_from_status = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    checked_at = UnicodeAttribute(null=True)
    verified_at = UnicodeAttribute(null=True)


class SenderDomainClaimModel(Model):
    """One account per sender domain: the claim is put with ``attribute_not_exists`` in the
    transaction that registers the domain, so two accounts can never both hold it."""

    Meta = table_meta("sender-domain-claims")

    domain = UnicodeAttribute(hash_key=True)
    account_id = UnicodeAttribute()
    created_at = UnicodeAttribute()


class CampaignsBySegmentDueIndex(GlobalSecondaryIndex["CampaignModel"]):
    """Sparse: reactivation campaigns awaiting responses, by when their wait ends."""

    class Meta:
        index_name = "by-segment-due"
        projection = KeysOnlyProjection()

    segment_due = UnicodeAttribute(hash_key=True)
    segment_after = UnicodeAttribute(range_key=True)


class CampaignsByAutomaticActiveIndex(GlobalSecondaryIndex["CampaignModel"]):
    """Sparse: automatic campaigns while they are active."""

    class Meta:
        index_name = "by-automatic-active"
        projection = KeysOnlyProjection()

    automatic_active = UnicodeAttribute(hash_key=True)
    campaign_id = UnicodeAttribute(range_key=True)


class CampaignsBySendDueIndex(GlobalSecondaryIndex["CampaignModel"]):
    """Sparse: scheduled campaigns, by when they are to be sent."""

    class Meta:
        index_name = "by-send-due"
        projection = KeysOnlyProjection()

    send_due = UnicodeAttribute(hash_key=True)
    send_at = UnicodeAttribute(range_key=True)


class CampaignsNamingAddressIndex(GlobalSecondaryIndex["CampaignModel"]):
    """Sparse: the campaigns whose audience filter holds a value that may be an address
    (GDPR erasure redacts it without reading every campaign)."""

    class Meta:
        index_name = "by-address-filter"
        projection = KeysOnlyProjection()

    names_address = UnicodeAttribute(hash_key=True)  # the account id, present only then
    campaign_id = UnicodeAttribute(range_key=True)


class CampaignsInFlightIndex(GlobalSecondaryIndex["CampaignModel"]):
    """Sparse: the campaigns now ``sending`` (``in_flight`` is set while they are), for the
    completion sweep (``services.sending.finish_stalled_campaigns``)."""

    class Meta:
        index_name = "by-in-flight"
        projection = KeysOnlyProjection()

    in_flight = UnicodeAttribute(hash_key=True)
    campaign_id = UnicodeAttribute(range_key=True)


class CampaignModel(Model):
    """A campaign. Status changes are conditional updates on the current ``status``;
    no version attribute, so the counters (atomic ``ADD``) never conflict with them."""

    Meta = table_meta("campaigns")

    account_id = UnicodeAttribute(hash_key=True)
    campaign_id = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute()
    kind = UnicodeAttribute()
    status = UnicodeAttribute()
    paused_from = UnicodeAttribute(null=True)
    paused_reason = UnicodeAttribute(null=True)  # e.g. circuit_breaker, account_suspended
    subject = UnicodeAttribute()
    html = UnicodeAttribute()
    text = UnicodeAttribute(null=True)
    language = UnicodeAttribute(null=True)
    audience = MapAttribute[str, object]()
    terms_url = UnicodeAttribute(null=True)
    legitimate_interest_url = UnicodeAttribute(null=True)
    wait_days = NumberAttribute(null=True)
    cooldown_days = NumberAttribute(null=True)
    segment_after = UnicodeAttribute(null=True)
    segment_due = UnicodeAttribute(null=True)  # sparse index key, present while awaiting responses
    segment_list_id = UnicodeAttribute(null=True)
    automatic_active = UnicodeAttribute(null=True)  # sparse index key, present while active
    acknowledged_non_consented = NumberAttribute(null=True)  # 1: given when it was scheduled
    send_at = UnicodeAttribute(null=True)  # while scheduled
    send_due = UnicodeAttribute(null=True)  # sparse index key, present while scheduled
    schedule_error = UnicodeAttribute(null=True)  # why a scheduled send did not start
    scheduled_by = UnicodeAttribute(null=True)  # the actor who scheduled it (its fan-out job's actor)
    job_id = UnicodeAttribute(null=True)
    count_job_id = UnicodeAttribute(null=True)  # the latest audience count job (a preview's)
    fanout_done = BooleanAttribute(default=False)
    n_recipients = NumberAttribute(default=0)
    n_batches = NumberAttribute(default=0)
    n_batches_done = NumberAttribute(default=0)
    n_sent = NumberAttribute(default=0)
    n_failed = NumberAttribute(default=0)
    n_suppressed = NumberAttribute(default=0)
    n_excluded_no_consent = NumberAttribute(default=0)
    n_bounced = NumberAttribute(default=0)
    n_complained = NumberAttribute(default=0)
    n_unsubscribed = NumberAttribute(default=0)
    n_confirmed = NumberAttribute(default=0)
    n_declined = NumberAttribute(default=0)
    started_at = UnicodeAttribute(null=True)
    finished_at = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()

    names_address = UnicodeAttribute(null=True)  # sparse index key: the account id, see the index
    in_flight = UnicodeAttribute(null=True)  # sparse index key, present while sending

    by_segment_due = CampaignsBySegmentDueIndex()
    by_automatic_active = CampaignsByAutomaticActiveIndex()
    by_send_due = CampaignsBySendDueIndex()
    by_address_filter = CampaignsNamingAddressIndex()
    by_in_flight = CampaignsInFlightIndex()


COUNTER_SHARDS = 4


class CampaignCounterModel(Model):
    """A campaign's report counters, apart from the campaign item (whose HTML body, up to
    20 KB, would make every ``ADD`` cost its whole size in write units): ``COUNTER_SHARDS``
    small items in the ``campaigns`` table, in a partition of their own (hash key
    ``counts#<campaign_id>``, sort key the shard ``0`` … ``3``), so they never show in an
    account's campaign list and one Query reads them all. Each update is an atomic ``ADD`` on
    one shard; the report sums the shards. Not in ``ALL_MODELS``: it shares
    ``CampaignModel``'s table (its key attributes are the same names)."""

    Meta = table_meta("campaigns")

    account_id = UnicodeAttribute(hash_key=True)  # counts#<campaign_id>
    campaign_id = UnicodeAttribute(range_key=True)  # the shard, "0" … str(COUNTER_SHARDS - 1)
    sent = NumberAttribute(null=True)
    failed = NumberAttribute(null=True)
    suppressed = NumberAttribute(null=True)
    excluded_no_consent = NumberAttribute(null=True)
    bounced = NumberAttribute(null=True)
    complained = NumberAttribute(null=True)
    unsubscribed = NumberAttribute(null=True)
    confirmed = NumberAttribute(null=True)
    declined = NumberAttribute(null=True)
    confirmed_after_segment = NumberAttribute(null=True)
    batches_done = NumberAttribute(null=True)
    recipients = NumberAttribute(null=True)  # automatic campaigns: ADDed by each round
    # Set once (shard 0) when the fan-out is done: the audience and what it settled itself.
    fanout_recipients = NumberAttribute(null=True)
    fanout_suppressed = NumberAttribute(null=True)
    fanout_excluded_no_consent = NumberAttribute(null=True)
    updated_at = UnicodeAttribute(null=True)  # the last counted step (the completion sweep)


class DeliveryModel(Model):
    """One item per (campaign, client): written once with ``attribute_not_exists``,
    then moved along ``queued → sending → sent|failed|…`` by conditional updates."""

    Meta = table_meta("deliveries")

    campaign_id = UnicodeAttribute(hash_key=True)
    client_id = UnicodeAttribute(range_key=True)
    account_id = UnicodeAttribute()
    status = UnicodeAttribute()
    batch = NumberAttribute(null=True)  # the send batch (SQS message) it was fanned out in
    reason = UnicodeAttribute(null=True)
    ses_message_id = UnicodeAttribute(null=True)
    attempts = NumberAttribute(default=0)
    transient_errors = NumberAttribute(null=True)  # SES 5xx / connection failures so far
    response = UnicodeAttribute(null=True)
    responded_at = UnicodeAttribute(null=True)  # when ``response`` was last set
    bounce = UnicodeAttribute(null=True)  # hard | soft | complaint
    unsubscribed = BooleanAttribute(null=True)
    queued_at = UnicodeAttribute(null=True)
    sending_at = UnicodeAttribute(null=True)
    sent_at = UnicodeAttribute(null=True)
    updated_at = UnicodeAttribute(null=True)
    step = UnicodeAttribute(null=True)  # the send message (step id) that last moved it: counted once
    # DynamoDB's TTL deletes the delivery after the retention (``delivery_retention_days``
    # from the fan-out; docs/data-model.md): the campaign's counters keep the report, the
    # consent ledger the evidence. Automatic campaigns' deliveries (one per client, reused
    # by the cooldown) have none.
    expires_at = TTLAttribute(null=True)
    # No index by client: a delivery is written three times per e-mail, an index entry would be
    # a fourth write. A client's deliveries are read through the account's campaigns instead
    # (``DeliveryRepository.of_client``: GDPR export, the soft-bounce rule).


class JobsByStallIndex(GlobalSecondaryIndex["JobModel"]):
    """Sparse: unfinished jobs by the moment of their last chunk attempt.

    Global across accounts and sharded (``STALL_SHARDS`` partitions chosen by
    job id), so the stall sweeper queries ``last_attempt_at <= now - threshold``
    per shard and reads only jobs that are unfinished and quiet. Both keys are
    removed by the write that finishes a job (done or failed).
    """

    class Meta:
        index_name = "by-stall"
        projection = AllProjection()  # few items (unfinished jobs only); resuming needs the record

    stall_shard = UnicodeAttribute(hash_key=True)
    last_attempt_at = UnicodeAttribute(range_key=True)


class JobModel(Model):
    """A background job (bulk tagging, list snapshot, …) and its resumable position.

    ``seq`` numbers the chunks: a chunk message carries the ``seq`` it was sent
    for, and progress is saved only on ``seq`` match with the lease held, so a
    redelivered or duplicated message never applies a chunk twice.
    """

    Meta = table_meta("jobs")

    account_id = UnicodeAttribute(hash_key=True)
    job_id = UnicodeAttribute(range_key=True)
    kind = UnicodeAttribute()
    status = UnicodeAttribute(default="queued")  # queued | running | done | failed
    done = NumberAttribute(default=0)
    total = NumberAttribute(null=True)
    cursor = UnicodeAttribute(null=True)  # JSON position of the next chunk
    params = UnicodeAttribute()  # JSON, validated by the job kind
    result = UnicodeAttribute(default="{}")  # JSON counters
    error = UnicodeAttribute(null=True)
    actor = UnicodeAttribute(null=True)  # the user_id or key_id that started it (null: a schedule)
    seq = NumberAttribute(default=0)  # chunks committed so far
    enqueued_seq = NumberAttribute(default=0)  # highest seq whose message was sent
    failures = NumberAttribute(default=0)  # failed attempts of the current chunk
    lease_owner = UnicodeAttribute(null=True)
    lease_until = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    # Present only while the job is unfinished (sparse index keys): the last chunk attempt
    # (or the creation) and the shard chosen by job id.
    stall_shard = UnicodeAttribute(null=True)
    last_attempt_at = UnicodeAttribute(null=True)
    # JSON list: the first ``domain.jobs.MAX_JOB_ERRORS`` per-row errors of a job that reports
    # them (a large CSV import); null for the other kinds.
    errors = UnicodeAttribute(null=True)
    # Jobs themselves never expire; the table's TTL attribute is for ``JobPartModel``'s items.
    expires_at = TTLAttribute(null=True)

    by_stall = JobsByStallIndex()


class JobPartModel(Model):
    """The input and receipts of a job that carries its own data (a large CSV import), in the
    ``jobs`` table beside the job, which sorts before them (sort key ``<job_id>#…``):

    - a *part* (``<job_id>#part#00000``): up to 200 validated rows as JSON (``rows``, well
      under 400 KB), written in batches by the request that starts the job and never updated
      (an update would cost the whole item's size in write units);
    - its *mark* (``<job_id>#mark#00000``, a few bytes): ``reached``, how far into the part any
      chunk attempt has begun applying rows, raised before each page; rows below it may have
      run already, so a chunk reads their receipts first;
    - a *receipt* (``<job_id>#row#00042``): what a row did (``outcome``: created, updated, or
      skipped with its consent notice, and the client id), written in the same transaction as
      the client or consent-ledger write it records, so a row that ran is never applied twice.

    All expire (``expires_at``, DynamoDB TTL) a week after the job started. Not in
    ``ALL_MODELS``: it shares ``JobModel``'s table (the same key attribute names). The stall
    index never sees them (no ``stall_shard``)."""

    Meta = table_meta("jobs")

    account_id = UnicodeAttribute(hash_key=True)
    job_id = UnicodeAttribute(range_key=True)  # <job_id>#part|mark#<n> | <job_id>#row#<row number>
    rows = UnicodeAttribute(null=True)  # a part's rows (JSON list)
    reached = NumberAttribute(null=True)  # a mark: rows of its part begun by some attempt
    outcome = UnicodeAttribute(null=True)  # a receipt's outcome (JSON object)
    expires_at = TTLAttribute(null=True)


class ListsNamingAddressIndex(GlobalSecondaryIndex["ListModel"]):
    """Sparse: the lists whose source filter holds a value that may be an address (GDPR
    erasure redacts it without reading every list)."""

    class Meta:
        index_name = "by-address-filter"
        projection = KeysOnlyProjection()

    names_address = UnicodeAttribute(hash_key=True)  # the account id, present only then
    list_id = UnicodeAttribute(range_key=True)


class ListModel(Model):
    """A recipient list: a snapshot of clients taken from a tag, a filter or ids."""

    Meta = table_meta("lists")

    account_id = UnicodeAttribute(hash_key=True)
    list_id = UnicodeAttribute(range_key=True)
    name = UnicodeAttribute()
    source = UnicodeAttribute()  # JSON: {"tag"} | {"filter"} | {"client_ids"} | {"campaign_id"}
    size = NumberAttribute(default=0)
    status = UnicodeAttribute(default="ready")  # building | ready
    job_id = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    names_address = UnicodeAttribute(null=True)  # sparse index key: the account id, see the index

    by_address_filter = ListsNamingAddressIndex()


class ListMembersByClientIndex(GlobalSecondaryIndex["ListMemberModel"]):
    """A client's list memberships (GDPR export and erasure)."""

    class Meta:
        index_name = "by-client"
        projection = KeysOnlyProjection()

    client_id = UnicodeAttribute(hash_key=True)
    list_id = UnicodeAttribute(range_key=True)


class ListMemberModel(Model):
    Meta = table_meta("list-members")

    list_id = UnicodeAttribute(hash_key=True)
    client_id = UnicodeAttribute(range_key=True)
    account_id = UnicodeAttribute()

    by_client = ListMembersByClientIndex()


ALL_MODELS: tuple[type[Model], ...] = (
    AccountModel,
    ApiKeyModel,
    AccountKeyModel,
    UserModel,
    UserEmailModel,
    UserTokenModel,
    SessionModel,
    ClientModel,
    ClientEmailModel,
    TagMemberModel,
    TagModel,
    SuppressionModel,
    AccountDayStatsModel,
    ConsentEventModel,
    ThrottleModel,
    JobModel,
    ListModel,
    ListMemberModel,
    CampaignModel,
    DeliveryModel,
    SenderDomainModel,
    SenderDomainClaimModel,
)
