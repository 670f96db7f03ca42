"""frame_synthesis: fit whole (pillarbox / letterbox, never crop), one-pass scale to the encoder's format, burn-in on 8- and 10-bit planes."""

from __future__ import annotations

import time

import av
import numpy as np
import pytest
from av.video.reformatter import ColorPrimaries, ColorRange, Colorspace, ColorTrc, VideoReformatter
from hypothesis import given, settings
from hypothesis import strategies as st

from previz_plugin.errors import SynthesisError, UsageError
from previz_plugin.frame_synthesis import BurnIn, FrameSynthesizer, describe_fit, fit_rect


def _burn_in(name: str = "SC010_0020", calls: list[int] | None = None) -> BurnIn:
    def timecode_of(index: int) -> str:
        if calls is not None:
            calls.append(index)
        return f"01:00:00:{index % 24:02d}"

    return BurnIn(name, timecode_of, first_frame_number=1001)


def _grey(level: int, shape: tuple[int, ...] = (36, 64, 3)) -> np.ndarray:
    return np.full(shape, level, np.uint8)


def _luma(frame: av.VideoFrame) -> np.ndarray:
    """Return the Y plane without stride padding, as int32 (8-bit or 10-bit values)."""
    return _plane(frame, 0)


def _plane(frame: av.VideoFrame, index: int) -> np.ndarray:
    """Return one plane without its stride padding, as int32 (8-bit or 10-bit values)."""
    plane = frame.planes[index]
    dtype = np.uint8 if frame.format.components[0].bits == 8 else np.dtype("<u2")
    per_row = plane.line_size // np.dtype(dtype).itemsize
    rows = np.frombuffer(plane, dtype, count=per_row * plane.height).reshape(plane.height, per_row)
    return rows[:, : plane.width].astype(np.int32)


def _one(synth: FrameSynthesizer, model_frame: np.ndarray) -> av.VideoFrame:
    return next(iter(synth.frames([model_frame])))


# -- validation at the boundary ------------------------------------------------------------


@pytest.mark.parametrize("size", [(127, 72), (128, 71), (14, 16), (16, 8)])
def test_odd_or_tiny_size_is_a_usage_error_naming_it(size):
    with pytest.raises(UsageError, match=f"{size[0]}x{size[1]}"):
        FrameSynthesizer(size[0], size[1], "yuv420p", None)


def test_unknown_interpolation_and_pixel_format_are_usage_errors():
    with pytest.raises(UsageError, match="BICUBIC"):
        FrameSynthesizer(128, 72, "yuv420p", None, interpolation="SMOOTH")
    with pytest.raises(UsageError, match="not-a-format"):
        FrameSynthesizer(128, 72, "not-a-format", None)
    with pytest.raises(UsageError, match="rgb24"):
        FrameSynthesizer(128, 72, "rgb24", _burn_in())


@pytest.mark.parametrize(
    "bad",
    [
        np.zeros((64, 64, 3), np.float32),
        np.zeros((64, 64), np.uint8),
        np.zeros((64, 64, 4), np.uint8),
        np.zeros((2, 3, 64, 64, 3), np.uint8),
        np.zeros((0, 64, 3), np.uint8),
    ],
)
def test_wrong_model_frames_are_synthesis_errors_with_the_shape(bad):
    synth = FrameSynthesizer(128, 72, "yuv420p", None)
    with pytest.raises(SynthesisError, match=str(bad.shape).replace("(", r"\(").replace(")", r"\)")):
        list(synth.frames([bad]))


def test_single_frames_and_chunks_mix_and_pts_count_media_frames():
    synth = FrameSynthesizer(128, 72, "yuv420p", None)
    frames = list(synth.frames([_grey(10), _grey(20, (3, 64, 64, 3)), _grey(30)]))
    assert [f.pts for f in frames] == [0, 1, 2, 3, 4]
    assert all((f.width, f.height, f.format.name) == (128, 72, "yuv420p") for f in frames)


# -- scaling -------------------------------------------------------------------------------


