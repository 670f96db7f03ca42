"""The filled edit -> a file in the format its extension names, written atomically.

Each OTIO adapter writes only what its format holds, and some fail on what OTIO allows, so a private
copy of the timeline is prepared for it just before writing (the caller's timeline never changes):

    .edl     one video track, no nesting (else TimelineError); record timecode from the edit's start;
             a filled clip gets the 8-character reel "PV" + its shot id and "* SOURCE FILE: <name>";
             the exact rate is passed, so 23.976 writes 24000/1001 timecode
    .xml     FCP 7 nesting (only tracks in stacks); a range on every reference; a filled clip drops
             the placeholder's master clip id and Premiere ticks; its file gets a reel and NDF/DF
    .fcpxml  as .xml, at the rates the adapter knows (24, 25, 30, 50, 60); transitions become cuts
    .aaf     one edit rate; a mob ID on every clip (a filled clip's from its shot id, so it is the
             same in every file written); dissolves from other formats get Avid's effect fields
    .otioz   the generated media goes inside and its links become relative; other local media goes in
    .otiod   only with bundle_media="all", else it stays linked where it is (listed in WrittenEdit); a
             source that is no file here becomes a MissingReference that keeps its URL. An .otiod
             records what it holds (BUNDLE_MARKER) and replaces only a folder that holds nothing else
    .mlt     our own writer (mlt_write.py)

Names and comments are written with their control characters escaped in every format but OTIO's own
JSON (which escapes them itself), so a name cannot forge an EDL event or break XML.

Every write is checked: the file (a folder for .otiod) is written under a hidden partial name beside
the output, every byte accounted for and fsynced, its size or content read back, and only then
renamed over it; a failure (a full disk too) removes it and raises a one-line TimelineError. A lock
per output keeps two writers apart, and a partial file a killed write left is removed by the next.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import re
import secrets
import shutil
import urllib.parse
import uuid
import zipfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import opentimelineio as otio
from opentimelineio import url_utils
from opentimelineio.adapters.file_bundle_utils import reference_cloned_and_missing

from .errors import PrevizError, TimelineError, UsageError
from .files import atomic_write, create_new_file, exclusive_lock, fsync_folder, utf8_problem, write_new_file
from .printable import printable
from .timeline_scan import uses_drop_frame
from .timing import DROP_FRAME_RATES, rate_from_float

# A placeholder clipitem's FCP XML keys about its own media: on the filled clip they would tie it to
# the slug's master clip and source in/out (Premiere reads pproTicks before <in>/<out>).
_STALE_FCP_KEYS = ("masterclipid", "pproTicksIn", "pproTicksOut", "alphatype")
# otio-fcpx-xml-adapter 1.0 finds frame durations by int(rate) (none for 24000/1001) and reads every
# rate back as a whole number: these are the rates it writes and reads correctly.
_FCPX_RATES = (24, 25, 30, 50, 60)
# AAF's standard dissolves (pyaaf2 model/datadefs.py): operation id, data definition, name.
_AAF_DISSOLVES = {
    otio.schema.TrackKind.Video: ("0c3bea40-fc05-11d2-8a29-0050040ef7d2", "Picture", "Video Dissolve"),
    otio.schema.TrackKind.Audio: ("0c3bea41-fc05-11d2-8a29-0050040ef7d2", "Sound", "Mono Audio Dissolve"),
}
_MOB_NAMESPACE = uuid.UUID("7d0b3f4e-2a51-4c6e-9a43-5f0c1e8b6d21")  # fixed: same shot, same mob ID
_UMID_LABEL = "urn:smpte:umid:060a2b34.01010105.01010f20.13000000"  # pyaaf2's, for a UUID material number
BUNDLE_MEDIA = ("generated", "all")  # what a bundle holds: the generated media, or every local file too
BUNDLE_MARKER = ".previz-bundle.json"  # in an .otiod we wrote: the files we put there, all we may replace
_BUNDLE_VERSION = "1.0.0"  # OTIO's file bundle version (file_bundle_utils.BUNDLE_VERSION)


@dataclass(frozen=True)
class WrittenEdit:
    """What write_timeline wrote: the edit, and for a bundle which media went in and which stayed outside."""

    path: pathlib.Path
    bundled: tuple[str, ...] = ()  # source files copied into an .otioz/.otiod
    linked_outside: tuple[str, ...] = ()  # local media a bundle links where it is, not copied (bundle_media="generated")


def write_timeline(timeline: otio.schema.Timeline, output: pathlib.Path, *, bundle_media: str = "generated",
                   **adapter_args: Any) -> WrittenEdit:
    """Write the timeline to output atomically, in the format its extension names; return what was written.

    A bundle (.otioz, .otiod) holds the generated media; other local media goes in only with
    bundle_media="all" (each file is listed in the result), else it stays linked where it is.
    """
    output = pathlib.Path(os.path.abspath(output))  # a bare name's folder is "", which writers refuse
    suffix = output.suffix.lower()
    if bundle_media not in BUNDLE_MEDIA:
        raise UsageError(f"bundle media must be one of {', '.join(BUNDLE_MEDIA)}, got {bundle_media!r}")
    problem = utf8_problem(output)
    if problem:
        raise TimelineError(f"cannot write {printable(output)}: the path {problem}")
    try:
        with exclusive_lock(output.with_name(f".{output.name}.lock")):
            _remove_stale_partials(output)
            edit = timeline
            if suffix in _PREPARE or suffix in _ESCAPED:
                edit = timeline.deepcopy()
            if suffix in _ESCAPED:
                _escape_text_fields(edit)
            if suffix in _PREPARE:
                _PREPARE[suffix](edit, output, adapter_args)
            if suffix in (".otioz", ".otiod"):
                return _write_bundle(edit, output, bundle_media)
            if suffix == ".mlt":  # no OTIO adapter writes MLT right for timecoded media: our own writer
                _write_text(_mlt_text(edit), output)
            elif suffix == ".aaf":
                _write_aaf(edit, output, adapter_args)
            else:
                adapter = otio.adapters.from_filepath(str(output)).name
                _write_text(otio.adapters.write_to_string(edit, adapter, **adapter_args), output)
            return WrittenEdit(output)
    except PrevizError as error:
        raise TimelineError(f"cannot write {output}: {error}") from None
    except Exception as error:  # adapters raise anything; to the user it is one line
        detail = (str(error).strip().splitlines() or [type(error).__name__])[0][:300]
        raise TimelineError(f"cannot write {output}: {type(error).__name__}: {detail}") from None


def _temporary(output: pathlib.Path, kind: str = "partial") -> pathlib.Path:
    # Same folder (so the rename is atomic) and same suffix (so a reader picks the same adapter).
    return output.with_name(f".{output.stem}.{secrets.token_hex(4)}.{kind}{output.suffix}")


def _remove_stale_partials(output: pathlib.Path) -> None:
    """Remove what a killed write of this output left (its lock is held: no live writer owns them)."""
    pattern = re.compile(rf"\.{re.escape(output.stem)}\.[0-9a-f]{{8}}\.(partial|previous){re.escape(output.suffix)}")
    for leftover in output.parent.iterdir():
        if pattern.fullmatch(leftover.name):
            if leftover.is_dir() and not leftover.is_symlink():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)


def _write_text(text: str, output: pathlib.Path) -> None:
    """Text written beside output (checked, on disk, its size read back), then renamed over it."""
    atomic_write(output, text.encode("utf-8"), temporary=_temporary(output))


def _write_aaf(edit: otio.schema.Timeline, output: pathlib.Path, adapter_args: dict[str, Any]) -> None:
    """AAF is written by its adapter (pyaaf2 writes the file itself), then fixed, checked and renamed."""
    def write(temporary: pathlib.Path) -> None:
        otio.adapters.write_to_file(edit, str(temporary), **adapter_args)
        _fix_aaf(temporary, edit)  # opens the file whole: a cut-off AAF fails here
        if os.stat(temporary).st_size == 0:
            raise TimelineError("the AAF writer wrote nothing (disk full?)")

    atomic_write(output, write, temporary=_temporary(output))


def _mlt_text(timeline: otio.schema.Timeline) -> str:
    """MLT XML with a profile at the filled media's size (else the edit's stated size, else 1920x1080)."""
    from .mlt_write import timeline_to_mlt
    from .shot_spec import DEFAULT_RESOLUTION, timeline_resolution

    sizes = [tuple(previz["size"]) for _, previz in _filled(timeline) if len(previz.get("size") or ()) == 2]
    size = sizes[0] if sizes else timeline_resolution(timeline) or DEFAULT_RESOLUTION
    return timeline_to_mlt(timeline, (int(size[0]), int(size[1])))


# -- bundles ----------------------------------------------------------------------------------
def bundle_replace_problem(output: pathlib.Path) -> str | None:
    """Return why an existing .otiod at output may not be replaced, or None (absent, empty, or ours).

    Writing a bundle replaces the whole folder, so it may replace only what a previous write of ours
    put there: the files its BUNDLE_MARKER lists, and nothing else.
    """
    output = pathlib.Path(output)
    if not output.exists() and not output.is_symlink():
        return None
    if output.is_symlink() or not output.is_dir():
        return f"{output} exists and is not a bundle folder previz wrote; pick another name"
    first = next(output.iterdir(), None)
    if first is None:
        return None  # an empty folder holds nothing to lose
    try:
        record = json.loads((output / BUNDLE_MARKER).read_text(encoding="utf-8"))
        ours = set(record["files"]) | {BUNDLE_MARKER}
    except (OSError, ValueError, KeyError, TypeError):
        return f"{output} is a folder previz did not write (it holds {first.name}); pick another name"
    for path in output.rglob("*"):
        if path.is_dir() and not path.is_symlink():
            continue
        entry = path.relative_to(output).as_posix()
        if entry not in ours:
            return f"{output} holds {entry}, which previz did not write there; pick another name"
    return None


def _write_bundle(edit: otio.schema.Timeline, output: pathlib.Path, bundle_media: str) -> WrittenEdit:
    """Write an .otioz (zip) or .otiod (folder) as OTIO lays them out: content.otio, media/ and, for .otioz, version.txt."""
    media, outside = _relink_for_bundle(edit, bundle_media)
    content = otio.adapters.write_to_string(edit, "otio_json").encode("utf-8")
    if output.suffix.lower() == ".otioz":
        _write_zip(output, content, media)
    else:
        _write_bundle_folder(output, content, media)
    return WrittenEdit(output, tuple(str(source) for source in media.values()), tuple(outside))


def _relink_for_bundle(edit: otio.schema.Timeline, bundle_media: str) -> tuple[dict[str, pathlib.Path], list[str]]:
    """Point the references of what goes in at media/<name>; return {name in the bundle: source}, and what stays out.

    Generated media always goes in: a file a clip's previz metadata calls generated and whose previz
    sidecar vouches for its bytes (an edit alone cannot forge that, so it cannot smuggle a private file
    in by calling it generated). Other local files go in only with bundle_media="all"; else they stay
    linked at their absolute path (listed, so the report can say so). A source that is no file here,
    or a URL of another scheme, becomes a MissingReference that keeps its URL, as OTIO's bundler does.
    """
    generated = {id(clip) for clip, _ in _filled(edit)}
    names: dict[pathlib.Path, str] = {}
    outside: list[str] = []
    for clip in edit.find_clips():
        reference = clip.media_reference
        if not isinstance(reference, otio.schema.ExternalReference):
            continue
        parsed = urllib.parse.urlparse(reference.target_url)
        source = pathlib.Path(os.path.abspath(url_utils.filepath_from_url(reference.target_url))) if parsed.scheme in ("file", "") else None
        if source is None or not source.is_file():
            why = "target_url is not a file scheme url" if source is None else "target_url target is not a file or does not exist"
            clip.media_reference = reference_cloned_and_missing(reference, why)
            continue
        if bundle_media != "all" and not (id(clip) in generated and _vouched_for(source)):
            reference.target_url = source.as_uri()
            if str(source) not in outside:
                outside.append(str(source))
            continue
        if source not in names:
            names[source] = _unique_name(source.name, set(names.values()))
        reference.target_url = url_utils.url_from_filepath(f"media/{names[source]}")
    return {name: source for source, name in names.items()}, outside


def _vouched_for(media: pathlib.Path) -> bool:
    """Return True when media has a previz sidecar that records its very bytes."""
    from .batch import SIDECAR_FORMAT, sidecar_path
    from .files import file_sha256

    sidecar = sidecar_path(media)
    try:
        if sidecar.stat().st_size > 1 << 20:
            return False
        record = json.loads(sidecar.read_text(encoding="utf-8"))
        return (isinstance(record, dict) and record.get("format") == SIDECAR_FORMAT
                and record.get("media_sha256") == file_sha256(media))
    except (OSError, ValueError):
        return False


def _unique_name(name: str, taken: set[str]) -> str:
    stem, suffix, number = pathlib.PurePath(name).stem, pathlib.PurePath(name).suffix, 1
    while name in taken:
        number += 1
        name = f"{stem}_{number}{suffix}"
    return name


def _write_zip(output: pathlib.Path, content: bytes, media: Mapping[str, pathlib.Path]) -> None:
    """The .otioz written to a hidden file (every write checked), read back, then renamed over output."""
    def write(temporary: pathlib.Path) -> None:
        with zipfile.ZipFile(temporary, "w") as bundle:
            bundle.writestr("version.txt", _BUNDLE_VERSION, compress_type=zipfile.ZIP_DEFLATED)
            bundle.writestr("content.otio", content, compress_type=zipfile.ZIP_DEFLATED)
            for name, source in media.items():
                bundle.write(source, f"media/{name}", compress_type=zipfile.ZIP_STORED)
        with zipfile.ZipFile(temporary) as written:
            sizes = {info.filename: info.file_size for info in written.infolist()}
            if written.read("content.otio") != content or any(
                    sizes.get(f"media/{name}") != source.stat().st_size for name, source in media.items()):
                raise TimelineError(f"{temporary.name} does not read back as written (disk full?)")

    atomic_write(output, write, temporary=_temporary(output))


def _write_bundle_folder(output: pathlib.Path, content: bytes, media: Mapping[str, pathlib.Path]) -> None:
    """The .otiod written as a hidden folder, checked, then swapped in; the old one (ours) is removed last."""
    problem = bundle_replace_problem(output)
    if problem:
        raise TimelineError(problem)
    temporary, previous = _temporary(output), _temporary(output, "previous")
    try:
        temporary.mkdir()
        write_new_file(temporary / "content.otio", content)
        (temporary / "media").mkdir()
        for name, source in media.items():
            _copy_checked(source, temporary / "media" / name)
        files = ["content.otio", *(f"media/{name}" for name in media)]
        write_new_file(temporary / BUNDLE_MARKER, json.dumps({"format": "previz-bundle-1", "files": files}).encode())
        if (temporary / "content.otio").read_bytes() != content:
            raise TimelineError(f"{temporary.name} does not read back as written (disk full?)")
        if output.is_dir():
            os.replace(output, previous)  # a folder cannot be renamed over a folder that holds files
        try:
            os.replace(temporary, output)
        except BaseException:
            if previous.exists():
                os.replace(previous, output)  # put the old bundle back
            raise
    finally:
        shutil.rmtree(temporary, ignore_errors=True)
        shutil.rmtree(previous, ignore_errors=True)
    fsync_folder(output.parent)


def _copy_checked(source: pathlib.Path, target: pathlib.Path) -> None:
    with open(source, "rb") as reading, os.fdopen(create_new_file(target), "wb") as writing:
        shutil.copyfileobj(reading, writing, 1 << 20)
        writing.flush()
        os.fsync(writing.fileno())
    if target.stat().st_size != source.stat().st_size:
        raise TimelineError(f"{target.name} does not read back as written (disk full?)")


# -- text that other formats show --------------------------------------------------------------
def _escape_text_fields(timeline: otio.schema.Timeline) -> None:
    """Escape control characters in every name and comment a line-based or XML format writes.

    A newline in a clip name would start a forged event in an EDL ("003 EVILREEL ..."), and most
    control characters are not allowed in XML at all. OTIO JSON escapes them itself and keeps them.
    """
    timeline.name = printable(timeline.name)
    for item in [timeline.tracks, *timeline.tracks.find_children()]:
        item.name = printable(item.name)
        for marker in getattr(item, "markers", ()):
            marker.name = printable(marker.name)
            if isinstance(getattr(marker, "comment", None), str):
                marker.comment = printable(marker.comment)
        reference = getattr(item, "media_reference", None)
        if reference is not None:
            reference.name = printable(reference.name)
        cmx = item.metadata.get("cmx_3600")
        if isinstance(cmx, Mapping):
            cmx = dict(cmx)
            if "comments" in cmx and isinstance(cmx["comments"], (list, tuple)):
                cmx["comments"] = [printable(comment) for comment in cmx["comments"]]
            if isinstance(cmx.get("reel"), str) and re.search(r"[\s\x00-\x1f\x7f]", cmx["reel"]):
                cmx["reel"] = re.sub(r"[^0-9A-Za-z]", "", cmx["reel"])[:8] or "AX"  # a reel is one field
            item.metadata["cmx_3600"] = cmx


# -- what several formats need ----------------------------------------------------------------
def _filled(timeline: otio.schema.Timeline) -> Iterator[tuple[otio.schema.Clip, Mapping[str, Any]]]:
    """Yield each clip linked to generated media, with its previz metadata."""
    for clip in timeline.find_clips():
        previz = clip.metadata.get("previz")
        if (isinstance(previz, Mapping) and previz.get("generated") is True
                and isinstance(clip.media_reference, otio.schema.ExternalReference)):
            yield clip, previz


def _reel(clip: otio.schema.Clip, previz: Mapping[str, Any]) -> str:
    """Return a filled clip's reel: "PV" + six of its shot id, the 8 characters CMX 3600 allows."""
    shot = re.sub(r"[^0-9A-Za-z]", "", str(previz.get("shot_id") or ""))
    if len(shot) < 6:  # not made by this version: derive it from the file instead
        shot = uuid.uuid5(_MOB_NAMESPACE, clip.media_reference.target_url).hex
    return f"PV{shot[:6].upper()}"


