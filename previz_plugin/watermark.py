"""An invisible watermark in every generated frame: "previz output, shot <id prefix>".

What is carried (`payload_for`, 40 bits, then a CRC, then an error-correcting code):

    bits 55..48  tag      0xB1: high nibble 0xB = previz output, low nibble 1 = watermark version 1
    bits 47..16  shot     the first 8 hex digits of the shot id (32 bits)
    bits 15..0   check    CRC-16/CCITT-FALSE of the 5 bytes above
    -> convolutional code K = 7, rate 1/3 (133, 171, 165 octal), zero tail: 186 code symbols

How it is carried: a static spread-spectrum pattern in luma, the same in every frame of a shot, made
of "chips" - a grid of +-1 values, `ROWS` chips per frame height, square, laid out from the frame's
centre, joined by bilinear interpolation so the pattern is smooth (its energy sits below the
frequencies H.264 quantises away, and it survives a halving of the size). A fifth of the chips are a
fixed pseudo-random sync pattern; every other chip carries one of the 186 code symbols, dealt out in
rings from the centre so every symbol lands on about 8 chips spread over the frame: a crop loses a
share of every symbol, never a whole one. Because the pattern is laid out in units of the frame
height, a scaled copy keeps it in place, and a crop only shifts it and (when the height is cut)
enlarges it.

Detection (`detect_frames`, `detect_file`) averages the frames' luma at a small working size (a
constant pattern adds up, moving picture does not), removes the picture's own low frequencies and
evens out its contrast, then searches scale hypotheses (the share of the original height still in
the frame, 0.84..1.0) and, by one FFT correlation each, every offset a crop of up to 15 % allows,
for the sync pattern. At the best peaks it refines the alignment, estimates each chip with its
neighbours' overlap undone, Viterbi-decodes the symbols and reports a watermark only when the tag and
the CRC both check out (24 checked bits) and the sync peak stands clear of the noise.

Embedding (`Watermarker`) is four saturating numpy passes over the luma plane of each frame, with
the pattern made once per shot; chroma is untouched. Bit depth 8 to 16 (yuv420p, yuv422p10le, ...).
"""

from __future__ import annotations

import math
import os
import pathlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

from previz_plugin.errors import PrevizError, UsageError

__all__ = ["TAG", "ROWS", "Watermarker", "WatermarkReading", "detect_file", "detect_frames", "payload_for",
           "shot_prefix_of"]

TAG = 0xB1  # 0xB: previz output; 1: this layout (ROWS, chip field, bit order, CRC)
ROWS = 36  # chips per frame height: 30 px at 1080p, 15 px after a halving
PAYLOAD_BITS = 40
CHECKED_BITS = 56  # payload + CRC-16
_CONSTRAINT = 7  # convolutional code: K = 7, rate 1/3, generators 133 171 165 (octal), zero tail
_GENERATORS = (0o133, 0o171, 0o165)
CODED_BITS = (CHECKED_BITS + _CONSTRAINT - 1) * len(_GENERATORS)  # 186 chips' worth of symbols
AMPLITUDE = 2.1  # RMS in 8-bit limited-range luma steps: Y-PSNR 41.6 dB, full-range RGB 40.3 dB
_SYNC_SHARE = 0.2
_FIELD_SEED = 0x5EED_B1  # changing it, ROWS or the bit order makes a new TAG version
_MAX_HALF_COLUMNS = 4 * ROWS  # the chip field covers aspects up to 8:1
_WORK_ROWS = 4  # working pixels per chip at full height
_SCALES = tuple(np.round(np.arange(1.0, 0.835, -0.01), 3))  # share of the original height still seen
_Z_FOUND = 4.5  # the sync peak must stand this many noise deviations clear, as well as the CRC check
_CANDIDATES = 4  # sync peaks decoded before giving up


def payload_for(shot_id: str) -> int:
    """Return the 40-bit payload of a shot: TAG in the top 8 bits, the shot id's first 8 hex digits below."""
    return (TAG << 32) | int(shot_prefix_of(shot_id), 16)


def shot_prefix_of(shot_id: str) -> str:
    """Return the 8 lower-case hex digits of the shot id a watermark carries, or raise UsageError."""
    prefix = shot_id[:8].lower() if isinstance(shot_id, str) else ""
    if len(prefix) != 8 or any(ch not in "0123456789abcdef" for ch in prefix):
        raise UsageError(f"a watermarked shot id must start with 8 hex digits, got {shot_id!r}")
    return prefix