def test_a_square_model_frame_is_pillarboxed_whole_never_cropped():
    model = _grey(40, (64, 64, 3))
    model[30:34, 30:34] = 255  # a marker on the centre of the 64x64 frame
    model[:12] = (255, 0, 0)  # a band at the top: a cover crop would cut it, the fit keeps it
    frame = _one(FrameSynthesizer(1920, 1080, "yuv420p", None), model)
    luma = _luma(frame)
    ys, xs = np.nonzero(luma > 150)
    assert abs(ys.mean() - 539.5) < 12 and abs(xs.mean() - 959.5) < 12
    # The marker spans 4 of 64 model rows -> about 68 of 1080 output rows (uniform upscale, no stretch).
    assert 50 < ys.max() - ys.min() < 90 and 50 < xs.max() - xs.min() < 90
    rgb = frame.to_ndarray(format="rgb24").astype(int)
    assert rgb[20:150, 700:1200, 0].mean() > 180, "the red band at the top of the model frame was cropped away"
    assert rgb[:, :400].max() < 30 and rgb[:, -400:].max() < 30, "the pillars are not black"
    white = _one(FrameSynthesizer(1920, 1080, "yuv420p", None), _grey(255, (72, 128, 3)))
    edges = _luma(white)[[0, -1], :].min(), _luma(white)[:, [0, -1]].min()
    assert min(edges) > 200, "a 16:9 model frame into 16:9 delivery must fill it: no bars"


@pytest.mark.parametrize("size, fit", [((1920, 804), "pillarbox"), ((1440, 1080), "letterbox"),
                                       ((1080, 1920), "letterbox"), ((1920, 1080), "full frame")])
def test_a_16_9_model_into_other_aspects_is_fitted_and_the_report_says_how(size, fit):
    width, height = size
    assert describe_fit(128, 72, width, height).startswith(fit)
    frame = _one(FrameSynthesizer(width, height, "yuv420p", None), _grey(255, (72, 128, 3)))
    luma = _luma(frame)
    x, y, w, h = fit_rect(128, 72, width, height)
    assert luma[y + 2: y + h - 2, x + 2: x + w - 2].min() > 200  # the whole picture, bright
    if fit != "full frame":
        bars = luma[:, : x - 1] if fit == "pillarbox" else luma[: y - 1]
        assert bars.size and bars.max() <= 17  # video black


@settings(max_examples=60, deadline=None)
@given(
    rows=st.integers(1, 400),
    cols=st.integers(1, 400),
    width=st.integers(8, 2048).map(lambda n: n * 2),
    height=st.integers(8, 2048).map(lambda n: n * 2),
)
def test_fit_keeps_the_aspect_stays_inside_and_is_centred(rows, cols, width, height):
    x, y, w, h = fit_rect(cols, rows, width, height)
    assert x % 2 == 0 and y % 2 == 0 and w % 2 == 0 and h % 2 == 0
    assert 0 <= x and 0 <= y and x + w <= width and y + h <= height
    assert w == width or h == height  # one side is filled
    if (w, h) != (width, height):  # bars only where the aspect differs by more than the 1 % tolerance
        assert min(w, h) == 2 or abs(cols / rows - w / h) <= (cols / rows) * (0.02 + 2.0 / min(w, h))
        assert abs(x - (width - x - w)) <= 2 and abs(y - (height - y - h)) <= 2


# -- burn-in -------------------------------------------------------------------------------


def test_without_burn_in_the_output_is_the_plain_scaled_frame():
    model = np.random.default_rng(1).integers(0, 256, (36, 64, 3), np.uint8)
    frame = _one(FrameSynthesizer(128, 72, "yuv420p", None, interpolation="BILINEAR"), model)
    assert fit_rect(64, 36, 128, 72) == (0, 0, 128, 72)
    expected = VideoReformatter().reformat(
        av.VideoFrame.from_ndarray(model, format="rgb24"),
        128,
        72,
        "yuv420p",
        dst_colorspace=Colorspace.ITU709,
        dst_color_range=ColorRange.MPEG,
        dst_color_trc=ColorTrc.BT709,
        dst_color_primaries=ColorPrimaries.BT709,
        interpolation="BILINEAR",
    )
    assert np.array_equal(frame.to_ndarray(), expected.to_ndarray())


@pytest.mark.parametrize("pix_fmt, scale", [("yuv420p", 1), ("yuv422p10le", 4), ("yuv422p", 1)])
def test_burn_in_is_bright_glyphs_on_a_dark_box_top_left(pix_fmt, scale):
    plain = _luma(_one(FrameSynthesizer(640, 360, pix_fmt, None), _grey(128)))
    burnt_frame = _one(FrameSynthesizer(640, 360, pix_fmt, _burn_in()), _grey(128))
    burnt = _luma(burnt_frame)
    assert burnt.max() <= 255 * scale
    corner = (slice(0, 40), slice(0, 200))
    assert not np.array_equal(burnt[corner], plain[corner])
    assert (burnt[corner] >= 200 * scale).sum() > 100, "no bright glyph pixels"
    assert (burnt[corner] <= 70 * scale).sum() > 500, "no darkened box"
    middle = (slice(120, 240), slice(200, 440))
    assert np.array_equal(burnt[middle], plain[middle]), "burn-in touched the picture's middle"


