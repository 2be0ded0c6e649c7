-- Peer discussions inside each group (PRODUCT.md section 10): posts and one level of
-- replies, support reactions, reports, hides by moderators, blocks between people, the
-- moderation queue (reports and crisis flags), and single-use tickets for browsers' live
-- sockets.

create table posts (
    id            bigint generated always as identity primary key,
    group_id      uuid not null references groups (id) on delete cascade,
    -- Null once the author deleted their account: the post stays as a "removed" placeholder
    -- so replies by others keep their place.
    author_id     uuid references people (id) on delete set null,
    author_role   text not null check (author_role in ('participant', 'facilitator', 'staff')),
    reply_to      bigint references posts (id) on delete cascade,
    -- Null once removed (by its author, or with the author's account).
    body          text check (char_length(body) between 1 and 2000),
    -- Of the normalized text: the same words posted twice in a row are refused.
    body_digest   bytea,
    created_at    timestamptz not null default now(),
    removed_at    timestamptz,
    hidden_at     timestamptz,
    hidden_by     uuid references people (id) on delete set null,
    hidden_reason text,
    check ((body is null) = (removed_at is not null))
);
-- A group's discussion, newest first, and catching up after a given id.
create index posts_group_idx on posts (group_id, id) where reply_to is null;
create index posts_group_all_idx on posts (group_id, id);
create index posts_replies_idx on posts (reply_to, id) where reply_to is not null;
-- Rate limits and duplicates: one person's recent posts.
create index posts_author_idx on posts (author_id, created_at) where author_id is not null;

create table post_reactions (
    post_id     bigint not null references posts (id) on delete cascade,
    person_id   uuid not null references people (id) on delete cascade,
    kind        text not null check (kind in ('support')),
    created_at  timestamptz not null default now(),
    primary key (post_id, person_id, kind)
);
create index post_reactions_person_idx on post_reactions (person_id);

-- What needs a moderator's eyes: a report by someone, or a crisis flag raised by the text.
create table moderation_items (
    id            bigint generated always as identity primary key,
    post_id       bigint not null references posts (id) on delete cascade,
    group_id      uuid not null references groups (id) on delete cascade,
    kind          text not null check (kind in ('report', 'crisis')),
    -- report: unsafe | harassment | spam | other; crisis: the flag's categories (crisis, use).
    reason        text not null,
    note          text check (char_length(note) <= 500),
    reporter_id   uuid references people (id) on delete set null,
    -- For a crisis flag: the list's phrases that matched, so staff see why.
    phrases       text[] not null default '{}',
    created_at    timestamptz not null default now(),
    closed_at     timestamptz,
    closed_by     uuid references people (id) on delete set null,
    outcome       text check (outcome in ('dismissed', 'hidden', 'removed')),
    check ((closed_at is null) = (outcome is null))
);
create index moderation_open_idx on moderation_items (created_at, id) where closed_at is null;
create index moderation_post_idx on moderation_items (post_id);
-- One open report per reporter and post: reporting twice changes nothing.
create unique index moderation_one_report_idx on moderation_items (post_id, reporter_id)
    where kind = 'report' and closed_at is null;

create table person_blocks (
    blocker_id  uuid not null references people (id) on delete cascade,
    blocked_id  uuid not null references people (id) on delete cascade,
    created_at  timestamptz not null default now(),
    primary key (blocker_id, blocked_id),
    check (blocker_id <> blocked_id)
);
create index person_blocks_blocked_idx on person_blocks (blocked_id);

-- A browser cannot send a header with a WebSocket handshake: it trades its access token for
-- a ticket (stored hashed, single use, short-lived) and puts that in the socket's URL.
create table live_tickets (
    ticket_hash  bytea primary key,
    person_id    uuid not null references people (id) on delete cascade,
    session_id   uuid not null references auth_sessions (id) on delete cascade,
    expires_at   timestamptz not null,
    used_at      timestamptz
);
create index live_tickets_expiry_idx on live_tickets (expires_at);

-- Kinds that are off until a person switches them on (new posts in your groups).
alter table notification_preferences add column enabled_kinds text[] not null default '{}';

-- The new kinds of notification: a reply to you, new posts in your groups.
alter table notifications drop constraint notifications_kind_check;
alter table notifications add constraint notifications_kind_check check (kind in (
    'checkin_reminder', 'missed_checkin', 'session_reminder', 'session_changed',
    'waitlist_seat', 'announcement', 'staff_message', 'crisis_support',
    'group_reply', 'group_post')) not valid;
alter table notifications validate constraint notifications_kind_check;
