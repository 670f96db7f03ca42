"""Where previz meets host tools: the functions behind the OTIO media linker and hook (adapters/previz_otio).

OpenTimelineIO calls its plugins with plain values (argument maps of strings or literals), so this
module turns those into FillOptions, with the CLI's defaults, and runs the fill:

    link_clip(clip, argument_map)        the `previz` media linker: one clip, linked in place
    fill_on_read(timeline, argument_map) the `post_adapter_read` hook: the whole edit, gaps included,
                                         opt-in only
    options_from_strings(mapping)        "handles": "8", "resolution": "1280x720", ... -> FillOptions

Every option can also come from the environment, so that OTIO's own tools (otioconvert, otiotool)
can fill an edit with no code:

    PREVIZ_FILL_ON_READ=1   turn the hook on        PREVIZ_MODEL       generator .onnx
    PREVIZ_MEDIA_DIR        folder for the media    PREVIZ_CODEC       h264, prores, prores-lt, dnxhr
    PREVIZ_HANDLES          frames each side        PREVIZ_RESOLUTION  WIDTHxHEIGHT

An argument map's value wins over the environment's. The media folder has no default: neither a
linker nor a read hook is told where the edit lives, and writing into whatever the host
application's working directory is would be a surprise, so both refuse to run without one.

Loading OTIO's plugin manifest imports nothing heavy: onnxruntime and PyAV are imported only when a
clip is actually filled.
"""

from __future__ import annotations

import contextlib
import functools
import os
import pathlib
import re
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

import opentimelineio as otio

from .errors import PrevizError, UsageError
from .files import make_writable_folder
from .timeline_scan import Placeholder, find_placeholders

if TYPE_CHECKING:  # pipeline imports PyAV: only when a function runs
    from .pipeline import FillOptions

__all__ = [
    "ENV_FILL_ON_READ",
    "ENV_PREFIX",
    "LINKER_KINDS",
    "OPTION_KEYS",
    "fill_on_read",
    "fill_requested",
    "link_clip",
    "options_from_strings",
]

ENV_PREFIX = "PREVIZ_"
ENV_FILL_ON_READ = "PREVIZ_FILL_ON_READ"
# The keys an argument map may hold, each the CLI option of the same name.
OPTION_KEYS = ("model", "media_dir", "codec", "handles", "resolution")
# The hook reads its own settings from argument_map[HOOK_KEY]; OTIO puts other keys beside it.
HOOK_KEY = "previz"
# A media linker is handed clips only, so it can never see a gap.
LINKER_KINDS = ("missing", "generator", "marked")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"", "0", "false", "no", "off"}


