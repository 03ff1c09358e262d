-- bollard: expand
-- Webhook endpoints users register; the worker delivers matching task events to them, signed
-- with the endpoint's own secret (shown once, at creation).
create table webhook_endpoints (
    id         uuid        primary key default gen_random_uuid(),
    user_id    uuid        not null references users on delete cascade,
    url        text        not null check (char_length(url) between 1 and 2048),
    events     text[]      not null check (cardinality(events) between 1 and 4),
    secret     text        not null,
    created_at timestamptz not null default now()
);

create index webhook_endpoints_user_idx on webhook_endpoints (user_id, created_at);

-- Deliveries that exhausted their attempts (the dead letters), for operators and for the user.
create table webhook_failures (
    id          bigint      generated always as identity primary key,
    event_id    uuid        not null,
    endpoint_id uuid        not null,
    attempts    int         not null,
    last_status int,
    last_error  text        not null,
    failed_at   timestamptz not null default now()
);

create index webhook_failures_endpoint_idx on webhook_failures (endpoint_id, failed_at);
