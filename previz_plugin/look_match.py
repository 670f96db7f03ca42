"""Neighbouring shots -> a grade that makes a generated shot sit in the cut (colour look match).

Where a placeholder's neighbours have media that decode, `find_neighbours` reads their frames at
the cut: the last few frames of the clip before it, the first few of the clip after it, and the
picture under it in a stack (the topmost clip on a lower video track at the placeholder's first and
last frame). `measure_look` turns those frames into Lab statistics, `LookGrade.fit` into a
Reinhard et al. (2001) transfer in CIE Lab, mean and spread matched per channel:

    Lab' = gain * Lab + offset,   gain = clamp(target_std / shot_std),   offset = target_mean - gain * shot_mean

"head" statistics (the clips that cut *into* the shot) and "tail" ones (the clips it cuts *out to*)
are blended across the shot; docs/look-match.md has the measurement that chose that over one global
target. The grade is applied to the small model frames (72x128) before the swscale upscale, where
it costs about a millisecond a frame.

Colour science: model frames and decoded neighbours are both 8-bit BT.709 display RGB (the delivery
is tagged BT.709; a neighbour is decoded with the matrix its stream states, else BT.709 at 720 lines
and up, BT.601 below, as players assume). Lab is computed from them with the sRGB curve and the
BT.709/sRGB primaries, D65 white. Differences are CIEDE2000 (Sharma, Wu & Dalal 2005).
"""

from __future__ import annotations

import logging
import os
import pathlib
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import opentimelineio as otio

from previz_plugin.errors import UsageError

__all__ = ["EDGE_FRAMES", "CutDifference", "LookGrade", "LookStats", "LookTarget", "Neighbour", "ciede2000",
           "cut_difference", "find_neighbours", "lab_from_rgb", "measure_look", "no_look_reason", "rgb_from_lab"]

log = logging.getLogger(__name__)

EDGE_FRAMES = 4  # frames read on each side of a cut: enough to average out grain, short enough to stay at the cut
STATS_HEIGHT = 72  # neighbours are read at the model's height, so spread is measured at the same scale
MIN_GAIN, MAX_GAIN = 0.5, 2.0  # a contrast or saturation change beyond 2x is a mismatch, not a grade
TRIM_PERCENTILES = (1.0, 99.0)  # statistics over this range per channel: specular highlights and crushed blacks ignored
BLENDS = ("across", "global")
_QUANTILES = (5.0, 25.0, 50.0, 75.0, 95.0)

# sRGB / BT.709 primaries to CIE XYZ, D65 white (IEC 61966-2-1).
_RGB_TO_XYZ = np.array([[0.4124564, 0.3575761, 0.1804375],
                        [0.2126729, 0.7151522, 0.0721750],
                        [0.0193339, 0.1191920, 0.9503041]])
_XYZ_TO_RGB = np.linalg.inv(_RGB_TO_XYZ)
_WHITE = _RGB_TO_XYZ.sum(axis=1)  # D65 as these primaries define it: RGB (1, 1, 1) is L* 100, a* b* 0
_CODE_TO_LINEAR = np.where(np.arange(256) / 255 <= 0.04045, np.arange(256) / 255 / 12.92,
                           ((np.arange(256) / 255 + 0.055) / 1.055) ** 2.4)
_EPSILON, _KAPPA = 216 / 24389, 24389 / 27  # CIE's exact Lab constants


# -- colour science -------------------------------------------------------------------------------

def lab_from_rgb(rgb: np.ndarray) -> np.ndarray:
    """Return CIE Lab (float64, same shape) of uint8 RGB values (..., 3)."""
    if rgb.dtype != np.uint8 or rgb.shape[-1:] != (3,):
        raise UsageError(f"RGB must be uint8 with 3 channels last, got shape {rgb.shape} dtype {rgb.dtype}")
    xyz = _CODE_TO_LINEAR[rgb] @ (_RGB_TO_XYZ / _WHITE[:, None]).T
    f = np.where(xyz > _EPSILON, np.cbrt(xyz), (_KAPPA * xyz + 16) / 116)
    return np.stack([116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], axis=-1)