@dataclass(frozen=True)
class WatermarkReading:
    """What a detection found: whether a previz watermark is there, what it says and how sure it is."""

    found: bool
    payload: int | None  # the 40-bit payload (TAG << 32 | shot prefix) when found
    shot_prefix: str | None  # 8 hex digits when found
    confidence: float  # the sync peak in noise deviations (about 4 on unmarked pictures, 8-40 on marked)
    frames_read: int
    scale: float | None = None  # share of the original frame height seen (1.0 uncropped; 0.9 for a 10 % crop)


class Watermarker:
    """Marks frames of one shot: the pattern is made once, each frame costs four passes over its luma.

    `mark(frame)` takes an `av.VideoFrame` in a planar YUV format (yuv420p, yuv422p10le, ...) at
    width x height and changes its luma plane in place; `mark_luma(plane)` does the same to a numpy
    luma array (uint8, or uint16 at `bits` depth).
    """

    def __init__(self, width: int, height: int, payload: int, pix_fmt: str = "yuv420p") -> None:
        if not (isinstance(width, int) and isinstance(height, int)) or width < 16 or height < 16:
            raise UsageError(f"watermark frame size must be at least 16x16, got {width}x{height}")
        if isinstance(payload, bool) or not isinstance(payload, int) or not 0 <= payload < 1 << PAYLOAD_BITS:
            raise UsageError(f"watermark payload must be a {PAYLOAD_BITS}-bit int (see payload_for), got {payload!r}")
        self.width, self.height, self.payload, self.pix_fmt = width, height, payload, pix_fmt
        self.bits = _luma_bits(pix_fmt)
        peak = (1 << self.bits) - 1
        dtype = np.dtype(np.uint8) if self.bits <= 8 else np.dtype("<u2")
        levels = _chip_levels(_coded_bits(payload))
        pattern = _render(levels, height, width)
        pattern *= AMPLITUDE * (1 << (self.bits - 8)) / max(float(np.sqrt(np.mean(pattern**2))), 1e-9)
        steps = np.rint(pattern).astype(np.int32)
        self._raise = np.clip(steps, 0, peak).astype(dtype)
        self._ceiling = (peak - self._raise).astype(dtype)  # adding never passes the peak
        self._lower = np.clip(-steps, 0, peak).astype(dtype)
        self._dtype = dtype

    def mark(self, frame: object) -> None:
        """Add the watermark to an av.VideoFrame's luma plane, in place."""
        import av

        if not isinstance(frame, av.VideoFrame):
            raise UsageError(f"Watermarker.mark needs an av.VideoFrame, got {type(frame).__name__}")
        if (frame.width, frame.height, frame.format.name) != (self.width, self.height, self.pix_fmt):
            raise UsageError(f"frame is {frame.width}x{frame.height} {frame.format.name}, the watermark was made "
                             f"for {self.width}x{self.height} {self.pix_fmt}")
        plane = frame.planes[0]
        per_row = plane.line_size // self._dtype.itemsize
        rows = np.frombuffer(memoryview(plane), dtype=self._dtype, count=per_row * plane.height)
        self._add(rows.reshape(plane.height, per_row)[:, : plane.width])

    def mark_luma(self, luma: np.ndarray) -> None:
        """Add the watermark to a (height, width) luma array of the format's sample type, in place."""
        if not isinstance(luma, np.ndarray) or luma.shape != (self.height, self.width) or luma.dtype != self._dtype:
            raise UsageError(f"luma must be a {self._dtype} array shaped {(self.height, self.width)}, got "
                             f"{getattr(luma, 'dtype', type(luma).__name__)} {getattr(luma, 'shape', '')}")
        self._add(luma)

    def _add(self, luma: np.ndarray) -> None:
        # Saturating add and subtract in the sample type: no widening copy of a 1080p plane per frame.
        np.minimum(luma, self._ceiling, out=luma)
        luma += self._raise
        np.maximum(luma, self._lower, out=luma)
        luma -= self._lower


