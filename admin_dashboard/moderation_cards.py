"""The moderation page's cards: one per open report or crisis flag, with what a moderator
needs to decide without leaving the page: the group, who wrote it (alias and role) and when,
the post's text exactly as written, why it is here (the phrases that raised a crisis flag;
a report's reason and the reporter's note), a way to the author's participant page, and
the actions: hide the post (with a reason its author reads in their inbox) or dismiss the item.

What peers wrote (a post, a note) is shown with `st.text`, never as Markdown or HTML: a post
may hold `<script>`, `**bold**`, `[a link](javascript:...)` or a formula, and each must show
as the characters typed. Names go through `plain()` inside our own Markdown."""

from __future__ import annotations

import streamlit as st

from admin_dashboard.client import ApiError
from admin_dashboard.state import CRISIS_BADGE, flash, forget_matching, plural, refused, report_badge
from admin_dashboard.typed import plain
from admin_dashboard.zones import local_time

CRISIS = "crisis"
ROLES = {"participant": "graduate", "facilitator": "facilitator", "staff": "staff"}
SOUNDS_LIKE = {"crisis": "a crisis", "use": "use"}
HIDE_HELP = "Required. The author reads it in their inbox: say kindly which group rule the post broke."


def item_card(api, item: dict, zone: str) -> None:
    post = item["post"]
    with st.container(border=True, key=f"mod_card_{item['id']}"):
        if item["kind"] == CRISIS:
            crisis_heading(item, zone)
        else:
            report_heading(item, zone)
        st.markdown(about(post, zone))
        post_text(post)
        if item["kind"] == CRISIS and item["phrases"]:
            said = " · ".join(f"“{phrase}”" for phrase in item["phrases"])
            st.markdown(f"**Matched phrases:** {plain(said)}")
        if item["kind"] != CRISIS and item.get("note"):
            st.caption("The reporter's note:")
            st.text(item["note"])
        actions(api, item)


def crisis_heading(item: dict, zone: str) -> None:
    kinds = [SOUNDS_LIKE.get(k, plain(k)) for k in item["reason"].split(",") if k]
    st.markdown(
        f"{CRISIS_BADGE} the words sound like {' and '.join(kinds) or 'a crisis'} · "
        f"flagged {local_time(item['created_at'], zone)}"
    )
    st.caption(
        "The author was shown crisis resources (988, 911) when they posted. Reach out as your protocol says; "
        "dismiss once someone has."
    )


def report_heading(item: dict, zone: str) -> None:
    more = item["open_reports"]
    st.markdown(
        f"{report_badge(item['reason'])} {local_time(item['created_at'], zone)}"
        + (f" · {plural(more, 'open report')} on this post" if more > 1 else "")
    )


def about(post: dict, zone: str) -> str:
    """ "**Group** · Alias (graduate) · posted Nov 27, 9:05 PM · a reply"."""
    author = post.get("author")
    who = (
        f"{plain(author['alias'] or 'someone')} ({ROLES.get(author['role'], author['role'])})" if author else "removed"
    )
    reply = " · a reply" if post.get("reply_to") else ""
    return f"**{plain(post['group_name'])}** · {who} · posted {local_time(post['created_at'], zone)}{reply}"


def post_text(post: dict) -> None:
    if post["removed"]:
        st.caption("Its author removed this post.")
        return
    if post["body"] is None:
        st.caption("The text is not available.")
        return
    with st.container(border=True):
        st.text(post["body"])
    if post["hidden"]:
        st.caption("Hidden from the group already.")


def actions(api, item: dict) -> None:
    key, post = item["id"], item["post"]
    open_page, dismiss = st.columns(2)
    # In this browser session (a link to a new tab would start a new one, signed out).
    if item.get("participant_url") and post.get("author"):
        if open_page.button("Their page", key=f"mod_open_{key}", icon=":material/person:"):
            st.switch_page("views/participants.py", query_params={"participant": post["author"]["id"]})
    try:
        if dismiss.button("Dismiss", key=f"mod_dismiss_{key}", help="Close this item and leave the post as it is"):
            api.post(f"/v1/staff/moderation/{key}/dismiss")
            flash("Dismissed: the post stays as it is.", "moderation")
            st.rerun()
        if not post["removed"] and not post["hidden"]:
            hide_form(api, item)
    except ApiError as exc:
        forget_matching("moderation")  # someone else may have closed it: read the queue again
        refused(exc)


def hide_form(api, item: dict) -> None:
    key, post = item["id"], item["post"]
    with st.form(f"mod_hide_{key}"):
        reason = st.text_input(
            "Reason for hiding (the author reads it)", key=f"mod_reason_{key}", max_chars=500, help=HIDE_HELP
        )
        if st.form_submit_button("Hide post", icon=":material/visibility_off:"):
            if not reason.strip():
                st.error("Say why the post is hidden: its author reads the reason in their inbox.")
                return
            api.post(f"/v1/posts/{post['id']}/hide", {"reason": reason.strip()})
            flash("Hidden: the group no longer sees it, and its author has been told why.", "moderation")
            st.rerun()
