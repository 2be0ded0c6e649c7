"""Who may call what: the one declared authorization policy of the API, checked route by
route in tests/attack/test_authorization.py (in the small world of tests/attack/authorization_world.py).

POLICY is keyed by (method, path template as the app's route table spells it). Each entry
says, for every caller, what the answer must be:

- 401: not signed in;
- 403: signed in, but the wrong role (a role guard), or a member-only action on a group the
  caller can see anyway (its listing is open to everyone signed in, so "join first" gives
  nothing away);
- 404: the object in the path is not one this caller may see: a foreign id looks exactly
  like an unknown one (PRODUCT.md section 7);
- 422: reporting one's own post (`own_post`: its author deletes it instead), the one
  refusal by the object's owner that comes after the object was found;
- ALLOWED: the request got past authorization and the object-level check, and the handler
  did its work: a 2xx. A later allowed caller may also get a 409 (a state rule: "already
  resolved", "deactivated"...), which only comes after the object was found for this caller,
  when it repeats a destructive call an earlier caller made in the same world; the first
  allowed caller, in the world as built, may not. A 400 never counts: every mutation has a
  valid sample body, so a 400 means the sample is wrong and would hide a 404. A few routes
  list more statuses that prove the handler ran (`also_allowed`, e.g. 404 for Firebase
  sign-in on a server without Firebase).

The callers (CALLERS), in a world built afresh for every route (build_world, in
tests/attack/authorization_world.py):
- anonymous: no token;
- owner: the graduate who owns the objects in the path: the participant in /staff/
  participants/{id}, the alert's graduate, the holder of the device, sign-in, notification and
  calendar feed, a member of the group (with an RSVP to its session), the author of a post
  in its discussion (with a reply of theirs the facilitator hid, and a fellow member's
  report), who blocked that fellow member; whose support circle the facilitator is in, who
  asked it for help, and whom another fellow member invited into theirs;
- other_graduate: another graduate, member of another group (with a crisis post there);
- facilitator: runs the owner's group, and is in the owner's circle; other_facilitator: runs
  the other group only;
- staff: the owner's counselor; admin: an admin (who is staff too).
Every caller is checked on every route (a route whose call uses its object up, as a
dismissal does, makes a fresh one before each later allowed caller: `renew`). Besides, each route with ids in its path is called
by its first allowed caller with foreign ids: well formed ones of nothing that exists, and
real ids of the wrong kind where WRONG_KIND or `wrong_kind` name some (a staff member's id as
a participant's, a private group's on the public calendar, another group's post). Both must answer `foreign` (404).
No caller outside PRIVILEGED may ever be shown the owner's check-in note or contact details.

Every route that lets staff (or admins) in but not everyone signed in declares whether
staff calls are audited (`audit`): an `Audited(action)` is checked by calling the route as
staff (admin for admin-only routes), a `NotAudited(why)` says why a staff call reads or
writes no participant's data.

For the inert-text test, entries list the text fields that refuse any text (`strict_text`:
a 400 naming the field) and the credentials (`secret_text`: never stored or returned as
sent), and where stored text shows again (`read_back`).
"""

from __future__ import annotations

import datetime as dt
import inspect
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from tests import helpers

if TYPE_CHECKING:
    from tests.attack.authorization_world import World

ALLOWED = "allowed"
# The methods the route table is read without: the policy has no entries for them.
SKIPPED_METHODS = {"OPTIONS", "HEAD"}
Outcome = int | str  # 401, 403, 404, 422 or ALLOWED

CALLERS = ("anonymous", "owner", "other_graduate", "facilitator", "other_facilitator", "staff", "admin")
# Callers who may hold the owner's private data (their check-in notes, contact details).
PRIVILEGED = ("owner", "staff", "admin")
# Who makes the foreign-id call, and who sends the inert-text payloads: the first of these
# the route allows.
PREFERRED_CALLERS = ("owner", "facilitator", "staff", "admin", "other_graduate", "other_facilitator", "anonymous")


def access(default: Outcome, **outcomes: Outcome) -> dict[str, Outcome]:
    """Every caller's outcome: `default`, except the callers named."""
    unknown = set(outcomes) - set(CALLERS)
    assert not unknown, f"not callers: {unknown}"
    return {caller: outcomes.get(caller, default) for caller in CALLERS}


