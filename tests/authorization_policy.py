"""Who may call what: the one declared authorization policy of the API, and the small "world"
each route is checked in (tests/test_authorization.py).

POLICY is keyed by (method, path template as the app's route table spells it). Each entry
says, for every caller, what the answer must be:

- 401: not signed in;
- 403: signed in, but the wrong role (a role guard), or a member-only action on a group the
  caller can see anyway (its listing is open to everyone signed in, so "join first" gives
  nothing away);
- 404: the object in the path is not one this caller may see: a foreign id looks exactly
  like an unknown one (PRODUCT.md section 7);
- ALLOWED: the request got past authorization and the object-level check, and the handler
  did its work: a 2xx, or a 409 (a state rule: "already resolved", "deactivated"...), which
  only comes after the object was found for this caller, for example when the next allowed
  caller repeats a destructive call in the same world. A 400 never counts: every mutation has
  a valid sample body, so a 400 means the sample is wrong and would hide a 404. A few routes
  list more statuses that prove the handler ran (`also_allowed`, e.g. 501 for Firebase sign-in
  on a server without Firebase).

The callers (CALLERS), in a world built afresh for every route (build_world):
- anonymous: no token;
- owner: the graduate who owns the objects in the path: the participant in /staff/
  participants/{id}, the alert's graduate, the holder of the device, sign-in, notification and
  calendar feed, a member of the group (with an RSVP to its session);
- other_graduate: another graduate, member of another group;
- facilitator: runs the owner's group; other_facilitator: runs the other group only;
- staff: the owner's counselor; admin: an admin (who is staff too).
Every caller is checked on every route. Besides, each route with ids in its path is called
by its first allowed caller with foreign ids: well formed ones of nothing that exists, and
real ids of the wrong kind where WRONG_KIND or `wrong_kind` name some (a staff member's id as
a participant's, a private group's on the public calendar). Both must answer `foreign` (404).
No caller outside PRIVILEGED may ever be shown the owner's check-in note or contact details.

Every route under /v1/staff/ declares whether staff calls are audited (`audit`): an
`Audited(action)` is checked by calling the route as staff (admin for admin-only routes),
a `NotAudited(why)` says why a staff call reads or writes no participant's data.

For the inert-text test, entries list the text fields that refuse any text (`strict_text`:
a 400 naming the field) and the credentials (`secret_text`: never stored or returned as
sent), and where stored text shows again (`read_back`).
"""

from __future__ import annotations

import datetime as dt
import inspect
import re
import secrets
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg

from api.auth.credentials import Hasher
from api.groups import schedule as rules
from tests import helpers

ALLOWED = "allowed"
Outcome = int | str  # 401, 403, 404 or ALLOWED

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


@dataclass(frozen=True)
class Audited:
    """Each call writes an audit row with this action, by the caller, for this method and
    path, naming `about`: the owner, the graduate the call creates (NEW_GRADUATE), or nobody
    (None: admin work on staff accounts)."""

    action: str
    about: str | None = "owner"


NEW_GRADUATE = "new graduate"


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


def _checkin(world: World) -> dict[str, Any]:
    return helpers.checkin_body()


async def _activation(world: World) -> dict[str, Any]:
    return {"code": await world.fresh_activation_code()}


async def _refresh(world: World) -> dict[str, Any]:
    return {"refresh_token": await world.fresh_refresh_token()}


def _login(world: World) -> dict[str, Any]:
    return {"email": world.spare.email, "password": helpers.PASSWORD}


def _new_account(world: World) -> dict[str, Any]:
    return {
        "email": f"new-{uuid.uuid4().hex[:8]}@example.org",
        "password": "a long enough password",
        "name": "New Colleague",
        "roles": ["facilitator"],
    }


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


