"""Notifications made by jobs from the calendar, called directly with an explicit `now`:
check-in reminders (the slot's last day, from 18:00 where the graduate is, once per slot),
session reminders (before the start, to those going or to every member, once per session),
and the nudge the missed-check-in sweep writes with its alert (at 2 misses, again at 4).
Times in the text are the recipient's own."""

import datetime as dt
import json
import uuid
from zoneinfo import ZoneInfo

import pytest

from api.groups.reminders import session_reminders
from notifications.reminders import checkin_reminders, sweep_and_nudge
from tests import helpers
from tests.clock import FEW
from tests.helpers import create_group

SIX_PM = dt.time(18, 0)
HOUR = dt.timedelta(minutes=60)


def at(day: dt.date, clock: dt.time, zone: str) -> dt.datetime:
    return dt.datetime.combine(day, clock, tzinfo=ZoneInfo(zone))


def clock_text(moment: dt.datetime, zone: str) -> str:
    """ "7:00 PM" where `zone` is."""
    return moment.astimezone(ZoneInfo(zone)).strftime("%-I:%M %p")


async def stored(conn, person_id, kind) -> list[dict]:
    rows = await conn.fetch(
        "select * from notifications where person_id = $1 and kind = $2 order by id", uuid.UUID(str(person_id)), kind
    )
    return [dict(r) | {"data": json.loads(r["data"])} for r in rows]


async def daily_graduate(client, conn, staff, zone: str, *, iop_on: dt.date, activated_at: dt.datetime, alias="G"):
    """A graduate on the daily plan (IOP completed on `iop_on`), signed in through the API, with
    the activation moved back to `activated_at` (slots count from then)."""
    person = await helpers.graduate(client, staff, alias=alias, timezone=zone, iop_completed_on=str(iop_on))
    await conn.execute(
        "update participant_profiles set activated_at = $2 where person_id = $1", uuid.UUID(person.id), activated_at
    )
    return person


# --- check-in reminders --------------------------------------------------------------------


@pytest.mark.clock_instants
async def test_a_checkin_reminder_comes_once_after_six_pm_on_the_slots_last_day(client, conn, staff):
    zone = "America/Chicago"
    today = dt.datetime.now(ZoneInfo(zone)).date()
    start = at(today - dt.timedelta(days=5), dt.time(9), zone)
    waiting = await daily_graduate(client, conn, staff, zone, iop_on=start.date(), activated_at=start, alias="Waiting")

    assert await checkin_reminders(conn, at(today, dt.time(17, 59), zone), at=SIX_PM) == 0
    assert await stored(conn, waiting.id, "checkin_reminder") == []

    evening = at(today, dt.time(18, 30), zone)
    assert await checkin_reminders(conn, evening, at=SIX_PM) == 1
    assert await checkin_reminders(conn, evening, at=SIX_PM) == 0  # run twice: still one
    assert await checkin_reminders(conn, at(today, dt.time(22, 0), zone), at=SIX_PM) == 0
    [row] = await stored(conn, waiting.id, "checkin_reminder")
    assert row["dedup_key"] == f"checkin:{today}"
    assert row["data"] == {"kind": "checkin_reminder", "slot_starts_on": str(today)}
    assert (row["push_title"], row["push_body"]) == ("Time for your check-in", "It takes about a minute.")
    assert row["not_before"] == evening
    # Worthless once the slot is over: local midnight ending it, in UTC.
    assert row["expires_at"] == at(today + dt.timedelta(days=1), dt.time(0), zone).astimezone(dt.UTC)
    assert row["urgent"] is False

    # Tomorrow is another slot, with its own reminder.
    assert await checkin_reminders(conn, at(today + dt.timedelta(days=1), dt.time(18, 5), zone), at=SIX_PM) == 1
    assert [r["dedup_key"] for r in await stored(conn, waiting.id, "checkin_reminder")] == [
        f"checkin:{today}",
        f"checkin:{today + dt.timedelta(days=1)}",
    ]


