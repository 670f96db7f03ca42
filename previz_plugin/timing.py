"""Exact rate, frame and timecode arithmetic.

OTIO stores every time as a float value over a float rate, and NTSC rates such as 23.976 are not
exact in binary. Every frame count in previz-plugin therefore goes through here: a float rate is
first mapped to the exact rational the editor meant (24000/1001, not 23.976), and times are
converted with `fractions.Fraction`, so no round trip through float seconds can add or lose a
frame, even ten hours into a 59.94 edit.

Timecode follows SMPTE 12M: the frame field counts to the nominal rate (ceil of the true rate);
drop-frame (";" before the frames) skips frame numbers 0 and 1 (0-3 at 59.94) at the start of every
minute except each tenth, so the clock stays within a few frames of wall time. Timecode wraps at
24 hours, as it does on a deck or in an NLE.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from types import MappingProxyType

import opentimelineio as otio

from previz_plugin.errors import ShotSpecError, UsageError

__all__ = [
    "DROP_FRAME_RATES",
    "NTSC_RATES",
    "exact_seconds",
    "frames_at",
    "frames_from_seconds",
    "is_drop_frame_timecode",
    "nominal_fps",
    "parse_timecode",
    "rate_from_float",
    "rate_text",
    "timecode",
]

# The NTSC family: n * 1000/1001 for the integer rates people shoot and cut at.
NTSC_RATES: tuple[Fraction, ...] = tuple(Fraction(n * 1000, 1001) for n in (24, 30, 48, 60, 120))

# Drop-frame timecode exists only at 29.97 and 59.94: the frame numbers it skips at each minute but every tenth.
_DROPPED_PER_MINUTE = MappingProxyType({Fraction(30000, 1001): 2, Fraction(60000, 1001): 4})
DROP_FRAME_RATES: tuple[Fraction, ...] = tuple(_DROPPED_PER_MINUTE)

# 23.98 and 23.976 both mean 24000/1001 (23.97602...); 0.005 fps accepts every spelling an NLE or
# adapter writes while staying far from the next distinct rate anyone uses.
_NTSC_TOLERANCE = 0.005

# A float made from n/d (d <= 1001) is within ~1e-16 of it; a rate further off than this (relative)
# was never such a fraction (pi fps is 355/113 to 1e-7, and still refused).
_RATE_TOLERANCE = 1e-9

_TIMECODE = re.compile(r"^(\d{1,2})[:;.](\d{2})[:;.](\d{2})([:;.,])(\d{2,3})$")
_DROP_SEPARATORS = frozenset(";.,")


def rate_from_float(rate: float | Fraction) -> Fraction:
    """Return the exact rational frame rate a float rate stands for (23.976 -> 24000/1001)."""
    try:
        value = float(rate)
    except (TypeError, ValueError):
        raise ShotSpecError(f"frame rate {rate!r} is not a number") from None
    if not math.isfinite(value) or value <= 0:
        raise ShotSpecError(f"frame rate {rate!r} must be a positive finite number")
    if isinstance(rate, Fraction):
        return rate  # already exact
    nearest_integer = round(value)
    if nearest_integer > 0 and abs(value - nearest_integer) <= _RATE_TOLERANCE * value:
        return Fraction(nearest_integer)
    for ntsc in NTSC_RATES:
        if abs(value - float(ntsc)) < _NTSC_TOLERANCE:
            return ntsc
    # Other rates (12.5, 15000/1001, 6/5) come out exact with a small denominator; anything that
    # does not (pi, 24.0001) has no frame grid we could honour exactly, so refuse it.
    exact = Fraction(value).limit_denominator(1001)
    if abs(float(exact) - value) > _RATE_TOLERANCE * value:
        raise ShotSpecError(
            f"frame rate {value!r} has no exact rational form with denominator <= 1001; "
            "use a standard rate such as 24, 25, 30000/1001"
        )
    return exact


def rate_text(rate: Fraction) -> str:
    """Return a rate as "numerator/denominator" ("24000/1001", "25/1"), the JSON form."""
    return f"{rate.numerator}/{rate.denominator}"


def exact_seconds(rt: otio.opentime.RationalTime) -> Fraction:
    """Return a RationalTime as exact seconds, its float rate read as the rational it means."""
    # Fraction(float) is the exact binary value; frame values are integral in practice. JSON edits can
    # spell NaN and Infinity, which no frame count means.
    if not math.isfinite(rt.value):
        raise ShotSpecError(f"time value {rt.value!r} is not a finite number of frames")
    return Fraction(rt.value) / rate_from_float(rt.rate)


def frames_from_seconds(seconds: Fraction, rate: Fraction) -> int:
    """Return exact seconds as a whole frame count at `rate`, snapping within 1e-6 of a frame.

    A time that truly falls between frames (a 25 fps cut placed in a 24 fps edit, a 15 fps item
    in a 30 fps track at an odd frame) rounds half up: the cut lands on the frame whose span holds
    more of it, and a tie goes to the later frame. Half up, not half even, because then start and
    end of adjacent items round the same way and never overlap or open a one-frame hole.
    """
    position = seconds * rate
    # floor(x + 1/2) is round-half-up; a position within 1e-6 of an integer lands on
    # it either way, so float noise from other tools can never move a cut by a frame.
    return math.floor(position + Fraction(1, 2))


def frames_at(rt: otio.opentime.RationalTime, rate: Fraction) -> int:
    """Return a RationalTime as an exact integer frame count at `rate` (see frames_from_seconds)."""
    return frames_from_seconds(exact_seconds(rt), Fraction(rate))


def nominal_fps(rate: Fraction) -> int:
    """Return the frame field's count for a rate: 30 for 30000/1001, 24 for 24."""
    return math.ceil(Fraction(rate))


