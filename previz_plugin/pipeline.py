"""The fill, stage by stage: edit -> placeholders -> shot specs -> frames -> media files -> edit.

This is the one place that knows the order of the stages. Everything is validated before any frame is
made (edit, model, options, output path); the input edit is never modified; the output timeline is
written atomically, and only after every shot's media is complete.
"""

from __future__ import annotations

import logging
import os
import pathlib
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import opentimelineio as otio

from . import __version__
from .batch import ShotJob, ShotResult, finished_result, media_name, run_shots
from .bundled import sample_model_path
from .contact_sheet import write_contact_sheet
from .credentials import configured_signer, signing_available
from .encode import CodecProfile, MediaInfo, codec_profile
from .errors import PrevizError, ShotSpecError, TimelineError, UsageError
from .files import make_writable_folder
from .frame_synthesis import describe_fit
from .guards import DEFAULT_MAX_FRAMES, check_fill_options, check_paths, check_shot_plan
from .model_runtime import GeneratorModel, load_model
from .provenance import ModelIdentity
from .shot_spec import ShotSpec, build_shot_spec, parse_resolution, timeline_resolution
from .timeline_scan import PLACEHOLDER_KINDS, Placeholder, find_placeholders, read_timeline_with_warnings
from .timeline_write import write_timeline
from .timing import rate_text
from .write_back import link_placeholder, media_url, now_utc

PathLike = str | os.PathLike
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FillOptions:
    """How to fill: every field has the CLI's default."""

    model: PathLike | None = None
    media_dir: PathLike | None = None
    codec: str = "h264"
    handles: int = 12
    resolution: str | tuple[int, int] | None = None
    kinds: Sequence[str] = PLACEHOLDER_KINDS
    burn_in: bool = True
    relative_paths: bool = False
    progress: bool | None = None  # None: a bar only when stderr is a terminal
    jobs: int = 1  # shots made at once
    engine: str = "local"  # "local" (this machine) or "dask"
    scheduler: str | None = None  # Dask scheduler address; None starts a local cluster
    contact_sheet: PathLike | None = None  # a PNG with a row of frames per filled shot
    assemble_only: bool = False  # link media a farm already rendered (matching sidecars); render nothing
    max_frames: int = DEFAULT_MAX_FRAMES  # refuse a fill that would make more frames, handles included; 0: no limit
    check_space: bool = True  # refuse a fill whose estimated media size exceeds the free disk space
    bundle_media: str = "generated"  # .otioz/.otiod: the generated media only, or "all" local media too
    adapter_args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FilledShot:
    item_path: tuple[int, ...]
    name: str
    kind: str
    class_label: str
    seed: int
    frames: int
    handles: tuple[int, int]
    total_frames: int
    rate: str
    record_timecode: str
    media_path: str
    media_sha256: str
    seconds: float
    reused: bool = False  # media from an earlier run whose sidecar matched
    staging: dict[str, Any] | None = None  # direction, speed, count, framing, pan and where each came from
    fit: str = ""  # how the model's frame sits in the delivery frame (full, letterbox, pillarbox)


@dataclass(frozen=True)
class FailedShot:
    item_path: tuple[int, ...]
    name: str
    kind: str
    error: str


@dataclass(frozen=True)
class SkippedItem:
    item_path: tuple[int, ...]
    name: str
    reason: str


def item_record(item: FilledShot | FailedShot | SkippedItem) -> dict[str, Any]:
    """Return a report's shot or item as JSON data: its fields, item_path as a list."""
    return vars(item) | {"item_path": list(item.item_path)}


