"""Edit -> placeholders (previz_plugin.timeline_scan), on timelines built here and on real files."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from previz_plugin.errors import TimelineError, UsageError
from previz_plugin.timeline_scan import (
    PLACEHOLDER_KINDS,
    find_placeholders,
    read_timeline,
    uses_drop_frame,
)
from previz_plugin.timing import parse_timecode, rate_from_float

RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange
VIDEO, AUDIO = otio.schema.TrackKind.Video, otio.schema.TrackKind.Audio
SAMPLES = Path(__file__).parent / "data" / "otio-samples"
RATES = (23.976, 24.0, 25.0, 29.97, 50.0, 59.94, 60.0)


# -- building real timelines ----------------------------------------------------------------------

def span(frames, rate, start=0):
    return TR(RT(start, rate), RT(frames, rate))


def clip(name, frames, rate=24.0, media="file", metadata=None, markers=(), enabled=True, start=0):
    reference = {
        "file": lambda: otio.schema.ExternalReference(target_url=f"/media/{name}.mov"),
        "missing": otio.schema.MissingReference,
        "generator": lambda: otio.schema.GeneratorReference(generator_kind="SolidColor"),
    }[media]()
    item = otio.schema.Clip(
        name=name, media_reference=reference, source_range=span(frames, rate, start), metadata=metadata or {}
    )
    item.enabled = enabled
    item.markers.extend(markers)
    return item


def gap(frames, rate=24.0, name=""):
    return otio.schema.Gap(name=name, source_range=span(frames, rate))


def track(*items, kind=VIDEO, name="", enabled=True):
    result = otio.schema.Track(name=name, kind=kind)
    result.enabled = enabled
    result.extend(items)
    return result


def stack(*tracks, name="", source_range=None):
    result = otio.schema.Stack(name=name, source_range=source_range)
    result.extend(tracks)
    return result


def timeline(*tracks, global_start=None, metadata=None):
    result = otio.schema.Timeline(name="edit", global_start_time=global_start, metadata=metadata or {})
    result.tracks.extend(tracks)
    return result


def marker(name, frame, frames=0, rate=24.0, comment=""):
    return otio.schema.Marker(name=name, marked_range=span(frames, rate, frame), comment=comment)


def hour(rate, drop=False):
    """The implied record start: the frame number of 01:00:00:00 at this rate."""
    return parse_timecode("01:00:00;00" if drop else "01:00:00:00", rate_from_float(rate))


def summary(placeholders):
    return [(p.kind, p.path, p.name) for p in placeholders]


# -- kinds, rates, record timecode ----------------------------------------------------------------

@pytest.mark.parametrize("rate", RATES)
def test_each_kind_with_exact_frames_and_record_start_at_every_rate(rate):
    edit = timeline(
        track(
            clip("A", 48, rate, "missing"),
            gap(30, rate),
            clip("B", 20, rate, "generator"),
            clip("C", 7, rate, metadata={"previz": {"class": "walk"}}),
            clip("D", 5, rate),  # real media, not a placeholder
        )
    )
    found = find_placeholders(edit)
    assert summary(found) == [
        ("missing", (0, 0), "A"),
        ("gap", (0, 1), "V1 gap 2"),
        ("generator", (0, 2), "B"),
        ("marked", (0, 3), "C"),
    ]
    base = hour(rate)
    assert [p.frames for p in found] == [48, 30, 20, 7]
    assert [p.record_start_frame for p in found] == [base, base + 48, base + 78, base + 98]
    assert all(p.rate == rate_from_float(rate) and isinstance(p.rate, Fraction) for p in found)
    assert all(p.track_name == "V1" and not p.drop_frame for p in found)


@pytest.mark.parametrize("rate", [29.97, 59.94])
@pytest.mark.parametrize(
    "metadata",
    [{"fcp_xml": {"timecode": {"displayformat": "DF"}}}, {"previz": {"drop_frame": True}}],
)
def test_drop_frame_edit_starts_at_one_hour_drop_frame(rate, metadata):
    edit = timeline(track(gap(10, rate), clip("A", 10, rate, "missing")), metadata=metadata)
    assert uses_drop_frame(edit)
    first, second = find_placeholders(edit)
    assert first.drop_frame and second.drop_frame
    assert first.record_start_frame == hour(rate, drop=True) == (107892 if rate == 29.97 else 215784)
    assert second.record_start_frame == first.record_start_frame + 10


def test_non_drop_frame_2997_starts_at_one_hour_non_drop():
    ndf = {"fcp_xml": {"timecode": {"displayformat": "NDF"}}}
    edit = timeline(track(clip("A", 10, 29.97, "missing")), metadata=ndf)
    (only,) = find_placeholders(edit)
    assert not only.drop_frame and only.record_start_frame == 108000


def test_drop_frame_flag_only_on_drop_frame_rates():
    edit = timeline(track(clip("A", 10, 25.0, "missing")), metadata={"previz": {"drop_frame": True}})
    assert not find_placeholders(edit)[0].drop_frame


def test_global_start_time_is_the_record_base():
    edit = timeline(track(gap(12, 23.976), clip("A", 10, 23.976, "missing")), global_start=RT(86313, 23.976))
    assert [p.record_start_frame for p in find_placeholders(edit)] == [86313, 86325]
    zero = timeline(track(clip("A", 10, 25.0, "missing")), global_start=RT(0, 25))
    assert find_placeholders(zero)[0].record_start_frame == 0


def test_item_is_the_same_object_and_metadata_is_its_own():
    target = clip("A", 10, 24.0, "missing", metadata={"previz": {"seed": 5}})
    edit = timeline(track(target))
    (only,) = find_placeholders(edit)
    assert only.item is target is edit.tracks[0][0]
    assert only.metadata["previz"]["seed"] == 5


# -- what is and is not a hole ----------------------------------------------------------------

def test_overlay_fully_covering_a_gap_hides_it_and_partial_cover_does_not():
    edit = timeline(
        track(clip("a", 10), gap(10), clip("b", 10), gap(10), clip("c", 10)),  # gaps at 10-20, 30-40
        track(gap(8), clip("title", 14), gap(10), clip("lower third", 5)),  # 8-22 covers; 32-37 partial
    )
    assert summary(find_placeholders(edit)) == [("gap", (0, 3), "V1 gap 4")]


def test_adjacent_overlay_clips_and_overlays_on_any_upper_track_cover_together():
    edit = timeline(
        track(clip("a", 10), gap(10)),
        track(gap(10), clip("title 1", 5)),
        track(gap(15), clip("title 2", 5)),
    )
    assert find_placeholders(edit) == []


def test_disabled_overlays_do_not_cover():
    edit = timeline(
        track(gap(10)),
        track(clip("off", 10, enabled=False)),
        track(clip("track off", 10), enabled=False),
        track(gap(10)),  # a gap above covers nothing
    )
    assert summary(find_placeholders(edit)) == [("gap", (0, 0), "V1 gap 1")]


def test_gaps_on_upper_tracks_and_anything_on_audio_are_never_placeholders():
    edit = timeline(
        track(clip("a", 30)),
        track(gap(10), clip("over", 5, media="missing"), gap(15)),
        track(gap(10), clip("dialogue", 10, media="missing"), kind=AUDIO),
    )
    assert summary(find_placeholders(edit)) == [("missing", (1, 1), "over")]


def test_zero_length_gaps_disabled_items_and_generated_clips_are_skipped():
    generated = {"previz": {"generated": True, "class": "walk"}}
    edit = timeline(
        track(
            gap(0),
            clip("off", 10, media="missing", enabled=False),
            clip("filled", 10, media="missing", metadata=generated),
            clip("filled too", 10, metadata=generated),
            clip("todo", 10, metadata={"previz": {"generated": False}}),
        ),
        track(clip("hidden", 10, media="missing"), enabled=False),
    )
    assert summary(find_placeholders(edit)) == [("marked", (0, 4), "todo")]


def test_missing_and_marked_is_missing_and_keeps_its_metadata():
    edit = timeline(track(clip("both", 10, media="missing", metadata={"previz": {"class": "drive"}})))
    (only,) = find_placeholders(edit)
    assert only.kind == "missing" and only.metadata["previz"]["class"] == "drive"


def test_kinds_filter_and_unknown_kinds_are_named():
    edit = timeline(track(clip("m", 5, media="missing"), gap(5), clip("g", 5, media="generator")))
    assert [p.kind for p in find_placeholders(edit, kinds=("gap", "generator"))] == ["gap", "generator"]
    assert [p.kind for p in find_placeholders(edit, kinds="missing")] == ["missing"]
    with pytest.raises(UsageError, match="'holes'.*gap, missing, generator, marked"):
        find_placeholders(edit, kinds=("gap", "holes"))
    with pytest.raises(UsageError):
        find_placeholders(edit.tracks)


# -- nesting, transitions, markers, names -------------------------------------------------------

def test_nested_stacks_three_deep_give_paths_and_record_starts_through_the_nesting():
    deepest = stack(track(gap(4), clip("deep", 6, media="missing")), name="depth 3")
    middle = stack(track(clip("mid", 5, media="missing"), deepest), track(gap(20)), name="depth 2")
    # Trimmed: the nested stack shows its own frames 3..17, so its content starts 3 frames early.
    outer = stack(track(gap(2), middle), name="depth 1", source_range=span(14, 24.0, 3))
    edit = timeline(track(clip("lead", 10), outer, clip("tail", 8, media="missing")))
    found = find_placeholders(edit)
    assert summary(found) == [
        ("missing", (0, 1, 0, 1, 0, 0), "mid"),
        ("gap", (0, 1, 0, 1, 0, 1, 0, 0), "V1 gap 2.1.2.1.2.1.1"),
        ("missing", (0, 1, 0, 1, 0, 1, 0, 1), "deep"),
        ("missing", (0, 2), "tail"),
    ]
    base = hour(24.0)
    # lead 10 frames, then outer content at 10 - 3; middle after the 2-frame gap; deepest after "mid".
    assert [p.record_start_frame - base for p in found] == [9, 14, 18, 24]
    # The depth-1 gap (frames 7..9) is trimmed away by the outer stack: no hole, not a placeholder.
    for placeholder in found:  # and OTIO's own (float) mapping agrees
        item = placeholder.item
        start = item.transformed_time(item.trimmed_range().start_time, edit.tracks)
        assert round(start.value) == placeholder.record_start_frame - base


def test_gap_in_a_nested_stack_is_covered_by_its_own_upper_track_or_the_outer_one():
    inner = stack(track(gap(10), gap(10)), track(clip("inner title", 10)))
    edit = timeline(track(inner, gap(10)), track(gap(10), clip("outer title", 10)))
    assert summary(find_placeholders(edit)) == [("gap", (0, 1), "V1 gap 2")]


def test_nested_stack_on_an_upper_track_holds_no_gap_placeholders():
    edit = timeline(track(clip("plate", 10)), track(stack(track(gap(10), clip("x", 3, media="missing")))))
    assert summary(find_placeholders(edit)) == [("missing", (1, 0, 0, 1), "x")]


def test_transitions_give_head_and_tail_in_frames_of_the_item():
    edit = timeline(
        track(
            clip("A", 40, 25.0, "missing"),
            otio.schema.Transition(in_offset=RT(6, 25), out_offset=RT(4, 25)),
            clip("B", 40, 25.0, "missing"),
            otio.schema.Transition(in_offset=RT(20, 25), out_offset=RT(30, 25)),
            gap(50, 25.0),
        )
    )
    a, b, hole = find_placeholders(edit)
    assert (a.transition_head, a.transition_tail) == (0, 4)
    assert (b.transition_head, b.transition_tail) == (6, 30)
    assert (hole.transition_head, hole.transition_tail) == (20, 0)
    assert hole.record_start_frame == hour(25.0) + 80  # transitions take no time of their own


def test_marker_notes_from_the_item_and_overlapping_track_and_timeline_markers():
    edit = timeline(
        track(
            clip("A", 10, media="missing", markers=[marker("car drives past", 2, comment="red car")]),
            clip("B", 10, media="missing"),
        )
    )
    edit.tracks[0].markers.append(marker("late", 12))  # on B only
    edit.tracks[0].markers.append(marker("span both", 8, frames=4))
    edit.tracks.markers.append(marker("edit note", 0, frames=5))  # on A only
    a, b = find_placeholders(edit)
    assert a.marker_notes == ("car drives past", "red car", "span both", "edit note")
    assert b.marker_notes == ("span both", "late")  # in time order


@pytest.mark.parametrize("name", ["../../etc/passwd", 'SH"03"\\<x>', "ショット 010 — café", " ", "\n"])
def test_hostile_names_flow_through_unchanged(name):
    edit = timeline(track(clip(name, 5, media="missing"), gap(5, name=name)))
    found = find_placeholders(edit)
    if name.strip():
        assert [p.name for p in found] == [name, name]
    else:  # a blank name gets the track's: "V1 clip 1"
        assert [p.name for p in found] == ["V1 clip 1", "V1 gap 2"]


def test_order_is_track_then_item_depth_first():
    edit = timeline(
        track(
            clip("1", 5, media="missing"),
            stack(track(clip("2", 5, media="missing"))),
            clip("3", 5, media="missing"),
        ),
        track(clip("4", 5, media="missing")),
    )
    assert [p.name for p in find_placeholders(edit)] == ["1", "2", "3", "4"]


def test_a_clip_with_no_length_is_a_timeline_error_naming_it():
    broken = otio.schema.Clip(name="no length", media_reference=otio.schema.MissingReference())
    with pytest.raises(TimelineError, match="no length"):
        find_placeholders(timeline(track(broken)))


# -- random timelines ---------------------------------------------------------------------------

@st.composite
def random_edits(draw):
    """A random V1 (clips, gaps, a nested stack, transitions) plus a V2 overlay, and what to expect."""
    rate = draw(st.sampled_from(RATES))
    global_start = draw(st.sampled_from([None, 0, 3600]))
    v1, expected, covered = track(), {}, set()
    position = 0  # in frames: the independent record-position count

    def leaf(entry, where, path, window):
        kind, frames = entry
        if kind == "gap":
            item = gap(frames, rate)
            visible = set(range(where, where + frames)) & window
            hole = bool(visible) and not visible <= covered
            if hole:
                expected[path] = ("gap", where, frames)
        else:
            item = clip(f"c{len(expected)}-{path}", frames, rate, kind)
            if kind != "file":
                expected[path] = (kind, where, frames)
        return item

    entry = st.tuples(st.sampled_from(["file", "missing", "gap", "nested"]), st.integers(0, 30))
    entries = draw(st.lists(entry, min_size=1, max_size=7))
    overlay = draw(st.lists(st.tuples(st.sampled_from(["file", "gap"]), st.integers(1, 30)), max_size=5))
    v2, at = track(), 0
    for kind, frames in overlay:
        v2.append(clip("over", frames, rate) if kind == "file" else gap(frames, rate))
        if kind == "file":
            covered.update(range(at, at + frames))
        at += frames
    everything = set(range(-10_000, 10_000))
    for kind, frames in entries:
        if kind == "gap" or (kind in ("file", "missing") and frames > 0):
            if kind != "gap" and v1 and isinstance(v1[-1], otio.schema.Clip) and draw(st.booleans()):
                v1.append(otio.schema.Transition(in_offset=RT(1, rate), out_offset=RT(2, rate)))
            v1.append(leaf((kind, frames), position, (0, len(v1)), everything))
            position += frames
        elif kind == "nested":
            inner_entry = st.tuples(st.sampled_from(["missing", "gap", "file"]), st.integers(1, 10))
            inner_entries = draw(st.lists(inner_entry, min_size=1, max_size=3))
            content = sum(frames for _, frames in inner_entries)
            trim_start = draw(st.integers(0, content - 1))
            trim_length = draw(st.integers(1, content - trim_start))
            nested_path = (0, len(v1))
            inner, inner_at = track(), position - trim_start
            window = set(range(position, position + trim_length))
            for inner_kind, inner_frames in inner_entries:
                inner.append(leaf((inner_kind, inner_frames), inner_at, nested_path + (0, len(inner)), window))
                inner_at += inner_frames
            v1.append(stack(inner, source_range=span(trim_length, rate, trim_start)))
            position += trim_length
    start = None if global_start is None else RT(global_start, rate)
    edit = timeline(v1, v2, otio.schema.Track(kind=AUDIO), global_start=start)
    base = hour(rate) if global_start is None else global_start
    return edit, rate, base, position, expected


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(random_edits())
def test_random_edits_match_an_independent_count(case):
    edit, rate, base, v1_frames, expected = case
    found = find_placeholders(edit)
    assert {p.path: (p.kind, p.record_start_frame - base, p.frames) for p in found} == expected
    exact = rate_from_float(rate)
    for placeholder in found:
        duration = placeholder.item.duration()
        assert placeholder.frames == duration.value and placeholder.rate == exact
    v1 = edit.tracks[0]
    assert v1_frames == sum(item.duration().value for item in v1 if not isinstance(item, otio.schema.Transition))
    assert v1_frames == round(v1.duration().value)


# -- reading files --------------------------------------------------------------------------------

def test_read_timeline_errors_are_one_clean_line(tmp_path):
    cases = {
        "missing.otio": None,
        "empty.otio": "",
        "truncated.otio": timeline(track(clip("A", 5))).to_json_string()[:200],
        "garbage.otio": "not json at all {",
        "notes.txt": "hello",
        "clip.otio": clip("A", 5).to_json_string(),
    }
    for name, text in cases.items():
        if text is not None:
            (tmp_path / name).write_text(text)
    (tmp_path / "folder.otio").mkdir()
    messages = {}
    for name in [*cases, "folder.otio"]:
        with pytest.raises(TimelineError) as caught:
            read_timeline(tmp_path / name)
        messages[name] = str(caught.value)
        assert "\n" not in messages[name] and name in messages[name]
    assert "no such file" in messages["missing.otio"]
    assert "empty" in messages["empty.otio"]
    assert ".otio" in messages["notes.txt"] and ".txt" in messages["notes.txt"]
    assert "Clip, not a timeline" in messages["clip.otio"]
    assert "folder" in messages["folder.otio"]


def test_read_timeline_takes_the_one_timeline_of_a_collection(tmp_path):
    one = otio.schema.SerializableCollection(children=[clip("loose", 5), timeline(track(gap(5)))])
    two = otio.schema.SerializableCollection(children=[timeline(), timeline()])
    otio.adapters.write_to_file(one, str(tmp_path / "one.otio"))
    otio.adapters.write_to_file(two, str(tmp_path / "two.otio"))
    assert isinstance(read_timeline(tmp_path / "one.otio"), otio.schema.Timeline)
    with pytest.raises(TimelineError, match="2 timelines"):
        read_timeline(str(tmp_path / "two.otio"))


def test_drop_frame_edl_is_noted_and_rate_passes_through(tmp_path):
    pytest.importorskip("otio_cmx3600_adapter")
    edl = tmp_path / "df.edl"
    edl.write_text(
        "TITLE: df\nFCM: DROP FRAME\n"
        "001  AX V     C        01:00:00;00 01:00:01;00 01:00:00;00 01:00:01;00\n"
        "* FROM CLIP NAME:  shot_010\n"
    )
    edit = read_timeline(edl, rate=29.97)
    assert uses_drop_frame(edit)
    (only,) = find_placeholders(edit)
    assert only.drop_frame and only.rate == Fraction(30000, 1001)
    assert only.record_start_frame == 107892 and only.frames == 30


ADAPTERS = {  # suffix -> the module of the adapter package that reads it
    ".edl": "otio_cmx3600_adapter",
    ".xml": "otio_fcp_adapter",
    ".fcpxml": "otio_fcpx_xml_adapter",
    ".aaf": "otio_aaf_adapter",
}
SAMPLE_FILES = sorted(path for path in SAMPLES.rglob("*") if path.suffix in {".otio", *ADAPTERS})
# What a person sees in each edit (checked by eye against the files): placeholders by kind.
EXPECTED_KINDS = {
    "clip_example.otio": ["gap", "missing", "gap"],
    "generator_reference_test.otio": ["generator"],
    "multitrack.otio": ["missing", "missing", "gap", "missing", "gap", "missing", "missing"],
    "nested_example.otio": ["missing"] * 7,
    "simple_cut.otio": [],
    "transition_test.otio": ["missing"] * 3,
    "gaps.otio": ["gap"],
    "2997fps.aaf": [],
    "nesting_test.aaf": [],
    "simple.aaf": [],
    "transitions.aaf": ["gap"],
    "25fps.edl": ["missing"] * 4,
    "dissolve_test.edl": ["missing"] * 3,
    "gap_test.edl": ["missing", "gap", "missing", "gap", "missing"],
    "premiere_example.edl": ["missing"] * 2,
    "hiero_xml_export.xml": ["gap", "gap", "missing"],
    "premiere_example.xml": ["gap", "generator"],
    "premiere_generators.xml": ["generator"] * 6,
}


def test_samples_are_checked_in_with_their_licence():
    assert (SAMPLES / "SOURCES.md").is_file() and len(SAMPLE_FILES) == len(EXPECTED_KINDS) + 1


@pytest.mark.parametrize("path", SAMPLE_FILES, ids=lambda path: f"{path.parent.name}/{path.name}")
def test_real_sample_files_scan_cleanly(path):
    if path.suffix in ADAPTERS:
        pytest.importorskip(ADAPTERS[path.suffix])
    args = {"rate": 25} if path.name == "25fps.edl" else {}
    if path.name == "fcpx_clips.fcpxml":  # a clip library: no sequence in it
        with pytest.raises(TimelineError, match="0 timelines"):
            read_timeline(path)
        return
    found = find_placeholders(read_timeline(path, **args))
    assert [p.kind for p in found] == EXPECTED_KINDS[path.name]
    for placeholder in found:
        assert placeholder.frames > 0 and placeholder.record_start_frame >= 0
        assert placeholder.kind in PLACEHOLDER_KINDS and placeholder.name
    json.dumps([p.name for p in found])  # names are plain text


def test_sample_specifics():
    pytest.importorskip("otio_aaf_adapter")
    pytest.importorskip("otio_cmx3600_adapter")
    (hole,) = find_placeholders(read_timeline(SAMPLES / "otio-aaf-adapter" / "transitions.aaf"))
    assert (hole.transition_head, hole.transition_tail, hole.record_start_frame) == (12, 24, 86400 + 117 + 77)
    # The CMX reader keeps the record-in on the track: 00:59:53:11 stays 00:59:53:11.
    first, _ = find_placeholders(read_timeline(SAMPLES / "otio-cmx3600-adapter" / "premiere_example.edl"))
    assert first.record_start_frame == parse_timecode("00:59:53:11", Fraction(24))
    shots = find_placeholders(read_timeline(SAMPLES / "otio-cmx3600-adapter" / "25fps.edl", rate=25))
    assert [p.frames for p in shots] == [161, 200, 86, 49] and shots[0].rate == 25
