"""The demo program `aftercare up` loads: once, the same on the same day, made through the
product's own rules, and showing something on every staff page and in every graduate's app."""

import datetime as dt
import hashlib
import json
import time

import asyncpg
import pytest

from api.checkins import risk
from api.demo import ADMIN_EMAIL, COUNSELOR_EMAIL, FACILITATOR_EMAIL, demo_graduate_codes, load_demo
from api.demo.people import GRADUATES, PENDING, SECOND_COUNSELOR_EMAIL
from db import migrate
from notifications.reminders import sweep_and_nudge
from tests import helpers
from tests.clock import ONCE
from tests.config import create_database, drop_database
from tests.summary import report

# The demo's history is dated back from today (api/demo/).
pytestmark = pytest.mark.clock_instants(*ONCE)

ALERT_KINDS = {
    "crisis",
    "talk_soon",
    "reported_use",
    "craving",
    "low_mood",
    "screen",
    "missed_checkins",
    "low_adherence",
}


async def load(conn, hasher, lines=None):
    started = time.monotonic()
    logins = await load_demo(conn, hasher, progress=(lines.append if lines is not None else lambda _: None))
    return logins, time.monotonic() - started


async def sign_in(client, email: str, password: str) -> dict[str, str]:
    response = await client.post("/v1/auth/login", json={"email": email, "password": password})
    assert response.status_code == 201, response.text
    return helpers.bearer(response.json())


async def test_demo_loads_once_and_its_sign_ins_work(client, conn, hasher):
    lines = []
    logins, seconds = await load(conn, hasher, lines)
    report(f"demo: {lines[-1].strip()} (timed by the test: {seconds:.1f} s)")
    assert seconds < 30  # a guard only: a few seconds on a developer's machine
    assert logins is not None and list(logins.activation_codes) == PENDING
    assert lines[-1].lstrip().startswith("loaded in") and "check-ins" in lines[-1]
    assert await load_demo(conn, hasher, progress=lines.append) is None  # already there

    for email in (ADMIN_EMAIL, COUNSELOR_EMAIL, SECOND_COUNSELOR_EMAIL, FACILITATOR_EMAIL):
        await sign_in(client, email, logins.password)
    tokens = await helpers.activate(client, logins.activation_codes["Pebble"])
    me = (await client.get("/v1/me", headers=helpers.bearer(tokens))).json()
    assert me["alias"] == "Pebble" and me["days_sober"] >= 30
    groups = (await client.get("/v1/groups", headers=helpers.bearer(tokens))).json()["items"]
    assert len(groups) == 7 and {g["format"] for g in groups} == {"in_person", "online", "hybrid"}
    assert all(g["address"] is None or g["address"].endswith("Springfield") for g in groups)  # invented streets

    statuses = dict(
        await conn.fetch(
            "select case when activated_at is null then 'pending' else 'active' end, count(*)"
            " from participant_profiles group by 1"
        )
    )
    assert statuses == {"pending": len(PENDING) - 1, "active": len(GRADUATES) - len(PENDING) + 1}
    admin_caseload = await conn.fetchval(
        "select count(*) from participant_profiles pp join people s on s.id = pp.counselor_id where s.email = $1",
        ADMIN_EMAIL,
    )
    assert admin_caseload == 0


async def test_every_start_gives_fresh_codes_to_those_not_signed_in(client, conn, hasher):
    first, _ = await load(conn, hasher)
    await helpers.activate(client, first.activation_codes["Pebble"])
    codes = await demo_graduate_codes(conn, hasher)
    assert list(codes) == PENDING
    assert codes["Pebble"] == "(active: signed in already)"
    assert codes["Quartz"] != first.activation_codes["Quartz"]
    stale = await client.post("/v1/auth/activate", json={"code": first.activation_codes["Quartz"]})
    helpers.assert_problem(stale, 401, "code_replaced")
    await helpers.activate(client, codes["Quartz"])


