"""Placeholder -> ShotSpec (previz_plugin.shot_spec)."""

from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import opentimelineio as otio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from previz_plugin.errors import ShotSpecError, UsageError
from previz_plugin.shot_spec import (
    CLASS_WORDS,
    DEFAULT_HANDLES,
    ShotSpec,
    build_shot_spec,
    build_shot_specs,
    parse_resolution,
    timeline_resolution,
)
from previz_plugin.timeline_scan import Placeholder, find_placeholders, read_timeline
from previz_plugin.timing import timecode

RT = otio.opentime.RationalTime
TR = otio.opentime.TimeRange
SAMPLES = Path(__file__).parent / "data" / "otio-samples"
NTSC_30 = Fraction(30000, 1001)


def placeholder(name="SH010", *, kind="missing", rate=Fraction(24), frames=48, record_start=86400, head=0,
                tail=0, notes=(), metadata=None, path=(0, 3), drop_frame=False):
    """A Placeholder as the scan makes it, around a real clip."""
    item = otio.schema.Clip(name=name, source_range=TR(RT(0, float(rate)), RT(frames, float(rate))))
    return Placeholder(
        item=item, kind=kind, path=path, track_name="V1", name=name, rate=rate, frames=frames,
        record_start_frame=record_start, transition_head=head, transition_tail=tail,
        marker_notes=tuple(notes), metadata=metadata if metadata is not None else {}, drop_frame=drop_frame,
    )


def edit_with_shots():
    """A small real edit: a missing shot, a gap, a marked shot after a dissolve, at 23.976."""
    def clip(name, frames, reference, metadata=None):
        return otio.schema.Clip(name=name, media_reference=reference, metadata=metadata or {},
                                source_range=TR(RT(0, 23.976), RT(frames, 23.976)))

    track = otio.schema.Track(name="V1")
    track.extend([
        clip("SH010 dog park", 40, otio.schema.MissingReference()),
        otio.schema.Gap(source_range=TR(RT(0, 23.976), RT(30, 23.976))),
        clip("SH030", 20, otio.schema.ExternalReference(target_url="/plate.mov")),
        otio.schema.Transition(in_offset=RT(16, 23.976), out_offset=RT(16, 23.976)),
        clip("SH040", 24, otio.schema.ExternalReference(target_url="/x.mov"), {"previz": {"seed": 7}}),
    ])
    edit = otio.schema.Timeline(name="edit")
    edit.tracks.append(track)
    return edit


# -- frames, handles, timecode ------------------------------------------------------------------

def test_defaults_handles_and_media_timecode():
    spec = build_shot_spec(placeholder())
    assert (spec.handle_head, spec.handle_tail, spec.frames) == (DEFAULT_HANDLES, DEFAULT_HANDLES, 48)
    assert spec.total_frames == 72 and spec.media_start_frame == 86400 - 12
    assert spec.timecode(0) == "00:59:59:12" and spec.timecode(12) == "01:00:00:00"
    assert (spec.width, spec.height) == (1920, 1080)


def test_handles_grow_to_the_transitions():
    spec = build_shot_spec(placeholder(head=6, tail=30), handles=8)
    assert (spec.handle_head, spec.handle_tail) == (8, 30)
    assert build_shot_spec(placeholder(head=6), handles=0).handle_head == 6


@pytest.mark.parametrize("bad", [-1, 1.5, True, "12"])
def test_bad_handles_are_a_usage_error(bad):
    with pytest.raises(UsageError, match="handles"):
        build_shot_spec(placeholder(), handles=bad)


def test_drop_frame_timecode_of_media_frames():
    spec = build_shot_spec(placeholder(rate=NTSC_30, record_start=107892, drop_frame=True), handles=2)
    assert spec.drop_frame and spec.timecode(2) == "01:00:00;00" and spec.timecode(0) == "00:59:59;28"


def test_a_shot_at_the_top_of_an_edit_without_start_time_keeps_its_head_handle():
    (first, *_) = build_shot_specs(find_placeholders(edit_with_shots()))
    assert first.record_start_frame == 86400 and first.handle_head == 12 and first.timecode(0) == "00:59:59:12"


