"""Staging notes: how a shot's subject moves, read from `previz` metadata and from editors' words.

Each staging field is decided, in order, from the clip's `previz` metadata keys, else its marker
names, marker comments and shot name, else the seed (the caller's part). Every value comes back as a
StagingHint saying where it came from, so a report can print "direction left_to_right (marker: L-R)".

Decisions on ambiguous words:
- "MCU" (medium close-up) is close, like "medium close-up" spelt out.
- "two shot" is framing medium and count 2.
- bare "leaves" and "from behind" set nothing ("autumn leaves"; "leaves frame left" is an exit to the
  left; "comes from behind the van" may head anywhere); "from behind camera" is away.
- "mid" is medium, but not when hyphenated to another word ("mid-afternoon").
- a number or "a"/"an" sets count only just before a subject noun that agrees with it (one word may
  sit between: "a red car", "two black dogs"), so "take 2" or "as a rule" set nothing.
- in metadata, direction "left" means travelling to screen left (right_to_left), "right" the mirror.
"""

from __future__ import annotations

import math
import numbers
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from previz_plugin.errors import ShotSpecError

__all__ = ["FIELDS", "TEXT_CAP", "StagingHint", "merge_staging", "staging_from_metadata", "staging_from_text"]

FIELDS = ("direction", "speed", "count", "framing", "pan")
TEXT_CAP = 10_000  # characters read from each text: notes are short, and this bounds hostile input
_SLOW, _NORMAL, _FAST = 0.15, 0.5, 0.85
_PAN_LEFT, _PAN_RIGHT = -0.6, 0.6

Value = str | float | int


@dataclass(frozen=True)
class StagingHint:
    """One staging value, where it came from, and the words (or metadata key) that decided it."""

    value: Value
    source: str
    text: str


# Phrases are whole words ([^\W_]+ runs, case-folded), so "L-R" never matches inside "CURL-RED" and
# "left" or "right" alone never match. Longer phrases win at the same place ("pan left to right").
_PHRASE_GROUPS: tuple[tuple[dict[str, Value], str], ...] = (
    ({"direction": "left_to_right"}, "l r, l to r, ltor, l2r, left to right, from the left, from left, "
     "from screen left, to the right, rightward, rightwards, screen right, enters screen left, enters frame left"),
    ({"direction": "right_to_left"}, "r l, r to l, rtol, r2l, right to left, from the right, from right, "
     "from screen right, to the left, leftward, leftwards, screen left, enters screen right, enters frame right"),
    ({"direction": "toward"}, "toward camera, towards camera, toward the camera, towards the camera, toward us, "
     "towards us, to camera, approach, approaches, approaching, comes toward, comes towards, walks up to camera, "
     "head on"),
    ({"direction": "away"}, "away, away from camera, away from the camera, walks off into the distance, "
     "into the distance, recedes, receding, from behind camera"),
    ({"speed": _SLOW}, "slow, slowly, stroll, strolls, amble, ambles, crawl, crawls"),
    ({"speed": _NORMAL}, "normal, steady"),
    # "chase" is here: a chase is never slow.
    ({"speed": _FAST}, "fast, quick, quickly, speeding, race, races, racing, run, runs, running, sprint, sprints, "
     "dash, dashes, zoom, zooms, chase, chases, chasing"),
    ({"count": 2}, "pair, couple, both"),
    ({"count": 3}, "several, group, crowd, many, few, pack"),
    ({"framing": "wide"}, "ws, ews, els, ls, vws, wide, long shot, establishing"),
    ({"framing": "medium"}, "ms, mls, mws, medium, mid, mid shot, midshot, cowboy, medium wide, medium long shot"),
    ({"framing": "medium", "count": 2}, "two shot, 2 shot, twoshot"),
    ({"framing": "close"}, "cu, ecu, bcu, mcu, close, close up, closeup, tight, medium close up, medium closeup"),
    ({"pan": _PAN_LEFT}, "pan left, pans left, panning left, pan right to left, pans right to left"),
    ({"pan": _PAN_RIGHT}, "pan right, pans right, panning right, pan left to right, pans left to right"),
    ({"pan": "follow"}, "pan with, pans with, panning with, track, tracks, tracking, follow, follows, following"),
    ({"pan": 0.0}, "locked off, lock off, lockoff, locked, static"),
)
_PHRASES: dict[tuple[str, ...], dict[str, Value]] = {
    tuple(phrase.split()): values for values, phrases in _PHRASE_GROUPS for phrase in phrases.split(", ")
}
_SIZES: dict[str, tuple[int, ...]] = {}  # first word -> phrase lengths, longest first
for _phrase in _PHRASES:
    _SIZES[_phrase[0]] = tuple(sorted({*_SIZES.get(_phrase[0], ()), len(_phrase)}, reverse=True))

