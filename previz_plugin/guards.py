"""Checks made before any frame is made: option bounds, paths that must not collide, and what a fill will cost.

A fill that cannot finish should say so in one line before it starts, not after an hour of rendering
(or never: a 1e15-frame gap, a full disk). `plan_shots` calls, in order:

    check_fill_options(options)                       handles, jobs, kinds, frame limit, bundle policy
    check_paths(source, output, media_dir, sheet)     output, media folder and contact sheet apart from
                                                      the input and from each other; UTF-8 names; an
                                                      existing .otiod replaced only if it is ours
    check_shot_plan(jobs, profile, media_dir, ...)    codec size limits per shot; total frames against
                                                      a limit (--max-frames); bytes against the free
                                                      space of each filesystem written to

Every limit is in docs/cli.md ("Limits"). Each raises UsageError with the values in the message.
"""

from __future__ import annotations

import logging
import os
import pathlib
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .batch import check_jobs
from .errors import UsageError
from .files import free_bytes, is_inside, nearest_existing, regular_file_problem, utf8_problem
from .printable import printable
from .shot_spec import encodable_size
from .timeline_scan import PLACEHOLDER_KINDS
from .timeline_write import BUNDLE_MEDIA

if TYPE_CHECKING:
    from .batch import ShotJob
    from .encode import CodecProfile

__all__ = [
    "BUNDLE_MEDIA", "DEFAULT_MAX_FRAMES", "MAX_HANDLES", "check_fill_options", "check_handles", "check_max_frames",
    "check_paths", "check_shot_plan", "estimate_media_bytes",
]

log = logging.getLogger(__name__)

# 200,000 frames is 2.3 hours at 24 fps: more previz than any one fill should make by accident (a
# 10-hour gap is 864,000). --max-frames raises it; 0 lifts it.
DEFAULT_MAX_FRAMES = 200_000
MAX_HANDLES = 1000  # frames each side: 41 s at 24 fps
# Handles that make a fill this many times the frames its placeholders last are worth a warning.
_HANDLES_WARNING_RATIO = 5
# Bytes per delivered pixel per frame, an upper estimate: measured with the bundled model at 1080p
# (H.264 0.006, ProRes Proxy 0.036, LT 0.064, DNxHR LB 0.091) and rounded up for busier pictures.
_BYTES_PER_PIXEL = {"h264": 0.025, "prores": 0.12, "prores-lt": 0.26, "dnxhr": 0.1}
_PER_FILE_BYTES = 64 * 1024  # container, C2PA manifest (about 20 KB with its certificates), sidecar
_SPARE_BYTES = 16 * 2**20  # never plan to fill a media disk to its last byte
_EDIT_BYTES_PER_SHOT = 8 * 1024  # a filled clip's reference and provenance in the written edit
_EDIT_SPARE_BYTES = 64 * 1024  # the rest of a small edit (the write itself is checked whatever its size)


def check_handles(handles: object) -> int:
    """Return handles as a frame count, or raise UsageError (a whole number 0 .. MAX_HANDLES)."""
    if isinstance(handles, bool) or not isinstance(handles, int) or not 0 <= handles <= MAX_HANDLES:
        raise UsageError(f"handles must be a whole number of frames from 0 to {MAX_HANDLES}, got {handles!r}")
    return handles


def check_max_frames(max_frames: object) -> int:
    """Return the frame limit (0: none), or raise UsageError."""
    if isinstance(max_frames, bool) or not isinstance(max_frames, int) or max_frames < 0:
        raise UsageError(f"max frames must be a whole number >= 0 (0: no limit), got {max_frames!r}")
    return max_frames


