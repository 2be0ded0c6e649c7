"""Watchlist: who is overdue or alerted now, and the alert work (acknowledge, outreach,
resolve) right there. The table refreshes itself every minute; the forms below it keep
what is being typed. Also listed, by the same order: graduates whose time zone is not
recognized (nothing is worked out for them until it is fixed on their page), and graduates
who deleted their account while alerts were open (what was kept, until acknowledged)."""

import pandas as pd
import streamlit as st

from admin_dashboard.client import ApiError
from admin_dashboard.state import SEVERITIES, guarded, refused, run_page, table_with_csv, team
from admin_dashboard.typed import plain
from admin_dashboard.zones import local_day, local_time, reader_zone

REFRESH_SECONDS = 60
CHANNELS = {"call": "Call", "text": "Text", "in_person": "In person", "other": "Other"}
SORTS = {
    "Most severe first": (["severity_rank", "consecutive_misses"], [False, False]),
    "Most misses in a row": (["consecutive_misses", "severity_rank"], [False, False]),
    "Longest without a check-in": (["last_checkin_at"], [True]),
    "Lowest adherence": (["adherence_14d"], [True]),
}
ZONE_NOTE = "Time zone not recognized: fix it on their page"
# Not worked out for someone whose zone is not recognized, nor kept of a deleted account.
NOT_WORKED_OUT = ["consecutive_misses", "adherence_14d", "overdue"]


def row_note(entry, zone: str) -> str:
    if entry.status == "time_zone_unknown":
        return ZONE_NOTE
    if entry.status == "account_deleted":
        return f"Account deleted {local_day(entry.deleted_at, zone)}"
    return ""


def watchlist_frame(entries: list[dict], names: dict[str, str], zone: str = "UTC") -> pd.DataFrame:
    frame = pd.DataFrame(
        entries,
        columns=[
            "participant_id",
            "status",
            "alias",
            "counselor_id",
            "last_checkin_at",
            "consecutive_misses",
            "adherence_14d",
            "overdue",
            "open_alerts",
            "top_severity",
            "deleted_at",
        ],
    )
    # Overdue people with no open alert have no severity (pandas gives NaN for the gaps).
    frame["counselor"] = frame["counselor_id"].map(lambda c: names.get(c, "–") if isinstance(c, str) else "–")
    frame["severity_rank"] = frame["top_severity"].map(lambda s: SEVERITIES.index(s) + 1 if isinstance(s, str) else 0)
    frame["last_checkin_at"] = pd.to_datetime(
        frame["last_checkin_at"], utc=True, format="ISO8601"
    )  # with or without fractions
    frame["note"] = [row_note(entry, zone) for entry in frame.itertuples()]
    return frame


def shown_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """The table's columns, with what is not worked out for a row left empty (not 0, not "no")."""
    shown = frame[
        [
            "alias",
            "counselor",
            "top_severity",
            "open_alerts",
            "consecutive_misses",
            "adherence_14d",
            "last_checkin_at",
            "overdue",
            "note",
        ]
    ].astype({"consecutive_misses": "Int64", "overdue": "object"})
    shown.loc[frame["status"] != "active", NOT_WORKED_OUT] = None
    return shown


def render(api) -> None:
    st.title("Watchlist")
    counselors = team(api)
    mine = api.me["id"] if api.me["id"] in counselors else None
    choices = (["mine"] if mine else []) + ["everyone"] + list(counselors)
    left, middle, right = st.columns(3)
    who = left.selectbox(
        "Counselor",
        choices,
        format_func=lambda c: {"mine": "My caseload", "everyone": "Everyone"}.get(c) or counselors[c],
        key="watch_counselor",
    )
    least = middle.selectbox("Severity at least", ["any", *SEVERITIES], key="watch_severity")
    order = right.selectbox("Sort", list(SORTS), key="watch_sort")
    counselor_id = mine if who == "mine" else None if who == "everyone" else who
    live_table(api, counselor_id, least, order, counselors)
    work_on_alerts(api, counselor_id)


@st.fragment(run_every=REFRESH_SECONDS)
@guarded(by_timer=True)  # refreshing itself is not someone using the dashboard
def live_table(api, counselor_id, least: str, order: str, counselors: dict[str, str]) -> None:
    """Only this part reruns every minute: the forms below keep what is being typed."""
    entries = api.get_all("/v1/staff/watchlist", counselor_id=counselor_id, limit=1000)
    st.session_state.watch_entries = entries  # the people to pick from below: one API call a render
    if not entries and counselor_id == api.me["id"]:
        others = len(api.get("/v1/staff/watchlist", limit=1000)["items"])
        if others:
            who = "1 other does" if others == 1 else f"{others} others do"
            st.info(f"Nobody in your caseload needs attention; {who}: choose Everyone above.")
    zone = reader_zone(api)
    frame = watchlist_frame(entries, counselors, zone)
    if least != "any":
        frame = frame[frame["severity_rank"] >= SEVERITIES.index(least) + 1]
    columns, ascending = SORTS[order]
    frame = frame.sort_values(columns, ascending=ascending, na_position="first")
    shown = shown_frame(frame)
    st.caption(f"{len(frame)} people need attention. Refreshes every minute.")
    table_with_csv(
        shown,
        "watchlist.csv",
        {
            "alias": "Name",
            "counselor": "Counselor",
            "top_severity": "Severity",
            "open_alerts": "Open alerts",
            "consecutive_misses": "Missed in a row",
            "adherence_14d": st.column_config.ProgressColumn(
                "Adherence, 14 days", min_value=0, max_value=1, format="percent"
            ),
            "last_checkin_at": st.column_config.DatetimeColumn(
                "Last check-in", format="MMM D, h:mm a", timezone=zone, help="In your time zone"
            ),
            "overdue": "Overdue",
            "note": "Note",
        },
    )


