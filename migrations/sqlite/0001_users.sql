-- bollard: expand
-- SQLite twin of migrations/0001_users.sql, for `bollard dev` (see migrations/sqlite/README.md):
-- the same table, columns and constraints in SQLite's types. Ids are canonical lower-case UUID
-- text (random v4, like gen_random_uuid()); times are integer microseconds since the Unix epoch
-- in UTC, so ordering and pagination cursors are exact. Emails are stored lower-cased, so the
-- unique constraint is case-insensitive.
create table users (
    id            text    primary key
                          default (lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' ||
                                   substr(hex(randomblob(2)), 2) || '-' ||
                                   substr('89ab', 1 + (random() & 3), 1) || substr(hex(randomblob(2)), 2) ||
                                   '-' || hex(randomblob(6))))
                          check (id glob '????????-????-????-????-????????????' and id not glob '*[^0-9a-f-]*'),
    email         text    not null unique check (email = lower(email)),
    password_hash text    not null,
    created_at    integer not null default (cast(round((julianday('now') - 2440587.5) * 86400000.0) as integer) * 1000)
) strict;