def rgb_from_lab(lab: np.ndarray) -> np.ndarray:
    """Return uint8 RGB of CIE Lab values (..., 3); colours outside the RGB cube are clipped to it."""
    fy = (lab[..., 0] + 16) / 116
    f = np.stack([fy + lab[..., 1] / 500, fy, fy - lab[..., 2] / 200], axis=-1)
    xyz = np.where(f > 6 / 29, f**3, (116 * f - 16) / _KAPPA)
    linear = np.clip((xyz * _WHITE) @ _XYZ_TO_RGB.T, 0.0, 1.0)
    code = np.where(linear <= 0.0031308, 12.92 * linear, 1.055 * linear ** (1 / 2.4) - 0.055)
    return np.rint(code * 255).astype(np.uint8)


def ciede2000(lab1: np.ndarray, lab2: np.ndarray) -> np.ndarray:
    """Return the CIEDE2000 difference of Lab colours (broadcast over leading axes), kL = kC = kH = 1.

    Follows Sharma, Wu & Dalal (2005), "The CIEDE2000 color-difference formula: implementation notes,
    supplementary test data, and mathematical observations", eqs. (1)-(23), including their notes on
    the hue of a neutral colour (0) and on the mean hue when the two hues are more than 180 deg apart.
    """
    lab1, lab2 = np.asarray(lab1, np.float64), np.asarray(lab2, np.float64)
    l1, a1, b1 = lab1[..., 0], lab1[..., 1], lab1[..., 2]
    l2, a2, b2 = lab2[..., 0], lab2[..., 1], lab2[..., 2]
    c_mean7 = ((np.hypot(a1, b1) + np.hypot(a2, b2)) / 2) ** 7
    g = 0.5 * (1 - np.sqrt(c_mean7 / (c_mean7 + 25.0**7)))
    a1p, a2p = (1 + g) * a1, (1 + g) * a2
    c1p, c2p = np.hypot(a1p, b1), np.hypot(a2p, b2)
    h1p = np.where((a1p == 0) & (b1 == 0), 0.0, np.degrees(np.arctan2(b1, a1p)) % 360)
    h2p = np.where((a2p == 0) & (b2 == 0), 0.0, np.degrees(np.arctan2(b2, a2p)) % 360)
    neutral = c1p * c2p == 0
    dh = h2p - h1p
    dh = np.where(neutral, 0.0, np.where(dh > 180, dh - 360, np.where(dh < -180, dh + 360, dh)))
    d_l, d_c = l2 - l1, c2p - c1p
    d_h = 2 * np.sqrt(c1p * c2p) * np.sin(np.radians(dh / 2))
    l_mean, c_mean = (l1 + l2) / 2, (c1p + c2p) / 2
    h_sum = h1p + h2p
    h_mean = np.where(neutral, h_sum, np.where(np.abs(h1p - h2p) <= 180, h_sum / 2,
                                               np.where(h_sum < 360, (h_sum + 360) / 2, (h_sum - 360) / 2)))
    t = (1 - 0.17 * np.cos(np.radians(h_mean - 30)) + 0.24 * np.cos(np.radians(2 * h_mean))
         + 0.32 * np.cos(np.radians(3 * h_mean + 6)) - 0.20 * np.cos(np.radians(4 * h_mean - 63)))
    rotation = 30 * np.exp(-(((h_mean - 275) / 25) ** 2))
    r_c = 2 * np.sqrt(c_mean**7 / (c_mean**7 + 25.0**7))
    s_l = 1 + 0.015 * (l_mean - 50) ** 2 / np.sqrt(20 + (l_mean - 50) ** 2)
    s_c, s_h = 1 + 0.045 * c_mean, 1 + 0.015 * c_mean * t
    r_t = -np.sin(np.radians(2 * rotation)) * r_c
    return np.sqrt((d_l / s_l) ** 2 + (d_c / s_c) ** 2 + (d_h / s_h) ** 2 + r_t * (d_c / s_c) * (d_h / s_h))


