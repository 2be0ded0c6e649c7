"""The participant pages of the dashboard: enrolling a graduate (the code shown once), and one
graduate's page (profile, plan override, check-ins, groups, alerts with outreach, a new
code, deactivation). Streamlit's AppTest against the real API on a free port."""

from __future__ import annotations

import datetime as dt
import json
import re
from zoneinfo import ZoneInfo

import pytest

from admin_dashboard.state import USED_BADGE, severity_badge
from admin_dashboard.typed import plain
from tests import helpers
from tests.clock import FEW, ONCE
from tests.dashboard.apptest import open_page, sign_in, texts

CODE = re.compile(r"\b[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{2}\b")


def codes_shown(at) -> list[str]:
    return CODE.findall(texts(at))


def button(at, label: str):
    [found] = [b for b in at.button if b.label == label]
    return found


def frames(at) -> list:
    return [d.value for d in at.dataframe]


def open_participant(at, person_id: str):
    at.query_params["participant"] = person_id
    return open_page(at, "views/participants.py")


@pytest.mark.clock_instants(*ONCE)
async def test_enrolment_shows_the_code_once_and_it_works(dashboard, client, staff):
    at = open_page(sign_in(dashboard(), staff), "views/enroll.py")
    assert at.selectbox(key="enroll_counselor").value == staff.id  # their own caseload by default
    at.text_input(key="enroll_alias").input("Robin")
    at.selectbox(key="enroll_timezone").set_value("America/New_York")
    at.date_input(key="enroll_iop_date").set_value(dt.date.today() - dt.timedelta(days=2))
    at.text_input(key="enroll_phone").input("+1 555 0100")
    button(at, "Enroll and get the activation code").click().run()
    assert not at.exception, at.exception

    [code] = codes_shown(at)
    page = texts(at)
    assert "Robin is enrolled" in page and "enter this code" in page and "within 7 days" in page
    assert "Expires" in page
    # No form while the code is on screen: a second click cannot enrol Robin twice.
    assert not [t for t in at.text_input if t.key == "enroll_alias"]
    at.button(key="enroll_another").click().run()
    assert at.text_input(key="enroll_alias").value == ""  # a fresh form for the next graduate

    # Shown once: any rerun, a revisit, or the next submit no longer has it.
    at.run()
    assert codes_shown(at) == []
    open_page(open_page(at, "views/overview.py"), "views/enroll.py")
    assert codes_shown(at) == []
    button(at, "Enroll and get the activation code").click().run()  # empty alias: refused
    assert codes_shown(at) == [] and at.error

    [robin] = (await client.get("/v1/staff/participants", headers=staff.headers)).json()["items"]
    assert robin["alias"] == "Robin" and robin["timezone"] == "America/New_York"
    assert robin["counselor_id"] == staff.id and robin["phone"] == "+1 555 0100"
    response = await client.post("/v1/auth/activate", json={"code": code})
    assert response.status_code == 201, response.text


@pytest.mark.clock_instants(*ONCE)
async def test_a_refused_enrolment_says_why_and_keeps_what_was_typed(dashboard, client, staff):
    at = open_page(sign_in(dashboard(), staff), "views/enroll.py")
    at.text_input(key="enroll_alias").input("Robin")
    at.date_input(key="enroll_iop_date").set_value(dt.date.today() + dt.timedelta(days=60))
    button(at, "Enroll and get the activation code").click().run()
    assert not at.exception, at.exception
    page = texts(at)
    assert at.error and "iop_completed_on: must not be in the future" in page
    assert codes_shown(at) == []
    assert at.text_input(key="enroll_alias").value == "Robin"
    assert (await client.get("/v1/staff/participants", headers=staff.headers)).json()["items"] == []


