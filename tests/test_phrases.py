"""Shape edits said in words (learning.phrases): a table of phrases and the steps they must give,
and the phrases that must be refused with a message saying why."""

import pytest

from learning.phrases import DEFAULT_SPREADS, SUPERLATIVE_SPREADS, AttributeInfo, PhraseError, Step, parse_phrase, \
    unit_from_name

# what the models of the built-in chairs and the MakeHuman bodies hold (spreads as measured there)
CHAIRS = [AttributeInfo("height", "numeric", "m", 0.12), AttributeInfo("seat_width", "numeric", "m", 0.06),
          AttributeInfo("seat_height", "numeric", "m", 0.04), AttributeInfo("back_angle", "numeric", "deg", 6.0),
          AttributeInfo("leg_thickness", "numeric", "m", 0.012), AttributeInfo("leg_count", "numeric", "", 1.0),
          AttributeInfo("volume_l", "numeric", "l", 8.0), AttributeInfo("sturdy", "semantic"),
          AttributeInfo("comfortable", "semantic"), AttributeInfo("lounge", "semantic"),
          AttributeInfo("category=table", "numeric")]
BODIES = [AttributeInfo("height", "numeric", "", 0.2), AttributeInfo("height_m", "numeric", "m", 0.09),
          AttributeInfo("weight_kg", "numeric", "kg", 12.0), AttributeInfo("age_years", "numeric", "years", 15.0),
          AttributeInfo("muscle", "numeric", "", 0.2)]
LAMPS = [AttributeInfo("height", "numeric", "m", 0.2), AttributeInfo("base_radius", "numeric", "m", 0.03),
         AttributeInfo("stem_thickness", "numeric", "m", 0.005), AttributeInfo("shade_radius", "numeric", "m", 0.04),
         AttributeInfo("shade_height", "numeric", "m", 0.05)]
PLANES = [AttributeInfo("length", "numeric", "m", 4.0), AttributeInfo("wingspan", "numeric", "m", 5.0),
          AttributeInfo("wing_sweep", "numeric", "deg", 8.0), AttributeInfo("fuselage_radius", "numeric", "m", 0.3),
          AttributeInfo("engine_count", "numeric", "", 1.0)]
VASES = [AttributeInfo("height", "numeric", "m", 0.08), AttributeInfo("max_radius", "numeric", "m", 0.03),
         AttributeInfo("neck_radius", "numeric", "m", 0.02), AttributeInfo("lip_flare", "numeric", "", 0.1),
         AttributeInfo("lounge chair", "semantic", synonyms=("loungey",))]
S, U, P = "spread", "unit", "percent"

