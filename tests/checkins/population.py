"""A random population of graduates, and the sweep run on it by the plain statements and
read back: shared by the slot SQL tests (tests/checkins/test_slots_sql.py) and the engagement
state's (tests/checkins/test_engagement.py)."""

from __future__ import annotations

import datetime as dt
import random
import uuid
from zoneinfo import ZoneInfo

from api.checkins import plan
from api.checkins.plan import Override
from tests.checkins import reference_sql

ZONES = ["UTC", "America/Chicago", "America/Los_Angeles", "Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kolkata"]


async def populate(conn, now: dt.datetime, seed: int, size: int = 400) -> dict:
    """Graduates at every stage, some never signed in, inactive, back from a deactivation,
    or under an override (set before, during or after a slot); check-ins on random days;
    open, acknowledged and resolved alerts; two counselors. Returns what the rules need."""
    rng = random.Random(seed)
    counselors = [uuid.uuid4(), uuid.uuid4()]
    await conn.executemany(
        "insert into people (id, roles, name, timezone) values ($1, array['staff'], 'C', 'UTC')",
        [(c,) for c in counselors],
    )
    grads = []
    for n in range(size):
        zone = rng.choice(ZONES)
        today = now.astimezone(ZoneInfo(zone)).date()
        iop = today - dt.timedelta(days=rng.randrange(-5, 400))
        activated_at = now - dt.timedelta(days=rng.uniform(0, 60)) if rng.random() < 0.92 else None
        reactivated_at = now - dt.timedelta(days=rng.uniform(0, 20)) if rng.random() < 0.1 else None
        override = set_at = None
        if rng.random() < 0.35:
            starts = today + dt.timedelta(days=rng.randrange(-40, 10))
            ends = starts + dt.timedelta(days=rng.randrange(0, 40)) if rng.random() < 0.6 else None
            override = Override(rng.choice(plan.CADENCES), starts, ends)
            set_at = now - dt.timedelta(days=rng.uniform(0, 50))
        checkin_days = sorted({today - dt.timedelta(days=rng.randrange(-1, 45)) for _ in range(rng.randrange(0, 40))})
        grads.append(
            dict(
                id=uuid.uuid4(),
                zone=zone,
                iop=iop,
                activated_at=activated_at,
                reactivated_at=reactivated_at,
                active=rng.random() < 0.95,
                override=override,
                set_at=set_at,
                checkins=checkin_days,
                counselor=rng.choice(counselors + [None]),
                name=f"G{n}",
            )
        )
    await conn.executemany(
        "insert into people (id, roles, name, timezone, is_active, reactivated_at)"
        " values ($1, array['participant'], $2, $3, $4, $5)",
        [(g["id"], g["name"], g["zone"], g["active"], g["reactivated_at"]) for g in grads],
    )
    await conn.executemany(
        "insert into participant_profiles (person_id, iop_completed_on, activated_at, counselor_id) values ($1, $2, $3, $4)",
        [(g["id"], g["iop"], g["activated_at"], g["counselor"]) for g in grads],
    )
    await conn.executemany(
        "insert into checkin_plans (person_id, cadence, starts_on, ends_on, set_at) values ($1, $2, $3, $4, $5)",
        [
            (g["id"], g["override"].cadence, g["override"].starts_on, g["override"].ends_on, g["set_at"])
            for g in grads
            if g["override"]
        ],
    )
    await conn.executemany(
        "insert into checkins (person_id, client_id, client_time, local_date, mood, craving, used, sleep, need_support)"
        " values ($1, gen_random_uuid(), $2, $3, 3, 1, false, 3, 'no')",
        [
            (g["id"], dt.datetime.combine(d, dt.time(rng.randrange(24)), tzinfo=dt.UTC), d)
            for g in grads
            for d in g["checkins"]
        ],
    )
    alerts = []
    for g in grads:
        for kind in ("checkin_risk", "missed_checkins", "low_adherence"):
            if rng.random() < 0.12:
                status = rng.choice(["open", "acknowledged", "resolved"])
                alerts.append((g["id"], kind, rng.randint(1, 4), status, now - dt.timedelta(days=rng.uniform(0, 12))))
    await conn.executemany(
        "insert into alerts (person_id, kind, severity, status, resolved_at) values ($1, $2, $3, $4, case when $4 = 'resolved' then $5::timestamptz end)",
        alerts,
    )
    return {"grads": grads, "counselors": counselors}


async def sweep_outcome(conn) -> dict:
    """What sweeps leave behind: the misses recorded, the alerts and their events, in order."""
    missed = await conn.fetch(
        "select person_id, slot_starts_on, slot_ends_on, alerted, made_up_by from missed_checkins order by 1, 2"
    )
    # In the order each alert and event was written for a person and kind (the order in
    # which one statement writes several people's rows is its plan's business).
    alerts = await conn.fetch(
        "select person_id, kind, severity, status, reasons, details, opened_at from alerts order by person_id, kind, id"
    )
    events = await conn.fetch(
        "select a.person_id, a.kind, e.kind as event, e.details from alert_events e join alerts a on a.id = e.alert_id"
        " order by a.person_id, a.kind, e.id"
    )
    return {
        "missed": [dict(r) for r in missed],
        "alerts": [dict(r) for r in alerts],
        "events": [dict(r) for r in events],
    }


async def reference_sweep(conn, now: dt.datetime, lookback_days: int) -> dict[str, int]:
    """The sweep done by the plain statements (tests/checkins/reference_sql.py): what each wrote."""
    async with conn.transaction():
        await conn.execute("set local jit = off")
        missed = await conn.execute(reference_sql.RECORD_MISSED, now, lookback_days)
        consecutive = await conn.execute(reference_sql.ALERT_CONSECUTIVE, now.date(), now, None, None, None, None)
        adherence = await conn.execute(reference_sql.ALERT_ADHERENCE, now)
    return {
        "missed_recorded": int(missed.split()[-1]),
        "misses_alerted": int(consecutive.split()[-1]),
        "adherence_alerts": int(adherence.split()[-1]),
    }