def _absolute_urls(timeline: otio.schema.Timeline, output: pathlib.Path) -> None:
    """Make relative previz links (relative to the output's folder) absolute file URLs."""
    for clip, _ in _filled(timeline):
        parsed = urllib.parse.urlparse(clip.media_reference.target_url)
        if not parsed.scheme:
            path = output.resolve().parent / urllib.parse.unquote(parsed.path)
            clip.media_reference.target_url = path.resolve().as_uri()


def _give_references_ranges(timeline: otio.schema.Timeline, missing_too: bool) -> None:
    """Give a reference without an available range the clip's range: the least media it can have."""
    for clip in timeline.find_clips():
        reference = clip.media_reference
        if reference.available_range is None and clip.source_range is not None:
            if missing_too or not isinstance(reference, otio.schema.MissingReference):
                reference.available_range = clip.source_range


def _only_tracks_in_stacks(timeline: otio.schema.Timeline) -> None:
    """Nest as the FCP writers read it: a stack holds only tracks, a track holds no bare track.

    OTIO also allows a clip straight in a stack and a track in a track; wrapping it in a one-item
    track (or stack) changes no timing. The writers read a nested stack's rate from its range.
    """
    for composition in [timeline.tracks, *timeline.tracks.find_children(descended_from_type=otio.core.Composition)]:
        for index in reversed(range(len(composition))):
            child = composition[index]
            if isinstance(composition, otio.schema.Stack) and not isinstance(child, otio.schema.Track):
                wrapper: otio.core.Composition = otio.schema.Track(name=child.name, kind=_kind_of(composition))
            elif isinstance(composition, otio.schema.Track) and isinstance(child, otio.schema.Track):
                wrapper = otio.schema.Stack(name=child.name)
            else:
                continue
            del composition[index]
            wrapper.append(child)
            composition.insert(index, wrapper)
        for stack in [composition, *composition]:
            if isinstance(stack, otio.schema.Stack) and stack is not timeline.tracks and stack.source_range is None:
                stack.source_range = stack.trimmed_range()