@pytest.mark.clock_instants
async def test_no_checkin_reminder_after_checking_in_today(client, conn, staff):
    zone = "America/Chicago"
    today = dt.datetime.now(ZoneInfo(zone)).date()
    start = at(today - dt.timedelta(days=5), dt.time(9), zone)
    done = await daily_graduate(client, conn, staff, zone, iop_on=start.date(), activated_at=start, alias="Done")
    waiting = await daily_graduate(client, conn, staff, zone, iop_on=start.date(), activated_at=start, alias="Waiting")
    response = await client.post("/v1/checkins", json=helpers.checkin_body(), headers=done.headers)
    assert response.status_code == 201, response.text
    assert response.json()["local_date"] == str(today)

    assert await checkin_reminders(conn, at(today, dt.time(19), zone), at=SIX_PM) == 1
    assert await stored(conn, done.id, "checkin_reminder") == []
    assert len(await stored(conn, waiting.id, "checkin_reminder")) == 1


@pytest.mark.clock_instants
async def test_checkin_reminders_follow_each_graduates_own_clock(client, conn, staff):
    utc_today = dt.datetime.now(dt.UTC).date()
    start = dt.datetime.combine(utc_today - dt.timedelta(days=5), dt.time(0), tzinfo=dt.UTC)
    tokyo = await daily_graduate(client, conn, staff, "Asia/Tokyo", iop_on=start.date(), activated_at=start, alias="T")
    la = await daily_graduate(
        client, conn, staff, "America/Los_Angeles", iop_on=start.date(), activated_at=start, alias="L"
    )

    # 10:00 UTC: 19:00 in Tokyo (past six), 02:00 or 03:00 in Los Angeles (the night before).
    morning_utc = dt.datetime.combine(utc_today, dt.time(10), tzinfo=dt.UTC)
    assert await checkin_reminders(conn, morning_utc, at=SIX_PM) == 1
    [for_tokyo] = await stored(conn, tokyo.id, "checkin_reminder")
    assert for_tokyo["dedup_key"] == f"checkin:{utc_today}"
    assert for_tokyo["expires_at"] == at(utc_today + dt.timedelta(days=1), dt.time(0), "Asia/Tokyo")
    assert await stored(conn, la.id, "checkin_reminder") == []

    # 03:00 UTC the next day: noon in Tokyo, 19:00 or 20:00 the evening before in Los Angeles.
    next_night_utc = dt.datetime.combine(utc_today + dt.timedelta(days=1), dt.time(3), tzinfo=dt.UTC)
    assert await checkin_reminders(conn, next_night_utc, at=SIX_PM) == 1
    [for_la] = await stored(conn, la.id, "checkin_reminder")
    assert for_la["dedup_key"] == f"checkin:{utc_today}"
    assert for_la["expires_at"] == at(utc_today + dt.timedelta(days=1), dt.time(0), "America/Los_Angeles")
    assert len(await stored(conn, tokyo.id, "checkin_reminder")) == 1


@pytest.mark.clock_instants
async def test_no_checkin_reminder_for_a_slot_before_activation(client, conn, staff):
    zone = "UTC"
    today = dt.datetime.now(dt.UTC).date()
    # Activated this morning: today's slot counts, yesterday's did not.
    person = await daily_graduate(
        client,
        conn,
        staff,
        zone,
        iop_on=today - dt.timedelta(days=5),
        activated_at=at(today, dt.time(0, 1), zone),
    )
    assert await checkin_reminders(conn, at(today - dt.timedelta(days=1), dt.time(20), zone), at=SIX_PM) == 0
    assert await checkin_reminders(conn, at(today, dt.time(20), zone), at=SIX_PM) == 1
    assert [r["dedup_key"] for r in await stored(conn, person.id, "checkin_reminder")] == [f"checkin:{today}"]


@pytest.mark.clock_instants
async def test_on_a_weekly_plan_the_reminder_comes_on_the_weeks_last_day_only(client, conn, staff):
    zone = "Europe/Berlin"
    today = dt.datetime.now(ZoneInfo(zone)).date()
    monday = today - dt.timedelta(days=today.weekday())
    iop = monday - dt.timedelta(days=100)  # weeks 13-52: one check-in a week, Monday to Sunday
    person = await daily_graduate(client, conn, staff, zone, iop_on=iop, activated_at=at(iop, dt.time(9), zone))

    wednesday, sunday = monday + dt.timedelta(days=2), monday + dt.timedelta(days=6)
    assert await checkin_reminders(conn, at(wednesday, dt.time(19), zone), at=SIX_PM) == 0
    assert await checkin_reminders(conn, at(sunday, dt.time(17), zone), at=SIX_PM) == 0
    assert await checkin_reminders(conn, at(sunday, dt.time(19), zone), at=SIX_PM) == 1
    [row] = await stored(conn, person.id, "checkin_reminder")
    assert row["dedup_key"] == f"checkin:{monday}" and row["data"]["slot_starts_on"] == str(monday)
    assert row["expires_at"] == at(monday + dt.timedelta(days=7), dt.time(0), zone)


