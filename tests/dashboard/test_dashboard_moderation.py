"""The moderation page: AppTest against the real API, the queue made through the API as the
app would make it (members post, one reports, the crisis watch flags)."""

from __future__ import annotations

import pytest
from streamlit.testing.v1.element_tree import Block, Text

from tests import helpers
from tests.dashboard.apptest import as_read, live_markdown, markdown_shown, open_page, sign_in, texts

PAGE = "views/moderation.py"
CRISIS_WORDS = "I want to die tonight"
# Peer text that would be markup, a link or a formula anywhere it was rendered.
HOSTILE = (
    "<script>alert(1)</script> **bold** [free coins](javascript:alert(1)) "
    '=HYPERLINK("http://ev.example","x") ![](http://ev.example/p.png) :red[urgent] $x^2$'
)


@pytest.fixture
async def circle(client, staff):
    """A group with two members: Ana (on the staff member's caseload) and Ben (on nobody's)."""
    group = await helpers.create_group(client, staff, name="Tuesday Circle")
    ana = await helpers.graduate(client, staff, alias="Ana", counselor_id=staff.id)
    ben = await helpers.graduate(client, staff, alias="Ben")
    for member in (ana, ben):
        joined = await client.post(f"/v1/groups/{group['id']}/membership", headers=member.headers)
        assert joined.status_code == 201, joined.text
    return {"group": group, "ana": ana, "ben": ben}


async def post(client, circle, who: str, body: str) -> dict:
    answer = await client.post(
        f"/v1/groups/{circle['group']['id']}/posts", json={"body": body}, headers=circle[who].headers
    )
    assert answer.status_code == 201, answer.text
    return answer.json()


async def report(client, circle, who: str, post_id: int, reason: str, note: str | None = None) -> None:
    body = {"reason": reason} | ({"note": note} if note else {})
    answer = await client.post(f"/v1/posts/{post_id}/report", json=body, headers=circle[who].headers)
    assert answer.status_code == 201, answer.text


async def queue(client, staff) -> list[dict]:
    answer = await client.get("/v1/staff/moderation", headers=staff.headers)
    assert answer.status_code == 200, answer.text
    return answer.json()["items"]


def cards(at) -> list[str]:
    """The cards on the page, by their items' ids, in the page's order (a container's key
    ends its block's id)."""
    ids = [getattr(block.proto, "id", "") for block in blocks(at.main)]
    return [block_id.rsplit("-mod_card_", 1)[1] for block_id in ids if "-mod_card_" in block_id]


def blocks(node) -> list[Block]:
    found = []
    for child in node.children.values():
        if isinstance(child, Block):
            found += [child, *blocks(child)]
    return found


def shown_text(at) -> list[str]:
    return [t.value for t in at.text]


async def test_the_queue_shows_a_crisis_flag_first_then_a_report(dashboard, client, staff, circle):
    spam = await post(client, circle, "ben", "Buy cheap watches at shop.example")
    await report(client, circle, "ana", spam["id"], "spam", "Third time this week.")
    crisis = await post(client, circle, "ana", CRISIS_WORDS)
    at = open_page(sign_in(dashboard(), staff), PAGE)
    page = texts(at)
    assert "2 items wait: 1 crisis flag, 1 report" in page
    # Crisis flags in their own section at the top, though the report is older.
    assert [h.value for h in at.subheader] == ["Crisis flags", "Reports"]
    items = await queue(client, staff)
    assert [i["kind"] for i in items] == ["report", "crisis"]  # the API's order: oldest first
    by_kind = {i["kind"]: str(i["id"]) for i in items}
    assert cards(at) == [by_kind["crisis"], by_kind["report"]]
    headings = [m.value for m in at.markdown if "-badge[" in m.value]
    assert len(headings) == 2 and not at.error and not at.warning
    assert ":red-badge[:material/emergency: Crisis flag]" in headings[0] and "a crisis" in headings[0]
    assert ":orange-badge[:material/flag: Reported: Spam]" in headings[1]
    assert (
        "**Tuesday Circle** · Ana (graduate) · posted" in page
        and "**Tuesday Circle** · Ben (graduate) · posted" in page
    )
    assert "Matched phrases:" in page and "want to die" in page.split("Matched phrases:")[1]
    # What peers wrote, as text elements: the posts and the reporter's note.
    assert {CRISIS_WORDS, spam["body"], "Third time this week."} <= set(shown_text(at))
    assert crisis["id"] and not at.exception


