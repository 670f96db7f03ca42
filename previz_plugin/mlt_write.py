"""A timeline -> MLT XML, the project format of the engine under Kdenlive and Shotcut (`melt` renders it).

MLT numbers a file's frames from its first frame, whatever its timecode, while OTIO states source
times in the media's own timecode (`available_range.start`, e.g. 01:00:00:00 = 86400 at 24 fps). So
every entry's in / out point is the source time less the media's start, rescaled to the profile's
rate: that is what the MLT adapters on PyPI get wrong for timecoded media.

    Track        -> <playlist> (clips as <entry>, gaps as <blank>); audio tracks are hidden from video
    Transition   -> a dissolve: a small <tractor> of the outgoing clip's tail and the incoming clip's
                    head (their handles) with a `luma` transition, between the two shortened entries
    Stack        -> a nested <tractor> used as a producer (over its own source range)
    tracks       -> one <multitrack>; each video track above the first is composited over what lies
                    under it (`composite`), each audio track mixed (`mix`)
    ExternalReference -> an `avformat` producer on the file; GeneratorReference SolidColor -> `color`;
    missing media -> black (`color`), named after the clip, flagged `previz:offline`

Markers have no place in MLT's core XML and are not written.
"""

from __future__ import annotations

import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from fractions import Fraction
from xml.sax.saxutils import escape, quoteattr

import opentimelineio as otio

from .errors import TimelineError

__all__ = ["timeline_to_mlt"]


def _attr(value: object) -> str:
    """An XML attribute value: escaped, with control characters dropped (no forged markup, no bad XML)."""
    text = "".join(ch for ch in str(value) if ch.isprintable() or ch == " ")
    return quoteattr(text)


def _text(value: object) -> str:
    return escape("".join(ch for ch in str(value) if ch.isprintable() or ch == " "))


