"""Edit -> placeholders: the shots in an OTIO timeline that have no picture yet.

A placeholder is one of four kinds (docs/placeholders.md draws each case):

    gap        a hole in the picture: a Gap on the lowest video track that the tracks above do not
               fully cover
    missing    a Clip whose media reference is missing
    generator  a Clip whose media is a GeneratorReference (slug, bars, solid, title)
    marked     a Clip the editor tagged with metadata["previz"] and not yet generated

Every time is computed exactly: item lengths and positions are summed as Fractions of a second
(see timing.py), never with OTIO's float arithmetic, so a placeholder ten hours into a 59.94 edit
starts on the same frame the NLE shows.
"""

from __future__ import annotations

import logging
import os
import re
import zipfile
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator, Mapping, MutableMapping
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio

from previz_plugin.errors import PrevizError, TimelineError, UsageError
from previz_plugin.files import regular_file_problem, utf8_problem
from previz_plugin.printable import printable
from previz_plugin.timing import DROP_FRAME_RATES, exact_seconds, frames_from_seconds, parse_timecode, rate_from_float

__all__ = ["IMPLIED_START_TIMECODE", "MAX_EDIT_BYTES", "MAX_JSON_DEPTH", "MAX_NESTING", "PLACEHOLDER_KINDS",
           "Placeholder", "find_placeholders", "read_timeline", "read_timeline_with_warnings", "uses_drop_frame"]

log = logging.getLogger(__name__)

PLACEHOLDER_KINDS = ("gap", "missing", "generator", "marked")

# Record timecode of the first frame of an edit that states no start. Edits conventionally start at
# one hour so that pre-roll and head handles have timecode; without it a shot at the very start
# would need media from before 00:00:00:00.
IMPLIED_START_TIMECODE = "01:00:00:00"

# Packages that add the readers OTIO does not ship with, named in the error for an unknown suffix.
_ADAPTER_PACKAGES = {".aaf": "otio-aaf-adapter", ".edl": "otio-cmx3600-adapter",
                     ".fcpxml": "otio-fcpx-xml-adapter", ".xml": "otio-fcp-adapter"}

# Limits checked before an OTIO reader sees the file (docs/cli.md, "Limits"). OTIO's JSON reader
# recurses in C++ and dies (SIGSEGV, nothing on stderr) somewhere past 30,000 levels, and takes about
# twice the edit's size in memory; edits people cut are a few MB and nest a few levels.
MAX_EDIT_BYTES = 256 * 2**20  # an edit's text (.otio, content.otio in a bundle, .edl, .xml, .fcpxml)
MAX_JSON_DEPTH = 1000  # nested JSON objects and lists in an .otio
MAX_NESTING = 100  # nested tracks and stacks in any edit (the scan walks them recursively)
_TEXT_SUFFIXES = (".otio", ".edl", ".xml", ".fcpxml")  # AAF may embed media: no size cap there
_INT64 = (-(2**63), 2**63 - 1)
# A JSON string, unrolled so that long strings cost one pass; and an integer too long for int64.
_JSON_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"')
_LONG_INTEGER = re.compile(rb"(?<![\w.+-])-?[0-9]{19,}(?![\w.])")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")

_Span = tuple[Fraction, Fraction]  # [start, end) in timeline seconds
# A composition's markers in timeline seconds: sorted starts, (start, end, texts), the longest duration.
_Markers = tuple[list[Fraction], list[tuple[Fraction, Fraction, tuple[str, ...]]], Fraction]


@dataclass(frozen=True, eq=False)
class Placeholder:
    """One shot in the edit to be filled: the item itself plus its exact place and length."""

    item: otio.core.Item
    kind: str
    path: tuple[int, ...]
    track_name: str
    name: str
    rate: Fraction
    frames: int
    record_start_frame: int
    transition_head: int
    transition_tail: int
    marker_notes: tuple[str, ...]
    metadata: Mapping
    # True when the edit uses drop-frame timecode and `rate` is 30000/1001 or 60000/1001.
    drop_frame: bool = False


