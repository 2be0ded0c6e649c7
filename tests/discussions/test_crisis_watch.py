"""The crisis watch on a table of posts both ways, and every phrase in the reviewed list at its edges.

A change to api/discussions/crisis_phrases.json comes with a change here: a new phrase gets a flagged
example, a removed one an example that no longer flags."""

import json

import pytest

from api.discussions.crisis_watch import CATEGORIES, PHRASES_FILE, CrisisFlag, assess_post

LIST = json.loads(PHRASES_FILE.read_text(encoding="utf-8"))
LANGUAGES = ("en", "es")
ENTRIES = [
    (category, language, phrase)
    for category in CATEGORIES
    for language in LANGUAGES
    for phrase in LIST[category][language]
]
NEGATORS = {word.replace("'", "").replace("á", "a") for language in LANGUAGES for word in LIST["negators"][language]}


def plainly(phrase):
    """The entry as someone would write it: wildcards taken as nothing more, exceptions left out."""
    return " ".join(word.replace("*", "") for word in phrase.split() if not word.startswith("!"))


def starts_with_negator(phrase):
    return phrase.split()[0].replace("'", "") in NEGATORS


FLAGGED = [
    ("want-to-die", "I want to die", ("crisis",)),
    ("end-it-all-tonight", "Honestly I just want to end it all tonight", ("crisis",)),
    ("thinking-of-killing-myself", "I keep thinking about killing myself", ("crisis",)),
    ("better-off-without-me", "Everyone would be better off without me", ("crisis",)),
    ("cant-go-on-curly-apostrophe", "I can’t go on like this", ("crisis",)),
    ("cant-go-on-no-apostrophe", "i cant go on", ("crisis",)),
    ("no-reason-to-live", "There's no reason to live anymore", ("crisis",)),
    ("thoughts-of-suicide", "I keep having thoughts of suicide", ("crisis",)),
    ("cutting-again", "I've been cutting again", ("crisis",)),
    ("took-an-overdose", "I think I took an overdose", ("crisis",)),
    ("dont-want-to-live-starts-with-a-negator", "I don't want to live anymore", ("crisis",)),
    ("negator-in-an-earlier-sentence", "I'm not okay. I want to die.", ("crisis",)),
    ("negator-in-an-earlier-clause", "I don't know, I want to die", ("crisis",)),
    ("negator-on-an-earlier-line", "Not sleeping\nI want to die", ("crisis",)),
    ("negator-four-words-away", "I never thought I would want to die", ("crisis",)),
    ("shouting", "I DON'T CARE ANYMORE, I WANT TO DIE", ("crisis",)),
    ("self-harm-hyphenated", "the urge to self-harm is back", ("crisis",)),
    ("life-isnt-worth-living", "Life isn't worth living", ("crisis",)),
    ("words-across-a-line-break", "I want to\n   die", ("crisis",)),
    ("unclosed-quote-hides-nothing", 'I said "enough. I want to die', ("crisis",)),
    ("relapsed-last-night", "I relapsed last night", ("use",)),
    ("i-used-yesterday", "I used yesterday after 90 days", ("use",)),
    ("i-used-full-stop", "I used.", ("use",)),
    ("got-high", "Got high again, feel awful", ("use",)),
    ("drinking-again", "I'm drinking again", ("use",)),
    ("bought-a-bag", "Bought a bag on the way home", ("use",)),
    ("picked-up-again", "I picked up again after six months", ("use",)),
    ("relapsed-and-want-to-die", "I relapsed and I want to die", ("crisis", "use")),
    ("es-quiero-morir", "Quiero morir", ("crisis",)),
    ("es-me-quiero-morir", "Me quiero morir", ("crisis",)),
    ("es-ya-no-quiero-vivir", "Ya no quiero vivir", ("crisis",)),
    ("es-no-quiero-vivir-asi", "No quiero vivir así", ("crisis",)),
    ("es-matarme", "Estoy pensando en matarme", ("crisis",)),
    ("es-suicidarme", "He pensado en suicidarme", ("crisis",)),
    ("es-acabar-con-todo", "Quiero acabar con todo", ("crisis",)),
    ("es-hacerme-dano", "Tengo ganas de hacerme daño", ("crisis",)),
    ("es-hacerme-dano-without-tilde", "tengo ganas de hacerme dano", ("crisis",)),
    ("es-me-corte", "Me corté otra vez", ("crisis",)),
    ("es-mejor-muerta", "Estaría mejor muerta", ("crisis",)),
    ("es-sobredosis", "Tomé pastillas, creo que es una sobredosis", ("crisis",)),
    ("es-ya-no-puedo-mas", "Ya no puedo más", ("crisis",)),
    ("es-recai", "Recaí anoche", ("use",)),
    ("es-recai-without-accent", "recai", ("use",)),
    ("es-volvi-a-beber", "Volví a beber", ("use",)),
    ("es-volvi-a-consumir", "Volví a consumir después de un año", ("use",)),
    ("es-me-drogue", "Ayer me drogué", ("use",)),
    ("es-consumi", "Consumí el sábado", ("use",)),
    ("es-tuve-una-recaida", "Tuve una recaída", ("use",)),
    ("es-negator-in-an-earlier-clause", "No sé qué hacer, volví a tomar", ("use",)),
    ("es-recai-y-quiero-morir", "Recaí y quiero morir", ("crisis", "use")),
]

