-- bollard: expand
-- SQLite twin of migrations/0006_outbox_deliveries.sql. `bollard dev`'s queue is in process (nothing
-- to lose apart from the process, and its rows stay unpublished until settled), so dev writes no rows
-- here; the table exists so that both schemas stay alike.
create table outbox_deliveries (
    id          integer primary key autoincrement,
    event_id    text    not null references outbox (event_id) on delete cascade,
    endpoint_id text    not null,
    redis_seq   integer not null,
    created_at  integer not null default (cast(round((julianday('now') - 2440587.5) * 86400000.0) as integer) * 1000),
    unique (event_id, endpoint_id)
) strict;

create index outbox_deliveries_seq_idx on outbox_deliveries (redis_seq);
