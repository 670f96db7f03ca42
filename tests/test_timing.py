"""Exact rate, frame and timecode arithmetic (previz_plugin.timing)."""

from __future__ import annotations

import math
from fractions import Fraction

import opentimelineio as otio
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from previz_plugin.errors import ShotSpecError, UsageError
from previz_plugin.timing import (
    exact_seconds,
    frames_at,
    is_drop_frame_timecode,
    nominal_fps,
    parse_timecode,
    rate_from_float,
    rate_text,
    timecode,
)

RT = otio.opentime.RationalTime
NTSC_24, NTSC_30, NTSC_60 = Fraction(24000, 1001), Fraction(30000, 1001), Fraction(60000, 1001)

# Rates the way OTIO files and adapters store them (floats), with the exact rate they mean.
STORED_RATES = {
    23.976: NTSC_24,
    24.0: Fraction(24),
    25.0: Fraction(25),
    29.97: NTSC_30,
    30.0: Fraction(30),
    47.952: Fraction(48000, 1001),
    50.0: Fraction(50),
    59.94: NTSC_60,
    60.0: Fraction(60),
    119.88: Fraction(120000, 1001),
}
TEN_HOURS_AT_120 = 10 * 3600 * 120


@pytest.mark.parametrize(
    ("stored", "exact"),
    [
        *STORED_RATES.items(),
        (23.98, NTSC_24),
        (24000 / 1001, NTSC_24),
        (23.976023976023978, NTSC_24),
        (29.97002997, NTSC_30),
        (12.5, Fraction(25, 2)),
        (15, Fraction(15)),
        (15000 / 1001, Fraction(15000, 1001)),
        (Fraction(24000, 1001), NTSC_24),
    ],
)
def test_rate_from_float_gives_the_exact_rational(stored, exact):
    assert rate_from_float(stored) == exact
    assert isinstance(rate_from_float(stored), Fraction)


@pytest.mark.parametrize("bad", [0, -24, float("nan"), float("inf"), -float("inf"), "fast", None, math.pi])
def test_rate_from_float_refuses_what_is_not_a_frame_rate(bad):
    with pytest.raises(ShotSpecError):
        rate_from_float(bad)


def test_rate_text_is_numerator_over_denominator():
    assert rate_text(NTSC_24) == "24000/1001"
    assert rate_text(Fraction(25)) == "25/1"
    assert Fraction(rate_text(NTSC_60)) == NTSC_60


@pytest.mark.parametrize(
    ("time", "rate", "frames"),
    [
        (RT(86313, 23.976), NTSC_24, 86313),
        (RT(86313.00000001, 23.976), NTSC_24, 86313),  # float noise from another tool
        (RT(86312.99999999, 23.976), NTSC_24, 86313),
        (RT(50, 15), Fraction(30), 100),  # a 15 fps item inside a 30 fps edit
        (RT(1001, 24000), NTSC_24, 1),  # ticks of 1/24000 s
        (RT(3600, 1), NTSC_30, 107892),  # one wall-clock hour at 29.97 is 107892.1 frames
        (RT(1, 48), Fraction(24), 1),  # exactly half a frame rounds up (see frames_from_seconds)
        (RT(3, 48), Fraction(24), 2),
        (RT(1, 96), Fraction(24), 0),  # a quarter frame rounds down
    ],
)
def test_frames_at_converts_exactly(time, rate, frames):
    assert frames_at(time, rate) == frames


def test_exact_seconds_reads_the_float_rate_as_its_rational():
    assert exact_seconds(RT(24000, 23.976)) == 1001


