"""Everything we hold about one person: export it, or delete it."""

from __future__ import annotations

import datetime as dt
from typing import Any
from uuid import UUID

import asyncpg

from db import discussions, engagement


async def export_person(conn: asyncpg.Connection, person_id: UUID) -> dict[str, Any]:
    """Every row that belongs to the person, by table (secrets left out)."""
    export: dict[str, Any] = await conn.fetchval(
        """
        select jsonb_build_object(
            'person', (select to_jsonb(p) - 'password_hash' - 'failed_logins' - 'failed_logins_since' - 'locked_until'
                       from people p where p.id = $1),
            'participant_profile', (select to_jsonb(pp) from participant_profiles pp
                                    where pp.person_id = $1),
            'sessions', coalesce((select jsonb_agg(jsonb_build_object(
                                      'id', s.id, 'method', s.method, 'created_at', s.created_at,
                                      'last_used_at', s.last_used_at, 'revoked_at', s.revoked_at)
                                      order by s.created_at)
                                  from auth_sessions s where s.person_id = $1), '[]'::jsonb),
            -- Whether two-factor sign-in is on; never its secret or recovery codes.
            'two_factor', (select jsonb_build_object(
                                      'started_at', t.started_at, 'enabled_at', t.confirmed_at,
                                      'recovery_codes_left', (select count(*) from mfa_recovery_codes r
                                                              where r.person_id = $1 and r.used_at is null))
                           from mfa_totp t where t.person_id = $1),
            'activation_codes', coalesce((select jsonb_agg(jsonb_build_object(
                                      'created_at', c.created_at, 'expires_at', c.expires_at,
                                      'used_at', c.used_at, 'revoked_at', c.revoked_at)
                                      order by c.created_at)
                                  from activation_codes c where c.person_id = $1), '[]'::jsonb),
            -- Who at the program read or changed this person's record, and when (a list
            -- that showed them among others included).
            'access_to_my_record', coalesce((select jsonb_agg(jsonb_build_object(
                                      'at', a.at, 'actor_id', a.actor_id, 'actor_roles', a.actor_roles,
                                      'action', a.action) order by a.id)
                                  from audit_log a
                                  where a.participant_id = $1 or a.participant_ids @> array[$1]::uuid[]),
                                  '[]'::jsonb),
            'group_memberships', coalesce((select jsonb_agg(jsonb_build_object(
                                      'group_id', m.group_id, 'status', m.status, 'since', m.since)
                                      order by m.since)
                                  from group_members m where m.person_id = $1), '[]'::jsonb),
            'rsvps', coalesce((select jsonb_agg(jsonb_build_object(
                                      'session_id', r.session_id, 'status', r.status, 'updated_at', r.updated_at)
                                      order by r.session_id)
                                  from session_rsvps r where r.person_id = $1), '[]'::jsonb),
            'attendance', coalesce((select jsonb_agg(jsonb_build_object(
                                      'session_id', a.session_id, 'status', a.status, 'source', a.source,
                                      'marked_at', a.marked_at) order by a.session_id)
                                  from session_attendance a where a.person_id = $1), '[]'::jsonb),
            'checkins', coalesce((select jsonb_agg(to_jsonb(c) - 'person_id' order by c.client_time)
                                  from checkins c where c.person_id = $1), '[]'::jsonb),
            'checkin_plan', (select to_jsonb(o) - 'person_id' from checkin_plans o where o.person_id = $1),
            'missed_checkins', coalesce((select jsonb_agg(to_jsonb(m) - 'person_id' order by m.slot_starts_on)
                                  from missed_checkins m where m.person_id = $1), '[]'::jsonb),
            'alerts', coalesce((select jsonb_agg(to_jsonb(a) - 'person_id' || jsonb_build_object(
                                      'events', (select coalesce(jsonb_agg(to_jsonb(e) - 'alert_id' order by e.id), '[]')
                                                 from alert_events e where e.alert_id = a.id))
                                      order by a.id)
                                  from alerts a where a.person_id = $1), '[]'::jsonb),
            -- Devices without their push tokens (secrets of the phone, not records about you).
            'devices', coalesce((select jsonb_agg(jsonb_build_object(
                                      'id', d.id, 'platform', d.platform, 'app_version', d.app_version,
                                      'created_at', d.created_at, 'refreshed_at', d.refreshed_at) order by d.id)
                                  from devices d where d.person_id = $1), '[]'::jsonb),
            'notification_preferences', (select to_jsonb(np) - 'person_id' from notification_preferences np
                                         where np.person_id = $1),
            'notifications', coalesce((select jsonb_agg(jsonb_build_object(
                                      'id', n.id, 'kind', n.kind, 'title', n.title, 'body', n.body, 'data', n.data,
                                      'created_at', n.created_at, 'read_at', n.read_at, 'push_state', n.push_state,
                                      'sent_at', n.sent_at) order by n.id)
                                  from notifications n where n.person_id = $1), '[]'::jsonb),
            'posts', coalesce((select jsonb_agg(jsonb_build_object(
                                      'id', p.id, 'group_id', p.group_id, 'reply_to', p.reply_to, 'body', p.body,
                                      'created_at', p.created_at, 'removed_at', p.removed_at,
                                      'hidden_at', p.hidden_at, 'hidden_reason', p.hidden_reason) order by p.id)
                                  from posts p where p.author_id = $1), '[]'::jsonb),
            'reactions', coalesce((select jsonb_agg(jsonb_build_object(
                                      'post_id', r.post_id, 'kind', r.kind, 'created_at', r.created_at)
                                      order by r.created_at, r.post_id)
                                  from post_reactions r where r.person_id = $1), '[]'::jsonb),
            'reports', coalesce((select jsonb_agg(jsonb_build_object(
                                      'post_id', i.post_id, 'reason', i.reason, 'note', i.note,
                                      'created_at', i.created_at, 'closed_at', i.closed_at, 'outcome', i.outcome)
                                      order by i.id)
                                  from moderation_items i where i.reporter_id = $1), '[]'::jsonb),
            'blocks', coalesce((select jsonb_agg(jsonb_build_object(
                                      'person_id', b.blocked_id, 'created_at', b.created_at)
                                      order by b.created_at, b.blocked_id)
                                  from person_blocks b where b.blocker_id = $1), '[]'::jsonb),
            'circle', jsonb_build_object(
                'members', coalesce((select jsonb_agg(jsonb_build_object(
                                          'person_id', m.member_id, 'joined_at', m.joined_at)
                                          order by m.joined_at, m.member_id)
                                      from circle_members m where m.owner_id = $1), '[]'::jsonb),
                'in_circles_of', coalesce((select jsonb_agg(jsonb_build_object(
                                          'person_id', m.owner_id, 'joined_at', m.joined_at,
                                          'muted_until', m.muted_until) order by m.joined_at, m.owner_id)
                                      from circle_members m where m.member_id = $1), '[]'::jsonb),
                'invitations', coalesce((select jsonb_agg(jsonb_build_object(
                                          'id', i.id, 'direction', case when i.owner_id = $1 then 'sent' else 'received' end,
                                          'person_id', case when i.owner_id = $1 then i.invitee_id else i.owner_id end,
                                          'created_at', i.created_at, 'expires_at', i.expires_at,
                                          'answered_at', i.answered_at, 'outcome', i.outcome) order by i.id)
                                      from circle_invitations i where $1 in (i.owner_id, i.invitee_id)), '[]'::jsonb)),
            'help_requests', coalesce((select jsonb_agg(jsonb_build_object(
                                      'id', h.id, 'message', h.message, 'created_at', h.created_at,
                                      'reached', h.reached, 'escalated_at', h.escalated_at,
                                      'responses', coalesce((select jsonb_agg(jsonb_build_object(
                                          'person_id', r.person_id, 'response', r.response,
                                          'responded_at', r.responded_at) order by r.person_id)
                                          from help_responses r where r.request_id = h.id), '[]'::jsonb))
                                      order by h.id)
                                  from help_requests h where h.person_id = $1), '[]'::jsonb),
            'help_responses', coalesce((select jsonb_agg(jsonb_build_object(
                                      'request_id', r.request_id, 'response', r.response,
                                      'responded_at', r.responded_at) order by r.request_id)
                                  from help_responses r where r.person_id = $1), '[]'::jsonb),
            'my_staff_actions', coalesce((select jsonb_agg(jsonb_build_object(
                                      'at', a.at, 'action', a.action, 'participant_id', a.participant_id,
                                      'participant_ids', a.participant_ids)
                                      order by a.id)
                                  from audit_log a where a.actor_id = $1), '[]'::jsonb)
        )
        """,
        person_id,
    )
    return export


