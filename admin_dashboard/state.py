"""What every page shares: the signed-in API client in the browser session, and one way to
turn the API's answers (session over, API down, a refusal) into plain messages."""

from __future__ import annotations

import functools
import os
import time
from collections.abc import Callable
from typing import Any

import pandas as pd
import streamlit as st

from admin_dashboard.client import ApiClient, ApiError, ApiUnavailable, EnrolmentRequired, SessionExpired
from admin_dashboard.typed import download_csv, plain

SEVERITIES = ["low", "medium", "high", "critical"]
# One color per severity, wherever it shows: a card's badge (Streamlit's color names) and a
# table's cell (the same hues as ink, dark enough to read on white). The mark is a plain
# circle, colored, not a colored emoji: a clinic PC without an emoji font draws those as
# empty boxes (Debian's Chromium here did).
SEVERITY_COLORS = {"low": "blue", "medium": "yellow", "high": "orange", "critical": "red"}
SEVERITY_INK = {"low": "#1c6fd1", "medium": "#a37b00", "high": "#d9650b", "critical": "#d92b2b"}
MARK = "●"
IDLE_MINUTES = 15
IDLE_CHECK_SECONDS = 60  # how late, at most, a page left open notices the time-out
TWO_FACTOR_PAGE = "views/two_factor.py"
MUST_ENROL = "Your role must use two-factor sign-in: set it up to continue."


def client() -> ApiClient:
    if "api" not in st.session_state:
        st.session_state.api = ApiClient()
    st.session_state.api.browser_address = browser_address()
    return st.session_state.api


def browser_address() -> str | None:
    """The staff member's browser as this server sees it (None on localhost, as Streamlit
    reports it there). Behind a proxy that is the proxy's address: see README, "Configuration"."""
    return st.context.ip_address


def signed_in() -> bool:
    api = client()
    return api.tokens is not None and api.me is not None


def idle_minutes() -> int:
    """AFTERCARE_DASHBOARD_IDLE_MINUTES: how long a signed-in browser may go without anyone
    using it (15 minutes unless set)."""
    raw = os.environ.get("AFTERCARE_DASHBOARD_IDLE_MINUTES") or ""
    if not raw:
        return IDLE_MINUTES
    if not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"AFTERCARE_DASHBOARD_IDLE_MINUTES must be a whole number of minutes, at least 1, got {raw!r}")
    return int(raw)


def timed_out(*, by_timer: bool = False) -> bool:
    """Whether this signed-in browser session went unused for `idle_minutes()` and was signed
    out here just now, the API's session ended with it (a screen left open in a clinic is not
    an open door to every graduate's check-ins).

    Every run of the page is someone's doing (a click, a choice, a page opened), except the
    reruns of a part on a timer (`by_timer`: the watchlist's table, the idle watch): those
    check but do not count, or a watchlist left open would never time out."""
    minutes = idle_minutes()  # read first: a wrong setting stops the dashboard at its first page
    if not signed_in():
        return False
    now = time.time()  # the wall clock, which the tests move (tests/clock.py)
    last = st.session_state.get("last_activity", now)
    if now - last >= minutes * 60:
        client().logout()
        sign_out(f"You were signed out after {plural(minutes, 'minute')} without activity.")
        return True
    if not by_timer:
        st.session_state.last_activity = now
    return False


def sign_out(message: str) -> None:
    """Forget everything this browser session held (lists with names and contact details
    included), keeping only the message for the sign-in page."""
    st.session_state.clear()
    st.session_state.signin_message = message


def run_page(render: Callable[[ApiClient], None]) -> None:
    """Render a page; the API's troubles become messages, never a stack trace."""
    guarded(render)(client())


def guarded(part: Callable[..., None] | None = None, *, by_timer: bool = False) -> Any:
    """The same care for a part of a page that reruns on its own (an `st.fragment`): a
    session that ended or timed out goes back to sign-in, an API that is down says so.
    `@guarded(by_timer=True)` for a part that reruns on a timer (`run_every`): its reruns
    are not activity (see `timed_out`)."""
    if part is None:
        return functools.partial(guarded, by_timer=by_timer)

    @functools.wraps(part)
    def run(*args, **kwargs) -> None:
        # A part's own rerun does not pass through app.py, so the time-out is checked here too.
        if timed_out(by_timer=by_timer):
            st.rerun(scope="app")
        try:
            part(*args, **kwargs)
        except SessionExpired as exc:
            sign_out(str(exc))
            st.rerun(scope="app")
        except EnrolmentRequired:
            to_two_factor()
        except ApiUnavailable as exc:
            api_down(exc, key=f"retry_{part.__name__}")  # one Retry per part that failed
        except ApiError as exc:
            refused(exc)

    return run


def to_two_factor() -> None:
    """The API refused a call until two-factor sign-in is set up (the client noted it):
    the two-factor page, in the navigation of a session that must set it up first."""
    st.switch_page(TWO_FACTOR_PAGE)


@st.fragment(run_every=IDLE_CHECK_SECONDS)
@guarded(by_timer=True)
def idle_watch() -> None:
    """Nothing to show: its timer makes every page, not only the watchlist, sign out within
    a minute of the time-out, instead of keeping what it shows on screen until the next click."""


