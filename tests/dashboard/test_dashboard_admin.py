"""The dashboard's Messages, Accounts and Audit log pages: Streamlit's AppTest against the
real API on a free port, over the test database."""

from __future__ import annotations

import uuid

from tests import helpers
from tests.dashboard.apptest import open_page, sign_in, texts

SECRET = "Call me about the relapse you told me about"


def column_with(at, heading: str):
    """The st.columns column whose captions include `heading`, as one text."""
    for column in at.columns:
        if any(heading in str(c.value) for c in column.caption):
            return "\n".join(str(e.value) for kind in ("caption", "markdown", "text") for e in getattr(column, kind))
    raise AssertionError(f"no column with {heading!r}")


def write_message(at, title: str, body: str):
    at.text_input(key="msg_title").input(title)
    at.text_area(key="msg_body").input(body)
    return at.run()


async def test_the_preview_shows_the_discreet_lock_screen_and_the_inbox_text(dashboard, client, staff):
    await helpers.graduate(client, staff, alias="Robin")
    at = open_page(sign_in(dashboard(), staff), "views/messages.py")
    at = write_message(at, "From your counselor", SECRET)
    lock_screen = column_with(at, "Lock screen")
    assert "New message" in lock_screen and "Open the app to read it." in lock_screen
    assert "relapse" not in lock_screen and "From your counselor" not in lock_screen
    inbox = column_with(at, "Inbox")
    assert "From your counselor" in inbox and "relapse you told me about" in inbox
    assert at.button(key="msg_send").disabled  # nobody chosen yet


async def test_sending_to_a_graduate_writes_their_notification(dashboard, client, conn, staff):
    robin = await helpers.graduate(client, staff, alias="Robin")
    at = open_page(sign_in(dashboard(), staff), "views/messages.py")
    at.selectbox(key="msg_graduate").select(robin.id)
    at = write_message(at, "From your counselor", SECRET)
    at.checkbox(key="msg_urgent").check()
    at.button(key="msg_send").click().run()
    assert not at.exception, at.exception
    assert "Sent to 1 person." in [s.value for s in at.success]
    rows = await conn.fetch("select person_id, title, body from notifications")
    assert [(str(r["person_id"]), r["title"], r["body"]) for r in rows] == [(robin.id, "From your counselor", SECRET)]
    # No form until asked for: no sending it twice by accident; then a fresh, empty one.
    assert not [t for t in at.text_input if t.key == "msg_title"]
    at.button(key="msg_another").click().run()
    assert at.text_input(key="msg_title").value == ""
    audit = await conn.fetchval("select count(*) from audit_log where action = 'notification.send'")
    assert audit == 1


async def test_sending_to_a_group_says_how_many_it_went_to(dashboard, client, conn, staff):
    group = await helpers.create_group(client, staff)
    for alias in ("Ana", "Ben"):
        member = await helpers.graduate(client, staff, alias=alias)
        response = await client.post(f"/v1/groups/{group['id']}/membership", headers=member.headers)
        assert response.status_code in (200, 201), response.text
    at = open_page(sign_in(dashboard(), staff), "views/messages.py")
    at.radio(key="msg_to").set_value("group").run()
    at.selectbox(key="msg_group").select(group["id"])
    at = write_message(at, "Room change", "Tonight we meet in room 4.")
    at.button(key="msg_send").click().run()
    assert not at.exception, at.exception
    assert "Sent to 2 people" in texts(at)
    assert await conn.fetchval("select count(*) from notifications where title = 'Room change'") == 2


CHOSEN = "violet tram umbrella quietly"


def code_shown(at) -> str:
    """The set-up code the page shows once (an st.code block)."""
    blocks = [str(e.proto.code_text) for e in at.get("code")]
    assert len(blocks) == 1, texts(at)
    return blocks[0]