FINGERPRINT = {
    "graduates": """select p.name, p.timezone, pp.iop_completed_on, pp.sobriety_date, pp.activated_at, s.email
       from people p join participant_profiles pp on pp.person_id = p.id join people s on s.id = pp.counselor_id
       order by p.name""",
    "checkins": """select p.name, c.client_time, c.received_at, c.mood, c.craving, c.used, c.sleep, c.need_support, c.note,
              c.phq2, c.gad2, c.risk_reasons::text
       from checkins c join people p on p.id = c.person_id order by p.name, c.client_time""",
    "alerts": """select p.name, a.kind, a.severity, a.status, a.opened_at, a.acknowledged_at, a.resolved_at,
              a.resolution_note, jsonb_array_length(a.reasons),
              array(select row(e.kind, e.at, e.channel, e.reached, e.note)::text from alert_events e
                    where e.alert_id = a.id order by e.id)
       from alerts a join people p on p.id = a.person_id order by p.name, a.opened_at, a.kind""",
    "missed_checkins": """select p.name, m.slot_starts_on, m.recorded_at, m.alerted from missed_checkins m
       join people p on p.id = m.person_id order by 1, 2""",
    "notifications": """select p.name, n.kind, n.title, n.created_at, n.push_state, n.read_at is null from notifications n
       join people p on p.id = n.person_id order by p.name, n.created_at, n.kind, n.title""",
    "group_members": """select g.slug, p.name, m.status from group_members m join groups g on g.id = m.group_id
       join people p on p.id = m.person_id order by 1, 2""",
    "session_attendance": """select g.slug, s.local_date, s.slot, s.status, p.name, a.status from session_attendance a
       join group_sessions s on s.id = a.session_id join groups g on g.id = s.group_id
       join people p on p.id = a.person_id order by 1, 2, 3, 5""",
    # (Not when each is visited next, nor what a visit left: spread by their ids on purpose.)
    "engagement": """select p.name, e.open_alerts, e.top_severity, e.last_checkin_at
       from engagement e join people p on p.id = e.person_id order by 1""",
}


async def fingerprint(conn) -> tuple[str, dict[str, int]]:
    digest, counts = hashlib.sha256(), {}
    for name, query in FINGERPRINT.items():
        rows = await conn.fetch(query)
        counts[name] = len(rows)
        digest.update(repr([tuple(r) for r in rows]).encode())
    return digest.hexdigest(), counts


async def test_the_same_day_gives_the_same_program(server_url, hasher):
    prints = []
    for _ in range(2):
        url = await create_database(server_url)
        try:
            conn = await asyncpg.connect(url)
            try:
                await migrate.upgrade(conn)
                await load(conn, hasher)
                prints.append(await fingerprint(conn))
            finally:
                await conn.close()
        finally:
            await drop_database(server_url, url)
    (first, counts), (second, _) = prints
    assert counts["checkins"] > 1000 and counts["alerts"] > 30 and counts["session_attendance"] > 100
    assert first == second


async def test_the_counselors_have_a_handful_to_watch_and_a_history_of_work_done(client, conn, hasher):
    logins, _ = await load(conn, hasher)
    alerts = await conn.fetch(
        "select a.kind, a.status, a.resolved_by = pp.counselor_id as by_counselor from alerts a"
        " join participant_profiles pp on pp.person_id = a.person_id"
    )
    assert {a["kind"] for a in alerts} == ALERT_KINDS
    assert {a["status"] for a in alerts} == {"open", "acknowledged", "resolved"}
    assert all(a["by_counselor"] for a in alerts if a["status"] == "resolved")
    outreach = await conn.fetch("select channel, reached, note from alert_events where kind = 'outreach'")
    assert len(outreach) >= 10 and all(o["note"] for o in outreach)
    assert {o["reached"] for o in outreach} == {True, False}
    assert await conn.fetchval("select count(*) from checkins where need_support = 'crisis_now'") in (2, 3, 4)
    assert await conn.fetchval("select count(*) from checkins where used") >= 2

    counselor = await sign_in(client, COUNSELOR_EMAIL, logins.password)
    watched = {}
    for email in (COUNSELOR_EMAIL, SECOND_COUNSELOR_EMAIL):
        mine = {"counselor_id": str(await conn.fetchval("select id from people where email = $1", email))}
        answer = await client.get("/v1/staff/watchlist", params=mine, headers=counselor)
        watched[email] = answer.json()["items"]
    watchlist = watched[COUNSELOR_EMAIL]
    assert 3 <= len(watchlist) <= 10, [w["alias"] for w in watchlist]
    assert any(w["top_severity"] == "critical" for w in watchlist) and any(w["overdue"] for w in watchlist)
    assert 1 <= len(watched[SECOND_COUNSELOR_EMAIL]) < len(watchlist)
    everyone = (await client.get("/v1/staff/watchlist", headers=counselor)).json()["items"]
    assert len(everyone) == len(watchlist) + len(watched[SECOND_COUNSELOR_EMAIL])

    metrics = (await client.get("/v1/staff/metrics", headers=counselor)).json()
    today = dt.datetime.now(dt.UTC).date()
    recent = [
        d for d in metrics["checkins_by_day"] if d["checkins"] > 0 and str(today - dt.timedelta(days=30)) < d["day"]
    ]
    assert len(recent) >= 25, metrics["checkins_by_day"]
    assert metrics["active_graduates"] == len(GRADUATES) - len(PENDING)
    assert 0.5 < metrics["adherence_7d"] < 1 and 0.5 < metrics["adherence_30d"] < 1
    assert set(metrics["open_alerts"]) >= {"critical", "high", "medium"}
    assert metrics["attendance_rate_30d"] is not None and metrics["sessions_this_week"] > 0


