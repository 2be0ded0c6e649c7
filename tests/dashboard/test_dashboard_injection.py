"""Text that people typed, turned against the staff who read it (issue 15, findings 6 and 7):
formulas a spreadsheet runs from a downloaded CSV, and Markdown that Streamlit renders as
links and images. The dashboard is rendered page by page through AppTest against the real API,
with hostile text everywhere a graduate, a facilitator or a colleague can put some; every
page that app.py offers is visited, every CSV offered is read, and every text Streamlit
renders as Markdown is checked."""

from __future__ import annotations

import csv
import io
import pathlib
import re
import uuid

import pandas as pd
import pytest
from markdown_it import MarkdownIt

from admin_dashboard.typed import FORMULA_STARTS, csv_text, plain
from tests import helpers
from tests.clock import ONCE
from tests.dashboard.apptest import (
    as_read,
    capture_downloads,
    downloads,
    live_markdown,
    markdown_shown,
    open_page,
    sign_in,
)

DASHBOARD = pathlib.Path(__file__).parents[2] / "admin_dashboard"
FORMULA_ALIAS = '=HYPERLINK("https://ev.example","Riley")'
LINK_ALIAS = "![](http://ev.example/b.png)[Sign in](http://e.io)"
TAB_ALIAS = "\t=1+1"  # names refuse tabs now: an old row, or an import
COUNSELOR = "-2+3+cmd|' /C calc'!A0 [Call me](http://e.io)"
FACILITATOR = "@SUM(1+1)*cmd|' /C calc'!A0 :red[urgent]"
GROUP = '=HYPERLINK("http://e.io","Circle") [Join](http://e.io)'
REASON = "Moved: see [our new room](http://e.io) ![](http://ev.example/b.png) $x^2$ :smile: www.e.io"
HELP = '=HYPERLINK("http://e.io","Help")\n[call me](http://e.io) :red[now] **please**'
PHONE = "+1 312 555 0100"
EMAIL = "riley@ev.example"


async def hostile_world(client, conn, admin) -> dict:
    """A counselor and a facilitator named by an admin, graduates with hostile aliases (two on
    the watchlist with a critical alert, one of whom asked the other, in their circle, for help
    in hostile words), and a group whose next session was cancelled."""

    async def account(name: str, roles: list[str]) -> helpers.Actor:
        email = f"{roles[0]}-{uuid.uuid4().hex[:8]}@example.org"
        body = {"email": email, "name": name, "roles": roles}
        response = await client.post("/v1/staff/accounts", json=body, headers=admin.headers)
        assert response.status_code == 201, response.text
        setup = {"code": response.json()["setup_code"], "password": helpers.PASSWORD}
        login = await client.post("/v1/auth/setup", json=setup)
        assert login.status_code == 201, login.text
        return helpers.Actor(id=response.json()["account"]["id"], headers=helpers.bearer(login.json()), email=email)

    counselor = await account(COUNSELOR, ["staff"])
    facilitator = await account(FACILITATOR, ["facilitator"])
    graduates = {}
    contacts = {FORMULA_ALIAS: {"phone": PHONE, "email": EMAIL}, LINK_ALIAS: {"email": EMAIL}, "Tab": {}}
    for alias, contact in contacts.items():
        who = await helpers.graduate(client, counselor, alias=alias, counselor_id=counselor.id, **contact)
        crisis = helpers.checkin_body(need_support="crisis_now", note=f"[call me](http://e.io) {alias}")
        assert (await client.post("/v1/checkins", json=crisis, headers=who.headers)).status_code == 201
        graduates[alias] = who
    tabbed = graduates.pop("Tab")
    await conn.execute("update people set name = $2 where id = $1", uuid.UUID(tabbed.id), TAB_ALIAS)
    graduates[TAB_ALIAS] = tabbed

    group = await helpers.create_group(client, counselor, name=GROUP, facilitator_ids=[facilitator.id])
    for who in graduates.values():
        assert (await client.post(f"/v1/groups/{group['id']}/membership", headers=who.headers)).status_code == 201
    # A call for help to a circle: its words show on the asker's page and the responder's alias too.
    asker, friend = graduates[FORMULA_ALIAS], graduates[LINK_ALIAS]
    invited = await client.post("/v1/me/circle/invitations", json={"person_id": friend.id}, headers=asker.headers)
    accepted = await client.post(f"/v1/me/circle/invitations/{invited.json()['id']}/accept", headers=friend.headers)
    assert accepted.status_code == 200, accepted.text
    asked = await client.post("/v1/me/help-now", json={"message": HELP}, headers=asker.headers)
    assert asked.status_code == 201, asked.text
    answer = {"response": "reaching_out"}
    responded = await client.post(
        f"/v1/help-requests/{asked.json()['id']}/respond", json=answer, headers=friend.headers
    )
    assert responded.status_code == 200, responded.text
    listed = await client.get(f"/v1/groups/{group['id']}/sessions", headers=counselor.headers)
    session = listed.json()["items"][0]
    cancel = f"/v1/sessions/{session['id']}/cancel"
    cancelled = await client.post(cancel, json={"reason": REASON}, headers=counselor.headers)
    assert cancelled.status_code in (200, 201), cancelled.text
    return {"graduates": graduates, "group": group, "session": session, "counselor": counselor}


