"""The watchlist the way counselors work it (issue 18): severity as the same colored badge
on the table and the cards, one card per person gathering their alerts with the check-in
behind each and the outreach already logged, resolving with an outcome, one clock format,
counts that agree, and an admin with no caseload landing on Everyone. AppTest against the
real API."""

from __future__ import annotations

import json
import re
import uuid
from zoneinfo import ZoneInfo

import pytest

from admin_dashboard.state import SEVERITY_COLORS, SEVERITY_INK, USED_BADGE, severity_badge, severity_label
from tests import helpers
from tests.clock import ONCE
from tests.dashboard.apptest import as_read, live_markdown, sign_in, texts

pytestmark = pytest.mark.clock_instants(*ONCE)

NOTE = "**not bold** <b>x</b> [call me](http://e.io) # not a heading"
CLOCK = re.compile(r"[A-Z][a-z]{2} \d{1,2}, \d{1,2}:\d{2} (AM|PM)")  # "Dec 3, 2:26 PM"


async def checked_in(client, staff, alias: str, **answers) -> helpers.Actor:
    who = await helpers.graduate(client, staff, alias=alias, counselor_id=staff.id)
    response = await client.post("/v1/checkins", json=helpers.checkin_body(**answers), headers=who.headers)
    assert response.status_code == 201, response.text
    return who


def markdowns(at) -> list[str]:
    return [str(m.value) for m in at.markdown]


def card_heading(at, alias: str) -> list[str]:
    return [m for m in markdowns(at) if f"**{alias}** ·" in m]


async def alert_of(conn, who: helpers.Actor, kind: str) -> int:
    return await conn.fetchval("select id from alerts where person_id = $1 and kind = $2", uuid.UUID(who.id), kind)


async def test_severity_is_the_same_colored_badge_on_the_table_and_the_cards(dashboard, client, staff):
    await checked_in(client, staff, "Robin", need_support="crisis_now")  # critical
    await checked_in(client, staff, "Lee", need_support="talk_soon")  # high
    await checked_in(client, staff, "Sam", craving=9)  # medium
    at = sign_in(dashboard(), staff)
    table = at.dataframe[0].value
    assert list(table["alias"]) == ["Robin", "Lee", "Sam"]
    assert list(table["top_severity"]) == ["● Critical", "● High", "● Medium"]
    # Each severity cell in its badge's hue (the table's styles travel with its data).
    styles = str(at.dataframe[0].proto)
    assert all(f"color: {SEVERITY_INK[s]}" in styles for s in ("critical", "high", "medium")), styles[-800:]
    assert f"color: {SEVERITY_INK['low']}" not in styles
    for alias, severity in (("Robin", "critical"), ("Lee", "high"), ("Sam", "medium")):
        [heading] = card_heading(at, alias)
        badge = f":{SEVERITY_COLORS[severity]}-badge[{severity_label(severity)}]"  # the table's text, colored
        assert heading.startswith(badge) and badge == severity_badge(severity), heading
    assert SEVERITY_COLORS == {"low": "blue", "medium": "yellow", "high": "orange", "critical": "red"}
    assert [severity_label(s) for s in ("low", "medium", "high", "critical")] == [
        "● Low",
        "● Medium",
        "● High",
        "● Critical",
    ]
    # The file for a spreadsheet keeps the plain word.
    assert [b.label for b in at.get("download_button")] == ["Download CSV"]


async def test_one_card_per_person_gathers_their_alerts_with_the_check_in_behind_each(dashboard, client, staff):
    robin = await checked_in(client, staff, "Robin", craving=9, used=True, mood=2, note=NOTE)  # use and craving
    await checked_in(client, staff, "Kim", need_support="talk_soon")
    at = sign_in(dashboard(), staff)
    assert "2 people need attention, 3 open alerts." in texts(at)
    assert len(card_heading(at, "Robin")) == 1 and len(card_heading(at, "Kim")) == 1  # one card each
    [heading] = card_heading(at, "Robin")
    assert "2 open alerts" in as_read(heading)
    shown = markdowns(at)
    raised = [m for m in shown if "· opened " in m]
    assert len(raised) == 3
    assert any(m.startswith(severity_badge("high")) and "**Reported use**" in m for m in raised)
    assert any(m.startswith(severity_badge("medium")) and "**Craving**" in m for m in raised)
    # The check-in behind each of Robin's alerts, use standing out, the note as typed.
    checkins = [m for m in shown if "**Check-in**" in m]
    assert len(checkins) == 3
    used = [m for m in checkins if m.startswith(USED_BADGE)]
    assert len(used) == 2
    assert all("mood 2 of 5 · craving 9 of 10 · used: yes · need support: no" in as_read(m) for m in used), used
    notes = [m for m in shown if m.startswith("*Their note:*")]
    assert [as_read(m) for m in notes] == [f"*Their note:* {NOTE}"] * 2
    assert all(live_markdown(m) == [] for m in notes)  # no bold, link, heading or HTML: text
    # Picking one person shows their card alone.
    at.selectbox(key="watch_person").set_value(robin.id).run()
    assert card_heading(at, "Robin") and not card_heading(at, "Kim")


