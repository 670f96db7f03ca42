"""Placeholder -> ShotSpec: everything the generator needs to make one shot, and nothing else.

A ShotSpec is frozen, JSON-safe (`to_dict` / `from_dict` round-trip exactly, the rate as
"24000/1001") and hashable by content (`spec_hash`), so the media made from it can carry the spec
that made it. Its `shot_id` and default `seed` hash the shot's place in the edit, so running the
tool twice on the same edit makes the same shots.

The media covers head handle + shot + tail handle. Its first frame's record timecode is
`media_start_frame`; the scan already puts an edit with no start time at 01:00:00:00 (see
docs/placeholders.md) so the head handle of a shot at the top of the edit still has timecode.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, fields
from fractions import Fraction
from types import MappingProxyType
from typing import Any

import opentimelineio as otio

from previz_plugin.errors import PrevizError, ShotSpecError, UsageError
from previz_plugin.staging import Staging, decide_staging
from previz_plugin.timeline_scan import PLACEHOLDER_KINDS, Placeholder
from previz_plugin.timing import DROP_FRAME_RATES, rate_text, timecode

__all__ = [
    "CLASS_WORDS",
    "DEFAULT_CLASS_LABELS",
    "DEFAULT_HANDLES",
    "DEFAULT_RESOLUTION",
    "ShotSpec",
    "build_shot_spec",
    "build_shot_specs",
    "encodable_size",
    "parse_resolution",
    "resolution_text",
    "timeline_resolution",
]

DEFAULT_HANDLES = 12
DEFAULT_RESOLUTION = (1920, 1080)
DEFAULT_CLASS_LABELS = ("walk", "drive", "play")

# Words in marker notes or shot names that say what a shot shows. Only labels the model knows
# (class_labels) are looked up; a label is always its own word.
CLASS_WORDS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "walk": (
            "walk", "walks", "walking", "walker", "stroll", "person", "people", "pedestrian",
            "pedestrians", "man", "men", "woman", "women", "crowd", "runner", "runners", "run",
            "running", "jog", "jogging", "jogger", "hiker", "child", "kid", "kids", "boy", "girl",
        ),
        "drive": (
            "car", "cars", "drive", "drives", "driving", "driver", "traffic", "vehicle", "vehicles",
            "truck", "trucks", "road", "highway", "bus", "van", "taxi", "motorcycle",
        ),
        "play": (
            "dog", "dogs", "cat", "cats", "animal", "animals", "play", "plays", "playing", "horse",
            "horses", "pet", "pets", "puppy", "kitten", "ball", "fetch",
        ),
    }
)

# yuv420p needs even sizes (encodable_size); the bounds keep a typo (19200x1080) from allocating gigabytes.
_MIN_SIDE, _MAX_SIDE = 16, 8192
_RESOLUTION = re.compile(r"^\s*(\d{1,6})\s*[xX×]\s*(\d{1,6})\s*$")
_SEED_LIMIT = 2**31  # seeds fit a signed 32-bit int, what every RNG and ONNX input accepts
# Avid writes the sequence format as e.g. "HD 1080p/29.97"; the line count names the raster.
_AAF_RASTERS = {"720": (1280, 720), "1080": (1920, 1080), "2160": (3840, 2160)}


@dataclass(frozen=True)
class ShotSpec:
    """One shot to generate: its place in the edit, its length with handles, class, seed, size."""

    shot_id: str
    name: str
    kind: str
    item_path: tuple[int, ...]
    track_name: str
    rate: Fraction
    frames: int
    handle_head: int
    handle_tail: int
    record_start_frame: int
    drop_frame: bool
    class_label: str
    seed: int
    width: int
    height: int
    notes: tuple[str, ...]
    # How the subjects move (direction, speed, count, framing, pan); a version-1 model has no controls
    # and ignores it. Optional in a SPEC written before staging existed.
    staging: Staging | None = None

    def __post_init__(self) -> None:
        try:
            _check_spec(self)
        except PrevizError as exc:
            raise exc.with_shot(self.name if isinstance(self.name, str) else repr(self.name)) from None

    @property
    def total_frames(self) -> int:
        """Frames of media to make: head handle + shot + tail handle."""
        return self.handle_head + self.frames + self.handle_tail

    @property
    def media_start_frame(self) -> int:
        """Record timecode frame of the media's first frame (the first head-handle frame)."""
        return self.record_start_frame - self.handle_head

    def timecode(self, media_frame_index: int) -> str:
        """Return the record timecode of the media's frame `media_frame_index` (0 = first)."""
        if isinstance(media_frame_index, bool) or not isinstance(media_frame_index, int) or media_frame_index < 0:
            raise UsageError(f"media frame index must be an integer >= 0, got {media_frame_index!r}")
        return timecode(self.media_start_frame + media_frame_index, self.rate, self.drop_frame)

    def to_dict(self) -> dict:
        """Return the spec as plain JSON types; the rate as exact "numerator/denominator"."""
        data = asdict(self)
        data["rate"] = rate_text(self.rate)
        data["item_path"] = list(self.item_path)
        data["notes"] = list(self.notes)
        data["staging"] = self.staging.to_dict() if self.staging is not None else None
        return data

    @classmethod
    def from_dict(cls, data: Mapping) -> ShotSpec:
        """Return the ShotSpec a to_dict() result describes; ShotSpecError for anything else."""
        if not isinstance(data, Mapping):
            raise ShotSpecError(f"a shot spec must be a JSON object, got {type(data).__name__}")
        names = [field.name for field in fields(cls)]
        missing = [name for name in names if name not in data and name != "staging"]
        unknown = sorted(str(key) for key in data if key not in names)
        shot = str(data.get("name", "shot spec"))
        if missing or unknown:
            raise ShotSpecError(
                f"shot spec fields do not match: missing {missing or 'none'}, unknown {unknown or 'none'}"
            ).with_shot(shot)
        values = dict(data)
        try:
            rate = values["rate"]
            values["rate"] = Fraction(rate) if isinstance(rate, (str, int)) and not isinstance(rate, bool) else rate
        except (ValueError, ZeroDivisionError):
            problem = f"rate {values['rate']!r} is not a fraction like '24000/1001'"
            raise ShotSpecError(problem).with_shot(shot) from None
        for key in ("item_path", "notes"):
            if isinstance(values[key], list):
                values[key] = tuple(values[key])
        if values.get("staging") is not None:
            try:
                values["staging"] = Staging.from_dict(values["staging"])
            except PrevizError as exc:
                raise exc.with_shot(shot) from None
        return cls(**values)

    def spec_hash(self) -> str:
        """Return the sha256 hex digest of the spec's canonical JSON (sorted keys, no spaces)."""
        return hashlib.sha256(_canonical_json(self.to_dict())).hexdigest()


