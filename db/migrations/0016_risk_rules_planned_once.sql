-- The risk rules (checkin_risk_reasons, 0015) in PL/pgSQL instead of SQL. Called from
-- checkin_submit, the SQL function was planned again at every check-in (0.29 ms of the
-- check-in's 1.2 ms in the database, measured with pg_stat_user_functions); PL/pgSQL keeps
-- its plans for the session, and most of it is plain conditions that need no plan at all.
-- Same arguments, same answers (tests/test_checkin_paths.py holds it to api/checkins/risk.py),
-- and it now reads as that file does: one `if` a rule.
create or replace function checkin_risk_reasons(
    mood int, craving int, used boolean, need_support text, phq2 smallint[], gad2 smallint[],
    earlier_cravings int[], previous_mood int
) returns jsonb language plpgsql immutable as $$
declare
    reasons jsonb := '[]';
    usual float8;
    known int := coalesce(cardinality(earlier_cravings[1:14]), 0);
begin
    if need_support = 'crisis_now' then
        reasons := reasons || jsonb_build_object('code', 'crisis_now', 'kind', 'crisis', 'severity', 'critical',
                                                 'message', 'Asked for help now (in crisis).');
    elsif need_support = 'talk_soon' then
        reasons := reasons || jsonb_build_object('code', 'talk_soon', 'kind', 'talk_soon', 'severity', 'high',
                                                 'message', 'Asked to talk soon.');
    end if;
    if used then
        reasons := reasons || jsonb_build_object('code', 'reported_use', 'kind', 'reported_use', 'severity', 'high',
                                                 'message', 'Reported use since the last check-in.');
    end if;
    if craving >= 8 then
        reasons := reasons || jsonb_build_object('code', 'craving_high', 'kind', 'craving', 'severity', 'medium',
                                                 'message', format('Craving %s of 10.', craving));
    elsif known >= 5 then
        select percentile_cont(0.5) within group (order by c) into usual from unnest(earlier_cravings[1:14]) c;
        if craving >= usual + 3 then
            reasons := reasons || jsonb_build_object('code', 'craving_above_usual', 'kind', 'craving', 'severity', 'medium',
                                                     'message', format('Craving %s, usually about %s.', craving, usual));
        end if;
    end if;
    if mood <= 2 and previous_mood <= 2 then
        reasons := reasons || jsonb_build_object('code', 'low_mood_twice', 'kind', 'low_mood', 'severity', 'medium',
                                                 'message', 'Mood 2 or lower two check-ins running.');
    end if;
    if phq2[1] + phq2[2] >= 3 then
        reasons := reasons || jsonb_build_object('code', 'phq2_positive', 'kind', 'screen', 'severity', 'medium',
                                                 'message', format('PHQ-2 total %s (3 or more).', phq2[1] + phq2[2]));
    end if;
    if gad2[1] + gad2[2] >= 3 then
        reasons := reasons || jsonb_build_object('code', 'gad2_positive', 'kind', 'screen', 'severity', 'medium',
                                                 'message', format('GAD-2 total %s (3 or more).', gad2[1] + gad2[2]));
    end if;
    return reasons;
end $$;
