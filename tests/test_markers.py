"""Issue 14: markers keep their record frames in every output format, and the output-format check judges the
filled edit (stand-in references), not the unfilled one."""

from __future__ import annotations

import pathlib
import re

import opentimelineio as otio
import pytest

from previz_plugin.pipeline import fill


def _marked_edit(rate: float = 24000 / 1001, slug: bool = False) -> otio.schema.Timeline:
    """V1: a plate, a dissolve, then a placeholder with two markers (0 and 10 in its own source time)."""
    def tr(start: float, duration: float) -> otio.opentime.TimeRange:
        return otio.opentime.TimeRange(otio.opentime.RationalTime(start, rate), otio.opentime.RationalTime(duration, rate))

    plate = otio.schema.Clip(name="plate", source_range=tr(86400 + 10, 48), media_reference=otio.schema.ExternalReference(
        target_url="file:///show/plate.mov", available_range=tr(86400, 200)))
    reference = (otio.schema.GeneratorReference(name="slug", generator_kind="SolidColor") if slug
                 else otio.schema.MissingReference())
    shot = otio.schema.Clip(name="SH020 walker", source_range=tr(0, 40), media_reference=reference)
    for name, at in (("start", 0), ("action", 10)):
        shot.markers.append(otio.schema.Marker(name=name, marked_range=tr(at, 1), color=otio.schema.MarkerColor.RED))
    track = otio.schema.Track(name="V1")
    track.extend([plate, otio.schema.Transition(name="dissolve", transition_type=otio.schema.TransitionTypes.SMPTE_Dissolve,
                                                in_offset=otio.opentime.RationalTime(6, rate),
                                                out_offset=otio.opentime.RationalTime(6, rate)), shot])
    timeline = otio.schema.Timeline(name="marked", global_start_time=otio.opentime.RationalTime(86400, rate))
    timeline.tracks.append(track)
    return timeline


def _record_frames(clip: otio.schema.Clip) -> list[int]:
    """Each marker's record frame: where it sits in the edit, via the clip's own source range."""
    start = clip.range_in_parent().start_time
    first = clip.trimmed_range().start_time
    return [round((start + (m.marked_range.start_time - first)).value) for m in clip.markers]


def test_markers_keep_their_record_frames_in_the_filled_otio(tiny_model, tmp_path: pathlib.Path) -> None:
    source = tmp_path / "marked.otio"
    otio.adapters.write_to_file(_marked_edit(), str(source))
    original = _marked_edit()
    before = _record_frames(original.tracks[0][2])
    fill(source, tmp_path / "out.otio", model=tiny_model, resolution="64x36")
    filled = otio.adapters.read_from_file(str(tmp_path / "out.otio"))
    shot = filled.tracks[0][2]
    assert shot.trimmed_range().start_time.value > 86400  # now counted in the media's timecode
    assert _record_frames(shot) == before
    for marker in shot.markers:  # inside the clip, not before its first frame
        assert shot.trimmed_range().contains(marker.marked_range.start_time)


def test_edl_markers_name_their_record_timecode(tiny_model, tmp_path: pathlib.Path) -> None:
    source = tmp_path / "marked.otio"
    otio.adapters.write_to_file(_marked_edit(), str(source))
    fill(source, tmp_path / "out.edl", model=tiny_model, resolution="64x36")
    text = (tmp_path / "out.edl").read_text()
    locators = re.findall(r"\* LOC: (\d\d:\d\d:\d\d:\d\d)", text)
    # The shot starts at record frame 48 of an edit at 01:00:00:00: markers at 48 and 58 -> 01:00:02:00, 01:00:02:10.
    assert locators and "00:00:00:00" not in locators
    assert set(locators) <= {"01:00:02:00", "01:00:02:10"}


def test_an_edl_whose_dissolve_leads_into_a_placeholder_at_source_zero_is_filled(tiny_model, tmp_path) -> None:
    source = tmp_path / "marked.otio"
    otio.adapters.write_to_file(_marked_edit(), str(source))
    report = fill(source, tmp_path / "out.edl", model=tiny_model, resolution="64x36")
    assert len(report.filled) == 1 and (tmp_path / "out.edl").stat().st_size > 0


def test_a_24_fps_edit_with_a_slug_placeholder_writes_fcpxml(tiny_model, tmp_path) -> None:
    pytest.importorskip("otio_fcpx_xml_adapter")
    source = tmp_path / "slug.otio"
    otio.adapters.write_to_file(_marked_edit(rate=24, slug=True), str(source))
    report = fill(source, tmp_path / "out.fcpxml", model=tiny_model, resolution="64x36")
    assert len(report.filled) == 1 and (tmp_path / "out.fcpxml").stat().st_size > 0


@pytest.mark.parametrize("suffix, rate, slug, package", [(".xml", 24000 / 1001, False, "otio_fcp_adapter"),
                                                          (".fcpxml", 24, True, "otio_fcpx_xml_adapter")])
def test_markers_keep_their_record_frames_through_fcp_xml_and_fcpxml(tiny_model, tmp_path, suffix, rate, slug,
                                                                     package) -> None:
    pytest.importorskip(package)
    original = _marked_edit(rate=rate, slug=slug)
    before = _record_frames(original.tracks[0][2])
    source = tmp_path / "marked.otio"
    otio.adapters.write_to_file(original, str(source))
    fill(source, tmp_path / f"out{suffix}", model=tiny_model, resolution="64x36")
    read_back = otio.adapters.read_from_file(str(tmp_path / f"out{suffix}"))
    marked = [clip for clip in read_back.find_clips() if clip.markers]
    assert len(marked) == 1 and _record_frames(marked[0]) == before
