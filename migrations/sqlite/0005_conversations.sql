-- bollard: expand
-- SQLite twin of migrations/0005_conversations.sql. tool_calls is checked JSON text; seq is the
-- order column (autoincrement: never reused, assigned in insertion order).
create table conversations (
    id         text    primary key
                       default (lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' ||
                                substr(hex(randomblob(2)), 2) || '-' ||
                                substr('89ab', 1 + (random() & 3), 1) || substr(hex(randomblob(2)), 2) ||
                                '-' || hex(randomblob(6))))
                       check (id glob '????????-????-????-????-????????????' and id not glob '*[^0-9a-f-]*'),
    user_id    text    not null references users (id) on delete cascade,
    created_at integer not null default (cast(round((julianday('now') - 2440587.5) * 86400000.0) as integer) * 1000),
    updated_at integer not null default (cast(round((julianday('now') - 2440587.5) * 86400000.0) as integer) * 1000)
) strict;

create index conversations_user_updated_idx on conversations (user_id, updated_at, id);

create table messages (
    seq             integer primary key autoincrement,
    id              text    not null unique
                            default (lower(hex(randomblob(4)) || '-' || hex(randomblob(2)) || '-4' ||
                                     substr(hex(randomblob(2)), 2) || '-' ||
                                     substr('89ab', 1 + (random() & 3), 1) || substr(hex(randomblob(2)), 2) ||
                                     '-' || hex(randomblob(6)))),
    conversation_id text    not null references conversations (id) on delete cascade,
    user_id         text    not null references users (id) on delete cascade,
    role            text    not null check (role in ('user', 'assistant', 'tool')),
    content         text    not null default '' check (length(content) <= 100000),
    tool_calls      text    check (tool_calls is null or json_valid(tool_calls)),
    tool_call_id    text    check (length(tool_call_id) <= 200),
    created_at      integer not null default (cast(round((julianday('now') - 2440587.5) * 86400000.0) as integer) * 1000)
) strict;

create index messages_conversation_seq_idx on messages (conversation_id, seq);
create index messages_user_idx on messages (user_id);