async def test_an_admin_creates_an_account_and_is_shown_its_set_up_code_once(dashboard, client, conn, admin):
    email = f"casey-{uuid.uuid4().hex[:6]}@example.org"
    at = open_page(sign_in(dashboard(), admin), "views/accounts.py")
    at.text_input(key="acct_email").input(email)
    at.text_input(key="acct_name").input("Casey Counselor")
    at.multiselect(key="acct_roles").select("facilitator")
    at.selectbox(key="acct_timezone").select("America/Chicago")
    at.button(key="acct_submit").click().run()
    assert not at.exception, at.exception
    shown = texts(at)
    assert "Account created for Casey Counselor" in shown
    assert "expires in 72 hours" in shown and "First time here? Use your set-up code" in shown
    code = code_shown(at)
    row = await conn.fetchrow(
        "select name, roles, timezone, is_active, password_hash from people where email = $1", email
    )
    assert dict(row) == {
        "name": "Casey Counselor",
        "roles": ["facilitator", "staff"],
        "timezone": "America/Chicago",
        "is_active": True,
        "password_hash": None,
    }
    assert email in at.dataframe[0].value["email"].tolist()
    assert at.text_input(key="acct_email").value == ""
    at.run()  # shown once: gone on the next run
    assert not at.get("code") and code not in texts(at)
    set_up = await client.post("/v1/auth/setup", json={"code": code, "password": CHOSEN})
    assert set_up.status_code == 201, set_up.text

    # The same email again: the API's own sentence, and the form keeps what was typed.
    at.text_input(key="acct_email").input(email)
    at.text_input(key="acct_name").input("Casey Again")
    at.button(key="acct_submit").click().run()
    assert at.error, texts(at)
    assert at.text_input(key="acct_email").value == email


async def test_an_admin_resets_a_colleagues_password_after_confirming(dashboard, client, conn, hasher, admin):
    colleague = await helpers.account(client, conn, hasher, ["staff"])
    at = open_page(sign_in(dashboard(), admin), "views/accounts.py")
    at.selectbox(key="acct_chosen").select(colleague.id).run()
    assert at.button(key="acct_reset").disabled  # not before the box is ticked
    at.checkbox(key="acct_reset_confirm").check().run()
    at.button(key="acct_reset").click().run()
    assert not at.exception, at.exception
    code = code_shown(at)
    assert (await client.get("/v1/me", headers=colleague.headers)).status_code == 401
    old = await client.post("/v1/auth/login", json=helpers.login_body(colleague.email, helpers.PASSWORD))
    assert old.status_code == 401
    assert (await client.post("/v1/auth/setup", json={"code": code, "password": CHOSEN})).status_code == 201
    at.selectbox(key="acct_chosen").select(admin.id).run()
    assert at.button(key="acct_reset").disabled  # not one's own: My password is for that


async def test_a_new_colleague_sets_their_password_on_the_sign_in_page(dashboard, client, admin):
    body = {"email": "robin.hale@example.org", "name": "Robin Hale", "roles": ["staff"]}
    code = (await client.post("/v1/staff/accounts", json=body, headers=admin.headers)).json()["setup_code"]
    at = dashboard()
    at.run()
    at.text_input(key="setup_code").input(code)
    at.text_input(key="setup_password").input("robin hale 2026!!")
    at.text_input(key="setup_again").input("robin hale 2026!!")
    at.button(key="setup_submit").click().run()
    assert "password: must not contain" in texts(at)  # the API's reason, naming the field
    at.text_input(key="setup_password").input(CHOSEN)
    at.text_input(key="setup_again").input(CHOSEN)
    at.button(key="setup_submit").click().run()
    assert not at.exception, at.exception
    assert "Signed in as" in texts(at)
    login = await client.post("/v1/auth/login", json=helpers.login_body("robin.hale@example.org", CHOSEN))
    assert login.status_code == 201


async def test_a_staff_member_changes_their_own_password(dashboard, client, staff):
    other = (await client.post("/v1/auth/login", json=helpers.login_body(staff.email, helpers.PASSWORD))).json()
    at = open_page(sign_in(dashboard(), staff), "views/password.py")
    at.text_input(key="pw_current").input("not my password")
    at.text_input(key="pw_new").input(CHOSEN)
    at.text_input(key="pw_again").input(CHOSEN)
    at.button(key="pw_submit").click().run()
    assert "not your current password" in texts(at)
    at.text_input(key="pw_current").input(helpers.PASSWORD)
    at.text_input(key="pw_new").input("password1234")
    at.text_input(key="pw_again").input("password1234")
    at.button(key="pw_submit").click().run()
    assert "new_password: too easy to guess" in texts(at)
    at.text_input(key="pw_new").input(CHOSEN)
    at.text_input(key="pw_again").input(CHOSEN)
    at.button(key="pw_submit").click().run()
    assert not at.exception, at.exception
    assert "Your password is changed" in texts(at)
    assert at.text_input(key="pw_current").value == ""
    assert (await client.get("/v1/me", headers=helpers.bearer(other))).status_code == 401
    login = await client.post("/v1/auth/login", json=helpers.login_body(staff.email, CHOSEN))
    assert login.status_code == 201


