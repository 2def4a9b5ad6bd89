"""Shape edits said in words: "taller", "a bit sturdier", "much less wide and slightly heavier",
"10 cm taller", "more like a lounge chair" become steps along learned attributes.

`parse_phrase(text, attributes)` knows nothing of meshes: it reads the words against the attributes
the active models hold (`AttributeInfo`: numeric attributes with a unit and a spread, semantic
attributes learned from comparisons) and returns one `Step` per clause — attribute, direction ±1,
size (in spreads, in the attribute's own units, or in percent of its value) and the words it came
from. Anything it cannot read raises `PhraseError` naming the words and listing what the models know;
nothing is half-parsed.

How words become steps, all from curated tables in this file (no download, no embedding):
- Clauses are split at commas, semicolons, "and", "but", "while", "yet", "whereas", "then".
- Adjectives (`CONCEPTS`): each concept has words saying more of it, words saying less (antonyms)
  and nouns that name it inside attribute names (height → tall/high/short/low). Comparatives and
  superlatives are made by English spelling rules (sturdy → sturdier, sturdiest; big → bigger;
  wide → wider), so "sturdier" finds a semantic attribute named "sturdy" and "shorter" is less tall.
  A word of several concepts tries them in order ("short": tall, then long — an airplane has a
  length but no height; "thin": thick, then wide, then heavy).
- Attribute names are read the same way: "seat_height" is the concept tall of the part "seat",
  "max_radius" is wide with no part ("max", "overall" only qualify), "back_angle" reclined of the
  back. A part word in the clause ("a higher seat", "thicker legs") picks the attribute of that
  part; without one the attribute with no part is preferred, then the only one, else the phrase
  is refused as ambiguous, naming the choices.
- Direction: the word's sign (antonym −1) × "less"/"least"/"fewer" −1 × a negation ("not as wide",
  "isn't as tall") −1 × the attribute's own sign (an attribute named "flimsy" is sturdy, reversed).
- Size (`DEGREES`, in spreads: one spread is one standard deviation of the training shapes):

    | words                                                         | spreads |
    |---------------------------------------------------------------|---------|
    | a tiny bit, a touch, a hair, marginally, barely, very slightly| 0.1     |
    | a bit, a little, a little bit, slightly, a tad, mildly        | 0.25    |
    | (none), somewhat, moderately, fairly, rather, quite           | 0.5     |
    | much, a lot, far, way, very, considerably, quite a bit        | 1.0     |
    | very much, a great deal, a whole lot, much much, hugely, ...  | 1.5     |
    | superlative: tallest, the most sturdy, as tall as possible    | 2.0     |

  A number with a unit is a size in the attribute's units ("10 cm taller", "taller by 2 inches",
  "2 kg heavier", "5 litres bigger", "3 degrees more reclined"); "1.5 sd sturdier" is in spreads;
  "10% taller" is in percent of the current value. A unit of the wrong kind ("2 kg taller"), a
  number without a unit where the attribute has one, or a unit where it has none are refused.
- "more like a lounge chair", "less like a table", "lounge-like": a semantic attribute whose name is
  among those words ("lounge", "lounge chair", "lounge_chair"), or a class column ("category=chair").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# ---------------------------------------------------------------------------------------------
# Tables

# concept: (words saying more, words saying less, nouns naming it in attribute names)
CONCEPTS = {
    "tall": (("tall", "high", "lofty"), ("short", "low", "squat"), ("height", "tallness", "stature")),
    "long": (("long", "lengthy"), ("short", "stubby"), ("length",)),
    "wide": (("wide", "broad", "spacious", "fat", "plump"), ("narrow", "thin", "slim", "slender", "skinny"),
             ("width", "breadth", "wingspan", "span", "radius", "diameter", "girth")),
    "thick": (("thick", "chunky", "fat", "stout", "beefy"), ("thin", "slim", "slender", "skinny", "spindly"),
              ("thickness",)),
    "deep": (("deep",), ("shallow",), ("depth",)),
    "heavy": (("heavy", "hefty", "fat", "plump"), ("light", "lightweight", "thin", "slim", "slender", "skinny"),
              ("weight", "mass")),
    "big": (("big", "large", "huge", "bulky", "roomy"), ("small", "little", "tiny", "compact"),
            ("size", "volume", "capacity", "scale", "radius", "diameter")),
    "sturdy": (("sturdy", "strong", "robust", "solid", "stable", "durable", "rugged"),
               ("flimsy", "fragile", "weak", "delicate", "frail", "wobbly", "rickety"),
               ("sturdiness", "strength", "stability", "robustness")),
    "round": (("round", "rounded", "curvy", "curved", "smooth"), ("angular", "boxy", "square", "sharp", "edgy"),
              ("roundness", "curvature")),
    "comfortable": (("comfortable", "comfy", "cosy", "cozy", "soft"), ("uncomfortable", "hard"),
                    ("comfort", "comfortableness")),
    "reclined": (("reclined", "tilted", "slanted", "leaning", "sloped"), ("upright", "vertical"),
                 ("angle", "recline", "tilt", "lean")),
    "swept": (("swept",), ("straight",), ("sweep",)),
    "flared": (("flared", "flaring"), (), ("flare",)),
    "old": (("old", "aged", "elderly"), ("young", "youthful"), ("age",)),
    "muscular": (("muscular", "athletic", "toned"), (), ("muscle", "muscularity")),
    "many": (("many", "numerous"), ("few",), ("count", "number")),
    "modern": (("modern", "contemporary"), ("classic", "traditional", "old-fashioned"), ("modernity",)),
    "elegant": (("elegant", "graceful", "stylish"), ("clumsy", "ungainly", "plain"), ("elegance",)),
}

# Verbs that say a direction ("increase the height", "raise the seat"), some with their concept.
VERBS = {"increase": (None, 1), "raise": ("tall", 1), "grow": (None, 1), "boost": (None, 1), "add": (None, 1),
         "extend": ("long", 1), "enlarge": ("big", 1), "widen": ("wide", 1), "broaden": ("wide", 1),
         "lengthen": ("long", 1), "heighten": ("tall", 1), "thicken": ("thick", 1), "deepen": ("deep", 1),
         "strengthen": ("sturdy", 1), "decrease": (None, -1), "reduce": (None, -1), "shrink": ("big", -1),
         "lower": ("tall", -1), "narrow": ("wide", -1), "shorten": ("tall", -1), "thin": ("thick", -1),
         "weaken": ("sturdy", -1), "lighten": ("heavy", -1), "flatten": ("tall", -1), "cut": (None, -1)}

# degree words -> size in spreads (the table of the module doc); longest phrase wins
DEGREES = {
    "a tiny bit": 0.1, "a touch": 0.1, "a hair": 0.1, "marginally": 0.1, "barely": 0.1, "very slightly": 0.1,
    "ever so slightly": 0.1, "a smidge": 0.1, "a tiny little bit": 0.1, "just a bit": 0.25,
    "a bit": 0.25, "a little": 0.25, "a little bit": 0.25, "slightly": 0.25, "a tad": 0.25, "mildly": 0.25,
    "a wee bit": 0.25, "lightly": 0.25,
    "somewhat": 0.5, "moderately": 0.5, "fairly": 0.5, "rather": 0.5, "quite": 0.5, "reasonably": 0.5,
    "a fair bit": 0.5, "some": 0.5,
    "much": 1.0, "a lot": 1.0, "lots": 1.0, "far": 1.0, "way": 1.0, "very": 1.0, "really": 1.0,
    "considerably": 1.0, "significantly": 1.0, "substantially": 1.0, "noticeably": 1.0, "a good deal": 1.0,
    "a good bit": 1.0, "clearly": 1.0, "markedly": 1.0, "a lot more": 1.0, "quite a bit": 1.0, "quite a lot": 1.0,
    "very much": 1.5, "a great deal": 1.5, "a whole lot": 1.5, "much much": 1.5, "way way": 1.5,
    "far far": 1.5, "hugely": 1.5, "vastly": 1.5, "dramatically": 1.5, "extremely": 1.5, "enormously": 1.5,
    "massively": 1.5, "immensely": 1.5, "so much": 1.5, "really really": 1.5, "very very": 1.5,
}
DEFAULT_SPREADS = 0.5  # "taller" with no degree word
SUPERLATIVE_SPREADS = 2.0  # "tallest", "the most sturdy", "as tall as possible"

# unit word -> (dimension, size in SI units of the dimension); "spread" and "percent" are special
UNITS = {}
for _words, _dimension, _factor in (
        (("mm", "millimetre", "millimetres", "millimeter", "millimeters"), "length", 1e-3),
        (("cm", "centimetre", "centimetres", "centimeter", "centimeters"), "length", 1e-2),
        (("m", "metre", "metres", "meter", "meters"), "length", 1.0),
        (("km", "kilometre", "kilometres", "kilometer", "kilometers"), "length", 1e3),
        (("in", "inch", "inches", '"'), "length", 0.0254),
        (("ft", "foot", "feet"), "length", 0.3048),
        (("g", "gram", "grams", "gramme", "grammes"), "mass", 1e-3),
        (("kg", "kgs", "kilo", "kilos", "kilogram", "kilograms", "kilogramme", "kilogrammes"), "mass", 1.0),
        (("lb", "lbs", "pound", "pounds"), "mass", 0.45359237),
        (("ml", "millilitre", "millilitres", "milliliter", "milliliters"), "volume", 1e-6),
        (("l", "litre", "litres", "liter", "liters"), "volume", 1e-3),
        (("m3", "cubic"), "volume", 1.0),
        (("deg", "degree", "degrees", "°"), "angle", 1.0),
        (("rad", "radian", "radians"), "angle", 57.29577951308232),
        (("year", "years", "yr", "yrs"), "time", 1.0),
        (("sd", "sds", "sigma", "sigmas", "spread", "spreads", "std", "stddev", "deviation", "deviations"),
         "spread", 1.0),
        (("%", "percent", "pc", "pct"), "percent", 1.0)):
    for _word in _words:
        UNITS[_word] = (_dimension, _factor)

# the unit a name part says ("height_m", "weight_kg", "volume_l", "age_years")
NAME_UNITS = {"m": "m", "cm": "cm", "mm": "mm", "kg": "kg", "g": "g", "l": "l", "litres": "l", "liters": "l",
              "ml": "ml", "m3": "m3", "deg": "deg", "degrees": "deg", "rad": "rad", "years": "years", "yrs": "years"}
LENGTH_NOUNS = {"height", "width", "depth", "thickness", "length", "radius", "wingspan", "span", "diameter",
                "breadth", "girth"}
ANGLE_NOUNS = {"angle", "sweep", "tilt", "recline"}

EXAMPLE_UNITS = {"length": "cm", "mass": "kg", "volume": "litres", "angle": "degrees", "time": "years"}
NUMBER_WORDS = {"half": 0.5, "one": 1.0, "two": 2.0, "three": 3.0, "four": 4.0, "five": 5.0, "six": 6.0,
                "seven": 7.0, "eight": 8.0, "nine": 9.0, "ten": 10.0, "a": 1.0, "an": 1.0}
CLAUSE_BREAKS = {"and", "but", "while", "yet", "whereas", "then", "also", "plus", "though", "although"}
NEGATIONS = {"not", "no", "never", "nor"}
# qualifiers in attribute names that do not name a part ("max_radius" is the radius)
GENERIC_QUALIFIERS = {"max", "maximum", "overall", "total", "mean", "average", "outer", "largest", "main", "has",
                      "is", "of", "the"}
CLASS_KEYS = {"category", "class", "type", "kind", "style", "family", "label"}
# words that say nothing about the edit
FILLERS = {"make", "makes", "it", "its", "it's", "this", "that", "the", "a", "an", "please", "be", "should", "look",
           "looking", "looks", "bit", "to", "so", "is", "are", "was", "a", "of", "with", "by", "just", "i", "want",
           "would", "like", "could", "you", "can", "me", "give", "have", "has", "get", "little", "one", "thing",
           "shape", "object", "model", "mesh", "chair", "table", "lamp", "vase", "airplane", "plane", "body",
           "person", "human", "them", "they", "these", "those", "overall", "bit", "lot", "some", "too", "even",
           "than", "now", "before", "currently", "is", "for", "in", "on", "at", "from", "all", "as", "possible",
           "up", "down", "change", "set", "keep", "turn", "become", "somewhat", "much", "little", "n't", "no"}
for _verb in list(VERBS):
    FILLERS.discard(_verb)


# ---------------------------------------------------------------------------------------------
# Data


@dataclass
class AttributeInfo:
    """What the parser needs of one attribute of the active models."""

    name: str
    kind: str = "numeric"  # 'numeric' (a measured value with a unit) or 'semantic' (learned from comparisons)
    unit: str = ""  # 'm', 'cm', 'kg', 'l', 'deg', 'years', …; '' for none
    spread: float = 1.0  # one standard deviation of the training shapes, in the attribute's units
    synonyms: tuple = ()  # more words saying more of it
    antonyms: tuple = ()  # words saying less of it


@dataclass
class Step:
    """One clause of a phrase: move `attribute` by direction × size, `size` counted `per` one
    'spread' (a standard deviation of the training shapes), one 'unit' (the attribute's own unit)
    or one 'percent' of the current value."""

    attribute: str
    direction: int  # +1 more, -1 less
    size: float
    per: str = "spread"
    words: str = ""

    def change(self, spread: float = 1.0, current: float | None = None) -> float:
        """The signed change in the attribute's own units (strength units for semantic ones)."""
        if self.per == "unit":
            return self.direction * self.size
        if self.per == "percent":
            if current is None:
                raise PhraseError(f"'{self.words}' asks for a percentage of '{self.attribute}', whose current value "
                                  "is not known here")
            return self.direction * self.size / 100.0 * abs(current)
        return self.direction * self.size * spread

    def as_dict(self) -> dict:
        return {"attribute": self.attribute, "direction": self.direction, "size": self.size, "per": self.per,
                "words": self.words}


class PhraseError(ValueError):
    """A phrase that cannot be read; the message names the words and what would work."""


# ---------------------------------------------------------------------------------------------
# Words


_VOWELS = set("aeiou")


def _comparative_forms(word: str) -> tuple[str, str]:
    """(comparative, superlative) by English spelling rules: tall → taller, tallest; sturdy →
    sturdier; wide → wider; big → bigger (a short word ending consonant-vowel-consonant doubles)."""
    if word.endswith("y") and len(word) > 2 and word[-2] not in _VOWELS:
        return word[:-1] + "ier", word[:-1] + "iest"
    if word.endswith("e"):
        return word + "r", word + "st"
    if (len(word) <= 4 and len(word) >= 3 and word[-1] not in _VOWELS | set("wxy") and word[-2] in _VOWELS
            and word[-3] not in _VOWELS):
        return word + word[-1] + "er", word + word[-1] + "est"
    return word + "er", word + "est"


def _said_comparative(word: str) -> str:
    """How a comparative is said: 'taller', but 'more reclined', 'more comfortable', 'more'."""
    if word == "many":
        return "more"
    if len(word) > 6 or word.endswith(("ed", "pt", "ing", "ful", "ous", "ble", "ic", "al", "ive", "ent", "ant")):
        return "more " + word
    return _comparative_forms(word)[0]


def _singular(word: str) -> str:
    if word.endswith("ies") and len(word) > 4:
        return word[:-3] + "y"
    if word.endswith("s") and not word.endswith("ss") and len(word) > 3:
        return word[:-1]
    return word


def name_tokens(name: str) -> list:
    """The words of an attribute name: 'seat_height' → ['seat', 'height'], 'category=chair' →
    ['category', 'chair'], 'LoungeChair' → ['lounge', 'chair']."""
    spaced = re.sub(r"([a-z])([A-Z])", r"\1 \2", name)
    return [t for t in re.split(r"[^a-z0-9]+", spaced.lower()) if t]


def unit_from_name(name: str, description: str = "") -> str:
    """The unit an attribute's name (or its description) says: a unit word in the name ('height_m',
    'weight_kg', 'volume_l', 'age_years'), '(m)' or 'degrees' in the description, else metres for
    a length noun ('height', 'seat_width') and degrees for an angle noun; '' when none is known."""
    tokens = name_tokens(name)
    for token in reversed(tokens):
        if token in NAME_UNITS and len(tokens) > 1:
            return NAME_UNITS[token]
    text = description.lower()
    if "(m)" in text or "metres" in text or "meters" in text:
        return "m"
    if "degree" in text:
        return "deg"
    if "(kg)" in text:
        return "kg"
    if description:
        return ""
    if any(t in LENGTH_NOUNS for t in tokens):
        return "m"
    if any(t in ANGLE_NOUNS for t in tokens):
        return "deg"
    return ""


def _unit_dimension(unit: str):
    """(dimension, SI factor) of an attribute's unit string, or None."""
    return UNITS.get(unit.lower()) if unit else None


@dataclass
class _Reading:
    """How the parser reads one attribute: its concept, sign, parts and the words naming it."""

    info: AttributeInfo
    concepts: dict = field(default_factory=dict)  # concept -> sign (+1, or -1 for an antonym name)
    parts: frozenset = frozenset()
    like_words: frozenset = frozenset()  # words "more like …" matches
    class_column: bool = False


def _read_attribute(info: AttributeInfo) -> _Reading:
    tokens = name_tokens(info.name)
    if len(tokens) > 1 and tokens[-1] in NAME_UNITS:
        tokens = tokens[:-1]
    reading = _Reading(info)
    if "=" in info.name or (tokens and tokens[0] in CLASS_KEYS and len(tokens) > 1):
        value = info.name.split("=", 1)[1] if "=" in info.name else " ".join(tokens[1:])
        reading.like_words = frozenset(_singular(t) for t in name_tokens(value))
        reading.class_column = True
        return reading
    rest = []
    for token in tokens:
        found = False
        for concept, (more, less, nouns) in CONCEPTS.items():
            if token in nouns or token in more:
                reading.concepts.setdefault(concept, 1)
                found = True
            elif token in less:
                reading.concepts.setdefault(concept, -1)
                found = True
        if not found:
            rest.append(token)
    if not reading.concepts:  # a name of its own ("lounge", "curvy"): the name is the concept
        reading.concepts[f"name:{info.name}"] = 1
        rest = []
    reading.parts = frozenset(_singular(t) for t in rest if t not in GENERIC_QUALIFIERS)
    reading.like_words = frozenset(_singular(t) for t in tokens)
    return reading


class _Lexicon:
    """Every word form the parser knows, built once per attribute list."""

    def __init__(self, attributes):
        self.readings = [_read_attribute(a) for a in attributes]
        self.adjectives: dict = {}  # form -> [(concept, sign, degree 'positive'|'comparative'|'superlative')]
        self.nouns: dict = {}  # noun -> [(concept, sign)]
        concepts = {c: (list(m), list(l), list(n)) for c, (m, l, n) in CONCEPTS.items()}
        for reading in self.readings:
            info = reading.info
            for concept in reading.concepts:
                if concept.startswith("name:"):
                    words = name_tokens(info.name)
                    concepts[concept] = ([" ".join(words)] if len(words) > 1 else words, [], [])
                more, less, _ = concepts[concept]
                more += [w.lower() for w in info.synonyms]
                less += [w.lower() for w in info.antonyms]
        for concept, (more, less, nouns) in concepts.items():
            for sign, words in ((1, more), (-1, less)):
                for word in words:
                    self._add_adjective(word, concept, sign)
            for noun in nouns:
                self.nouns.setdefault(noun, []).append((concept, 1))
                self.nouns.setdefault(noun + "s", []).append((concept, 1))
        self.parts = set().union(*(r.parts for r in self.readings)) if self.readings else set()
        self.multiword = sorted({w for w in self.adjectives if " " in w}, key=lambda w: -len(w.split()))

    def _add_adjective(self, word, concept, sign):
        entries = [(word, "positive")]
        if " " not in word and "-" not in word:
            comparative, superlative = _comparative_forms(word)
            entries += [(comparative, "comparative"), (superlative, "superlative")]
            if word.endswith("e"):
                entries += [(word + "er", "comparative")]
            if word.endswith("ey"):  # "loungey" → "loungier"
                entries += [(word[:-2] + "ier", "comparative"), (word[:-2] + "iest", "superlative")]
        for form, degree in entries:
            bucket = self.adjectives.setdefault(form, [])
            if (concept, sign, degree) not in bucket:
                bucket.append((concept, sign, degree))

    def known(self) -> str:
        """The attributes the models know, each with words that reach it."""
        out = []
        for reading in self.readings:
            if reading.class_column:
                out.append(f"{reading.info.name} ('more like a {' '.join(sorted(reading.like_words))}')")
                continue
            concept, sign = next(iter(reading.concepts.items()))
            if concept.startswith("name:"):
                hint = "more " + " ".join(name_tokens(reading.info.name))
            else:
                more, less, _ = CONCEPTS[concept]
                up, down = (more, less) if sign > 0 else (less, more)
                hint = "/".join(_said_comparative(w) for w in (up[:1] + down[:1]))
                if reading.parts:
                    hint += " " + " ".join(sorted(reading.parts))
            out.append(f"{reading.info.name} ('{hint}')")
        return ", ".join(out) if out else "(none: learn attributes first)"


_lexicons: dict = {}


def _lexicon(attributes) -> _Lexicon:
    """The lexicon of an attribute list, built once per list (what the words mean does not depend on
    the spreads)."""
    key = tuple((a.name, a.kind, a.unit, tuple(a.synonyms), tuple(a.antonyms)) for a in attributes)
    lexicon = _lexicons.get(key)
    if lexicon is None:
        lexicon = _Lexicon(attributes)
        if len(_lexicons) > 32:
            _lexicons.clear()
        _lexicons[key] = lexicon
    return lexicon


# ---------------------------------------------------------------------------------------------
# Parsing


_TOKEN = re.compile(r"\d+(?:\.\d+)?|[a-z]+(?:['\-][a-z]+)*|%|°|\"|[,;]")


def _tokens(text: str) -> list:
    text = text.lower().replace("’", "'").replace("n't", " not").replace("per cent", "percent")
    text = re.sub(r"(\d)([a-z%°\"])", r"\1 \2", text)  # "10cm" → "10 cm"
    text = re.sub(r"\bstandard deviations?\b", "sd", text)
    text = re.sub(r"\bcubic met(re|er)s?\b", "m3", text)
    return _TOKEN.findall(text)


def _clauses(tokens: list) -> list:
    clauses, current = [], []
    for token in tokens:
        if token in (",", ";") or token in CLAUSE_BREAKS:
            if current:
                clauses.append(current)
            current = []
        else:
            current.append(token)
    if current:
        clauses.append(current)
    return clauses


_DEGREES_BY_FIRST_WORD: dict = {}
for _phrase in DEGREES:
    _DEGREES_BY_FIRST_WORD.setdefault(_phrase.split()[0], []).append(_phrase.split())


def _take_degree(tokens: list) -> tuple[str | None, list]:
    """The longest degree phrase (DEGREES) found in `tokens` as whole words, and the tokens without it."""
    best = None
    for start, token in enumerate(tokens):
        for words in _DEGREES_BY_FIRST_WORD.get(token, ()):
            if tokens[start:start + len(words)] == words and (best is None or len(words) > len(best[1])):
                best = (start, words)
    if best is None:
        return None, tokens
    start, words = best
    return " ".join(words), tokens[:start] + tokens[start + len(words):]


def _is_number(token: str) -> bool:
    return bool(re.fullmatch(r"\d+(?:\.\d+)?", token))


def parse_phrase(text: str, attributes) -> list:
    """Steps for a phrase like "a bit taller and much sturdier" over `attributes` (AttributeInfo list);
    raises PhraseError (a ValueError) naming what it could not read and the attributes it knows."""
    if not isinstance(text, str) or not text.strip():
        raise PhraseError("The phrase is empty; say how the shape should change, e.g. 'a bit taller'")
    lexicon = _lexicon(list(attributes))
    if not lexicon.readings:
        raise PhraseError("No learned attributes to edit with; learn attributes (Learn Attributes or Learn from "
                          "Comparisons) and bring the shape into their space first")
    tokens = _tokens(text)
    clauses = _clauses(tokens)
    if not clauses:
        raise PhraseError(f"'{text}' holds no words to read; say how the shape should change, e.g. 'a bit taller'")
    return [_parse_clause(clause, lexicon, text) for clause in clauses]


def _parse_clause(tokens: list, lexicon: _Lexicon, text: str) -> Step:
    words = " ".join(tokens)
    # "taller than it is now", "wider than before": what follows "than" says nothing here
    if "than" in tokens:
        tokens = tokens[:tokens.index("than")]
    sign, superlative, negated = 1, False, False
    # "as tall as possible", "the tallest possible"
    if "possible" in tokens or ("as" in tokens and "can" in tokens):
        superlative = True
    # a number and its unit
    number, unit, rest = None, None, []
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if _is_number(token) or (token in NUMBER_WORDS and i + 1 < len(tokens)
                                 and (tokens[i + 1] in UNITS and tokens[i + 1] != "in"
                                      or (token == "half" and tokens[i + 1] in ("a", "an") and i + 2 < len(tokens)
                                          and tokens[i + 2] in UNITS))):
            if number is not None:
                raise PhraseError(f"'{words}' gives two numbers; give one per clause, e.g. '10 cm taller, 2 cm wider'")
            number = float(token) if _is_number(token) else NUMBER_WORDS[token]
            if token == "half" and i + 1 < len(tokens) and tokens[i + 1] in ("a", "an"):
                i += 1
            if i + 1 < len(tokens) and tokens[i + 1] in UNITS:
                unit = tokens[i + 1]
                i += 1
                if unit in ("deviation", "deviations") and rest and rest[-1] == "standard":
                    rest.pop()
        else:
            rest.append(token)
        i += 1
    tokens = rest
    degree, tokens = _take_degree(tokens)
    # "more like a lounge chair", "less like a table", "lounge-like"
    like_target = None
    if "like" in tokens and not (tokens.index("like") > 0 and tokens[tokens.index("like") - 1] in ("would", "d")):
        at = tokens.index("like")
        like_target = [t for t in tokens[at + 1:] if t not in ("a", "an", "the", "one", "some")]
        before = tokens[:at]
        tokens = before
    else:
        for t in tokens:
            if t.endswith("-like") or t.endswith("-ish") and t[:-4] not in lexicon.adjectives:
                like_target = [t[:-5] if t.endswith("-like") else t[:-4]]
                tokens = [x for x in tokens if x != t]
                break
    for token in tokens:
        if token in ("less", "least"):  # "fewer" is the comparative of "few": the adjective says it
            sign = -sign
            superlative = superlative or token == "least"
        elif token in ("most",):
            superlative = True
        elif token in NEGATIONS:
            negated = True
    if negated:
        sign = -sign
    if like_target is not None:
        attribute = _like_attribute(like_target, lexicon, words)
        return _sized(Step(attribute.info.name, sign, 0.0, "spread", words), attribute.info, number, unit, degree,
                      superlative, words)
    # the attribute word: a multi-word attribute name, an adjective form, or "more <noun>"
    candidates, found_word = None, None
    joined = " ".join(tokens)
    for phrase in lexicon.multiword:
        if re.search(rf"\b{re.escape(phrase)}\b", joined):
            candidates = lexicon.adjectives[phrase]
            found_word = phrase
            tokens = [t for t in tokens if t not in phrase.split()]
            break
    verb_concept = None
    if candidates is None:
        for token in tokens:
            if token in VERBS and not (token in lexicon.adjectives and token not in ("lower", "narrow", "thin")):
                concept, verb_sign = VERBS[token]
                sign *= verb_sign
                verb_concept = concept
                found_word = token
                break
    if candidates is None:
        for token in tokens:
            if token == found_word:
                continue
            if token in lexicon.adjectives:
                candidates = lexicon.adjectives[token]
                found_word = token
                break
            if token in lexicon.nouns and (verb_concept is not None or found_word in VERBS or
                                           any(t in ("more", "less", "most", "least", "fewer") for t in tokens)
                                           or token not in lexicon.parts):
                candidates = [(c, s, "noun") for c, s in lexicon.nouns[token]]
                found_word = token
                break
    if candidates is None and verb_concept is not None:
        candidates = [(verb_concept, 1, "verb")]
    if candidates is None and any(t in ("more", "less", "fewer", "most", "least", "fewest") for t in tokens) and any(
            _singular(t) in lexicon.parts for t in tokens):  # "more legs": the count of that part
        candidates = [("many", 1, "noun")]
    if candidates is None:
        unknown = [t for t in tokens if t not in FILLERS and t not in ("more", "less", "most", "least", "fewer")
                   and t not in NEGATIONS and t not in lexicon.parts and not t.endswith("ly")]
        if not unknown and (degree is not None or number is not None):
            said = degree or (f"{number:g} {unit}" if unit else f"{number:g}")
            raise PhraseError(f"'{words}': '{said}' says how much but not what; add an attribute, e.g. "
                              f"'{said} taller'. The models know: {lexicon.known()}")
        what = f"'{' '.join(unknown)}'" if unknown else f"'{words}'"
        raise PhraseError(f"{what} names no attribute the models know; they know: {lexicon.known()}")
    parts = {_singular(t) for t in tokens if _singular(t) in lexicon.parts and t != found_word}
    dimension = _unit_dimension(unit)[0] if unit else None
    reading, concept_sign, form = _resolve(candidates, parts, lexicon, words, dimension)
    if form == "superlative":
        superlative = True
    direction = sign * concept_sign
    return _sized(Step(reading.info.name, direction, 0.0, "spread", words), reading.info, number, unit, degree,
                  superlative, words)


def _resolve(candidates, parts, lexicon, words, dimension):
    """(reading, sign, form) of the attribute a word means, given the part words of its clause."""
    tried = []
    for concept, word_sign, form in candidates:
        holders = [r for r in lexicon.readings if concept in r.concepts and not r.class_column]
        if not holders:
            tried.append(concept)
            continue
        if parts:
            chosen = [r for r in holders if parts <= r.parts]
            if not chosen:
                continue
        else:
            chosen = [r for r in holders if not r.parts] or holders
        if len(chosen) > 1 and dimension is not None:  # "2 kg heavier": the one with a mass unit
            with_unit = [r for r in chosen if (_unit_dimension(r.info.unit) or (None,))[0] == dimension]
            chosen = with_unit or chosen
        if len(chosen) > 1:
            with_unit = [r for r in chosen if r.info.unit]
            if with_unit and len({frozenset(r.parts) for r in chosen}) == 1:
                chosen = with_unit
        if len(chosen) > 1 and len({frozenset(r.parts) for r in chosen}) > 1:
            options = ", ".join(f"{r.info.name} ('{words} {' '.join(sorted(r.parts))}')" for r in chosen)
            raise PhraseError(f"'{words}' could mean several attributes: {options}; name the part")
        return chosen[0], word_sign * chosen[0].concepts[concept], form
    if parts:
        raise PhraseError(f"'{words}': no attribute the models know is about the {' and '.join(sorted(parts))} in "
                          f"that way; they know: {lexicon.known()}")
    raise PhraseError(f"'{words}' names no attribute the models know; they know: {lexicon.known()}")


def _like_attribute(target, lexicon, words):
    """The attribute "more like <target>" means: the semantic or class attribute whose name words are
    among the target's words; more words matched wins, then the earlier (modifier) word."""
    target = [_singular(t) for t in target if t not in ("it", "its", "this", "that", "one", "ones")]
    if not target:
        raise PhraseError(f"'{words}': more like what? Name a learned attribute, e.g. 'more like a lounge chair'")
    best, best_key = None, None
    for reading in lexicon.readings:
        names = reading.like_words
        matched = [i for i, t in enumerate(target) if t in names]
        if not matched or not names <= set(target):
            continue
        key = (len(names), -min(matched), reading.info.kind == "semantic")
        if best_key is None or key > best_key:
            best, best_key = reading, key
    if best is None:
        raise PhraseError(f"'{' '.join(target)}' is no attribute the models know (say 'more like <attribute>'); they "
                          f"know: {lexicon.known()}")
    return best


def _sized(step: Step, info: AttributeInfo, number, unit, degree, superlative, words) -> Step:
    """The step with its size: a number in a unit, or a degree word, or the default."""
    if number is not None:
        if number < 0:
            raise PhraseError(f"'{words}': give the size as a positive number and the direction in words")
        if unit is None:
            if info.unit:
                own = _unit_dimension(info.unit)
                example = EXAMPLE_UNITS.get(own[0] if own else "", info.unit)
                raise PhraseError(f"'{words}': {number:g} what? '{info.name}' is in {info.unit}; give the unit, e.g. "
                                  f"'{number:g} {example}'")
            raise PhraseError(f"'{words}': a bare number does not say how much of '{info.name}' (it has no unit); "
                              f"say e.g. '{number:g} sd' (standard deviations of the training shapes) or 'a bit'")
        dimension, factor = UNITS[unit]
        if dimension == "spread":
            step.size, step.per = number, "spread"
        elif dimension == "percent":
            if info.kind == "semantic":
                raise PhraseError(f"'{words}': '{info.name}' is a learned strength with no zero to take a percentage "
                                  "of; say 'a bit' or '1 sd'")
            step.size, step.per = number, "percent"
        else:
            own = _unit_dimension(info.unit)
            if own is None:
                raise PhraseError(f"'{words}': '{info.name}' has no unit to count {unit} in; say 'a bit', 'much' or "
                                  "'1 sd' (standard deviations of the training shapes)")
            if own[0] != dimension:
                raise PhraseError(f"'{words}': {unit} is a {dimension} but '{info.name}' is a {own[0]} (in "
                                  f"{info.unit})")
            step.size, step.per = number * factor / own[1], "unit"
        return step
    if degree is not None:
        step.size = DEGREES[degree]
    elif superlative:
        step.size = SUPERLATIVE_SPREADS
    else:
        step.size = DEFAULT_SPREADS
    return step


def describe_steps(steps, attributes) -> str:
    """'height +0.10 m, sturdy +0.25 sd': what a list of steps does, for a report."""
    spreads = {a.name: a for a in attributes}
    out = []
    for step in steps:
        info = spreads.get(step.attribute)
        if step.per == "unit":
            out.append(f"{step.attribute} {step.direction * step.size:+.3g} {info.unit if info else ''}".rstrip())
        elif step.per == "percent":
            out.append(f"{step.attribute} {step.direction * step.size:+.3g}%")
        else:
            out.append(f"{step.attribute} {step.direction * step.size:+.3g} sd")
    return ", ".join(out)