def build_shot_spec(
    placeholder: Placeholder,
    *,
    handles: int = DEFAULT_HANDLES,
    resolution: tuple[int, int] | str | None = None,
    class_labels: Sequence[str] = DEFAULT_CLASS_LABELS,
    default_class: str | None = None,
    timeline_resolution: tuple[int, int] | None = None,
) -> ShotSpec:
    """Return the ShotSpec for one placeholder (handles, class, seed and size decided here)."""
    if isinstance(handles, bool) or not isinstance(handles, int) or handles < 0:
        raise UsageError(f"handles must be a whole number of frames >= 0, got {handles!r}")
    labels = _check_labels(class_labels, default_class)
    width, height = _pick_resolution(resolution, timeline_resolution)
    name = placeholder.name
    if placeholder.frames < 1:
        raise ShotSpecError(f"has {placeholder.frames} frames; a shot needs at least one").with_shot(name)
    record_start = placeholder.record_start_frame
    if record_start < 0:
        raise ShotSpecError(
            f"starts at record frame {record_start}, before 00:00:00:00; set the edit's start timecode"
        ).with_shot(name)
    # An edit that explicitly starts at 00:00:00:00 has no timecode before its first frame, so a
    # shot there gets only the head handle that fits (the implied 01:00:00:00 start avoids this).
    handle_head = min(max(handles, placeholder.transition_head), record_start)
    handle_tail = max(handles, placeholder.transition_tail)
    previz = placeholder.metadata.get("previz") if isinstance(placeholder.metadata, Mapping) else None
    previz = previz if isinstance(previz, Mapping) else {}
    identity = _canonical_json(
        {
            "path": list(placeholder.path),
            "name": name,
            "kind": placeholder.kind,
            "record_start_frame": record_start,
            "frames": placeholder.frames,
            "rate": rate_text(placeholder.rate),
        }
    )
    try:
        class_label = _pick_class(previz, placeholder, labels, default_class)
        seed = _pick_seed(previz, identity)
        texts = [("marker", note) for note in placeholder.marker_notes] + [("name", name)]
        staging = decide_staging(previz, texts, seed, class_label)
    except PrevizError as exc:
        raise exc.with_shot(name) from None
    return ShotSpec(
        shot_id=hashlib.sha256(b"shot:" + identity).hexdigest()[:12],
        name=name,
        kind=placeholder.kind,
        item_path=tuple(placeholder.path),
        track_name=placeholder.track_name,
        rate=placeholder.rate,
        frames=placeholder.frames,
        handle_head=handle_head,
        handle_tail=handle_tail,
        record_start_frame=record_start,
        drop_frame=bool(getattr(placeholder, "drop_frame", False)),
        class_label=class_label,
        seed=seed,
        width=width,
        height=height,
        notes=tuple(placeholder.marker_notes),
        staging=staging,
    )