def _kind_of(composition: otio.core.Composition) -> str:
    while composition is not None and not isinstance(composition, otio.schema.Track):
        composition = composition.parent()
    return composition.kind if composition is not None else otio.schema.TrackKind.Video


def _record_start_as_global_start(timeline: otio.schema.Timeline) -> None:
    """Move the CMX reader's record start (a track range starting below zero) to the timeline's start.

    Read literally, that range hides every item from writers that trim by it (FCP X: "computed
    time range would be invalid"); the edit's start is what it means.
    """
    for track in timeline.tracks:
        trim = track.source_range
        if trim is None or trim.start_time.value >= 0 or trim.duration != track.available_range().duration:
            continue
        if timeline.global_start_time is None:
            timeline.global_start_time = -trim.start_time
        if timeline.global_start_time == -trim.start_time:
            track.source_range = None


# -- per format -------------------------------------------------------------------------------
def _prepare_edl(timeline: otio.schema.Timeline, output: pathlib.Path, adapter_args: dict[str, Any]) -> None:
    tracks = timeline.tracks
    video = [i for i, track in enumerate(tracks) if track.kind == otio.schema.TrackKind.Video and track.enabled]
    if len(video) != 1:
        raise TimelineError(f"a CMX 3600 EDL holds one video track and this edit has {len(video)}; "
                            "write .otio, .xml or .aaf to keep them all")
    nested = [child.name for child in tracks[video[0]] if isinstance(child, otio.core.Composition)]
    if nested:  # the writer would silently leave it out
        raise TimelineError(f"a CMX 3600 EDL cannot hold the nested sequence '{nested[0]}'; write .otio, .xml or .aaf")
    for index in reversed(range(len(tracks))):  # it prints only the first track, and refuses 3 audio tracks
        if index != video[0]:
            del tracks[index]
    track = tracks[0]
    # "23.976" is no timecode rate; the exact 24000/1001 is (rate_from_float maps every spelling).
    rate = rate_from_float(adapter_args.get("rate") or track.duration().rate)
    adapter_args["rate"] = float(rate)
    if track.source_range is None and timeline.global_start_time is not None:
        # The writer counts record timecode from zero; the edit says where it starts. (An EDL read
        # with a record start keeps it as this negative range, and one starting at zero as none.)
        track.source_range = otio.opentime.TimeRange(-timeline.global_start_time, track.duration())
    for clip in track.find_clips():
        cmx = dict(clip.metadata.get("cmx_3600") or {})
        if not cmx.get("reel"):
            # The writer makes a reel from the file or clip name and keeps its spaces, which splits
            # the event line into too many fields for any reader.
            reference = clip.media_reference
            source = reference.name or pathlib.PurePosixPath(getattr(reference, "target_url", "")).name or clip.name
            cmx["reel"] = re.sub(r"[^0-9A-Za-z]", "", re.sub(r"[.][A-Za-z]+$", "", source))[:8] or "AX"
            clip.metadata["cmx_3600"] = cmx
    for clip, previz in _filled(timeline):
        cmx = dict(clip.metadata.get("cmx_3600") or {})
        # The placeholder's reel and comments name its missing source, not the generated file.
        comments = [str(c) for c in cmx.get("comments", []) if not str(c).upper().startswith(("SOURCE FILE", "PREVIZ"))]
        path = urllib.parse.urlparse(clip.media_reference.target_url).path
        name = urllib.parse.unquote(pathlib.PurePosixPath(path).name)
        comments += [f"SOURCE FILE: {name}", "PREVIZ: AI-GENERATED, NOT CAMERA FOOTAGE"]
        cmx.update(reel=_reel(clip, previz), comments=comments)
        clip.metadata["cmx_3600"] = cmx