# The shapes of access the API has.
PUBLIC = access(ALLOWED)
SIGNED_IN = access(ALLOWED, anonymous=401)  # about the caller themselves, whoever they are
GRADUATES = access(403, anonymous=401, owner=ALLOWED, other_graduate=ALLOWED)  # a graduate's own
OWN_OBJECT = access(404, anonymous=401, owner=ALLOWED)  # an id of one of the caller's own things
MEMBERS = access(403, anonymous=401, owner=ALLOWED)  # graduates in the group (others: 403)
GROUP_READERS = access(403, anonymous=401, owner=ALLOWED, facilitator=ALLOWED, staff=ALLOWED, admin=ALLOWED)
GROUP_MANAGERS = access(404, anonymous=401, facilitator=ALLOWED, staff=ALLOWED, admin=ALLOWED)
STAFF = access(403, anonymous=401, staff=ALLOWED, admin=ALLOWED)
ADMIN = access(403, anonymous=401, admin=ALLOWED)
# A group's discussion: its members, its facilitators and staff; anyone else gets a 404, as
# for a group that does not exist (PRODUCT.md section 10).
DISCUSSION = access(404, anonymous=401, owner=ALLOWED, facilitator=ALLOWED, staff=ALLOWED, admin=ALLOWED)
# Hiding: the group's moderators; a member, who sees the post, gets a 403.
MODERATORS = DISCUSSION | {"owner": 403}
# Deleting: its author alone; the others who see it get a 403 (moderators hide instead).
AUTHOR = DISCUSSION | {"facilitator": 403, "staff": 403, "admin": 403}
# Reporting: whoever sees the post, but its author (422).
REPORTERS = DISCUSSION | {"owner": 422}
# Blocks are a graduate's own; a person they cannot meet in a discussion is a 404.
BLOCKERS = access(403, anonymous=401, owner=ALLOWED, other_graduate=404)
# The moderation queue: staff see every group's, a facilitator the groups they run (the other
# facilitator's is empty; an item of another group is a 404).
MODERATION_QUEUE = access(ALLOWED, anonymous=401, owner=403, other_graduate=403)
MODERATION_ITEM = MODERATION_QUEUE | {"other_facilitator": 404}
# The support circle: graduates have one, graduates and facilitators can be in one.
CIRCLE_PEOPLE = access(ALLOWED, anonymous=401, staff=403, admin=403)
CIRCLE_OWNER = access(404, anonymous=401, owner=ALLOWED, staff=403, admin=403)
CIRCLE_MEMBER = access(404, anonymous=401, facilitator=ALLOWED, staff=403, admin=403)
INVITERS = access(403, anonymous=401, owner=ALLOWED, other_graduate=404)


@dataclass(frozen=True)
class Audited:
    """Each call writes an audit row with this action, by the caller, for this method and
    path, naming `about`: the owner, the graduate the call creates (NEW_GRADUATE), or nobody
    (None: admin work on staff accounts)."""

    action: str
    about: str | None = "owner"


NEW_GRADUATE = "new graduate"
DELETED_GRADUATE = "deleted graduate"


@dataclass(frozen=True)
class NotAudited:
    why: str


Body = dict[str, Any] | Callable[["World"], dict[str, Any] | Awaitable[dict[str, Any]]]


@dataclass(frozen=True)
class Rule:
    access: dict[str, Outcome]
    body: Body | None = None
    """A valid request body (or a function of the world making one), for routes that take one."""
    params: dict[str, str] = field(default_factory=dict)
    """Path parameter -> World.ids key, where it is not the parameter's own name."""
    foreign: Outcome = 404
    """The answer to foreign ids: unknown ones, and real ones of the wrong kind (below)."""
    renew: Callable[[World], Awaitable[None]] | None = None
    """For a route whose call uses its object up (a dismissed item leaves the queue, a 404
    after): makes a fresh one before each later allowed caller, so each is checked in full."""
    wrong_kind: dict[str, str] = field(default_factory=dict)
    """Path parameter -> World.ids key of a real object this route must not reach (besides
    WRONG_KIND): called with it by the first allowed caller, the answer is `foreign` too."""
    audit: Audited | NotAudited | None = None
    media_type: str = "application/json"
    also_allowed: frozenset[int] = frozenset()
    strict_text: dict[str, str] = field(default_factory=dict)
    """Free-text fields with a stricter rule (field -> rule): any text answers 400 naming them."""
    secret_text: dict[str, int] = field(default_factory=dict)
    """Credential fields (field -> the status any text gets): never stored or returned as sent."""
    read_back: tuple[tuple[str, str], ...] = ()
    """(caller, path template) of GETs showing the text this route stores: where its answer
    does not, and where it goes out again (the public feeds)."""
    stores_text: bool = True
    """False for a route that only shows text back (the message preview): its text must come
    back as sent and be stored nowhere."""