def test_an_edit_that_starts_at_zero_gets_the_head_handle_that_fits():
    spec = build_shot_spec(placeholder(record_start=5, head=10))
    assert spec.handle_head == 5 and spec.media_start_frame == 0 and spec.timecode(0) == "00:00:00:00"
    with pytest.raises(ShotSpecError, match="SH010.*before 00:00:00:00"):
        build_shot_spec(placeholder(record_start=-1))


def test_a_shot_with_no_frames_is_refused_by_name():
    with pytest.raises(ShotSpecError) as caught:
        build_shot_spec(placeholder(frames=0))
    assert caught.value.shot == "SH010"


def test_specs_from_a_real_edit_keep_rate_and_transition_handles():
    specs = build_shot_specs(find_placeholders(edit_with_shots()), handles=4)
    assert [s.name for s in specs] == ["SH010 dog park", "V1 gap 2", "SH040"]
    assert all(s.rate == Fraction(24000, 1001) for s in specs)
    assert (specs[2].handle_head, specs[2].handle_tail, specs[2].seed) == (16, 4, 7)
    assert specs[0].class_label == "play"  # "dog"


# -- resolution -----------------------------------------------------------------------------------

def test_resolution_explicit_beats_timeline_beats_default():
    assert (build_shot_spec(placeholder(), resolution=(640, 360), timeline_resolution=(1280, 720)).width) == 640
    assert build_shot_spec(placeholder(), resolution="854x480").height == 480
    assert build_shot_spec(placeholder(), timeline_resolution=(1280, 720)).width == 1280
    assert build_shot_spec(placeholder()).width == 1920


@pytest.mark.parametrize(
    ("text", "size"), [("1920x1080", (1920, 1080)), (" 640 X 360 ", (640, 360)), ("16x8192", (16, 8192))]
)
def test_parse_resolution(text, size):
    assert parse_resolution(text) == size


@pytest.mark.parametrize("bad", ["1920", "1921x1080", "1920x1081", "8x8", "9000x1080", "axb", "", "-640x360", None])
def test_parse_resolution_refuses(bad):
    with pytest.raises(UsageError, match="resolution"):
        parse_resolution(bad)


@pytest.mark.parametrize("bad", [(1921, 1080), (1920,), ("1920", "1080"), (0, 0), 1920])
def test_bad_explicit_resolution_is_a_usage_error(bad):
    with pytest.raises(UsageError):
        build_shot_spec(placeholder(), resolution=bad)


def test_timeline_resolution_from_what_the_edit_says():
    def edit(metadata):
        return otio.schema.Timeline(metadata=metadata)

    fcp = {"fcp_xml": {"media": {"video": {"format": {"samplecharacteristics": {"width": "1280", "height": "720"}}}}}}
    assert timeline_resolution(edit(fcp)) == (1280, 720)
    assert timeline_resolution(edit({"previz": {"resolution": "2048x858"}})) == (2048, 858)
    avid = {"AAF": {"MobAttributeList": {"SEQUERNCE_FORMAT_STRING": "HD 720p/59.94"}}}  # sic: Avid's spelling
    assert timeline_resolution(edit(avid)) == (1280, 720)
    assert timeline_resolution(edit({})) is None
    assert timeline_resolution(edit({"previz": {"resolution": "1281x721"}})) is None  # cannot encode: default


def test_timeline_resolution_of_real_files():
    pytest.importorskip("otio_fcp_adapter")
    pytest.importorskip("otio_aaf_adapter")
    assert timeline_resolution(read_timeline(SAMPLES / "otio-fcp-adapter" / "premiere_example.xml")) == (1280, 720)
    assert timeline_resolution(read_timeline(SAMPLES / "otio-aaf-adapter" / "2997fps.aaf")) == (1920, 1080)
    assert timeline_resolution(read_timeline(SAMPLES / "OpenTimelineIO" / "simple_cut.otio")) is None


# -- class and seed -------------------------------------------------------------------------------

@pytest.mark.parametrize(
    ("name", "notes", "label"),
    [
        ("SH010", ("car drives past",), "drive"),
        ("dog_park_02", (), "play"),
        ("CROWD crossing", (), "walk"),
        ("SH020 truck", ("a woman waits",), "walk"),  # notes before the name
        ("SH030", (), "walk"),  # nothing matches: the first label
    ],
)
def test_class_from_marker_notes_then_name(name, notes, label):
    assert build_shot_spec(placeholder(name, notes=notes)).class_label == label


