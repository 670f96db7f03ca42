"""Filled edit -> one self-contained HTML page a supervisor reviews: the edit to scale and a card per shot.

The page draws the edit's video tracks to scale (every item a box as long as it plays; filled shots
highlighted and numbered, gaps hatched, placeholders still unfilled outlined), then a card per filled
shot: a few frames of what the edit will play (not the handles), its class, seed, staging, frames,
handles, record timecode, model, content credentials, watermark check and a link that plays its media;
then what was skipped or failed and why.

Nothing on the page is fetched: the CSS is inline, the frames are JPEG data: URIs, there is no script,
and a Content-Security-Policy says so, so a name that got past escaping still could not run. Only the
media links point out of the page (relative to it, so the page and the media folder move together).
Every text from the edit, its metadata or a report is hostile until escaped (`_text`).
"""

from __future__ import annotations

import base64
import datetime
import html
import io
import logging
import os
import pathlib
import re
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

import opentimelineio as otio

from . import __version__
from .errors import PrevizError, UsageError
from .files import file_sha256, regular_file_problem, write_files_atomic
from .printable import printable
from .timeline_scan import IMPLIED_START_TIMECODE, find_placeholders, read_timeline, uses_drop_frame
from .timing import parse_timecode, rate_from_float, timecode

__all__ = ["WatermarkStatus", "write_review"]

log = logging.getLogger(__name__)

# (media file, the clip's metadata["previz"]: shot_id, seed, model...) -> what the watermark detector found, one line
WatermarkStatus = Callable[[pathlib.Path, Mapping[str, Any]], str]
THUMB_WIDTH = 240
MAX_FRAMES_PER_SHOT = 12
_DROP_FRAME_RATES = (Fraction(30000, 1001), Fraction(60000, 1001))
_RATE_TEXT = re.compile(r"[0-9]{1,9}(/[0-9]{1,9})?")
_VIDEO_TYPES = {".mp4": "video/mp4", ".m4v": "video/mp4", ".mov": "video/quicktime", ".mkv": "video/x-matroska"}
_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; media-src 'self' file: data:"


@dataclass
class _Card:
    """What one filled shot's card shows; every str here is already HTML."""

    number: int
    name: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    frames: list[tuple[str, str]] = field(default_factory=list)  # (data: URI, record timecode)
    problems: list[str] = field(default_factory=list)
    media_href: str | None = None
    player_height: int = 180  # of a 320-wide player, from the shot's picture size
    media_type: str = ""  # the <source> MIME type, so a browser that cannot play it says so before loading it


