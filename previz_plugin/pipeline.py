"""The fill, stage by stage: edit -> placeholders -> shot specs -> frames -> media files -> edit.

This is the one place that knows the order of the stages. Everything is validated before any frame is
made (edit, model, options, output path); the input edit is never modified; the output timeline is
written atomically, and only after every shot's media is complete.
"""

from __future__ import annotations

import os
import pathlib
import re
import sys
import time
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import opentimelineio as otio

from . import __version__
from .bundled import sample_model_path
from .encode import CodecProfile, MediaInfo, codec_profile, encode_clip
from .errors import PrevizError, UsageError
from .frame_synthesis import BurnIn, FrameSynthesizer
from .model_runtime import GeneratorModel, load_model
from .shot_spec import ShotSpec, build_shot_specs, parse_resolution, timeline_resolution
from .timeline_scan import PLACEHOLDER_KINDS, Placeholder, find_placeholders, read_timeline
from .timeline_write import write_timeline
from .timing import rate_text
from .write_back import IPTC_TRAINED_ALGORITHMIC_MEDIA, link_placeholder, media_url, now_utc

PathLike = str | os.PathLike


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


@dataclass(frozen=True)
class SkippedItem:
    item_path: tuple[int, ...]
    name: str
    reason: str


@dataclass
class FillReport:
    """What a fill did; `to_dict()` is the CLI's --json document."""

    input: str | None
    output: str | None
    model: dict[str, str]
    filled: list[FilledShot]
    skipped: list[SkippedItem]
    timings: dict[str, float]
    timeline: otio.schema.Timeline | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "output": self.output,
            "model": self.model,
            "filled": [vars(shot) | {"item_path": list(shot.item_path)} for shot in self.filled],
            "skipped": [vars(item) | {"item_path": list(item.item_path)} for item in self.skipped],
            "timings": {key: round(value, 3) for key, value in self.timings.items()},
            "tool": f"previz-plugin {__version__}",
        }


@dataclass
class ScanReport:
    input: str | None
    placeholders: list[Placeholder]
    specs: list[ShotSpec]
    skipped: list[SkippedItem]

    def to_dict(self) -> dict[str, Any]:
        return {
            "input": self.input,
            "placeholders": [
                spec.to_dict() | {"record_timecode": spec.timecode(spec.handle_head), "total_frames": spec.total_frames}
                for spec in self.specs
            ],
            "skipped": [vars(item) | {"item_path": list(item.item_path)} for item in self.skipped],
        }


# 1. edit ------------------------------------------------------------------------------------------
def _load_edit(source: otio.schema.Timeline | PathLike, adapter_args: Mapping[str, Any]) -> tuple[otio.schema.Timeline, str | None]:
    """Return a private copy of the edit to fill (the caller's timeline or file is never touched)."""
    if isinstance(source, otio.schema.Timeline):
        return source.deepcopy(), None
    if isinstance(source, (str, os.PathLike)):
        return read_timeline(source, **adapter_args), str(source)
    raise UsageError(f"fill needs a timeline or a path, got {type(source).__name__}")


def _check_output(output: pathlib.Path, source_path: str | None) -> None:
    writable = sorted(f".{suffix}" for suffix in otio.adapters.suffixes_with_defined_adapters(write=True))
    if output.suffix.lower() not in writable:
        raise UsageError(f"cannot write '{output.suffix or output.name}' edits; output formats: {', '.join(writable)}")
    if source_path is not None and output.resolve() == pathlib.Path(source_path).resolve():
        raise UsageError(f"output {output} is the input; the input edit is never overwritten, pick another name")
    folder = output.parent
    if not folder.is_dir():
        raise UsageError(f"output folder {folder} does not exist")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"output folder {folder} is not writable")
    if output.is_dir():
        raise UsageError(f"output {output} is a folder")


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
def _shot_specs(timeline: otio.schema.Timeline, placeholders: list[Placeholder], model: GeneratorModel | None, options: FillOptions) -> list[ShotSpec]:
    resolution = options.resolution
    if isinstance(resolution, str):
        resolution = parse_resolution(resolution)
    labels = model.contract.class_labels if model is not None else ("walk", "drive", "play")
    return build_shot_specs(
        placeholders,
        handles=options.handles,
        resolution=resolution,
        class_labels=labels,
        timeline_resolution=timeline_resolution(timeline),
    )


# 3-4. frames -> media ---------------------------------------------------------------------------
_UNSAFE = re.compile(r"[^\w.-]+", re.UNICODE)


def media_file_name(spec: ShotSpec, profile: CodecProfile) -> str:
    """Return a file name from the shot's name and id that cannot leave the media folder."""
    stem = _UNSAFE.sub("_", unicodedata.normalize("NFC", spec.name)).strip("._")[:60] or "shot"
    return f"{stem}_{spec.shot_id[:8]}{profile.extension}"


