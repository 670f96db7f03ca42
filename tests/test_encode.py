"""encode: real files per codec read back with PyAV; exact rates, timecode, metadata; atomic writes."""

from __future__ import annotations

import hashlib
import os
import pathlib
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from fractions import Fraction

import av
import numpy as np
import pytest
from av.video.reformatter import ColorPrimaries, ColorRange, Colorspace, ColorTrc

from previz_plugin.encode import CODECS, CodecProfile, MediaInfo, codec_profile, encode_clip
from previz_plugin.errors import EncodeError, SynthesisError, UsageError

METADATA = {
    "title": "SC010_0020 previz",
    "comment": "AI-generated previz, not for broadcast",
    "description": "filled placeholder",
    "ai_generated": "true",
    "digital_source_type": "http://cv.iptc.org/newscodes/digitalsourcetype/trainedAlgorithmicMedia",
    "model": "previz-sample",
    "seed": "1234",
}
PATTERN_INDEX = 2  # the frame that carries the colour pattern instead of a grey level
PATTERN = ((200, 30, 30), (30, 200, 30), (30, 30, 200), (230, 230, 230))  # quadrants TL TR BL BR


def _level(index: int) -> int:
    return 20 + 30 * index  # mean brightness tells each frame's index


def _frames(count: int, width: int, height: int, pix_fmt: str) -> Iterator[av.VideoFrame]:
    """Yield grey frames whose level encodes their index, one colour-pattern frame among them."""
    for index in range(count):
        rgb = np.full((height, width, 3), _level(index), np.uint8)
        if index == PATTERN_INDEX:
            h, w = height // 2, width // 2
            for (rows, cols), colour in zip(
                [
                    (slice(0, h), slice(0, w)),
                    (slice(0, h), slice(w, None)),
                    (slice(h, None), slice(0, w)),
                    (slice(h, None), slice(w, None)),
                ],
                PATTERN,
                strict=True,
            ):
                rgb[rows, cols] = colour
        yield av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(
            format=pix_fmt,
            dst_colorspace=Colorspace.ITU709,
            dst_color_range=ColorRange.MPEG,
            dst_color_trc=ColorTrc.BT709,
            dst_color_primaries=ColorPrimaries.BT709,
        )


def _encode(folder: pathlib.Path, profile: CodecProfile, frames=None, count: int = 6, **overrides) -> MediaInfo:
    width, height = (256, 144) if profile.name == "dnxhr" else (128, 72)
    arguments = dict(
        profile=profile,
        rate=Fraction(24000, 1001),
        width=width,
        height=height,
        start_timecode="01:00:00:00",
        metadata=METADATA,
        expected_frames=count,
    )
    arguments.update(overrides)
    if frames is None:
        frames = _frames(count, arguments["width"], arguments["height"], profile.pix_fmt)
    return encode_clip(frames, folder / f"SC010_0020{profile.extension}", **arguments)


def _leftovers(folder: pathlib.Path) -> list[str]:
    return sorted(os.listdir(folder))


# -- real files, read back -------------------------------------------------------------------

CASES = [
    # profile, rate, start timecode, codec read back, profile read back, codec tag
    ("h264", Fraction(24000, 1001), "01:00:00:00", "h264", "High", "avc1"),
    ("h264", Fraction(30000, 1001), "00:59:59;29", "h264", "High", "avc1"),
    ("prores", Fraction(30000, 1001), "01:00:00;02", "prores", "Proxy", "apco"),
    ("prores-lt", Fraction(25), "10:00:00:00", "prores", "LT", "apcs"),
    ("dnxhr", Fraction(60), "01:02:03:59", "dnxhd", "DNXHR LB", "AVdh"),
    ("h264", Fraction(60000, 1001), "00:10:00;00", "h264", "High", "avc1"),
]