def pages() -> list[str]:
    """Every page app.py offers."""
    found = re.findall(r'st\.Page\("(views/[^"]+)"', (DASHBOARD / "app.py").read_text())
    assert len(found) >= 8, found
    return found


def every_view(at, world: dict):
    """Each page app.py offers, and within pages the views of one person or one group: the
    page as rendered, one after the other."""
    graduates, group = world["graduates"], world["group"]
    ids = [who.id for who in graduates.values()]
    linked = graduates[LINK_ALIAS].id
    deeper = {
        "views/watchlist.py": [
            lambda: at.selectbox(key="watch_counselor").set_value("everyone").run(),
            *(lambda who=who: at.selectbox(key="watch_person").set_value(who).run() for who in ids),
        ],
        "views/participants.py": [
            *(lambda who=who: at.selectbox(key="participant_pick").set_value(who).run() for who in [*ids, linked]),
            lambda: at.button(key=f"deactivate_{linked}").click().run(),  # "Deactivate …?"
        ],
        "views/enroll.py": [lambda: enroll(at, LINK_ALIAS)],  # "… is enrolled", with the code
        "views/groups.py": [
            lambda: at.selectbox(key="group_pick").set_value(group["id"]).run(),
            *(lambda s=s: group_tab(at, s) for s in ("Members", "Sessions")),
        ],
        "views/messages.py": [
            lambda: at.selectbox(key="msg_graduate").set_value(linked).run(),
            lambda: at.radio(key="msg_to").set_value("group").run(),
        ],
    }
    for page in pages():
        open_page(at, page)
        yield page
        for step in deeper.get(page, []):
            step()
            assert not at.exception, (page, at.exception)
            yield page


def group_tab(at, section: str):
    """Open one of the picked group's tabs (AppTest switches tabs through their state)."""
    at.session_state["group_section"] = section
    return at.run()


def enroll(at, alias: str):
    at.text_input(key="enroll_alias").input(alias)
    [submit] = [b for b in at.button if b.label == "Enroll and get the activation code"]
    return submit.click().run()


def formula_cells(rows: list[list[str]]) -> list[str]:
    """Cells a spreadsheet would run: starting like a formula, and not a number."""

    def number(cell: str) -> bool:
        try:
            float(cell)
        except ValueError:
            return False
        return True

    return [cell for row in rows[1:] for cell in row if cell.startswith(FORMULA_STARTS) and not number(cell)]


@pytest.mark.clock_instants(*ONCE)
async def test_formulas_typed_by_graduates_and_staff_reach_every_csv_as_text(
    dashboard, client, conn, admin, monkeypatch
):
    world = await hostile_world(client, conn, admin)
    offered = capture_downloads(monkeypatch)
    at = sign_in(dashboard(), admin)
    files: dict[str, list[list[str]]] = {}
    for _ in every_view(at, world):
        files |= downloads(at, offered)

    def cells(name: str) -> set[str]:
        return {cell for row in files[name][1:] for cell in row}

    attendance = next(name for name in files if name.startswith("attendance-"))
    # The group's name leaves nothing in the file's name but letters, digits, - _ and .
    assert re.fullmatch(r"attendance-[\w.-]+\.csv", attendance), attendance
    for name in ("participants.csv", "watchlist.csv", attendance):
        assert {f"'{FORMULA_ALIAS}", f"'{TAB_ALIAS}"} <= cells(name), (name, files[name])
    assert {f"'{COUNSELOR}", f"'{PHONE}"} <= cells("participants.csv")
    assert f"'{COUNSELOR}" in cells("watchlist.csv")
    assert {f"'{COUNSELOR}", f"'{FACILITATOR}"} <= cells("accounts.csv")
    assert f"'{GROUP}" in cells("groups.csv")
    assert any(cell.startswith(f"'{COUNSELOR} (") for cell in cells("audit-log.csv"))  # who enrolled them
    # Every file every page offers: nothing a spreadsheet would run.
    assert {"participants.csv", "watchlist.csv", "groups.csv", "accounts.csv", "audit-log.csv"} <= set(files)
    assert {name: formula_cells(rows) for name, rows in files.items()} == {name: [] for name in files}