async def test_an_admin_unlocks_and_deactivates_an_account(dashboard, client, conn, hasher, admin):
    colleague = await helpers.account(client, conn, hasher, ["staff"])
    await conn.execute(
        "update people set failed_logins = 100, locked_until = now() + interval '1 hour' where id = $1",
        uuid.UUID(colleague.id),
    )
    await conn.execute(
        "insert into sign_in_failures (person_id, client_address, failures, window_started_at, locked_until, forget_at)"
        " values ($1, '203.0.113.66', 10, now(), now() + interval '1 hour', now() + interval '1 hour')",
        uuid.UUID(colleague.id),
    )
    at = open_page(sign_in(dashboard(), admin), "views/accounts.py")
    at.selectbox(key="acct_chosen").select(colleague.id).run()
    assert "locked" in at.selectbox(key="acct_chosen").format_func(colleague.id)
    at.button(key="acct_unlock").click().run()
    assert not at.exception, at.exception
    row = await conn.fetchrow("select failed_logins, locked_until from people where id = $1", uuid.UUID(colleague.id))
    assert (row["failed_logins"], row["locked_until"]) == (0, None)
    assert await conn.fetchval("select count(*) from sign_in_failures") == 0

    assert at.button(key="acct_deactivate").disabled  # not before the box is ticked
    at.checkbox(key="acct_confirm").check().run()
    at.button(key="acct_deactivate").click().run()
    assert not at.exception, at.exception
    assert "deactivated" in texts(at)
    assert await conn.fetchval("select is_active from people where id = $1", uuid.UUID(colleague.id)) is False
    refused = await client.get("/v1/me", headers=colleague.headers)
    assert refused.status_code == 401


async def test_the_audit_log_lists_a_staff_action_and_filters_by_action(dashboard, client, conn, staff, admin):
    await helpers.enroll(client, staff, alias="Robin")
    await client.get("/v1/staff/participants", headers=staff.headers)
    at = open_page(sign_in(dashboard(), admin), "views/audit.py")
    assert "Audit log" in [t.value for t in at.title]
    table = at.dataframe[0].value
    assert {"participant.create", "participant.list"} <= set(table["action"])
    created = table[table["action"] == "participant.create"].iloc[0]
    assert created["actor"].startswith("Staff (") and created["method"] == "POST"

    at.selectbox(key="audit_action").select("participant.create").run()
    assert not at.exception, at.exception
    assert at.dataframe[0].value["action"].tolist() == ["participant.create"]

    at.selectbox(key="audit_action").select("account.unlock").run()
    assert at.dataframe[0].value.empty
    assert "0 entries" in texts(at)


async def test_the_audit_log_filters_by_actor_and_participant(dashboard, client, conn, hasher, staff, admin):
    robin = await helpers.enroll(client, staff, alias="Robin")
    other = await helpers.account(client, conn, hasher, ["staff"])
    await helpers.enroll(client, other, alias="Sky")
    await client.get(f"/v1/staff/participants/{robin['id']}", headers=other.headers)
    at = open_page(sign_in(dashboard(), admin), "views/audit.py")
    at.text_input(key="audit_participant").input(robin["id"]).run()
    assert sorted(at.dataframe[0].value["action"]) == ["participant.create", "participant.read"]
    at.selectbox(key="audit_actor").select(other.id).run()
    assert at.dataframe[0].value["action"].tolist() == ["participant.read"]
    at.text_input(key="audit_participant").input("not an id").run()
    assert "participant id" in at.error[0].value


async def test_the_audit_log_loads_more_pages(dashboard, conn, staff, admin):
    await conn.execute(
        """
        insert into audit_log (actor_id, actor_roles, action, method, path)
        select $1, '{staff}', 'participant.list', 'GET', '/v1/staff/participants' from generate_series(1, 130)
        """,
        uuid.UUID(staff.id),
    )
    at = open_page(sign_in(dashboard(), admin), "views/audit.py")
    assert len(at.dataframe[0].value) == 100
    assert "more are older" in texts(at)
    at.button(key="audit_more").click().run()
    assert not at.exception, at.exception
    assert len(at.dataframe[0].value) == 130
    assert at.button(key="audit_more").disabled
    assert at.download_button(key="audit_csv").label == "Download CSV"