def build_shot_specs(placeholders: Iterable[Placeholder], **options: Any) -> list[ShotSpec]:
    """Return a ShotSpec for each placeholder, in order, with the same options for all."""
    return [build_shot_spec(placeholder, **options) for placeholder in placeholders]


def parse_resolution(text: str) -> tuple[int, int]:
    """Return (width, height) from "1920x1080"; UsageError for odd, tiny, huge or bad text."""
    size = _resolution_in(text)
    if size is None:
        raise UsageError(f"resolution {text!r} is not WIDTHxHEIGHT, e.g. 1920x1080")
    problem = _resolution_problem(size)
    if problem:
        raise UsageError(f"resolution {text!r} {problem}")
    return size


def resolution_text(size: Sequence[object]) -> str:
    """Return a size as the text parse_resolution reads: (1920, 1080) -> "1920x1080"."""
    return "x".join(map(str, size))


def encodable_size(width: int, height: int, min_size: tuple[int, int] = (_MIN_SIDE, _MIN_SIDE)) -> bool:
    """Return True when width x height can be encoded: both sides even and at least min_size.

    Even because 4:2:0 video halves the chroma both ways (4:2:2 across): an odd side has no whole chroma sample.
    """
    return width % 2 == 0 and height % 2 == 0 and width >= min_size[0] and height >= min_size[1]


def _resolution_in(text: object) -> tuple[int, int] | None:
    """Return (width, height) from text such as "1920x1080" (unchecked), or None when it is not such text."""
    match = _RESOLUTION.match(text) if isinstance(text, str) else None
    return (int(match.group(1)), int(match.group(2))) if match else None