def check_fill_options(options: Any) -> None:
    """Raise UsageError for an option no fill can use, before anything is read, made or written."""
    check_handles(options.handles)
    check_jobs(options.jobs, options.engine, options.scheduler)
    kinds = (options.kinds,) if isinstance(options.kinds, str) else tuple(options.kinds)
    if not kinds:
        raise UsageError(f"kinds names no placeholder kind; choose from {', '.join(PLACEHOLDER_KINDS)}")
    unknown = [kind for kind in kinds if kind not in PLACEHOLDER_KINDS]
    if unknown:
        raise UsageError(f"unknown placeholder kind(s) {', '.join(map(repr, unknown))}; choose from {', '.join(PLACEHOLDER_KINDS)}")
    check_max_frames(getattr(options, "max_frames", DEFAULT_MAX_FRAMES))
    bundle_media = getattr(options, "bundle_media", "generated")
    if bundle_media not in BUNDLE_MEDIA:
        raise UsageError(f"bundle media must be one of {', '.join(BUNDLE_MEDIA)}, got {bundle_media!r}")


def check_paths(source_path: str | os.PathLike | None, output: pathlib.Path | None, media_dir: pathlib.Path,
                contact_sheet: str | os.PathLike | None = None) -> None:
    """Raise UsageError when the output, media folder or contact sheet would collide or cannot be written.

    Found here, not after rendering: an output or media folder whose name is not UTF-8, a media
    folder that is the output (or inside an .otiod output, which is replaced whole), an .otiod
    output holding the input or files previz did not write, and a contact sheet that is a folder,
    the input or the output.
    """
    from .timeline_write import bundle_replace_problem

    source = pathlib.Path(source_path) if source_path is not None else None
    for path, what in ((output, "output"), (media_dir, "media folder")):
        problem = utf8_problem(path) if path is not None else None
        if problem:
            raise UsageError(f"{what} {printable(path)} {problem}")
    if output is not None:
        if output.exists() and output.suffix.lower() != ".otiod" and regular_file_problem(output):
            raise UsageError(f"output {output} {regular_file_problem(output)}; pick another name")
        if output.suffix.lower() == ".otiod":
            if source is not None and is_inside(source, output):
                raise UsageError(f"output bundle {output} holds the input {source}; writing it would replace the input: "
                                 "pick another name")
            if is_inside(media_dir, output):
                raise UsageError(f"media folder {media_dir} is inside the output bundle {output}, which is replaced whole; "
                                 "pick a media folder outside it")
            problem = bundle_replace_problem(output)
            if problem:
                raise UsageError(problem)
        if _same_path(media_dir, output):
            raise UsageError(f"media folder {media_dir} is the output edit {output}; give --media-dir another folder")
    if media_dir.exists() and not media_dir.is_dir():
        raise UsageError(f"media folder {media_dir} is a file, not a folder")
    if source is not None and _same_path(media_dir, source):
        raise UsageError(f"media folder {media_dir} is the input edit; give --media-dir another folder")
    if contact_sheet is not None:
        sheet = pathlib.Path(contact_sheet)
        if sheet.suffix.lower() != ".png":
            raise UsageError(f"contact sheet {sheet} must be a .png file")
        if not sheet.parent.is_dir():
            raise UsageError(f"contact sheet folder {sheet.parent} does not exist")
        if sheet.exists() and regular_file_problem(sheet):
            raise UsageError(f"contact sheet {sheet} {regular_file_problem(sheet)}")
        for other, what in ((source, "input"), (output, "output edit"), (media_dir, "media folder")):
            if other is not None and _same_path(sheet, other):
                raise UsageError(f"contact sheet {sheet} is the {what}; give it another name")


def estimate_media_bytes(frames: int, width: int, height: int, profile: CodecProfile) -> int:
    """Return an upper estimate of one shot's media file size in bytes."""
    per_pixel = _BYTES_PER_PIXEL.get(profile.name, max(_BYTES_PER_PIXEL.values()))
    return int(frames * width * height * per_pixel) + _PER_FILE_BYTES