@dataclass
class FillReport:
    """What a fill did; `to_dict()` is the CLI's --json document."""

    input: str | None
    output: str | None
    model: dict[str, str]
    filled: list[FilledShot]
    skipped: list[SkippedItem]
    timings: dict[str, float]
    failed: list[FailedShot] = field(default_factory=list)
    timeline: otio.schema.Timeline | None = None
    contact_sheet: str | None = None
    bundled: list[str] = field(default_factory=list)  # files copied into an .otioz/.otiod output
    linked_outside: list[str] = field(default_factory=list)  # local media such a bundle links where it is
    warnings: list[str] = field(default_factory=list)  # what the edit held that could not come out exactly

    @property
    def partial(self) -> bool:
        return bool(self.failed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "output": self.output,
            "model": self.model,
            "filled": [item_record(shot) for shot in self.filled],
            "skipped": [item_record(item) for item in self.skipped],
            "failed": [item_record(item) for item in self.failed],
            "partial": self.partial,
            "contact_sheet": self.contact_sheet,
            "bundled": self.bundled,
            "linked_outside": self.linked_outside,
            "warnings": self.warnings,
            "timings": {key: round(value, 3) for key, value in self.timings.items()},
            "tool": f"previz-plugin {__version__}",
        }


@dataclass
class ScanReport:
    input: str | None
    placeholders: list[Placeholder]
    specs: list[ShotSpec]
    skipped: list[SkippedItem]
    failed: list[FailedShot] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "placeholders": [
                spec.to_dict() | {"record_timecode": spec.timecode(spec.handle_head), "total_frames": spec.total_frames}
                for spec in self.specs
            ],
            "skipped": [item_record(item) for item in self.skipped],
            "failed": [item_record(item) for item in self.failed],
        }


# 1. edit ------------------------------------------------------------------------------------------
def _load_edit(source: otio.schema.Timeline | PathLike, adapter_args: Mapping[str, Any],
               warnings: list[str] | None = None) -> tuple[otio.schema.Timeline, str | None]:
    """Return a private copy of the edit to fill (the caller's timeline or file is never touched).

    What reading could not keep exactly (an integer beyond int64 in metadata) is logged and added to warnings.
    """
    if isinstance(source, otio.schema.Timeline):
        return source.deepcopy(), None
    if isinstance(source, (str, os.PathLike)):
        timeline, found = read_timeline_with_warnings(source, **adapter_args)
        for warning in found:
            log.warning("%s", warning)
        if warnings is not None:
            warnings.extend(found)
        return timeline, str(source)
    raise UsageError(f"fill needs a timeline or a path, got {type(source).__name__}")


def _check_output(output: pathlib.Path, source_path: str | None) -> None:
    writable = sorted({f".{suffix}" for suffix in otio.adapters.suffixes_with_defined_adapters(write=True)} | {".mlt"})
    if output.suffix.lower() not in writable:
        raise UsageError(f"cannot write '{output.suffix or output.name}' edits; output formats: {', '.join(writable)}")
    if source_path is not None and output.resolve() == pathlib.Path(source_path).resolve():
        raise UsageError(f"output {output} is the input; the input edit is never overwritten, pick another name")
    # A missing output folder is made (after every check passes); its nearest existing ancestor must be a
    # writable folder.
    folder = output.absolute().parent
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    if not existing.is_dir():
        raise UsageError(f"output folder {folder} cannot be made: {existing} is not a folder")
    if not os.access(existing, os.W_OK):
        raise UsageError(f"output folder {existing} is not writable")
    if output.is_dir() and output.suffix.lower() != ".otiod":
        raise UsageError(f"output {output} is a folder")