async def test_every_check_in_carries_the_reasons_and_alerts_the_risk_rules_give(conn, hasher):
    """The history is stored in batches (api/demo/history.py), with what `submit()` makes of
    each check-in: held here to the product's rules, check-in by check-in."""
    await load(conn, hasher)
    checkins = await conn.fetch(
        "select id, person_id, mood, craving, used, need_support, phq2, gad2, risk_reasons::text as reasons"
        " from checkins order by person_id, client_time"
    )
    raised = {}
    for row in await conn.fetch(
        "select e.checkin_id, a.kind from alert_events e join alerts a on a.id = e.alert_id"
        " where e.kind in ('opened', 'reason')"
    ):
        raised.setdefault(row["checkin_id"], set()).add(row["kind"])
    earlier, person, with_reasons = [], None, 0
    for row in checkins:
        if row["person_id"] != person:
            earlier, person = [], row["person_id"]
        answers = risk.Answers(
            row["mood"], row["craving"], row["used"], row["need_support"],
            tuple(row["phq2"]) if row["phq2"] else None, tuple(row["gad2"]) if row["gad2"] else None,
        )  # fmt: skip
        expected = risk.assess(answers, earlier[: risk.CRAVING_HISTORY])
        earlier.insert(0, answers)
        assert [r["code"] for r in json.loads(row["reasons"])] == [r.code for r in expected], row
        assert raised.get(row["id"], set()) == {r.kind for r in expected}, row
        with_reasons += bool(expected)
    assert with_reasons >= 30


async def test_groups_have_members_a_waitlist_and_past_sessions(client, conn, hasher):
    logins, _ = await load(conn, hasher)
    staff = await sign_in(client, ADMIN_EMAIL, logins.password)
    groups = (await client.get("/v1/groups", headers=staff)).json()["items"]
    assert all(g["seats_left"] is None or g["seats_left"] < 20 for g in groups)
    full = [g for g in groups if g["seats_left"] == 0]
    assert len(full) == 1
    members = (await client.get(f"/v1/groups/{full[0]['id']}/members", headers=staff)).json()["items"]
    assert {m["status"] for m in members} == {"member", "waitlisted"}
    past = await conn.fetch(
        "select s.id, s.status, count(a.*) as marked from group_sessions s"
        " left join session_attendance a on a.session_id = s.id where s.ends_at < $1 group by s.id",
        dt.datetime.now(dt.UTC),
    )
    assert len(past) >= 40 and {s["status"] for s in past} == {"scheduled", "cancelled"}
    attended = next(s for s in past if s["marked"] > 2)
    roster = (await client.get(f"/v1/sessions/{attended['id']}/roster", headers=staff)).json()["members"]
    assert {"present"} <= {r["attendance"] for r in roster}
    assert await conn.fetchval("select count(*) from group_announcements") >= 7


async def test_every_active_graduate_has_an_inbox(client, conn, hasher):
    logins, _ = await load(conn, hasher)
    admin = await sign_in(client, ADMIN_EMAIL, logins.password)
    active = await conn.fetch(
        "select person_id from participant_profiles where activated_at is not null order by person_id"
    )
    assert len(active) == len(GRADUATES) - len(PENDING)
    kinds = set()
    for row in active:
        reissued = await client.post(f"/v1/staff/participants/{row['person_id']}/activation-code", headers=admin)
        assert reissued.status_code in (200, 201), reissued.text
        tokens = await helpers.activate(client, reissued.json()["activation_code"])
        inbox = (await client.get("/v1/me/notifications", headers=helpers.bearer(tokens))).json()["items"]
        assert inbox, row["person_id"]
        kinds |= {item["kind"] for item in inbox}
    assert {"staff_message", "announcement", "missed_checkin", "crisis_support"} <= kinds