def _prepare_fcp_xml(timeline: otio.schema.Timeline, output: pathlib.Path, adapter_args: dict[str, Any]) -> None:
    _record_start_as_global_start(timeline)  # becomes the sequence's <timecode>
    _only_tracks_in_stacks(timeline)
    _give_references_ranges(timeline, missing_too=False)  # the writer copes without for missing media
    _absolute_urls(timeline, output)  # <pathurl> is a file URL
    for transition in timeline.find_children(descended_from_type=otio.schema.Transition):
        # FCP 7 puts a dissolve's cut at its start, end or middle only: keep the cut, and shorten a
        # lopsided dissolve to the longest one centred on it (else the cut moves a frame).
        if transition.in_offset.value and transition.out_offset.value and transition.in_offset != transition.out_offset:
            transition.in_offset = transition.out_offset = min(transition.in_offset, transition.out_offset)
    for clip in timeline.find_clips():
        reference = clip.media_reference
        fcp = reference.metadata.get("fcp_xml")
        if isinstance(reference, otio.schema.GeneratorReference) and not (isinstance(fcp, Mapping) and "media" in fcp):
            # Without a <media> of its own the writer looks up a file path a generator lacks and fails.
            reference.metadata["fcp_xml"] = {**(dict(fcp) if isinstance(fcp, Mapping) else {}), "media": {"video": None}}
    drop_frame = uses_drop_frame(timeline)
    for clip, previz in _filled(timeline):
        fcp = clip.metadata.get("fcp_xml")
        if isinstance(fcp, Mapping):
            clip.metadata["fcp_xml"] = {key: value for key, value in fcp.items() if key not in _STALE_FCP_KEYS}
        rate = rate_from_float(clip.media_reference.available_range.start_time.rate)
        # The writer takes DF/NDF from this (else every 29.97 is DF); "media/video" keeps it from
        # claiming an audio track the file does not have.
        clip.media_reference.metadata["fcp_xml"] = {
            "media": {"video": None},
            "timecode": {"displayformat": "DF" if drop_frame and rate in DROP_FRAME_RATES else "NDF",
                         "reel": {"name": _reel(clip, previz)}},
        }


