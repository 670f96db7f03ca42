"""Pixel measurements for `previz eval`: what a clip's frames show, read from the pixels alone.

Everything here takes uint8 clips (N, T, H, W, 3) (or one clip (T, H, W, 3)) at the judge's size and
knows nothing of how they were made: generated and real clips go through the same functions, and the
real clips' numbers are the reference (for the staging measurements, their ceiling: the staging a
real clip was rendered with is its label). docs/quality.md defines each number.

- `fit_clips`: any model's frames into the judge's frame, fitted whole as the fill delivers them.
- `blur_to_height`: the blur ceiling of the Fréchet distance (real clips at 16 rows, scaled back up).
- `edge_strength`, `frame_change`: sharpness and motion, each compared generated / real.
- `hog_person_rate`: OpenCV's HOG people detector, trained on photographs, on walk frames.
- `measure_staging`: direction, count and framing of a clip's subjects, after compensating the pan.
- `frechet_distance`, `relative_distance`, `seam_ratio`: the statistics the metrics are built from.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from ..errors import UsageError
from ..staging import FRAMINGS, Staging, framing_name
from .layout import FAR_PARALLAX, PAN_SPEED

_LUMA = np.asarray([0.299, 0.587, 0.114], np.float32)  # Rec. 601
EDGE_TOP_SHARE = 0.02
BLUR_CEILING_ROWS = 16
HOG_UPSCALE = 4  # a 128x72 frame becomes 512x288: walkers of medium framing reach the detector's 128-row window
HOG_FRAMES_PER_CLIP = 4


def _resize(clips: np.ndarray, height: int, width: int) -> np.ndarray:
    """uint8 (N, T, h, w, 3) -> (N, T, height, width, 3): area averaging to shrink, bicubic to enlarge."""
    import torch
    import torch.nn.functional as F

    n, t, h, w, _ = clips.shape
    if (h, w) == (height, width):
        return clips
    out = np.empty((n, t, height, width, 3), np.uint8)
    for first in range(0, n, 16):  # 16 clips at a time keeps the float copy small
        part = torch.from_numpy(np.ascontiguousarray(clips[first : first + 16])).float()
        frames = part.reshape(-1, h, w, 3).permute(0, 3, 1, 2)
        if height <= h and width <= w:
            frames = F.interpolate(frames, size=(height, width), mode="area")
        else:
            frames = F.interpolate(frames, size=(height, width), mode="bicubic", align_corners=False)
        frames = frames.round().clamp(0, 255).byte().permute(0, 2, 3, 1)
        out[first : first + 16] = frames.reshape(-1, t, height, width, 3).numpy()
    return out


def fit_clips(clips: np.ndarray, height: int, width: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """Return (clips fitted whole into height x width on black, the picture's (x, y, w, h) in them).

    The rectangle is the fill's (`frame_synthesis.fit_rect`): a 64x64 model frame becomes a 72x72
    picture pillarboxed in 128x72, never cropped or stretched; a 16:9 frame fills the frame.
    """
    from ..frame_synthesis import fit_rect

    n, t, h, w, _ = clips.shape
    x, y, inner_w, inner_h = fit_rect(w, h, width, height)
    picture = _resize(clips, inner_h, inner_w)
    if (inner_w, inner_h) == (width, height):
        return picture, (0, 0, width, height)
    out = np.zeros((n, t, height, width, 3), np.uint8)
    out[:, :, y : y + inner_h, x : x + inner_w] = picture
    return out, (x, y, inner_w, inner_h)


def blur_to_height(clips: np.ndarray, rows: int = BLUR_CEILING_ROWS) -> np.ndarray:
    """Clips area-averaged down to `rows` rows (width kept in proportion, rounded) and scaled back up bicubically."""
    h, w = clips.shape[2:4]
    return _resize(_resize(clips, rows, max(1, round(rows * w / h))), h, w)


def _luma(clips: np.ndarray) -> np.ndarray:
    return (np.asarray(clips, np.float32) / 255.0) @ _LUMA


def edge_strength(clips: np.ndarray, top: float = EDGE_TOP_SHARE) -> float:
    """Mean over frames of the mean of the top `top` share of luma gradient magnitudes (luma in [0, 1]).

    The gradient is the forward difference along x and along y at each pixel; a soft picture has the
    same edges as a sharp one, only lower: its top gradients say how crisp the strongest edges are.
    """
    luma = _luma(clips)
    gx, gy = np.diff(luma, axis=-1)[..., :-1, :], np.diff(luma, axis=-2)[..., :, :-1]
    magnitude = np.sqrt(gx**2 + gy**2).reshape(-1, gx.shape[-2] * gx.shape[-1])
    k = max(1, int(round(top * magnitude.shape[1])))
    return float(np.partition(magnitude, -k, axis=1)[:, -k:].mean())


def box_blur(clips: np.ndarray, size: int) -> np.ndarray:
    """float32 clips in [0, 1], each frame averaged over size x size boxes (valid part only: no border guess)."""
    frames = np.asarray(clips, np.float32) / 255.0
    summed = np.cumsum(np.cumsum(frames, axis=-3), axis=-2)
    summed = np.pad(summed, [(0, 0)] * (frames.ndim - 3) + [(1, 0), (1, 0), (0, 0)])
    box = summed[..., size:, size:, :] - summed[..., :-size, size:, :] - summed[..., size:, :-size, :] \
        + summed[..., :-size, :-size, :]
    return box / float(size * size)


def frame_change(clips: np.ndarray, blur: int = 1) -> float:
    """Mean |frame t+1 - frame t| over every RGB value in [0, 1]; with blur > 1, after a blur x blur box blur."""
    frames = box_blur(clips, blur) if blur > 1 else np.asarray(clips, np.float32) / 255.0
    return float(np.abs(np.diff(frames, axis=-4)).mean())


def hog_person_rate(clips: np.ndarray, frames_per_clip: int = HOG_FRAMES_PER_CLIP, upscale: int = HOG_UPSCALE) -> float:
    """The share of sampled frames in which OpenCV's default HOG people detector finds at least one person.

    The detector (Dalal and Triggs' linear SVM, trained on INRIA photographs) has never seen a
    procedural clip: what it finds is what photographs of people have in common with the frames.
    Frames are upscaled bicubically by `upscale` first; `frames_per_clip` frames evenly spaced per clip.
    """
    import cv2

    hog = cv2.HOGDescriptor()
    hog.setSVMDetector(np.asarray(cv2.HOGDescriptor.getDefaultPeopleDetector(), np.float32))
    found = []
    for clip in clips:
        for t in np.linspace(0, len(clip) - 1, frames_per_clip).round().astype(int):
            frame = cv2.cvtColor(np.ascontiguousarray(clip[t]), cv2.COLOR_RGB2BGR)
            frame = cv2.resize(frame, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_CUBIC)
            boxes, _ = hog.detectMultiScale(frame, winStride=(8, 8), padding=(8, 8), scale=1.05)
            found.append(len(boxes) > 0)
    return float(np.mean(found)) if found else float("nan")


# ---- staging, from the pixels ------------------------------------------------------------------------
#
# 1. The camera: the ground (below the horizon) and the far scenery (above it, FAR_PARALLAX as fast)
#    slide sideways at one velocity for the whole clip. It is the velocity within the data's fastest
#    pan that best lines frame t up with frame t + T/2, with the difference of each pixel capped so a
#    subject's pixels count no more than a tuft of grass's.
# 2. The background: frames shifted back by that velocity, the temporal median of each pixel. The
#    foreground is how far each pixel is from it.
# 3. Direction: the shift that best lines up the foreground of frame t with frame t + 2 (wrapping
#    subjects and partial views barely move it); toward / away (walks whose foreground does not drift):
#    below the horizon, where a walker coming nearer stands lower in the frame, the vertical shift of
#    what differs from its row's median colour, in the walker's columns.
# 4. Count and framing: blobs of foreground per frame; framing from the largest blob's height.

LATERAL_MIN_DRIFT = 0.1 / 72  # frame heights a frame: walkers drifting slower than this walk toward or away
_FOREGROUND = 0.08  # a pixel is foreground this far (max over RGB, in [0, 1]) from the background
# Largest-blob height / frame height at the wide|medium and medium|close boundaries, by class, calibrated with
# `calibrate_framing` on 150 real clips per class (judge train split, clips 50,000-50,149, which the judge never
# renders); the classes differ because a car is lower than it is long and a walker is taller than an animal.
FRAMING_THRESHOLDS = {"walk": (0.535, 0.708), "drive": (0.37, 0.509), "play": (0.41, 0.56)}


@dataclass(frozen=True)
class MeasuredStaging:
    direction: str  # left_to_right, right_to_left, toward or away
    count: int  # 1 .. 3
    framing: str  # wide, medium or close
    drift: float  # the foreground's sideways velocity against the ground, frame heights a frame (+ = rightward)
    depth_motion: float  # downward shift of a non-drifting walker's lower body, frame heights a frame
    pan_velocity: float  # the ground's sideways velocity on screen, frame heights a frame
    subject_height: float  # the largest blob's height (90th percentile over frames) / frame height


def _shifted(image: np.ndarray, dx: float) -> np.ndarray:
    """Image (H, W[, C]) sampled at x + dx (linear), NaN where that falls outside."""
    width = image.shape[1]
    x = np.arange(width) + dx
    left = np.floor(x).astype(int)
    weight = (x - left).reshape((1, width) + (1,) * (image.ndim - 2))
    inside = (left >= 0) & (left + 1 < width)
    left = np.clip(left, 0, width - 2)
    out = image[:, left] * (1.0 - weight) + image[:, left + 1] * weight
    out[:, ~inside] = np.nan
    return out


def _layered_shift(image: np.ndarray, dx: float, horizon: int) -> np.ndarray:
    """Shift the ground (rows from `horizon`) by dx and the far scenery above it by FAR_PARALLAX * dx."""
    return np.concatenate([_shifted(image[:horizon], FAR_PARALLAX * dx), _shifted(image[horizon:], dx)])


def horizon_row(luma: np.ndarray) -> int:
    """The first ground row: below the strongest full-width horizontal edge between 25 % and 70 % of the height."""
    rows = luma.shape[1]
    step = np.median(np.abs(np.diff(np.median(luma, axis=0), axis=0)), axis=1)
    low, high = int(0.25 * rows), int(0.7 * rows)
    return low + int(np.argmax(step[low:high])) + 1


def pan_velocity(luma: np.ndarray, horizon: int, candidates: int = 49, cap: float = 0.08) -> float:
    """The ground's sideways velocity on screen in pixels a frame (content moving right is positive)."""
    frames, rows = luma.shape[0], luma.shape[1]
    lag = max(1, frames // 2)
    limit = 1.05 * PAN_SPEED * rows
    costs = []
    for velocity in np.linspace(-limit, limit, candidates):
        # Frame t + lag sampled at x + velocity * lag is frame t again, if the whole ground moves at velocity.
        residual = [np.minimum(np.abs(luma[t] - _layered_shift(luma[t + lag], velocity * lag, horizon)), cap)
                    for t in range(frames - lag)]
        costs.append((velocity, float(np.nanmean(residual))))
    return min(costs, key=lambda pair: pair[1])[0]


def _best_shift(a: np.ndarray, b: np.ndarray, limit: int) -> float:
    """The shift s (sub-pixel, |s| <= limit) along axis 1 that maximises sum a(x) b(x + s)."""
    width = a.shape[1]
    scores = np.asarray([(a[:, : width - s] * b[:, s:]).sum() if s >= 0 else (a[:, -s:] * b[:, : width + s]).sum()
                         for s in range(-limit, limit + 1)])
    k = int(np.argmax(scores))
    offset = 0.0
    if 0 < k < len(scores) - 1:
        left, centre, right = scores[k - 1 : k + 2]
        curvature = left - 2 * centre + right
        offset = 0.5 * (left - right) / curvature if curvature != 0 else 0.0
    return k - limit + offset


def _blobs(mask: np.ndarray) -> list[tuple[int, int]]:
    """(area, height) of each sizeable foreground blob of one frame's mask, after closing 5x5 gaps."""
    import cv2

    closed = cv2.morphologyEx(mask.astype(np.uint8), cv2.MORPH_CLOSE, np.ones((5, 5), np.uint8))
    n, _, stats, _ = cv2.connectedComponentsWithStats(closed, connectivity=8)
    blobs = [(int(stats[k, cv2.CC_STAT_AREA]), int(stats[k, cv2.CC_STAT_HEIGHT])) for k in range(1, n)]
    largest = max((area for area, _ in blobs), default=0)
    return [(area, height) for area, height in blobs if area >= max(10, 0.25 * largest)]


def measure_staging(frames: np.ndarray, class_label: str) -> MeasuredStaging:
    """Return the staging one clip (T, H, W, 3) shows: its subjects' direction, count and framing."""
    colour = np.asarray(frames, np.float32) / 255.0
    luma = colour @ _LUMA
    count_frames, rows = luma.shape[0], luma.shape[1]
    horizon = horizon_row(luma)
    velocity = pan_velocity(luma, horizon)
    middle = (count_frames - 1) / 2
    aligned = np.stack([_layered_shift(colour[t], velocity * (t - middle), horizon) for t in range(count_frames)])
    with warnings.catch_warnings():  # columns the shift moved out of view in every frame are NaN: no background
        warnings.simplefilter("ignore", RuntimeWarning)
        background = np.nanmedian(aligned, axis=0)
        deviation = np.nan_to_num(np.nanmax(np.abs(aligned - background), axis=-1))
    signal = np.clip(deviation - _FOREGROUND / 2, 0, None)
    drift = float(np.median([_best_shift(signal[t], signal[t + 2], max(2, rows // 4)) / 2
                             for t in range(count_frames - 2)])) if count_frames > 2 else 0.0
    depth = 0.0
    if class_label == "walk" and abs(drift) < LATERAL_MIN_DRIFT * rows:
        direction, depth = _depth_direction(np.nan_to_num(aligned), signal, horizon)
    else:
        direction = "left_to_right" if drift > 0 else "right_to_left"
    blobs = [_blobs(deviation[t] > _FOREGROUND) for t in range(count_frames)]
    count = int(np.clip(round(np.percentile([len(b) for b in blobs], 75)), 1, 3))
    height = float(np.percentile([max((h for _, h in b), default=0) for b in blobs], 90)) / rows
    wide_medium, medium_close = FRAMING_THRESHOLDS.get(class_label, (1 / 3, 2 / 3))
    framing = FRAMINGS[int(height >= wide_medium) + int(height >= medium_close)]
    return MeasuredStaging(direction, count, framing, drift / rows, depth / rows, velocity / rows, height)


def _depth_direction(aligned: np.ndarray, signal: np.ndarray, horizon: int, lag: int = 6) -> tuple[str, float]:
    """("toward" or "away", the vertical shift in pixels a frame) of a walker that does not drift sideways."""
    residual = np.abs(aligned - np.median(aligned, axis=2, keepdims=True)).max(axis=-1)
    residual[:, : horizon + 1] = 0.0
    moving = signal.sum(axis=(0, 1))
    columns = np.convolve(moving > 0.25 * moving.max(), np.ones(7), "same") > 0 if moving.max() > 0 else moving >= 0
    part = residual[:, :, columns]
    lag = min(lag, len(part) - 1)
    if lag < 1:
        return "toward", 0.0
    shift = float(np.median([_best_shift(part[t].T, part[t + lag].T, 5) / lag for t in range(len(part) - lag)]))
    return ("toward" if shift > 0 else "away"), shift


def staging_agreement(measured: Sequence[MeasuredStaging], asked: Sequence[Staging]) -> dict[str, float]:
    """The share of clips whose measured direction, count and framing equal the asked ones."""
    pairs = list(zip(measured, asked, strict=True))
    if not pairs:
        return {"direction": float("nan"), "count": float("nan"), "framing": float("nan")}
    return {"direction": float(np.mean([m.direction == a.direction for m, a in pairs])),
            "count": float(np.mean([m.count == a.count for m, a in pairs])),
            "framing": float(np.mean([m.framing == framing_name(a.framing) for m, a in pairs]))}


def calibrate_framing(heights: Sequence[float], framings: Sequence[float]) -> tuple[float, float, float]:
    """(accuracy, wide|medium, medium|close): the two height thresholds that name most clips' framing right."""
    measured, names = np.asarray(heights), np.asarray([framing_name(f) for f in framings])
    best = (-1.0, 1 / 3, 2 / 3)
    for low in np.linspace(0.05, 0.9, 171):
        for high in np.linspace(low, 1.0, 60):
            guess = np.asarray(FRAMINGS)[(measured >= low).astype(int) + (measured >= high).astype(int)]
            accuracy = float((guess == names).mean())
            if accuracy > best[0]:
                best = (accuracy, float(low), float(high))
    return best


# ---- the Fréchet distance (of judge features) and seams -------------------------------------------

def frechet_distance_from_stats(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Return |mu1 - mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^1/2) for two Gaussians.

    tr (S1 S2)^1/2 = tr (S1^1/2 S2 S1^1/2)^1/2, and the inner matrix is symmetric PSD, so two numpy
    eigh calls replace scipy's sqrtm (and its complex round-off) exactly.
    """
    w, v = np.linalg.eigh(sigma1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    inner = root1 @ sigma2 @ root1
    trace_root = float(np.sqrt(np.clip(np.linalg.eigvalsh((inner + inner.T) / 2), 0, None)).sum())
    value = float(((mu1 - mu2) ** 2).sum() + np.trace(sigma1) + np.trace(sigma2) - 2.0 * trace_root)
    return max(0.0, value)


def frechet_distance(features_a: np.ndarray, features_b: np.ndarray) -> float:
    """Return the Fréchet distance between Gaussians fitted to two feature sets (N, F)."""
    if len(features_a) < 2 or len(features_b) < 2:
        raise UsageError(f"Fréchet distance needs at least 2 samples a side, got {len(features_a)} and {len(features_b)}")
    stats = [(f.mean(axis=0), np.atleast_2d(np.cov(f, rowvar=False))) for f in (features_a, features_b)]
    return frechet_distance_from_stats(*stats[0], *stats[1])


def relative_distance(fd: float | None, floor: float | None, ceiling: float | None) -> float | None:
    """(fd - floor) / (ceiling - floor): 0 is as close as real clips, 1 as far as the ceiling."""
    if fd is None or floor is None or ceiling is None or ceiling <= floor:
        return None
    return (fd - floor) / (ceiling - floor)


def seam_ratio(change: np.ndarray, chunk: int) -> tuple[float | None, float | None, float | None]:
    """Return (boundary / within-chunk change, boundary mean, within mean) from per-step change (N, T - 1).

    Step i goes from frame i to frame i + 1; it crosses a chunk boundary when frame i + 1 starts a chunk.
    """
    steps = np.arange(change.shape[1])
    at_boundary = (steps + 1) % chunk == 0
    boundary = float(change[:, at_boundary].mean()) if at_boundary.any() else None
    within = float(change[:, ~at_boundary].mean()) if (~at_boundary).any() else None
    return ratio(boundary, within), boundary, within


def step_change(clips: np.ndarray) -> np.ndarray:
    """Mean |frame t+1 - frame t| per clip and step of uint8 clips: (N, T - 1), in [0, 1]."""
    return np.abs(np.diff(clips.astype(np.float32) / 255.0, axis=1)).mean(axis=(2, 3, 4))


def ratio(a: float | None, b: float | None) -> float | None:
    """a / b, or None when either is missing or b is 0."""
    return None if a is None or b is None or b == 0 else a / b