# -- statistics -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LookStats:
    """Mean and standard deviation of L*, a*, b* over a set of frames (trimmed to TRIM_PERCENTILES)."""

    mean: tuple[float, float, float]
    std: tuple[float, float, float]

    @classmethod
    def of_frames(cls, frames: Sequence[np.ndarray]) -> LookStats:
        """Return the statistics of every pixel of uint8 RGB frames (each (h, w, 3) or (t, h, w, 3))."""
        pixels = np.concatenate([lab_from_rgb(np.asarray(f)).reshape(-1, 3) for f in frames])
        if not len(pixels):
            raise UsageError("no pixels to measure: the frames are empty")
        low, high = np.percentile(pixels, TRIM_PERCENTILES, axis=0)
        mean, std = [], []
        for channel in range(3):
            values = pixels[:, channel]
            kept = values[(values >= low[channel]) & (values <= high[channel])]
            mean.append(float(kept.mean()))
            std.append(float(kept.std()))
        return cls(_triple(mean), _triple(std))

    def to_dict(self) -> dict:
        return {"mean_lab": [round(v, 3) for v in self.mean], "std_lab": [round(v, 3) for v in self.std]}


@dataclass(frozen=True, eq=False)
class Neighbour:
    """One clip next to (or under) a placeholder, with the frames read at the cut or why none were."""

    side: str  # "before", "after" (on the placeholder's track) or "under" (a lower track of its stack)
    cut: str  # "head": meets the shot's first frame; "tail": its last frame
    clip_name: str
    media_path: str | None
    source_frames: tuple[int, ...]  # file frame indices read, 0 = the file's first frame
    frames: np.ndarray | None  # uint8 (n, h, w, 3) at STATS_HEIGHT rows; None when unusable
    reason: str | None = None  # why the neighbour cannot be used; None when it can

    @property
    def usable(self) -> bool:
        return self.frames is not None and len(self.frames) > 0

    def to_dict(self) -> dict:
        """Return what was read (or why not) as plain JSON types, without the pixels."""
        data: dict[str, Any] = {"side": self.side, "cut": self.cut, "clip": self.clip_name, "media": self.media_path}
        if self.usable:
            data["source_frames"] = list(self.source_frames)
        else:
            data["unusable"] = self.reason
        return data


@dataclass(frozen=True, eq=False)
class LookTarget:
    """The look to grade towards: statistics where the shot starts (head) and where it ends (tail)."""

    head: LookStats
    tail: LookStats
    neighbours: tuple[Neighbour, ...]  # every neighbour considered, usable or not


def measure_look(neighbours: Sequence[Neighbour]) -> LookTarget | None:
    """Return the look of the usable neighbours, or None (the reason: `no_look_reason`, also logged).

    A side with no usable neighbour takes the other side's look, so one good neighbour is enough.
    """
    reason = no_look_reason(neighbours)
    if reason is not None:
        log.info("no look to match: %s", reason)
        return None
    usable = [n for n in neighbours if n.usable]
    head = [n.frames for n in usable if n.cut == "head" and n.frames is not None]
    tail = [n.frames for n in usable if n.cut == "tail" and n.frames is not None]
    head_stats = LookStats.of_frames(head) if head else None
    tail_stats = LookStats.of_frames(tail) if tail else head_stats
    return LookTarget(head_stats or tail_stats, tail_stats, tuple(neighbours))  # type: ignore[arg-type]


def no_look_reason(neighbours: Sequence[Neighbour]) -> str | None:
    """Return why no look can be measured from these neighbours, or None when one can."""
    if not neighbours:
        return "no neighbours: the placeholder has no clip before, after or under it"
    if any(n.usable for n in neighbours):
        return None
    return "no usable neighbour: " + "; ".join(f"{n.side} {n.clip_name!r}: {n.reason}" for n in neighbours)


