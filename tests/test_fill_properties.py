"""Property: for random edits (rates, lengths, nesting, transitions, overlays) every placeholder is filled
frame-exact, decoded back, and every other item comes out exactly as it went in."""

from __future__ import annotations

import pathlib
import tempfile

import opentimelineio as otio
from fill_checks import check_filled
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from previz_plugin.pipeline import fill
from previz_plugin.timeline_scan import find_placeholders

RATES = [24000 / 1001, 24.0, 25.0, 30000 / 1001, 50.0, 60000 / 1001, 60.0]


def _range(rate: float, frames: int, start: int = 0) -> otio.opentime.TimeRange:
    return otio.opentime.TimeRange(otio.opentime.RationalTime(start, rate), otio.opentime.RationalTime(frames, rate))


@st.composite
def edits(draw: st.DrawFn) -> otio.schema.Timeline:
    rate = draw(st.sampled_from(RATES))
    timeline = otio.schema.Timeline(name="random")
    if draw(st.booleans()):
        timeline.global_start_time = otio.opentime.RationalTime(round(3600 * rate), rate)
    lengths = st.integers(min_value=1, max_value=9)

    def plate(name: str, frames: int) -> otio.schema.Clip:
        reference = otio.schema.ExternalReference(target_url=f"file:///plates/{name}.mov", available_range=_range(rate, 500))
        return otio.schema.Clip(name=name, media_reference=reference, source_range=_range(rate, frames, draw(st.integers(0, 100))))

    def item(index: int):
        kind = draw(st.sampled_from(["plate", "gap", "missing", "generator", "marked", "disabled"]))
        frames = draw(lengths)
        if kind == "plate":
            return plate(f"plate{index}", frames)
        if kind == "gap":
            return otio.schema.Gap(source_range=_range(rate, frames))
        if kind == "generator":
            return otio.schema.Clip(name=f"slug{index}", media_reference=otio.schema.GeneratorReference(generator_kind="SolidColor"), source_range=_range(rate, frames))
        clip = otio.schema.Clip(name=f"{kind}{index} car", media_reference=otio.schema.MissingReference(), source_range=_range(rate, frames))
        if kind == "marked":
            clip.media_reference = otio.schema.ExternalReference(target_url="file:///boards/b.jpg", available_range=_range(rate, 1))
            clip.metadata["previz"] = {"class": draw(st.sampled_from(["walk", "drive", "play"]))}
        if kind == "disabled":
            clip.enabled = False
        return clip

    v1 = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    for index in range(draw(st.integers(1, 5))):
        if draw(st.integers(0, 5)) == 0:
            nested = otio.schema.Stack(name=f"nest{index}")
            inner = otio.schema.Track(name="inner", kind=otio.schema.TrackKind.Video)
            for inner_index in range(draw(st.integers(1, 3))):
                inner.append(item(100 * (index + 1) + inner_index))
            nested.append(inner)
            v1.append(nested)
        else:
            v1.append(item(index))
    # Transitions only between two clips that are long enough for the offsets.
    children = list(v1)
    for position in range(len(children) - 1, 0, -1):
        before, after = children[position - 1], children[position]
        if isinstance(before, otio.schema.Clip) and isinstance(after, otio.schema.Clip) and draw(st.booleans()):
            in_offset = draw(st.integers(0, before.duration().to_frames()))
            out_offset = draw(st.integers(0, after.duration().to_frames()))
            transition = otio.schema.Transition(in_offset=otio.opentime.RationalTime(in_offset, rate), out_offset=otio.opentime.RationalTime(out_offset, rate))
            v1.insert(position, transition)
    timeline.tracks.append(v1)
    if draw(st.booleans()):
        v2 = otio.schema.Track(name="V2", kind=otio.schema.TrackKind.Video)
        v2.append(otio.schema.Gap(source_range=_range(rate, draw(st.integers(0, 6)))))
        v2.append(plate("overlay", draw(lengths)))
        timeline.tracks.append(v2)
    audio = otio.schema.Track(name="A1", kind=otio.schema.TrackKind.Audio)
    audio.append(otio.schema.Gap(source_range=_range(rate, draw(lengths))))
    timeline.tracks.append(audio)
    return timeline


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(timeline=edits(), handles=st.integers(0, 3))
def test_random_edits_fill_frame_exact(timeline: otio.schema.Timeline, handles: int, tiny_model: pathlib.Path) -> None:
    with tempfile.TemporaryDirectory() as folder:
        output = pathlib.Path(folder) / "filled.otio"
        report = fill(timeline, output, model=tiny_model, resolution="32x18", handles=handles, progress=False)
        expected = find_placeholders(timeline)
        assert [shot.item_path for shot in report.filled] == [p.path for p in expected]
        filled = otio.adapters.read_from_file(str(output))
        check_filled(timeline, filled, report, output)
        assert find_placeholders(filled) == []  # nothing left to fill; a second fill fills nothing
        for shot in report.filled:
            assert shot.handles[0] <= max(handles, 9) and shot.handles[1] >= handles
