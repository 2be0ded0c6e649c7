"""The risk rules, each at its edge."""

from api.checkins.risk import CRITICAL, HIGH, MEDIUM, Answers, assess


def answers(**change):
    base = {"mood": 3, "craving": 2, "used": False, "need_support": "no"}
    return Answers(**(base | change))


def codes(reasons):
    return [(r.code, r.severity) for r in reasons]


def test_a_calm_check_in_has_no_reasons():
    assert assess(answers(), []) == []


def test_need_support_and_use():
    assert codes(assess(answers(need_support="crisis_now"), [])) == [("crisis_now", CRITICAL)]
    assert codes(assess(answers(need_support="talk_soon"), [])) == [("talk_soon", HIGH)]
    assert codes(assess(answers(used=True), [])) == [("reported_use", HIGH)]


def test_craving_eight_or_more():
    assert codes(assess(answers(craving=8), [])) == [("craving_high", MEDIUM)]
    assert assess(answers(craving=7), []) == []


def test_craving_three_above_the_persons_median_needs_five_earlier():
    usual = [answers(craving=c) for c in (2, 1, 2, 3, 2)]  # median 2
    assert codes(assess(answers(craving=5), usual)) == [("craving_above_usual", MEDIUM)]
    assert assess(answers(craving=4), usual) == []
    assert assess(answers(craving=5), usual[:4]) == []  # four earlier: not enough to know "usual"
    many = [answers(craving=0)] * 14 + [answers(craving=9)] * 10  # only the 14 newest count
    assert codes(assess(answers(craving=3), many)) == [("craving_above_usual", MEDIUM)]


def test_low_mood_twice_running():
    assert codes(assess(answers(mood=2), [answers(mood=1)])) == [("low_mood_twice", MEDIUM)]
    assert assess(answers(mood=2), [answers(mood=3)]) == []
    assert assess(answers(mood=3), [answers(mood=1)]) == []
    assert assess(answers(mood=1), []) == []


def test_screens_positive_at_three():
    assert codes(assess(answers(phq2=(1, 2)), [])) == [("phq2_positive", MEDIUM)]
    assert assess(answers(phq2=(1, 1)), []) == []
    assert codes(assess(answers(gad2=(3, 0)), [])) == [("gad2_positive", MEDIUM)]


def test_several_reasons_at_once():
    reasons = assess(answers(need_support="crisis_now", used=True, craving=9, mood=1), [answers(mood=2)])
    assert [r.code for r in reasons] == ["crisis_now", "reported_use", "craving_high", "low_mood_twice"]