def options_from_strings(mapping: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> FillOptions:
    """Return the FillOptions an argument map asks for, PREVIZ_* variables filling the keys it leaves out.

    Values are strings as on the command line ("handles": "8", "resolution": "1280x720") or the
    literals otioconvert makes of them (8); an unknown key or a bad value is a UsageError naming both.
    """
    from .pipeline import FillOptions
    from .shot_spec import parse_resolution, resolution_text

    mapping = {} if mapping is None else mapping
    if not isinstance(mapping, Mapping):
        raise UsageError(f"previz options must be a mapping of {', '.join(OPTION_KEYS)}, got {type(mapping).__name__}")
    unknown = sorted(str(key) for key in mapping if key not in OPTION_KEYS)
    if unknown:
        raise UsageError(f"unknown previz option(s) {', '.join(map(repr, unknown))}; choose from {', '.join(OPTION_KEYS)}")
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for key in OPTION_KEYS:
        value, where = mapping.get(key), key
        if value is None or value == "":
            value, where = environ.get(ENV_PREFIX + key.upper()), ENV_PREFIX + key.upper()
        if value is None or value == "":
            continue
        if key in ("model", "media_dir"):
            if not isinstance(value, (str, os.PathLike)):
                raise UsageError(f"{where} {value!r} is not a path")
            values[key] = os.fspath(value)
        elif key == "codec":
            values[key] = _codec(value, where)
        elif key == "handles":
            values[key] = _handles(value, where)
        else:  # resolution: "1280x720", or the tuple otioconvert makes of "(1280, 720)"
            text = resolution_text(value) if isinstance(value, (tuple, list)) else value
            try:
                values[key] = parse_resolution(text)
            except UsageError as error:
                raise UsageError(f"{where}: {error.message}") from None
    return FillOptions(**values)


def fill_requested(argument_map: Mapping[str, Any] | None, environ: Mapping[str, str] | None = None) -> bool:
    """Return True when the hook is asked to fill: argument_map["previz"]["fill"], else $PREVIZ_FILL_ON_READ.

    An explicit "fill": False in the argument map wins over the environment, so a caller that reads
    edits for its own purposes can keep the hook off whatever the shell has set.
    """
    settings = _hook_settings(argument_map)
    if "fill" in settings:
        return _flag(settings["fill"], f"{HOOK_KEY}['fill']")
    environ = os.environ if environ is None else environ
    return _flag(environ.get(ENV_FILL_ON_READ, ""), ENV_FILL_ON_READ)


def fill_on_read(in_timeline: Any, argument_map: Mapping[str, Any] | None = None) -> Any:
    """Return the edit OTIO just read, filled when asked (see fill_requested), else the very object given.

    Fills what `previz fill` fills, gaps included, into a copy: every timeline of a collection is
    replaced by its filled copy; anything that holds no timeline is returned as it is. Options come
    from argument_map["previz"] (the keys of options_from_strings), then the PREVIZ_* variables.
    """
    if not fill_requested(argument_map):
        return in_timeline
    settings = {key: value for key, value in _hook_settings(argument_map).items() if key != "fill"}
    options = options_from_strings(settings)
    _require_media_dir(options, "the previz fill-on-read hook", "hook_function_argument_map={'previz': {'media_dir': ...}}")
    if isinstance(in_timeline, otio.schema.Timeline):
        return _fill_timeline(in_timeline, options)
    if isinstance(in_timeline, otio.schema.SerializableCollection):
        _fill_collection(in_timeline, options)
    return in_timeline


def link_clip(clip: otio.schema.Clip, argument_map: Mapping[str, Any] | None = None) -> otio.core.MediaReference:
    """Return the media reference OTIO should give `clip`: new generated media for a placeholder, else its own.

    OTIO calls a media linker once per clip, after the read and the post_adapter_read hook, with the
    clip still in its timeline, and sets what this returns as the clip's active reference. For a
    placeholder (a missing or generator reference, or metadata["previz"] not yet generated) the clip
    is filled in place exactly as `previz fill` would (its old reference kept under its own key, the
    provenance in metadata["previz"]) and the new reference carries the same provenance. Options
    come from the argument map (see options_from_strings), then PREVIZ_*; media_dir is required.

    A linker is not shown the Timeline object, only the clip's tracks, so the edit's start timecode
    and stated resolution are unknown here: record timecode counts from the implied 01:00:00:00 and
    the picture is `resolution`, else 1920x1080. Use the hook (or `previz fill`) for edits that
    start elsewhere.
    """
    options = options_from_strings(argument_map)
    media_dir = _require_media_dir(options, "the previz media linker", "media_linker_argument_map={'media_dir': ...}")
    if not isinstance(clip, otio.schema.Clip):
        raise UsageError(f"the previz media linker links clips, got {type(clip).__name__}")
    if not _may_be_placeholder(clip):
        return clip.media_reference
    with _timeline_around(clip) as timeline:
        placeholder = next((p for p in find_placeholders(timeline, LINKER_KINDS) if p.item is clip), None)
        if placeholder is None:  # disabled, already generated, or on a track that is not video
            return clip.media_reference
        _render_and_link(placeholder, options, media_dir)
    reference = clip.media_reference
    reference.metadata[HOOK_KEY] = _reference_provenance(clip)
    return reference


# -- the linker's one-shot fill ----------------------------------------------------------------


def _may_be_placeholder(clip: otio.schema.Clip) -> bool:
    """Return False for clips that cannot be placeholders (a quick filter; find_placeholders decides)."""
    reference = clip.media_reference
    if reference is None or isinstance(reference, (otio.schema.MissingReference, otio.schema.GeneratorReference)):
        return True
    return isinstance(clip.metadata.get(HOOK_KEY), Mapping)


@contextlib.contextmanager
def _timeline_around(clip: otio.schema.Clip) -> Iterator[otio.schema.Timeline]:
    """Yield a Timeline showing the tracks the clip is in, so the scan can place it; nothing is copied.

    OTIO hands a linker the clip, not its Timeline. The clip's top-level stack is shared by a
    stand-in Timeline (sharing does not re-parent it); a clip or track with no stack above it is
    put into a stand-in one for the scan and taken out again afterwards.
    """
    top: otio.core.Composable = clip
    while top.parent() is not None:
        top = top.parent()
    holders: list[otio.core.Composition] = []
    try:
        if not isinstance(top, otio.schema.Stack):
            if not isinstance(top, otio.schema.Track):
                track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
                track.append(top)
                holders.append(track)
                top = track
            stack = otio.schema.Stack()
            stack.append(top)
            holders.append(stack)
            top = stack
        timeline = otio.schema.Timeline(name="previz media linker")
        timeline.tracks = top
        yield timeline
    finally:
        for holder in holders:  # innermost first: the clip or track leaves with no parent, as it came
            del holder[:]


@functools.lru_cache(maxsize=2)
def _loaded_model(path: str, mtime_ns: int, size: int):
    """Return the model at path, loaded once per file version (OTIO calls the linker once per clip)."""
    from .model_runtime import load_model

    return load_model(path)


def _model(model_option: str | os.PathLike | None):
    from .bundled import sample_model_path
    from .model_runtime import load_model

    path = pathlib.Path(model_option) if model_option is not None else sample_model_path()
    try:
        stat = path.stat()
    except OSError:
        return load_model(path)  # says, as a ModelError, why the file cannot be used
    return _loaded_model(str(path.resolve()), stat.st_mtime_ns, stat.st_size)


def _render_and_link(placeholder: Placeholder, options: FillOptions, media_dir: pathlib.Path) -> None:
    """Make one placeholder's media in media_dir and link its clip to it, as pipeline.fill does for each shot.

    The shot goes through batch.run_shot like every shot of a fill, so a matching sidecar from an
    earlier read (or from `previz fill` with the same media folder) is reused instead of remade.
    """
    from .batch import ShotJob, media_name, run_shot
    from .encode import MediaInfo, codec_profile
    from .guards import check_shot_plan
    from .provenance import ModelIdentity
    from .shot_spec import build_shot_spec
    from .write_back import link_placeholder, media_url, now_utc

    profile = codec_profile(options.codec)
    model = _model(options.model)
    spec = build_shot_spec(
        placeholder, handles=options.handles, resolution=options.resolution, class_labels=model.contract.class_labels
    )
    job = ShotJob(spec, str(media_dir / media_name(spec, profile, model.sha256, options.burn_in)), str(model.path), model.sha256,
                  profile.name, options.burn_in)
    check_shot_plan([job], profile, media_dir, None, options)  # frames, codec size, free space: before any frame
    make_writable_folder(media_dir)
    result = run_shot(job)
    if not result.ok:
        raise PrevizError(result.error)  # already names the shot
    media = MediaInfo(pathlib.Path(result.media_path), result.frames, spec.rate, spec.width, spec.height,
                      profile.name, spec.timecode(0), result.media_sha256)
    try:
        link_placeholder(placeholder, spec, media, ModelIdentity.of_model(model), media_url(media.path, None, False),
                         now_utc(), contract_version=model.contract.contract_version)
    except PrevizError as error:
        raise error.with_shot(spec.name) from None


def _reference_provenance(clip: otio.schema.Clip) -> dict[str, Any]:
    """Return the clip's previz provenance for its new reference (a host may keep the reference, not the clip)."""
    record = dict(clip.metadata.get(HOOK_KEY, {}))
    record.pop("original_source_range", None)  # about the clip's old range, not about this media
    return record


# -- the hook's whole-edit fill ---------------------------------------------------------------


def _fill_timeline(timeline: otio.schema.Timeline, options: FillOptions) -> otio.schema.Timeline:
    from .pipeline import fill

    report = fill(timeline, options=options)
    if report.failed:  # OTIO has no partial read: fail the read; a rerun reuses every shot already made
        problems = "; ".join(shot.error for shot in report.failed[:3])
        raise PrevizError(f"{len(report.failed)} of {len(report.failed) + len(report.filled)} shot(s) failed: {problems}")
    filled = report.timeline
    assert filled is not None  # fill always returns the filled copy
    made = {shot.media_sha256 for shot in report.filled}
    for clip in filled.find_clips():
        record = clip.metadata.get(HOOK_KEY)
        if isinstance(record, Mapping) and record.get("media_sha256") in made and clip.media_reference is not None:
            clip.media_reference.metadata[HOOK_KEY] = _reference_provenance(clip)
    return filled


def _fill_collection(collection: otio.schema.SerializableCollection, options: FillOptions) -> None:
    for index, child in enumerate(list(collection)):
        if isinstance(child, otio.schema.Timeline):
            collection[index] = _fill_timeline(child, options)
        elif isinstance(child, otio.schema.SerializableCollection):
            _fill_collection(child, options)


# -- argument checks -----------------------------------------------------------------------------


def _hook_settings(argument_map: Mapping[str, Any] | None) -> Mapping[str, Any]:
    if argument_map is None:
        return {}
    if not isinstance(argument_map, Mapping):
        raise UsageError(f"hook argument map must be a mapping, got {type(argument_map).__name__}")
    settings = argument_map.get(HOOK_KEY)
    if settings is None:
        return {}
    if not isinstance(settings, Mapping):
        raise UsageError(f"hook argument {HOOK_KEY!r} must be a mapping like {{'fill': True, 'media_dir': ...}}, got {settings!r}")
    return settings


def _flag(value: Any, where: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
        return value.strip().lower() in _TRUE
    raise UsageError(f"{where} {value!r} is not a yes/no value; use 1 or 0")


def _handles(value: Any, where: str) -> int:
    from .guards import MAX_HANDLES

    # ASCII digits only: str.isdigit() is also true for "²", which int() refuses.
    if isinstance(value, str) and re.fullmatch(r"[0-9]+", value.strip()):
        value = int(value.strip())
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_HANDLES:
        return value
    raise UsageError(f"{where} {value!r} is not a whole number of frames from 0 to {MAX_HANDLES}")


def _codec(value: Any, where: str) -> str:
    from .encode import codec_profile

    if not isinstance(value, str):
        raise UsageError(f"{where} {value!r} is not a codec name")
    try:
        return codec_profile(value.strip()).name
    except UsageError as error:
        raise UsageError(f"{where}: {error.message}") from None


def _require_media_dir(options: FillOptions, who: str, how: str) -> pathlib.Path:
    if options.media_dir is None:
        raise UsageError(
            f"{who} needs a folder for the generated media: pass {how} or set {ENV_PREFIX}MEDIA_DIR"
        )
    return pathlib.Path(options.media_dir)


