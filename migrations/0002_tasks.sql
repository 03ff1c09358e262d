-- bollard: expand
-- Tasks belong to one user and go with them. `version` is bumped on every update so that clients
-- can detect lost updates (optimistic concurrency).
create table tasks (
    id          uuid        primary key default gen_random_uuid(),
    user_id     uuid        not null references users on delete cascade,
    title       text        not null check (char_length(title) between 1 and 200),
    description text        not null default '' check (char_length(description) <= 2000),
    completed   boolean     not null default false,
    due_at      timestamptz,
    created_at  timestamptz not null default now(),
    updated_at  timestamptz not null default now(),
    version     bigint      not null default 1
);

-- Keyset (cursor) pagination of one user's tasks in creation order, either direction; it also
-- serves the foreign key's cascade from users.
create index tasks_user_created_id_idx on tasks (user_id, created_at, id);