def _check_format_holds(timeline: otio.schema.Timeline, output: pathlib.Path, pairs: list[tuple[Placeholder, ShotSpec]],
                        model: GeneratorModel, profile: CodecProfile, media_dir: pathlib.Path, burn_in: bool) -> None:
    """Write what the fill will write, before any compute: a copy of the edit with every planned shot linked
    to a stand-in of its media (its real name, frames and timecode), so a format that cannot hold the
    filled edit fails now, and one that can is never refused for what the unfilled edit held.

    Bundles (.otioz, .otiod) copy real media in, so they are judged when written.
    """
    import dataclasses
    import tempfile

    if output.suffix.lower() in (".otioz", ".otiod"):
        return
    edit = timeline.deepcopy()
    identity = ModelIdentity.of_model(model)
    for placeholder, spec in pairs:
        item = _item_at(edit, placeholder.path)
        media_path = media_dir / media_name(spec, profile, model.sha256, burn_in)
        media = MediaInfo(media_path, spec.total_frames, spec.rate, spec.width, spec.height, profile.name,
                          spec.timecode(0), "0" * 64)
        link_placeholder(dataclasses.replace(placeholder, item=item), spec, media, identity,
                         media_path.resolve().as_uri(), "1970-01-01T00:00:00+00:00",
                         contract_version=model.contract.contract_version)
    with tempfile.TemporaryDirectory(prefix="previz-check-") as scratch:
        try:
            write_timeline(edit, pathlib.Path(scratch) / output.name)
        except TimelineError as error:
            raise TimelineError(f"{output.suffix} cannot hold this edit: {error.message}") from None


def _item_at(timeline: otio.schema.Timeline, path: tuple[int, ...]) -> otio.core.Item:
    """The item at an index path from the top stack (as `Placeholder.path` counts)."""
    node: Any = timeline.tracks
    for index in path:
        node = node[index]
    return node


def _skipped(timeline: otio.schema.Timeline, chosen: list[Placeholder]) -> list[SkippedItem]:
    """Items that look like placeholders but are not filled, with the reason (for the report)."""
    chosen_items = {id(p.item) for p in chosen}
    every_kind = find_placeholders(timeline, PLACEHOLDER_KINDS)
    skipped = [SkippedItem(p.path, p.name, f"kind '{p.kind}' not selected") for p in every_kind if id(p.item) not in chosen_items]
    for track_index, track in enumerate(timeline.tracks):
        for clip in track.find_clips(shallow_search=False):
            previz = clip.metadata.get("previz")
            if isinstance(previz, Mapping) and previz.get("generated") is True:
                skipped.append(SkippedItem((track_index,), clip.name, "already generated"))
            elif not clip.enabled and isinstance(clip.media_reference, (otio.schema.MissingReference, otio.schema.GeneratorReference)):
                skipped.append(SkippedItem((track_index,), clip.name, "disabled"))
    return skipped


# 2. placeholders -> shot specs ------------------------------------------------------------------------
def _shot_specs(
    timeline: otio.schema.Timeline, placeholders: list[Placeholder], model: GeneratorModel, options: FillOptions
) -> tuple[list[tuple[Placeholder, ShotSpec]], list[FailedShot]]:
    """Return (placeholder, spec) pairs, and the shots whose own values are bad (they fail alone).

    A bad option (handles, resolution) is everyone's problem and stops the fill; a bad class or seed in
    one clip's metadata fails that shot only.
    """
    resolution = options.resolution
    if isinstance(resolution, str):
        resolution = parse_resolution(resolution)
    settings: dict[str, Any] = {
        "handles": options.handles,
        "resolution": resolution,
        "class_labels": model.contract.class_labels,
        "timeline_resolution": timeline_resolution(timeline),
    }
    specs: list[tuple[Placeholder, ShotSpec]] = []
    failed: list[FailedShot] = []
    for placeholder in placeholders:
        try:
            specs.append((placeholder, build_shot_spec(placeholder, **settings)))
        except ShotSpecError as error:
            failed.append(FailedShot(placeholder.path, placeholder.name, placeholder.kind, str(error.with_shot(placeholder.name))))
    return specs, failed


def _not_rendered(job: ShotJob) -> ShotResult:
    return ShotResult(job.spec.shot_id, job.spec.name, job.media_path, "failed",
                      error=f"{job.spec.name}: not rendered (no matching sidecar beside {job.media_path}); run its render-shot task")


def _progress_bar(total: int, enabled: bool | None):
    from tqdm import tqdm

    show = sys.stderr.isatty() if enabled is None else enabled
    return tqdm(total=total, disable=not show, unit="frame", desc="fill", leave=False)