def check_shot_plan(jobs: Sequence[ShotJob], profile: CodecProfile, media_dir: pathlib.Path,
                    output: pathlib.Path | None, options: Any) -> None:
    """Raise UsageError before any frame is made when the shots cannot be encoded, are too many, or will not fit.

    Checks each shot's size against the codec's limits, the total frames against the frame limit
    (options.max_frames, default DEFAULT_MAX_FRAMES; 0 lifts it), and, unless options.check_space is
    False, the estimated bytes against `shutil.disk_usage` of every filesystem written (media folder,
    output edit; a bundle holds the media a second time). An assemble (options.assemble_only)
    renders nothing, so only the first check applies. Logs a warning where handles multiply the work.
    """
    if not jobs:
        return
    min_w, min_h = profile.min_size
    for job in jobs:
        spec = job.spec
        if not encodable_size(spec.width, spec.height, profile.min_size):
            raise UsageError(printable(f"{profile.name} needs an even size of at least {min_w}x{min_h} and shot "
                                       f"{spec.name} is {spec.width}x{spec.height}; pick a larger --resolution or another --codec"))
    if getattr(options, "assemble_only", False):
        return
    total = sum(job.spec.total_frames for job in jobs)
    placed = sum(job.spec.frames for job in jobs)
    ratio = total / placed if placed else 1.0
    handles_note = (f"; handles make it {ratio:.0f}x the {placed:,} frames the placeholders last"
                    if ratio >= _HANDLES_WARNING_RATIO else "")
    limit = check_max_frames(getattr(options, "max_frames", DEFAULT_MAX_FRAMES))
    if limit and total > limit:
        raise UsageError(f"this fill would make {total:,} frames in {len(jobs):,} shot(s){handles_note}; the limit is "
                         f"{limit:,}: raise it with --max-frames N (0: no limit), or fill fewer placeholders (--kinds)")
    if handles_note:
        log.warning("%s", f"warning: {len(jobs):,} shot(s) make {total:,} frames{handles_note} (--handles)")
    if getattr(options, "check_space", True):
        _check_space(jobs, profile, media_dir, output)


def _check_space(jobs: Sequence[ShotJob], profile: CodecProfile, media_dir: pathlib.Path, output: pathlib.Path | None) -> None:
    sizes = [0 if pathlib.Path(job.media_path).exists() else  # reused or replaced in place
             estimate_media_bytes(job.spec.total_frames, job.spec.width, job.spec.height, profile) for job in jobs]
    # Signing writes a signed copy beside the file before it replaces it: the largest shot, once more.
    needs = {media_dir: sum(sizes) + max(sizes) + _SPARE_BYTES}
    if output is not None:
        edit = len(jobs) * _EDIT_BYTES_PER_SHOT + _EDIT_SPARE_BYTES
        if output.suffix.lower() in (".otioz", ".otiod"):
            edit += sum(estimate_media_bytes(job.spec.total_frames, job.spec.width, job.spec.height, profile) for job in jobs)
        needs[output.parent] = needs.get(output.parent, 0) + edit
    by_device: dict[int, tuple[pathlib.Path, int]] = {}
    for folder, needed in needs.items():
        device = nearest_existing(folder).stat().st_dev
        first, so_far = by_device.get(device, (folder, 0))
        by_device[device] = (first, so_far + needed)
    frames = sum(job.spec.total_frames for job in jobs)
    for folder, needed in by_device.values():
        free = free_bytes(folder)
        if needed > free:
            raise UsageError(f"this fill needs about {_size(needed)} in {folder} ({frames:,} frames of {profile.name}) "
                             f"and {_size(free)} is free there; free some space or write elsewhere "
                             "(--media-dir, -o), or skip this estimate with --no-space-check")


def _same_path(a: pathlib.Path | str, b: pathlib.Path | str) -> bool:
    return pathlib.Path(os.path.abspath(a)).resolve() == pathlib.Path(os.path.abspath(b)).resolve()


def _size(count: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("KB", 1e3)):
        if count >= scale:
            return f"{count / scale:.1f} {unit}"
    return f"{count} bytes"