@pytest.mark.parametrize("name, rate, timecode, codec, codec_profile_name, tag", CASES)
def test_encoded_file_reads_back_exactly(tmp_path, name, rate, timecode, codec, codec_profile_name, tag):
    profile = codec_profile(name)
    info = _encode(tmp_path, profile, rate=rate, start_timecode=timecode, reel_name="A001")
    assert _leftovers(tmp_path) == [info.path.name], "a partial file was left behind"
    assert (info.frames, info.rate, info.codec, info.start_timecode) == (6, rate, name, timecode)
    assert info.sha256 == hashlib.sha256(info.path.read_bytes()).hexdigest()

    with av.open(str(info.path)) as container:
        video = container.streams.video[0]
        tmcd = [s for s in container.streams if s.type == "data"]
        assert video.average_rate == rate and video.guessed_rate == rate
        assert video.duration * video.time_base == 6 / rate  # no frame added or cut by edit lists
        context = video.codec_context
        assert (context.name, context.profile, context.codec_tag) == (codec, codec_profile_name, tag)
        assert (context.width, context.height) == (info.width, info.height)
        assert context.pix_fmt == profile.pix_fmt
        assert context.colorspace == Colorspace.ITU709
        # The tmcd track carries the start timecode; FFmpeg mirrors it on the video stream.
        assert [s.metadata.get("timecode") for s in tmcd] == [timecode]
        assert video.metadata.get("timecode") == timecode
        if profile.container == "mov":
            assert tmcd[0].metadata.get("reel_name") == "A001"
        for key, value in METADATA.items():
            assert container.metadata.get(key) == value, key
        decoded = list(container.decode(video))

    assert len(decoded) == 6
    assert [f.pts * video.time_base for f in decoded] == [Fraction(i) / rate for i in range(6)]
    for index, frame in enumerate(decoded):
        rgb = frame.to_ndarray(format="rgb24").astype(np.int32)
        if index == PATTERN_INDEX:
            h, w = rgb.shape[0] // 4, rgb.shape[1] // 4  # quadrant centres, away from edges
            for (y, x), colour in zip([(h, w), (h, 3 * w), (3 * h, w), (3 * h, 3 * w)], PATTERN, strict=True):
                assert np.abs(rgb[y, x] - colour).max() <= 12, (index, (y, x), rgb[y, x], colour)
        else:
            assert abs(rgb.mean() - _level(index)) <= 6, (index, rgb.mean())


@pytest.mark.parametrize("count, rate", [(3, Fraction(24000, 1001)), (4, Fraction(30000, 1001))])
def test_short_ntsc_clips_with_b_frames_keep_their_exact_length(tmp_path, count, rate):
    # With the default 1 ms movie timescale, the B-frame edit list of 3 frames at 23.976 rounds to
    # 125 ms and the clip reads back 2.997 frames long; the muxer is told to use the track's timescale.
    ramp = (
        av.VideoFrame.from_ndarray(np.full((72, 128, 3), 20 * i, np.uint8), format="rgb24").reformat(format="yuv420p")
        for i in range(count)
    )
    info = _encode(tmp_path, codec_profile("h264"), frames=ramp, count=count, rate=rate)
    with av.open(str(info.path)) as container:
        video = container.streams.video[0]
        order = [packet.pts for packet in container.demux(video) if packet.size]
        assert order != sorted(order), "x264 made no B-frames, so this test proves nothing"
        assert video.duration * video.time_base == count / rate
    with av.open(str(info.path)) as container:
        assert len(list(container.decode(video=0))) == count


def test_codec_table_and_lookup():
    assert set(CODECS) == {"h264", "prores", "prores-lt", "dnxhr"}
    assert codec_profile("prores").codec == "prores_aw"  # 4x faster than prores_ks
    with pytest.raises(UsageError, match="h264, prores, prores-lt, dnxhr"):
        codec_profile("xvid")


@pytest.mark.parametrize(
    "overrides, match",
    [
        (dict(rate=23.976), "Fraction"),
        (dict(rate=Fraction(0)), "positive"),
        (dict(start_timecode="1:00:00:00"), "HH:MM:SS:FF"),
        (dict(start_timecode="01:00:00:24"), "not a valid time"),
        (dict(start_timecode="24:00:00:00"), "not a valid time"),
        (dict(start_timecode="01:00:00;00"), "drop-frame"),
        (dict(width=127), "even size"),
        (dict(metadata={"seed": 7}), "metadata"),
        (dict(expected_frames=0), "expected_frames"),
    ],
)
def test_bad_arguments_are_usage_errors_before_any_work(tmp_path, overrides, match):
    with pytest.raises(UsageError, match=match):
        _encode(tmp_path, codec_profile("h264"), **overrides)
    assert _leftovers(tmp_path) == []


def test_dnxhr_refuses_sizes_below_256x120_up_front(tmp_path):
    with pytest.raises(UsageError, match="256x120"):
        _encode(tmp_path, codec_profile("dnxhr"), width=128, height=72)


def test_skipped_drop_frame_label_and_wrong_extension_are_usage_errors(tmp_path):
    df = dict(rate=Fraction(30000, 1001), start_timecode="01:01:00;00")
    with pytest.raises(UsageError, match="skips"):
        _encode(tmp_path, codec_profile("h264"), **df)
    with pytest.raises(UsageError, match=".mov"):
        encode_clip(
            [],
            tmp_path / "clip.mp4",
            profile=codec_profile("prores"),
            rate=Fraction(24),
            width=128,
            height=72,
            start_timecode="01:00:00:00",
            metadata={},
        )


# -- atomic writes ---------------------------------------------------------------------------