def detect_frames(luma_frames: Iterable[np.ndarray], *, bits: int = 8) -> WatermarkReading:
    """Return the watermark reading of a shot's luma frames (2-D arrays, all one size, `bits` deep)."""
    total: np.ndarray | None = None
    count = 0
    for luma in luma_frames:
        plane = np.asarray(luma)
        if plane.ndim != 2 or min(plane.shape) < 16:
            raise UsageError(f"luma frames must be 2-D and at least 16x16, got shape {plane.shape}")
        if total is None:
            total = np.zeros(plane.shape, np.float64)
        elif plane.shape != total.shape:
            raise UsageError(f"luma frame {count} is {plane.shape}, the first was {total.shape}")
        total += plane
        count += 1
    if total is None:
        raise UsageError("no frames to look for a watermark in")
    mean = total * (255.0 / ((1 << bits) - 1) / count)
    work_h, work_w = _work_size(*mean.shape)
    small = _area_matrix(mean.shape[0], work_h) @ mean @ _area_matrix(mean.shape[1], work_w).T
    return _read(small, count)


def detect_file(path: str | os.PathLike[str], *, max_frames: int = 96) -> WatermarkReading:
    """Return the watermark reading of a media file's first video stream (its first max_frames frames)."""
    import av

    source = pathlib.Path(path)
    if not source.is_file():
        raise UsageError(f"cannot look for a watermark in {source}: no such file")
    total: np.ndarray | None = None
    count = 0
    try:
        with av.open(str(source)) as container:
            if not container.streams.video:
                raise UsageError(f"cannot look for a watermark in {source}: it holds no video")
            stream = container.streams.video[0]
            stream.thread_type = "AUTO"
            work_h, work_w = _work_size(stream.codec_context.height, stream.codec_context.width)
            for frame in container.decode(stream):
                # swscale's area filter to the working size: the average of each pixel block, as detect_frames.
                gray = frame.reformat(width=work_w, height=work_h, format="gray", interpolation="AREA")
                plane = gray.to_ndarray().astype(np.float64)
                total = plane if total is None else total + plane
                count += 1
                if count >= max_frames:
                    break
    except av.FFmpegError as error:
        raise UsageError(f"cannot look for a watermark in {source}: not a readable video ({error})") from None
    except (OSError, ValueError) as error:
        if isinstance(error, PrevizError):
            raise
        raise UsageError(f"cannot look for a watermark in {source}: {error}") from None
    if total is None:
        raise UsageError(f"cannot look for a watermark in {source}: no video frames decode")
    return _read(total / count, count)


# --- the chip field -------------------------------------------------------------------------------


def _crc16(data: bytes) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF)."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) & 0xFFFF if crc & 0x8000 else (crc << 1) & 0xFFFF
    return crc


def _checked_bits(payload: int) -> np.ndarray:
    """The 56 bits protected by the code: payload then CRC, most significant first, as 0/1."""
    word = (payload << 16) | _crc16(payload.to_bytes(5, "big"))
    return ((word >> np.arange(CHECKED_BITS - 1, -1, -1, dtype=np.uint64)) & np.uint64(1)).astype(np.int64)


def _branch_outputs() -> np.ndarray:
    """(128, 3) code symbols (+1/-1) for each 7-bit shift register (newest bit lowest)."""
    parity = [[bin(register & tap).count("1") & 1 for tap in _GENERATORS] for register in range(1 << _CONSTRAINT)]
    return np.where(np.array(parity) == 1, 1.0, -1.0)


_OUTPUTS = _branch_outputs()


def _coded_bits(payload: int) -> np.ndarray:
    """The CODED_BITS symbols sent (+1/-1): the checked bits through the convolutional code, zero tail."""
    bits = np.concatenate([_checked_bits(payload), np.zeros(_CONSTRAINT - 1, np.int64)])
    register, symbols = 0, []
    for bit in bits:
        register = ((register << 1) | int(bit)) & ((1 << _CONSTRAINT) - 1)
        symbols.append(_OUTPUTS[register])
    return np.concatenate(symbols)


def _viterbi(soft: np.ndarray) -> np.ndarray:
    """The most likely checked bits (0/1) for soft symbols (positive = +1), by the Viterbi algorithm."""
    states = 1 << (_CONSTRAINT - 1)
    metric = np.full(states, -np.inf)
    metric[0] = 0.0
    per_step = soft.reshape(-1, len(_GENERATORS))
    next_state = np.arange(states)
    # Register r = (state << 1) | bit; the next state is r's low 6 bits; its two predecessors differ in r's top bit.
    registers = np.stack([next_state, next_state | states])  # (2, states)
    choices = np.empty((len(per_step), states), np.int64)
    for step, symbols in enumerate(per_step):
        branch = _OUTPUTS[registers] @ symbols  # (2, states)
        candidates = metric[registers >> 1] + branch
        pick = np.argmax(candidates, axis=0)
        choices[step] = pick
        metric = candidates[pick, next_state]
    state, bits = 0, []  # the zero tail ends in state 0
    for step in range(len(per_step) - 1, -1, -1):
        bits.append(state & 1)
        state = int(registers[choices[step, state], state]) >> 1
    return np.array(bits[::-1][:CHECKED_BITS])