def write_review(
    timeline_or_path: otio.schema.Timeline | str | os.PathLike[str],
    output_html: str | os.PathLike[str],
    *,
    report: Mapping[str, Any] | None = None,
    frames_per_shot: int = 4,
    watermark_status: WatermarkStatus | None = None,
    trust_anchors: str | os.PathLike[str] | None = None,
) -> pathlib.Path:
    """Write the review page of a filled edit to output_html, atomically; return its path.

    report: a fill's report (`FillReport.to_dict()`, the CLI's --json), for what was skipped or failed and
    the record timecodes it computed; without it the skipped list is what the edit still holds unfilled.
    watermark_status: called with each shot's media file and its provenance (the clip's metadata["previz"], which
    holds the shot_id a watermark should carry); returns a one-line finding. None: "not checked".
    trust_anchors: PEM CA certificates the content credentials are checked against (see credentials.py).
    """
    output = pathlib.Path(output_html)
    if output.suffix.lower() not in (".html", ".htm"):
        raise UsageError(f"review page {output} must be an .html file")
    if not output.parent.is_dir():
        raise UsageError(f"review page folder {output.parent} does not exist")
    if output.exists() and regular_file_problem(output):
        raise UsageError(f"review page {output} {regular_file_problem(output)}")
    if isinstance(frames_per_shot, bool) or not isinstance(frames_per_shot, int) or not 1 <= frames_per_shot <= MAX_FRAMES_PER_SHOT:
        raise UsageError(f"frames_per_shot must be an integer from 1 to {MAX_FRAMES_PER_SHOT}, got {frames_per_shot!r}")
    if report is not None and not isinstance(report, Mapping):
        raise UsageError(f"report must be a fill report dict (FillReport.to_dict()), got {type(report).__name__}")
    timeline, media_base = _load(timeline_or_path, report)
    from_report = {_resolved(entry.get("media_path")): entry for entry in _entries(report, "filled")}
    clips = [clip for clip in timeline.find_clips() if _generated(clip)]
    numbers = {id(clip): number for number, clip in enumerate(clips, 1)}
    try:
        unfilled = find_placeholders(timeline)
    except PrevizError as error:
        unfilled, scan_problem = [], str(error)
    else:
        scan_problem = ""
    cards = [_card(number, clip, timeline, media_base, output.parent, from_report, frames_per_shot, watermark_status,
                   trust_anchors) for number, clip in enumerate(clips, 1)]
    if report is not None:
        not_filled = [(e.get("name"), _where(timeline, e.get("item_path")), "skipped", e.get("reason")) for e in _entries(report, "skipped")]
        not_filled += [(e.get("name"), _where(timeline, e.get("item_path")), "failed", e.get("error")) for e in _entries(report, "failed")]
    else:
        not_filled = [(p.name, _where(timeline, list(p.path)), "not filled", f"{p.kind} placeholder still in the edit") for p in unfilled]
        if scan_problem:
            not_filled.append(("(edit)", "", "not scanned", scan_problem))
    page = _page(timeline, cards, numbers, {id(p.item) for p in unfilled}, not_filled, report)
    write_files_atomic({output: page.encode("utf-8")})
    return output


# the edit ------------------------------------------------------------------------------------------
def _load(source: Any, report: Mapping[str, Any] | None) -> tuple[otio.schema.Timeline, pathlib.Path]:
    """Return the timeline and the folder its relative media URLs are relative to."""
    if isinstance(source, otio.schema.Timeline):
        output = report.get("output") if report is not None else None
        return source, pathlib.Path(output).absolute().parent if isinstance(output, str) and output else pathlib.Path.cwd()
    if isinstance(source, (str, os.PathLike)):
        path = pathlib.Path(source)
        return read_timeline(path), (path.absolute() if path.is_dir() else path.absolute().parent)  # .otiod: the folder
    raise UsageError(f"write_review needs a timeline or a path to an edit, got {type(source).__name__}")


def _generated(clip: otio.schema.Clip) -> bool:
    previz = clip.metadata.get("previz")
    return isinstance(previz, Mapping) and previz.get("generated") is True


def _entries(report: Mapping[str, Any] | None, key: str) -> list[Mapping[str, Any]]:
    entries = report.get(key) if report is not None else None
    return [entry for entry in entries if isinstance(entry, Mapping)] if isinstance(entries, list) else []


def _resolved(path: object) -> str:
    if not isinstance(path, str) or not path or "\x00" in path:
        return ""
    return str(pathlib.Path(path).resolve())


def _where(timeline: otio.schema.Timeline, item_path: object) -> str:
    """Return "V1, item 3" for an item path from the top stack (as reports count), as far as it makes sense."""
    if not isinstance(item_path, list) or not item_path or not all(type(i) is int for i in item_path):
        return ""
    tracks = timeline.tracks
    track = printable(tracks[item_path[0]].name or f"track {item_path[0] + 1}") if 0 <= item_path[0] < len(tracks) else "?"
    return ", ".join([track, *(f"item {index + 1}" for index in item_path[1:])])


def _edit_rate(timeline: otio.schema.Timeline) -> Fraction | None:
    """Return the edit's exact rate (its start time's, else its length's), or None for a rate with no frame grid."""
    start = timeline.global_start_time
    try:
        return rate_from_float((start if start is not None else timeline.duration()).rate)
    except PrevizError:
        return None


def _edit_start_frame(timeline: otio.schema.Timeline, rate: Fraction) -> int:
    start = timeline.global_start_time
    if start is None:
        return parse_timecode(IMPLIED_START_TIMECODE, rate)
    return max(0, round(start.to_seconds() * rate))