# --- session reminders ---------------------------------------------------------------------


async def group_with_session_in(client, staff, minutes: int) -> tuple[dict, str, dt.datetime]:
    """A group whose next session starts `minutes` (give or take one) from now: (group,
    session id, start)."""
    zone, slot = helpers.slot_starting_in(minutes)
    group = await create_group(client, staff, timezone=zone, schedule=[slot])
    now = dt.datetime.now(dt.UTC)
    response = await client.get(
        f"/v1/groups/{group['id']}/sessions",
        params={"from": now.isoformat(), "to": (now + dt.timedelta(days=1)).isoformat()},
        headers=staff.headers,
    )
    [session] = [
        s
        for s in response.json()["items"]
        if abs(dt.datetime.fromisoformat(s["starts_at"]) - (now + dt.timedelta(minutes=minutes)))
        < dt.timedelta(minutes=2)
    ]
    local_date = dt.datetime.fromisoformat(session["starts_at"]).astimezone(ZoneInfo(zone)).date()
    assert session["id"] == f"{group['id']}.{local_date}.1"
    return group, session["id"], dt.datetime.fromisoformat(session["starts_at"])


async def member(client, staff, group, **fields) -> helpers.Actor:
    person = await helpers.graduate(client, staff, **fields)
    response = await client.post(f"/v1/groups/{group['id']}/membership", headers=person.headers)
    assert response.json()["status"] == "member", response.text
    return person


async def answer(client, person, session_id: str, status: str) -> None:
    response = await client.put(f"/v1/sessions/{session_id}/rsvp", json={"status": status}, headers=person.headers)
    assert response.status_code == 200, response.text


@pytest.mark.clock_instants(*FEW)
async def test_a_session_reminder_reaches_those_going_once_in_their_own_time(client, conn, staff):
    group, sid, starts_at = await group_with_session_in(client, staff, 45)
    going = await member(client, staff, group, alias="Going", timezone="Asia/Kolkata")
    silent = await member(client, staff, group, alias="Silent")
    await answer(client, going, sid, "going")

    now = dt.datetime.now(dt.UTC)
    assert await session_reminders(conn, now, lead=HOUR, audience="rsvp") == 1
    assert await session_reminders(conn, now + dt.timedelta(minutes=1), lead=HOUR, audience="rsvp") == 0
    [row] = await stored(conn, going.id, "session_reminder")
    assert (row["push_title"], row["push_body"]) == (
        "Starting soon",
        f"A session you RSVP'd starts at {clock_text(starts_at, 'Asia/Kolkata')}.",
    )
    assert "Tuesday Evening Circle" in row["title"] and "Tuesday Evening Circle" not in row["push_body"]
    assert row["dedup_key"] == f"session:{sid}:{int(starts_at.timestamp())}" and row["expires_at"] == starts_at
    assert row["data"] == {"kind": "session_reminder", "session_id": sid, "group_id": group["id"]}
    assert await stored(conn, silent.id, "session_reminder") == []


@pytest.mark.clock_instants(*FEW)
async def test_no_session_reminder_two_hours_ahead_until_it_is_within_the_lead(client, conn, staff):
    group, sid, starts_at = await group_with_session_in(client, staff, 120)
    going = await member(client, staff, group)
    await answer(client, going, sid, "going")

    now = dt.datetime.now(dt.UTC)
    assert await session_reminders(conn, now, lead=HOUR, audience="rsvp") == 0
    assert await stored(conn, going.id, "session_reminder") == []
    # Seventy minutes on, it starts within the hour.
    assert await session_reminders(conn, now + dt.timedelta(minutes=70), lead=HOUR, audience="rsvp") == 1
    [row] = await stored(conn, going.id, "session_reminder")
    assert row["data"]["session_id"] == sid


