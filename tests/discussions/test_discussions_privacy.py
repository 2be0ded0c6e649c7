"""A graduate's discussion data: in their export, gone with their account (others' replies
stay under a placeholder), and the new-posts notice that is off until switched on."""

from __future__ import annotations

from tests.discussions.steps import post


async def test_the_export_holds_my_posts_reactions_reports_and_blocks(client, circle):
    mine = (await post(client, circle, "ana", "My words")).json()
    theirs = (await post(client, circle, "ben", "Spam spam")).json()
    ana = circle["ana"].headers
    await client.put(f"/v1/posts/{theirs['id']}/reaction", json={"kind": "support"}, headers=ana)
    await client.post(f"/v1/posts/{theirs['id']}/report", json={"reason": "spam", "note": "ads"}, headers=ana)
    await client.post("/v1/me/blocks", json={"person_id": circle["ben"].id}, headers=ana)
    data = (await client.get("/v1/me/export", headers=ana)).json()["data"]
    assert [p["body"] for p in data["posts"]] == ["My words"] and data["posts"][0]["id"] == mine["id"]
    assert [r["post_id"] for r in data["reactions"]] == [theirs["id"]]
    assert [(r["post_id"], r["reason"], r["note"]) for r in data["reports"]] == [(theirs["id"], "spam", "ads")]
    assert [b["person_id"] for b in data["blocks"]] == [circle["ben"].id]


async def test_deleting_my_account_removes_my_words_and_keeps_others_replies(client, circle, conn):
    kept = (await post(client, circle, "ana", "Asking for help")).json()
    alone = (await post(client, circle, "ana", "Nobody answered this")).json()
    await post(client, circle, "ben", "I hear you", reply_to=kept["id"])
    assert (await client.delete("/v1/me", headers=circle["ana"].headers)).status_code == 200
    assert await conn.fetchval("select count(*) from posts where body like 'Asking%' or body like 'Nobody%'") == 0
    items = (await client.get(f"/v1/groups/{circle['group']['id']}/posts", headers=circle["ben"].headers)).json()
    [placeholder] = items["items"]
    assert placeholder["id"] == kept["id"] and placeholder["removed"] is True
    assert placeholder["author"] is None and placeholder["body"] is None and placeholder["reply_count"] == 1
    assert alone["id"] not in [i["id"] for i in items["items"]]


async def test_new_posts_are_announced_only_to_those_who_asked_and_once_an_hour(client, circle, conn):
    prefs = await client.get("/v1/me/notification-preferences", headers=circle["ben"].headers)
    assert prefs.json()["kinds"]["group_post"] is False and prefs.json()["kinds"]["group_reply"] is True
    switched = await client.put(
        "/v1/me/notification-preferences", json={"kinds": {"group_post": True}}, headers=circle["ben"].headers
    )
    assert switched.json()["kinds"]["group_post"] is True
    await post(client, circle, "ana", "First news")
    await post(client, circle, "ana", "Second news")
    rows = await conn.fetch(
        "select person_id::text, push_title, push_body, title from notifications where kind = 'group_post'"
    )
    # The clock may cross an hour between the two posts: then a second notice is right.
    assert [r["person_id"] for r in rows][:1] == [circle["ben"].id] and len(rows) in (1, 2)
    assert {r["person_id"] for r in rows} == {circle["ben"].id}
    name = circle["group"]["name"]
    assert all(name not in r["push_title"] + r["push_body"] and "news" not in r["push_body"] for r in rows)
    assert rows[0]["push_title"] == "New posts in one of your groups"
