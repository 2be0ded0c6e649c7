"""Part of the Participants page: a graduate's account. A new activation code (shown once),
deactivation and back, a time zone that is not recognized (chosen anew), and deletion for
good (admins, for a graduate who cannot do it in the app themselves)."""

import streamlit as st

from admin_dashboard.client import ApiError
from admin_dashboard.state import flash, forget_matching, refused
from admin_dashboard.typed import plain
from admin_dashboard.zones import accepted, when, zone_named, zone_picker

NEW_CODE_KEY = "participant_new_code"  # {participant id: code}, shown on the next run only
GONE_KEY = "participant_gone"  # deleted: the page opens nobody on its next run
TELL_THEM = "Open the Aftercare app and enter this code. It works once, within 7 days."


def forget_lists() -> None:
    """A status changed: the kept lists (and the banner's list of who is left out) are out of date."""
    forget_matching("participants:")
    forget_matching("system_status")


def actions(api, person: dict) -> None:
    key = person["id"]
    name = plain(person["alias"])
    codes = st.session_state.pop(NEW_CODE_KEY, {})  # shown on this run only
    if key in codes:
        issued = codes[key]
        with st.container(border=True):
            st.success(f"A new activation code for {name}: shown only this once. Any earlier code is void.")
            st.markdown(f"# `{issued['activation_code']}`")
            st.markdown(f"**Tell them:** “{TELL_THEM}”")
            st.caption(f"Expires {when(issued['activation_expires_at'], person['timezone'])} (their time).")
    reissue, switch, _ = st.columns([1, 1, 2])
    try:
        if person["status"] != "deactivated":
            if reissue.button("New activation code", key=f"reissue_{key}", icon=":material/key:"):
                issued = api.post(f"/v1/staff/participants/{key}/activation-code")
                st.session_state[NEW_CODE_KEY] = {key: issued}
                st.rerun()
            confirming = st.session_state.get("confirm_deactivate") == key
            if not confirming and switch.button("Deactivate…", key=f"deactivate_{key}", icon=":material/block:"):
                st.session_state.confirm_deactivate = key
                st.rerun()
            if confirming:
                with st.container(border=True):
                    st.warning(
                        f"Deactivate {name}? Every session of theirs ends at once: the app signs out "
                        "and stops reminding them. Their data stays. You can reactivate them later."
                    )
                    yes, no, _ = st.columns([1, 1, 2])
                    if yes.button("Yes, deactivate", key=f"deactivate_yes_{key}", type="primary"):
                        st.session_state.pop("confirm_deactivate", None)
                        api.post(f"/v1/staff/participants/{key}/deactivate")
                        forget_lists()
                        st.toast(f"{name} is deactivated")
                        st.rerun()
                    if no.button("Cancel", key=f"deactivate_no_{key}"):
                        st.session_state.pop("confirm_deactivate", None)
                        st.rerun()
        elif switch.button("Reactivate", key=f"reactivate_{key}", icon=":material/restart_alt:"):
            api.post(f"/v1/staff/participants/{key}/reactivate")
            forget_lists()
            st.toast(f"{name} is active again: issue a new activation code for their app")
            st.rerun()
    except ApiError as exc:
        refused(exc)


def fix_time_zone(api, person: dict) -> None:
    """A stored zone the server does not accept (bad data, or an old name): said plainly,
    with a picker that chooses nothing for the user."""
    key, zone = person["id"], person["timezone"]
    choices = accepted(api)
    if zone in choices:
        return
    with st.container(border=True):
        if zone_named(zone) is None:
            st.warning(
                f"Their time zone, “{plain(zone)}”, is not recognized: no check-in slots, missed check-ins or "
                "reminders are worked out for them until it is fixed, and times on this page are in UTC.",
                icon=":material/schedule:",
            )
        else:
            st.warning(
                f"Their time zone, “{plain(zone)}”, is an old or unusual name this server no longer offers: "
                "choose the current name for where they live.",
                icon=":material/schedule:",
            )
        with st.form(f"zone_{key}"):
            chosen = zone_picker(st, "Their time zone", choices, None, key=f"zone_{key}", help="Where they live.")
            submitted = st.form_submit_button("Save time zone", type="primary", key=f"zone_submit_{key}")
        if not submitted:
            return
        if not chosen:
            st.error("Choose their time zone.")
            return
        try:
            api.patch(f"/v1/staff/participants/{key}", {"timezone": chosen})
        except ApiError as exc:
            refused(exc)
            return
        forget_lists()
        flash(f"Time zone saved: {chosen}. The background jobs take them in again at their next run.", "participants")
        st.rerun()


def delete_account(api, person: dict) -> None:
    """Admins: deleting a graduate for good, the way they could in the app themselves."""
    key, name = person["id"], plain(person["alias"])
    with st.expander("Delete this graduate's account", icon=":material/delete_forever:"):
        st.markdown(
            "For a graduate who asks to be deleted but cannot do it in the app themselves (deactivated, a lost "
            f"phone). **Everything about {name} goes for good:** profile, check-ins, plan, messages, devices and "
            "group places (their seats go to the next people waiting). It cannot be undone. The audit log keeps "
            "only that it happened, and who did it."
        )
        st.markdown(
            "If alerts of theirs are still open, a minimal record (their alias, counselor, and the alerts' kinds "
            "and severities) stays on the watchlist until someone acknowledges it."
        )
        with st.form(f"delete_{key}"):
            typed = st.text_input(
                "Type their alias to confirm", max_chars=50, key=f"delete_alias_{key}", help="Exactly as shown above."
            )
            submitted = st.form_submit_button(
                "Delete for good", icon=":material/delete_forever:", key=f"delete_{key}_submit"
            )
        if not submitted:
            return
        if not typed:
            st.error("Type their alias to confirm.")
            return
        try:
            done = api.delete(f"/v1/staff/participants/{key}", {"confirm_alias": typed})
        except ApiError as exc:
            if any(e.get("field") == "confirm_alias" for e in exc.errors):
                st.error(
                    f"That is not their alias. Nothing was deleted. Type “{name}” exactly, as a check on the right person."
                )
            else:
                refused(exc)
            return
        kept = (
            " Alerts of theirs were open: a record of them stays on the watchlist until someone acknowledges it."
            if done.get("care_record_kept")
            else " They had no open alerts: nothing of them was kept."
        )
        forget_lists()
        flash(f"{name}'s account is deleted, with all their data.{kept}", "participants")
        st.session_state[GONE_KEY] = key
        st.rerun()