# -- the grade --------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class LookGrade:
    """A per-channel affine grade in Lab, from `head_*` at the shot's first frame to `tail_*` at its last."""

    source: LookStats
    target: LookTarget
    head_gain: tuple[float, float, float]
    head_offset: tuple[float, float, float]
    tail_gain: tuple[float, float, float]
    tail_offset: tuple[float, float, float]
    blend: str
    shot_frames: int
    handle_head: int
    clamped: tuple[str, ...]  # "head L*", ...: gains held at MIN_GAIN or MAX_GAIN

    @classmethod
    def fit(cls, generated_sample_frames: np.ndarray, target: LookTarget, *, blend: str = "across",
            shot_frames: int | None = None, handle_head: int = 0) -> LookGrade:
        """Return the grade taking the generated frames' look to the target's.

        `generated_sample_frames` are uint8 RGB (t, h, w, 3), the shot or a sample of it. The grade
        runs from head to tail over `shot_frames` frames starting `handle_head` frames into the media
        (default: the sample is the shot); handle frames take the nearer end's grade.
        """
        frames = np.asarray(generated_sample_frames)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or not len(frames):
            raise UsageError(f"generated frames must be uint8 (t, h, w, 3) with t >= 1, got shape {frames.shape} "
                             f"dtype {frames.dtype}")
        if blend not in BLENDS:
            raise UsageError(f"blend must be one of {', '.join(BLENDS)}, got {blend!r}")
        shot_frames = len(frames) if shot_frames is None else shot_frames
        if shot_frames < 1 or handle_head < 0:
            raise UsageError(f"shot_frames must be >= 1 and handle_head >= 0, got {shot_frames} and {handle_head}")
        source = LookStats.of_frames([frames])
        head, tail = target.head, target.tail
        if blend == "global":
            head = tail = LookStats(_triple(np.add(head.mean, tail.mean) / 2), _triple(np.add(head.std, tail.std) / 2))
        clamped: list[str] = []
        head_gain, head_offset = _transfer(source, head, "head", clamped)
        tail_gain, tail_offset = _transfer(source, tail, "tail", clamped)
        return cls(source, target, head_gain, head_offset, tail_gain, tail_offset, blend, shot_frames, handle_head,
                   tuple(clamped))

    def apply(self, frames_uint8: np.ndarray, first_frame: int = 0) -> np.ndarray:
        """Return graded copies of uint8 RGB frames (t, h, w, 3); `first_frame` is the first one's media index."""
        frames = np.asarray(frames_uint8)
        if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8:
            raise UsageError(f"frames must be uint8 (t, h, w, 3), got shape {frames.shape} dtype {frames.dtype}")
        if self.head_gain == self.tail_gain == (1.0, 1.0, 1.0) and self.head_offset == self.tail_offset == (0.0, 0.0, 0.0):
            return frames.copy()
        index = first_frame + np.arange(len(frames)) - self.handle_head
        where = np.clip(index / max(1, self.shot_frames - 1), 0.0, 1.0)[:, None]
        gain = (1 - where) * np.asarray(self.head_gain) + where * np.asarray(self.tail_gain)
        offset = (1 - where) * np.asarray(self.head_offset) + where * np.asarray(self.tail_offset)
        lab = lab_from_rgb(frames) * gain[:, None, None, :] + offset[:, None, None, :]
        return rgb_from_lab(lab)

    def describe(self) -> dict:
        """Return the grade as plain JSON types: neighbours used, statistics, gains and offsets per L*, a*, b*."""
        def rounded(values: Sequence[float]) -> list[float]:
            return [round(float(v), 4) for v in values]
        return {
            "method": "reinhard-lab",
            "blend": self.blend,
            "neighbours": [n.to_dict() for n in self.target.neighbours],
            "source": self.source.to_dict(),
            "head": {"target": self.target.head.to_dict(), "gain": rounded(self.head_gain), "offset": rounded(self.head_offset)},
            "tail": {"target": self.target.tail.to_dict(), "gain": rounded(self.tail_gain), "offset": rounded(self.tail_offset)},
            "gain_limits": [MIN_GAIN, MAX_GAIN],
            "clamped": list(self.clamped),
            "shot_frames": self.shot_frames,
            "handle_head": self.handle_head,
        }


def _triple(values: Sequence[float] | np.ndarray) -> tuple[float, float, float]:
    first, second, third = (float(v) for v in values)
    return first, second, third