_SINGULAR = frozenset(
    "person man woman walker pedestrian kid child car vehicle truck taxi bus dog cat animal puppy horse".split()
)
_PLURAL = frozenset(
    "people men women walkers pedestrians kids children cars vehicles trucks taxis buses dogs cats animals "
    "puppies horses".split()
)
_NUMBERS = {"a": 1, "an": 1, "one": 1, "single": 1, "lone": 1, "solo": 1, "two": 2, "2": 2, "three": 3, "3": 3}
_WORD = re.compile(r"[^\W_]+")
# What may sit between the words of one phrase: "L-R", "L > R", "L->R", "L/R", "L → R", "close-up".
_JOINERS = frozenset({"", "-", "--", "/", ">", "->", "-->", "=>", "→", "–", "—"})


def staging_from_metadata(previz: Mapping[str, object]) -> dict[str, StagingHint]:
    """Read the previz metadata keys direction/speed/count/framing/pan; raise ShotSpecError on a bad value."""
    return {field: StagingHint(_READERS[field](previz[field]), "metadata", field) for field in FIELDS if field in previz}


def staging_from_text(texts: Sequence[tuple[str, str]]) -> dict[str, StagingHint]:
    """Read staging from (source, text) pairs in priority order; per field the first text that says it wins."""
    hints: dict[str, StagingHint] = {}
    for source, text in texts:
        if not isinstance(text, str):
            continue  # a marker without a comment is None in some adapters: it says nothing
        for field, (value, words) in _read_text(text).items():
            hints.setdefault(field, StagingHint(value, str(source), words))
    return {field: hints[field] for field in FIELDS if field in hints}


def merge_staging(*layers: Mapping[str, StagingHint]) -> dict[str, StagingHint]:
    """Merge hint layers; the first layer that has a field wins (metadata first, then text)."""
    return {field: next(layer[field] for layer in layers if field in layer)
            for field in FIELDS if any(field in layer for layer in layers)}


def _read_text(text: str) -> dict[str, tuple[Value, str]]:
    """Return field -> (value, the words that said it) for one text; the earliest words win."""
    text = text[:TEXT_CAP]
    matches = list(_WORD.finditer(text))
    words = [match.group().casefold() for match in matches]
    gaps = [""] + [text[a.end():b.start()].strip() for a, b in zip(matches, matches[1:], strict=False)]
    joined = [gap in _JOINERS for gap in gaps]
    found: dict[str, tuple[int, Value, str]] = {}

    def note(field: str, value: Value, first: int, last: int) -> None:
        if field not in found or first < found[field][0]:
            found[field] = (first, value, text[matches[first].start():matches[last].end()])

    i = 0
    while i < len(words):  # each word is looked at a bounded number of times: linear in the text
        size = _phrase_at(words, gaps, joined, i)
        if size:
            for field, value in _PHRASES[tuple(words[i:i + size])].items():
                note(field, value, i, i + size - 1)
        i += size or 1  # a phrase's words are spent: "pan left to right" is a pan, not a direction
    plural = None
    for i, word in enumerate(words):
        if word in _NUMBERS:
            last = _counted_noun(words, joined, i)
            if last is not None:
                note("count", _NUMBERS[word], i, last)
        elif word in _PLURAL and plural is None:
            plural = i
    if "count" not in found and plural is not None:
        note("count", 2, plural, plural)  # "dogs" alone: more than one, and no number says how many
    return {field: (value, said) for field, (_, value, said) in found.items()}


def _phrase_at(words: list[str], gaps: list[str], joined: list[bool], i: int) -> int:
    """Return the length of the longest phrase starting at word i (0 for none)."""
    for size in _SIZES.get(words[i], ()):
        if i + size <= len(words) and all(joined[i + 1:i + size]) and tuple(words[i:i + size]) in _PHRASES:
            if size == 1 and words[i] == "mid" and i + 1 < len(words) and gaps[i + 1] == "-":
                continue  # "mid-afternoon", "mid-air": not a framing
            return size
    return 0


def _counted_noun(words: list[str], joined: list[bool], i: int) -> int | None:
    """Return the index of the subject noun the number at word i counts, or None."""
    nouns = _SINGULAR if _NUMBERS[words[i]] == 1 else _PLURAL
    for j in (i + 1, i + 2):
        if j >= len(words) or not joined[j]:
            return None
        if words[j] in _SINGULAR or words[j] in _PLURAL:
            return j if words[j] in nouns else None
        if words[j] in _NUMBERS:
            return None  # "a two shot": the number belongs to the next word
    return None


