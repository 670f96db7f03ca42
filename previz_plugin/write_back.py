"""Media files -> edit: each placeholder becomes a clip linked to its generated media, with provenance.

Only placeholders change. A gap becomes a clip of the same length at the same place; a placeholder clip
keeps everything it had (name, markers, effects, metadata) and keeps its original media reference as a
second reference, so nothing is lost. Everything else in the timeline is left exactly as it was.
"""

from __future__ import annotations

import datetime
import os
import pathlib
import urllib.parse
from collections.abc import Mapping
from typing import Any

import opentimelineio as otio

from . import __version__
from .encode import MediaInfo
from .errors import TimelineError
from .provenance import IPTC_TRAINED_ALGORITHMIC_MEDIA, ModelIdentity
from .shot_spec import ShotSpec
from .timeline_scan import Placeholder
from .timing import rate_text

METADATA_NAMESPACE = "previz"
REFERENCE_KEY = "previz"


def media_url(media_path: pathlib.Path, output_path: pathlib.Path | None, relative: bool) -> str:
    """Return the reference URL: an absolute percent-encoded file:// URL, or a path relative to the output."""
    media_path = media_path.resolve()
    if relative:
        if output_path is None:
            raise TimelineError("relative media paths need an output timeline path to be relative to")
        relative_path = os.path.relpath(media_path, output_path.resolve().parent)
        return urllib.parse.quote(pathlib.Path(relative_path).as_posix(), safe="/")
    return media_path.as_uri()


def provenance(spec: ShotSpec, media: MediaInfo, model: ModelIdentity, contract_version: str,
               generated_at: str) -> dict[str, Any]:
    """Return what the clip's `previz` metadata records about how its media was made.

    contract_version is the model contract's ("1", "2"); version 2 models take staging controls.
    """
    return {
        "generated": True,
        "ai_generated": True,
        "digital_source_type": IPTC_TRAINED_ALGORITHMIC_MEDIA,
        "kind": spec.kind,
        "shot_id": spec.shot_id,
        "spec_hash": spec.spec_hash(),
        "class": spec.class_label,
        "seed": spec.seed,
        "staging": spec.staging.to_dict() if spec.staging is not None else None,
        "model_has_controls": int(contract_version) >= 2,
        "frames": spec.frames,
        "handles": [spec.handle_head, spec.handle_tail],
        "size": [spec.width, spec.height],
        "rate": rate_text(spec.rate),
        "model": model.to_dict(),
        "contract_version": contract_version,
        "tool": f"previz-plugin {__version__}",
        "generated_at": generated_at,
        "media_sha256": media.sha256,
    }


def now_utc() -> str:
    return datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0).isoformat()


def _reference(spec: ShotSpec, media: MediaInfo, url: str) -> otio.schema.ExternalReference:
    rate = float(spec.rate)
    available = otio.opentime.TimeRange(
        otio.opentime.RationalTime(spec.media_start_frame, rate), otio.opentime.RationalTime(media.frames, rate)
    )
    return otio.schema.ExternalReference(target_url=url, available_range=available)


def _source_range(spec: ShotSpec) -> otio.opentime.TimeRange:
    rate = float(spec.rate)
    return otio.opentime.TimeRange(
        otio.opentime.RationalTime(spec.record_start_frame, rate), otio.opentime.RationalTime(spec.frames, rate)
    )


def _moved(marker: otio.schema.Marker, shift: otio.opentime.RationalTime) -> otio.schema.Marker:
    """A copy of the marker moved by `shift` in the clip's source time."""
    moved = marker.clone()
    span = moved.marked_range
    moved.marked_range = otio.opentime.TimeRange(span.start_time + shift.rescaled_to(span.start_time), span.duration)
    return moved


def _unused_key(references: Mapping[str, Any]) -> str:
    key, number = REFERENCE_KEY, 1
    while key in references:
        number += 1
        key = f"{REFERENCE_KEY}_{number}"
    return key


def link_placeholder(
    placeholder: Placeholder,
    spec: ShotSpec,
    media: MediaInfo,
    model: ModelIdentity,
    url: str,
    generated_at: str,
    *,
    contract_version: str,
) -> otio.schema.Clip:
    """Turn one placeholder (in the timeline being written) into a clip linked to `media`; return the clip.

    model and contract_version (the model contract's, "2" for a model with staging controls) go into
    the clip's provenance.
    """
    item = placeholder.item
    if media.frames != spec.total_frames:
        raise TimelineError(f"media has {media.frames} frames, the shot needs {spec.total_frames}").with_shot(spec.name)
    reference = _reference(spec, media, url)
    record = provenance(spec, media, model, contract_version, generated_at)
    new_range = _source_range(spec)
    if isinstance(item, otio.schema.Gap):
        clip = otio.schema.Clip(name=item.name or spec.name, source_range=new_range)
        clip.set_media_references({REFERENCE_KEY: reference}, REFERENCE_KEY)
        clip.metadata.update(dict(item.metadata))
        shift = new_range.start_time - item.trimmed_range().start_time
        for marker in list(item.markers):
            clip.markers.append(_moved(marker, shift))
        for effect in list(item.effects):
            clip.effects.append(effect.clone())
        clip.metadata[METADATA_NAMESPACE] = record
        parent = item.parent()
        # The scan's path ends at the gap's index in its parent; Composition.index() would search, and
        # searching for every gap makes linking an edit of 10,000 gaps quadratic (a minute).
        index = placeholder.path[-1] if placeholder.path else -1
        if not (0 <= index < len(parent) and parent[index] is item):
            index = parent.index(item)
        parent[index] = clip
        return clip
    if not isinstance(item, otio.schema.Clip):
        raise TimelineError(f"placeholder is a {type(item).__name__}, not a gap or clip").with_shot(spec.name)
    references = dict(item.media_references())
    key = _unused_key(references)
    references[key] = reference
    original_range = item.source_range
    shift = new_range.start_time - item.trimmed_range().start_time
    # The original reference keeps its own key; the clip's range now counts in the new media's timecode,
    # and so do its markers: each keeps its place in the shot, so its record frame.
    item.set_media_references(references, key)
    item.source_range = new_range
    for index, marker in enumerate(list(item.markers)):
        item.markers[index] = _moved(marker, shift)
    existing = item.metadata.get(METADATA_NAMESPACE)
    merged = dict(existing) if isinstance(existing, Mapping) else {}
    merged.update(record)
    if original_range is not None:
        merged["original_source_range"] = otio.core.serialize_json_to_string(original_range, indent=-1)
    item.metadata[METADATA_NAMESPACE] = merged
    return item
