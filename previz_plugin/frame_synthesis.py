"""Model frames -> delivery frames: fit, one swscale pass, burn-in.

The model speaks small RGB frames; the encoder wants its own pixel format at delivery size.
PERFORMANCE-NOTES.md measured that the only cheap route is one swscale call from the small RGB
frame straight to the encoder's format through a shared `VideoReformatter`; the burn-in is painted
afterwards onto the converted planes with numpy from masks rendered once.

Frames are never stretched and never cropped: a model frame whose aspect differs from the
delivery's (a 16:9 model into 2.39:1 or 4:3 or 9:16, a square one into 16:9) is scaled whole to fit
and centred on black, pillarboxed or letterboxed (`fit_rect`, `describe_fit`), so no subject is cut.
"""

from __future__ import annotations

import math
import unicodedata
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

import av
import numpy as np
from av.video.plane import VideoPlane
from av.video.reformatter import (
    ColorPrimaries,
    ColorRange,
    Colorspace,
    ColorTrc,
    Interpolation,
    VideoReformatter,
)
from PIL import Image, ImageDraw, ImageFont

from previz_plugin.errors import SynthesisError, UsageError
from previz_plugin.shot_spec import encodable_size

__all__ = ["BurnIn", "FrameSynthesizer", "INTERPOLATIONS", "LABEL", "describe_fit", "fit_rect"]

LABEL = "AI-GENERATED PREVIZ"
# swscale's scaling kernels; the flag-like members (ACCURATE_RND, BITEXACT, ...) are not scalers.
INTERPOLATIONS = (
    "POINT",
    "FAST_BILINEAR",
    "BILINEAR",
    "BICUBIC",
    "X",
    "AREA",
    "BICUBLIN",
    "GAUSS",
    "SINC",
    "LANCZOS",
    "SPLINE",
)
_TEXT_HEIGHT = 0.03  # font size as a share of frame height: readable in a 1080p cut, small at 72p
_MIN_FONT_PX = 8  # below this the default font turns to mush
_BOX_OPACITY = 0.6  # dark enough for white text over any picture, light enough to see the shot
_FIGURE_SPACE = "\u2007"  # blank as wide as a digit: pads the frame number so the box never jumps
_MISSING = "\U0010ffff"  # a noncharacter: renders the font's .notdef box, the "missing" reference


def fit_rect(source_w: int, source_h: int, width: int, height: int) -> tuple[int, int, int, int]:
    """(x, y, w, h): the largest rectangle of the source's aspect inside width x height, centred.

    Sizes and offsets are even (4:2:0 chroma), and a difference of under 1 % of the side is not worth
    bars: the picture then fills the frame (a 1 % scale change is not a visible stretch).
    """
    if source_w * height == source_h * width:
        return 0, 0, width, height
    if source_w * height > source_h * width:  # wider than the delivery: bars above and below
        inner_w, inner_h = width, max(2, round(width * source_h / source_w / 2) * 2)
    else:  # taller: bars at the sides
        inner_w, inner_h = max(2, round(height * source_w / source_h / 2) * 2), height
    if width - inner_w <= width * 0.01 and height - inner_h <= height * 0.01:
        return 0, 0, width, height
    x, y = (width - inner_w) // 2, (height - inner_h) // 2
    return x - x % 2, y - y % 2, inner_w, inner_h


def describe_fit(source_w: int, source_h: int, width: int, height: int) -> str:
    """"full frame", or "pillarbox 1440x1080 in 1920x1080" / "letterbox ..." for the report."""
    x, y, w, h = fit_rect(source_w, source_h, width, height)
    if (w, h) == (width, height):
        return "full frame"
    return f"{'pillarbox' if x else 'letterbox'} {w}x{h} in {width}x{height} (model {source_w}x{source_h}, never cropped)"


@dataclass(frozen=True)
class BurnIn:
    """What to burn into every frame besides the AI-GENERATED PREVIZ label."""

    shot_name: str
    timecode_of: Callable[[int], str]  # media frame index -> timecode text
    first_frame_number: int = 0  # number shown for media frame 0