def _prepare_fcpx(timeline: otio.schema.Timeline, output: pathlib.Path, adapter_args: dict[str, Any]) -> None:
    _record_start_as_global_start(timeline)
    _only_tracks_in_stacks(timeline)
    _give_references_ranges(timeline, missing_too=False)
    _absolute_urls(timeline, output)  # an asset's src is a file URL
    for item in timeline.find_children():
        if isinstance(item, otio.schema.Gap) and item.duration().value == 0:
            del item.parent()[item.parent().index(item)]  # AAF's fade-from-filler: nothing it can place
        elif isinstance(item, (otio.schema.Clip, otio.schema.Gap, otio.schema.Stack)):
            if rate_from_float(item.duration().rate) not in _FCPX_RATES:
                raise TimelineError(f"the FCP X adapter writes only {', '.join(map(str, _FCPX_RATES))} fps and "
                                    f"'{item.name}' is at {item.duration().rate:.3f} fps; write .xml or .otio")
            if "'" in item.name:  # it finds items by name with an XPath it does not quote
                raise TimelineError(f"the FCP X adapter cannot write a name with an apostrophe: {item.name!r}")


def _prepare_aaf(timeline: otio.schema.Timeline, output: pathlib.Path, adapter_args: dict[str, Any]) -> None:
    _record_start_as_global_start(timeline)  # becomes the composition's timecode track
    _give_references_ranges(timeline, missing_too=True)  # the writer makes a source mob from each
    edit_rate = timeline.duration().rate  # the writer's one rate for every clip, gap and media range
    for item in timeline.find_children():
        if isinstance(item, otio.schema.Transition):
            _aaf_transition(item, edit_rate)
        elif isinstance(item, (otio.schema.Clip, otio.schema.Gap)) and item.source_range is not None:
            item.source_range = _at_rate(item.source_range, edit_rate, item.name)
            if isinstance(item, otio.schema.Clip):
                _aaf_clip(item, edit_rate)
    for clip, previz in _filled(timeline):
        model = previz.get("model")
        model_name = f"{model.get('name', '')} {model.get('version', '')}".strip() if isinstance(model, Mapping) else ""
        # The placeholder's own AAF metadata names its mob and comments; the filled clip is new media.
        clip.metadata["AAF"] = {"MobID": _mob_id("shot", str(previz.get("shot_id") or clip.media_reference.target_url)),
                                "UserComments": {"Comments": "AI-generated previz, not camera footage",
                                                 "Previz Model": model_name, "Previz Seed": str(previz.get("seed", "")),
                                                 "Previz Shot": str(previz.get("shot_id", ""))}}
        clip.media_reference.metadata.pop("AAF", None)


