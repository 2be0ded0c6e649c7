"""Group discussions through the API: who reads and writes, replies, reactions, hides,
reports, blocks, limits and the crisis watch (PRODUCT.md section 10)."""

from __future__ import annotations

import asyncio

from api.discussions.routes import REACTIONS_PER_MINUTE
from tests import helpers
from tests.discussions.steps import post
from tests.helpers import assert_problem


async def test_members_post_and_read_newest_first_and_outsiders_get_404(client, circle):
    first = await post(client, circle, "ana", "Day 30 today. Grateful for this group.")
    assert first.status_code == 201, first.text
    second = await post(client, circle, "ben", "Congrats Ana!")
    assert second.status_code == 201
    listing = await client.get(f"/v1/groups/{circle['group']['id']}/posts", headers=circle["ana"].headers)
    assert listing.status_code == 200, listing.text
    items = listing.json()["items"]
    assert [i["body"] for i in items] == ["Congrats Ana!", "Day 30 today. Grateful for this group."]
    assert items[1]["author"] == {"id": circle["ana"].id, "alias": "Ana", "role": "participant"}
    assert first.json()["crisis_resources"] is None
    for method, path in (
        ("get", f"/v1/groups/{circle['group']['id']}/posts"),
        ("get", f"/v1/posts/{first.json()['id']}/replies"),
    ):
        assert_problem(await getattr(client, method)(path, headers=circle["outsider"].headers), 404, "not_found")
    assert_problem(await post(client, circle, "outsider", "hello?"), 404, "not_found")


async def test_replies_are_one_level_deep_and_tell_the_author(client, circle, conn):
    top = (await post(client, circle, "ana", "Rough week.")).json()
    reply = await post(client, circle, "ben", "Here for you.", reply_to=top["id"])
    assert reply.status_code == 201, reply.text
    deeper = await post(client, circle, "facilitator", "Us too.", reply_to=reply.json()["id"])
    assert deeper.json()["reply_to"] == top["id"]
    assert deeper.json()["author"]["role"] == "facilitator"
    replies = await client.get(f"/v1/posts/{top['id']}/replies", headers=circle["ana"].headers)
    assert [r["body"] for r in replies.json()["items"]] == ["Here for you.", "Us too."]
    listing = await client.get(f"/v1/groups/{circle['group']['id']}/posts", headers=circle["ana"].headers)
    assert listing.json()["items"][0]["reply_count"] == 2
    told = await conn.fetch(
        "select person_id::text, push_title, push_body from notifications where kind = 'group_reply' order by id"
    )
    # Ana's post got two replies; Ben's reply got one. Nothing of the words on a lock screen.
    assert [r["person_id"] for r in told] == [circle["ana"].id, *sorted([circle["ana"].id, circle["ben"].id])]
    assert {(r["push_title"], r["push_body"]) for r in told} == {("Someone replied to you", "Open the app to read it.")}


async def test_a_crisis_post_is_posted_with_resources_and_flagged(client, circle):
    answer = await post(client, circle, "ana", "I want to die tonight")
    assert answer.status_code == 201, answer.text
    assert answer.json()["crisis_resources"][0]["phone"] == "988"
    queue = await client.get("/v1/staff/moderation", headers=circle["staff"].headers)
    assert queue.status_code == 200, queue.text
    [item] = queue.json()["items"]
    assert item["kind"] == "crisis" and item["post"]["body"] == "I want to die tonight"
    mine = await client.get("/v1/staff/moderation", headers=circle["facilitator"].headers)
    assert [i["id"] for i in mine.json()["items"]] == [item["id"]]
    listing = await client.get(f"/v1/groups/{circle['group']['id']}/posts", headers=circle["ben"].headers)
    assert listing.json()["items"][0]["body"] == "I want to die tonight"