def _transfer(source: LookStats, target: LookStats, end: str, clamped: list[str]) -> tuple[tuple[float, float, float], tuple[float, float, float]]:
    """Return (gain, offset) per channel taking source to target, gains held within the limits."""
    gains, offsets = [], []
    for channel, name in enumerate(("L*", "a*", "b*")):
        spread, wanted = source.std[channel], target.std[channel]
        # A flat channel (a grey shot has no a* spread) cannot be stretched to any spread: move it only.
        gain = 1.0 if spread < 1e-6 else wanted / spread
        if not MIN_GAIN <= gain <= MAX_GAIN:
            clamped.append(f"{end} {name}")
            gain = min(max(gain, MIN_GAIN), MAX_GAIN)
        gains.append(gain)
        offsets.append(target.mean[channel] - gain * source.mean[channel])
    return _triple(gains), _triple(offsets)


# -- the measure ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class CutDifference:
    """CIEDE2000 between a shot's edge frames and its neighbours' frames at each cut."""

    mean_colour: float  # mean over cuts of dE00(mean Lab of the shot's edge frames, mean Lab of the neighbour's)
    quantile_colour: float  # the same over the 5/25/50/75/95th percentile colours: spread counts too
    cuts: tuple[tuple[str, str, float, float], ...]  # (side, clip, mean_colour, quantile_colour) per neighbour

    def to_dict(self) -> dict:
        return {"mean_colour_de00": round(self.mean_colour, 3), "quantile_colour_de00": round(self.quantile_colour, 3),
                "cuts": [{"side": s, "clip": c, "mean_colour_de00": round(m, 3), "quantile_colour_de00": round(q, 3)}
                         for s, c, m, q in self.cuts]}


def cut_difference(generated_frames: np.ndarray, neighbours: Sequence[Neighbour], *, handle_head: int = 0,
                   handle_tail: int = 0, edge_frames: int = EDGE_FRAMES) -> CutDifference:
    """Return how far the shot's look is from its usable neighbours' at the cuts (CIEDE2000, mean over cuts).

    Pictures on either side of a cut show different things, so pixels are not paired: each side is
    summarised by colours (its mean Lab; its per-channel percentile colours) and those are compared.
    """
    frames = np.asarray(generated_frames)
    shot = frames[handle_head: len(frames) - handle_tail]
    usable = [n for n in neighbours if n.usable]
    if not len(shot) or not usable:
        raise UsageError(f"need shot frames and a usable neighbour, got {len(shot)} frame(s) and "
                         f"{len(usable)} usable neighbour(s)")
    edges = {"head": lab_from_rgb(shot[:edge_frames]).reshape(-1, 3), "tail": lab_from_rgb(shot[-edge_frames:]).reshape(-1, 3)}
    cuts = []
    for neighbour in usable:
        theirs = lab_from_rgb(neighbour.frames).reshape(-1, 3)  # type: ignore[arg-type]
        ours = edges[neighbour.cut]
        mean = float(ciede2000(ours.mean(axis=0), theirs.mean(axis=0)))
        quantile = float(ciede2000(np.percentile(ours, _QUANTILES, axis=0), np.percentile(theirs, _QUANTILES, axis=0)).mean())
        cuts.append((neighbour.side, neighbour.clip_name, mean, quantile))
    return CutDifference(float(np.mean([c[2] for c in cuts])), float(np.mean([c[3] for c in cuts])), tuple(cuts))


# -- the neighbours ---------------------------------------------------------------------------------

class _Unusable(Exception):
    """A neighbour that cannot be read; the message says why (it goes into the report)."""