@dataclass(frozen=True)
class _Where:
    """Where a walk is: what every item below this composition inherits."""

    track_name: str
    on_floor: bool  # on the lowest video track of every stack above it
    covers: tuple[_Span, ...]  # merged, sorted: where the tracks above it (every stack up) show a clip
    enclosing: tuple[tuple[otio.core.Composition, Fraction], ...]  # (composition, its origin)


def read_timeline(path: str | os.PathLike, **adapter_args: object) -> otio.schema.Timeline:
    """Return the timeline in an edit file; TimelineError (one line) for anything else.

    What the file holds that OTIO cannot keep exactly (an integer beyond int64) is logged as a warning.
    """
    timeline, warnings = read_timeline_with_warnings(path, **adapter_args)
    for warning in warnings:
        log.warning("%s", warning)
    return timeline


def read_timeline_with_warnings(path: str | os.PathLike, **adapter_args: object) -> tuple[otio.schema.Timeline, list[str]]:
    """Return the timeline in an edit file and what reading it could not keep exactly (one line each)."""
    try:
        file = Path(os.fspath(path))
    except TypeError:
        raise UsageError(f"timeline path must be a path, got {path!r}") from None
    known = sorted(f".{suffix}" for suffix in otio.adapters.suffixes_with_defined_adapters(read=True))
    suffix = file.suffix.lower()
    if not file.exists():
        raise TimelineError(f"{file}: no such file")
    if suffix not in known:
        package = _ADAPTER_PACKAGES.get(suffix)
        hint = f"; install {package} to read it" if package else ""
        raise TimelineError(
            f"{file}: no installed OTIO adapter reads '{suffix or file.name}' files "
            f"(readable: {', '.join(known)}){hint}"
        )
    problem = utf8_problem(file)
    if problem:
        raise TimelineError(f"{file}: the path {problem}")
    if file.is_dir() and suffix != ".otiod":
        raise TimelineError(f"{file}: is a folder, not an edit file")
    warnings = _check_before_reading(file, suffix)
    rate = adapter_args.get("rate")
    if isinstance(rate, (int, float, Fraction)):
        # OTIO's timecode parser refuses 29.97 but takes 30000/1001 as a float: pass the exact rate.
        try:
            adapter_args["rate"] = float(rate_from_float(rate))
        except PrevizError as exc:
            raise UsageError(f"rate for {file.name}: {exc.message}") from None
    try:
        # Read the edit as it is: no media linker and no fill-on-read hook (ours included, should a
        # user have switched it on in the environment) may change it before the fill sees it.
        reading = {
            "media_linker_name": otio.media_linker.MediaLinkingPolicy.DoNotLinkMedia,
            "hook_function_argument_map": {"previz": {"fill": False}},
            **adapter_args,
        }
        result = otio.adapters.read_from_file(str(file), **reading)
    except Exception as exc:  # adapters raise anything (KeyError, ParseError, ...): one line
        detail = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:300]
        raise TimelineError(f"{file}: cannot read it ({type(exc).__name__}: {detail})") from exc
    timeline = _only_timeline(result, file)
    _check_nesting(timeline, str(file))
    if suffix == ".edl":
        _note_edl_drop_frame(timeline, file)
    return timeline, warnings


def _check_before_reading(file: Path, suffix: str) -> list[str]:
    """Refuse what OTIO's readers must not be handed (a FIFO, a huge or deeply nested edit); return warnings.

    Only a regular file is read (a FIFO would block forever). The edit's text must be at most
    MAX_EDIT_BYTES, checked before any reader takes it into memory: for an .otioz the size its zip
    declares for content.otio (a bound: zipfile reads no more), so a small bundle cannot unpack a
    huge edit. JSON is checked for depth (OTIO's reader crashes on very deep JSON) and for integers
    OTIO cannot hold.
    """
    if suffix == ".otiod":
        content = file / "content.otio"
        problem = regular_file_problem(content)
        if problem:
            raise TimelineError(f"{file}: the bundle's content.otio {problem}")
        return _check_json_file(content, f"{file}")
    problem = regular_file_problem(file)
    if problem:
        raise TimelineError(f"{file}: {problem}")
    size = file.stat().st_size
    if size == 0:
        raise TimelineError(f"{file}: is empty")
    if suffix == ".otioz":
        return _check_bundle(file)
    if suffix in _TEXT_SUFFIXES and size > MAX_EDIT_BYTES:
        raise TimelineError(f"{file}: is {size:,} bytes; previz reads edits of at most {MAX_EDIT_BYTES:,} bytes")
    return _check_json_file(file, str(file)) if suffix == ".otio" else []