@st.fragment
@guarded
def work_on_alerts(api, counselor_id) -> None:
    st.subheader("Work on an alert")
    entries = {e["participant_id"]: e for e in st.session_state.get("watch_entries", [])}
    if not entries:
        st.success("Nobody is overdue or alerted right now.")
        return
    person = st.selectbox("Person", list(entries), format_func=lambda p: label(entries[p]), key="watch_person")
    entry = entries[person]
    if entry["status"] == "account_deleted":
        deleted_account(api, entry)
        return
    name = plain(entry["alias"])
    if entry["status"] == "time_zone_unknown":
        st.warning(
            f"{name}'s time zone is not recognized: no check-in slots, missed check-ins or reminders are worked "
            "out for them until it is fixed on their participant page."
        )
    # In this browser session (a link to a new tab would start a new one, signed out).
    if st.button("Open their participant page", key="watch_open", icon=":material/person:"):
        st.switch_page("views/participants.py", query_params={"participant": person})
    alerts = api.get("/v1/staff/alerts", participant_id=person, status=["open", "acknowledged"])["items"]
    if not alerts:
        if entry["status"] == "active":
            st.info(f"{name} is overdue, with no open alert yet: the sweep raises one after two misses in a row.")
        return
    zone = reader_zone(api)
    for alert in alerts:
        with st.container(border=True):
            reasons = "; ".join(r.get("message", r.get("code", "")) for r in alert["reasons"][-3:])
            opened = local_time(alert["opened_at"], zone)
            st.markdown(
                f"**{alert['severity'].title()}** · {alert['kind'].replace('_', ' ')} · {alert['status']} · opened {opened}"
            )
            st.caption(plain(reasons))
            alert_actions(api, alert)


def label(entry: dict) -> str:
    """A person to pick (a selectbox shows it as text)."""
    return entry["alias"] + {
        "account_deleted": " (account deleted)",
        "time_zone_unknown": " (time zone not recognized)",
    }.get(entry["status"], "")


def deleted_account(api, entry: dict) -> None:
    """What was kept of a graduate who deleted their account while alerts were open, until
    someone has seen it: there is no participant page and nothing more to act on here."""
    key = entry["participant_id"]
    zone = reader_zone(api)
    with st.container(border=True):
        st.markdown(
            f"**{plain(entry['alias'])}'s account was deleted** on {local_time(entry['deleted_at'], zone)} "
            "(by them, or by an admin at their request) while alerts were open. Their data is gone; "
            "this is all that was kept."
        )
        kept = [f"{a['severity'].title()} · {a['kind'].replace('_', ' ')}" for a in entry.get("alerts") or []]
        st.markdown("**Alerts open when they left:** " + ("; ".join(kept) or "none recorded"))
        st.caption(
            "Follow up as your protocol says for someone who leaves while at risk. Acknowledging takes them off "
            "the watchlist; the record is cleared 30 days later."
        )
        try:
            if st.button("Acknowledge", key=f"ack_deleted_{key}", type="primary", help="I have seen this"):
                api.post(f"/v1/staff/deleted-accounts/{key}/acknowledge")
                st.toast("Acknowledged")
                st.rerun()
        except ApiError as exc:
            refused(exc)


def alert_actions(api, alert: dict) -> None:
    key = alert["id"]
    act, outreach, resolve = st.columns(3)
    try:
        if alert["status"] == "open" and act.button("Acknowledge", key=f"ack_{key}", help="I am on it"):
            api.post(f"/v1/staff/alerts/{key}/acknowledge")
            st.toast("Acknowledged")
            st.rerun()
        with outreach.form(f"outreach_{key}", clear_on_submit=True):
            channel = st.selectbox("Channel", list(CHANNELS), format_func=CHANNELS.get, key=f"channel_{key}")
            reached = st.checkbox("Reached them", key=f"reached_{key}")
            note = st.text_area("Note", key=f"note_{key}", max_chars=2000)
            if st.form_submit_button("Log outreach"):
                api.post(
                    f"/v1/staff/alerts/{key}/outreach", {"channel": channel, "reached": reached, "note": note or None}
                )
                st.toast("Outreach logged")
        with resolve.form(f"resolve_{key}"):
            resolution = st.text_area("Resolution note", key=f"resolution_{key}", max_chars=2000)
            if st.form_submit_button("Resolve", type="primary"):
                api.post(f"/v1/staff/alerts/{key}/resolve", {"note": resolution or None})
                st.toast("Resolved")
                st.rerun()
    except ApiError as exc:
        refused(exc)


run_page(render)