@dataclass
class _Writer:
    rate: Fraction
    producers: list[str] = field(default_factory=list)
    ids: dict[tuple, str] = field(default_factory=dict)
    count: int = 0

    def new_id(self, prefix: str) -> str:
        self.count += 1
        return f"{prefix}{self.count}"

    def frames(self, time: otio.opentime.RationalTime) -> int:
        """A time as a whole number of profile frames (times on the edit's own rate stay exact)."""
        value = Fraction(time.value).limit_denominator(10**6) * self.rate / Fraction(time.rate).limit_denominator(10**6)
        return round(value)

    # -- producers --------------------------------------------------------------------------

    def media_producer(self, item: otio.schema.Clip) -> tuple[str, int]:
        """(producer id, the media's first frame in source time) for a clip's media, made once per source."""
        reference = item.media_reference
        if isinstance(reference, otio.schema.ExternalReference) and reference.target_url:
            resource = _local_path(reference.target_url)
            start = reference.available_range.start_time if reference.available_range else None
            first = self.frames(start) if start is not None else 0
            key: tuple = ("file", resource, first)
            properties = {"resource": resource, "mlt_service": "avformat", "seekable": "1"}
        elif isinstance(reference, otio.schema.GeneratorReference) and reference.generator_kind == "SolidColor":
            colour = _colour(reference.parameters.get("color"))
            key, first = ("color", colour), 0
            properties = {"resource": colour, "mlt_service": "color"}
        else:  # missing, unsupported or a slug we cannot draw: black, and say so
            key, first = ("offline", item.name), 0
            properties = {"resource": "0x000000ff", "mlt_service": "color", "previz:offline": "1",
                          "previz:name": item.name}
        if key not in self.ids:
            self.ids[key] = self.new_id("producer")
            body = "".join(f'<property name="{name}">{_text(value)}</property>' for name, value in properties.items())
            self.producers.append(f'<producer id="{self.ids[key]}">{body}</producer>')
        return self.ids[key], first

    def source_in(self, item: otio.core.Item) -> int:
        return self.frames(item.trimmed_range().start_time)

    def entry(self, item: otio.core.Item, start: int, end: int) -> str:
        """An <entry> showing source frames [start, end) of the item (start may reach into its head handle)."""
        if end <= start:
            return ""
        if isinstance(item, otio.schema.Stack):
            producer, first = self.stack(item), 0  # a nested tractor counts frames from the stack's own zero
        else:
            producer, first = self.media_producer(item)
        return f'<entry producer="{producer}" in="{start - first}" out="{end - first - 1}"/>'

    # -- compositions -----------------------------------------------------------------------

    def playlist(self, track: otio.schema.Track) -> tuple[str, str]:
        """A track as a <playlist>: dissolves become tractors over the two clips' handles."""
        pid = self.new_id("playlist")
        parts: list[str] = []
        children = list(track)
        for index, item in enumerate(children):
            if isinstance(item, otio.schema.Transition):
                continue
            length = self.frames(item.trimmed_range().duration)
            before = children[index - 1] if index > 0 else None
            after = children[index + 1] if index + 1 < len(children) else None
            head = self.frames(before.out_offset) if isinstance(before, otio.schema.Transition) else 0
            tail = self.frames(after.in_offset) if isinstance(after, otio.schema.Transition) else 0
            if isinstance(item, otio.schema.Gap) or not item.enabled:
                parts.append(f'<blank length="{length - head - tail}"/>' if length - head - tail > 0 else "")
            else:
                start = self.source_in(item)
                parts.append(self.entry(item, start + head, start + length - tail))
            if isinstance(after, otio.schema.Transition):
                parts.append(self.dissolve(item, after, children[index + 2] if index + 2 < len(children) else None))
        return f'<playlist id="{pid}">{"".join(parts)}</playlist>', pid

    def dissolve(self, outgoing: otio.core.Item, transition: otio.schema.Transition,
                 incoming: otio.core.Item | None) -> str:
        """Record frames [cut - in_offset, cut + out_offset): outgoing's tail handle under incoming's head."""
        before, after = self.frames(transition.in_offset), self.frames(transition.out_offset)
        length = before + after
        if length <= 0 or incoming is None:
            return ""
        tid = self.new_id("dissolve")
        tracks = []
        for item, cut in ((outgoing, self.source_in(outgoing) + self.frames(outgoing.trimmed_range().duration)),
                          (incoming, self.source_in(incoming))):
            if isinstance(item, otio.schema.Gap) or not item.enabled:
                tracks.append(f'<track producer="{self.black()}" in="0" out="{length - 1}"/>')
                continue
            producer, first = (self.stack(item), 0) if isinstance(item, otio.schema.Stack) \
                else self.media_producer(item)
            tracks.append(f'<track producer="{producer}" in="{cut - before - first}" out="{cut + after - first - 1}"/>')
        mix = (f'<transition in="0" out="{length - 1}"><property name="a_track">0</property>'
               f'<property name="b_track">1</property><property name="mlt_service">luma</property></transition>'
               f'<transition in="0" out="{length - 1}"><property name="a_track">0</property>'
               f'<property name="b_track">1</property><property name="mlt_service">mix</property>'
               f'<property name="start">0</property><property name="end">1</property></transition>')
        self.producers.append(f'<tractor id="{tid}" in="0" out="{length - 1}">{"".join(tracks)}{mix}</tractor>')
        return f'<entry producer="{tid}" in="0" out="{length - 1}"/>'

    def black(self) -> str:
        key = ("color", "0x000000ff")
        if key not in self.ids:
            self.ids[key] = self.new_id("producer")
            self.producers.append(f'<producer id="{self.ids[key]}"><property name="resource">0x000000ff</property>'
                                  f'<property name="mlt_service">color</property></producer>')
        return self.ids[key]

    def tractor(self, tracks: list[otio.schema.Track], tid: str, length: int | None = None) -> str:
        playlists = []
        for track in tracks:
            text, pid = self.playlist(track)
            self.producers.append(text)
            playlists.append((pid, track.kind))
        # An audio track's (missing) pictures must never cover the picture: MLT hides them per track.
        lines = "".join(f'<track producer="{pid}"{" hide=" + chr(34) + "video" + chr(34) if kind == otio.schema.TrackKind.Audio else ""}/>'
                        for pid, kind in playlists)
        blends = []
        video = [i for i, (_, kind) in enumerate(playlists) if kind != otio.schema.TrackKind.Audio]
        audio = [i for i, (_, kind) in enumerate(playlists) if kind == otio.schema.TrackKind.Audio]
        for upper in video[1:]:  # each upper video track over the first (blanks let the lower show)
            blends.append(f'<transition><property name="a_track">{video[0]}</property>'
                          f'<property name="b_track">{upper}</property><property name="mlt_service">composite</property>'
                          f'<property name="fill">1</property><property name="always_active">1</property></transition>')
        for track in audio[1:] if not video else audio:
            base = audio[0] if not video else video[0]
            if track != base:
                blends.append(f'<transition><property name="a_track">{base}</property>'
                              f'<property name="b_track">{track}</property><property name="mlt_service">mix</property>'
                              f'<property name="combine">1</property><property name="always_active">1</property>'
                              f'</transition>')
        span = f' in="0" out="{length - 1}"' if length else ""
        return f'<tractor id="{tid}"{span}><multitrack>{lines}</multitrack>{"".join(blends)}</tractor>'

    def stack(self, stack: otio.schema.Stack) -> str:
        """A nested stack as a tractor producer; entries then pick its frames by its own source range."""
        key = ("stack", id(stack))
        if key not in self.ids:
            tid = self.new_id("nested")
            self.ids[key] = tid
            tracks = [child for child in stack if isinstance(child, otio.schema.Track)]
            self.producers.append(self.tractor(tracks, tid))
        return self.ids[key]