@pytest.mark.clock_instants(*FEW)
async def test_the_participant_page_shows_profile_checkins_groups_and_alerts_with_outreach(dashboard, client, staff):
    sober_since = dt.date.today() - dt.timedelta(days=40)
    robin = await helpers.graduate(
        client, staff, alias="Robin", counselor_id=staff.id, sobriety_date=str(sober_since), email="robin@example.org"
    )
    await helpers.enroll(client, staff, alias="Alex")
    for answers in ({"mood": 4, "craving": 2}, {"mood": 2, "craving": 6, "need_support": "talk_soon"}):
        response = await client.post("/v1/checkins", json=helpers.checkin_body(**answers), headers=robin.headers)
        assert response.status_code == 201, response.text
    [alert] = (await client.get("/v1/staff/alerts", params={"participant_id": robin.id}, headers=staff.headers)).json()[
        "items"
    ]
    response = await client.post(
        f"/v1/staff/alerts/{alert['id']}/outreach",
        json={"channel": "call", "reached": True, "note": "Spoke on the phone, meeting Thursday"},
        headers=staff.headers,
    )
    assert response.status_code == 200, response.text
    group = await helpers.create_group(client, staff, name="Tuesday Evening Circle")
    assert (await client.post(f"/v1/groups/{group['id']}/membership", headers=robin.headers)).status_code == 201

    at = open_participant(sign_in(dashboard(), staff), robin.id)
    page = texts(at)
    assert "Robin" in [h.value for h in at.header]
    assert "Status Active" in page and "**Counselor:** Staff" in page
    days = (dt.datetime.now(ZoneInfo("America/Chicago")).date() - sober_since).days
    assert f"Days sober {days}" in page
    assert "robin@example.org" in page and "America/Chicago" in page

    listing, timeline, checkins, groups = frames(at)  # the open alert first, with its outreach
    assert set(listing["alias"]) == {"Robin", "Alex"}
    assert sorted(checkins["mood"]) == [2, 4] and sorted(checkins["craving"]) == [2, 6]
    assert "Talk soon" in set(checkins["need_support"])
    assert list(groups["name"]) == ["Tuesday Evening Circle"] and list(groups["status"]) == ["Member"]
    outreach = timeline[timeline["what"] == "Outreach"].iloc[0]
    assert outreach["channel"] == "Call" and outreach["reached"] == "Yes" and outreach["who"] == "Staff"
    assert outreach["note"] == "Spoke on the phone, meeting Thursday"
    assert "Opened" in set(timeline["what"])
    assert "Outreach: 1 attempt, 1 reached." in page
    assert len(at.get("vega_lite_chart")) == 2  # mood and craving over time


async def test_the_list_searches_and_filters_and_opening_someone_sets_the_link(dashboard, client, staff):
    await helpers.enroll(client, staff, alias="Robin", counselor_id=staff.id)
    await helpers.enroll(client, staff, alias="Alex")
    at = open_page(sign_in(dashboard(), staff), "views/participants.py")
    assert set(frames(at)[0]["alias"]) == {"Robin", "Alex"}
    at.text_input(key="people_search").input("rob").run()
    assert list(frames(at)[0]["alias"]) == ["Robin"]
    at.text_input(key="people_search").input("").run()
    at.selectbox(key="people_counselor").set_value("mine").run()
    assert list(frames(at)[0]["alias"]) == ["Robin"]
    at.selectbox(key="people_counselor").set_value("everyone").run()
    at.selectbox(key="people_status").set_value("deactivated").run()
    assert frames(at)[0].empty

    at.selectbox(key="people_status").set_value("any").run()
    assert at.selectbox(key="participant_pick").value is None and not at.header  # nobody opened yet
    listed = (await client.get("/v1/staff/participants", headers=staff.headers)).json()["items"]
    ids = {p["alias"]: p["id"] for p in listed}
    at.selectbox(key="participant_pick").set_value(ids["Robin"]).run()
    assert not at.exception, at.exception
    assert at.query_params["participant"] == ids["Robin"]
    assert "Robin" in [h.value for h in at.header]
    at.text_input(key="people_search").input("alex").run()  # filtered out of the list: still open
    assert list(frames(at)[0]["alias"]) == ["Alex"] and "Robin" in [h.value for h in at.header]