@pytest.mark.clock_instants(*FEW)
async def test_no_session_reminder_for_a_cancelled_session(client, conn, staff):
    group, sid, _ = await group_with_session_in(client, staff, 45)
    going = await member(client, staff, group)
    await answer(client, going, sid, "going")
    response = await client.post(f"/v1/sessions/{sid}/cancel", json={"reason": "Holiday"}, headers=staff.headers)
    assert response.status_code == 200, response.text

    assert await session_reminders(conn, dt.datetime.now(dt.UTC), lead=HOUR, audience="members") == 0
    assert await stored(conn, going.id, "session_reminder") == []
    assert len(await stored(conn, going.id, "session_changed")) == 1  # told of the cancellation instead


@pytest.mark.clock_instants(*FEW)
async def test_a_moved_session_is_reminded_of_at_its_new_time_only(client, conn, staff):
    soon_group, soon_id, soon_start = await group_with_session_in(client, staff, 45)
    later_group = await create_group(client, staff)  # Tuesdays 19:00, America/Chicago
    now = dt.datetime.now(dt.UTC)
    response = await client.get(
        f"/v1/groups/{later_group['id']}/sessions",
        params={"from": (now + dt.timedelta(days=1)).isoformat(), "to": (now + dt.timedelta(days=9)).isoformat()},
        headers=staff.headers,
    )
    far_id = response.json()["items"][0]["id"]
    a = await member(client, staff, soon_group, alias="A", timezone="UTC")
    b = await member(client, staff, later_group, alias="B", timezone="UTC")
    await answer(client, a, soon_id, "going")
    await answer(client, b, far_id, "going")

    # The one about to start moves to tomorrow; the one a week away moves to 40 minutes from now.
    tomorrow = soon_start + dt.timedelta(days=1)
    new_start = (now + dt.timedelta(minutes=40)).replace(second=0, microsecond=0)
    for sid, start in ((soon_id, tomorrow), (far_id, new_start)):
        body = {
            "starts_at": start.isoformat(),
            "ends_at": (start + dt.timedelta(hours=1)).isoformat(),
            "reason": "Room change",
        }
        response = await client.post(f"/v1/sessions/{sid}/reschedule", json=body, headers=staff.headers)
        assert response.status_code == 200, response.text

    assert await session_reminders(conn, dt.datetime.now(dt.UTC), lead=HOUR, audience="rsvp") == 1
    assert await stored(conn, a.id, "session_reminder") == []
    [row] = await stored(conn, b.id, "session_reminder")
    assert row["data"]["session_id"] == far_id and row["expires_at"] == new_start
    assert row["push_body"] == f"A session you RSVP'd starts at {clock_text(new_start, 'UTC')}."


@pytest.mark.clock_instants(*FEW)
async def test_a_pending_reminder_is_dropped_when_the_session_is_cancelled_or_moved(client, conn, staff):
    """Held by quiet hours until morning, a reminder of a session cancelled meanwhile must not
    go out; moved later, the session is reminded of again at its new time."""
    group, sid, starts_at = await group_with_session_in(client, staff, 45)
    going = await member(client, staff, group)
    await answer(client, going, sid, "going")
    now = dt.datetime.now(dt.UTC)
    assert await session_reminders(conn, now, lead=HOUR) == 1

    new_start = starts_at + dt.timedelta(minutes=30)
    response = await client.post(
        f"/v1/sessions/{sid}/reschedule",
        json={"starts_at": new_start.isoformat(), "ends_at": (new_start + HOUR).isoformat(), "reason": "Room"},
        headers=staff.headers,
    )
    assert response.status_code == 200, response.text
    [old] = await stored(conn, going.id, "session_reminder")
    assert old["push_state"] == "expired"
    assert await session_reminders(conn, now + dt.timedelta(minutes=20), lead=HOUR) == 1
    fresh = [r for r in await stored(conn, going.id, "session_reminder") if r["push_state"] == "pending"]
    assert [r["dedup_key"] for r in fresh] == [f"session:{sid}:{int(new_start.timestamp())}"]

    response = await client.post(f"/v1/sessions/{sid}/cancel", json={"reason": "Snow"}, headers=staff.headers)
    assert response.status_code == 200, response.text
    assert {r["push_state"] for r in await stored(conn, going.id, "session_reminder")} == {"expired"}