def _local_path(url: str) -> str:
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme in ("", "file"):
        return urllib.request.url2pathname(parsed.path) if parsed.scheme == "file" else url
    return url


def _colour(value: object) -> str:
    try:
        red, green, blue = (min(255, max(0, round(float(c) * 255))) for c in list(value)[:3])  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return "0x000000ff"
    return f"0x{red:02x}{green:02x}{blue:02x}ff"


def _edit_rate(timeline: otio.schema.Timeline) -> Fraction:
    from .timing import rate_from_float

    if timeline.global_start_time is not None:
        return rate_from_float(timeline.global_start_time.rate)
    for clip in timeline.find_clips():
        return rate_from_float(clip.trimmed_range().duration.rate)
    raise TimelineError("the edit has no rate to write an MLT profile with")


def timeline_to_mlt(timeline: otio.schema.Timeline, size: tuple[int, int]) -> str:
    """The timeline as MLT XML text, with a profile at the edit's rate and `size` (the delivery size)."""
    rate = _edit_rate(timeline)
    writer = _Writer(rate)
    tracks = [track for track in timeline.tracks if isinstance(track, otio.schema.Track)]
    if not tracks:
        raise TimelineError("the edit has no tracks to write as MLT")
    main = writer.tractor(tracks, "main")
    width, height = size
    profile = (f'<profile description={_attr(timeline.name or "previz")} width="{width}" height="{height}" '
               f'progressive="1" sample_aspect_num="1" sample_aspect_den="1" display_aspect_num="{width}" '
               f'display_aspect_den="{height}" frame_rate_num="{rate.numerator}" frame_rate_den="{rate.denominator}" '
               f'colorspace="709"/>')
    title = f'<mlt LC_NUMERIC="C" version="7.0.0" title={_attr(timeline.name or "previz")} producer="main">'
    return ('<?xml version="1.0" encoding="utf-8"?>\n' + title + profile + "".join(writer.producers) + main
            + "</mlt>\n")
