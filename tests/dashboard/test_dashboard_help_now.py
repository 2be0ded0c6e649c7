"""Help now on the dashboard: a graduate's calls for help on their page (with who answered)
and on the watchlist, the timeline's entry, and a peer's words shown as text. AppTest against
the real API."""

from __future__ import annotations

import pytest

from tests import helpers
from tests.clock import ONCE
from tests.dashboard.apptest import open_page, sign_in, texts

MARKUP = "<b>please</b> **call** [me](javascript:alert(1))"


@pytest.fixture
async def asked(client, staff):
    """Robin (who checked in "talk soon": an open alert) asked her circle, Ben and Dee, twice;
    Ben is reaching out."""
    group = await helpers.create_group(client, staff)
    people = {}
    for alias in ("Robin", "Ben", "Dee"):
        people[alias] = who = await helpers.graduate(client, staff, alias=alias, counselor_id=staff.id)
        assert (await client.post(f"/v1/groups/{group['id']}/membership", headers=who.headers)).status_code == 201
    robin = people["Robin"]
    checkin = await client.post(
        "/v1/checkins", json=helpers.checkin_body(need_support="talk_soon"), headers=robin.headers
    )
    assert checkin.status_code == 201, checkin.text
    for member in (people["Ben"], people["Dee"]):
        invited = await client.post("/v1/me/circle/invitations", json={"person_id": member.id}, headers=robin.headers)
        accepted = await client.post(f"/v1/me/circle/invitations/{invited.json()['id']}/accept", headers=member.headers)
        assert accepted.status_code == 200, accepted.text
    first = await client.post("/v1/me/help-now", json={"message": MARKUP}, headers=robin.headers)
    assert first.status_code == 201, first.text
    answer = await client.post(
        f"/v1/help-requests/{first.json()['id']}/respond",
        json={"response": "reaching_out"},
        headers=people["Ben"].headers,
    )
    assert answer.status_code == 200, answer.text
    assert (await client.post("/v1/me/help-now", json={}, headers=robin.headers)).status_code == 201
    return people


@pytest.mark.clock_instants(*ONCE)
async def test_the_participant_page_lists_calls_for_help_as_text_with_answers(dashboard, staff, asked):
    at = sign_in(dashboard(), staff)
    at.query_params["participant"] = asked["Robin"].id
    at = open_page(at, "views/participants.py")
    assert not at.exception
    [calls] = [d.value for d in at.dataframe if "message" in d.value.columns]
    assert list(calls["message"]) == ["", MARKUP]  # newest first, the words as typed
    assert list(calls["reached"]) == [2, 2]
    assert calls["answers"].iloc[1].startswith("Ben: reaching out (")
    assert "2 calls for help" in texts(at)
    timelines = [d.value for d in at.dataframe if "what" in d.value.columns]
    assert any("Asked their circle for help" in set(t["what"]) for t in timelines)
    # The second call within 24 hours: a medium help-now alert, open on the page.
    assert any("help now" in e.label for e in at.expander)
    assert "<b>" not in "".join(m.value for m in at.markdown)


@pytest.mark.clock_instants(*ONCE)
async def test_the_watchlist_shows_when_they_asked_their_circle(dashboard, staff, asked):
    at = sign_in(dashboard(), staff)
    table = at.dataframe[0].value
    row = table[table["alias"] == "Robin"].iloc[0]
    assert row["last_help_now_at"].startswith(
        ("Dec", "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov")
    )
    others = table[table["alias"] != "Robin"]
    assert (others["last_help_now_at"] == "").all()  # blank, never "None"