def find_neighbours(timeline: otio.schema.Timeline, placeholder_item: otio.core.Item, *,
                    edge_frames: int = EDGE_FRAMES, media_root: str | os.PathLike | None = None) -> list[Neighbour]:
    """Return the clips before, after and under a placeholder, with their frames at the cut or why not.

    Relative media paths are resolved against `media_root` (the edit's folder), else the working folder.
    """
    if not isinstance(timeline, otio.schema.Timeline):
        raise UsageError(f"find_neighbours needs an otio.schema.Timeline, got {type(timeline).__name__}")
    if isinstance(edge_frames, bool) or not isinstance(edge_frames, int) or edge_frames < 1:
        raise UsageError(f"edge_frames must be a whole number >= 1, got {edge_frames!r}")
    parent = placeholder_item.parent()
    ancestor = parent
    while ancestor is not None and ancestor is not timeline.tracks:
        ancestor = ancestor.parent()
    if ancestor is None:
        raise UsageError(f"{placeholder_item.name or 'the placeholder'} is not in this timeline")
    root = pathlib.Path(media_root) if media_root is not None else pathlib.Path.cwd()
    found: list[Neighbour] = []
    if isinstance(parent, otio.schema.Track):
        siblings = list(parent)
        index = next(i for i, child in enumerate(siblings) if child is placeholder_item)
        # A transition overlaps its neighbours: the clip on its far side is still the one cut to.
        before = next((c for c in reversed(siblings[:index]) if isinstance(c, otio.core.Item)), None)
        after = next((c for c in siblings[index + 1:] if isinstance(c, otio.core.Item)), None)
        if before is not None:
            end = before.trimmed_range().end_time_exclusive()
            first = max(end - _frames(edge_frames, end.rate), before.trimmed_range().start_time)  # a clip shorter than that
            found.append(_neighbour("before", "head", before, first, edge_frames, root))
        if after is not None:
            found.append(_neighbour("after", "tail", after, after.trimmed_range().start_time, edge_frames, root))
        found.extend(_under(parent, placeholder_item, edge_frames, root))
    return found


def _under(track: otio.schema.Track, item: otio.core.Item, edge_frames: int, root: pathlib.Path) -> list[Neighbour]:
    """Return the topmost clips on the video tracks below `track` at the item's first and last frames."""
    stack = track.parent()
    if not isinstance(stack, otio.schema.Stack):
        return []
    in_stack = item.transformed_time_range(item.trimmed_range(), stack)
    rate = in_stack.duration.rate
    found = []
    position = next(i for i, child in enumerate(stack) if child is track)
    for cut, at in (("head", in_stack.start_time), ("tail", in_stack.end_time_exclusive() - _frames(1, rate))):
        for lower in reversed(list(stack)[:position]):
            if not (isinstance(lower, otio.schema.Track) and lower.kind == otio.schema.TrackKind.Video and lower.enabled):
                continue
            at_track = stack.transformed_time(at, lower)
            shown = next((c for c in lower.children_in_range(otio.opentime.TimeRange(at_track, _frames(1, rate)))
                          if isinstance(c, otio.core.Item) and c.enabled), None)
            if shown is None or isinstance(shown, otio.schema.Gap):
                continue  # nothing on this track here: look further down
            source = lower.transformed_time(at_track, shown)
            first = source if cut == "head" else source - _frames(edge_frames - 1, source.rate)
            first = max(first, shown.trimmed_range().start_time)
            found.append(_neighbour("under", cut, shown, first, edge_frames, root))
            break
    return found


def _frames(count: int, rate: float) -> otio.opentime.RationalTime:
    return otio.opentime.RationalTime(count, rate)


def _neighbour(side: str, cut: str, item: otio.core.Item, first: otio.opentime.RationalTime, count: int,
               root: pathlib.Path) -> Neighbour:
    """Return the neighbour `item` with `count` frames read from source time `first`, or why it is unusable."""
    name = item.name or f"unnamed {type(item).__name__}"
    path = None
    try:
        path = _media_path(item, root)
        reference = item.media_reference  # type: ignore[attr-defined]
        available = reference.available_range
        # Media with a start timecode carry it in available_range; the file's first frame is that time.
        offset = first - available.start_time if available is not None else first
        frames, indices = _read_frames(path, offset.to_seconds(), count)
    except _Unusable as why:
        return Neighbour(side, cut, name, None if path is None else str(path), (), None, str(why))
    return Neighbour(side, cut, name, str(path), indices, frames)


