-- bollard: expand
-- The assistant's conversations and their messages (CONTRACT §8), tool exchanges included, so any
-- replica can continue any conversation and replay it faithfully to the model. Both go with their
-- user. `seq` orders a conversation's messages (identity: assigned in insertion order).
create table conversations (
    id         uuid        primary key default gen_random_uuid(),
    user_id    uuid        not null references users on delete cascade,
    created_at timestamptz not null default now(),
    updated_at timestamptz not null default now()
);

-- One user's conversations, most recently active first (the list's keyset); serves the cascade.
create index conversations_user_updated_idx on conversations (user_id, updated_at, id);

create table messages (
    seq             bigint      generated always as identity primary key,
    id              uuid        not null unique default gen_random_uuid(),
    conversation_id uuid        not null references conversations on delete cascade,
    user_id         uuid        not null references users on delete cascade,
    role            text        not null check (role in ('user', 'assistant', 'tool')),
    content         text        not null default '' check (char_length(content) <= 100000),
    tool_calls      jsonb,      -- assistant: [{id, name, arguments}] the model asked for
    tool_call_id    text        check (char_length(tool_call_id) <= 200), -- tool: which call this answers
    created_at      timestamptz not null default now()
);

create index messages_conversation_seq_idx on messages (conversation_id, seq);
create index messages_user_idx on messages (user_id);
