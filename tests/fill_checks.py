"""Checks shared by the fill tests: decode media back and compare the filled edit with the input."""

from __future__ import annotations

import pathlib
import urllib.parse
import urllib.request
from fractions import Fraction

import av
import numpy as np
import opentimelineio as otio

from previz_plugin import timing
from previz_plugin.credentials import read_credentials, signing_available
from previz_plugin.timeline_scan import uses_drop_frame
from previz_plugin.timing import frames_at, rate_from_float


def _media_path(url: str, output: pathlib.Path) -> pathlib.Path:
    if url.startswith("file://"):
        return pathlib.Path(urllib.request.url2pathname(urllib.parse.urlparse(url).path))
    return (output.parent / urllib.parse.unquote(url)).resolve()


def _decode(path: pathlib.Path) -> tuple[list[np.ndarray], Fraction, dict[str, str], str | None]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rate = stream.average_rate
        timecode = stream.metadata.get("timecode")
        for other in container.streams:
            timecode = timecode or other.metadata.get("timecode")
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
        return frames, Fraction(rate), dict(container.metadata), timecode


def _items_by_path(timeline: otio.schema.Timeline) -> dict[tuple[int, ...], otio.core.Composable]:
    found: dict[tuple[int, ...], otio.core.Composable] = {}

    def walk(composition: otio.core.Composition, path: tuple[int, ...]) -> None:
        for index, child in enumerate(composition):
            found[path + (index,)] = child
            if isinstance(child, otio.core.Composition):
                walk(child, path + (index,))

    walk(timeline.tracks, ())
    return found


def check_filled(source: otio.schema.Timeline, filled: otio.schema.Timeline, report, output: pathlib.Path | None = None) -> None:
    """Every placeholder filled frame-exact, decoded back; every other item exactly as it was."""
    before, after = _items_by_path(source), _items_by_path(filled)
    filled_paths = {tuple(shot.item_path) for shot in report.filled}
    assert set(before) == set(after)
    for path, item in before.items():
        if path in filled_paths or any(path[: len(p)] == p for p in filled_paths if len(p) < len(path)):
            continue
        if isinstance(item, otio.core.Composition):
            assert item.duration() == after[path].duration(), path
            continue
        assert otio.adapters.write_to_string(item, "otio_json") == otio.adapters.write_to_string(after[path], "otio_json"), path
    for track_before, track_after in zip(source.tracks, filled.tracks, strict=True):
        assert track_before.duration() == track_after.duration()
    for shot in report.filled:
        clip = after[tuple(shot.item_path)]
        old = before[tuple(shot.item_path)]
        assert isinstance(clip, otio.schema.Clip)
        assert clip.duration() == old.duration()
        assert clip.range_in_parent() == old.range_in_parent()
        reference = clip.media_reference
        assert isinstance(reference, otio.schema.ExternalReference)
        meta = clip.metadata["previz"]
        assert meta["generated"] is True and meta["ai_generated"] is True
        assert meta["seed"] == shot.seed and meta["class"] == shot.class_label
        assert len(meta["model"]["sha256"]) == 64
        if isinstance(old, otio.schema.Clip):
            kept = [r for k, r in clip.media_references().items() if k != clip.active_media_reference_key]
            assert [otio.adapters.write_to_string(r, "otio_json") for r in kept] == [
                otio.adapters.write_to_string(old.media_reference, "otio_json")
            ]
        media = _media_path(reference.target_url, output or pathlib.Path("."))
        assert media.is_file()
        frames, rate, container_meta, timecode = _decode(media)
        rate_exact = rate_from_float(clip.duration().rate)
        assert rate == rate_exact
        assert len(frames) == shot.total_frames == reference.available_range.duration.value
        assert reference.available_range.duration.rate == clip.duration().rate
        # The clip shows the media's frames after the head handle, exactly its own length.
        assert clip.source_range.start_time - reference.available_range.start_time == otio.opentime.RationalTime(shot.handles[0], clip.duration().rate)
        assert clip.source_range.duration.value == shot.frames
        start = reference.available_range.start_time
        drop = uses_drop_frame(source) and rate_exact in (Fraction(30000, 1001), Fraction(60000, 1001))
        assert timecode == timing.timecode(frames_at(start, rate_exact), rate_exact, drop)
        assert container_meta.get("ai_generated") == "true"
        if signing_available()[0]:
            credentials = read_credentials(media)
            assert credentials.valid and credentials.ai_generated, credentials.problems
            assert credentials.seed == shot.seed and credentials.model["sha256"] == meta["model"]["sha256"]
        assert "trainedAlgorithmicMedia" in container_meta.get("digital_source_type", "")
        # Real moving pictures: consecutive frames differ somewhere, and the picture is not flat.
        assert len(frames) == 1 or max(np.abs(frames[i + 1].astype(int) - frames[i].astype(int)).mean() for i in range(len(frames) - 1)) > 0
        assert frames[len(frames) // 2].std() > 1