@pytest.mark.clock_instants(*FEW)
async def test_a_plan_override_saved_from_the_page(dashboard, client, staff):
    robin = await helpers.graduate(client, staff, alias="Robin", timezone="UTC")
    at = open_participant(sign_in(dashboard(), staff), robin.id)
    until = dt.datetime.now(dt.UTC).date() + dt.timedelta(days=14)
    at.selectbox(key=f"plan_cadence_{robin.id}").set_value("daily")
    at.date_input(key=f"plan_until_{robin.id}").set_value(until)
    button(at, "Save plan").click().run()
    assert not at.exception, at.exception
    plan = (await client.get(f"/v1/staff/participants/{robin.id}/plan", headers=staff.headers)).json()
    assert plan["cadence"] == "daily" and plan["ends_on"] == str(until)
    assert "staff override" in texts(at)

    at.selectbox(key=f"plan_cadence_{robin.id}").set_value("weekly")
    at.date_input(key=f"plan_until_{robin.id}").set_value(dt.datetime.now(dt.UTC).date() - dt.timedelta(days=3))
    button(at, "Save plan").click().run()
    assert at.error and "ends_on" in texts(at)  # the API's refusal, on the page

    at.selectbox(key=f"plan_cadence_{robin.id}").set_value("default")
    button(at, "Save plan").click().run()
    plan = (await client.get(f"/v1/staff/participants/{robin.id}/plan", headers=staff.headers)).json()
    assert plan["cadence"] == "default"


async def test_a_new_activation_code_from_the_page_is_shown_once_and_works(dashboard, client, staff):
    enrolled = await helpers.enroll(client, staff, alias="Robin")
    at = open_participant(sign_in(dashboard(), staff), enrolled["id"])
    assert codes_shown(at) == []
    button(at, "New activation code").click().run()
    assert not at.exception, at.exception
    [code] = codes_shown(at)
    assert code != enrolled["activation_code"] and "enter this code" in texts(at)
    at.run()
    assert codes_shown(at) == []
    assert (await client.post("/v1/auth/activate", json={"code": enrolled["activation_code"]})).status_code != 201
    assert (await client.post("/v1/auth/activate", json={"code": code})).status_code == 201


async def test_deactivating_asks_first_then_ends_access_and_can_be_undone(dashboard, client, staff):
    robin = await helpers.graduate(client, staff, alias="Robin")
    at = open_participant(sign_in(dashboard(), staff), robin.id)
    button(at, "Deactivate…").click().run()
    assert "Every session of theirs ends at once" in texts(at)
    button(at, "Cancel").click().run()
    assert (await client.get(f"/v1/staff/participants/{robin.id}", headers=staff.headers)).json()["status"] == "active"

    button(at, "Deactivate…").click().run()
    button(at, "Yes, deactivate").click().run()
    assert not at.exception, at.exception
    person = (await client.get(f"/v1/staff/participants/{robin.id}", headers=staff.headers)).json()
    assert person["status"] == "deactivated"
    assert (await client.get("/v1/me", headers=robin.headers)).status_code == 401
    assert "Status Deactivated" in texts(at)
    assert not [b for b in at.button if b.label == "New activation code"]

    button(at, "Reactivate").click().run()
    person = (await client.get(f"/v1/staff/participants/{robin.id}", headers=staff.headers)).json()
    assert person["status"] != "deactivated"


def in_order(at) -> list[tuple[str, str]]:
    """What the page shows, top to bottom: (kind of element, its text or label)."""
    shown = []
    for node in at.main:
        text = (
            getattr(node, "label", None) if type(node).__name__ in ("Expander", "Tab") else getattr(node, "value", None)
        )
        shown.append((type(node).__name__, str(text)))
    return shown


