-- The support circle and "help now" (PRODUCT.md section 10): a graduate invites up to five
-- people they share a group with; those who accept are reached, discreetly and at once, when
-- the graduate asks for help. Every row goes with either person's account.

create table circle_invitations (
    id           bigint generated always as identity primary key,
    owner_id     uuid not null references people (id) on delete cascade,  -- whose circle
    invitee_id   uuid not null references people (id) on delete cascade,
    created_at   timestamptz not null default now(),
    expires_at   timestamptz not null,
    -- Null while pending. `declined` covers a withdrawal by the owner too; `expired` is written
    -- when a new invitation to the same person replaces one that ran out.
    answered_at  timestamptz,
    outcome      text check (outcome in ('accepted', 'declined', 'expired')),
    check ((answered_at is null) = (outcome is null)),
    check (owner_id <> invitee_id)
);
-- One pending invitation per pair at a time.
create unique index circle_invitations_pending_idx on circle_invitations (owner_id, invitee_id)
    where answered_at is null;
create index circle_invitations_invitee_idx on circle_invitations (invitee_id) where answered_at is null;

create table circle_members (
    owner_id     uuid not null references people (id) on delete cascade,
    member_id    uuid not null references people (id) on delete cascade,
    joined_at    timestamptz not null default now(),
    -- The member muted this circle until then: they are not reached meanwhile.
    muted_until  timestamptz,
    primary key (owner_id, member_id),
    check (owner_id <> member_id)
);
create index circle_members_member_idx on circle_members (member_id);

create table help_requests (
    id            bigint generated always as identity primary key,
    person_id     uuid not null references people (id) on delete cascade,
    message       text check (char_length(message) between 1 and 280),
    created_at    timestamptz not null default now(),
    reached       integer not null,
    -- The first "I'm reaching out": it settles the call for good (a later change of answer,
    -- or the responder's deleted account, does not make it unanswered again).
    reached_out_at  timestamptz,
    -- When the worker found nobody reaching out after 15 minutes (and offered the crisis
    -- line again, and raised the counselor's alert to high).
    escalated_at  timestamptz,
    -- After a failed escalation: not tried again before then, so one bad row cannot keep
    -- the job busy.
    escalation_retry_at  timestamptz
);
create index help_requests_person_idx on help_requests (person_id, created_at);
create index help_requests_waiting_idx on help_requests (created_at)
    where escalated_at is null and reached_out_at is null;

-- Who a request reached, and what each answered.
create table help_responses (
    request_id    bigint not null references help_requests (id) on delete cascade,
    person_id     uuid not null references people (id) on delete cascade,
    response      text check (response in ('reaching_out', 'cannot_now')),
    responded_at  timestamptz,
    check ((response is null) = (responded_at is null)),
    primary key (request_id, person_id)
);
create index help_responses_person_idx on help_responses (person_id);

alter table notifications drop constraint notifications_kind_check;
alter table notifications add constraint notifications_kind_check check (kind in (
    'checkin_reminder', 'missed_checkin', 'session_reminder', 'session_changed',
    'waitlist_seat', 'announcement', 'staff_message', 'crisis_support',
    'group_reply', 'group_post', 'help_now')) not valid;
alter table notifications validate constraint notifications_kind_check;

-- A call for help shows on the graduate's open alerts' timelines, as a check-in does.
alter table alert_events drop constraint alert_events_kind_check;
alter table alert_events add constraint alert_events_kind_check check (kind in (
    'opened', 'reason', 'checkin', 'acknowledged', 'outreach', 'resolved', 'help_now')) not valid;
alter table alert_events validate constraint alert_events_kind_check;
