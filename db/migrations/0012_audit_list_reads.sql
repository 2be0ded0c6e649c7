-- A read of a list (participants, the watchlist, alerts, a group's members, a roster) is one
-- audit row holding every graduate it showed, instead of a row per graduate: browsing a few
-- pages no longer floods the log, and every graduate read is still in it. `participant_id`
-- keeps naming the one graduate of a row about one; `participant_ids` holds the graduates of a
-- row about more than one (null otherwise).
--
-- On a large, busy log: a nullable column without a default changes the catalog only (no
-- rewrite), and the lock it needs is asked for with a time limit, so that a long transaction
-- holding the table fails this migration (run it again) instead of queueing every staff read
-- behind it. The index holds only rows written from now on (none yet), but building it reads
-- the table once while the migration's transaction still holds that lock: staff reads, which
-- write their audit row, wait for that one pass (seconds for millions of rows): run it when
-- staff are not busy.
set local lock_timeout = '10s';
alter table audit_log add column participant_ids uuid[];
set local lock_timeout to default;
-- "Whose data": a graduate among a list's ids (`participant_ids @> array[id]`).
create index audit_log_participant_ids_idx on audit_log using gin (participant_ids)
    where participant_ids is not null;