def test_a_marker_in_the_edit_sets_the_class_end_to_end():
    edit = edit_with_shots()
    hole = edit.tracks[0][1]
    hole.markers.append(otio.schema.Marker(name="car drives past", marked_range=TR(RT(3, 23.976), RT(0, 23.976))))
    spec = build_shot_specs(find_placeholders(edit))[1]
    assert spec.kind == "gap" and spec.class_label == "drive" and spec.notes == ("car drives past",)


def test_only_the_models_labels_count_and_a_label_is_its_own_word():
    labels = ("walk", "fly")
    assert build_shot_spec(placeholder("car chase"), class_labels=labels, default_class="fly").class_label == "fly"
    assert build_shot_spec(placeholder("birds FLY over"), class_labels=labels).class_label == "fly"
    assert "car" in CLASS_WORDS["drive"]


def test_previz_class_metadata_wins_and_is_checked():
    marked = placeholder("car", metadata={"previz": {"class": "Play"}})
    assert build_shot_spec(marked).class_label == "play"
    with pytest.raises(ShotSpecError) as caught:
        build_shot_spec(placeholder("SH9", metadata={"previz": {"class": "swim"}}))
    assert caught.value.shot == "SH9"
    assert "'swim'" in str(caught.value) and "walk, drive, play" in str(caught.value)


@pytest.mark.parametrize(
    ("labels", "default"), [((), None), ("walk", None), (("walk", "walk"), None), (("walk",), "play")]
)
def test_bad_class_options_are_usage_errors(labels, default):
    with pytest.raises(UsageError):
        build_shot_spec(placeholder(), class_labels=labels, default_class=default)


def test_seed_from_metadata_is_validated():
    assert build_shot_spec(placeholder(metadata={"previz": {"seed": 42}})).seed == 42
    assert build_shot_spec(placeholder(metadata={"previz": {"seed": "42"}})).seed == 42
    for bad in (-1, 2**31, "x", True, 1.5):
        with pytest.raises(ShotSpecError, match="seed") as caught:
            build_shot_spec(placeholder(metadata={"previz": {"seed": bad}}))
        assert caught.value.shot == "SH010"


def test_same_edit_same_ids_and_seeds_and_ids_differ_by_shot():
    first = build_shot_specs(find_placeholders(edit_with_shots()))
    again = build_shot_specs(find_placeholders(edit_with_shots()))
    assert [(s.shot_id, s.seed, s.spec_hash()) for s in first] == [(s.shot_id, s.seed, s.spec_hash()) for s in again]
    assert len({s.shot_id for s in first}) == len(first)
    assert all(len(s.shot_id) == 12 and int(s.shot_id, 16) >= 0 for s in first)
    assert all(0 <= s.seed < 2**31 for s in first)
    moved = build_shot_spec(placeholder(record_start=86401))
    assert moved.shot_id != build_shot_spec(placeholder()).shot_id


# -- JSON -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["../../etc/passwd", 'SH"03"\\<x>', "ショット 010 — café"])
def test_to_dict_is_json_and_round_trips_exactly(name):
    spec = build_shot_spec(placeholder(name, rate=NTSC_30, record_start=107892, drop_frame=True, notes=("n",)))
    data = json.loads(json.dumps(spec.to_dict()))
    assert data["rate"] == "30000/1001" and data["name"] == name and data["item_path"] == [0, 3]
    again = ShotSpec.from_dict(data)
    assert again == spec and again.spec_hash() == spec.spec_hash() and again.rate == NTSC_30


def test_spec_hash_changes_with_any_field():
    spec = build_shot_spec(placeholder())
    changed = ShotSpec.from_dict({**spec.to_dict(), "seed": spec.seed + 1})
    assert len(spec.spec_hash()) == 64 and changed.spec_hash() != spec.spec_hash()


@pytest.mark.parametrize(
    "change",
    [
        {"rate": "fast"}, {"rate": 23.976}, {"frames": 0}, {"frames": "48"}, {"width": 1921}, {"shot_id": "xyz"},
        {"kind": "hole"}, {"drop_frame": "yes"}, {"handle_head": 999999}, {"extra": 1}, {"notes": [1]},
        {"staging": {"direction": "up"}}, {"staging": {"direction": "toward", "speed": 2, "count": 1, "framing": 0,
                                                       "pan": 0}}, {"staging": "fast"},
    ],
)
def test_from_dict_refuses_a_broken_spec(change):
    data = {**build_shot_spec(placeholder()).to_dict(), **change}
    with pytest.raises(ShotSpecError):
        ShotSpec.from_dict(data)