async def test_hiding_with_a_reason_hides_the_post_and_its_card_goes(dashboard, client, staff, circle, conn):
    spam = await post(client, circle, "ben", "Buy cheap watches at shop.example")
    await report(client, circle, "ana", spam["id"], "spam")
    at = open_page(sign_in(dashboard(), staff), PAGE)
    [item] = await queue(client, staff)
    [hide] = [b for b in at.button if b.label == "Hide post"]
    hide.click().run()  # no reason: refused here, nothing sent
    assert "Say why the post is hidden" in texts(at)
    assert (await queue(client, staff))[0]["id"] == item["id"]

    at.text_input(key=f"mod_reason_{item['id']}").input("Selling is not allowed in the group.")
    [hide] = [b for b in at.button if b.label == "Hide post"]
    hide.click().run()
    assert not at.exception, at.exception
    assert "Hidden: the group no longer sees it" in texts(at)
    assert cards(at) == [] and "Nothing waits for a moderator." in texts(at)
    # Through the API: members see a placeholder; the author's inbox has the reason.
    seen = await client.get(f"/v1/groups/{circle['group']['id']}/posts", headers=circle["ana"].headers)
    assert seen.json()["items"][0]["hidden"] is True and seen.json()["items"][0]["body"] is None
    assert await queue(client, staff) == []
    told = await conn.fetchval(
        "select body from notifications where person_id = $1 and title like 'A moderator hid%'", circle["ben"].id
    )
    assert "Selling is not allowed in the group." in told


async def test_dismissing_removes_the_card_and_leaves_the_post(dashboard, client, staff, circle):
    flagged = await post(client, circle, "ana", CRISIS_WORDS)
    at = open_page(sign_in(dashboard(), staff), PAGE)
    [item] = await queue(client, staff)
    at.button(key=f"mod_dismiss_{item['id']}").click().run()
    assert not at.exception, at.exception
    assert cards(at) == [] and "Dismissed" in texts(at) and "Nothing waits for a moderator." in texts(at)
    assert await queue(client, staff) == []
    seen = await client.get(f"/v1/groups/{circle['group']['id']}/posts", headers=circle["ben"].headers)
    assert [(p["id"], p["hidden"], p["body"]) for p in seen.json()["items"]] == [(flagged["id"], False, CRISIS_WORDS)]


async def test_markup_in_a_post_and_a_note_shows_as_the_characters_typed(dashboard, client, staff, circle):
    hostile = await post(client, circle, "ben", HOSTILE)
    await report(client, circle, "ana", hostile["id"], "other", "[see](javascript:alert(1)) <b>x</b>")
    at = open_page(sign_in(dashboard(), staff), PAGE)
    texts_shown = [t for t in at.main if isinstance(t, Text)]
    assert HOSTILE in [t.value for t in texts_shown]  # st.text: no Markdown, no HTML
    assert "[see](javascript:alert(1)) <b>x</b>" in [t.value for t in texts_shown]
    # Nothing the page renders as Markdown holds the post's words, nor anything live.
    rendered = markdown_shown(at)
    assert not any("javascript" in as_read(source) or "<script>" in source for source in rendered)
    assert {source: live_markdown(source) for source in rendered if live_markdown(source)} == {}


async def test_only_my_caseload(dashboard, client, staff, circle):
    await post(client, circle, "ana", CRISIS_WORDS)  # Ana's counselor is the staff member
    spam = await post(client, circle, "ben", "Buy cheap watches at shop.example")
    await report(client, circle, "ana", spam["id"], "spam")
    at = open_page(sign_in(dashboard(), staff), PAGE)
    assert len(cards(at)) == 2
    at.toggle(key="mod_mine").set_value(True).run()
    assert not at.exception, at.exception
    assert "1 item waits: 1 crisis flag" in texts(at) and len(cards(at)) == 1
    assert CRISIS_WORDS in shown_text(at) and spam["body"] not in shown_text(at)

    # Nothing about the caseload left: the page says the others' item still waits.
    [mine] = [i for i in await queue(client, staff) if i["kind"] == "crisis"]
    at.button(key=f"mod_dismiss_{mine['id']}").click().run()
    assert cards(at) == []
    assert "Nothing about your caseload waits; 1 other item waits: turn off Only my caseload." in texts(at)
    at.toggle(key="mod_mine").set_value(False).run()
    assert len(cards(at)) == 1 and spam["body"] in shown_text(at)


async def test_the_authors_page_opens_from_a_card(dashboard, client, staff, circle):
    await post(client, circle, "ana", CRISIS_WORDS)
    at = open_page(sign_in(dashboard(), staff), PAGE)
    [item] = await queue(client, staff)
    assert item["participant_url"]
    at.button(key=f"mod_open_{item['id']}").click().run()
    assert not at.exception, at.exception
    assert at.query_params.get("participant") in (circle["ana"].id, [circle["ana"].id])
    assert "Participants" in [t.value for t in at.title] and "Ana" in texts(at)


async def test_an_empty_queue_says_so(dashboard, staff):
    at = open_page(sign_in(dashboard(), staff), PAGE)
    assert "Nothing waits for a moderator." in texts(at)
    assert not at.error and cards(at) == []