def test_box_chroma_is_neutral_on_a_coloured_picture():
    red = np.zeros((36, 64, 3), np.uint8)
    red[..., 0] = 220
    frame = _one(FrameSynthesizer(640, 360, "yuv422p10le", _burn_in()), red)
    plain = _one(FrameSynthesizer(640, 360, "yuv422p10le", None), red)
    burnt_v, plain_v = _plane(frame, 2), _plane(plain, 2)
    box = (slice(10, 18), slice(10, 40))  # inside the label box, 4:2:2 chroma coordinates
    assert abs(burnt_v[box] - 512).mean() < abs(plain_v[box] - 512).mean() * 0.5


def test_frame_number_and_timecode_change_per_frame_from_the_media_index():
    calls: list[int] = []
    synth = FrameSynthesizer(640, 360, "yuv420p", _burn_in(calls=calls))
    first, second = (_luma(f) for f in synth.frames([_grey(90, (2, 36, 64, 3))]))
    assert calls[-2:] == [0, 1]
    bottom_right = (slice(300, 360), slice(400, 640))
    assert not np.array_equal(first[bottom_right], second[bottom_right])
    top_left = (slice(0, 40), slice(0, 200))
    assert np.array_equal(first[top_left], second[top_left])


def test_unicode_shot_names_render_with_replacements():
    synth = FrameSynthesizer(640, 360, "yuv420p", _burn_in("シーン12 — café\tÅsa"))
    frame = _one(synth, _grey(128))
    assert synth._painter is not None
    assert synth._painter._drawable("café 日本\n") == "cafe ?? "
    bottom_left = _luma(frame)[300:360, 0:200]
    assert (bottom_left >= 200).sum() > 50


def test_long_shot_names_are_cut_so_they_do_not_run_under_the_timecode():
    synth = FrameSynthesizer(320, 180, "yuv420p", _burn_in("X" * 200))
    _one(synth, _grey(128))
    assert synth._painter is not None


@pytest.mark.parametrize("pix_fmt", ["yuv420p", "yuv422p10le"])
def test_stride_padding_keeps_the_box_a_rectangle_in_every_plane(pix_fmt):
    # 200 wide: swscale pads the rows (208 luma, 112 chroma samples). Painting with the wrong
    # stride would shear the box: each row would start a few samples further left.
    red = np.zeros((36, 64, 3), np.uint8)
    red[..., 0] = 220  # coloured, so the box changes chroma as well as luma
    plain = _one(FrameSynthesizer(200, 112, pix_fmt, None), red)
    burnt = _one(FrameSynthesizer(200, 112, pix_fmt, _burn_in()), red)
    for index in range(3):
        changed = _plane(burnt, index) != _plane(plain, index)
        top_left = changed[: changed.shape[0] // 3]
        rows, cols = np.nonzero(top_left)
        r0, r1, c0, c1 = rows.min(), rows.max() + 1, cols.min(), cols.max() + 1
        assert top_left[r0:r1, c0:c1].all(), f"plane {index}: box is not a filled rectangle"
        assert top_left.sum() == (r1 - r0) * (c1 - c0), f"plane {index}: changes outside the box"


def test_tiny_frames_clip_the_burn_in_instead_of_failing():
    frames = list(FrameSynthesizer(16, 16, "yuv420p", _burn_in()).frames([_grey(0, (2, 36, 64, 3))]))
    assert len(frames) == 2


def test_1080p_burn_in_text_is_about_three_percent_high_and_cheap():
    synth = FrameSynthesizer(1920, 1080, "yuv420p", _burn_in())
    model = _grey(128, (12, 36, 64, 3))
    start = time.perf_counter()
    frames = list(synth.frames([model]))
    elapsed = time.perf_counter() - start
    luma = _luma(frames[-1])
    glyph_rows = np.nonzero((luma[:100, :600] >= 200).any(axis=1))[0]
    height = glyph_rows.max() - glyph_rows.min() + 1
    assert 0.015 * 1080 <= height <= 0.04 * 1080, height
    assert elapsed < 2.0, f"12 frames took {elapsed:.2f} s"  # ~1 ms each when measured
