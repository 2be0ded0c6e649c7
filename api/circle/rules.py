"""The support circle's rules as plain functions: sizes and waits, the hourly limit, and
when a call for help tells the counselor (PRODUCT.md section 10)."""

from __future__ import annotations

import datetime as dt
import math

from api.checkins.risk import HIGH, MEDIUM, Reason

CIRCLE_LIMIT = 5  # members and open invitations together
INVITATION_LIFETIME = dt.timedelta(days=7)
REQUESTS_PER_HOUR = 3
# Nobody said "I'm reaching out" this long after a call for help: the asker is offered the
# crisis line again and the counselor's alert rises to high.
WAIT_FOR_SOMEONE = dt.timedelta(minutes=15)
ASKED_AGAIN_WITHIN = dt.timedelta(hours=24)
LONGEST_MUTE_HOURS = 7 * 24

ALERT_KIND = "help_now"


def retry_after_s(asked_this_hour: list[dt.datetime], now: dt.datetime) -> int | None:
    """Seconds until another request is allowed, or None while under the hourly limit.
    `asked_this_hour`: the person's requests in the last hour, oldest first."""
    if len(asked_this_hour) < REQUESTS_PER_HOUR:
        return None
    frees_at = asked_this_hour[-REQUESTS_PER_HOUR] + dt.timedelta(hours=1)
    return max(1, math.ceil((frees_at - now).total_seconds()))


def alert_reasons(*, earlier_calls_24h: int, used_or_crisis_today: bool, crisis_words: bool) -> list[Reason]:
    """Why a call for help needs the counselor's eyes (medium), if it does: a second call
    within 24 hours, use or a crisis in a check-in the same day, or a message that sounds
    like a crisis. A single call on a calm day is on the timeline only."""
    reasons = []
    if earlier_calls_24h:
        reasons.append(
            Reason("help_now_again", ALERT_KIND, MEDIUM, "Asked their circle for help twice within 24 hours.")
        )
    if used_or_crisis_today:
        reasons.append(
            Reason(
                "help_now_after_checkin",
                ALERT_KIND,
                MEDIUM,
                "Asked their circle for help on a day their check-in reported use or crisis.",
            )
        )
    if crisis_words:
        reasons.append(Reason("help_now_crisis_words", ALERT_KIND, MEDIUM, "Their call for help sounds like a crisis."))
    return reasons


def nobody_came(reached: int) -> Reason:
    if reached == 0:
        message = "Asked for help 15 minutes ago; nobody in their circle could be reached."
    else:
        message = f"Asked for help 15 minutes ago; none of the {reached} reached said they are reaching out."
    return Reason("help_now_unanswered", ALERT_KIND, HIGH, message)