@pytest.mark.clock_instants(*ONCE)
async def test_every_page_shows_what_people_typed_as_text(dashboard, client, conn, admin):
    world = await hostile_world(client, conn, admin)
    at = sign_in(dashboard(), admin)
    live: dict[str, list] = {}
    read = []
    for page in every_view(at, world):
        for source in markdown_shown(at):
            if found := live_markdown(source):
                live.setdefault(page, []).append((found, source))
            read.append(as_read(source))
    assert live == {}
    # The hostile text was on those pages, shown as typed (so the check above saw it).
    seen = "\n".join(read)
    assert f"Cancelled: {REASON}" in seen
    assert f"Deactivate {LINK_ALIAS}?" in seen and f"{LINK_ALIAS} is enrolled." in seen
    assert COUNSELOR in seen and EMAIL in seen and f"Yes, archive {GROUP}" in seen


@pytest.mark.clock_instants(*ONCE)
async def test_an_api_refusal_quoting_typed_text_is_shown_as_text(dashboard, client, conn, admin, monkeypatch):
    """The API's sentences may quote what was typed (a group's name, a reason): shown as text."""
    from admin_dashboard.client import ApiClient, ApiError

    def refuse(self, path, json=None):
        named = [{"field": "name", "message": f"{LINK_ALIAS} is taken"}] * 2  # named twice: shown once
        raise ApiError(400, f"name: {LINK_ALIAS} is taken", "invalid", named)

    monkeypatch.setattr(ApiClient, "post", refuse)
    at = open_page(sign_in(dashboard(), admin), "views/groups.py")
    at.text_input(key="new_name").input("Anything")
    at.text_input(key="new_address").input("1 Elm St")
    at.session_state["new_schedule"] = {
        "edited_rows": {},
        "added_rows": [{"weekday": "monday", "start": "19:00", "end": "20:00"}],
        "deleted_rows": [],
    }
    at.button(key="new_submit").click().run()
    assert not at.exception, at.exception
    shown = [e.value for e in at.error] + [c.value for c in at.caption]
    assert [as_read(text) for text in shown].count(f"Name: {LINK_ALIAS} is taken") == 1, shown
    assert [(live_markdown(text), text) for text in shown if live_markdown(text)] == []


def test_typed_text_in_markdown_stays_text():
    """Escaped, every autolink start broken, line breaks one space: one paragraph of text,
    read back as typed."""
    typed = "**Sam** [x](http://evil.example) www.evil.com sam@evil.example :smile: :red[x] $x$ &amp; <b>"
    shown = plain(typed + "\nTitle\n===\n\n    code\n> quote\n1. first")
    assert as_read(shown) == typed + " Title === code > quote 1. first"
    for source in (typed, LINK_ALIAS, REASON, COUNSELOR, FACILITATOR, GROUP):
        assert live_markdown(source) != []  # the check can fail
        assert live_markdown(plain(source)) == []
    # Nothing but a paragraph of text: no emphasis, heading, code, quote, list or entity.
    rendered = MarkdownIt("commonmark", {"html": False}).render(shown)
    assert rendered.startswith("<p>") and rendered.endswith("</p>\n") and "<" not in rendered[3:-5], rendered
    assert "&amp;amp;" in rendered and "&lt;b&gt;" in rendered


def test_a_csv_cell_that_starts_like_a_formula_gets_an_apostrophe_and_numbers_stay_numbers():
    frame = pd.DataFrame(
        {
            "alias": [
                FORMULA_ALIAS,
                "@cmd",
                "+1 312",
                "-x",
                TAB_ALIAS,
                "\r=1",
                "Riley\r=cmd|' /C calc'!A0",
                None,
                "  =1+1",
                "\n@x",
            ],
            "misses": [-1, 0, 1, 2, 3, 4, 5, 6, 7, 8],
            "adherence": [-0.5, 0.0, 0.1, 0.2, 0.3, 0.4, 0.5, None, 0.6, 0.7],
        }
    ).astype({"misses": "Int64"})
    rows = list(csv.reader(io.StringIO(csv_text(frame), newline="")))
    assert rows[1][1:] == ["-1", "-0.5"]  # a spreadsheet can sum them, and runs nothing
    # One row per graduate: a carriage return inside a cell starts no row of its own.
    assert [row[0] for row in rows[1:]] == [
        f"'{FORMULA_ALIAS}",
        "'@cmd",
        "'+1 312",
        "'-x",
        f"'{TAB_ALIAS}",
        "'\r=1",
        "Riley\r=cmd|' /C calc'!A0",
        "",
        "'  =1+1",  # LibreOffice may trim the spaces, then run it
        "'\n@x",
    ]


def test_every_download_and_every_markdown_goes_through_the_one_helper():
    """Only admin_dashboard/typed.py offers files (so every CSV is made inert there), and
    nothing lets HTML through Streamlit's Markdown."""
    offering, html = [], []
    for path in DASHBOARD.rglob("*.py"):
        source = path.read_text()
        if "download_button" in source and path.name != "typed.py":
            offering.append(path.name)
        if "unsafe_allow_html" in source or "st.html(" in source:
            html.append(path.name)
    assert offering == [] and html == []