async def test_hide_tells_the_author_and_members_see_a_placeholder(client, circle, conn):
    top = (await post(client, circle, "ana", "buy my stuff at example.com")).json()
    report = await client.post(f"/v1/posts/{top['id']}/report", json={"reason": "spam"}, headers=circle["ben"].headers)
    assert report.status_code == 201, report.text
    assert_problem(
        await client.post(f"/v1/posts/{top['id']}/hide", json={"reason": "x"}, headers=circle["ben"].headers), 403
    )
    hidden = await client.post(
        f"/v1/posts/{top['id']}/hide",
        json={"reason": "Selling is not allowed here."},
        headers=circle["facilitator"].headers,
    )
    assert hidden.status_code == 200, hidden.text
    seen = (await client.get(f"/v1/groups/{circle['group']['id']}/posts", headers=circle["ben"].headers)).json()
    assert seen["items"][0]["hidden"] is True and seen["items"][0]["body"] is None
    own = (await client.get(f"/v1/groups/{circle['group']['id']}/posts", headers=circle["ana"].headers)).json()
    assert own["items"][0]["body"] == "buy my stuff at example.com"
    inbox = await conn.fetchval(
        "select body from notifications where person_id = $1 and title like 'A moderator hid%'", circle["ana"].id
    )
    assert "Selling is not allowed here." in inbox
    queue = await client.get("/v1/staff/moderation", headers=circle["staff"].headers)
    assert queue.json()["items"] == []


async def test_blocked_peers_disappear_and_cannot_reply(client, circle):
    top = (await post(client, circle, "ana", "Anyone up for coffee?")).json()
    await post(client, circle, "ben", "Me!")
    blocked = await client.post("/v1/me/blocks", json={"person_id": circle["ben"].id}, headers=circle["ana"].headers)
    assert blocked.status_code == 201, blocked.text
    seen = (await client.get(f"/v1/groups/{circle['group']['id']}/posts", headers=circle["ana"].headers)).json()
    assert [i["body"] for i in seen["items"]] == ["Anyone up for coffee?"]
    assert_problem(await post(client, circle, "ben", "hey", reply_to=top["id"]), 403, "cannot_reply")
    assert_problem(
        await client.post("/v1/me/blocks", json={"person_id": circle["outsider"].id}, headers=circle["ana"].headers),
        404,
    )


async def test_limits_refuse_duplicates_and_floods(client, circle):
    assert (await post(client, circle, "ana", "Same words")).status_code == 201
    assert_problem(await post(client, circle, "ana", "  same   WORDS "), 409, "duplicate_post")
    # Not only the latest: something else in between does not make the same words new.
    assert (await post(client, circle, "ana", "Other words")).status_code == 201
    assert_problem(await post(client, circle, "ana", "Same words"), 409, "duplicate_post")
    # The same words in another place (a reply) are another post.
    top = (await post(client, circle, "ana", "Anyone up?")).json()
    for place in ({"reply_to": top["id"]}, {}):
        assert (await post(client, circle, "facilitator", "Congrats!", **place)).status_code == 201
    answers = await asyncio.gather(*(post(client, circle, "ben", f"note {i}") for i in range(25)))
    assert sorted(a.status_code for a in answers).count(201) == 20
    assert_problem([a for a in answers if a.status_code != 201][0], 429, "post_rate_limited")


async def test_reactions_count_once_per_person(client, circle):
    top = (await post(client, circle, "ana", "One year!")).json()
    for _ in range(2):
        answer = await client.put(
            f"/v1/posts/{top['id']}/reaction", json={"kind": "support"}, headers=circle["ben"].headers
        )
        assert answer.status_code == 200, answer.text
    assert answer.json()["reactions"] == {"support": 1}
    undone = await client.delete(f"/v1/posts/{top['id']}/reaction", headers=circle["ben"].headers)
    assert undone.json() == {"post_id": top["id"], "reactions": {"support": 0}, "my_reaction": False}