def scan(source: otio.schema.Timeline | PathLike, options: FillOptions | None = None, **overrides: Any) -> ScanReport:
    """Return the placeholders of an edit and the shot spec each would get; nothing is generated."""
    options = _options(options, overrides)
    timeline, source_path = _load_edit(source, options.adapter_args)
    model = load_model(options.model or sample_model_path())
    placeholders = find_placeholders(timeline, options.kinds)
    pairs, failed = _shot_specs(timeline, placeholders, model, options)
    return ScanReport(source_path, [p for p, _ in pairs], [spec for _, spec in pairs], _skipped(timeline, placeholders), failed)


def _options(options: FillOptions | None, overrides: Mapping[str, Any]) -> FillOptions:
    options = options or FillOptions()
    if overrides:
        unknown = sorted(set(overrides) - set(FillOptions.__dataclass_fields__))
        if unknown:
            raise UsageError(f"unknown fill options {unknown}")
        options = FillOptions(**(vars(options) | dict(overrides)))
    return options


@dataclass
class ShotPlan:
    """Everything decided before any frame is made: the edit, the model, the shots and their jobs."""

    timeline: otio.schema.Timeline
    source_path: str | None
    output_path: pathlib.Path | None
    media_dir: pathlib.Path
    profile: CodecProfile
    model: GeneratorModel
    pairs: list[tuple[Placeholder, ShotSpec]]
    failed: list[FailedShot]
    skipped: list[SkippedItem]
    jobs: list[ShotJob]
    timings: dict[str, float]
    warnings: list[str] = field(default_factory=list)


def plan_shots(
    source: otio.schema.Timeline | PathLike, output: PathLike | None = None, options: FillOptions | None = None,
    *, absolute_paths: bool = False,
) -> ShotPlan:
    """Read and check everything a fill needs and return its shot jobs; nothing is generated or written.

    `fill` runs the plan here; `export-job` hands its jobs to a farm (with absolute_paths, so workers on
    shared storage find the media folder and the model).
    """
    options = options or FillOptions()
    check_fill_options(options)  # handles, jobs, kinds, limits: before anything is read or made
    timings: dict[str, float] = {}
    started = time.perf_counter()
    warnings: list[str] = []
    timeline, source_path = _load_edit(source, options.adapter_args, warnings)
    timings["read"] = time.perf_counter() - started
    output_path = pathlib.Path(output) if output is not None else None
    if output_path is not None:
        _check_output(output_path, source_path)
    if options.media_dir is not None:
        media_dir = pathlib.Path(options.media_dir)
    elif output_path is not None:
        media_dir = output_path.with_name(f"{output_path.stem}_media")
    else:
        raise UsageError("fill without an output path needs media_dir")
    check_paths(source_path, output_path, media_dir, options.contact_sheet)
    if options.relative_paths and output_path is None:
        raise UsageError("relative_paths needs an output path to be relative to")
    profile = codec_profile(options.codec)
    if options.contact_sheet is not None:
        sheet = pathlib.Path(options.contact_sheet)
        if sheet.suffix.lower() != ".png" or not sheet.parent.is_dir():
            raise UsageError(f"contact sheet {sheet} must be a .png in an existing folder")
    mark = time.perf_counter()
    model = load_model(options.model or sample_model_path())
    timings["model_load"] = time.perf_counter() - mark
    # Content credentials: a bad signer setting stops here, before any frame is made, and the local CA is
    # made once here rather than by several workers at once.
    can_sign, why_not = signing_available()
    if can_sign:
        configured_signer()
    else:
        log.warning("clips are not signed (%s); they are marked AI-generated in their metadata only", why_not)
    placeholders = find_placeholders(timeline, options.kinds)
    pairs, failed = _shot_specs(timeline, placeholders, model, options)
    model_path = model.path
    if absolute_paths:
        media_dir, model_path = media_dir.resolve(), pathlib.Path(model.path).resolve()
    jobs = [
        ShotJob(spec, str(media_dir / media_name(spec, profile, model.sha256, options.burn_in)), str(model_path), model.sha256,
                profile.name, options.burn_in)
        for _, spec in pairs
    ]
    check_shot_plan(jobs, profile, media_dir, output_path, options)  # codec sizes, frames, free space
    if output_path is not None:
        _check_format_holds(timeline, output_path, pairs, model, profile, media_dir, options.burn_in)
    return ShotPlan(timeline, source_path, output_path, media_dir, profile, model, pairs, failed,
                    _skipped(timeline, placeholders), jobs, timings, warnings)