def _check_bundle(file: Path) -> list[str]:
    try:
        with zipfile.ZipFile(file) as bundle:
            try:
                entry = bundle.getinfo("content.otio")
            except KeyError:
                raise TimelineError(f"{file}: the bundle holds no content.otio") from None
            if entry.file_size > MAX_EDIT_BYTES:
                raise TimelineError(f"{file}: its content.otio unpacks to {entry.file_size:,} bytes; previz reads "
                                    f"edits of at most {MAX_EDIT_BYTES:,} bytes")
            data = bundle.read(entry)
    except (zipfile.BadZipFile, OSError, RuntimeError, ValueError, EOFError) as exc:
        raise TimelineError(f"{file}: cannot read it as an .otioz bundle ({type(exc).__name__}: {exc})") from None
    return _check_json(data, str(file))


def _check_json_file(path: Path, label: str) -> list[str]:
    size = path.stat().st_size
    if size > MAX_EDIT_BYTES:
        raise TimelineError(f"{label}: is {size:,} bytes; previz reads edits of at most {MAX_EDIT_BYTES:,} bytes")
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise TimelineError(f"{label}: cannot read it ({exc.strerror})") from None
    return _check_json(data, label)


def _check_json(data: bytes, label: str) -> list[str]:
    """Refuse JSON nested deeper than MAX_JSON_DEPTH; return a warning per integer OTIO would change.

    Strings are blanked first (a bracket or digits inside a name mean nothing), then the brackets
    alone are counted with numpy: linear, and fast on a large edit.
    """
    import numpy as np

    skeleton = _JSON_STRING.sub(b'""', data)
    brackets = np.frombuffer(skeleton.translate(None, _NOT_BRACKETS), dtype=np.uint8)
    if brackets.size:
        opening = (brackets == ord("[")) | (brackets == ord("{"))
        depth = int(np.cumsum(np.where(opening, 1, -1), dtype=np.int64).max())
        if depth > MAX_JSON_DEPTH:
            raise TimelineError(f"{label}: its JSON nests {depth:,} levels deep; previz reads at most {MAX_JSON_DEPTH}")
    changed = [int(token) for token in _LONG_INTEGER.findall(skeleton)
               if not _INT64[0] <= int(token) <= _INT64[1]]
    if not changed:
        return []
    shown = ", ".join(str(value) for value in changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
    return [f"warning: {label}: {len(changed)} integer(s) in its metadata do not fit 64 bits ({shown}); OTIO's reader "
            "keeps 64-bit integers, so they will not come out as they went in (store them as text to keep them)"]


def _check_nesting(timeline: otio.schema.Timeline, label: str) -> None:
    """Refuse tracks and stacks nested deeper than MAX_NESTING (walked without recursion)."""
    pending: list[tuple[otio.core.Composition, int]] = [(timeline.tracks, 1)]
    while pending:
        composition, depth = pending.pop()
        if depth > MAX_NESTING:
            raise TimelineError(f"{printable(label)}: nests tracks and stacks more than {MAX_NESTING} levels deep; "
                                f"previz reads at most {MAX_NESTING}")
        pending.extend((child, depth + 1) for child in composition if isinstance(child, otio.core.Composition))


def _only_timeline(result: object, file: Path) -> otio.schema.Timeline:
    """Return the one Timeline a reader gave back, looking inside (nested) collections."""
    if isinstance(result, otio.schema.Timeline):
        return result
    if not isinstance(result, otio.schema.SerializableCollection):
        raise TimelineError(f"{file}: holds a {type(result).__name__}, not a timeline")
    timelines, pending = [], list(result)
    while pending:  # breadth first through nested collections
        child = pending.pop(0)
        if isinstance(child, otio.schema.Timeline):
            timelines.append(child)
        elif isinstance(child, otio.schema.SerializableCollection):
            pending.extend(child)
    if len(timelines) != 1:
        raise TimelineError(
            f"{file}: holds a collection with {len(timelines)} timelines; "
            "previz needs exactly one (export the sequence on its own)"
        )
    return timelines[0]


def _note_edl_drop_frame(timeline: otio.schema.Timeline, file: Path) -> None:
    """Record an EDL's "FCM: DROP FRAME" in timeline.metadata["previz"]; the reader drops it."""
    try:
        text = file.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return
    for line in text.splitlines():
        if line.strip().upper().startswith("FCM:"):
            if "NON" not in line.upper() and "DROP" in line.upper():
                previz = timeline.metadata.setdefault("previz", {})
                if isinstance(previz, MutableMapping) and "drop_frame" not in previz:
                    previz["drop_frame"] = True
            return


def uses_drop_frame(timeline: otio.schema.Timeline) -> bool:
    """Return True when the edit says its timecode is drop frame.

    OTIO has no field for it, so read what the edit carries: our own metadata["previz"]
    ["drop_frame"] (set by read_timeline for an EDL with "FCM: DROP FRAME"), or FCP XML's sequence
    timecode (metadata["fcp_xml"]["timecode"]["displayformat"] == "DF").
    """
    previz = timeline.metadata.get("previz")
    if isinstance(previz, Mapping) and "drop_frame" in previz:
        return _is_true(previz["drop_frame"])
    fcp_xml = timeline.metadata.get("fcp_xml")
    fcp_timecode = fcp_xml.get("timecode") if isinstance(fcp_xml, Mapping) else None
    return isinstance(fcp_timecode, Mapping) and str(fcp_timecode.get("displayformat", "")).upper() == "DF"


def find_placeholders(timeline: otio.schema.Timeline, kinds: Iterable[str] = PLACEHOLDER_KINDS) -> list[Placeholder]:
    """Return the timeline's placeholders of the given kinds, in reading order (track, item)."""
    if not isinstance(timeline, otio.schema.Timeline):
        raise UsageError(f"find_placeholders needs an otio.schema.Timeline, got {type(timeline).__name__}")
    wanted = (kinds,) if isinstance(kinds, str) else tuple(kinds)
    unknown = [kind for kind in wanted if kind not in PLACEHOLDER_KINDS]
    if unknown:
        raise UsageError(
            f"unknown placeholder kind(s) {', '.join(map(repr, unknown))}; "
            f"choose from {', '.join(PLACEHOLDER_KINDS)}"
        )
    _check_nesting(timeline, timeline.name or "timeline")
    return list(_Scanner(timeline, frozenset(wanted)).placeholders())


class _Scanner:
    """One pass over one timeline; lengths and coverage are cached so deep nesting stays linear."""

    def __init__(self, timeline: otio.schema.Timeline, kinds: frozenset[str]) -> None:
        self.timeline = timeline
        self.kinds = kinds
        self.drop_frame = uses_drop_frame(timeline)
        # Keyed by id(); each entry also holds the object, so a Python wrapper cannot be freed and
        # its id reused by another item during the scan.
        self._lengths: dict[int, tuple[object, Fraction]] = {}
        self._markers: dict[int, tuple[object, _Markers]] = {}
        self._base = self._record_base()

    def placeholders(self) -> Iterator[Placeholder]:
        stack = self.timeline.tracks
        origin = -_trim_start(stack)
        where = _Where(track_name="", on_floor=True, covers=(), enclosing=((stack, origin),))
        yield from self._walk(stack, (), origin, None, where)

    def _record_base(self) -> Fraction | None:
        """Return the record time (seconds) of timeline time 0; None means the implied 1 hour."""
        start = self.timeline.global_start_time
        if start is not None:
            return _seconds(start, self.timeline.name)
        # The CMX 3600 reader keeps the first event's record-in as a negative source_range start on
        # each track (not as global_start_time); that offset already puts items at their record
        # timecode, so an implied hour on top would put them an hour late.
        for track in self.timeline.tracks:
            if track.source_range is not None and track.source_range.start_time.value < 0:
                return Fraction(0)
        return None

    # -- the walk: every composition's children with their place in timeline seconds ----------

    def _layout(self, composition, origin):
        """Yield (index, child, start, length) for the non-transition children of a composition."""
        sequential = not isinstance(composition, otio.schema.Stack)
        position = Fraction(0)
        for index, child in enumerate(composition):
            if not isinstance(child, otio.core.Item):
                continue  # a transition overlaps its neighbours and takes no time of its own
            length = self._length(child)
            yield index, child, origin + position, length
            if sequential:
                position += length

    def _child_window(self, parent, window, start, length):
        """Return the part of timeline time a child of `parent` can show."""
        # Top-level tracks are never trimmed away: the CMX 3600 reader stores the record-in as a
        # negative source_range start whose window, read literally, would hide every event.
        if parent is self.timeline.tracks:
            return None
        return _clip(window, (start, start + length))

    def _walk(self, composition, path, origin, window, where: _Where) -> Iterator[Placeholder]:
        is_stack = isinstance(composition, otio.schema.Stack)
        floor = _floor_index(composition) if is_stack else None
        children = list(composition)
        video_number = 0
        for index, child, start, length in self._layout(composition, origin):
            if isinstance(child, otio.schema.Track) and child.kind != otio.schema.TrackKind.Video:
                continue  # audio never holds placeholders
            video_number += 1
            if not child.enabled:
                continue
            here = where
            if is_stack:  # only the floor track of a stack can hold holes; an item straight in it never
                on_floor = where.on_floor and index == floor
                covers = where.covers + self._cover_above(composition, floor, origin, window) if on_floor else ()
                here = replace(where, on_floor=on_floor, covers=_merge(covers))
                if composition is self.timeline.tracks:
                    here = replace(here, track_name=child.name.strip() or f"V{video_number}")
            if isinstance(child, otio.core.Composition):
                child_origin = start - _trim_start(child)
                here = replace(here, enclosing=here.enclosing + ((child, child_origin),))
                child_window = self._child_window(composition, window, start, length)
                yield from self._walk(child, path + (index,), child_origin, child_window, here)
                continue
            before = children[index - 1] if index > 0 else None
            after = children[index + 1] if index + 1 < len(children) else None
            offsets = (
                before.in_offset if isinstance(before, otio.schema.Transition) else None,
                after.out_offset if isinstance(after, otio.schema.Transition) else None,
            )
            yield from self._visit(child, path + (index,), (start, start + length), window, here, offsets)

    def _visit(self, item, path, span, window, where: _Where, offsets) -> Iterator[Placeholder]:
        """Yield the item as a placeholder when it is one of the wanted kinds."""
        start, end = span
        if end <= start:
            return  # a zero-length item has nothing to fill
        kind = _clip_kind(item) if isinstance(item, otio.schema.Clip) else None
        if isinstance(item, otio.schema.Gap) and where.on_floor:
            visible = _clip(window, span)
            if visible[0] < visible[1] and not _covered(visible, where.covers):
                kind = "gap"
        if kind is None or kind not in self.kinds:
            return
        number = ".".join(str(index + 1) for index in path[1:])
        noun = "gap" if kind == "gap" else "clip"
        # An unnamed gap is often labelled by its marker (the shot code an editor typed on it).
        marker_names = [m.name.strip() for m in item.markers if m.name.strip()]
        name = item.name if item.name.strip() else marker_names[0] if marker_names else f"{where.track_name} {noun} {number}"
        try:
            rate = rate_from_float(_trimmed_range(item).duration.rate)
        except PrevizError as exc:
            raise TimelineError(exc.message).with_shot(name) from None
        drop_frame = self.drop_frame and rate in DROP_FRAME_RATES
        head, tail = (0 if offset is None else frames_from_seconds(_seconds(offset, name), rate) for offset in offsets)
        if self._base is None:  # the implied start: 01:00:00:00, or 01:00:00;00 in drop frame
            implied = IMPLIED_START_TIMECODE.replace(":", ";") if drop_frame else IMPLIED_START_TIMECODE
            record_start = parse_timecode(implied, rate) + frames_from_seconds(start, rate)
        else:
            record_start = frames_from_seconds(self._base + start, rate)
        yield Placeholder(
            item=item,
            kind=kind,
            path=path,
            track_name=where.track_name,
            name=name,
            rate=rate,
            frames=frames_from_seconds(end - start, rate),
            record_start_frame=record_start,
            transition_head=head,
            transition_tail=tail,
            marker_notes=self._notes(item, span, where),
            metadata=item.metadata,
            drop_frame=drop_frame,
        )

    # -- what the tracks above a floor show ---------------------------------------------------

    def _cover_above(self, stack, floor, origin, window) -> tuple[_Span, ...]:
        """Return the spans where the video tracks above a stack's floor track show a clip."""
        return tuple(
            span
            for index, child, start, length in self._layout(stack, origin)
            if index > floor
            for span in self._clip_spans(stack, child, start, length, window)
        )

    def _clip_spans(self, parent, item, start, length, window) -> Iterator[_Span]:
        """Yield the visible spans of every enabled clip at or below an item (nothing for gaps)."""
        if not item.enabled or length <= 0:
            return
        if isinstance(item, otio.schema.Track) and item.kind != otio.schema.TrackKind.Video:
            return
        if isinstance(item, otio.schema.Clip):
            visible = _clip(window, (start, start + length))
            if visible[0] < visible[1]:
                yield visible
        elif isinstance(item, otio.core.Composition):
            child_window = self._child_window(parent, window, start, length)
            inner_origin = start - _trim_start(item)
            for _, child, child_start, child_length in self._layout(item, inner_origin):
                yield from self._clip_spans(item, child, child_start, child_length, child_window)

    # -- markers ------------------------------------------------------------------------------

    def _notes(self, item, span, where: _Where) -> tuple[str, ...]:
        """Return marker names and comments on the item, then on compositions over its span."""
        notes = [text for marker in item.markers for text in _marker_texts(marker)]
        start, end = span
        for composition, origin in reversed(where.enclosing):
            starts, marks, longest = self._marker_spans(composition, origin)
            # Only markers that begin before the item ends, and not so early that they end before it.
            candidates = marks[bisect_left(starts, start - longest) : bisect_left(starts, end)]
            for marked_start, marked_end, texts in candidates:
                if marked_end > start or (marked_end == marked_start >= start):  # a point marker: its frame
                    notes.extend(texts)
        return tuple(dict.fromkeys(notes))

    def _marker_spans(self, composition, origin) -> _Markers:
        """Return a composition's markers in timeline seconds, sorted by start, computed once."""
        if id(composition) not in self._markers:
            marks = []
            for marker in composition.markers:
                marked_start = origin + _seconds(marker.marked_range.start_time, marker.name)
                marked_end = marked_start + max(_seconds(marker.marked_range.duration, marker.name), Fraction(0))
                marks.append((marked_start, marked_end, tuple(_marker_texts(marker))))
            marks.sort(key=lambda mark: mark[0])
            longest = max((end - start for start, end, _ in marks), default=Fraction(0))
            self._markers[id(composition)] = (composition, ([mark[0] for mark in marks], marks, longest))
        return self._markers[id(composition)][1]

    # -- exact lengths ------------------------------------------------------------------------

    def _length(self, composable) -> Fraction:
        """Return how long a child lasts in its parent, in exact seconds (OTIO's duration())."""
        key = id(composable)
        if key in self._lengths:
            return self._lengths[key][1]
        if not isinstance(composable, otio.core.Item):
            length = Fraction(0)  # a transition overlaps its neighbours and takes no time of its own
        elif composable.source_range is not None:
            length = _seconds(composable.source_range.duration, _label(composable))
        elif isinstance(composable, otio.schema.Stack):
            length = max((self._length(child) for child in composable), default=Fraction(0))
        elif isinstance(composable, otio.core.Composition):
            children = list(composable)
            length = sum((self._length(child) for child in children), Fraction(0))
            # Like OTIO's Track.available_range: a transition at either end adds its overhang.
            if children and isinstance(children[0], otio.schema.Transition):
                length += _seconds(children[0].in_offset, _label(composable))
            if children and isinstance(children[-1], otio.schema.Transition):
                length += _seconds(children[-1].out_offset, _label(composable))
        else:
            length = _seconds(_trimmed_range(composable).duration, _label(composable))
        self._lengths[key] = (composable, length)
        return length


def _trimmed_range(item: otio.core.Item) -> otio.opentime.TimeRange:
    """Return an item's source_range, else its media's available range (OTIO's trimmed_range)."""
    if item.source_range is not None:
        return item.source_range
    available = getattr(getattr(item, "media_reference", None), "available_range", None)
    if available is None:
        problem = "has no source range and its media no available range, so its length is unknown"
        raise TimelineError(problem).with_shot(_label(item))
    return available


def _trim_start(composable: otio.core.Composable) -> Fraction:
    source_range = composable.source_range
    return Fraction(0) if source_range is None else _seconds(source_range.start_time, _label(composable))


def _seconds(rt: otio.opentime.RationalTime, name: str) -> Fraction:
    """Return exact seconds; a bad rate in the edit is a TimelineError naming the item."""
    try:
        return exact_seconds(rt)
    except PrevizError as exc:
        raise TimelineError(exc.message).with_shot(name or "timeline") from None


def _label(composable: otio.core.Composable) -> str:
    """Return an item's name for an error message, or its type when it has none ("unnamed Gap")."""
    return composable.name if composable.name.strip() else f"unnamed {type(composable).__name__}"


def _clip_kind(clip: otio.schema.Clip) -> str | None:
    """Return the placeholder kind of a clip, first match of missing, generator, marked."""
    previz = clip.metadata.get("previz")
    previz = previz if isinstance(previz, Mapping) else None
    if previz is not None and _is_true(previz.get("generated")):
        return None  # already filled by us: filling a filled edit fills nothing new
    reference = clip.media_reference
    if reference is None or isinstance(reference, otio.schema.MissingReference):
        return "missing"
    if isinstance(reference, otio.schema.GeneratorReference):
        return "generator"
    return "marked" if previz is not None else None


def _floor_index(stack: otio.schema.Stack) -> int | None:
    """Return the index of a stack's lowest enabled video track (its picture's floor)."""
    for index, child in enumerate(stack):
        if isinstance(child, otio.schema.Track) and child.kind == otio.schema.TrackKind.Video and child.enabled:
            return index
    return None


def _clip(window: _Span | None, span: _Span) -> _Span:
    """Return span cut to window (None: no limit); an empty result has start >= end."""
    if window is None:
        return span
    return max(window[0], span[0]), min(window[1], span[1])


def _merge(spans: Iterable[_Span]) -> tuple[_Span, ...]:
    """Return spans sorted and joined where they overlap or touch."""
    merged: list[_Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return tuple(merged)


def _covered(span: _Span, merged: tuple[_Span, ...]) -> bool:
    """Return True when one of the merged spans holds all of `span` (merged spans never touch)."""
    index = bisect_right(merged, span[0], key=lambda cover: cover[0]) - 1
    return index >= 0 and merged[index][1] >= span[1]


def _marker_texts(marker: otio.schema.Marker) -> list[str]:
    """A marker's name and comment; older files and some adapters keep the comment in its metadata."""
    texts = [marker.name, getattr(marker, "comment", "") or ""]
    metadata = marker.metadata if isinstance(marker.metadata, Mapping) else {}
    for holder in (metadata, *(v for v in metadata.values() if isinstance(v, Mapping))):
        for key in ("comment", "comments", "note", "notes"):
            texts.append(holder.get(key, "") if isinstance(holder.get(key, ""), str) else "")
    seen: list[str] = []
    for text in texts:
        if isinstance(text, str) and text.strip() and text.strip() not in seen:
            seen.append(text.strip())
    return seen


def _is_true(value: object) -> bool:
    """Return True for metadata that means yes: True, 1, or "true"/"yes"/"1" (XML adapters)."""
    if isinstance(value, str):
        return value.strip().lower() in {"true", "yes", "1"}
    return value is True or (type(value) is int and value == 1)