async def test_the_worker_finds_little_to_do_after_loading(conn, hasher):
    await load(conn, hasher)
    now = dt.datetime.now(dt.UTC)
    for at in (now, now + dt.timedelta(minutes=10)):  # its next run, and the one after
        counts = await sweep_and_nudge(conn, at)
        assert counts["missed_recorded"] <= 3 and counts["misses_alerted"] + counts["adherence_alerts"] <= 1, counts
    # What was written before the last dispatch of the past is done with (no device): only
    # the last hours' notifications wait for the dispatcher.
    waiting = await conn.fetchval("select count(*) from notifications where push_state = 'pending'")
    assert waiting < 40


async def test_a_database_with_people_in_it_is_refused_and_left_as_it_was(conn, hasher, staff):
    from api.demo import NotEmpty

    with pytest.raises(NotEmpty, match="already holds 1 person"):
        await load_demo(conn, hasher, progress=lambda _: None)
    assert await conn.fetchval("select count(*) from people") == 1  # only the real staff member
    assert await conn.fetchval("select count(*) from groups") == 0


async def test_the_demo_has_group_discussions_and_a_moderation_queue_to_work(client, conn, hasher):
    logins, _ = await load(conn, hasher)
    admin = await sign_in(client, ADMIN_EMAIL, logins.password)
    queue = (await client.get("/v1/staff/moderation", headers=admin)).json()["items"]
    assert sorted(item["kind"] for item in queue) == ["crisis", "report"]
    crisis = next(item for item in queue if item["kind"] == "crisis")
    assert crisis["phrases"] and crisis["participant_url"], crisis  # the phrases matched; the author's page
    # Flagged and reported lately, when their posts were written, not when the demo loaded.
    loaded_at = dt.datetime.now(dt.UTC)  # the pinned clock the demo was dated from
    for item in queue:
        raised = dt.datetime.fromisoformat(item["created_at"])
        assert loaded_at - dt.timedelta(days=2) < raised < loaded_at - dt.timedelta(hours=1), item
        assert raised >= dt.datetime.fromisoformat(item["post"]["created_at"]), item
    # The group's discussion as the API lists it: newest first, with replies and support.
    group_id = crisis["post"]["group_id"]
    posts = (await client.get(f"/v1/groups/{group_id}/posts", headers=admin)).json()["items"]
    assert len(posts) == 5 and [p["id"] for p in posts] == sorted((p["id"] for p in posts), reverse=True)
    assert sum(p["reply_count"] for p in posts) >= 2 and any(p["reactions"]["support"] for p in posts)
    dates = [p["created_at"] for p in posts]
    assert dates == sorted(dates, reverse=True), "dated in the order they were written"
    written = await conn.fetchval("select count(*) from posts")
    groups_with_posts = await conn.fetchval("select count(distinct group_id) from posts")
    assert written >= 20 and groups_with_posts >= 4, (written, groups_with_posts)


async def test_the_demo_has_a_support_circle_and_an_answered_call_for_help(client, conn, hasher):
    logins, _ = await load(conn, hasher)
    admin = await sign_in(client, ADMIN_EMAIL, logins.password)
    asker = await conn.fetchval("select person_id from help_requests")
    calls = (await client.get(f"/v1/staff/participants/{asker}/help-requests", headers=admin)).json()["items"]
    [call] = calls
    assert call["reached"] == 3 and call["escalated_at"] is None
    assert sorted(a["response"] for a in call["answers"]) == ["cannot_now", "reaching_out"]
    asked_at = dt.datetime.fromisoformat(call["created_at"])
    assert dt.timedelta(hours=1) < dt.datetime.now(dt.UTC) - asked_at < dt.timedelta(hours=3)
    # Everyone in the circle shares the asker's group (a member, or its facilitator).
    shared = await conn.fetchval(
        """
        select bool_and(exists (select from group_members a join group_members b using (group_id)
                                where a.person_id = m.owner_id and b.person_id = m.member_id)
                        or exists (select from group_members a join group_facilitators f using (group_id)
                                   where a.person_id = m.owner_id and f.person_id = m.member_id))
        from circle_members m
        """
    )
    assert shared is True
