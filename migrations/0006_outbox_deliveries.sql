-- bollard: expand
-- Deliveries published to the Redis job queue whose outcome is not recorded yet: the relay writes one
-- row per (event, endpoint) in the transaction that stamps the outbox row published, the deliverer
-- deletes it once the job is delivered (or its endpoint is gone) or dead-lettered. redis_seq is the
-- value of the queue's loss marker (bollard:{webhooks}:seq) the publish set; a marker found below the
-- highest redis_seq here means Redis lost data, and the relay re-enqueues every row (pkg/relay).
create table outbox_deliveries (
    id          bigint      generated always as identity primary key,
    event_id    uuid        not null references outbox (event_id) on delete cascade,
    endpoint_id uuid        not null,
    redis_seq   bigint      not null,
    created_at  timestamptz not null default now(),
    unique (event_id, endpoint_id)
);

create index outbox_deliveries_seq_idx on outbox_deliveries (redis_seq);