# one card ------------------------------------------------------------------------------------------
def _card(number: int, clip: otio.schema.Clip, timeline: otio.schema.Timeline, media_base: pathlib.Path,
          page_folder: pathlib.Path, from_report: Mapping[str, Mapping[str, Any]], frames_per_shot: int,
          watermark_status: WatermarkStatus | None, trust_anchors: Any) -> _Card:
    """Return the card of one filled shot; a missing or broken media file is a problem on it, never an error."""
    previz: Mapping[str, Any] = clip.metadata["previz"]
    card = _Card(number, _text(clip.name or "unnamed shot"))
    media, why_not = _media_path(clip, media_base)
    entry = _mapping(from_report.get(str(media.resolve())) if media is not None else None)
    frames, (head, tail) = _count(previz.get("frames")), _handles(previz.get("handles"))
    record = _record_timecode(clip, previz, timeline)
    tc_in = entry.get("record_timecode") if isinstance(entry.get("record_timecode"), str) else record(0)
    size, model = previz.get("size"), _mapping(previz.get("model"))
    if isinstance(size, Sequence) and len(size) == 2 and all(type(v) is int and v > 0 for v in size):
        card.player_height = min(1280, max(2, round(320 * size[1] / size[0])))
    card.facts = [
        ("Placeholder", _text(previz.get("kind", "?"))),
        ("Class", _text(previz.get("class", "?"))),
        ("Seed", _text(previz.get("seed", "?"))),
        ("Frames", _text(f"{'?' if frames is None else frames} @ {previz.get('rate', '?')}")),
        ("Handles", _text("?" if head is None or tail is None else f"{head} head + {tail} tail")),
        ("Record TC", _text(f"{tc_in} - {'?' if frames is None else record(frames)}")),
        ("Staging", _staging(entry.get("staging", previz.get("staging")))),
        ("Model", _text(f"{model.get('name', '?')} {model.get('version', '')}")
         + f' <span class="hash" title="{_text(model.get("sha256", ""))}">{_text(str(model.get("sha256", ""))[:12])}</span>'),
        ("Generated", _text(f"{previz.get('generated_at', '?')} by {previz.get('tool', '?')}")),
    ]
    if media is not None:
        card.media_href, card.media_type = _text(_href(media, page_folder)), _VIDEO_TYPES.get(media.suffix.lower(), "")
        card.facts.append(("Media", f'<a href="{card.media_href}">{_text(media.name)}</a>'))
        problem = regular_file_problem(media)
        why_not = f"media missing: {media} {problem}" if problem else ""
    if media is None or why_not:
        card.problems.append(_text(why_not))
        card.facts += [("Credentials", "not checked (no media)"), ("Watermark", "not checked (no media)")]
        return card
    card.facts.append(("Media hash", _hash_check(media, previz.get("media_sha256"))))
    first = head or 0  # the shot's first frame in the file: the thumbnails show what the edit plays, not handles
    count = frames or frames_per_shot
    picks = sorted({first + round(k * (count - 1) / max(1, frames_per_shot - 1)) for k in range(frames_per_shot)})
    try:
        decoded = _thumbnails(media, picks)
    except (OSError, ValueError) as error:  # PyAV's errors are OSError or ValueError subclasses
        card.problems.append(_text(f"media could not be decoded: {error}"))
    else:
        for index, jpeg in decoded:
            card.frames.append((f"data:image/jpeg;base64,{base64.b64encode(jpeg).decode('ascii')}",
                                _text(record(index - first) if head is not None else f"file frame {index}")))
        if len(decoded) < len(picks):
            card.problems.append(_text(f"only {len(decoded)} of {len(picks)} frames could be decoded (the file is short)"))
    card.facts.append(("Credentials", _credentials(media, previz, trust_anchors)))
    card.facts.append(("Watermark", _watermark(media, previz, watermark_status)))
    return card