def _aaf_clip(clip: otio.schema.Clip, edit_rate: float) -> None:
    reference = clip.media_reference
    if isinstance(reference, otio.schema.GeneratorReference) and reference.generator_kind != "Slug":
        raise TimelineError(f"AAF has no '{reference.generator_kind}' generator (only Slug, as filler) and clip "
                            f"'{clip.name}' is one: fill it, or write .otio or .xml")
    if reference.available_range is not None:
        reference.available_range = _at_rate(reference.available_range, edit_rate, clip.name, outward=True)
    if not any(isinstance(m.get("AAF"), Mapping) and (m["AAF"].get("MobID") or m["AAF"].get("SourceID"))
               for m in (clip.metadata, reference.metadata)):
        # Media from another format: one stable master mob per file (per name without one).
        reference.metadata["AAF"] = {**dict(reference.metadata.get("AAF") or {}),
                                     "MobID": _mob_id("media", getattr(reference, "target_url", "") or clip.name)}


def _aaf_transition(transition: otio.schema.Transition, edit_rate: float) -> None:
    if transition.transition_type != otio.schema.TransitionTypes.SMPTE_Dissolve:
        raise TimelineError(f"the AAF writer writes only dissolves; '{transition.name}' is {transition.transition_type}")
    around_cut = otio.opentime.TimeRange(-transition.in_offset, transition.in_offset + transition.out_offset)
    offsets = _at_rate(around_cut, edit_rate, transition.name)
    transition.in_offset, transition.out_offset = -offsets.start_time, offsets.end_time_exclusive()
    aaf = transition.metadata.get("AAF")
    if isinstance(aaf, Mapping) and "OperationGroup" in aaf and "PointList" in aaf:
        return  # read from an AAF: written back as it came
    parent = transition.parent()
    kind = parent.kind if isinstance(parent, otio.schema.Track) else otio.schema.TrackKind.Video
    operation, data, name = _AAF_DISSOLVES.get(kind, _AAF_DISSOLVES[otio.schema.TrackKind.Video])
    transition.metadata["AAF"] = {
        "CutPoint": int(transition.in_offset.value),  # the cut, from the transition's start
        "PointList": [{"Time": 0.0, "Value": 0.0}, {"Time": 1.0, "Value": 100.0}],
        "OperationGroup": {"Operation": {
            "Identification": operation, "Name": name, "Description": "", "DataDefinition": {"Name": data},
            "IsTimeWarp": False, "Bypass": 1, "NumberInputs": 2, "OperationCategory": "OperationCategory_Effect"}},
    }