@pytest.mark.clock_instants(*FEW)
async def test_session_reminders_to_every_member_but_those_not_going(client, conn, staff):
    group, sid, starts_at = await group_with_session_in(client, staff, 30)
    going = await member(client, staff, group, alias="Going", timezone="America/Chicago")
    silent = await member(client, staff, group, alias="Silent", timezone="Europe/Berlin")
    declined = await member(client, staff, group, alias="Declined")
    await answer(client, going, sid, "going")
    await answer(client, declined, sid, "not_going")
    now = dt.datetime.now(dt.UTC)

    assert await session_reminders(conn, now, lead=HOUR, audience="rsvp") == 1
    assert await stored(conn, silent.id, "session_reminder") == []
    assert await session_reminders(conn, now, lead=HOUR, audience="members") == 1  # the one going has theirs
    assert await session_reminders(conn, now, lead=HOUR, audience="members") == 0

    [for_going] = await stored(conn, going.id, "session_reminder")
    [for_silent] = await stored(conn, silent.id, "session_reminder")
    assert for_going["push_body"] == f"A session you RSVP'd starts at {clock_text(starts_at, 'America/Chicago')}."
    assert for_silent["push_body"] == f"A session of yours starts at {clock_text(starts_at, 'Europe/Berlin')}."
    assert clock_text(starts_at, "America/Chicago") != clock_text(starts_at, "Europe/Berlin")
    assert await stored(conn, declined.id, "session_reminder") == []


# --- the missed-check-in nudge -------------------------------------------------------------


async def sweep_graduate(
    client, conn, staff, now: dt.datetime, *, iop_days_ago: int, checkin_days: list[int], alias="G"
):
    """A graduate with check-ins on the given days (offsets from `now`'s date)."""
    person, _ = await helpers.graduate_with_history(
        client, conn, staff, today=now.date(), iop_days_ago=iop_days_ago, checkin_days=checkin_days, alias=alias
    )
    return person


@pytest.mark.clock_instants(*FEW)
async def test_two_misses_in_a_row_bring_one_nudge_with_the_alert(client, conn, staff):
    now = dt.datetime.now(dt.UTC)
    slipping = await sweep_graduate(client, conn, staff, now, iop_days_ago=20, checkin_days=list(range(-20, -2)))
    steady = await sweep_graduate(
        client, conn, staff, now, iop_days_ago=20, checkin_days=list(range(-20, -1)), alias="S"
    )
    last_checkin = now.date() - dt.timedelta(days=3)  # the streak is named by it

    counts = await sweep_and_nudge(conn, now)
    assert counts["missed_recorded"] == 3 and counts["misses_alerted"] == 2
    assert await conn.fetchval("select severity from alerts where person_id = $1", slipping) == 2
    [nudge] = await stored(conn, slipping, "missed_checkin")
    assert nudge["dedup_key"] == f"missed:{last_checkin}:medium"
    assert (nudge["push_title"], nudge["push_body"]) == ("Thinking of you", "Open the app when you have a moment.")
    assert nudge["data"] == {"kind": "missed_checkin"} and nudge["urgent"] is False
    assert nudge["not_before"] == now
    assert await stored(conn, steady, "missed_checkin") == []  # one miss: no alert, no nudge

    again = await sweep_and_nudge(conn, now)
    assert again == {"graduates_visited": 0, "missed_recorded": 0, "misses_alerted": 0, "adherence_alerts": 0}
    assert len(await stored(conn, slipping, "missed_checkin")) == 1


@pytest.mark.clock_instants(*FEW)
async def test_a_third_miss_brings_no_new_nudge_and_a_fourth_brings_the_second(client, conn, staff):
    now = dt.datetime.now(dt.UTC)
    person = await sweep_graduate(client, conn, staff, now, iop_days_ago=20, checkin_days=list(range(-20, -2)))
    last_checkin = now.date() - dt.timedelta(days=3)  # the streak is named by it
    await sweep_and_nudge(conn, now)
    await sweep_and_nudge(conn, now + dt.timedelta(days=1))  # 3 in a row: still medium
    assert [n["dedup_key"] for n in await stored(conn, person, "missed_checkin")] == [f"missed:{last_checkin}:medium"]

    later = now + dt.timedelta(days=2)  # 4 in a row
    await sweep_and_nudge(conn, later)
    await sweep_and_nudge(conn, later)
    assert await conn.fetchval("select severity from alerts where person_id = $1", person) == 3
    nudges = await stored(conn, person, "missed_checkin")
    assert [n["dedup_key"] for n in nudges] == [f"missed:{last_checkin}:medium", f"missed:{last_checkin}:high"]
    assert nudges[1]["not_before"] == later