async def lock_participant(conn: asyncpg.Connection, person_id: UUID) -> asyncpg.Record | None:
    """The graduate's row, locked until the deletion commits: no alert can be opened for them
    meanwhile (an alert's insert waits on this lock, then finds them gone)."""
    return await conn.fetchrow(
        """
        select p.id, p.name as alias from people p
        join participant_profiles pp on pp.person_id = p.id
        where p.id = $1
        for update of p
        """,
        person_id,
    )


async def keep_for_care(conn: asyncpg.Connection, person_id: UUID, now: dt.datetime) -> bool:
    """Before a graduate is deleted: if alerts of theirs are still open, keep what staff need
    to close them (alias, counselor, when, the alerts' kinds and severities; no answers, no
    notes, no contact details). Returns whether anything was kept."""
    kept = await conn.fetchval(
        """
        insert into deleted_participants (person_id, alias, counselor_id, deleted_at, alerts, top_severity)
        select p.id, p.name, pp.counselor_id, $2,
               jsonb_agg(jsonb_build_object('kind', a.kind,
                                            'severity', (array['low', 'medium', 'high', 'critical'])[a.severity])
                         order by a.severity desc, a.opened_at),
               max(a.severity)
        from people p
        join participant_profiles pp on pp.person_id = p.id
        join alerts a on a.person_id = p.id and a.status <> 'resolved'
        where p.id = $1
        group by p.id, p.name, pp.counselor_id
        returning true
        """,
        person_id,
        now,
    )
    return bool(kept)


