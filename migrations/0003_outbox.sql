-- bollard: expand
-- Transactional outbox: every task change writes one row here in the same statement (and so the
-- same transaction) as the change itself, so no event is lost while Redis is down. The worker
-- relays unpublished rows to a Redis Stream and stamps published_at.
create table outbox (
    id           bigint      generated always as identity primary key,
    event_id     uuid        not null unique default gen_random_uuid(),
    user_id      uuid        not null,
    task_id      uuid        not null,
    type         text        not null check (type in ('task.created', 'task.updated', 'task.completed', 'task.deleted')),
    payload      jsonb       not null,
    created_at   timestamptz not null default now(),
    published_at timestamptz
);

-- The relay's scan: unpublished rows in id order.
create index outbox_unpublished_idx on outbox (id) where published_at is null;