def _staff_message(world: World) -> dict[str, Any]:
    return {"participant_id": world.owner.id, "title": "Checking in", "body": "How is your week going?"}


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
    ("POST", "/v1/auth/activate"): Rule(PUBLIC, body=_activation, secret_text={"code": 400, "firebase_id_token": 501}),
    # This server has no Firebase project: 501 comes from the handler itself.
    ("POST", "/v1/auth/firebase"): Rule(
        PUBLIC, body={"id_token": "a-firebase-id-token"}, also_allowed=frozenset({501}), secret_text={"id_token": 501}
    ),
    ("POST", "/v1/auth/login"): Rule(PUBLIC, body=_login, secret_text={"password": 401}),
    ("POST", "/v1/auth/logout"): Rule(PUBLIC, body=_refresh, secret_text={"refresh_token": 204}),
    ("POST", "/v1/auth/refresh"): Rule(PUBLIC, body=_refresh, secret_text={"refresh_token": 401}),
    ("GET", "/v1/crisis-resources"): Rule(PUBLIC),
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
    ("GET", "/v1/groups/{group_id:uuid}/announcements"): Rule(GROUP_READERS),
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
    # --- staff: graduates ---------------------------------------------------------------------
    ("GET", "/v1/staff/participants"): Rule(STAFF, audit=Audited("participant.list")),
    ("POST", "/v1/staff/participants"): Rule(
        STAFF,
        body={"alias": "Sam", "timezone": "America/Chicago", "iop_completed_on": str(dt.date.today())},
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
    ("POST", "/v1/staff/notifications"): Rule(
        STAFF, body=_staff_message, audit=Audited("notification.send"), read_back=OWN_INBOX
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
        secret_text={"password": 201},
    ),
    ("POST", "/v1/staff/accounts/{account_id:uuid}/deactivate"): Rule(
        ADMIN, audit=Audited("account.deactivate", about=None)
    ),
    ("POST", "/v1/staff/accounts/{account_id:uuid}/unlock"): Rule(ADMIN, audit=Audited("account.unlock", about=None)),
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


# --- the world ---------------------------------------------------------------------------------

_PARAM = re.compile(r"\{(\w+):\w+\}")


def path_params(template: str) -> list[str]:
    return _PARAM.findall(template)


def fill_path(template: str, values: dict[str, Any]) -> str:
    return _PARAM.sub(lambda match: str(values[match.group(1)]), template)


def foreign_ids() -> dict[str, str]:
    """Well-formed ids of nothing that exists, one for each kind of path parameter."""
    return {
        "participant_id": str(uuid.uuid4()),
        "account_id": str(uuid.uuid4()),
        "group_id": str(uuid.uuid4()),
        "sign_in_id": str(uuid.uuid4()),
        "session_id": rules.session_id(uuid.uuid4(), dt.date.today(), 1),
        "device_id": str(2**62),
        "notification_id": str(2**62),
        "alert_id": str(2**62),
        "feed": f"{secrets.token_urlsafe(32)}.ics",
    }


@dataclass
class World:
    """Accounts, two groups (one with a session going on now), memberships, an RSVP, a check-in
    with an open alert, a device, a notification, a second sign-in and a calendar feed: enough
    for every route to have something to act on."""

    client: Any
    people: dict[str, helpers.Actor]
    """Signed-in callers by name (CALLERS but anonymous), and `spare`: an account for the
    account routes and for fresh sign-ins (so no caller's own session is used up)."""
    ids: dict[str, str]
    """Path parameter name -> the owner's object of that kind."""
    sessions: dict[str, dict[str, Any]]
    """`now` (started 10 minutes ago) and `next` (a week later) of the owner's group."""
    check_in_code: str
    secrets: list[str]
    """Texts only PRIVILEGED callers may ever be shown."""
    pending_participant: str
    """Enrolled, never activated: where fresh activation codes come from."""

    @property
    def owner(self) -> helpers.Actor:
        return self.people["owner"]

    @property
    def spare(self) -> helpers.Actor:
        return self.people["spare"]

    def headers(self, caller: str) -> dict[str, str]:
        return {} if caller == "anonymous" else self.people[caller].headers

    async def fresh_activation_code(self) -> str:
        response = await self.client.post(
            f"/v1/staff/participants/{self.pending_participant}/activation-code", headers=self.people["staff"].headers
        )
        assert response.status_code == 201, response.text
        return response.json()["activation_code"]

    async def fresh_refresh_token(self) -> str:
        response = await self.client.post(
            "/v1/auth/login", json={"email": self.spare.email, "password": helpers.PASSWORD}
        )
        assert response.status_code == 201, response.text
        return response.json()["refresh_token"]


async def empty_database(conn: asyncpg.Connection) -> None:
    """Every table emptied (the audit log too: `replica` mode skips its append-only trigger,
    as the `conn` fixture does)."""
    tables = await conn.fetch(
        "select tablename from pg_tables where schemaname = 'public' and tablename <> 'schema_migrations'"
    )
    await conn.execute("set session_replication_role = replica")
    await conn.execute("truncate " + ", ".join(f'"{t["tablename"]}"' for t in tables) + " cascade")
    await conn.execute("set session_replication_role = origin")


def _ok(response, *statuses: int) -> Any:
    assert response.status_code in (statuses or (200, 201)), response.text
    return response.json() if response.content else None


async def build_world(client, conn: asyncpg.Connection, hasher: Hasher, secret_key: str) -> World:
    """An empty database, then the world, through the API where the API can do it."""
    await empty_database(conn)
    people: dict[str, helpers.Actor] = {}
    for name, roles in (
        ("staff", ["staff"]),
        ("admin", ["admin", "staff"]),
        ("facilitator", ["facilitator"]),
        ("other_facilitator", ["facilitator"]),
        ("spare", ["facilitator"]),
    ):
        people[name] = await helpers.account(client, conn, hasher, roles)
    staff = people["staff"]
    marker = uuid.uuid4().hex[:8]
    owner_email, owner_phone = f"owner-{marker}@example.org", f"+1 555 {secrets.randbelow(10**7):07d}"
    people["owner"] = owner = await helpers.graduate(
        client, staff, alias="Owner", email=owner_email, phone=owner_phone, counselor_id=staff.id
    )
    people["other_graduate"] = other = await helpers.graduate(client, staff, alias="Other")
    pending = await helpers.enroll(client, staff, alias="Pending")

    # The owner's group has a session that started 10 minutes ago (weekly, so the next is
    # a week later); it is public, for the public calendar.
    zone, slot = helpers.slot_starting_in(-10, 60)
    group = await helpers.create_group(
        client, staff, timezone=zone, schedule=[slot], facilitator_ids=[people["facilitator"].id], public=True
    )
    other_group = await helpers.create_group(
        client, staff, name="Another Circle", facilitator_ids=[people["other_facilitator"].id]
    )
    _ok(await client.post(f"/v1/groups/{group['id']}/membership", headers=owner.headers))
    _ok(await client.post(f"/v1/groups/{other_group['id']}/membership", headers=other.headers))
    now = dt.datetime.now(dt.UTC)
    listed = _ok(
        await client.get(
            f"/v1/groups/{group['id']}/sessions",
            params={"from": (now - dt.timedelta(hours=2)).isoformat(), "to": (now + dt.timedelta(days=8)).isoformat()},
            headers=owner.headers,
        )
    )
    session_now, session_next = listed["items"][:2]
    _ok(await client.put(f"/v1/sessions/{session_now['id']}/rsvp", json={"status": "going"}, headers=owner.headers))

    # A second sign-in of the owner (a lost phone to sign out), their device, a check-in whose
    # note only they and staff may see (it opens an alert), a message, a calendar feed.
    await helpers.second_device(client, staff, owner)
    sign_ins = _ok(await client.get("/v1/me/sign-ins", headers=owner.headers))
    second_sign_in = next(s["id"] for s in sign_ins["items"] if not s["current"])
    device = _ok(
        await client.post("/v1/me/devices", json={"token": f"fcm-{marker}", "platform": "ios"}, headers=owner.headers)
    )
    note = f"private note {marker}: hard week"
    _ok(
        await client.post(
            "/v1/checkins", json=helpers.checkin_body(need_support="talk_soon", note=note), headers=owner.headers
        )
    )
    alert_id = await conn.fetchval("select id from alerts where person_id = $1", uuid.UUID(owner.id))
    sent = _ok(await client.post("/v1/staff/notifications", json=_staff_message_to(owner), headers=staff.headers))
    feed = _ok(await client.post("/v1/me/calendar-feed", headers=owner.headers))

    return World(
        client=client,
        people=people,
        ids={
            "participant_id": owner.id,
            "account_id": people["spare"].id,
            "group_id": group["id"],
            "session_id": session_now["id"],
            "next_session_id": session_next["id"],
            "sign_in_id": second_sign_in,
            "device_id": str(device["id"]),
            "notification_id": str(sent["notification_ids"][0]),
            "alert_id": str(alert_id),
            "feed": feed["url"].rsplit("/", 1)[1],
            # Real objects of the wrong kind (WRONG_KIND).
            "staff_person_id": staff.id,
            "graduate_person_id": owner.id,
            "private_group_id": other_group["id"],
        },
        sessions={"now": session_now, "next": session_next},
        check_in_code=rules.check_in_code(secret_key, session_now["id"]),
        secrets=[note, owner_email, owner_phone],
        pending_participant=pending["id"],
    )


def _staff_message_to(owner: helpers.Actor) -> dict[str, Any]:
    return {"participant_id": owner.id, "title": "Welcome", "body": "Your counselor will call on Monday."}