NOT_FLAGGED = [
    ("dont-want-to-die", "I don't want to die"),
    ("dont-want-to-die-curly-apostrophe", "I don’t want to die"),
    ("not-going-to-kill-myself", "I'm not going to kill myself"),
    ("never-thought-about-suicide", "I have never thought about suicide"),
    ("not-suicidal", "I'm not suicidal, just tired"),
    ("dont-want-to-hurt-myself", "I don't want to hurt myself anymore"),
    ("havent-used", "I haven't used in 90 days"),
    ("used-to", "I used to drink every day"),
    ("have-not-relapsed", "I have not relapsed"),
    ("never-using-again", "I'm never using again"),
    ("not-drinking-again", "I am not drinking again"),
    ("never-got-high", "Never got high at that party, proud of myself"),
    ("cutting-back", "Cutting back on coffee this week"),
    ("quoted-straight", 'My sponsor said "I want to die" was how she felt back then'),
    ("quoted-curly", "“I can’t go on” is a line from a song I like"),
    ("quoted-reply-line", "> I want to die\nSending you love, please call someone"),
    ("grateful", "Today I'm grateful to be alive"),
    ("meeting", "Had a great meeting, 100 days clean"),
    ("es-no-quiero-morir", "No quiero morir"),
    ("es-no-me-quiero-morir", "No me quiero morir"),
    ("es-nunca-pense-en-suicidarme", "Nunca pensé en suicidarme"),
    ("es-no-he-recaido", "No he recaído"),
    ("es-no-tuve-una-recaida", "No tuve una recaída"),
    ("es-jamas-volvi-a-beber", "Jamás volví a beber"),
    ("es-hoy-no-consumi", "Hoy no consumí nada"),
    ("es-ni-me-drogue", "Ni me drogué ni bebí"),
    ("es-nunca-me-corte", "Nunca me corté"),
    ("es-quoted-guillemets", "Mi madrina dijo «quiero morir» cuando tocó fondo"),
    ("es-quoted-reply-line", "> recaí anoche\nÁnimo, llama a tu consejera"),
    ("es-sin-consumir", "Llevo un año sin consumir"),
    ("es-buen-dia", "Gracias por el apoyo, hoy es un buen día"),
]


@pytest.mark.parametrize(("text", "categories"), [row[1:] for row in FLAGGED], ids=[row[0] for row in FLAGGED])
def test_a_plain_statement_of_crisis_or_use_is_flagged(text, categories):
    flag = assess_post(text)
    assert flag is not None
    assert flag.categories == categories
    assert flag.phrases


