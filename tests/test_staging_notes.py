"""Staging from previz metadata and from editors' words (previz_plugin.staging_notes)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from previz_plugin.errors import ShotSpecError
from previz_plugin.staging_notes import (
    FIELDS,
    TEXT_CAP,
    StagingHint,
    merge_staging,
    staging_from_metadata,
    staging_from_text,
)


def values(text: str) -> dict[str, object]:
    """The field -> value a single shot name says."""
    return {field: hint.value for field, hint in staging_from_text([("name", text)]).items()}


def assert_in_domain(field: str, value: object) -> None:
    if field == "direction":
        assert value in ("left_to_right", "right_to_left", "toward", "away")
    elif field == "framing":
        assert value in ("wide", "medium", "close")
    elif field == "count":
        assert isinstance(value, int) and not isinstance(value, bool) and value in (1, 2, 3)
    elif field == "speed":
        assert isinstance(value, float) and 0.0 <= value <= 1.0
    else:
        assert value == "follow" or (isinstance(value, float) and -1.0 <= value <= 1.0), value


# --- text: direction ------------------------------------------------------------------------------

@pytest.mark.parametrize("text", [
    "car drives past left to right", "L-R", "l>r", "L to R", "LtoR", "l->r", "L → R", "L/R", "L - R", "L-to-R",
    "left-to-right", "enters from the left", "walks to the right", "moves rightward", "heads rightwards",
    "exits screen right", "car L-R fast",
])
def test_left_to_right_phrases(text: str) -> None:
    assert values(text)["direction"] == "left_to_right"


@pytest.mark.parametrize("text", [
    "R-L", "R to L", "r>l", "RtoL", "right to left", "right-to-left", "from the right", "to the left", "leftward",
    "leftwards", "screen left",
])
def test_right_to_left_phrases(text: str) -> None:
    assert values(text)["direction"] == "right_to_left"


@pytest.mark.parametrize("text", [
    "a person walks toward camera", "walks towards camera", "runs towards us", "talks to camera", "approaches",
    "a car approaching", "dog comes toward the lens", "walks up to camera", "head-on",
])
def test_toward_phrases(text: str) -> None:
    assert values(text)["direction"] == "toward"


@pytest.mark.parametrize("text", [
    "walks away", "drives away from camera", "walks off into the distance", "recedes", "car receding",
    "passes from behind camera",
])
def test_away_phrases(text: str) -> None:
    assert values(text)["direction"] == "away"


@pytest.mark.parametrize("text", [
    "he left the room", "right now", "CURL-RED", "turn left at the lights", "the right one", "autumn leaves",
    "comes from behind the van", "toward", "LR", "L. R.",
])
def test_no_false_direction(text: str) -> None:
    assert "direction" not in values(text)


@pytest.mark.parametrize("text", ["sh030", "SH040_v2", "A001C003", "sh010_take_2", "", "   ", "_-_>/"])
def test_shot_codes_say_nothing(text: str) -> None:
    assert values(text) == {}


def test_text_is_the_exact_words() -> None:
    hint = staging_from_text([("marker", "Car drives past L-R, FAST")])
    assert hint["direction"] == StagingHint("left_to_right", "marker", "L-R")
    assert hint["speed"] == StagingHint(0.85, "marker", "FAST")


# --- text: speed, count, framing, pan ------------------------------------------------------------

@pytest.mark.parametrize(("text", "speed"), [
    ("fast", 0.85), ("quick", 0.85), ("car speeding", 0.85), ("races", 0.85), ("kids running", 0.85),
    ("sprint", 0.85), ("zooms past", 0.85), ("dog chases cat", 0.85), ("slow", 0.15), ("slowly", 0.15),
    ("stroll", 0.15), ("amble", 0.15), ("crawl", 0.15), ("normal", 0.5), ("steady", 0.5),
])
def test_speed_words(text: str, speed: float) -> None:
    assert values(text)["speed"] == speed


def test_two_dogs_chase_is_two_and_fast() -> None:
    assert values("two dogs chase") == {"count": 2, "speed": 0.85}


@pytest.mark.parametrize(("text", "count"), [
    ("a car", 1), ("an animal", 1), ("one man", 1), ("lone walker", 1), ("solo horse", 1), ("a red car", 1),
    ("two dogs", 2), ("2 cars", 2), ("a pair of dogs", 2), ("a couple walks", 2), ("both cars", 2),
    ("three kids", 3), ("3 trucks", 3), ("crowd", 3), ("several people", 3), ("group of walkers", 3),
    ("many cars", 3), ("a few cars", 3), ("a pack of dogs", 3), ("dogs", 2), ("cars pass", 2), ("people", 2),
    ("walkers", 2), ("two black dogs", 2),
])
def test_count_words(text: str, count: int) -> None:
    assert values(text)["count"] == count


@pytest.mark.parametrize("text", [
    "as a rule", "take 2", "a bit later", "one of these days", "3", "two", "a", "a result", "two car", "man walks",
])
def test_no_false_count(text: str) -> None:
    assert "count" not in values(text)


def test_an_explicit_number_beats_a_plural_in_the_same_text() -> None:
    assert values("dogs: three dogs")["count"] == 3
    assert staging_from_text([("name", "cars race by, three cars")])["count"].text == "three cars"


@pytest.mark.parametrize(("text", "framing"), [
    ("WS", "wide"), ("ews", "wide"), ("ELS", "wide"), ("LS", "wide"), ("VWS", "wide"), ("wide", "wide"),
    ("long shot", "wide"), ("establishing", "wide"), ("MS", "medium"), ("MLS", "medium"), ("MWS", "medium"),
    ("medium", "medium"), ("mid", "medium"), ("mid-shot", "medium"), ("cowboy", "medium"), ("CU", "close"),
    ("ECU", "close"), ("BCU", "close"), ("MCU", "close"), ("close", "close"), ("close-up", "close"),
    ("closeup", "close"), ("close up", "close"), ("tight", "close"), ("medium close-up", "close"),
    ("sh030 WS car", "wide"),
])
def test_framing_words(text: str, framing: str) -> None:
    assert values(text)["framing"] == framing


def test_two_shot_is_medium_and_two() -> None:
    assert values("two shot") == {"framing": "medium", "count": 2}
    assert values("a two-shot of dogs") == {"framing": "medium", "count": 2}


@pytest.mark.parametrize("text", ["mid-afternoon", "WSX", "CUT", "closer", "customs", "miles"])
def test_no_false_framing(text: str) -> None:
    assert "framing" not in values(text)


@pytest.mark.parametrize(("text", "pan"), [
    ("pan left", -0.6), ("pans left", -0.6), ("pan right", 0.6), ("camera pans with the car", "follow"),
    ("tracking", "follow"), ("tracks", "follow"), ("follow", "follow"), ("camera follows", "follow"),
    ("locked off", 0.0), ("lock off", 0.0), ("static", 0.0), ("locked", 0.0),
])
def test_pan_words(text: str, pan: object) -> None:
    assert values(text)["pan"] == pan


def test_pan_across_is_a_pan_not_a_direction() -> None:
    assert values("pan left to right") == {"pan": 0.6}


# --- text: order and hostile input ----------------------------------------------------------------

def test_a_marker_before_the_name_wins() -> None:
    hints = staging_from_text([("marker", "car drives past R-L"), ("name", "sh030 fast car L-R")])
    assert hints["direction"] == StagingHint("right_to_left", "marker", "R-L")
    assert hints["speed"] == StagingHint(0.85, "name", "fast")


def test_the_first_words_in_one_text_win() -> None:
    assert values("L-R then R-L")["direction"] == "left_to_right"


def test_a_marker_without_a_comment_says_nothing() -> None:
    assert staging_from_text([("marker", None), ("name", "WS")]) == {  # type: ignore[list-item]
        "framing": StagingHint("wide", "name", "WS")
    }


def test_a_million_characters_return_and_only_the_cap_is_read() -> None:
    assert values("L-R " * 250_000)["direction"] == "left_to_right"
    assert values("x" * TEXT_CAP + " L-R fast") == {}
    assert values(" " * 1_000_000 + "fast") == {}
    assert values("l" + " " * 999_999) == {}


@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["marker", "name", "note"]), st.text(max_size=300)), max_size=4))
def test_any_text_gives_hints_in_domain(texts: list[tuple[str, str]]) -> None:
    hints = staging_from_text(texts)
    assert list(hints) == [field for field in FIELDS if field in hints]
    for field, hint in hints.items():
        assert_in_domain(field, hint.value)
        assert any(source == hint.source and hint.text in text for source, text in texts)


words = st.sampled_from(["L-R", "r>l", "two", "dogs", "a", "car", "pan", "left", "right", "to", "WS", "mid",
                         "close", "up", "fast", "away", "-", ">", "→", "sh030", "shot", "ß", "İ", "\n", ","])


@settings(max_examples=300, deadline=None)
@given(st.lists(words, max_size=40), st.sampled_from([" ", "-", "", "/"]))
def test_word_soup_gives_hints_in_domain(parts: list[str], sep: str) -> None:
    for field, hint in staging_from_text([("name", sep.join(parts))]).items():
        assert_in_domain(field, hint.value)


# --- metadata -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("key", "given_value", "value"), [
    ("direction", "left_to_right", "left_to_right"), ("direction", "L-R", "left_to_right"),
    ("direction", "lr", "left_to_right"), ("direction", "LTR", "left_to_right"), ("direction", "right", "left_to_right"),
    ("direction", "left", "right_to_left"), ("direction", "R-L", "right_to_left"),
    ("direction", "right_to_left", "right_to_left"), ("direction", "toward", "toward"),
    ("direction", "towards", "toward"), ("direction", "toward camera", "toward"), ("direction", " Away ", "away"),
    ("speed", 0, 0.0), ("speed", 1, 1.0), ("speed", 0.3, 0.3), ("speed", "0.25", 0.25), ("speed", "slow", 0.15),
    ("speed", "normal", 0.5), ("speed", "FAST", 0.85),
    ("count", 1, 1), ("count", 3, 3), ("count", "2", 2), ("count", " 3 ", 3), ("count", 2.0, 2), ("count", "two", 2),
    ("framing", "wide", "wide"), ("framing", "WS", "wide"), ("framing", "ms", "medium"), ("framing", "MCU", "close"),
    ("framing", "close-up", "close"), ("framing", "Close Up", "close"),
    ("pan", 0, 0.0), ("pan", -1, -1.0), ("pan", 0.25, 0.25), ("pan", "-0.5", -0.5), ("pan", "left", -0.6),
    ("pan", "right", 0.6), ("pan", "none", 0.0), ("pan", "follow", "follow"),
])
def test_metadata_forms(key: str, given_value: object, value: object) -> None:
    hint = staging_from_metadata({key: given_value})[key]
    assert hint == StagingHint(value, "metadata", key)
    assert type(hint.value) is type(value)


def test_metadata_reads_only_staging_keys_in_field_order() -> None:
    hints = staging_from_metadata({"seed": 7, "class": "walk", "pan": "follow", "direction": "L-R"})
    assert list(hints) == ["direction", "pan"]
    assert staging_from_metadata({}) == {}


@pytest.mark.parametrize(("key", "bad"), [
    ("direction", "up"), ("direction", 1), ("direction", None), ("direction", "left\nright"),
    ("speed", 1.5), ("speed", -0.1), ("speed", True), ("speed", float("nan")), ("speed", float("inf")),
    ("speed", "nan"), ("speed", "quick as a fox"),
    ("count", 0), ("count", 4), ("count", True), ("count", 2.5), ("count", "2.5"), ("count", "many"),
    pytest.param("count", 10**5000, id="count-huge-int"), ("count", float("nan")),
    ("framing", "huge"), ("framing", 2), ("framing", ""),
    ("pan", 1.5), ("pan", "up"), ("pan", False), ("pan", float("-inf")), ("pan", "x" * 10_000),
])
def test_bad_metadata_raises_one_line(key: str, bad: object) -> None:
    with pytest.raises(ShotSpecError) as caught:
        staging_from_metadata({key: bad})
    message = str(caught.value)
    assert "\n" not in message and "\r" not in message
    assert message.startswith(f"previz {key} ") and len(message) < 200


def test_bad_direction_message_names_the_valid_values() -> None:
    with pytest.raises(ShotSpecError, match=r"^previz direction 'up' is not one of left_to_right, right_to_left, "
                                            r"toward, away \(or L-R, R-L\)$"):
        staging_from_metadata({"direction": "up"})


# --- merging --------------------------------------------------------------------------------------

def test_metadata_layer_beats_text_layer() -> None:
    metadata = staging_from_metadata({"direction": "R-L", "count": "3"})
    text = staging_from_text([("marker", "two dogs run L-R"), ("name", "sh030 WS")])
    merged = merge_staging(metadata, text)
    assert list(merged) == ["direction", "speed", "count", "framing"]
    assert merged["direction"] == StagingHint("right_to_left", "metadata", "direction")
    assert merged["count"] == StagingHint(3, "metadata", "count")
    assert merged["speed"] == StagingHint(0.85, "marker", "run")
    assert merged["framing"] == StagingHint("wide", "name", "WS")
    assert merge_staging() == {} and merge_staging({}, {}) == {}


@given(st.lists(st.text(max_size=60), max_size=3))
def test_merge_takes_each_field_from_the_first_layer_that_has_it(notes: list[str]) -> None:
    layers = [staging_from_text([("note", note)]) for note in notes]
    merged = merge_staging(*layers)
    for field in FIELDS:
        having = [layer[field] for layer in layers if field in layer]
        assert merged.get(field) == (having[0] if having else None)
    assert all(not (isinstance(h.value, float) and math.isnan(h.value)) for h in merged.values())