@pytest.mark.clock_instants(*ONCE)
async def test_an_opened_graduate_shows_open_alerts_first_with_a_flag_and_use_marked(dashboard, client, staff):
    robin = await helpers.graduate(client, staff, alias="Robin", counselor_id=staff.id)
    await client.post("/v1/checkins", json=helpers.checkin_body(craving=9), headers=robin.headers)
    [craving] = (await client.get("/v1/staff/alerts", headers=staff.headers)).json()["items"]
    resolved = await client.post(
        f"/v1/staff/alerts/{craving['id']}/resolve", json={"note": "Talked it through."}, headers=staff.headers
    )
    assert resolved.status_code == 200, resolved.text
    used = helpers.checkin_body(need_support="crisis_now", used=True)
    assert (await client.post("/v1/checkins", json=used, headers=robin.headers)).status_code == 201

    at = open_participant(sign_in(dashboard(), staff), robin.id)
    shown = in_order(at)
    header = shown.index(("Header", "Robin"))
    # Right under the name: how many alerts are open, and the worst one's color.
    assert shown[header + 1] == ("Markdown", f"⚠ **2 open alerts** {severity_badge('critical')}")
    expanders = [text for kind, text in shown if kind == "Expander"]
    assert [e.split(" · ")[:3] for e in expanders] == [
        [":red[● Critical]", "crisis", "open"],  # the severity in its color, as on the watchlist
        [":orange[● High]", "reported use", "open"],
        [":yellow[● Medium]", "craving", "resolved"],  # under "Past alerts", after the rest
    ]
    first_alert = shown.index(("Expander", expanders[0]))
    assert header < first_alert < shown.index(("Metric", "Active")) < shown.index(("Tab", "Check-ins"))
    assert shown[first_alert + 1] == ("Markdown", "**Why:** Asked for help now \\(in crisis\\)\\.")
    assert shown.index(("Tab", "Past alerts")) < shown.index(("Expander", expanders[2]))

    _, crisis, use, checkins, past = frames(at)  # the alerts' timelines, the check-ins between
    assert [list(t["what"])[:1] for t in (crisis, use, past)] == [["Opened"]] * 3
    # Use stands out; "no" is blank.
    assert dict(zip(checkins["need_support"], checkins["used"], strict=True)) == {"In crisis now": "● Used", "No": ""}
    assert f"{USED_BADGE} reported in 1 of them." in [m.value for m in at.markdown]


async def test_a_graduate_without_alerts_has_no_flag(dashboard, client, staff):
    robin = await helpers.graduate(client, staff, alias="Robin")
    at = open_participant(sign_in(dashboard(), staff), robin.id)
    assert "open alert" not in " ".join(m.value for m in at.markdown) and "No open alerts." in texts(at)
    assert not at.expander or all("resolved" in e.label for e in at.expander)


@pytest.mark.clock_instants(*ONCE)
async def test_blank_fields_show_blank_and_a_long_alias_in_full(dashboard, client, staff):
    longest = "Bartholomew-Maximilian Featherstonehaugh-Whitcombe"  # the most the API takes
    assert len(longest) == 50
    rejected = await client.post(
        "/v1/staff/participants",
        json={"alias": longest + "x", "timezone": "UTC", "iop_completed_on": str(dt.date.today())},
        headers=staff.headers,
    )
    assert rejected.status_code == 400
    # No email, phone, sobriety date or counselor; a check-in without a note; a group.
    who = await helpers.graduate(client, staff, alias=longest)
    assert (await client.post("/v1/checkins", json=helpers.checkin_body(), headers=who.headers)).status_code == 201
    group = await helpers.create_group(client, staff, name="Tuesday Evening Circle")
    assert (await client.post(f"/v1/groups/{group['id']}/membership", headers=who.headers)).status_code == 201

    at = open_participant(sign_in(dashboard(), staff), who.id)
    assert not at.exception, at.exception
    page = texts(at)
    assert "None" not in page and "nan" not in page.split() and "NaT" not in page
    assert "**Counselor:** none" in page and "contact: no contact details" in page and "Days sober –" in page
    for frame in frames(at):
        for column in frame.columns:
            assert frame[column].notna().all(), column  # a missing value shows as "None"
            assert not {"None", "nan", "NaT"} & {str(v) for v in frame[column]}, column
    listing = frames(at)[0]
    assert list(listing["alias"]) == [longest] and list(listing["email"]) == [""]
    assert at.header[0].value == plain(longest) and at.selectbox(key="participant_pick").value == who.id
    # Wide enough for the whole name, in every table that shows one.
    widths = json.loads(at.dataframe[0].proto.columns)
    assert widths["alias"]["width"] == "large" and widths["counselor"]["width"] == "large"
