"""Discussion requests that meet in flight (a real server, both in flight at once): whichever
commits first, the other gets a 4xx that says why, never a 500 or a half-done change. The
post's row lock (db/discussions.py, `post_facts(lock=True)`) orders a hide and a delete; a
block that lands while its blocker replies makes that reply a 404, as it would be after."""

import asyncio

from tests.discussions.steps import two_members

ROUNDS = 8


async def test_a_hide_and_the_authors_delete_at_once(live, conn):
    staff, group_id, ana, _ = await two_members(live, conn)
    outcomes, expected_told = set(), 0
    for i in range(ROUNDS):
        posted = await live.post(f"/v1/groups/{group_id}/posts", json={"body": f"post {i}"}, headers=ana.headers)
        post_id = posted.json()["id"]
        hide, delete = await asyncio.gather(
            live.post(f"/v1/posts/{post_id}/hide", json={"reason": "Off topic"}, headers=staff.headers),
            live.delete(f"/v1/posts/{post_id}", headers=ana.headers),
        )
        assert delete.status_code == 204, delete.text
        assert hide.status_code in (200, 409), hide.text
        outcomes.add(hide.status_code)
        row = await conn.fetchrow("select removed_at, hidden_at from posts where id = $1", post_id)
        assert row["removed_at"] is not None and (row["hidden_at"] is not None) == (hide.status_code == 200)
        # The author hears of a hide only if it came before their delete.
        expected_told += hide.status_code == 200
        told = await conn.fetchval(
            "select count(*) from notifications where person_id = $1 and title = 'A moderator hid one of your posts'",
            ana.id,
        )
        assert told == expected_told
    print(f"hide vs delete, {ROUNDS} rounds: hide answered {sorted(outcomes)}")


async def test_a_block_that_lands_while_the_blocker_replies(live, conn):
    _, group_id, ana, ben = await two_members(live, conn)
    outcomes = []
    for i in range(ROUNDS):
        top = await live.post(f"/v1/groups/{group_id}/posts", json={"body": f"Ben {i}"}, headers=ben.headers)
        block, reply = await asyncio.gather(
            live.post("/v1/me/blocks", json={"person_id": ben.id}, headers=ana.headers),
            live.post(
                f"/v1/groups/{group_id}/posts",
                json={"body": f"reply {i}", "reply_to": top.json()["id"]},
                headers=ana.headers,
            ),
        )
        assert block.status_code == 201, block.text
        assert reply.status_code in (201, 404), reply.text
        stored = await conn.fetchval("select count(*) from posts where body = $1", f"reply {i}")
        assert stored == (reply.status_code == 201)
        outcomes.append(reply.status_code)
        assert (await live.delete(f"/v1/me/blocks/{ben.id}", headers=ana.headers)).status_code == 204
    print(f"block vs reply, {ROUNDS} rounds: reply answered {sorted(set(outcomes))}")


async def test_a_report_sent_while_a_moderator_dismisses_the_last_one(live, conn):
    staff, group_id, ana, ben = await two_members(live, conn)
    posted = await live.post(f"/v1/groups/{group_id}/posts", json={"body": "Buy watches"}, headers=ana.headers)
    url = f"/v1/posts/{posted.json()['id']}/report"
    first = await live.post(url, json={"reason": "spam"}, headers=ben.headers)
    assert first.status_code == 201, first.text
    for _ in range(ROUNDS):
        open_id = await conn.fetchval("select id from moderation_items where closed_at is null")
        dismissed, again = await asyncio.gather(
            live.post(f"/v1/staff/moderation/{open_id}/dismiss", headers=staff.headers),
            live.post(url, json={"reason": "spam"}, headers=ben.headers),
        )
        assert dismissed.status_code in (200, 204), dismissed.text
        assert again.status_code == 201 and isinstance(again.json()["id"], int), again.text
        # Reported after the dismiss: a new report, open. Before it: the same one, now closed.
        still_open = await conn.fetchval("select count(*) from moderation_items where closed_at is null")
        assert still_open == (0 if again.json()["id"] == open_id else 1)
        if not still_open:
            assert (await live.post(url, json={"reason": "spam"}, headers=ben.headers)).status_code == 201
