"""Time zones in the dashboard: every picker offers what the API accepts (GET /v1/timezones),
and a stored zone that cannot be worked with (bad data, planted past the API and the
database's trigger) is shown as not recognized and chosen anew, never a crash. Streamlit's
AppTest against the real API."""

from __future__ import annotations

import uuid

from tests import helpers
from tests.dashboard.apptest import open_page, sign_in, texts

BAD = helpers.UNKNOWN_ZONE


async def accepted_zones(client) -> list[str]:
    response = await client.get("/v1/timezones")
    assert response.status_code == 200, response.text
    return response.json()["items"]


def assert_offers_accepted_zones(options: list[str], accepted: list[str]) -> None:
    assert options == accepted
    assert "America/Chicago" in options and "UTC" in options
    assert not {"localtime", "Factory", "posixrules", "US/Eastern"} & set(options)


async def test_every_zone_picker_offers_only_the_zones_the_api_accepts(dashboard, client, admin):
    accepted = await accepted_zones(client)
    at = open_page(sign_in(dashboard(), admin), "views/enroll.py")
    assert_offers_accepted_zones(at.selectbox(key="enroll_timezone").options, accepted)
    assert at.selectbox(key="enroll_timezone").value == "America/Chicago"  # the admin's own is UTC: not offered first
    open_page(at, "views/accounts.py")
    assert_offers_accepted_zones(at.selectbox(key="acct_timezone").options, accepted)
    assert at.selectbox(key="acct_timezone").value == "UTC"
    open_page(at, "views/groups.py")
    assert_offers_accepted_zones(at.selectbox(key="new_timezone").options, accepted)


async def test_a_graduate_whose_stored_zone_is_bad_still_opens_and_gets_one_chosen(dashboard, client, conn, staff):
    robin = await helpers.graduate(client, staff, alias="Robin")
    response = await client.post("/v1/checkins", json=helpers.checkin_body(mood=4), headers=robin.headers)
    assert response.status_code == 201, response.text
    await helpers.plant_time_zone(conn, "people", robin.id, BAD)
    at = sign_in(dashboard(), staff)
    at.query_params["participant"] = robin.id
    open_page(at, "views/participants.py")
    assert not at.exception, at.exception
    assert "Robin" in [h.value for h in at.header]
    page = texts(at)
    assert "(not recognized: times here are in UTC)" in page
    assert "is not recognized: no check-in slots, missed check-ins or reminders are worked out for them" in page
    assert at.selectbox(key=f"zone_{robin.id}").value is None  # nothing chosen for them
    assert len(at.dataframe) >= 2  # the list and their check-ins

    at.button(key=f"zone_submit_{robin.id}").click().run()  # not chosen: not sent
    assert "Choose their time zone." in [e.value for e in at.error]
    person = (await client.get(f"/v1/staff/participants/{robin.id}", headers=staff.headers)).json()
    assert person["timezone"] == BAD

    at.selectbox(key=f"zone_{robin.id}").set_value("America/Denver")
    at.button(key=f"zone_submit_{robin.id}").click().run()
    assert not at.exception, at.exception
    person = (await client.get(f"/v1/staff/participants/{robin.id}", headers=staff.headers)).json()
    assert person["timezone"] == "America/Denver"
    assert "Time zone saved: America/Denver." in texts(at) and "not recognized" not in texts(at)


async def test_a_group_whose_stored_zone_is_bad_asks_for_one_before_saving(dashboard, client, conn, staff, graduate):
    group = await helpers.create_group(client, staff, name="Lost Circle")
    response = await client.post(f"/v1/groups/{group['id']}/membership", headers=graduate.headers)
    assert response.status_code == 201, response.text
    await helpers.plant_time_zone(conn, "groups", group["id"], BAD)
    at = open_page(sign_in(dashboard(), staff), "views/groups.py")
    at.selectbox(key="group_pick").set_value(group["id"])
    at.session_state["group_section"] = "Details"
    at.run()
    assert not at.exception, at.exception
    assert f"The stored time zone “{BAD}” is not recognized. Choose one." in texts(at)
    assert at.selectbox(key=f"edit_{group['id']}_timezone").value is None

    at.button(key=f"edit_{group['id']}_submit").click().run()
    assert "Choose the group's time zone." in [e.value for e in at.error]
    assert await conn.fetchval("select timezone from groups where id = $1", uuid.UUID(group["id"])) == BAD

    at.session_state["group_section"] = "Sessions"
    at.run()  # opens, and says why there are none
    assert not at.exception, at.exception
    assert "is not recognized: fix it under Details." in texts(at)

    at.session_state["group_section"] = "Details"
    at.run()
    at.selectbox(key=f"edit_{group['id']}_timezone").set_value("America/New_York")
    at.button(key=f"edit_{group['id']}_submit").click().run()
    assert not at.exception, at.exception
    assert (
        await conn.fetchval("select timezone from groups where id = $1", uuid.UUID(group["id"])) == "America/New_York"
    )


async def test_a_reader_whose_own_zone_is_bad_sees_every_page_in_utc(dashboard, client, conn, admin):
    robin = await helpers.graduate(client, admin, alias="Robin", counselor_id=admin.id)
    response = await client.post(
        "/v1/checkins", json=helpers.checkin_body(need_support="crisis_now"), headers=robin.headers
    )
    assert response.status_code == 201, response.text
    await helpers.plant_time_zone(conn, "people", admin.id, BAD)
    at = sign_in(dashboard(), admin)
    sidebar = " ".join(str(c.value) for c in at.sidebar.caption)
    assert "is not recognized: times are shown in UTC" in sidebar
    at.selectbox(key="watch_person").set_value(robin.id).run()
    assert "opened" in texts(at)
    for page in ("views/overview.py", "views/participants.py", "views/enroll.py", "views/groups.py",
                 "views/messages.py", "views/accounts.py", "views/audit.py"):  # fmt: skip
        open_page(at, page)
        assert not at.error, (page, [e.value for e in at.error])
    open_page(at, "views/enroll.py")
    assert at.selectbox(key="enroll_timezone").value == "America/Chicago"
