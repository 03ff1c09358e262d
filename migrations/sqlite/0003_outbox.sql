-- bollard: expand
-- SQLite twin of migrations/0003_outbox.sql. Transactional outbox: every task change writes one
-- row here in the same transaction as the change itself. payload is the task's JSON text.
-- AUTOINCREMENT, like an identity column, never hands out an id twice, so the relay's scan in id
-- order never misses a row.
create table outbox (
    id           integer primary key autoincrement,
    event_id     text    not null unique
                         default (lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' ||
                                  substr(hex(randomblob(2)), 2) || '-' ||
                                  substr('89ab', 1 + (random() & 3), 1) || substr(hex(randomblob(2)), 2) ||
                                  '-' || hex(randomblob(6)))),
    user_id      text    not null,
    task_id      text    not null,
    type         text    not null check (type in ('task.created', 'task.updated', 'task.completed', 'task.deleted')),
    payload      text    not null check (json_valid(payload)),
    created_at   integer not null default (cast(round((julianday('now') - 2440587.5) * 86400000.0) as integer) * 1000),
    published_at integer
) strict;

-- The relay's scan: unpublished rows in id order.
create index outbox_unpublished_idx on outbox (id) where published_at is null;