@pytest.mark.parametrize("text", [row[1] for row in NOT_FLAGGED], ids=[row[0] for row in NOT_FLAGGED])
def test_a_negated_quoted_or_ordinary_post_is_not_flagged(text):
    assert assess_post(text) is None


def test_the_table_has_enough_examples_both_ways_in_both_languages():
    for table in (FLAGGED, NOT_FLAGGED):
        spanish = [row for row in table if row[0].startswith("es-")]
        assert len(table) >= 25 and len(spanish) >= 10 and len(table) - len(spanish) >= 10


def test_the_flag_names_the_list_entries_staff_see():
    assert assess_post("I relapsed, and honestly I want to die. I want to die.") == CrisisFlag(
        categories=("crisis", "use"), phrases=("want to die", "relapsed")
    )
    assert assess_post("I'm thinking about suicide").phrases == ("suicid*",)
    assert assess_post("") is None


def test_the_list_loads_with_both_categories_both_languages_and_a_review_note():
    assert "clinical staff" in " ".join(LIST["reviewed"])
    assert "tests/discussions/test_crisis_watch.py" in " ".join(LIST["reviewed"])
    assert LIST["_about"]
    for key in (*CATEGORIES, "negators"):
        assert set(LIST[key]) == set(LANGUAGES)
    for language in LANGUAGES:
        count = sum(len(LIST[category][language]) for category in CATEGORIES)
        assert 30 <= count <= 60, (language, count)
    phrases = [phrase for _, _, phrase in ENTRIES]
    assert len(phrases) == len(set(phrases))
    assert all(phrase == phrase.lower().strip() and phrase for phrase in phrases)


@pytest.mark.parametrize(("category", "language", "phrase"), ENTRIES, ids=[f"{c}-{lang}-{p}" for c, lang, p in ENTRIES])
def test_every_entry_written_plainly_is_flagged(category, language, phrase):
    for text in (plainly(phrase), f"Honestly, {plainly(phrase)} tonight", plainly(phrase).upper()):
        flag = assess_post(text)
        assert flag is not None and category in flag.categories and phrase in flag.phrases, text


@pytest.mark.parametrize(("category", "language", "phrase"), ENTRIES, ids=[f"{c}-{lang}-{p}" for c, lang, p in ENTRIES])
def test_every_entry_is_not_flagged_in_someone_elses_words(category, language, phrase):
    for text in (
        f'She said "{plainly(phrase)}" in the film',
        f"She said “{plainly(phrase)}” in the film",
        f"She said «{plainly(phrase)}» in the film",
        f"> {plainly(phrase)}\nThinking of you",
    ):
        assert assess_post(text) is None, text


NEGATABLE = [entry for entry in ENTRIES if not starts_with_negator(entry[2])]


@pytest.mark.parametrize(
    ("category", "language", "phrase"), NEGATABLE, ids=[f"{c}-{lang}-{p}" for c, lang, p in NEGATABLE]
)
def test_every_entry_is_turned_around_by_a_negator_just_before_it(category, language, phrase):
    # The rule, not the grammar: a negator up to three words before the entry, whatever the words.
    negator, two, three = {
        "en": ("never", "really truly", "really truly now"),
        "es": ("nunca", "de verdad", "de verdad pues"),
    }[language]
    assert assess_post(f"{negator} {plainly(phrase)}") is None
    assert assess_post(f"{negator} {two} {plainly(phrase)}") is None
    assert assess_post(f"{negator} {three} {plainly(phrase)}") is not None  # four words away: flagged
    assert assess_post(f"{negator}, {plainly(phrase)}") is not None  # another clause: flagged


@pytest.mark.parametrize(
    "phrase", [p for _, _, p in ENTRIES if starts_with_negator(p)], ids=lambda phrase: phrase.replace(" ", "-")
)
def test_an_entry_that_starts_with_a_negator_stays_flagged_after_another(phrase):
    assert assess_post(f"I never said it out loud but {plainly(phrase)}") is not None
    assert assess_post(f"not {plainly(phrase)}") is not None
