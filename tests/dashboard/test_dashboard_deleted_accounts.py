"""Deleted accounts in the dashboard: a graduate who deleted their account while alerts were
open stays on the watchlist (what was kept, nothing more) until acknowledged; an admin deletes
a graduate who cannot do it in the app, after typing their alias. Streamlit's AppTest against
the real API; what the API did is checked through it and the rows."""

from __future__ import annotations

import uuid

import pandas as pd

from tests import helpers
from tests.dashboard.apptest import open_page, sign_in, texts


async def crisis(client, staff, alias: str) -> helpers.Actor:
    """A graduate on the staff member's caseload whose check-in said "in crisis now"."""
    who = await helpers.graduate(client, staff, alias=alias, counselor_id=staff.id)
    response = await client.post(
        "/v1/checkins", json=helpers.checkin_body(need_support="crisis_now"), headers=who.headers
    )
    assert response.status_code == 201, response.text
    return who


def open_participant(at, person_id: str):
    at.query_params["participant"] = person_id
    return open_page(at, "views/participants.py")


def delete_section(at):
    return [e for e in at.expander if e.label == "Delete this graduate's account"]


async def test_a_deleted_account_with_open_alerts_shows_what_was_kept_until_acknowledged(
    dashboard, client, conn, staff
):
    robin = await crisis(client, staff, "Robin")
    await crisis(client, staff, "Kim")
    deleted = await client.delete("/v1/me", headers=robin.headers)
    assert deleted.status_code == 200 and deleted.json()["care_record_kept"], deleted.text

    at = sign_in(dashboard(), staff)
    table = at.dataframe[0].value
    assert sorted(table["alias"]) == ["Kim", "Robin"]  # most severe first: both critical
    row = table[table["alias"] == "Robin"].iloc[0]
    assert row["note"].startswith("Account deleted ") and row["top_severity"] == "● Critical"
    # Nothing is worked out for a deleted account: empty, not "no" or 0.
    assert pd.isna(row["overdue"]) and pd.isna(row["adherence_14d"]) and pd.isna(row["consecutive_misses"])
    kim = table[table["alias"] == "Kim"].iloc[0]
    assert kim["note"] == "" and kim["overdue"] in (True, False)

    at.selectbox(key="watch_person").set_value(robin.id).run()
    assert not at.exception, at.exception
    page = texts(at)
    assert "Robin's account was deleted" in page and ":red-badge[● Critical] In crisis now" in page
    assert not [b for b in at.button if b.key == f"watch_open_{robin.id}"]  # no participant page any more
    assert not [b for b in at.button if b.label in ("Log outreach", "Resolve")]

    at.button(key=f"ack_deleted_{robin.id}").click().run()
    assert not at.exception, at.exception
    row = await conn.fetchrow(
        "select acknowledged_at, acknowledged_by from deleted_participants where person_id = $1", uuid.UUID(robin.id)
    )
    assert row["acknowledged_at"] is not None and str(row["acknowledged_by"]) == staff.id
    assert list(at.dataframe[0].value["alias"]) == ["Kim"]


async def test_an_admin_deletes_a_deactivated_graduate_after_typing_their_alias(dashboard, client, conn, staff, admin):
    robin = await helpers.graduate(client, staff, alias="Robin")
    await helpers.enroll(client, staff, alias="Alex")
    response = await client.post(f"/v1/staff/participants/{robin.id}/deactivate", headers=staff.headers)
    assert response.status_code in (200, 201), response.text

    at = open_participant(sign_in(dashboard(), admin), robin.id)
    [section] = delete_section(at)
    written = "\n".join(str(m.value) for m in section.markdown)
    assert "goes for good" in written and "stays on the watchlist until someone acknowledges it" in written
    assert at.button(key=f"delete_{robin.id}_submit").proto.type != "primary"

    at.text_input(key=f"delete_alias_{robin.id}").input("robin")  # not exactly their alias
    at.button(key=f"delete_{robin.id}_submit").click().run()
    assert not at.exception, at.exception
    assert any("That is not their alias. Nothing was deleted." in e.value for e in at.error)
    assert (await client.get(f"/v1/staff/participants/{robin.id}", headers=admin.headers)).status_code == 200

    at.text_input(key=f"delete_alias_{robin.id}").input("Robin")
    at.button(key=f"delete_{robin.id}_submit").click().run()
    assert not at.exception, at.exception
    assert "Robin's account is deleted, with all their data. They had no open alerts" in texts(at)
    assert (await client.get(f"/v1/staff/participants/{robin.id}", headers=admin.headers)).status_code == 404
    assert list(at.dataframe[0].value["alias"]) == ["Alex"]  # the kept list was read again
    assert not at.header and "participant" not in at.query_params  # nobody open
    audit = await conn.fetchrow("select actor_id, details from audit_log where action = 'participant.delete'")
    assert str(audit["actor_id"]) == admin.id


async def test_deleting_someone_with_open_alerts_says_a_care_record_stays(dashboard, client, conn, staff, admin):
    robin = await crisis(client, staff, "Robin")
    at = open_participant(sign_in(dashboard(), admin), robin.id)
    at.text_input(key=f"delete_alias_{robin.id}").input("Robin")
    at.button(key=f"delete_{robin.id}_submit").click().run()
    assert not at.exception, at.exception
    assert "a record of them stays on the watchlist until someone acknowledges it" in texts(at)
    kept = await conn.fetchrow("select alias, acknowledged_at from deleted_participants")
    assert (kept["alias"], kept["acknowledged_at"]) == ("Robin", None)


async def test_staff_do_not_see_the_deletion_section(dashboard, client, staff):
    robin = await helpers.graduate(client, staff, alias="Robin")
    at = open_participant(sign_in(dashboard(), staff), robin.id)
    assert "Robin" in [h.value for h in at.header]
    assert not delete_section(at)
    assert not [t for t in at.text_input if t.key == f"delete_alias_{robin.id}"]