def _record_timecode(clip: otio.schema.Clip, previz: Mapping[str, Any], timeline: otio.schema.Timeline) -> Callable[[int], str]:
    """Return: frames from the shot's first frame -> record timecode ("?" where the clip cannot say).

    The fill puts generated media in record timecode, so the clip's source start is its record in.
    """
    text = previz.get("rate")
    try:  # "24000/1001" as the fill writes it; not Fraction() on any string: "1e999999999" would take all memory
        rate = Fraction(text) if isinstance(text, str) and _RATE_TEXT.fullmatch(text) else rate_from_float(clip.trimmed_range().start_time.rate)
    except (ValueError, ZeroDivisionError, PrevizError):
        return lambda offset: "?"
    if rate <= 0 or clip.source_range is None:
        return lambda offset: "?"
    record_in = round(clip.source_range.start_time.to_seconds() * rate)
    drop = rate in _DROP_FRAME_RATES and uses_drop_frame(timeline)
    return lambda offset: timecode(record_in + offset, rate, drop) if record_in + offset >= 0 else "?"


def _media_path(clip: otio.schema.Clip, base: pathlib.Path) -> tuple[pathlib.Path | None, str]:
    """Return the local file the clip plays, or None and why there is none."""
    reference = clip.media_reference
    if not isinstance(reference, otio.schema.ExternalReference) or not reference.target_url:
        return None, "no media: the clip's media reference is not a file"
    url = reference.target_url
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "file" and parts.netloc not in ("", "localhost"):
        return None, f"media is on another host ({parts.netloc}): {url}"
    if parts.scheme and parts.scheme != "file" and len(parts.scheme) > 1:  # one letter: a Windows drive, a path
        return None, f"media is not a local file ({parts.scheme}: URL): {url}"
    text = urllib.request.url2pathname(parts.path) if parts.scheme == "file" else urllib.parse.unquote(url)
    if "\x00" in text:
        return None, f"media path holds a NUL character, which no file name can: {url}"
    path = pathlib.Path(text)
    return (path if path.is_absolute() else base / path), ""


def _href(media: pathlib.Path, page_folder: pathlib.Path) -> str:
    """Return a link to media from the page: relative where it can be (they move together), else file://."""
    try:
        relative = os.path.relpath(media.absolute(), page_folder.absolute())
    except ValueError:  # another drive (Windows)
        return media.absolute().as_uri()
    return urllib.parse.quote(pathlib.Path(relative).as_posix(), safe="/")


def _thumbnails(media: pathlib.Path, frame_indices: list[int]) -> list[tuple[int, bytes]]:
    """Return (frame index, JPEG) of the wanted frames, scaled down by FFmpeg, in one pass through the file."""
    import av
    from PIL import Image

    wanted, found = set(frame_indices), []
    with av.open(str(media)) as container:
        if not container.streams.video:
            raise ValueError("the file has no video stream")
        stream = container.streams.video[0]
        width, height = stream.codec_context.width, stream.codec_context.height
        if not width or not height:
            raise ValueError(f"the video stream has no picture size ({width}x{height})")
        thumb_height = max(2, round(height * THUMB_WIDTH / width / 2) * 2)
        for index, frame in enumerate(container.decode(stream)):
            if index in wanted:
                buffer = io.BytesIO()
                Image.fromarray(frame.to_ndarray(format="rgb24", width=THUMB_WIDTH, height=thumb_height)).save(
                    buffer, format="JPEG", quality=82)
                found.append((index, buffer.getvalue()))
            if index >= max(wanted):
                break
    return found


def _hash_check(media: pathlib.Path, recorded: object) -> str:
    if not isinstance(recorded, str) or not recorded:
        return "not recorded in the edit"
    try:
        actual = file_sha256(media)
    except OSError as error:
        return f'<span class="bad">{_text(f"cannot be read: {error.strerror}")}</span>'
    if actual == recorded:
        return '<span class="ok">matches the edit\'s record</span>'
    return f'<span class="bad">differs from the edit\'s record: the file changed after the fill ({_text(actual[:12])})</span>'


