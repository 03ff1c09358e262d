-- bollard: expand
-- Accounts of the tasks API. Emails are stored lower-cased (the API lower-cases them; the check
-- makes the database refuse anything else), so the unique constraint is case-insensitive.
create table users (
    id            uuid        primary key default gen_random_uuid(),
    email         text        not null unique check (email = lower(email)),
    password_hash text        not null,
    created_at    timestamptz not null default now()
);
