"""Messages: write to a graduate or to a group. The text goes to the inbox, behind the app's
sign-in; the lock screen only ever says that a message came. The preview shows both as the
API will send them (`POST /v1/staff/notifications/preview`), before anything is sent: the
dashboard reaches the rest of the system only over HTTP."""

import time

import streamlit as st

from admin_dashboard.client import ApiError
from admin_dashboard.state import refused, run_page
from admin_dashboard.typed import plain

TITLE_MAX, BODY_MAX = 120, 4000
RECIPIENTS_SECONDS = 120  # the lists of graduates and groups are read again after this
FIELDS = ("msg_title", "msg_body", "msg_urgent")


def recipients(api) -> tuple[dict[str, str], dict[str, str]]:
    """Graduates who can receive a message (id -> name) and active groups (id -> label).
    Kept for a couple of minutes: every read of the graduates' list is audited, and the
    page reruns at each keystroke of the preview."""
    cached = st.session_state.get("msg_recipients")
    if cached and time.monotonic() - cached[0] < RECIPIENTS_SECONDS:
        return cached[1], cached[2]
    people = {
        p["id"]: p["alias"] + (" (not activated yet)" if p["status"] == "pending" else "")
        for p in api.get_all("/v1/staff/participants", limit=200)
        if p["status"] != "deactivated"
    }
    groups = {
        g["id"]: f"{g['name']} ({g['member_count']} {'member' if g['member_count'] == 1 else 'members'})"
        for g in api.get_all("/v1/groups", limit=200)
    }
    st.session_state.msg_recipients = (time.monotonic(), people, groups)
    return people, groups


def render(api) -> None:
    st.title("Messages")
    if st.session_state.pop("msg_clear", False):
        for key in FIELDS:  # before the widgets exist: a fresh form after a message went
            st.session_state.pop(key, None)
    if sent := st.session_state.pop("msg_sent", None):
        count, text = sent
        (st.success if count else st.warning)(text)
        # No form this run: the next one draws it anew, empty (a widget the browser saw
        # filled would otherwise show the old text, and a second click would send it again).
        st.button("Write another message", key="msg_another", type="primary")
        return
    st.caption(
        "The message goes to the inbox in the app, behind its sign-in. The lock screen only says "
        "that a message came, so nobody who sees the phone learns anything from it."
    )

    people, groups = recipients(api)
    to = st.radio(
        "Send to",
        ["person", "group"],
        format_func={"person": "A graduate", "group": "A group"}.get,
        horizontal=True,
        key="msg_to",
    )
    if to == "person":
        choices, noun = people, "graduate"
    else:
        choices, noun = groups, "group"
    recipient = st.selectbox(
        noun.title(),
        list(choices),
        index=None,
        format_func=choices.get,
        placeholder=f"Choose a {noun}",
        key=f"msg_{noun}",
    )
    if not choices:
        st.info("Nobody to write to yet: enroll a graduate first." if to == "person" else "There are no active groups.")
    title = st.text_input("Title", max_chars=TITLE_MAX, key="msg_title", placeholder="What the inbox shows first")
    body = st.text_area("Message", max_chars=BODY_MAX, key="msg_body", height=160)
    urgent = st.checkbox(
        "Urgent (comes through quiet hours)",
        key="msg_urgent",
        help="Quiet hours (by default 22:00 to 08:00 in each recipient's time zone) hold other messages "
        "back until they end. Keep this for outreach that cannot wait until morning.",
    )

    preview(api, title, body, urgent)

    missing = [
        name for name, value in ((noun, recipient), ("title", title.strip()), ("message", body.strip())) if not value
    ]
    if st.button(
        "Send",
        type="primary",
        icon=":material/send:",
        key="msg_send",
        disabled=bool(missing),
        help=f"Still needed: {', '.join(missing)}." if missing else None,
    ):
        send(api, to, recipient, title.strip(), body.strip(), urgent)


def previewed(api, title: str, body: str) -> dict | None:
    """The API's preview of this draft. The page reruns at every widget change: a draft
    already previewed is not asked for again."""
    draft = {"title": title.strip(), "body": body.strip()}
    cached = st.session_state.get("msg_preview")
    if cached and cached[0] == draft:
        return cached[1]
    try:
        shown = api.post("/v1/staff/notifications/preview", draft)
    except ApiError as exc:
        refused(exc)
        return None
    st.session_state.msg_preview = (draft, shown)
    return shown


def preview(api, title: str, body: str, urgent: bool) -> None:
    shown = previewed(api, title, body)
    if shown is None:
        return
    push, item = shown["lock_screen"], shown["inbox"]
    st.subheader("Preview")
    lock_screen, inbox = st.columns(2)
    with lock_screen:
        st.caption("Lock screen (anyone near the phone can see this)")
        with st.container(border=True):
            st.markdown(f"**{plain(push['title'])}**")
            st.text(push["body"], width="stretch")
        st.caption(
            "Arrives at once, even in quiet hours."
            if urgent
            else "Held back during the recipient's quiet hours, then arrives when they end."
        )
    with inbox:
        st.caption("Inbox in the app (after signing in)")
        with st.container(border=True):
            st.markdown(f"**{plain(item['title'])}**" if item["title"] else "*No title yet*")
            if item["body"]:
                st.text(item["body"], width="stretch")  # as typed: no Markdown
            else:
                st.markdown("*No message yet*")


def send(api, to: str, recipient: str, title: str, body: str, urgent: bool) -> None:
    target = {"participant_id": recipient} if to == "person" else {"group_id": recipient}
    try:
        sent = api.post("/v1/staff/notifications", {**target, "title": title, "body": body, "urgent": urgent})
    except ApiError as exc:
        refused(exc)
        return
    count = sent["recipients"]
    if count == 0:
        text = "Nobody received it: the group has no active members."
    else:
        text = f"Sent to {'1 person' if count == 1 else f'{count} people'}" + (
            "." if to == "person" else ", the group's active members."
        )
    st.session_state.msg_sent = (count, text)
    st.session_state.msg_recipients = None  # a new read next time (a member may have joined)
    st.session_state.msg_clear = True
    st.rerun()


run_page(render)