def _checkin(world: World) -> dict[str, Any]:
    return helpers.checkin_body()


async def _activation(world: World) -> dict[str, Any]:
    return {"code": await world.fresh_activation_code()}


async def _refresh(world: World) -> dict[str, Any]:
    return {"refresh_token": await world.fresh_refresh_token()}


def _login(world: World) -> dict[str, Any]:
    return {"email": world.spare.email, "password": helpers.PASSWORD}


def _new_account(world: World) -> dict[str, Any]:
    return {"email": f"new-{uuid.uuid4().hex[:8]}@example.org", "name": "New Colleague", "roles": ["facilitator"]}


async def _setup(world: World) -> dict[str, Any]:
    return {"code": await world.fresh_setup_code(), "password": "violet tram umbrella quietly"}


async def _second_factor(world: World) -> dict[str, Any]:
    challenge, recovery_code = await world.fresh_mfa_challenge()
    return {"challenge": challenge, "code": recovery_code}


# Changing one's password to the same one: the caller can still sign in afterwards.
_SAME_PASSWORD = {"current_password": helpers.PASSWORD, "new_password": helpers.PASSWORD}
# Everyone signed in but graduates, who have no password (403).
PASSWORD_HOLDERS = access(ALLOWED, anonymous=401, owner=403, other_graduate=403)


def _attendance(world: World) -> dict[str, Any]:
    return {"records": [{"participant_id": world.owner.id, "status": "present"}]}


def _self_check_in(world: World) -> dict[str, Any]:
    return {"code": world.check_in_code}


def _moved_an_hour_later(world: World) -> dict[str, Any]:
    session = world.sessions["next"]
    later = dt.timedelta(hours=1)
    return {
        "starts_at": (dt.datetime.fromisoformat(session["starts_at"]) + later).isoformat(),
        "ends_at": (dt.datetime.fromisoformat(session["ends_at"]) + later).isoformat(),
        "reason": "The room is booked that hour.",
    }


def _enrolment(world: World) -> dict[str, Any]:
    # Today when the call is made (the clock may be pinned, tests/clock.py), not when this loads.
    return {"alias": "Sam", "timezone": "America/Chicago", "iop_completed_on": str(dt.date.today())}


def _staff_message(world: World) -> dict[str, Any]:
    return {"participant_id": world.owner.id, "title": "Checking in", "body": "How is your week going?"}


def _block(world: World) -> dict[str, Any]:
    return {"person_id": world.ids["person_id"]}


def _circle_invitation(world: World) -> dict[str, Any]:
    return {"person_id": world.ids["friend_id"]}


async def _fresh_report(world: World) -> None:
    world.ids["item_id"] = await world.fresh_report()


ANOTHER_GROUPS_POST = {"post_id": "other_post_id"}
SUPPORT_COUNT = "the answer is a count of support; nobody's words are shown"
MODERATED = "the post the moderator acts on, as the audited list or queue showed it; its author is told"

# Real ids of the wrong kind, for every route with such a parameter: a staff member's id is
# no graduate's, a graduate's id no account's.
WRONG_KIND = {"participant_id": "staff_person_id", "account_id": "graduate_person_id"}

TIMEZONE_RULE = {"timezone": "IANA time zone names only"}
OWN_INBOX = (("owner", "/v1/me/notifications"),)
# The world's group is public: what staff write about it goes out in the feeds.
PUBLIC_FEEDS = (
    ("anonymous", "/v1/public/meeting-guide.json"),
    ("anonymous", "/v1/public/groups/{group_id:uuid}/calendar.ics"),
)