def _credentials(media: pathlib.Path, previz: Mapping[str, Any], trust_anchors: Any) -> str:
    """Return the content credentials' state as HTML; c2pa missing or failing is "unavailable", not an error."""
    from .credentials import read_credentials

    try:
        found = read_credentials(media, trust_anchors=trust_anchors)
    except PrevizError as error:
        return f'<span class="na">unavailable: {_text(error)}</span>'
    except Exception as error:  # c2pa-python is a native library: whatever it raises, the page still gets written
        log.warning("reading content credentials of %s failed: %s", media, error)
        return f'<span class="na">unavailable: {_text(type(error).__name__)}: {_text(error)}</span>'
    if not found.has_manifest:
        return '<span class="warn">not signed</span>'
    if not found.valid:
        return f'<span class="bad">INVALID: {_text("; ".join(found.problems))}</span>'
    model = _mapping(previz.get("model"))
    mismatch = [what for what, signed, recorded in (("seed", found.seed, previz.get("seed")),
                ("model", (found.model or {}).get("sha256"), model.get("sha256"))) if signed != recorded]
    if mismatch or not found.ai_generated:
        why = f"signed {' and '.join(mismatch)} differ from the edit's" if mismatch else "does not declare AI-generated"
        return f'<span class="bad">valid signature, but {_text(why)}</span>'
    trust = "trusted" if found.trusted else "signer on no trust list given"
    return f'<span class="ok">valid, AI-generated</span> ({_text(trust)}; {_text(found.signer or "?")})'


def _watermark(media: pathlib.Path, previz: Mapping[str, Any], watermark_status: WatermarkStatus | None) -> str:
    if watermark_status is None:
        return '<span class="na">not checked</span>'
    try:
        return _text(watermark_status(media, previz))
    except Exception as error:  # a detector's failure is that shot's finding, not the page's
        return f'<span class="bad">check failed: {_text(type(error).__name__)}: {_text(error)}</span>'


def _staging(staging: object) -> str:
    if not isinstance(staging, Mapping):
        return "none (model without controls)"
    sources = _mapping(staging.get("sources"))
    shown = {"direction": staging.get("direction"), "speed": staging.get("speed"), "count": staging.get("count"),
             "framing": staging.get("framing_name", staging.get("framing")), "pan": staging.get("pan")}
    return "<br>".join(f"{_text(key)} {_text(value)} <small>({_text(sources.get(key, '?'))})</small>"
                       for key, value in shown.items() if value is not None)


def _count(value: object) -> int | None:
    return value if type(value) is int and value >= 0 else None


def _handles(value: object) -> tuple[int | None, int | None]:
    pair = list(value) if isinstance(value, Sequence) and not isinstance(value, str) else []
    return (_count(pair[0]), _count(pair[1])) if len(pair) == 2 else (None, None)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


# the page ------------------------------------------------------------------------------------------
def _text(value: object) -> str:
    """Return text from the edit or a report as HTML: control characters shown escaped, markup escaped."""
    return html.escape(printable(value), quote=True)


def _tracks_html(timeline: otio.schema.Timeline, numbers: Mapping[int, int], unfilled: set[int]) -> str:
    """Return the edit's video tracks drawn to scale, the top track first (as an NLE shows them)."""
    total = timeline.duration().to_seconds()
    if total <= 0:
        return "<p>The edit is empty.</p>"
    rate = _edit_rate(timeline)
    rows = []
    for track_index, track in reversed(list(enumerate(timeline.tracks))):
        if not isinstance(track, otio.schema.Track) or track.kind != otio.schema.TrackKind.Video:
            continue
        offset = track.trimmed_range().start_time.to_seconds()
        boxes = []
        for index, item in enumerate(track):
            span = track.range_of_child_at_index(index)
            left, width = (span.start_time.to_seconds() - offset) / total * 100, span.duration.to_seconds() / total * 100
            if isinstance(item, otio.schema.Transition):
                kind, label = "transition", item.name or "transition"
            elif isinstance(item, otio.core.Composition):
                inside = sorted(numbers[id(c)] for c in item.find_clips() if id(c) in numbers)
                kind = "nested filled" if inside else "nested"
                label = f"#{', #'.join(map(str, inside))} in {item.name or 'nested'}" if inside else item.name or "nested"
            elif id(item) in numbers:
                kind, label = "filled", f"#{numbers[id(item)]} {item.name}"
            elif id(item) in unfilled:
                kind, label = "unfilled", f"unfilled: {item.name or 'gap'}"
            else:
                kind = "gap" if isinstance(item, otio.schema.Gap) else "clip"
                label = item.name or kind
            if not getattr(item, "enabled", True):
                kind += " disabled"
            frames = f"{round(span.duration.to_seconds() * rate)} frames" if rate else f"{span.duration.to_seconds():.3f} s"
            tag, target = ("a", f' href="#shot-{numbers[id(item)]}"') if id(item) in numbers else ("div", "")
            boxes.append(f'<{tag} class="item {kind}"{target} style="left:{left:.4f}%;width:{width:.4f}%" '
                         f'title="{_text(label)} ({frames})">{_text(label)}</{tag}>')
        rows.append(f'<div class="track"><div class="track-name">{_text(track.name or f"V{track_index + 1}")}</div>'
                    f'<div class="lane">{"".join(boxes)}</div></div>')
    return _ruler(timeline, total, rate) + "".join(rows)