@pytest.mark.parametrize(
    ("frame", "rate", "drop", "text"),
    [
        (17982, NTSC_30, True, "00:10:00;00"),
        (1800, NTSC_30, True, "00:01:00;02"),
        (1799, NTSC_30, True, "00:00:59;29"),
        (107892, NTSC_30, True, "01:00:00;00"),
        (108000, NTSC_30, False, "01:00:00:00"),
        (3600, NTSC_60, True, "00:01:00;04"),
        (35964, NTSC_60, True, "00:10:00;00"),
        (215784, NTSC_60, True, "01:00:00;00"),
        (86400, NTSC_24, False, "01:00:00:00"),
        (86400, Fraction(24), False, "01:00:00:00"),
        (90000, Fraction(25), False, "01:00:00:00"),
        (180000, Fraction(50), False, "01:00:00:00"),
        (216000 + 59, Fraction(60), False, "01:00:00:59"),
        (86399, Fraction(24), False, "00:59:59:23"),
        (24 * 3600 * 24, Fraction(24), False, "00:00:00:00"),  # timecode wraps at 24 hours
        (432000 + 119, Fraction(120), False, "01:00:00:119"),
    ],
)
def test_timecode_known_values(frame, rate, drop, text):
    assert timecode(frame, rate, drop) == text
    if frame < 24 * 3600 * nominal_fps(rate):
        assert parse_timecode(text, rate) == frame


@pytest.mark.parametrize(("rate", "stored"), [(NTSC_30, 29.97), (NTSC_60, 59.94), (Fraction(25), 25.0)])
@pytest.mark.parametrize("frame", [0, 1, 1799, 1800, 17981, 17982, 107891, 1_000_000])
def test_timecode_agrees_with_otio(rate, stored, frame):
    drop = rate != 25
    assert timecode(frame, rate, drop) == otio.opentime.to_timecode(RT(frame, stored), stored, drop)


def test_drop_frame_only_exists_at_2997_and_5994():
    with pytest.raises(ShotSpecError, match="30000/1001"):
        timecode(10, Fraction(24), drop_frame=True)
    with pytest.raises(ShotSpecError):
        parse_timecode("00:00:01;00", Fraction(25))


def test_timecode_refuses_negative_and_non_integer_frames():
    with pytest.raises(ShotSpecError, match="before 00:00:00:00"):
        timecode(-1, Fraction(24))
    with pytest.raises(UsageError):
        timecode(1.5, Fraction(24))


@pytest.mark.parametrize(
    "bad", ["", "1:00:00", "01:00:00:24", "01:60:00:00", "00:01:00;00", "00:01:00;01", "ab:cd:ef:gh", None]
)
def test_parse_timecode_refuses_what_is_not_a_timecode(bad):
    rate = NTSC_30 if isinstance(bad, str) and ";" in bad else Fraction(24)
    with pytest.raises(UsageError):
        parse_timecode(bad, rate)


@pytest.mark.parametrize(
    ("text", "drop"),
    [
        ("01:00:00;00", True),
        ("01:00:00.00", True),
        ("01:00:00:00", False),
        ("01;00;00;00", True),
        ("not a timecode", False),
        ("", False),
        ("01:00:00;0", False),
    ],
)
def test_is_drop_frame_timecode(text, drop):
    assert is_drop_frame_timecode(text) is drop


@settings(max_examples=150, deadline=None)
@given(stored=st.sampled_from(sorted(STORED_RATES)), frame=st.integers(0, TEN_HOURS_AT_120))
def test_frames_at_round_trips_every_rate_for_ten_hours(stored, frame):
    exact = STORED_RATES[stored]
    frame = frame % (10 * 3600 * nominal_fps(exact))
    assert frames_at(RT(frame, stored), exact) == frame
    # The same instant written in another tool's time base (ticks of 1/rate.numerator s).
    ticks = RT(frame * exact.denominator, exact.numerator)
    assert frames_at(ticks, exact) == frame
    # And after OTIO's float rescale from the full-precision rate (rescaling from the short 23.976
    # itself is 0.1% off: OTIO takes it literally, which is why rate_from_float exists).
    assert frames_at(RT(frame, float(exact)).rescaled_to(48000), exact) == frame


@settings(max_examples=150, deadline=None)
@given(
    rate=st.sampled_from([*STORED_RATES.values(), Fraction(25, 2)]),
    drop=st.booleans(),
    frame=st.integers(0, 24 * 3600 * 120),
)
def test_parse_of_format_is_identity(rate, drop, frame):
    drop = drop and rate in (NTSC_30, NTSC_60)
    frames_per_day = parse_timecode("23:59:59" + (";" if drop else ":") + str(nominal_fps(rate) - 1), rate) + 1
    frame %= frames_per_day
    text = timecode(frame, rate, drop)
    assert is_drop_frame_timecode(text) is drop
    assert parse_timecode(text, rate) == frame