def timeline_resolution(timeline: otio.schema.Timeline) -> tuple[int, int] | None:
    """Return the picture size the edit states, or None when it states none we can use.

    Read, in order: our own metadata["previz"]["resolution"] ("1920x1080"), FCP XML's sequence
    format (metadata["fcp_xml"]["media"]["video"]["format"]["samplecharacteristics"]), and Avid's
    sequence format string in AAF ("HD 1080p/29.97"). A stated size we cannot encode (odd, out of
    range) counts as saying nothing, so the default applies rather than the whole fill failing.
    """
    if not isinstance(timeline, otio.schema.Timeline):
        raise UsageError(f"timeline_resolution needs an otio.schema.Timeline, got {type(timeline).__name__}")
    metadata = timeline.metadata
    candidates: list[Any] = []  # (width, height) in whatever types the edit wrote them
    stated = _dig(metadata, "previz", "resolution")
    if isinstance(stated, str):
        candidates.append(_resolution_in(stated))
    elif isinstance(stated, Sequence) and len(stated) == 2:
        candidates.append(tuple(stated))
    characteristics = _dig(metadata, "fcp_xml", "media", "video", "format", "samplecharacteristics")
    if isinstance(characteristics, Mapping):
        candidates.append((characteristics.get("width"), characteristics.get("height")))
    avid_format = _dig(metadata, "AAF", "MobAttributeList", "SEQUERNCE_FORMAT_STRING")
    if isinstance(avid_format, str):
        lines = re.search(r"\b(720|1080|2160)[pi]\b", avid_format)
        candidates.append(_AAF_RASTERS[lines.group(1)] if lines else None)
    for candidate in candidates:
        try:
            size = (int(candidate[0]), int(candidate[1]))
        except (TypeError, ValueError):
            continue
        if not _resolution_problem(size):
            return size
    return None


def _pick_resolution(resolution, from_timeline) -> tuple[int, int]:
    """Return the explicit size, else the edit's, else DEFAULT_RESOLUTION."""
    for what, size in (("resolution", resolution), ("timeline_resolution", from_timeline)):
        if size is None:
            continue
        if isinstance(size, str):
            return parse_resolution(size)
        if (
            not isinstance(size, Sequence)
            or len(size) != 2
            or not all(isinstance(side, int) and not isinstance(side, bool) for side in size)
        ):
            raise UsageError(f"{what} must be (width, height) integers, got {size!r}")
        problem = _resolution_problem(tuple(size))
        if problem:
            raise UsageError(f"{what} {size[0]}x{size[1]} {problem}")
        return (size[0], size[1])
    return DEFAULT_RESOLUTION


def _resolution_problem(size: tuple[int, int]) -> str | None:
    width, height = size
    if not (_MIN_SIDE <= width <= _MAX_SIDE and _MIN_SIDE <= height <= _MAX_SIDE):
        return f"must be {_MIN_SIDE}..{_MAX_SIDE} pixels on each side"
    if not encodable_size(width, height):
        return "must have even width and height (yuv420p video)"
    return None


def _check_labels(class_labels: Sequence[str], default_class: str | None) -> tuple[str, ...]:
    if isinstance(class_labels, str) or not isinstance(class_labels, Iterable):
        raise UsageError(f"class_labels must be a list of labels, got {class_labels!r}")
    labels = tuple(class_labels)
    if not labels or not all(isinstance(label, str) and label.strip() for label in labels):
        raise UsageError(f"class_labels must be non-empty strings, got {labels!r}")
    if len(set(labels)) != len(labels):
        raise UsageError(f"class_labels has duplicates: {labels!r}")
    if default_class is not None and default_class not in labels:
        raise UsageError(f"default_class {default_class!r} is not one of the class labels {', '.join(labels)}")
    return labels


def _pick_class(previz: Mapping, placeholder: Placeholder, labels: tuple[str, ...], default: str | None) -> str:
    """Return the shot's class: the editor's metadata, else words in notes and name, else default."""
    if "class" in previz:
        value = previz["class"]
        for label in labels:
            if isinstance(value, str) and value.strip().casefold() == label.casefold():
                return label
        raise ShotSpecError(f"previz class {value!r} is not one of the model's labels: {', '.join(labels)}")
    for text in (*placeholder.marker_notes, placeholder.name):
        for word in re.findall(r"[^\W_]+", text.casefold()):
            for label in labels:
                if word == label.casefold() or word in CLASS_WORDS.get(label, ()):
                    return label
    return default if default is not None else labels[0]