def _ruler(timeline: otio.schema.Timeline, total: float, rate: Fraction | None) -> str:
    step = next((s for s in (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 1800, 3600) if total / s <= 10), 7200)
    start = _edit_start_frame(timeline, rate) if rate else 0
    drop = rate in _DROP_FRAME_RATES and uses_drop_frame(timeline)
    ticks = []
    for k in range(int(total // step) + 1):
        label = timecode(start + round(k * step * rate), rate, drop) if rate else f"{k * step} s"
        ticks.append(f'<span class="tick" style="left:{k * step / total * 100:.4f}%">{_text(label)}</span>')
    return f'<div class="track"><div class="track-name"></div><div class="lane ruler">{"".join(ticks)}</div></div>'


def _card_html(card: _Card) -> str:
    frames = "".join(f'<figure><img src="{uri}" alt="frame at {at}"><figcaption>{at}</figcaption></figure>'
                     for uri, at in card.frames)
    poster = f' poster="{card.frames[0][0]}"' if card.frames else ""
    # preload none: nothing is read until the reviewer presses play, so a page of many shots opens at once
    kind = f' type="{card.media_type}"' if card.media_type else ""
    player = (f'<div class="player"><video controls preload="none" width="320" height="{card.player_height}"{poster}>'
              f'<source src="{card.media_href}"{kind}></video>'
              f'<a class="play" href="{card.media_href}">&#9654; play media</a></div>') if card.media_href else ""
    problems = "".join(f'<p class="problem">{problem}</p>' for problem in card.problems)
    facts = "".join(f"<dt>{term}</dt><dd>{value}</dd>" for term, value in card.facts)
    return (f'<section class="card{" has-problem" if card.problems else ""}" id="shot-{card.number}">'
            f'<h3><span class="number">#{card.number}</span> {card.name}</h3>{problems}'
            f'<div class="frames">{frames}</div><div class="details"><dl>{facts}</dl>{player}</div></section>')


def _page(timeline: otio.schema.Timeline, cards: list[_Card], numbers: Mapping[int, int], unfilled: set[int],
          not_filled: list[tuple[object, str, str, object]], report: Mapping[str, Any] | None) -> str:
    title = _text(timeline.name or "untitled edit")
    report = report if report is not None else {}
    model = _mapping(report.get("model"))
    summary = [f"{len(cards)} filled shot(s)", f"{len(not_filled)} skipped or failed"]
    if model:
        summary.append(f"model {model.get('name', '?')} {model.get('version', '')}")
    if report.get("partial") is True:
        summary.append("PARTIAL FILL: some shots failed")
    rows = "".join(f'<tr class="{_text(status)}"><td>{_text(name)}</td><td>{_text(where)}</td><td>{_text(status)}</td>'
                   f"<td>{_text(reason)}</td></tr>" for name, where, status, reason in not_filled)
    skipped = (f"<table><tr><th>Shot</th><th>Where</th><th>Status</th><th>Why</th></tr>{rows}</table>" if rows
               else "<p>Nothing was skipped.</p>")
    warnings = report.get("warnings")
    notes = "".join(f'<p class="problem">{_text(w)}</p>' for w in (warnings if isinstance(warnings, list) else []))
    made = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Previz review: {title}</title><style>{_STYLE}</style></head>
<body><header><p class="banner">AI-GENERATED PREVIZ &mdash; not final picture</p><h1>{title}</h1>
<p class="summary">{_text(" · ".join(summary))}</p></header>{notes}
<h2>Edit</h2><div class="timeline">{_tracks_html(timeline, numbers, unfilled)}</div>
<p class="legend"><span class="item filled">filled</span><span class="item clip">clip</span>
<span class="item gap">gap</span><span class="item unfilled">unfilled placeholder</span></p>
<h2>Filled shots</h2>{"".join(map(_card_html, cards)) or "<p>No shot in this edit was filled.</p>"}
<h2>Skipped and failed</h2>{skipped}
<footer>Written {made} by previz-plugin {__version__}.</footer></body></html>
"""


_STYLE = """
body{margin:0 24px 24px;background:#18181c;color:#e8e8e8;font:14px/1.4 system-ui,sans-serif}
h1{margin:4px 0}h2{margin:28px 0 8px;border-bottom:1px solid #444}h3{margin:0 0 8px}
.banner{display:inline-block;margin:16px 0 0;padding:2px 8px;background:#b3261e;color:#fff;font-weight:bold}
.summary{color:#bbb}.problem{color:#ffb4ab;margin:4px 0}
.timeline{background:#222228;padding:8px;border-radius:4px}
.track{display:flex;align-items:stretch;margin:3px 0}
.track-name{flex:0 0 90px;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;color:#aaa;padding-top:8px}
.lane{position:relative;flex:1;height:34px;background:#2c2c33}.lane.ruler{height:18px;background:none}
.tick{position:absolute;top:0;font-size:11px;color:#999;border-left:1px solid #666;padding-left:3px;white-space:nowrap}
.item{position:absolute;top:0;bottom:0;box-sizing:border-box;min-width:1px;overflow:hidden;white-space:nowrap;
 text-overflow:ellipsis;font-size:12px;padding:8px 4px 0;border:1px solid #18181c;color:#eee;text-decoration:none}
.legend .item{position:static;display:inline-block;margin-right:8px;padding:2px 8px;height:auto}
.clip{background:#4a5568}.gap{background:repeating-linear-gradient(45deg,#2c2c33 0 6px,#3a3a44 6px 12px);color:#999}
.filled{background:#d97706;color:#111;font-weight:bold;border-color:#fbbf24}
.unfilled{background:#2c2c33;border:2px dashed #f87171;color:#f87171}
.nested{background:#3f4a5a}.transition{top:22px;bottom:0;background:rgba(255,255,255,.35);color:#111;font-size:10px;padding:0 2px}
.disabled{opacity:.4}
.card{background:#222228;border-left:4px solid #d97706;margin:12px 0;padding:12px;border-radius:4px}
.card.has-problem{border-left-color:#f87171}.number{color:#fbbf24}
.frames{display:flex;gap:6px;flex-wrap:wrap}figure{margin:0}figure img{display:block;width:240px}
figcaption{font-size:11px;color:#aaa}
.details{display:flex;gap:24px;flex-wrap:wrap;margin-top:8px}
dl{display:grid;grid-template-columns:110px minmax(0,640px);gap:2px 12px;margin:0;word-break:break-word}
dt{color:#aaa}dd{margin:0}video{display:block;background:#000}
.player{display:flex;flex-direction:column;gap:4px}
.hash{font-family:monospace;color:#aaa}.ok{color:#86efac}.warn{color:#fde68a}.bad{color:#ffb4ab}.na{color:#aaa}
a{color:#93c5fd}table{border-collapse:collapse;width:100%}td,th{border:1px solid #444;padding:4px 8px;text-align:left;
 word-break:break-word}tr.failed td{color:#ffb4ab}footer{margin-top:32px;color:#777;font-size:12px}
"""