# (models, phrase, [(attribute, direction, size, per), ...])
TABLE = [
    (CHAIRS, "taller", [("height", 1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "shorter", [("height", -1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "less tall", [("height", -1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "not as tall", [("height", -1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "isn't as tall", [("height", -1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "less short", [("height", 1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "higher", [("height", 1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "lower", [("height", -1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "tallest", [("height", 1, SUPERLATIVE_SPREADS, S)]),
    (CHAIRS, "as tall as possible", [("height", 1, SUPERLATIVE_SPREADS, S)]),
    (CHAIRS, "the shortest", [("height", -1, SUPERLATIVE_SPREADS, S)]),
    (CHAIRS, "a bit taller", [("height", 1, 0.25, S)]),
    (CHAIRS, "slightly taller", [("height", 1, 0.25, S)]),
    (CHAIRS, "somewhat shorter", [("height", -1, 0.5, S)]),
    (CHAIRS, "much taller", [("height", 1, 1.0, S)]),
    (CHAIRS, "a lot shorter", [("height", -1, 1.0, S)]),
    (CHAIRS, "far taller", [("height", 1, 1.0, S)]),
    (CHAIRS, "very much taller", [("height", 1, 1.5, S)]),
    (CHAIRS, "a tiny bit taller", [("height", 1, 0.1, S)]),
    (CHAIRS, "make it a little bit taller please", [("height", 1, 0.25, S)]),
    (CHAIRS, "10 cm taller", [("height", 1, 0.10, U)]),
    (CHAIRS, "10cm taller", [("height", 1, 0.10, U)]),
    (CHAIRS, "taller by 25 mm", [("height", 1, 0.025, U)]),
    (CHAIRS, "2 inches shorter", [("height", -1, 0.0508, U)]),
    (CHAIRS, "half a metre taller", [("height", 1, 0.5, U)]),
    (CHAIRS, "10% taller", [("height", 1, 10.0, P)]),
    (CHAIRS, "5 percent shorter", [("height", -1, 5.0, P)]),
    (CHAIRS, "wider", [("seat_width", 1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "narrower", [("seat_width", -1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "not as wide", [("seat_width", -1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "a wider seat", [("seat_width", 1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "a higher seat", [("seat_height", 1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "lower the seat by 3 cm", [("seat_height", -1, 0.03, U)]),
    (CHAIRS, "raise the seat a bit", [("seat_height", 1, 0.25, S)]),
    (CHAIRS, "thicker legs", [("leg_thickness", 1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "slightly thinner legs", [("leg_thickness", -1, 0.25, S)]),
    (CHAIRS, "legs 5 mm thicker", [("leg_thickness", 1, 0.005, U)]),
    (CHAIRS, "more legs", [("leg_count", 1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "fewer legs", [("leg_count", -1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "more reclined", [("back_angle", 1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "a bit more upright", [("back_angle", -1, 0.25, S)]),
    (CHAIRS, "5 degrees more reclined", [("back_angle", 1, 5.0, U)]),
    (CHAIRS, "5 litres bigger", [("volume_l", 1, 5.0, U)]),
    (CHAIRS, "smaller", [("volume_l", -1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "sturdier", [("sturdy", 1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "a bit sturdier", [("sturdy", 1, 0.25, S)]),
    (CHAIRS, "more sturdy", [("sturdy", 1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "the most sturdy", [("sturdy", 1, SUPERLATIVE_SPREADS, S)]),
    (CHAIRS, "sturdiest", [("sturdy", 1, SUPERLATIVE_SPREADS, S)]),
    (CHAIRS, "flimsier", [("sturdy", -1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "less fragile", [("sturdy", 1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "stronger", [("sturdy", 1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "not as sturdy", [("sturdy", -1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "1.5 sd sturdier", [("sturdy", 1, 1.5, S)]),
    (CHAIRS, "much more comfortable", [("comfortable", 1, 1.0, S)]),
    (CHAIRS, "comfier", [("comfortable", 1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "less comfortable", [("comfortable", -1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "more like a lounge chair", [("lounge", 1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "a bit more like a lounge chair", [("lounge", 1, 0.25, S)]),
    (CHAIRS, "lounge-like", [("lounge", 1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "less like a table", [("category=table", -1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "much less wide and slightly sturdier",
     [("seat_width", -1, 1.0, S), ("sturdy", 1, 0.25, S)]),
    (CHAIRS, "a bit taller, much sturdier", [("height", 1, 0.25, S), ("sturdy", 1, 1.0, S)]),
    (CHAIRS, "taller but not as wide", [("height", 1, DEFAULT_SPREADS, S), ("seat_width", -1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "10 cm taller; thicker legs and more like a lounge chair",
     [("height", 1, 0.1, U), ("leg_thickness", 1, DEFAULT_SPREADS, S), ("lounge", 1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "increase the height", [("height", 1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "reduce the seat width a lot", [("seat_width", -1, 1.0, S)]),
    (CHAIRS, "Taller!", [("height", 1, DEFAULT_SPREADS, S)]),
    (BODIES, "taller", [("height_m", 1, DEFAULT_SPREADS, S)]),
    (BODIES, "5 cm taller", [("height_m", 1, 0.05, U)]),
    (BODIES, "2 kg heavier", [("weight_kg", 1, 2.0, U)]),
    (BODIES, "a bit lighter", [("weight_kg", -1, 0.25, S)]),
    (BODIES, "slimmer", [("weight_kg", -1, DEFAULT_SPREADS, S)]),
    (BODIES, "10 pounds lighter", [("weight_kg", -1, 4.5359237, U)]),
    (BODIES, "older", [("age_years", 1, DEFAULT_SPREADS, S)]),
    (BODIES, "5 years younger", [("age_years", -1, 5.0, U)]),
    (BODIES, "more muscular", [("muscle", 1, DEFAULT_SPREADS, S)]),
    (BODIES, "much taller and slightly heavier", [("height_m", 1, 1.0, S), ("weight_kg", 1, 0.25, S)]),
    (LAMPS, "taller", [("height", 1, DEFAULT_SPREADS, S)]),
    (LAMPS, "a wider shade", [("shade_radius", 1, DEFAULT_SPREADS, S)]),
    (LAMPS, "a taller shade", [("shade_height", 1, DEFAULT_SPREADS, S)]),
    (LAMPS, "a thicker stem", [("stem_thickness", 1, DEFAULT_SPREADS, S)]),
    (LAMPS, "narrower base", [("base_radius", -1, DEFAULT_SPREADS, S)]),
    (PLANES, "longer", [("length", 1, DEFAULT_SPREADS, S)]),
    (PLANES, "shorter", [("length", -1, DEFAULT_SPREADS, S)]),
    (PLANES, "wider", [("wingspan", 1, DEFAULT_SPREADS, S)]),
    (PLANES, "2 m more wingspan", [("wingspan", 1, 2.0, U)]),
    (PLANES, "more swept wings", [("wing_sweep", 1, DEFAULT_SPREADS, S)]),
    (PLANES, "a fatter fuselage", [("fuselage_radius", 1, DEFAULT_SPREADS, S)]),
    (PLANES, "more engines", [("engine_count", 1, DEFAULT_SPREADS, S)]),
    (VASES, "wider", [("max_radius", 1, DEFAULT_SPREADS, S)]),
    (VASES, "a narrower neck", [("neck_radius", -1, DEFAULT_SPREADS, S)]),
    (VASES, "more flared lip", [("lip_flare", 1, DEFAULT_SPREADS, S)]),
    (VASES, "more like a lounge chair", [("lounge chair", 1, DEFAULT_SPREADS, S)]),
    (VASES, "loungier", [("lounge chair", 1, DEFAULT_SPREADS, S)]),
    # written before the parser saw them: 39 of these 40 parsed right then ("bigger base" did not)
    (CHAIRS, "make the chair a little taller", [("height", 1, 0.25, S)]),
    (CHAIRS, "way shorter", [("height", -1, 1.0, S)]),
    (CHAIRS, "3cm lower", [("height", -1, 0.03, U)]),
    (CHAIRS, "lower by 3 centimeters", [("height", -1, 0.03, U)]),
    (CHAIRS, "a touch wider", [("seat_width", 1, 0.1, S)]),
    (CHAIRS, "broader seat", [("seat_width", 1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "seat a bit lower", [("seat_height", -1, 0.25, S)]),
    (CHAIRS, "much sturdier but a bit less tall", [("sturdy", 1, 1.0, S), ("height", -1, 0.25, S)]),
    (CHAIRS, "more robust", [("sturdy", 1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "less wobbly", [("sturdy", 1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "not so flimsy", [("sturdy", 1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "a lot less comfortable", [("comfortable", -1, 1.0, S)]),
    (CHAIRS, "considerably more reclined", [("back_angle", 1, 1.0, S)]),
    (CHAIRS, "tilt the back 10 degrees more", [("back_angle", 1, 10.0, U)]),
    (CHAIRS, "chunkier legs", [("leg_thickness", 1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "skinnier legs", [("leg_thickness", -1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "somewhat more like a lounge chair", [("lounge", 1, 0.5, S)]),
    (CHAIRS, "much more lounge-like", [("lounge", 1, 1.0, S)]),
    (CHAIRS, "20% shorter", [("height", -1, 20.0, P)]),
    (CHAIRS, "taller, wider and sturdier",
     [("height", 1, DEFAULT_SPREADS, S), ("seat_width", 1, DEFAULT_SPREADS, S), ("sturdy", 1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "1 inch taller", [("height", 1, 0.0254, U)]),
    (CHAIRS, "a foot taller", [("height", 1, 0.3048, U)]),
    (CHAIRS, "very slightly narrower", [("seat_width", -1, 0.1, S)]),
    (CHAIRS, "the sturdiest possible", [("sturdy", 1, 2.0, S)]),
    (CHAIRS, "less sturdy", [("sturdy", -1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "bigger", [("volume_l", 1, DEFAULT_SPREADS, S)]),
    (CHAIRS, "2 litres smaller", [("volume_l", -1, 2.0, U)]),
    (BODIES, "heavier", [("weight_kg", 1, DEFAULT_SPREADS, S)]),
    (BODIES, "5 kg lighter", [("weight_kg", -1, 5.0, U)]),
    (BODIES, "much older and a bit taller", [("age_years", 1, 1.0, S), ("height_m", 1, 0.25, S)]),
    (BODIES, "younger", [("age_years", -1, DEFAULT_SPREADS, S)]),
    (BODIES, "fatter", [("weight_kg", 1, DEFAULT_SPREADS, S)]),
    (LAMPS, "shorter shade", [("shade_height", -1, DEFAULT_SPREADS, S)]),
    (LAMPS, "a slimmer stem", [("stem_thickness", -1, DEFAULT_SPREADS, S)]),
    (LAMPS, "bigger base", [("base_radius", 1, DEFAULT_SPREADS, S)]),
    (PLANES, "much longer", [("length", 1, 1.0, S)]),
    (PLANES, "narrower wingspan", [("wingspan", -1, DEFAULT_SPREADS, S)]),
    (PLANES, "fewer engines", [("engine_count", -1, DEFAULT_SPREADS, S)]),
    (VASES, "a slightly wider neck", [("neck_radius", 1, 0.25, S)]),
    (VASES, "taller and thinner", [("height", 1, DEFAULT_SPREADS, S), ("max_radius", -1, DEFAULT_SPREADS, S)]),
]


def _steps(models, phrase):
    return [(s.attribute, s.direction, round(s.size, 6), s.per) for s in parse_phrase(phrase, models)]


def test_the_phrase_table_parses_right():
    assert len(TABLE) >= 60
    wrong = []
    for models, phrase, expected in TABLE:
        want = [(a, d, round(size, 6), per) for a, d, size, per in expected]
        try:
            got = _steps(models, phrase)
        except PhraseError as error:
            got = f"error: {error}"
        if got != want:
            wrong.append((phrase, want, got))
    share = 1 - len(wrong) / len(TABLE)
    print(f"{len(TABLE) - len(wrong)} of {len(TABLE)} phrases parsed right; wrong: {wrong}")
    assert share >= 0.95, wrong


def test_steps_remember_their_words_and_give_changes_in_units():
    steps = parse_phrase("much less wide and 10 cm taller", CHAIRS)
    assert [s.words for s in steps] == ["much less wide", "10 cm taller"]
    assert steps[0].change(spread=0.06) == pytest.approx(-0.06)
    assert steps[1].change(spread=0.12) == pytest.approx(0.10)
    assert Step("height", 1, 10.0, "percent").change(current=0.8) == pytest.approx(0.08)
    assert steps[0].as_dict() == {"attribute": "seat_width", "direction": -1, "size": 1.0, "per": "spread",
                                  "words": "much less wide"}


@pytest.mark.parametrize("phrase, message", [
    ("greener", r"'greener' names no attribute the models know; they know: height \('taller/shorter'\).*sturdy"),
    ("a bit", r"'a bit' says how much but not what; add an attribute, e.g. 'a bit taller'"),
    ("much", r"'much' says how much but not what"),
    ("10 taller", r"10 what\? 'height' is in m; give the unit, e.g. '10 cm'"),
    ("2 kg taller", r"kg is a mass but 'height' is a length"),
    ("2 cm sturdier", r"'sturdy' has no unit to count cm in; say 'a bit'"),
    ("3 sturdier", r"a bare number does not say how much of 'sturdy'"),
    ("10% sturdier", r"'sturdy' is a learned strength with no zero"),
    ("taller legs", r"no attribute the models know is about the leg"),
    ("", r"The phrase is empty"),
    ("taller and greener", r"'greener' names no attribute"),
    ("more like a spaceship", r"'spaceship' is no attribute the models know"),
    ("10 cm 2 cm taller", r"gives two numbers"),
])
def test_bad_phrases_are_refused_with_the_reason(phrase, message):
    with pytest.raises(PhraseError, match=message):
        parse_phrase(phrase, CHAIRS)


def test_an_ambiguous_word_names_the_choices():
    with pytest.raises(PhraseError, match=r"could mean several attributes: base_radius .*shade_radius.*name the part"):
        parse_phrase("wider", LAMPS)


def test_no_attributes_at_all_says_what_to_learn():
    with pytest.raises(PhraseError, match="No learned attributes"):
        parse_phrase("taller", [])


def test_units_from_attribute_names():
    assert unit_from_name("height_m") == "m" and unit_from_name("weight_kg") == "kg"
    assert unit_from_name("volume_l") == "l" and unit_from_name("age_years") == "years"
    assert unit_from_name("seat_height") == "m" and unit_from_name("back_angle") == "deg"
    assert unit_from_name("back_angle", "backrest recline from vertical (degrees, 0 = upright)") == "deg"
    assert unit_from_name("belly_height", "height of the widest ring divided by the vase height (0..1)") == ""
    assert unit_from_name("leg_count") == "" and unit_from_name("sturdy") == ""