def _container_metadata(spec: ShotSpec, model: GeneratorModel) -> dict[str, str]:
    contract = model.contract
    return {
        "title": f"{spec.name} - AI-generated previz",
        "comment": f"AI-generated previz, not camera footage: {contract.model_name} {contract.model_version}, seed {spec.seed}, class {spec.class_label}",
        "description": "AI-generated placeholder video (trainedAlgorithmicMedia) made by previz-plugin",
        "ai_generated": "true",
        "digital_source_type": IPTC_TRAINED_ALGORITHMIC_MEDIA,
        "model": f"{contract.model_name} {contract.model_version}",
        "model_sha256": model.sha256,
        "seed": str(spec.seed),
        "previz_class": spec.class_label,
        "previz_shot_id": spec.shot_id,
        "encoder_tool": f"previz-plugin {__version__}",
    }


def render_shot(spec: ShotSpec, model: GeneratorModel, media_path: pathlib.Path, profile: CodecProfile, *, burn_in: bool = True, on_frame=None) -> MediaInfo:
    """Generate, scale, burn in and encode one shot's media (handles included) to media_path, atomically."""
    burn = BurnIn(shot_name=spec.name, timecode_of=spec.timecode) if burn_in else None
    synthesizer = FrameSynthesizer(spec.width, spec.height, profile.pix_fmt, burn)
    chunks = model.generate(spec.class_label, spec.seed, spec.total_frames)

    def counted():
        for frame in synthesizer.frames(chunks):
            if on_frame is not None:
                on_frame()
            yield frame

    return encode_clip(
        counted(),
        media_path,
        profile=profile,
        rate=spec.rate,
        width=spec.width,
        height=spec.height,
        start_timecode=spec.timecode(0),
        metadata=_container_metadata(spec, model),
        reel_name=f"PREVIZ_{spec.shot_id[:6]}".upper(),
        expected_frames=spec.total_frames,
    )


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
    specs = _shot_specs(timeline, placeholders, model, options)
    return ScanReport(source_path, placeholders, specs, _skipped(timeline, placeholders))


def _options(options: FillOptions | None, overrides: Mapping[str, Any]) -> FillOptions:
    options = options or FillOptions()
    if overrides:
        unknown = sorted(set(overrides) - set(FillOptions.__dataclass_fields__))
        if unknown:
            raise UsageError(f"unknown fill options {unknown}")
        options = FillOptions(**(vars(options) | dict(overrides)))
    return options


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
    timings: dict[str, float] = {}
    started = time.perf_counter()
    timeline, source_path = _load_edit(source, options.adapter_args)
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
    if options.relative_paths and output_path is None:
        raise UsageError("relative_paths needs an output path to be relative to")
    profile = codec_profile(options.codec)
    mark = time.perf_counter()
    model = load_model(options.model or sample_model_path())
    timings["model_load"] = time.perf_counter() - mark
    placeholders = find_placeholders(timeline, options.kinds)
    specs = _shot_specs(timeline, placeholders, model, options)
    skipped = _skipped(timeline, placeholders)
    if placeholders:
        try:
            media_dir.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UsageError(f"cannot create media folder {media_dir}: {error.strerror}") from None
        if not os.access(media_dir, os.W_OK):
            raise UsageError(f"media folder {media_dir} is not writable")

    mark = time.perf_counter()
    filled: list[FilledShot] = []
    generated_at = now_utc()
    with _progress_bar(sum(spec.total_frames for spec in specs), options.progress) as bar:
        for placeholder, spec in zip(placeholders, specs, strict=True):
            shot_started = time.perf_counter()
            media_path = media_dir / media_file_name(spec, profile)
            try:
                media = render_shot(spec, model, media_path, profile, burn_in=options.burn_in, on_frame=lambda: bar.update(1))
                url = media_url(media.path, output_path, options.relative_paths)
                link_placeholder(placeholder, spec, media, model, url, generated_at)
            except PrevizError as error:
                raise error.with_shot(spec.name) from None
            filled.append(
                FilledShot(
                    spec.item_path, spec.name, spec.kind, spec.class_label, spec.seed, spec.frames,
                    (spec.handle_head, spec.handle_tail), spec.total_frames, rate_text(spec.rate),
                    spec.timecode(spec.handle_head), str(media.path), media.sha256, round(time.perf_counter() - shot_started, 3),
                )
            )
    timings["generate_encode"] = time.perf_counter() - mark
    mark = time.perf_counter()
    if output_path is not None:
        write_timeline(timeline, output_path)
    timings["write"] = time.perf_counter() - mark
    timings["total"] = time.perf_counter() - started
    model_info = {"name": model.contract.model_name, "version": model.contract.model_version, "sha256": model.sha256,
                  "path": str(model.path), "providers": ",".join(model.providers)}
    return FillReport(source_path, str(output_path) if output_path else None, model_info, filled, skipped, timings, timeline)