def _pick_seed(previz: Mapping, identity: bytes) -> int:
    """Return the editor's previz seed, else a stable hash of the shot (not Python's salted hash())."""
    if "seed" in previz:
        value = previz["seed"]
        if isinstance(value, str) and re.fullmatch(r"\s*\d+\s*", value):
            value = int(value)  # XML-based adapters keep every metadata value as text
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _SEED_LIMIT:
            raise ShotSpecError(f"previz seed {value!r} must be an integer in 0..{_SEED_LIMIT - 1}")
        return value
    return int.from_bytes(hashlib.sha256(b"seed:" + identity).digest()[:4], "big") % _SEED_LIMIT


def _check_spec(spec: ShotSpec) -> None:
    """Raise ShotSpecError when a spec (built or loaded from JSON) breaks an invariant."""
    def whole(value: object, low: int) -> bool:
        return isinstance(value, int) and not isinstance(value, bool) and value >= low

    problems = []
    if not (isinstance(spec.shot_id, str) and re.fullmatch(r"[0-9a-f]{12}", spec.shot_id)):
        problems.append(f"shot_id {spec.shot_id!r} is not 12 hex digits")
    if not isinstance(spec.name, str) or not isinstance(spec.track_name, str):
        problems.append("name and track_name must be text")
    if spec.kind not in PLACEHOLDER_KINDS:
        problems.append(f"kind {spec.kind!r} is not one of {', '.join(PLACEHOLDER_KINDS)}")
    if not (isinstance(spec.item_path, tuple) and all(whole(index, 0) for index in spec.item_path)):
        problems.append(f"item_path {spec.item_path!r} is not a list of indices")
    if not isinstance(spec.rate, Fraction) or spec.rate <= 0:
        problems.append(f"rate {spec.rate!r} is not a positive fraction")
    elif spec.drop_frame is True and spec.rate not in DROP_FRAME_RATES:
        problems.append(f"drop-frame timecode needs rate 30000/1001 or 60000/1001, not {spec.rate}")
    if not isinstance(spec.drop_frame, bool):
        problems.append(f"drop_frame {spec.drop_frame!r} is not true/false")
    if not whole(spec.frames, 1):
        problems.append(f"frames {spec.frames!r} is not a count >= 1")
    for name in ("handle_head", "handle_tail", "record_start_frame"):
        if not whole(getattr(spec, name), 0):
            problems.append(f"{name} {getattr(spec, name)!r} is not a count >= 0")
    if not problems and spec.media_start_frame < 0:
        problems.append(f"head handle {spec.handle_head} reaches before 00:00:00:00")
    if not (isinstance(spec.class_label, str) and spec.class_label):
        problems.append(f"class_label {spec.class_label!r} is empty")
    if not (whole(spec.seed, 0) and spec.seed < _SEED_LIMIT):
        problems.append(f"seed {spec.seed!r} is not in 0..{_SEED_LIMIT - 1}")
    size_ok = whole(spec.width, 0) and whole(spec.height, 0)
    problem = _resolution_problem((spec.width, spec.height)) if size_ok else "must be integers"
    if problem:
        problems.append(f"size {spec.width!r}x{spec.height!r} {problem}")
    if not (isinstance(spec.notes, tuple) and all(isinstance(note, str) for note in spec.notes)):
        problems.append("notes must be a list of text")
    if spec.staging is not None and not isinstance(spec.staging, Staging):
        problems.append("staging must be a staging object")
    if problems:
        raise ShotSpecError("; ".join(problems))


def _canonical_json(data: object) -> bytes:
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _dig(mapping: object, *keys: str) -> object:
    """Return mapping[k1][k2]... or None where any level is missing or not a mapping."""
    for key in keys:
        if not isinstance(mapping, Mapping):
            return None
        mapping = mapping.get(key)
    return mapping
