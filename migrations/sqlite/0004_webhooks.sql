-- bollard: expand
-- SQLite twin of migrations/0004_webhooks.sql. events is a JSON array of event types.
create table webhook_endpoints (
    id         text    primary key,
    user_id    text    not null references users (id) on delete cascade,
    url        text    not null check (length(url) between 1 and 2048),
    events     text    not null check (json_valid(events) and json_array_length(events) between 1 and 4),
    secret     text    not null,
    created_at integer not null default (cast(round((julianday('now') - 2440587.5) * 86400000.0) as integer) * 1000)
) strict;

create index webhook_endpoints_user_idx on webhook_endpoints (user_id, created_at);

create table webhook_failures (
    id          integer primary key autoincrement,
    event_id    text    not null,
    endpoint_id text    not null,
    attempts    integer not null,
    last_status integer,
    last_error  text    not null,
    failed_at   integer not null default (cast(round((julianday('now') - 2440587.5) * 86400000.0) as integer) * 1000)
) strict;

create index webhook_failures_endpoint_idx on webhook_failures (endpoint_id, failed_at);