def test_missing_folder_is_an_encode_error(tmp_path):
    with pytest.raises(EncodeError, match="does not exist"):
        encode_clip(
            _frames(2, 128, 72, "yuv420p"),
            tmp_path / "nope" / "a.mp4",
            profile=codec_profile("h264"),
            rate=Fraction(24),
            width=128,
            height=72,
            start_timecode="01:00:00:00",
            metadata={},
        )
    assert _leftovers(tmp_path) == []


@pytest.mark.skipif(os.name != "posix" or os.geteuid() == 0, reason="root writes anywhere")
def test_unwritable_folder_is_an_encode_error_with_the_os_reason(tmp_path):
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(EncodeError, match="[Pp]ermission denied"):
            _encode(folder, codec_profile("h264"))
        assert _leftovers(folder) == []
    finally:
        folder.chmod(0o700)


def test_full_disk_is_an_encode_error_with_the_os_reason_and_no_partial(tmp_path):
    # A file-size limit makes write() fail the way a full disk does (EFBIG instead of ENOSPC),
    # without needing a full disk; a child process keeps the limit away from pytest.
    script = textwrap.dedent(f"""
        import pathlib, resource, signal
        from fractions import Fraction
        import av
        from previz_plugin.encode import codec_profile, encode_clip
        from previz_plugin.errors import EncodeError
        frames = [av.VideoFrame(128, 72, "yuv422p10le") for _ in range(30)]
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # get the error, not the signal
        resource.setrlimit(resource.RLIMIT_FSIZE, (4000, 4000))
        try:
            encode_clip(frames, pathlib.Path({str(tmp_path)!r}) / "a.mov", profile=codec_profile("prores"),
                        rate=Fraction(24), width=128, height=72, start_timecode="01:00:00:00", metadata={{}})
        except EncodeError as exc:
            print("EncodeError:", exc)
    """)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(pathlib.Path(__file__).parents[1]), *sys.path]))
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60, env=env)
    assert "EncodeError:" in result.stdout, result.stdout + result.stderr
    assert "too large" in result.stdout.lower(), result.stdout
    assert _leftovers(tmp_path) == []


def _failing(after: int, error: BaseException) -> Iterator[av.VideoFrame]:
    yield from _frames(after, 128, 72, "yuv420p")
    raise error


@pytest.mark.parametrize(
    "error, raised",
    [
        (RuntimeError("model fell over"), EncodeError),
        (SynthesisError("model frames must be uint8"), SynthesisError),
        (KeyboardInterrupt(), KeyboardInterrupt),
    ],
)
def test_a_frame_source_failing_mid_stream_leaves_nothing(tmp_path, error, raised):
    with pytest.raises(raised):
        _encode(tmp_path, codec_profile("h264"), frames=_failing(3, error))
    assert _leftovers(tmp_path) == []


def test_frame_count_mismatch_leaves_the_previous_take_untouched(tmp_path):
    final = tmp_path / "SC010_0020.mp4"
    final.write_bytes(b"previous take")
    with pytest.raises(EncodeError, match="got 4 frames .* expected 6"):
        _encode(tmp_path, codec_profile("h264"), frames=_frames(4, 128, 72, "yuv420p"))
    assert final.read_bytes() == b"previous take"
    assert _leftovers(tmp_path) == ["SC010_0020.mp4"]


def test_a_runaway_frame_source_is_stopped_at_expected_frames(tmp_path):
    consumed = []

    def endless() -> Iterator[av.VideoFrame]:
        while True:
            consumed.append(1)
            yield next(_frames(1, 128, 72, "yuv420p"))

    with pytest.raises(EncodeError, match="more than the 6 frames"):
        _encode(tmp_path, codec_profile("h264"), frames=endless())
    assert len(consumed) == 7
    with pytest.raises(EncodeError, match="no frames"):
        _encode(tmp_path, codec_profile("h264"), frames=[], expected_frames=None)
    assert _leftovers(tmp_path) == []


def test_frames_in_the_wrong_format_are_refused_not_rescaled(tmp_path):
    with pytest.raises(EncodeError, match="frame 0 is 128x72 yuv420p, expected 128x72 yuv422p10le"):
        _encode(tmp_path, codec_profile("prores"), frames=_frames(2, 128, 72, "yuv420p"))
    assert _leftovers(tmp_path) == []


def test_a_new_take_replaces_the_old_file(tmp_path):
    final = tmp_path / "SC010_0020.mp4"
    final.write_bytes(b"previous take")
    info = _encode(tmp_path, codec_profile("h264"), count=2)
    assert info.path == final and final.read_bytes()[4:8] == b"ftyp"
    assert _leftovers(tmp_path) == ["SC010_0020.mp4"]