POLICY: dict[tuple[str, str], Rule] = {
    # --- operations and sign-in: open to everyone -------------------------------------------
    ("GET", "/health/live"): Rule(PUBLIC),
    ("GET", "/health/ready"): Rule(PUBLIC),
    ("POST", "/v1/auth/activate"): Rule(PUBLIC, body=_activation, secret_text={"code": 400, "firebase_id_token": 400}),
    # This server has no Firebase project: the handler's own 404 (`firebase_sign_in_off`).
    ("POST", "/v1/auth/firebase"): Rule(
        PUBLIC, body={"id_token": "a-firebase-id-token"}, also_allowed=frozenset({404}), secret_text={"id_token": 404}
    ),
    ("POST", "/v1/auth/login"): Rule(PUBLIC, body=_login, secret_text={"password": 401}),
    ("POST", "/v1/auth/setup"): Rule(PUBLIC, body=_setup, secret_text={"code": 400, "password": 201}),
    ("POST", "/v1/auth/mfa"): Rule(PUBLIC, body=_second_factor, secret_text={"challenge": 401, "code": 401}),
    ("POST", "/v1/auth/logout"): Rule(PUBLIC, body=_refresh, secret_text={"refresh_token": 204}),
    ("POST", "/v1/auth/refresh"): Rule(PUBLIC, body=_refresh, secret_text={"refresh_token": 401}),
    ("GET", "/v1/crisis-resources"): Rule(PUBLIC),
    ("GET", "/v1/timezones"): Rule(PUBLIC),
    ("GET", "/v1/public/meeting-guide.json"): Rule(PUBLIC),
    ("GET", "/v1/public/groups/{group_id:uuid}/calendar.ics"): Rule(
        PUBLIC, media_type="text/calendar", wrong_kind={"group_id": "private_group_id"}
    ),
    # The secret URL is the key: whoever holds it reads the feed.
    ("GET", "/v1/calendar/{feed:str}"): Rule(PUBLIC, media_type="text/calendar"),
    # --- the caller's own profile, sign-ins, devices, inbox ---------------------------------
    ("GET", "/v1/me"): Rule(SIGNED_IN),
    ("PATCH", "/v1/me"): Rule(SIGNED_IN, body={"alias": "Robin"}, strict_text=TIMEZONE_RULE),
    ("DELETE", "/v1/me"): Rule(GRADUATES),
    ("GET", "/v1/me/export"): Rule(SIGNED_IN),
    ("GET", "/v1/me/sign-ins"): Rule(SIGNED_IN),
    ("POST", "/v1/me/password"): Rule(
        PASSWORD_HOLDERS,
        body=_SAME_PASSWORD,
        audit=Audited("account.password_changed", about=None),
        secret_text={"current_password": 403, "new_password": 204},
    ),
    # Two-factor sign-in. Nobody in the world has started setting it up, so confirming and
    # turning off answer 409 (`no_enrolment_started`, `mfa_off`) once past the guards;
    # tests/auth/test_two_factor.py takes them all the way, audit rows included.
    ("GET", "/v1/me/mfa"): Rule(SIGNED_IN),
    ("POST", "/v1/me/mfa/totp"): Rule(
        PASSWORD_HOLDERS, audit=Audited("account.mfa_enrolment_started", about=None), secret_text={}
    ),
    ("POST", "/v1/me/mfa/totp/confirm"): Rule(
        PASSWORD_HOLDERS,
        body={"code": "123456"},
        also_allowed=frozenset({409}),
        audit=NotAudited("about the caller's own account; a right code needs the caller's own app"),
        secret_text={"code": 409},
    ),
    ("DELETE", "/v1/me/mfa"): Rule(
        PASSWORD_HOLDERS,
        body={"password": helpers.PASSWORD, "code": "123456"},
        also_allowed=frozenset({409}),
        audit=NotAudited("about the caller's own account; a right code needs the caller's own app"),
        secret_text={"password": 409, "code": 409},
    ),
    ("DELETE", "/v1/me/sign-ins/{sign_in_id:uuid}"): Rule(OWN_OBJECT),
    ("GET", "/v1/me/sessions"): Rule(SIGNED_IN),
    ("POST", "/v1/me/calendar-feed"): Rule(SIGNED_IN),
    ("DELETE", "/v1/me/calendar-feed"): Rule(SIGNED_IN),
    ("GET", "/v1/me/devices"): Rule(SIGNED_IN),
    ("POST", "/v1/me/devices"): Rule(
        SIGNED_IN, body={"token": "fcm-sample-token", "platform": "android", "app_version": "1.4.0"}
    ),
    ("DELETE", "/v1/me/devices/{device_id:int}"): Rule(OWN_OBJECT),
    ("GET", "/v1/me/notification-preferences"): Rule(SIGNED_IN),
    ("PUT", "/v1/me/notification-preferences"): Rule(
        SIGNED_IN, body={"kinds": {"announcement": False}, "quiet_hours": {"start": "21:00", "end": "07:00"}}
    ),
    ("GET", "/v1/me/notifications"): Rule(SIGNED_IN),
    ("POST", "/v1/me/notifications/{notification_id:int}/read"): Rule(OWN_OBJECT),
    ("POST", "/v1/me/notifications/read-all"): Rule(SIGNED_IN),
    # --- check-ins: graduates only (facilitators never see check-ins) ----------------------
    ("GET", "/v1/checkins/due"): Rule(GRADUATES),
    ("GET", "/v1/checkins"): Rule(GRADUATES),
    ("POST", "/v1/checkins"): Rule(GRADUATES, body=_checkin, read_back=(("owner", "/v1/checkins"),)),
    # --- groups: the listing is open to everyone signed in ----------------------------------
    ("GET", "/v1/groups"): Rule(SIGNED_IN),
    ("GET", "/v1/groups/{group_id:uuid}"): Rule(SIGNED_IN),
    ("GET", "/v1/groups/{group_id:uuid}/sessions"): Rule(SIGNED_IN),
    ("POST", "/v1/groups/{group_id:uuid}/membership"): Rule(GRADUATES),
    ("DELETE", "/v1/groups/{group_id:uuid}/membership"): Rule(GRADUATES),
    ("GET", "/v1/groups/{group_id:uuid}/announcements"): Rule(
        GROUP_READERS, audit=NotAudited("group news, written for its members; no participant's data is read")
    ),
    ("POST", "/v1/groups/{group_id:uuid}/announcements"): Rule(
        GROUP_MANAGERS,
        body={"title": "Parking", "body": "Use the side entrance tonight."},
        audit=NotAudited("group news written to the group; no participant's data is read"),
    ),
    ("GET", "/v1/groups/{group_id:uuid}/members"): Rule(GROUP_MANAGERS, audit=Audited("group.members.read")),
    # --- sessions: members RSVP and check in; the group's facilitators and staff run them ---
    ("PUT", "/v1/sessions/{session_id:str}/rsvp"): Rule(MEMBERS, body={"status": "going"}),
    ("POST", "/v1/sessions/{session_id:str}/check-in"): Rule(MEMBERS, body=_self_check_in),
    ("GET", "/v1/sessions/{session_id:str}/roster"): Rule(GROUP_MANAGERS, audit=Audited("session.roster.read")),
    ("PUT", "/v1/sessions/{session_id:str}/attendance"): Rule(
        GROUP_MANAGERS, body=_attendance, audit=Audited("session.attendance.write")
    ),
    ("POST", "/v1/sessions/{session_id:str}/cancel"): Rule(
        GROUP_MANAGERS,
        body={"reason": "The facilitator is ill."},
        audit=NotAudited("a change to the group's calendar; members are told, nobody's data is read"),
    ),
    ("POST", "/v1/sessions/{session_id:str}/reschedule"): Rule(
        GROUP_MANAGERS,
        body=_moved_an_hour_later,
        params={"session_id": "next_session_id"},  # one that has not started: only those move
        audit=NotAudited("a change to the group's calendar; members are told, nobody's data is read"),
    ),
    # --- group discussions: the group's members, its facilitators and staff ----------------
    ("GET", "/v1/groups/{group_id:uuid}/posts"): Rule(
        DISCUSSION, wrong_kind={"group_id": "private_group_id"}, audit=Audited("group.posts.read")
    ),
    ("POST", "/v1/groups/{group_id:uuid}/posts"): Rule(
        DISCUSSION,
        body={"body": "Thank you all for tonight. See you next week."},
        wrong_kind={"group_id": "private_group_id"},
        audit=NotAudited("staff's own words to the group; the answer is their post alone"),
    ),
    ("GET", "/v1/posts/{post_id:int}/replies"): Rule(
        DISCUSSION, wrong_kind=ANOTHER_GROUPS_POST, audit=Audited("group.posts.read")
    ),
    ("DELETE", "/v1/posts/{post_id:int}"): Rule(AUTHOR, wrong_kind=ANOTHER_GROUPS_POST),
    ("PUT", "/v1/posts/{post_id:int}/reaction"): Rule(
        DISCUSSION, body={"kind": "support"}, wrong_kind=ANOTHER_GROUPS_POST, audit=NotAudited(SUPPORT_COUNT)
    ),
    ("DELETE", "/v1/posts/{post_id:int}/reaction"): Rule(
        DISCUSSION, wrong_kind=ANOTHER_GROUPS_POST, audit=NotAudited(SUPPORT_COUNT)
    ),
    ("POST", "/v1/posts/{post_id:int}/report"): Rule(
        REPORTERS,
        body={"reason": "other", "note": "This names someone outside the group."},
        wrong_kind=ANOTHER_GROUPS_POST,
        audit=NotAudited("the answer is a receipt (its id and reason); nobody's data is read"),
        read_back=(("facilitator", "/v1/staff/moderation"),),
    ),
    ("POST", "/v1/posts/{post_id:int}/hide"): Rule(
        MODERATORS,
        body={"reason": "It names someone outside the group."},
        wrong_kind=ANOTHER_GROUPS_POST,
        audit=NotAudited(MODERATED),
        read_back=OWN_INBOX,
    ),
    # The owner's reply the facilitator hid.
    ("POST", "/v1/posts/{post_id:int}/unhide"): Rule(
        MODERATORS,
        body={"reason": "Thank you for editing the name out."},
        params={"post_id": "hidden_post_id"},
        wrong_kind=ANOTHER_GROUPS_POST,
        audit=NotAudited(MODERATED),
        read_back=OWN_INBOX,
    ),
    ("GET", "/v1/me/blocks"): Rule(GRADUATES),
    # The owner blocked a fellow member; the other graduate has never met them.
    ("POST", "/v1/me/blocks"): Rule(BLOCKERS, body=_block),
    ("DELETE", "/v1/me/blocks/{person_id:uuid}"): Rule(BLOCKERS),
    # A ticket for the caller's own live socket (tests/discussions/test_live_handshake.py takes it further).
    ("POST", "/v1/live-tickets"): Rule(SIGNED_IN),
    ("GET", "/v1/staff/moderation"): Rule(MODERATION_QUEUE, audit=Audited("moderation.read")),
    # A fellow member's report of the owner's post (another group's item: its crisis flag).
    ("POST", "/v1/staff/moderation/{item_id:int}/dismiss"): Rule(
        MODERATION_ITEM,
        renew=_fresh_report,
        wrong_kind={"item_id": "other_item_id"},
        audit=Audited("moderation.dismiss"),
    ),
    # --- the support circle (the facilitator is in the owner's circle; a fellow member,
    # "friend", invited the owner into theirs; the owner asked for help) -----------------------
    ("GET", "/v1/me/circle"): Rule(CIRCLE_PEOPLE),
    ("DELETE", "/v1/me/circle/{person_id:uuid}"): Rule(CIRCLE_OWNER, params={"person_id": "circle_member_id"}),
    # The facilitator mutes the owner's circle, for a while.
    ("POST", "/v1/me/circle/{person_id:uuid}/mute"): Rule(
        CIRCLE_MEMBER, body={"hours": 2}, params={"person_id": "participant_id"}
    ),
    ("DELETE", "/v1/me/circle/{person_id:uuid}/mute"): Rule(CIRCLE_MEMBER, params={"person_id": "participant_id"}),
    ("POST", "/v1/me/circle/invitations"): Rule(INVITERS, body=_circle_invitation),
    ("GET", "/v1/me/circle/invitations"): Rule(CIRCLE_PEOPLE),
    ("POST", "/v1/me/circle/invitations/{invitation_id:int}/accept"): Rule(CIRCLE_OWNER),
    ("POST", "/v1/me/circle/invitations/{invitation_id:int}/decline"): Rule(CIRCLE_OWNER),
    ("POST", "/v1/me/help-now"): Rule(
        GRADUATES, body={"message": "Rough night, can someone call?"}, read_back=(("owner", "/v1/me/help-now"),)
    ),
    ("GET", "/v1/me/help-now"): Rule(GRADUATES),
    # The owner's call for help reached the facilitator only.
    ("GET", "/v1/help-requests/{request_id:int}"): Rule(CIRCLE_MEMBER),
    ("POST", "/v1/help-requests/{request_id:int}/respond"): Rule(CIRCLE_MEMBER, body={"response": "reaching_out"}),
    ("GET", "/v1/staff/participants/{participant_id:uuid}/help-requests"): Rule(
        STAFF, audit=Audited("participant.help_requests.read")
    ),
    # --- staff: graduates ---------------------------------------------------------------------
    ("GET", "/v1/staff/participants"): Rule(STAFF, audit=Audited("participant.list")),
    ("POST", "/v1/staff/participants"): Rule(
        STAFF,
        body=_enrolment,
        audit=Audited("participant.create", about=NEW_GRADUATE),
        strict_text=TIMEZONE_RULE,
    ),
    ("GET", "/v1/staff/participants/{participant_id:uuid}"): Rule(STAFF, audit=Audited("participant.read")),
    ("PATCH", "/v1/staff/participants/{participant_id:uuid}"): Rule(
        STAFF, body={"alias": "Sammy"}, audit=Audited("participant.update"), strict_text=TIMEZONE_RULE
    ),
    ("POST", "/v1/staff/participants/{participant_id:uuid}/deactivate"): Rule(
        STAFF, audit=Audited("participant.deactivate")
    ),
    ("POST", "/v1/staff/participants/{participant_id:uuid}/reactivate"): Rule(
        STAFF, audit=Audited("participant.reactivate")
    ),
    ("POST", "/v1/staff/participants/{participant_id:uuid}/activation-code"): Rule(
        STAFF, audit=Audited("participant.activation_code")
    ),
    ("GET", "/v1/staff/participants/{participant_id:uuid}/groups"): Rule(
        STAFF, audit=Audited("participant.groups.read")
    ),
    ("GET", "/v1/staff/participants/{participant_id:uuid}/plan"): Rule(STAFF, audit=Audited("participant.plan.read")),
    ("PUT", "/v1/staff/participants/{participant_id:uuid}/plan"): Rule(
        STAFF, body={"cadence": "daily"}, audit=Audited("participant.plan.write")
    ),
    ("GET", "/v1/staff/participants/{participant_id:uuid}/checkins"): Rule(
        STAFF, audit=Audited("participant.checkins.read")
    ),
    ("DELETE", "/v1/staff/participants/{participant_id:uuid}"): Rule(
        ADMIN,
        body={"confirm_alias": "Owner"},
        audit=Audited("participant.delete"),
        strict_text={"confirm_alias": "the graduate's alias, repeated exactly"},
    ),
    # A graduate who deleted their account while an alert was open (the world's `Gone`).
    ("POST", "/v1/staff/deleted-accounts/{participant_id:uuid}/acknowledge"): Rule(
        STAFF,
        params={"participant_id": "deleted_participant_id"},
        audit=Audited("participant.deleted.acknowledge", about=DELETED_GRADUATE),
    ),
    # --- staff: alerts, watchlist, metrics, messages ------------------------------------------
    ("GET", "/v1/staff/alerts"): Rule(STAFF, audit=Audited("alert.list")),
    ("GET", "/v1/staff/alerts/{alert_id:int}"): Rule(STAFF, audit=Audited("alert.read")),
    ("POST", "/v1/staff/alerts/{alert_id:int}/acknowledge"): Rule(STAFF, audit=Audited("alert.acknowledge")),
    ("POST", "/v1/staff/alerts/{alert_id:int}/outreach"): Rule(
        STAFF,
        body={"channel": "call", "reached": True, "note": "Talked; coming on Tuesday."},
        audit=Audited("alert.outreach"),
    ),
    ("POST", "/v1/staff/alerts/{alert_id:int}/resolve"): Rule(
        STAFF, body={"note": "Safe, plan in place."}, audit=Audited("alert.resolve")
    ),
    ("GET", "/v1/staff/watchlist"): Rule(STAFF, audit=Audited("watchlist.read")),
    ("GET", "/v1/staff/metrics"): Rule(STAFF, audit=NotAudited("counts over the whole program; nobody's data")),
    ("GET", "/v1/staff/system-status"): Rule(
        STAFF,
        audit=NotAudited(
            "job health; admins reading the aliases of graduates a job skips is audited (system_status.read)"
        ),
    ),
    ("POST", "/v1/staff/notifications"): Rule(
        STAFF, body=_staff_message, audit=Audited("notification.send"), read_back=OWN_INBOX
    ),
    ("POST", "/v1/staff/notifications/preview"): Rule(
        STAFF,
        body={"title": "Checking in", "body": "How is your week going?"},
        audit=NotAudited("sends nothing and reads nobody's data: a draft's words, as they would show"),
        stores_text=False,
    ),
    # --- staff: groups --------------------------------------------------------------------------
    ("POST", "/v1/staff/groups"): Rule(
        STAFF,
        body=helpers.GROUP,
        audit=NotAudited("a new group has no members"),
        strict_text=TIMEZONE_RULE,
    ),
    ("PATCH", "/v1/staff/groups/{group_id:uuid}"): Rule(
        STAFF,
        body={"description": "We meet in the library annex now."},
        audit=NotAudited("the group's own details; a larger capacity seats people, who are told"),
        strict_text=TIMEZONE_RULE,
        read_back=PUBLIC_FEEDS,
    ),
    ("POST", "/v1/staff/groups/{group_id:uuid}/archive"): Rule(
        STAFF, audit=NotAudited("the group's own state; no participant's data is read or changed")
    ),
    ("POST", "/v1/staff/groups/{group_id:uuid}/unarchive"): Rule(
        STAFF, audit=NotAudited("the group's own state; freed seats go to the waitlist, who are told")
    ),
    # --- staff and admins: accounts, the team, the audit log -----------------------------------
    ("GET", "/v1/staff/team"): Rule(STAFF, audit=NotAudited("names of staff and facilitators only")),
    ("GET", "/v1/staff/accounts"): Rule(ADMIN, audit=NotAudited("staff and facilitator accounts only")),
    ("POST", "/v1/staff/accounts"): Rule(
        ADMIN,
        body=_new_account,
        audit=Audited("account.create", about=None),
        strict_text=TIMEZONE_RULE,
    ),
    ("POST", "/v1/staff/accounts/{account_id:uuid}/deactivate"): Rule(
        ADMIN, audit=Audited("account.deactivate", about=None)
    ),
    ("POST", "/v1/staff/accounts/{account_id:uuid}/unlock"): Rule(ADMIN, audit=Audited("account.unlock", about=None)),
    ("POST", "/v1/staff/accounts/{account_id:uuid}/reset"): Rule(ADMIN, audit=Audited("account.reset", about=None)),
    ("GET", "/v1/staff/audit"): Rule(ADMIN, audit=NotAudited("the trail itself: ids and actions, read by admins")),
}


def wrong_kind_params(rule: Rule) -> dict[str, str]:
    return WRONG_KIND | rule.wrong_kind


def first_allowed(rule: Rule) -> str:
    return next(caller for caller in PREFERRED_CALLERS if rule.access[caller] == ALLOWED)


async def request_body(rule: Rule, world: World) -> dict[str, Any] | None:
    """A fresh copy of the route's sample body (made for this call, where it must be new)."""
    if rule.body is None:
        return None
    body = rule.body(world) if callable(rule.body) else rule.body
    if inspect.isawaitable(body):
        body = await body
    return dict(body)  # type: ignore[arg-type]