def test_from_dict_names_missing_fields():
    data = build_shot_spec(placeholder()).to_dict()
    del data["seed"]
    with pytest.raises(ShotSpecError, match="seed"):
        ShotSpec.from_dict(data)


def test_media_frame_index_must_be_a_count():
    with pytest.raises(UsageError):
        build_shot_spec(placeholder()).timecode(-1)


@settings(max_examples=100, deadline=None)
@given(
    rate=st.sampled_from([Fraction(24000, 1001), 24, 25, NTSC_30, 50, Fraction(60000, 1001)]).map(Fraction),
    frames=st.integers(1, 5000),
    record_start=st.integers(0, 23 * 3600 * 50),
    handles=st.integers(0, 48),
    drop=st.booleans(),
)
def test_any_spec_round_trips_and_its_handle_lands_on_the_record_start(rate, frames, record_start, handles, drop):
    drop = drop and rate in (NTSC_30, Fraction(60000, 1001))
    shot = placeholder(rate=rate, frames=frames, record_start=record_start, drop_frame=drop)
    spec = build_shot_spec(shot, handles=handles)
    assert ShotSpec.from_dict(json.loads(json.dumps(spec.to_dict()))) == spec
    assert spec.media_start_frame >= 0 and spec.total_frames == spec.handle_head + frames + spec.handle_tail
    assert spec.timecode(spec.handle_head) == timecode(record_start, rate, drop)


# -- staging --------------------------------------------------------------------------------


def test_staging_from_notes_name_metadata_then_seed_with_its_sources():
    spec = build_shot_spec(placeholder("sh030 car drives past fast", notes=("note", "car passes L-R, CU")))
    staging = spec.staging
    assert staging.direction == "left_to_right" and staging.source_of("direction") == "marker: L-R"
    assert staging.speed == 0.85 and staging.source_of("speed") == "name: fast"
    assert staging.framing > 2 / 3 and staging.source_of("framing") == "marker: CU"
    assert staging.source_of("count") == "seed" and staging.source_of("pan") == "seed"
    meta = build_shot_spec(placeholder("sh030 car L-R", metadata={"previz": {"direction": "right_to_left", "count": "2"}}))
    assert meta.staging.direction == "right_to_left" and meta.staging.count == 2
    assert meta.staging.source_of("direction") == "metadata: direction"


def test_toward_on_a_car_keeps_a_crossing_and_says_why():
    spec = build_shot_spec(placeholder("car drives toward camera"))
    assert spec.class_label == "drive" and spec.staging.direction in ("left_to_right", "right_to_left")
    assert "is for walks" in spec.staging.source_of("direction")
    walk = build_shot_spec(placeholder("woman walks toward camera"))
    assert walk.staging.direction == "toward"


def test_a_pan_that_follows_pans_the_way_the_subject_travels():
    spec = build_shot_spec(placeholder("dog runs R to L, camera follows"))
    assert spec.staging.direction == "right_to_left" and spec.staging.pan < 0


def test_bad_staging_metadata_is_one_line_naming_the_shot():
    with pytest.raises(ShotSpecError) as caught:
        build_shot_spec(placeholder("SH9", metadata={"previz": {"direction": "up"}}))
    assert "SH9" in str(caught.value) and "\n" not in str(caught.value)


def test_staging_is_in_the_spec_hash_and_round_trips():
    spec = build_shot_spec(placeholder("sh1 two dogs chase L-R"))
    again = ShotSpec.from_dict(json.loads(json.dumps(spec.to_dict())))
    assert again == spec and again.spec_hash() == spec.spec_hash() and hash(again) == hash(spec)
    other = build_shot_spec(placeholder("sh1 two dogs chase R-L"))
    assert other.spec_hash() != spec.spec_hash()
    legacy = spec.to_dict()
    del legacy["staging"]  # a SPEC written before staging existed still loads
    assert ShotSpec.from_dict(legacy).staging is None
