"""The dashboard's Audit log page (admins): names beside ids, the filter by a person's name,
a read of a list as one entry ("12 graduates", with their names and ids), deleted people as
such, and the CSV as inert as everywhere. Streamlit's AppTest against the real API."""

from __future__ import annotations

from tests import helpers
from tests.dashboard.apptest import capture_downloads, downloads, open_page, sign_in, texts


def table(at):
    return at.dataframe[0].value


async def test_a_list_read_is_one_entry_naming_its_graduates_beside_their_ids(dashboard, client, staff, admin):
    enrolled = {(await helpers.enroll(client, staff, alias=f"Grad {i:02}"))["id"]: f"Grad {i:02}" for i in range(12)}
    await client.get("/v1/staff/participants", params={"limit": 200}, headers=staff.headers)
    one = next(iter(enrolled))
    await client.get(f"/v1/staff/participants/{one}", headers=staff.headers)

    at = open_page(sign_in(dashboard(), admin), "views/audit.py")
    rows = table(at)
    [listed] = rows[rows["action"] == "participant.list"].to_dict("records")
    assert listed["graduates"] == "12 graduates" and listed["actor"].startswith("Staff (")
    assert sorted(listed["names"].split(", ")) == sorted(enrolled.values())
    assert sorted(listed["participant_ids"].split(", ")) == sorted(enrolled)
    [read] = rows[rows["action"] == "participant.read"].to_dict("records")
    assert (read["graduates"], read["names"], read["participant_ids"]) == ("Grad 00", "Grad 00", one)
    assert len(rows) == 12 + 2  # each enrolment, the list read once, the one read

    at.text_input(key="audit_person").input("grad 00").run()  # any case
    assert not at.exception, at.exception
    assert sorted(table(at)["action"]) == ["participant.create", "participant.list", "participant.read"]
    at.text_input(key="audit_person").input("").run()
    at.text_input(key="audit_participant").input(one).run()
    assert sorted(table(at)["action"]) == ["participant.create", "participant.list", "participant.read"]


async def test_the_name_filter_takes_what_is_typed_literally(dashboard, client, staff, admin):
    await helpers.enroll(client, staff, alias="100% Jo")
    await helpers.enroll(client, staff, alias="Jo")
    at = open_page(sign_in(dashboard(), admin), "views/audit.py")
    at.text_input(key="audit_person").input("%").run()
    assert not at.exception, at.exception
    assert list(table(at)["names"]) == ["100% Jo"]
    at.text_input(key="audit_person").input("nobody like this").run()
    assert table(at).empty and "0 entries" in texts(at)


async def test_deleted_people_show_as_deleted_and_the_csv_stays_inert(dashboard, client, staff, admin, monkeypatch):
    offered = capture_downloads(monkeypatch)
    robin = await helpers.graduate(client, staff, alias="=HYPERLINK(1)")
    await helpers.enroll(client, staff, alias="Alex")
    await client.get("/v1/staff/participants", headers=staff.headers)
    at = open_page(sign_in(dashboard(), admin), "views/audit.py")
    [listed] = table(at)[table(at)["action"] == "participant.list"].to_dict("records")
    assert sorted(listed["names"].split(", ")) == ["=HYPERLINK(1)", "Alex"]  # a table shows it as text

    rows = downloads(at, offered)["audit-log.csv"]
    header, body = rows[0], rows[1:]
    names = [r[header.index("names")] for r in body if r[header.index("action")] == "participant.create"]
    assert "'=HYPERLINK(1)" in names  # a spreadsheet does not run it

    assert (await client.delete("/v1/me", headers=robin.headers)).status_code == 200
    at.run()
    rows = table(at)
    [listed] = rows[rows["action"] == "participant.list"].to_dict("records")
    assert sorted(listed["names"].split(", ")) == ["(deleted)", "Alex"] and robin.id in listed["participant_ids"]
    [deleted] = rows[rows["action"] == "participant.delete"].to_dict("records")
    assert (deleted["actor"], deleted["actor_id"], deleted["graduates"]) == (
        "(deleted) account",
        robin.id,
        "(deleted) graduate",
    )
    assert "None" not in set(rows["client_ip"]) | set(rows["details"]) | set(rows["names"])