def _check(bits: np.ndarray) -> int | None:
    """Return the payload of decoded bits (0/1, MSB first) when the CRC and TAG check out, else None."""
    word = int("".join("1" if b else "0" for b in bits), 2)
    payload, crc = word >> 16, word & 0xFFFF
    if payload >> 32 != TAG or _crc16(payload.to_bytes(5, "big")) != crc:
        return None
    return payload


class _Field:
    """The fixed chip layout: pseudo-random signs, which chips are sync, which code symbol each other chip carries."""

    def __init__(self) -> None:
        rng = np.random.default_rng(_FIELD_SEED)
        shape = (ROWS + 2, 2 * _MAX_HALF_COLUMNS)  # rows -1..ROWS: half chips show at the top and bottom
        self.signs = rng.choice([-1.0, 1.0], size=shape)
        self.is_sync = rng.random(shape) < _SYNC_SHARE
        # Symbols go out in rings from the centre, every symbol once per CODED_BITS chips in a fresh
        # random order: any frame or crop around the centre holds nearly the same count of each.
        rows, columns = np.indices(shape)
        ring = np.maximum(np.abs(rows - (ROWS + 1) / 2) * 16 / 9, np.abs(columns - _MAX_HALF_COLUMNS + 0.5))
        order = [i for i in np.argsort(ring.ravel(), kind="stable") if not self.is_sync.ravel()[i]]
        deal = np.concatenate([rng.permutation(CODED_BITS) for _ in range(len(order) // CODED_BITS + 1)])
        symbol_of = np.zeros(shape[0] * shape[1], np.int64)
        symbol_of[order] = deal[: len(order)]
        self.bit_of = symbol_of.reshape(shape)
        self.sync = np.where(self.is_sync, self.signs, 0.0)


_FIELD = _Field()


def _chip_levels(coded: np.ndarray) -> np.ndarray:
    """The +-1 level of every chip for these coded bits."""
    return np.where(_FIELD.is_sync, 1.0, coded[_FIELD.bit_of]) * _FIELD.signs


def _interpolation(count: int, centres: np.ndarray, chip: float) -> np.ndarray:
    """(count, len(centres)) bilinear weights of chips at centres (pixel units) for pixel centres 0.5 .. count-0.5."""
    pixels = np.arange(count, dtype=np.float64)[:, None] + 0.5
    return np.maximum(0.0, 1.0 - np.abs(pixels - centres[None, :]) / chip)


def _axes(height: int, width: int, chip: float, top: float, centre_x: float) -> tuple[np.ndarray, np.ndarray, slice]:
    """Interpolation matrices for the field's rows and for its columns in view (the slice returned).

    Chip row 0 starts at `top`; the field's centre line (between its two middle columns) is at `centre_x`.
    """
    rows = top + (np.arange(ROWS + 2) - 0.5) * chip
    first = max(0, math.floor(-centre_x / chip) - 1 + _MAX_HALF_COLUMNS)
    last = min(2 * _MAX_HALF_COLUMNS, math.ceil((width - centre_x) / chip) + 1 + _MAX_HALF_COLUMNS)
    columns = centre_x + (np.arange(first, last) - _MAX_HALF_COLUMNS + 0.5) * chip
    return _interpolation(height, rows, chip), _interpolation(width, columns, chip), slice(first, last)


def _render(levels: np.ndarray, height: int, width: int) -> np.ndarray:
    """The pattern of these chip levels on a height x width frame, as float32."""
    along_y, along_x, seen = _axes(height, width, height / ROWS, 0.0, width / 2)
    return (along_y @ levels[:, seen] @ along_x.T).astype(np.float32)


# --- detection -----------------------------------------------------------------------------------


def _luma_bits(pix_fmt: str) -> int:
    """Bit depth of a planar little-endian YUV format's luma, or raise UsageError."""
    import av

    try:
        fmt = av.VideoFormat(pix_fmt)
    except (ValueError, TypeError):
        raise UsageError(f"unknown pixel format {pix_fmt!r}") from None
    luma = fmt.components[0]
    if not fmt.name.startswith("yuv") or not fmt.is_planar or fmt.is_big_endian or not 8 <= luma.bits <= 16:
        raise UsageError(f"the watermark needs a planar little-endian YUV format, got {pix_fmt}")
    return int(luma.bits)


def _work_size(height: int, width: int) -> tuple[int, int]:
    """The working (height, width): about _WORK_ROWS pixels a chip, the frame's aspect kept."""
    work_h = _WORK_ROWS * ROWS
    return work_h, max(16, round(work_h * width / height))


def _area_matrix(size_in: int, size_out: int) -> np.ndarray:
    """(size_out, size_in) weights that average each output pixel's share of the input (area resize)."""
    edges = np.arange(size_out + 1) * (size_in / size_out)
    starts, ends = edges[:-1, None], edges[1:, None]
    pixels = np.arange(size_in)[None, :]
    overlap = np.clip(np.minimum(ends, pixels + 1) - np.maximum(starts, pixels), 0.0, None)
    return overlap / overlap.sum(axis=1, keepdims=True)


def _box_blur(image: np.ndarray, radius: int) -> np.ndarray:
    """Separable box mean of side 2 * radius + 1, edges replicated."""
    out = image
    for axis in (0, 1):
        padded = np.pad(out, [(radius + 1, radius) if a == axis else (0, 0) for a in (0, 1)], mode="edge")
        sums = np.cumsum(padded, axis=axis)
        size = 2 * radius + 1
        out = (np.take(sums, range(size, sums.shape[axis]), axis=axis)
               - np.take(sums, range(0, sums.shape[axis] - size), axis=axis)) / size
    return out


def _whiten(mean: np.ndarray) -> np.ndarray:
    """The averaged picture with its low frequencies removed and its local contrast evened out."""
    detail = mean - _box_blur(mean, _WORK_ROWS)
    # Dividing by the local deviation keeps strong edges from drowning the pattern; the floor (in 8-bit
    # levels) stops flat areas' quantisation noise from being blown up.
    spread = np.sqrt(_box_blur(detail**2, _WORK_ROWS)) + 0.25
    return np.clip(detail / spread, -3.0, 3.0)


@dataclass(frozen=True)
class _Peak:
    z: float
    scale: float
    top: float  # working-pixel position of the top of chip row 0
    centre_x: float  # working-pixel position of the field's centre column line


def _search(residual: np.ndarray) -> list[_Peak]:
    """The best sync peak of each scale hypothesis, strongest first."""
    height, width = residual.shape
    peaks = []
    for scale in _SCALES:
        chip = height / (ROWS * scale)
        # The canvas holds the field's rows and the columns a crop of up to 15 % can bring into view.
        margin = math.ceil(0.16 * width / scale) + math.ceil(2 * chip)
        canvas_h = math.ceil(ROWS * chip) + 2 * math.ceil(2 * chip)
        canvas_w = width + 2 * margin
        fft_shape = (_fast_size(canvas_h + height), _fast_size(canvas_w + width))
        top0, centre0 = math.ceil(2 * chip), canvas_w / 2
        along_y, along_x, seen = _axes(canvas_h, canvas_w, chip, top0, centre0)
        reference = along_y @ _FIELD.sync[:, seen] @ along_x.T
        spectrum = np.fft.rfft2(reference, fft_shape) * np.conj(np.fft.rfft2(residual, fft_shape))
        correlation = np.fft.irfft2(spectrum, fft_shape)
        # Offsets (dy, dx) put the frame's top-left at canvas (dy, dx): row offsets within the field
        # (plus a chip of slack), column offsets within the crop allowance around the centre.
        dy_hi = canvas_h - height
        dx_lo, dx_hi = max(0, round(centre0 - width / 2 - 0.16 * width / scale)), None
        dx_hi = min(canvas_w - width, round(centre0 - width / 2 + 0.16 * width / scale))
        window = correlation[: dy_hi + 1, dx_lo : dx_hi + 1]
        spread = float(np.std(window)) or 1.0
        dy, dx = np.unravel_index(int(np.argmax(window)), window.shape)
        peaks.append(_Peak(float(window[dy, dx] - window.mean()) / spread, float(scale), top0 - float(dy),
                           centre0 - float(dx + dx_lo)))
    return sorted(peaks, key=lambda peak: -peak.z)


def _fast_size(n: int) -> int:
    """The smallest 2^a 3^b 5^c at least n (FFT-friendly)."""
    best = 1 << math.ceil(math.log2(n))
    for three in (1, 3, 9, 27):
        for five in (1, 5, 25):
            base = three * five
            size = base << max(0, math.ceil(math.log2(n / base)))
            if n <= size < best:
                best = size
    return best


def _chip_responses(residual: np.ndarray, scale: float, top: float, centre_x: float) -> np.ndarray:
    """Every chip's matched-filter response at this alignment (rows x columns of the field, 0 out of view)."""
    height, width = residual.shape
    along_y, along_x, seen = _axes(height, width, height / (ROWS * scale), top, centre_x)
    out = np.zeros((ROWS + 2, 2 * _MAX_HALF_COLUMNS))
    out[:, seen] = along_y.T @ residual @ along_x
    return out


def _chip_levels_seen(residual: np.ndarray, scale: float, top: float, centre_x: float) -> np.ndarray:
    """Every chip's level estimated with its neighbours' overlap undone (regularised least squares)."""
    height, width = residual.shape
    along_y, along_x, seen = _axes(height, width, height / (ROWS * scale), top, centre_x)
    responses = along_y.T @ residual @ along_x
    gram_y, gram_x = along_y.T @ along_y, along_x.T @ along_x
    # The ridge keeps chips half out of frame at a damped estimate instead of a blown-up one.
    ridge_y, ridge_x = 0.2 * float(np.max(np.diag(gram_y))), 0.2 * float(np.max(np.diag(gram_x)))
    levels = np.linalg.solve(gram_y + ridge_y * np.eye(len(gram_y)), responses)
    levels = np.linalg.solve(gram_x + ridge_x * np.eye(len(gram_x)), levels.T).T
    out = np.zeros((ROWS + 2, 2 * _MAX_HALF_COLUMNS))
    out[:, seen] = levels
    return out


def _refine(residual: np.ndarray, peak: _Peak) -> tuple[_Peak, np.ndarray]:
    """The alignment near peak (sub-pixel offset, finer scale) with the strongest sync response, and its chips."""
    height, width = residual.shape
    best, best_score, best_chips = peak, -np.inf, None
    for d_scale in (-0.004, 0.0, 0.004):
        scale = peak.scale + d_scale
        # Scale about the frame centre: the chip under the centre stays under it.
        old_chip, chip = height / (ROWS * peak.scale), height / (ROWS * scale)
        top_c = height / 2 - (height / 2 - peak.top) * chip / old_chip
        centre_c = width / 2 - (width / 2 - peak.centre_x) * chip / old_chip
        for dy in (-0.5, 0.0, 0.5):
            for dx in (-0.5, 0.0, 0.5):
                chips = _chip_responses(residual, scale, top_c + dy, centre_c + dx)
                score = float(np.sum(chips * _FIELD.sync))
                if score > best_score:
                    best, best_score, best_chips = _Peak(peak.z, scale, top_c + dy, centre_c + dx), score, chips
    assert best_chips is not None
    return best, best_chips


def _decode(chips: np.ndarray) -> int | None:
    """The payload the chips spell, or None when the decoded bits fail the TAG or CRC check."""
    weights = np.where(_FIELD.is_sync, 0.0, _FIELD.signs) * chips
    soft = np.bincount(_FIELD.bit_of.ravel(), weights=weights.ravel(), minlength=CODED_BITS)
    return _check(_viterbi(soft))


def _read(mean: np.ndarray, count: int) -> WatermarkReading:
    """The reading of an averaged picture at working size."""
    residual = _whiten(mean)
    peaks = _search(residual)
    for peak in peaks[:_CANDIDATES]:
        if peak.z < _Z_FOUND:
            break
        aligned, _ = _refine(residual, peak)
        payload = _decode(_chip_levels_seen(residual, aligned.scale, aligned.top, aligned.centre_x))
        if payload is not None:
            return WatermarkReading(True, payload, f"{payload & 0xFFFFFFFF:08x}", round(peak.z, 2), count,
                                    round(aligned.scale, 3))
    return WatermarkReading(False, None, None, round(peaks[0].z, 2), count)