def _at_rate(
    time_range: otio.opentime.TimeRange, rate: float, name: str, outward: bool = False
) -> otio.opentime.TimeRange:
    """Return the range counted at the AAF edit rate.

    An edit point must land on a whole frame or it would move (TimelineError); a media range may
    round outward, as the media still covers every frame the clip uses.
    """
    if time_range.duration.rate == rate and time_range.start_time.rate == rate:
        return time_range
    start = time_range.start_time.value_rescaled_to(rate)
    end = time_range.end_time_exclusive().value_rescaled_to(rate)
    if outward:
        start, end = math.floor(start + 1e-6), math.ceil(end - 1e-6)
    elif abs(start - round(start)) > 1e-6 or abs(end - round(end)) > 1e-6:
        raise TimelineError(f"'{name}' at {time_range.duration.rate:g} fps does not fall on whole frames of the "
                            f"{rate:g} fps edit, and AAF has one edit rate")
    start, end = round(start), round(end)
    return otio.opentime.TimeRange(otio.opentime.RationalTime(start, rate), otio.opentime.RationalTime(end - start, rate))


def _mob_id(kind: str, identity: str) -> str:
    material = uuid.uuid5(_MOB_NAMESPACE, f"{kind}:{identity}").hex
    return f"{_UMID_LABEL}.{material[0:8]}.{material[8:16]}.{material[16:24]}.{material[24:32]}"