async def acknowledge_deleted(
    conn: asyncpg.Connection, person_id: UUID, by: UUID, now: dt.datetime
) -> asyncpg.Record | None:
    """Staff have seen that a graduate with open alerts deleted their account: it leaves the
    watchlist, and the kept record goes 30 days later. Acknowledging again changes nothing
    (`already` says so)."""
    return await conn.fetchrow(
        """
        with before as (
            select person_id, acknowledged_at is not null as already from deleted_participants
            where person_id = $1 for update
        )
        update deleted_participants d
        set acknowledged_at = coalesce(d.acknowledged_at, $3), acknowledged_by = coalesce(d.acknowledged_by, $2)
        from before b where d.person_id = b.person_id
        returning d.*, b.already
        """,
        person_id,
        by,
        now,
    )


async def purge_deleted_participants(conn: asyncpg.Connection, now: dt.datetime, keep_days: int = 30) -> int:
    """Forget the kept records acknowledged more than `keep_days` ago."""
    status = await conn.execute(
        "delete from deleted_participants where acknowledged_at <= $1::timestamptz - make_interval(days => $2)",
        now,
        keep_days,
    )
    return int(status.split()[-1])


async def delete_person(conn: asyncpg.Connection, person_id: UUID) -> dict[str, int]:
    """Delete the person and all their personal data; return the rows removed per table.

    The audit log keeps its rows: they hold ids only, and the record of who looked at what
    must outlive the account."""
    await engagement.hold(conn, [person_id])  # as every writer of their state does, first
    # Their calls for help leave their circle's inboxes with them (the words are theirs).
    circle = await conn.fetchrow(
        """
        with told as (
            delete from notifications
            where kind = 'help_now' and person_id <> $1
              and (data->>'help_request_id' in (select id::text from help_requests where person_id = $1)
                   or data->>'responder_id' = $1::text)
            returning 1
        ), links as (
            delete from circle_members where $1 in (owner_id, member_id) returning 1
        ), invitations as (
            delete from circle_invitations where $1 in (owner_id, invitee_id) returning 1
        ), answers as (
            delete from help_responses where person_id = $1 returning 1
        ), requests as (
            delete from help_requests where person_id = $1 returning 1
        )
        select (select count(*) from told) as help_now_told,
               (select count(*) from links) as circle_members,
               (select count(*) from invitations) as circle_invitations,
               (select count(*) from answers) as help_responses,
               (select count(*) from requests) as help_requests
        """,
        person_id,
    )
    assert circle is not None  # a select without `from`: always one row
    counts = await conn.fetchrow(
        """
        with tokens as (
            delete from refresh_tokens where session_id in
                (select id from auth_sessions where person_id = $1) returning 1
        ), sessions as (
            delete from auth_sessions where person_id = $1 returning 1
        ), codes as (
            delete from activation_codes where person_id = $1 returning 1
        ), profile as (
            delete from participant_profiles where person_id = $1 returning 1
        ), memberships as (
            delete from group_members where person_id = $1 returning 1
        ), rsvps as (
            delete from session_rsvps where person_id = $1 returning 1
        ), attendance as (
            delete from session_attendance where person_id = $1 returning 1
        ), calendar as (
            delete from calendar_feeds where person_id = $1 returning 1
        ), alert_rows as (
            delete from alerts where person_id = $1 returning 1
        ), missed as (
            delete from missed_checkins where person_id = $1 returning 1
        ), plan as (
            delete from checkin_plans where person_id = $1 returning 1
        ), device_rows as (
            delete from devices where person_id = $1 returning 1
        ), preferences as (
            delete from notification_preferences where person_id = $1 returning 1
        ), inbox as (
            delete from notifications where person_id = $1 returning 1
        )
        select (select count(*) from tokens) as refresh_tokens,
               (select count(*) from sessions) as auth_sessions,
               (select count(*) from codes) as activation_codes,
               (select count(*) from profile) as participant_profiles,
               (select count(*) from memberships) as group_members,
               (select count(*) from rsvps) as session_rsvps,
               (select count(*) from attendance) as session_attendance,
               (select count(*) from calendar) as calendar_feeds,
               (select count(*) from alert_rows) as alerts,
               (select count(*) from missed) as missed_checkins,
               (select count(*) from plan) as checkin_plans,
               (select count(*) from device_rows) as devices,
               (select count(*) from preferences) as notification_preferences,
               (select count(*) from inbox) as notifications
        """,
        person_id,
    )
    assert counts is not None  # a select without `from`: always one row
    # Their posts become "removed" placeholders (replies by others keep their place); what
    # waited for a moderator about them is closed; their report notes go with them.
    posts = await discussions.remove_posts_of(conn, person_id)
    await conn.execute(
        """
        update moderation_items set closed_at = now(), outcome = 'removed'
        where closed_at is null and post_id in (select id from posts where author_id = $1)
        """,
        person_id,
    )
    reports = await conn.execute(
        "update moderation_items set note = null where reporter_id = $1 and note is not null", person_id
    )
    # Check-ins go after the alerts and misses that point at them (same transaction).
    checkins = await conn.execute("delete from checkins where person_id = $1", person_id)
    people = await conn.execute("delete from people where id = $1", person_id)
    return {
        **dict(counts),
        **dict(circle),
        "checkins": int(checkins.split()[-1]),
        "posts_removed": posts,
        "report_notes": int(reports.split()[-1]),
        "people": int(people.split()[-1]),
    }
