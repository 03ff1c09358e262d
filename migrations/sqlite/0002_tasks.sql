-- bollard: expand
-- SQLite twin of migrations/0002_tasks.sql. Tasks belong to one user and go with them (the store
-- turns foreign keys on for every connection). `version` is bumped on every update so that
-- clients can detect lost updates (optimistic concurrency). completed is 0/1; char lengths are
-- counted in characters as in PostgreSQL.
create table tasks (
    id          text    primary key
                        default (lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' ||
                                 substr(hex(randomblob(2)), 2) || '-' ||
                                 substr('89ab', 1 + (random() & 3), 1) || substr(hex(randomblob(2)), 2) ||
                                 '-' || hex(randomblob(6))))
                        check (id glob '????????-????-????-????-????????????' and id not glob '*[^0-9a-f-]*'),
    user_id     text    not null references users (id) on delete cascade,
    title       text    not null check (length(title) between 1 and 200),
    description text    not null default '' check (length(description) <= 2000),
    completed   integer not null default 0 check (completed in (0, 1)),
    due_at      integer,
    created_at  integer not null default (cast(round((julianday('now') - 2440587.5) * 86400000.0) as integer) * 1000),
    updated_at  integer not null default (cast(round((julianday('now') - 2440587.5) * 86400000.0) as integer) * 1000),
    version     integer not null default 1
) strict;

-- Keyset (cursor) pagination of one user's tasks in creation order, either direction; it also
-- serves the foreign key's cascade from users.
create index tasks_user_created_id_idx on tasks (user_id, created_at, id);