def _fix_aaf(path: pathlib.Path, edit: otio.schema.Timeline) -> None:
    """Correct, in the written file, two things otio-aaf-adapter 2.0 gets wrong.

    An audio slot's length sums its track's children, transitions included (transitions.aaf: 521
    frames become 701); a tape's timecode is drop frame whenever the rate is not whole (23.976 too).
    """
    import aaf2  # only here; the adapter that wrote the file imports it too

    tracks = [track for track in edit.tracks if track.kind == otio.schema.TrackKind.Audio and len(track)]
    with aaf2.open(str(path), "rw") as aaf:
        composition = next(aaf.content.toplevel())
        # One slot per non-empty track, in order; the writer puts an audio one in a pan effect.
        groups = [slot.segment for slot in composition.slots
                  if isinstance(slot.segment, aaf2.components.OperationGroup)]
        for group, track in zip(groups, tracks, strict=True):
            group.length = int(round(track.duration().value))
            for sequence in group.segments:
                sequence.length = group.length
        for mob in aaf.content.mobs:
            for slot in mob.slots:
                if isinstance(slot.segment, aaf2.components.Timecode) and slot.segment.fps not in (30, 60):
                    slot.segment.drop = False  # drop frame exists only at 29.97 and 59.94


def _prepare_bundle(timeline: otio.schema.Timeline, output: pathlib.Path, adapter_args: dict[str, Any]) -> None:
    _absolute_urls(timeline, output)  # a relative previz link is relative to the output's folder


_PREPARE: dict[str, Callable[[otio.schema.Timeline, pathlib.Path, dict[str, Any]], None]] = {
    ".edl": _prepare_edl, ".xml": _prepare_fcp_xml, ".fcpxml": _prepare_fcpx, ".aaf": _prepare_aaf,
    ".otioz": _prepare_bundle, ".otiod": _prepare_bundle,
}
# Formats that show names as text lines or XML: control characters in names are escaped first.
_ESCAPED = (".edl", ".xml", ".fcpxml", ".aaf", ".mlt")