# --- metadata -------------------------------------------------------------------------------------

_DIRECTION_KEYS = {
    **dict.fromkeys(("lefttoright", "lr", "ltr", "ltor", "l2r", "right", "rightward", "screenright"), "left_to_right"),
    **dict.fromkeys(("righttoleft", "rl", "rtl", "rtol", "r2l", "left", "leftward", "screenleft"), "right_to_left"),
    **dict.fromkeys(("toward", "towards", "towardcamera", "towardscamera", "tocamera"), "toward"),
    **dict.fromkeys(("away", "awayfromcamera"), "away"),
}
_SPEED_KEYS = {"slow": _SLOW, "normal": _NORMAL, "steady": _NORMAL, "fast": _FAST}
_COUNT_KEYS = {"one": 1, "two": 2, "three": 3}
_FRAMING_KEYS = {
    **dict.fromkeys(("wide", "ws", "ews", "els", "ls", "vws", "longshot", "establishing"), "wide"),
    **dict.fromkeys(("medium", "ms", "mls", "mws", "mid", "midshot", "cowboy", "twoshot"), "medium"),
    **dict.fromkeys(("close", "cu", "ecu", "bcu", "mcu", "closeup", "tight"), "close"),
}
_PAN_KEYS: dict[str, Value] = {
    "left": _PAN_LEFT, "right": _PAN_RIGHT, "none": 0.0, "off": 0.0, "locked": 0.0, "lockedoff": 0.0,
    "static": 0.0, "follow": "follow", "track": "follow", "tracking": "follow",
}
_NUMERIC_TEXT = re.compile(r"\s*[+-]?(?:\d{1,20}(?:\.\d{0,20})?|\.\d{1,20})\s*")


def _key(value: object) -> str | None:
    """A metadata word folded to compare: "Left-to-Right", "left_to_right", "L > R" -> "lefttoright"."""
    return re.sub(r"[\s_\-/>→]+", "", value.casefold()) if isinstance(value, str) else None


def _number(value: object) -> float | None:
    """A finite number, or numeric text (XML-based adapters keep metadata as text); booleans are not numbers."""
    if isinstance(value, str) and _NUMERIC_TEXT.fullmatch(value):
        value = float(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    try:
        number = float(value)
    except (OverflowError, ValueError):
        return None
    return number if math.isfinite(number) else None


def _show(value: object) -> str:
    """The bad value for a one-line message: repr, newlines escaped, long values cut."""
    try:
        shown = repr(value)
    except Exception:  # an int too long to print, an object whose repr breaks
        shown = f"<{type(value).__name__}>"
    shown = shown.replace("\r", "\\r").replace("\n", "\\n")
    return shown if len(shown) <= 80 else shown[:77] + "..."


def _direction(value: object) -> Value:
    if (found := _DIRECTION_KEYS.get(_key(value) or "")) is None:
        raise ShotSpecError(f"previz direction {_show(value)} is not one of left_to_right, right_to_left, "
                            "toward, away (or L-R, R-L)")
    return found


def _speed(value: object) -> Value:
    number = _number(value)
    found = _SPEED_KEYS.get(_key(value) or "", number if number is not None and 0.0 <= number <= 1.0 else None)
    if found is None:
        raise ShotSpecError(f"previz speed {_show(value)} is not a number in 0..1 or one of slow, normal, fast")
    return found


def _count(value: object) -> Value:
    number = _number(value)
    found = _COUNT_KEYS.get(_key(value) or "", int(number) if number is not None and number in (1, 2, 3) else None)
    if found is None:
        raise ShotSpecError(f"previz count {_show(value)} is not one of 1, 2, 3")
    return found


def _framing(value: object) -> Value:
    if (found := _FRAMING_KEYS.get(_key(value) or "")) is None:
        raise ShotSpecError(f"previz framing {_show(value)} is not one of wide, medium, close (or WS, MS, CU)")
    return found


def _pan(value: object) -> Value:
    number = _number(value)
    found = _PAN_KEYS.get(_key(value) or "", number if number is not None and -1.0 <= number <= 1.0 else None)
    if found is None:
        raise ShotSpecError(f"previz pan {_show(value)} is not a number in -1..1 or one of left, right, none, follow")
    return found


_READERS = {"direction": _direction, "speed": _speed, "count": _count, "framing": _framing, "pan": _pan}
