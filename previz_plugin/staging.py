"""Staging: how a shot's subjects move, as the model's `controls` input (contract v2).

A shot's staging is five values: direction of travel, speed, number of subjects, framing (the
subject's height in frame) and camera pan. `shot_spec` decides them from the clip's metadata, its
notes or its seed (`staging_notes` reads the words); this module turns them into the float vector a
version-2 model takes, and back. No torch, no onnxruntime: the fill path imports it.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from previz_plugin.errors import ShotSpecError

__all__ = [
    "CONTROL_NAMES",
    "CONTROL_DEFAULTS",
    "CONTROL_RANGES",
    "DIRECTIONS",
    "FRAMINGS",
    "LATERAL_DIRECTIONS",
    "Staging",
    "decide_staging",
    "framing_name",
    "framing_value",
    "seeded_staging",
]

DIRECTIONS = ("left_to_right", "right_to_left", "toward", "away")
LATERAL_DIRECTIONS = DIRECTIONS[:2]
FRAMINGS = ("wide", "medium", "close")
# The model's controls input, in order. Direction is one-hot over DIRECTIONS; framing is a number
# in [0, 1] whose thirds are wide, medium and close; pan is the camera's speed, negative to the left.
CONTROL_NAMES = ("left_to_right", "right_to_left", "toward", "away", "speed", "count", "framing", "pan")
CONTROL_RANGES = {
    "left_to_right": (0.0, 1.0),
    "right_to_left": (0.0, 1.0),
    "toward": (0.0, 1.0),
    "away": (0.0, 1.0),
    "speed": (0.0, 1.0),
    "count": (1.0, 3.0),
    "framing": (0.0, 1.0),
    "pan": (-1.0, 1.0),
}
CONTROL_DEFAULTS = {
    "left_to_right": 1.0, "right_to_left": 0.0, "toward": 0.0, "away": 0.0,
    "speed": 0.5, "count": 1.0, "framing": 0.5, "pan": 0.0,
}
# The framing value a named framing stands for: the middle of its third.
_FRAMING_VALUES = {"wide": 1 / 6, "medium": 0.5, "close": 5 / 6}


def framing_value(name: str) -> float:
    return _FRAMING_VALUES[name]


def framing_name(value: float) -> str:
    return FRAMINGS[min(2, max(0, int(value * 3)))]


@dataclass(frozen=True)
class Staging:
    """One shot's staging; `sources` says where each value came from (metadata, name, marker, note, seed)."""

    direction: str
    speed: float
    count: int
    framing: float
    pan: float
    sources: tuple[tuple[str, str], ...] = ()  # (field, where its value came from): hashable, like the spec

    def __post_init__(self) -> None:
        if self.direction not in DIRECTIONS:
            raise ShotSpecError(f"direction {self.direction!r} is not one of {', '.join(DIRECTIONS)}")
        for name, value, low, high in (("speed", self.speed, 0.0, 1.0), ("framing", self.framing, 0.0, 1.0),
                                       ("pan", self.pan, -1.0, 1.0)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) \
                    or not low <= value <= high:
                raise ShotSpecError(f"{name} {value!r} must be a number in {low}..{high}")
        if isinstance(self.count, bool) or not isinstance(self.count, int) or not 1 <= self.count <= 3:
            raise ShotSpecError(f"count {self.count!r} must be 1, 2 or 3")

    def controls(self) -> list[float]:
        """The model's controls vector, in CONTROL_NAMES order."""
        onehot = [1.0 if self.direction == d else 0.0 for d in DIRECTIONS]
        return [*onehot, float(self.speed), float(self.count), float(self.framing), float(self.pan)]

    def to_dict(self) -> dict:
        values = asdict(self)
        values["framing_name"] = framing_name(self.framing)
        values["sources"] = dict(self.sources)
        return values

    @classmethod
    def from_dict(cls, data: Mapping) -> Staging:
        """The Staging a to_dict() result describes; ShotSpecError for anything else (a farm SPEC is input)."""
        if not isinstance(data, Mapping):
            raise ShotSpecError(f"staging must be a JSON object, got {type(data).__name__}")
        sources = data.get("sources") or {}
        try:
            return cls(direction=data["direction"], speed=float(data["speed"]), count=int(data["count"]),
                       framing=float(data["framing"]), pan=float(data["pan"]),
                       sources=tuple((str(k), str(v)) for k, v in dict(sources).items()))
        except (KeyError, TypeError, ValueError) as exc:
            raise ShotSpecError(f"staging {dict(data)!r:.120} is not valid ({type(exc).__name__}: {exc})") from None

    def source_of(self, field: str) -> str:
        return dict(self.sources).get(field, "")


def decide_staging(previz: Mapping, texts: list[tuple[str, str]], seed: int, class_label: str) -> Staging:
    """A shot's staging: its `previz` metadata, else its notes and name (in the order given), else its seed.

    Cars and animals cross the frame: "toward" or "away" on them keeps the seed's crossing, and the
    source says why. A pan that "follows" the subject pans the way it travels.
    """
    from previz_plugin.staging_notes import FIELDS, merge_staging, staging_from_metadata, staging_from_text

    hints = merge_staging(staging_from_metadata(previz), staging_from_text(texts))
    seeded = seeded_staging(seed, class_label)
    values: dict[str, object] = {}
    sources: dict[str, str] = {}
    for field in FIELDS:
        hint = hints.get(field)
        if hint is None:
            values[field], sources[field] = seeded[field], "seed"
        else:
            values[field], sources[field] = hint.value, f"{hint.source}: {hint.text}"
    if values["direction"] in ("toward", "away") and class_label != "walk":
        sources["direction"] = f"seed ({values['direction']} is for walks; {class_label} crosses the frame)"
        values["direction"] = seeded["direction"] if seeded["direction"] in LATERAL_DIRECTIONS else "left_to_right"
    if isinstance(values["framing"], str):
        values["framing"] = framing_value(values["framing"])
    if values["pan"] == "follow":
        values["pan"] = {"left_to_right": 0.6, "right_to_left": -0.6}.get(str(values["direction"]), 0.0)
    number = {field: value for field, value in values.items() if isinstance(value, (int, float))}
    return Staging(direction=str(values["direction"]), speed=float(number["speed"]), count=int(number["count"]),
                   framing=float(number["framing"]), pan=float(number["pan"]), sources=tuple(sources.items()))


def seeded_staging(seed: int, class_label: str) -> dict[str, float | int | str]:
    """Staging values drawn from a shot's seed, for whatever its notes leave unsaid.

    A stable hash, not Python's salted hash(), so a shot is staged the same on every machine.
    Toward and away are walks only: cars and animals in the training data cross the frame.
    """
    digest = hashlib.sha256(f"staging:{seed}".encode()).digest()

    def unit(index: int) -> float:
        return int.from_bytes(digest[4 * index: 4 * index + 4], "big") / 2**32

    lateral = LATERAL_DIRECTIONS[int(unit(0) * 2)]
    direction = DIRECTIONS[int(unit(1) * 4)] if class_label == "walk" and unit(5) < 0.3 else lateral
    return {
        "direction": direction,
        "speed": round(0.3 + 0.4 * unit(2), 3),
        "count": 1,
        "framing": round(0.25 + 0.5 * unit(3), 3),
        "pan": 0.0,
    }