def _media_path(item: otio.core.Item, root: pathlib.Path) -> pathlib.Path:
    """Return the local file an item's picture comes from; _Unusable says why there is none."""
    if isinstance(item, otio.schema.Gap):
        raise _Unusable("a gap: no picture")
    if not isinstance(item, otio.schema.Clip):
        raise _Unusable(f"a {type(item).__name__}, not a clip (nested compositions are not read)")
    if not item.enabled:
        raise _Unusable("disabled")
    previz = item.metadata.get("previz")
    if isinstance(previz, Mapping) and previz.get("generated") in (True, 1, "true", "yes", "1"):
        raise _Unusable("AI-generated previz itself: grading toward it would chain looks")
    reference = item.media_reference
    if reference is None or isinstance(reference, otio.schema.MissingReference):
        raise _Unusable("media offline (missing reference)")
    if not isinstance(reference, otio.schema.ExternalReference):
        raise _Unusable(f"a {type(reference).__name__} (only ExternalReference media are read)")
    parsed = urllib.parse.urlparse(reference.target_url)
    if parsed.scheme == "file":
        path = pathlib.Path(urllib.request.url2pathname(parsed.path))
    elif parsed.scheme == "" or (len(parsed.scheme) == 1 and os.name == "nt"):  # a plain path, or a drive letter on Windows
        path = pathlib.Path(reference.target_url)
    else:
        raise _Unusable(f"media at {reference.target_url!r} is not a local file")
    path = path if path.is_absolute() else root / path
    if not path.is_file():
        raise _Unusable(f"no such file {path}")
    return path


def _read_frames(path: pathlib.Path, start_seconds: float, count: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """Return `count` frames (fewer at the file's end) from `start_seconds` into the file, at STATS_HEIGHT rows."""
    import av
    from av.video.reformatter import ColorRange, Colorspace, Interpolation

    # FFmpeg's AVColorSpace codes -> swscale's matrices.
    matrices = {1: Colorspace.ITU709, 4: Colorspace.FCC, 5: Colorspace.ITU601, 6: Colorspace.SMPTE170M,
                7: Colorspace.SMPTE240M, 9: Colorspace.BT2020, 10: Colorspace.BT2020}
    try:
        with av.open(str(path)) as container:
            if not container.streams.video:
                raise _Unusable(f"{path.name} has no video stream")
            stream = container.streams.video[0]
            rate = stream.average_rate or stream.guessed_rate
            width, height = stream.codec_context.width, stream.codec_context.height
            if not rate or not width or not height or stream.time_base is None:
                raise _Unusable(f"{path.name}: its video stream states no frame rate or size")
            first = round(start_seconds * float(rate))
            if first < 0:
                raise _Unusable(f"the source range starts {-first} frame(s) before the media's first frame")
            wanted = range(first, first + count)
            rows = min(STATS_HEIGHT, height)
            cols = max(2, round(width * rows / height / 2) * 2)
            origin = stream.start_time or 0
            container.seek(origin + int(first / rate / stream.time_base), stream=stream, backward=True)
            frames, indices = [], []
            for frame in container.decode(stream):
                index = round((frame.pts - origin) * stream.time_base * rate) if frame.pts is not None else None
                if index is None or index < first:
                    continue
                if index >= wanted.stop:
                    break
                # Unstated: what players assume, BT.709 for HD and up, BT.601 below; limited range.
                matrix = matrices.get(int(frame.colorspace), Colorspace.ITU709 if height >= 720 else Colorspace.ITU601)
                colour_range = ColorRange(int(frame.color_range)) if int(frame.color_range) else ColorRange.MPEG
                frames.append(frame.to_ndarray(format="rgb24", width=cols, height=rows, src_colorspace=matrix,
                                               src_color_range=colour_range, interpolation=Interpolation.AREA))
                indices.append(index)
    except av.FFmpegError as error:
        raise _Unusable(f"cannot decode {path.name} ({type(error).__name__}: {error})") from None
    if not frames:
        raise _Unusable(f"{path.name} has no frames {first}..{wanted.stop - 1}: the media is shorter than the clip's "
                        "source range says")
    return np.stack(frames), tuple(indices)