def recent(name: str, fetch: Callable[[], object], ttl_s: float = 120) -> object:
    """`fetch()` kept in this browser session for `ttl_s`: lists whose every read is audited
    (a row each, naming every graduate shown) are not read again on every click and keystroke."""
    kept = st.session_state.get(f"recent_{name}")
    if kept is not None and time.monotonic() - kept[0] < ttl_s:
        return kept[1]
    value = fetch()
    st.session_state[f"recent_{name}"] = (time.monotonic(), value)
    return value


def forget_matching(prefix: str) -> None:
    """Drop every kept list whose name starts with `prefix`."""
    for key in [k for k in st.session_state if str(k).startswith(f"recent_{prefix}")]:
        del st.session_state[key]


def api_down(exc: Exception, key: str = "retry") -> None:
    st.error(f"{exc} Check that the API is running, then retry.", icon=":material/cloud_off:")
    st.button("Retry", key=key, type="primary")  # any click reruns the page


def refused(exc: ApiError) -> None:
    """A form's refusal: every field the API named, each once and on its own line (its
    `detail` repeats them all on one), else the API's sentence. Both may quote what was typed."""
    lines = [": ".join(str(e[k]) for k in ("field", "message") if e.get(k)) for e in exc.errors if isinstance(e, dict)]
    lines = [line for line in lines if line]
    shown = [plain(line) for line in dict.fromkeys(lines)] or [plain(exc.detail)]
    st.error("\n\n".join(shown))


def team(api: ApiClient, role: str = "staff") -> dict[str, str]:
    """People with this role (staff: possible counselors; facilitator), id -> name."""
    return {m["id"]: m["name"] for m in api.get("/v1/staff/team")["items"] if role in m["roles"]}


def plural(count: int, noun: str, many: str | None = None) -> str:
    """ "1 alert", "3 alerts"; `many` for a noun that does not take an s ("1 person", "2 people")."""
    return f"{count} {noun if count == 1 else many or noun + 's'}"


def severity_label(severity: str | None) -> str:
    """A severity as a table shows it: "● Critical" ("" for none); `inked` colors it."""
    return f"{MARK} {severity.title()}" if severity in SEVERITY_INK else ""


def severity_badge(severity: str) -> str:
    """A severity as a colored badge inside Markdown (our own text, never typed): the same
    mark and color as `severity_label` in an inked table."""
    return f":{SEVERITY_COLORS[severity]}-badge[{severity_label(severity)}]"


def severity_text(severity: str) -> str:
    """A severity as colored text inside Markdown where a badge does not fit (an expander's
    label): the same mark and color."""
    return f":{SEVERITY_COLORS[severity]}[{severity_label(severity)}]"


# A check-in that reported use: what a counselor must not miss, on a card and in a table.
USED_BADGE = ":red-badge[Used]"
USED_LABEL = f"{MARK} Used"
# The moderation queue's headings, as the watchlist marks an alert (st.error would say that
# something went wrong on the page).
CRISIS_BADGE = ":red-badge[:material/emergency: Crisis flag]"
REPORT_REASONS = {"unsafe": "Unsafe", "harassment": "Harassment", "spam": "Spam", "other": "Other"}


def report_badge(reason: str) -> str:
    """A report's reason as a badge; the API knows only the four reasons."""
    return f":orange-badge[:material/flag: Reported: {REPORT_REASONS.get(reason, 'Other')}]"


# Markdown the dashboard writes itself on purpose (badges are Streamlit directives): tests
# that look for live Markdown in what people typed know these apart.
OWN_BADGES = frozenset(
    [*(severity_badge(s) for s in SEVERITIES), *(severity_text(s) for s in SEVERITIES), USED_BADGE, CRISIS_BADGE]
)
OWN_BADGES |= {report_badge(reason) for reason in REPORT_REASONS}
_INK = {severity_label(s): ink for s, ink in SEVERITY_INK.items()} | {USED_LABEL: SEVERITY_INK["critical"]}


def inked(frame: pd.DataFrame, columns: list[str]):
    """The table with its severity and "Used" cells in their color (a Styler, which
    st.dataframe draws); any other cell as it is."""
    return frame.style.map(lambda v: f"color: {_INK[v]}; font-weight: 600" if v in _INK else "", subset=columns)


def blank(value: Any) -> bool:
    """An empty cell of an edited table (None, NaN, NaT or "")."""
    return value is None or (not isinstance(value, str | list) and pd.isna(value)) or value == ""


def flash(message: str, page: str) -> None:
    """A success message that survives the rerun after a change; the page's kept lists are
    out of date now, so they go."""
    st.session_state[f"{page}_flash"] = message
    forget_matching(page)


def show_flash(page: str) -> None:
    if message := st.session_state.pop(f"{page}_flash", None):
        st.success(message, icon=":material/check_circle:")


def table_with_csv(
    frame, file_name: str, column_config: dict | None = None, key: str | None = None, csv: pd.DataFrame | None = None
) -> None:
    """A table, and the same rows as CSV (what staff take to a spreadsheet or a meeting);
    `csv` when the file holds the rows' plain values where the table shows marks (a severity)."""
    st.dataframe(frame, hide_index=True, width="stretch", column_config=column_config)
    download_csv(frame if csv is None else csv, file_name, key=key or f"csv_{file_name}")