@dataclass(frozen=True)
class _Overlay:
    """A box to paint: new_luma = luma * gain + add; new_chroma = chroma * keep + neutral * (1 - keep)."""

    x: int  # even, so the chroma rectangle starts on a whole chroma sample
    y: int
    gain: np.ndarray  # float32, luma resolution
    add: np.ndarray  # float32, luma resolution
    keep: np.ndarray  # float32, chroma resolution


class FrameSynthesizer:
    """Turns model frames into encoder-ready `av.VideoFrame`s at delivery size."""

    def __init__(
        self,
        width: int,
        height: int,
        pix_fmt: str,
        burn_in: BurnIn | None,
        interpolation: str = "BICUBIC",
    ) -> None:
        if not encodable_size(width, height):
            raise UsageError(f"delivery size must be even and at least 16x16, got {width}x{height}")
        try:
            self._format = av.VideoFormat(pix_fmt)
        except (ValueError, TypeError) as exc:
            raise UsageError(f"unknown pixel format {pix_fmt!r}") from exc
        if interpolation.upper() not in INTERPOLATIONS:
            raise UsageError(f"interpolation {interpolation!r} is not one of {', '.join(INTERPOLATIONS)}")
        self.width, self.height, self.pix_fmt = width, height, pix_fmt
        self.burn_in = burn_in
        self._interpolation = Interpolation[interpolation.upper()]
        # One reformatter for the whole clip: it keeps its swscale context between calls (a fresh
        # context per frame measured 7.2 ms at 1080p; the shared one-pass scale 1.3-2.8 ms).
        self._reformatter = VideoReformatter()
        self._fits: dict[tuple[int, int], tuple[int, int, int, int]] = {}
        self._black: list[np.ndarray] | None = None
        bits = max(c.bits for c in self._format.components)
        self._sample = np.dtype(np.uint8) if bits <= 8 else np.dtype("<u2")
        self._is_yuv = pix_fmt.startswith("yuv")
        self._range = ColorRange.JPEG if pix_fmt.startswith("yuvj") else ColorRange.MPEG
        self._painter = _Painter(self._format, width, height, burn_in) if burn_in else None

    def frames(self, model_chunks: Iterable[np.ndarray]) -> Iterator[av.VideoFrame]:
        """Yield delivery frames (pts = media frame index) for model frames given one by one or in chunks."""
        index = 0
        for chunk in model_chunks:
            for model_frame in _split(chunk):
                frame = self.convert(model_frame)
                if self._painter is not None:
                    self._painter.paint(frame, index)
                frame.pts = index
                index += 1
                yield frame

    def convert(self, model_frame: np.ndarray) -> av.VideoFrame:
        """Return one model frame fitted whole (no crop, no stretch) at delivery size and format, no burn-in."""
        rows, cols = model_frame.shape[0], model_frame.shape[1]
        if (rows, cols) not in self._fits:
            self._fits[(rows, cols)] = fit_rect(cols, rows, self.width, self.height)
        x, y, w, h = self._fits[(rows, cols)]
        source = av.VideoFrame.from_ndarray(np.ascontiguousarray(model_frame), format="rgb24")
        picture = self._scale(source, w, h)
        if (w, h) == (self.width, self.height):
            return picture
        return self._on_black(picture, x, y)

    def _scale(self, source: av.VideoFrame, width: int, height: int) -> av.VideoFrame:
        if not self._is_yuv:
            return self._reformatter.reformat(source, width, height, self.pix_fmt, interpolation=self._interpolation)
        # Tag and convert as BT.709 limited range, the HD delivery norm; encode.py copies these
        # tags into the stream so players and NLEs pick the matching matrix.
        return self._reformatter.reformat(
            source,
            width,
            height,
            self.pix_fmt,
            dst_colorspace=Colorspace.ITU709,
            dst_color_range=self._range,
            dst_color_trc=ColorTrc.BT709,
            dst_color_primaries=ColorPrimaries.BT709,
            interpolation=self._interpolation,
        )

    def _on_black(self, picture: av.VideoFrame, x: int, y: int) -> av.VideoFrame:
        """The scaled picture centred on a black delivery frame (bars), planes copied with numpy."""
        frame = av.VideoFrame(self.width, self.height, self.pix_fmt)
        if self._black is None:
            self._black = [np.full_like(_plane_view(p, self._sample), value) for p, value in
                           zip(frame.planes, _black_levels(self._format, self._range), strict=False)]
        for index, (plane, inner) in enumerate(zip(frame.planes, picture.planes, strict=True)):
            target = _plane_view(plane, self._sample)
            target[...] = self._black[index]
            sub_x = self.width // plane.width
            sub_y = self.height // plane.height
            source = _plane_view(inner, self._sample)
            target[y // sub_y: y // sub_y + source.shape[0], x // sub_x: x // sub_x + source.shape[1]] = source
        for attribute in ("colorspace", "color_range", "color_trc", "color_primaries"):
            try:
                setattr(frame, attribute, getattr(picture, attribute))
            except (AttributeError, TypeError, ValueError):  # older PyAV: the stream tags still say BT.709
                pass
        return frame


def _plane_view(plane: VideoPlane, dtype: np.dtype) -> np.ndarray:
    """A writable (rows, samples) view of a plane, padding excluded."""
    per_row = plane.line_size // dtype.itemsize
    rows = np.frombuffer(memoryview(plane), dtype=dtype, count=per_row * plane.height)
    return rows.reshape(plane.height, per_row)[:, : plane.width]


def _black_levels(fmt: av.VideoFormat, colour_range: ColorRange) -> list[int]:
    """Black in each plane: Y at 16 (limited) or 0 (full), chroma at the midpoint; RGB all 0."""
    components = [c for c in fmt.components if not c.is_alpha]
    if not fmt.name.startswith("yuv"):
        return [0] * len(components)
    scale = 1 << (components[0].bits - 8)
    luma = 0 if colour_range == ColorRange.JPEG else 16 * scale
    return [luma] + [128 * scale] * (len(components) - 1)


def _split(chunk: np.ndarray) -> Iterable[np.ndarray]:
    """Return the (h, w, 3) frames in a chunk, refusing anything that is not uint8 RGB."""
    shape = getattr(chunk, "shape", None)
    dtype = getattr(chunk, "dtype", type(chunk).__name__)
    if (
        not isinstance(chunk, np.ndarray)
        or chunk.dtype != np.uint8
        or chunk.ndim not in (3, 4)
        or chunk.shape[-1] != 3
        or 0 in chunk.shape[-3:-1]
    ):
        raise SynthesisError(
            f"model frames must be uint8 RGB arrays shaped (h, w, 3) or (t, h, w, 3), got shape {shape} dtype {dtype}"
        )
    return (chunk,) if chunk.ndim == 3 else chunk


class _Painter:
    """Paints the burn-in onto converted frames' planes; Pillow only runs at setup and for new characters."""

    def __init__(self, fmt: av.VideoFormat, width: int, height: int, burn_in: BurnIn) -> None:
        luma, *chroma = [c for c in fmt.components if not c.is_alpha]
        if (
            not fmt.name.startswith("yuv")
            or not fmt.is_planar
            or fmt.is_big_endian
            or len(chroma) != 2
            or not 8 <= luma.bits <= 16
        ):
            raise UsageError(f"burn-in needs a planar little-endian YUV format, got {fmt.name}")
        self._dtype = np.dtype(np.uint8) if luma.bits == 8 else np.dtype("<u2")
        self._sub_x = width // fmt.chroma_width(width)
        self._sub_y = height // fmt.chroma_height(height)
        if self._sub_x not in (1, 2) or self._sub_y not in (1, 2):
            raise UsageError(f"burn-in does not support the chroma layout of {fmt.name}")
        scale = 1 << (luma.bits - 8)
        full_range = fmt.name.startswith("yuvj")
        self._black = (0 if full_range else 16) * scale
        self._white = (255 if full_range else 235) * scale
        self._neutral = 128 * scale
        self._peak = (1 << luma.bits) - 1
        self._width, self._height = width, height
        self._burn_in = burn_in

        font = ImageFont.load_default(size=max(_MIN_FONT_PX, round(height * _TEXT_HEIGHT)))
        if not isinstance(font, ImageFont.FreeTypeFont):  # Pillow built without FreeType
            raise UsageError("burn-in needs Pillow with FreeType support (the default wheels have it)")
        self._font = font
        ascent, descent = self._font.getmetrics()
        self._line_height = ascent + descent
        self._pad = max(1, self._line_height // 5)
        self._margin = max(2, round(height * 0.02))
        self._notdef = _text_alpha(self._font, _MISSING)
        self._digit_width = max(math.ceil(self._font.getlength(d)) for d in "0123456789")
        self._glyphs: dict[str, np.ndarray] = {}
        self._has: dict[str, bool] = {}

        # The label and the shot name never change: render them once, whole (with kerning).
        label = self._overlay(_text_alpha(self._font, LABEL), self._margin, self._margin)
        room = width - 3 * self._margin - self._box_width(self._per_frame_text(0))
        name_alpha = _text_alpha(self._font, self._fit(self._drawable(burn_in.shot_name), room))
        name = self._overlay(name_alpha, self._margin, height - self._margin - self._box_height(name_alpha))
        self._static = (label, name)

    def paint(self, frame: av.VideoFrame, index: int) -> None:
        """Burn label, shot name, timecode and frame number into the frame, in place."""
        planes = [self._plane_array(p) for p in frame.planes[:3]]
        for overlay in self._static:
            self._apply(planes, overlay)
        cells = [self._glyph(ch) for ch in self._per_frame_text(index)]
        alpha = np.concatenate(cells, axis=1)
        x = self._width - self._margin - self._box_width_of(alpha)
        y = self._height - self._margin - self._box_height(alpha)
        self._apply(planes, self._overlay(alpha, x, y))

    def _per_frame_text(self, index: int) -> str:
        number = str(self._burn_in.first_frame_number + index).rjust(4, _FIGURE_SPACE)
        return f"{self._drawable(self._burn_in.timecode_of(index))}  fr {number}"

    def _plane_array(self, plane: VideoPlane) -> np.ndarray:
        # Rows are line_size bytes apart (swscale pads them for SIMD); view, don't copy.
        per_row = plane.line_size // self._dtype.itemsize
        rows = np.frombuffer(memoryview(plane), dtype=self._dtype, count=per_row * plane.height)
        return rows.reshape(plane.height, per_row)[:, : plane.width]

    def _glyph(self, ch: str) -> np.ndarray:
        """Return the cached alpha cell of one character; digits share one width so text stays put."""
        if ch not in self._glyphs:
            if ch == _FIGURE_SPACE:
                cell = np.zeros((self._line_height, self._digit_width), np.float32)
            else:
                cell = _text_alpha(self._font, ch)
                if ch.isdigit() and cell.shape[1] < self._digit_width:
                    spare = self._digit_width - cell.shape[1]
                    cell = np.pad(cell, ((0, 0), (spare // 2, spare - spare // 2)))
            self._glyphs[ch] = cell
        return self._glyphs[ch]

    def _drawable(self, text: str) -> str:
        """Return text with characters the font lacks replaced: accents stripped, else '?'."""
        out = []
        for ch in unicodedata.normalize("NFC", text):
            if ch.isspace() or not ch.isprintable():
                out.append(" ")
            elif self._has_glyph(ch):
                out.append(ch)
            else:
                # 'é' -> 'e' keeps a European name readable; CJK and the like become '?'.
                base = "".join(c for c in unicodedata.normalize("NFKD", ch) if self._has_glyph(c))
                out.append(base or "?")
        return "".join(out)

    def _has_glyph(self, ch: str) -> bool:
        # Cached: the timecode text passes through here every frame.
        if ch not in self._has:
            alpha = _text_alpha(self._font, ch)
            self._has[ch] = ch.isspace() or not (
                alpha.shape == self._notdef.shape and np.array_equal(alpha, self._notdef)
            )
        return self._has[ch]

    def _fit(self, text: str, room: int) -> str:
        """Return text cut with '...' so its box fits in room pixels (long shot names)."""
        if self._box_width(text) <= room:
            return text
        while text and self._box_width(text + "...") > room:
            text = text[:-1]
        return text + "..."

    def _box_width(self, text: str) -> int:
        return math.ceil(self._font.getlength(text)) + 2 * self._pad + 2

    def _box_width_of(self, alpha: np.ndarray) -> int:
        return _even(alpha.shape[1] + 2 * self._pad)

    def _box_height(self, alpha: np.ndarray) -> int:
        return _even(alpha.shape[0] + 2 * self._pad)

    def _overlay(self, alpha: np.ndarray, x: int, y: int) -> _Overlay:
        """Return the gain/add/keep arrays for text alpha on a dark box with its top-left at (x, y)."""
        h, w = self._box_height(alpha), self._box_width_of(alpha)
        a = np.zeros((h, w), np.float32)
        a[self._pad : self._pad + alpha.shape[0], self._pad : self._pad + alpha.shape[1]] = alpha
        behind = (1.0 - _BOX_OPACITY) * (1.0 - a)  # share of the picture left showing
        add = self._black * _BOX_OPACITY * (1.0 - a) + self._white * a
        # White text and a grey box are both colourless: pull chroma to neutral by coverage.
        sx, sy = self._sub_x, self._sub_y
        pooled = a.reshape(h // sy, sy, w // sx, sx).mean(axis=(1, 3))
        keep = (1.0 - _BOX_OPACITY) * (1.0 - pooled)
        return _Overlay(x - x % 2, y - y % 2, behind, add.astype(np.float32), keep.astype(np.float32))

    def _apply(self, planes: list[np.ndarray], overlay: _Overlay) -> None:
        """Blend one overlay into the Y, U, V plane arrays, clipped to the frame."""
        h, w = overlay.gain.shape
        x0, y0 = max(overlay.x, 0), max(overlay.y, 0)
        x1, y1 = min(overlay.x + w, self._width), min(overlay.y + h, self._height)
        if x0 >= x1 or y0 >= y1:
            return
        ox, oy = x0 - overlay.x, y0 - overlay.y  # all even: sizes, positions and frame are
        luma = planes[0][y0:y1, x0:x1]
        mixed = luma * overlay.gain[oy : oy + y1 - y0, ox : ox + x1 - x0]
        mixed += overlay.add[oy : oy + y1 - y0, ox : ox + x1 - x0]
        luma[...] = np.clip(mixed + 0.5, 0, self._peak).astype(self._dtype)
        sx, sy = self._sub_x, self._sub_y
        keep = overlay.keep[oy // sy : (oy + y1 - y0) // sy, ox // sx : (ox + x1 - x0) // sx]
        neutral = self._neutral * (1.0 - keep)
        for plane in planes[1:3]:
            chroma = plane[y0 // sy : y1 // sy, x0 // sx : x1 // sx]
            chroma[...] = (chroma * keep + neutral + 0.5).astype(self._dtype)


def _text_alpha(font: ImageFont.FreeTypeFont, text: str) -> np.ndarray:
    """Return text rendered white-on-black as float32 alpha (0..1), one line high."""
    ascent, descent = font.getmetrics()
    width = max(1, math.ceil(font.getlength(text)))
    image = Image.new("L", (width, ascent + descent))
    ImageDraw.Draw(image).text((0, 0), text, font=font, fill=255)
    return np.asarray(image, dtype=np.float32) / 255.0


def _even(n: int) -> int:
    return n + n % 2
