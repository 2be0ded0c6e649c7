"""Watchlist: who is overdue or alerted now, and the alert work (acknowledge, outreach,
resolve) right there, on a card per person (admin_dashboard/alert_cards.py). The table
refreshes itself every minute; the cards below it keep what is being typed. Also listed, by
the same order: graduates whose time zone is not recognized (nothing is worked out for them
until it is fixed on their page), and graduates who deleted their account while alerts were
open (what was kept, until acknowledged). A graduate who asked their support circle for help
this week shows when."""

import pandas as pd
import streamlit as st

from admin_dashboard.alert_cards import person_cards
from admin_dashboard.state import (
    SEVERITIES,
    guarded,
    inked,
    plural,
    run_page,
    severity_label,
    table_with_csv,
    team,
)
from admin_dashboard.typed import plain
from admin_dashboard.zones import local_day, local_time, reader_zone, time_column

REFRESH_SECONDS = 60
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
            "last_help_now_at",
        ],
    )
    # Overdue people with no open alert have no severity (pandas gives NaN for the gaps).
    frame["counselor"] = frame["counselor_id"].map(lambda c: names.get(c, "–") if isinstance(c, str) else "–")
    frame["severity_rank"] = frame["top_severity"].map(lambda s: SEVERITIES.index(s) + 1 if isinstance(s, str) else 0)
    frame["last_checkin_at"] = pd.to_datetime(
        frame["last_checkin_at"], utc=True, format="ISO8601"
    )  # with or without fractions
    # As text in the reader's zone: a blank, not "None", for the many who did not ask.
    frame["last_help_now_at"] = frame["last_help_now_at"].map(
        lambda at: local_time(at, zone) if isinstance(at, str) else ""
    )
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
            "last_help_now_at",
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
    # Worked out once a session; given as the widget's first index (a value put in the
    # widget's session-state key before it is drawn showed in Chromium as the first option,
    # "My caseload", while the page listed everyone).
    if "watch_start" not in st.session_state:
        st.session_state.watch_start = starting_choice(api, mine)
    left, middle, right = st.columns(3)
    who = left.selectbox(
        "Counselor",
        choices,
        index=choices.index(st.session_state.watch_start) if st.session_state.watch_start in choices else 0,
        format_func=lambda c: {"mine": "My caseload", "everyone": "Everyone"}.get(c) or counselors[c],
        key="watch_counselor",
        on_change=lambda: st.session_state.pop("watch_counselor_note", None),  # their own choice now
    )
    least = middle.selectbox(
        "Severity at least",
        ["any", *SEVERITIES],
        format_func=lambda s: "Any" if s == "any" else severity_label(s),
        key="watch_severity",
    )
    order = right.selectbox("Sort", list(SORTS), key="watch_sort")
    counselor_id = mine if who == "mine" else None if who == "everyone" else who
    live_table(api, counselor_id, least, order, counselors)
    person_cards(api, counselors)


def starting_choice(api, mine: str | None) -> str:
    """The caseload of someone who has one on the watchlist, else Everyone (an admin, or a
    counselor whose people are all fine, sees who does need attention, not an empty page)."""
    if mine and api.get("/v1/staff/watchlist", counselor_id=mine, limit=1)["items"]:
        return "mine"
    if mine:
        st.session_state.watch_counselor_note = "Nobody in your caseload needs attention now: showing everyone."
    return "everyone"


@st.fragment(run_every=REFRESH_SECONDS)
@guarded(by_timer=True)  # refreshing itself is not someone using the dashboard
def live_table(api, counselor_id, least: str, order: str, counselors: dict[str, str]) -> None:
    """Only this part reruns every minute: the cards below keep what is being typed."""
    entries = api.get_all("/v1/staff/watchlist", counselor_id=counselor_id, limit=1000)
    zone = reader_zone(api)
    frame = watchlist_frame(entries, counselors, zone)
    if least != "any":
        frame = frame[frame["severity_rank"] >= SEVERITIES.index(least) + 1]
    columns, ascending = SORTS[order]
    frame = frame.sort_values(columns, ascending=ascending, na_position="first")
    # The people for the cards below, in the table's order: one API call a render.
    st.session_state.watch_entries = {e["participant_id"]: e for e in entries}
    st.session_state.watch_order = list(frame["participant_id"])
    if (note := st.session_state.get("watch_counselor_note")) and counselor_id is None and entries:
        st.info(note)
    if frame.empty:
        nobody(api, counselor_id, counselors, filtered=bool(entries))
        return
    people = len(frame)
    alerts = int(frame["open_alerts"].sum())
    st.caption(
        f"{plural(people, 'person', 'people')} {'needs' if people == 1 else 'need'} attention, "
        f"{plural(alerts, 'open alert')}. Refreshes every minute."
    )
    shown = shown_frame(frame)
    table_with_csv(
        inked(shown.assign(top_severity=shown["top_severity"].map(severity_label)), ["top_severity"]),
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
            "last_checkin_at": time_column("Last check-in", zone, help="In your time zone"),
            "overdue": "Overdue",
            "last_help_now_at": st.column_config.TextColumn(
                "Asked circle for help",
                help="Their last call for help to their support circle this week, in your time zone",
            ),
            "note": "Note",
        },
        csv=shown,  # the severity as a word, for a spreadsheet
    )


def nobody(api, counselor_id: str | None, counselors: dict[str, str], *, filtered: bool) -> None:
    """One sentence for an empty list, saying whose list it is and where the others are."""
    if filtered:
        st.success("Nobody at this severity or higher needs attention right now.")
        return
    if counselor_id is None:
        st.success("Nobody is overdue or alerted right now.")
        return
    whose = (
        "your caseload"
        if counselor_id == api.me["id"]
        else f"{plain(counselors.get(counselor_id, 'their'))}'s caseload"
    )
    others = len(api.get("/v1/staff/watchlist", limit=1000)["items"])
    if others:
        verb = "does" if others == 1 else "do"
        st.info(f"Nobody in {whose} needs attention; {plural(others, 'other')} {verb}: choose Everyone above.")
    else:
        st.success("Nobody is overdue or alerted right now.")


run_page(render)