async def test_outreach_shows_newest_first_with_who_when_how_and_the_reader_clock(
    dashboard, client, conn, hasher, staff
):
    robin = await checked_in(client, staff, "Robin", need_support="talk_soon")
    alert_id = await alert_of(conn, robin, "talk_soon")
    colleague = await helpers.account(client, conn, hasher, ["staff"])
    await conn.execute("update people set name = 'Dana' where id = $1", uuid.UUID(colleague.id))
    await conn.execute("update people set timezone = 'America/Chicago' where id = $1", uuid.UUID(staff.id))
    url = f"/v1/staff/alerts/{alert_id}/outreach"
    first = {"channel": "call", "reached": False, "note": "Voicemail; will try at 6."}
    assert (await client.post(url, json=first, headers=colleague.headers)).status_code == 200
    second = {"channel": "text", "reached": True, "note": "Talked; coming to group Tuesday."}
    assert (await client.post(url, json=second, headers=staff.headers)).status_code == 200
    at = sign_in(dashboard(), staff)
    [outreach] = [as_read(m) for m in markdowns(at) if m.startswith("**Outreach logged**")]
    lines = [line.removeprefix("- ") for line in outreach.splitlines()[2:]]
    assert [line.split(" · ", 1)[1] for line in lines] == [
        "Staff · Text · reached: yes · Talked; coming to group Tuesday.",
        "Dana · Call · reached: no · Voicemail; will try at 6.",
    ]
    # One clock format, in the reader's zone: "Dec 3, 2:26 PM".
    times = await conn.fetch("select at from alert_events where kind = 'outreach' order by id desc")
    chicago = ZoneInfo("America/Chicago")
    assert [line.split(" · ", 1)[0] for line in lines] == [
        r["at"].astimezone(chicago).strftime("%b %-d, %-I:%M %p") for r in times
    ]
    opened = await conn.fetchval("select opened_at from alerts where id = $1", alert_id)
    assert f"opened {opened.astimezone(chicago).strftime('%b %-d, %-I:%M %p')}" in texts(at)
    assert all(CLOCK.fullmatch(line.split(" · ", 1)[0]) for line in lines)
    # The table writes moments the same way ("A": AM/PM).
    columns = json.loads(at.dataframe[0].proto.columns)
    assert columns["last_checkin_at"]["type_config"]["format"] == "MMM D, h:mm A"


async def test_resolving_without_outreach_needs_an_outcome_note(dashboard, client, conn, staff):
    robin = await checked_in(client, staff, "Robin", need_support="crisis_now")
    alert_id = await alert_of(conn, robin, "crisis")
    at = sign_in(dashboard(), staff)
    assert "Required: no outreach is logged on this alert yet." in texts(at)
    [resolve] = [b for b in at.button if b.label == "Resolve"]
    assert resolve.proto.type == "secondary"  # not the page's primary (red) action
    resolve.click().run()
    assert not at.exception, at.exception
    assert [as_read(e.value) for e in at.error] == [  # the API's own sentence
        "Say what came of it: no outreach is logged on this alert, so resolving it needs a note "
        "(or log the call, text or visit first)."
    ]
    assert await conn.fetchval("select status from alerts where id = $1", alert_id) == "open"
    at.text_area(key=f"resolution_{alert_id}").input("Safety plan in place; sees IOP friend tonight.")
    [resolve] = [b for b in at.button if b.label == "Resolve"]
    resolve.click().run()
    assert not at.exception and not at.error, (at.exception, at.error)
    row = await conn.fetchrow("select status, resolution_note from alerts where id = $1", alert_id)
    assert tuple(row) == ("resolved", "Safety plan in place; sees IOP friend tonight.")
    assert "Resolved" in texts(at)


async def test_after_outreach_the_card_resolves_without_a_note(dashboard, client, conn, staff):
    robin = await checked_in(client, staff, "Robin", used=True)
    alert_id = await alert_of(conn, robin, "reported_use")
    at = sign_in(dashboard(), staff)
    at.selectbox(key=f"channel_{alert_id}").set_value("in_person")
    at.checkbox(key=f"reached_{alert_id}").check()
    [log] = [b for b in at.button if b.label == "Log outreach"]
    log.click().run()
    assert "Outreach logged" in texts(at)
    assert "Optional: outreach is logged on this alert." in texts(at)
    [outreach] = [as_read(m) for m in markdowns(at) if m.startswith("**Outreach logged**")]
    assert outreach.endswith("Staff · In person · reached: yes")
    [resolve] = [b for b in at.button if b.label == "Resolve"]
    resolve.click().run()
    assert not at.error, at.error
    assert await conn.fetchval("select status from alerts where id = $1", alert_id) == "resolved"


async def test_an_admin_with_no_caseload_lands_on_everyone(dashboard, client, admin, staff):
    await checked_in(client, staff, "Robin", need_support="crisis_now")  # staff's graduate, not the admin's
    at = sign_in(dashboard(), admin)
    assert at.selectbox(key="watch_counselor").value == "everyone"
    assert list(at.dataframe[0].value["alias"]) == ["Robin"]
    shown = texts(at)
    assert "Nobody in your caseload needs attention now: showing everyone." in shown
    assert "1 person needs attention, 1 open alert." in shown
    assert "Nobody is overdue" not in shown and "choose Everyone above" not in shown  # nothing contradicts it
    assert len(card_heading(at, "Robin")) == 1
    # Choosing their own caseload says once where the others are.
    at.selectbox(key="watch_counselor").set_value("mine").run()
    shown = texts(at)
    assert "Nobody in your caseload needs attention; 1 other does: choose Everyone above." in shown
    assert "showing everyone" not in shown and "Nobody is overdue" not in shown and not at.dataframe