def fill(
    source: otio.schema.Timeline | PathLike,
    output: PathLike | None = None,
    options: FillOptions | None = None,
    **overrides: Any,
) -> FillReport:
    """Fill every placeholder of `source` and return the report; with `output`, write the filled edit there.

    `source` is a path or an in-memory timeline (left untouched: the filled copy is report.timeline).
    Without `output`, media goes to `media_dir`, which is then required.
    """
    options = _options(options, overrides)
    started = time.perf_counter()
    plan = plan_shots(source, output, options)
    timeline, output_path, media_dir, profile, model = plan.timeline, plan.output_path, plan.media_dir, plan.profile, plan.model
    pairs, failed, skipped, jobs, timings = plan.pairs, plan.failed, plan.skipped, plan.jobs, plan.timings
    source_path = plan.source_path
    if output_path is not None:
        make_writable_folder(output_path.parent, "output folder")
    if pairs:
        make_writable_folder(media_dir)

    mark = time.perf_counter()
    if options.assemble_only:
        results = [finished_result(job) or _not_rendered(job) for job in jobs]
    else:
        with _progress_bar(sum(spec.total_frames for _, spec in pairs), options.progress) as bar:
            results = run_shots(jobs, workers=options.jobs, engine=options.engine, scheduler=options.scheduler, on_frames=bar.update)
    filled: list[FilledShot] = []
    generated_at = now_utc()
    identity = ModelIdentity.of_model(model)
    for (placeholder, spec), result in zip(pairs, results, strict=True):
        if not result.ok:
            failed.append(FailedShot(spec.item_path, spec.name, spec.kind, result.error))
            continue
        media = MediaInfo(pathlib.Path(result.media_path), result.frames, spec.rate, spec.width, spec.height,
                          profile.name, spec.timecode(0), result.media_sha256)
        try:
            url = media_url(media.path, output_path, options.relative_paths)
            link_placeholder(placeholder, spec, media, identity, url, generated_at,
                             contract_version=model.contract.contract_version)
        except PrevizError as error:
            raise error.with_shot(spec.name) from None
        filled.append(
            FilledShot(
                spec.item_path, spec.name, spec.kind, spec.class_label, spec.seed, spec.frames,
                (spec.handle_head, spec.handle_tail), spec.total_frames, rate_text(spec.rate),
                spec.timecode(spec.handle_head), str(media.path), media.sha256, result.seconds, result.status == "reused",
                spec.staging.to_dict() if spec.staging is not None else None,
                describe_fit(model.contract.frame_width, model.contract.frame_height, spec.width, spec.height),
            )
        )
    timings["generate_encode"] = time.perf_counter() - mark
    mark = time.perf_counter()
    if output_path is not None:
        written = write_timeline(timeline, output_path, bundle_media=options.bundle_media)
        bundled, linked_outside = list(written.bundled), list(written.linked_outside)
    else:
        bundled, linked_outside = [], []
    timings["write"] = time.perf_counter() - mark
    contact_sheet = None
    if options.contact_sheet is not None:
        contact_sheet = str(write_contact_sheet(options.contact_sheet, filled))
    timings["total"] = time.perf_counter() - started
    model_info = identity.to_dict() | {"path": str(model.path), "providers": ",".join(model.providers)}
    return FillReport(source_path, str(output_path) if output_path else None, model_info, filled, skipped, timings, failed,
                      timeline, contact_sheet, bundled, linked_outside, plan.warnings)