async def test_reactions_sent_at_once_count_each_person_once_and_outsiders_get_404(client, circle):
    top = (await post(client, circle, "ana", "Ninety days")).json()
    url = f"/v1/posts/{top['id']}/reaction"
    members = [circle["ana"].headers, circle["ben"].headers] * 5
    answers = await asyncio.gather(*(client.put(url, json={"kind": "support"}, headers=h) for h in members))
    assert [a.status_code for a in answers] == [200] * 10, [a.text for a in answers if a.status_code != 200]
    assert max(a.json()["reactions"]["support"] for a in answers) == 2
    outsider = await client.put(url, json={"kind": "support"}, headers=circle["outsider"].headers)
    assert_problem(outsider, 404)
    undone = await asyncio.gather(*(client.delete(url, headers=h) for h in members))
    assert [a.status_code for a in undone] == [200] * 10
    seen = (await client.get(f"/v1/groups/{circle['group']['id']}/posts", headers=circle["ana"].headers)).json()
    assert seen["items"][0]["reactions"] == {"support": 0}


async def test_reactions_past_the_limit_are_refused_for_that_person_only(client, circle):
    """Toggling a reaction over and over floods the group's live sockets: 60 changes a minute a
    person, PUT and DELETE counted together. The next is a 429 that says which limit, with
    Retry-After, and changes nothing; another member reacts as before."""
    top = (await post(client, circle, "ana", "Thirty days today")).json()
    url = f"/v1/posts/{top['id']}/reaction"
    ben = circle["ben"].headers
    for i in range(REACTIONS_PER_MINUTE):
        on = i % 2 == 0
        answer = await (
            client.put(url, json={"kind": "support"}, headers=ben) if on else client.delete(url, headers=ben)
        )
        assert (answer.status_code, answer.json()["my_reaction"]) == (200, on), (i, answer.text)
    refused = await client.put(url, json={"kind": "support"}, headers=ben)
    assert_problem(refused, 429, "reaction_rate_limited")
    assert "reactions in a minute" in refused.json()["detail"] and int(refused.headers["Retry-After"]) > 0
    assert_problem(await client.delete(url, headers=ben), 429, "reaction_rate_limited")
    seen = (await client.get(f"/v1/groups/{circle['group']['id']}/posts", headers=ben)).json()["items"][0]
    assert seen["reactions"] == {"support": 0}  # the refused PUT stored nothing
    answer = await client.put(url, json={"kind": "support"}, headers=circle["ana"].headers)
    assert answer.status_code == 200 and answer.json()["reactions"] == {"support": 1}


async def test_deleting_a_post_keeps_others_replies_under_a_placeholder(client, circle):
    top = (await post(client, circle, "ana", "Question about sponsors")).json()
    await post(client, circle, "ben", "Ask away", reply_to=top["id"])
    assert_problem(await client.delete(f"/v1/posts/{top['id']}", headers=circle["ben"].headers), 403)
    assert (await client.delete(f"/v1/posts/{top['id']}", headers=circle["ana"].headers)).status_code == 204
    seen = (await client.get(f"/v1/groups/{circle['group']['id']}/posts", headers=circle["ben"].headers)).json()
    assert seen["items"][0] | {"created_at": None} == seen["items"][0] | {
        "created_at": None,
        "removed": True,
        "body": None,
        "author": None,
    }


async def test_only_members_block_members_and_only_members_are_blocked(client, staff):
    """A place on the waitlist is not a seat in the discussion: who waits cannot block the
    members (nor learn their alias by trying), nor be blocked by them."""
    group = await helpers.create_group(client, staff, capacity=1)
    member = await helpers.graduate(client, staff, alias="Seated")
    waiting = await helpers.graduate(client, staff, alias="Waiting")
    joined = [
        (await client.post(f"/v1/groups/{group['id']}/membership", headers=p.headers)).json() for p in (member, waiting)
    ]
    assert [j["status"] for j in joined] == ["member", "waitlisted"]
    for who, whom in ((waiting, member), (member, waiting)):
        assert_problem(await client.post("/v1/me/blocks", json={"person_id": whom.id}, headers=who.headers), 404)