def _drop_per_minute(rate: Fraction, drop_frame: bool) -> int:
    """Return how many frame numbers drop-frame timecode skips each minute (0 when not DF)."""
    if not drop_frame:
        return 0
    rate = Fraction(rate)
    if rate in _DROPPED_PER_MINUTE:
        return _DROPPED_PER_MINUTE[rate]
    raise ShotSpecError(
        f"drop-frame timecode exists only at 30000/1001 and 60000/1001, not {rate_text(rate)}"
    )


def timecode(frame: int, rate: Fraction, drop_frame: bool = False) -> str:
    """Return the SMPTE timecode "HH:MM:SS:FF" (";FF" when drop frame) of a frame number."""
    if isinstance(frame, bool) or not isinstance(frame, int):
        raise UsageError(f"timecode frame must be an integer, got {frame!r}")
    if frame < 0:
        raise ShotSpecError(f"frame {frame} is before 00:00:00:00; timecode has no negative frames")
    fps = nominal_fps(rate)
    drop = _drop_per_minute(rate, drop_frame)
    frames_per_day = 24 * 3600 * fps - drop * (24 * 60 - 24 * 6)
    label = frame % frames_per_day
    if drop:
        # Renumber: add back the labels skipped in every minute before this frame.
        per_ten_minutes = 10 * 60 * fps - 9 * drop
        per_minute = 60 * fps - drop
        tens, rest = divmod(label, per_ten_minutes)
        label += 9 * drop * tens
        if rest >= drop:
            label += drop * ((rest - drop) // per_minute)
    seconds_total, ff = divmod(label, fps)
    minutes_total, ss = divmod(seconds_total, 60)
    hh, mm = divmod(minutes_total, 60)
    separator = ";" if drop else ":"
    width = len(str(fps - 1))
    return f"{hh:02d}:{mm:02d}:{ss:02d}{separator}{ff:0{max(width, 2)}d}"


def is_drop_frame_timecode(text: str) -> bool:
    """Return True for a timecode written drop-frame ("01:00:00;00"); False for anything else."""
    match = _TIMECODE.match(text.strip()) if isinstance(text, str) else None
    return match is not None and match.group(4) in _DROP_SEPARATORS


def parse_timecode(text: str, rate: Fraction) -> int:
    """Return the frame number of a timecode; drop frame when it is written with ";"."""
    match = _TIMECODE.match(text.strip()) if isinstance(text, str) else None
    if not match:
        raise UsageError(f"timecode {text!r} is not HH:MM:SS:FF (or HH:MM:SS;FF for drop frame)")
    hh, mm, ss, ff = (int(match.group(i)) for i in (1, 2, 3, 5))
    fps = nominal_fps(rate)
    drop = _drop_per_minute(rate, match.group(4) in _DROP_SEPARATORS)
    if mm >= 60 or ss >= 60 or ff >= fps:
        raise UsageError(f"timecode {text!r} is not a valid time at {fps} frames a second")
    if drop and ss == 0 and ff < drop and mm % 10 != 0:
        raise UsageError(f"timecode {text!r} does not exist in drop frame, which skips that label")
    minutes_total = 60 * hh + mm
    return (3600 * hh + 60 * mm + ss) * fps + ff - drop * (minutes_total - minutes_total // 10)
