"""Tests for the procedural training clips: shape, determinism, time windows, motion and the contact sheet."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from previz_plugin.train.procedural import (
    CLASSES,
    contact_sheet_image,
    render_batch,
    render_clip,
    render_contact_sheet,
)


def _frame_change(clip: np.ndarray) -> np.ndarray:
    """Mean absolute change between consecutive frames, one value per frame pair."""
    return np.abs(np.diff(clip.astype(np.int16), axis=0)).mean(axis=(1, 2, 3))


@pytest.mark.parametrize("label", CLASSES)
def test_shape_and_dtype(label: str) -> None:
    clip = render_clip(label, 3, 5)
    assert clip.shape == (5, 64, 64, 3)
    assert clip.dtype == np.uint8
    assert render_clip(label, 3, 2, size=17).shape == (2, 17, 17, 3)


@pytest.mark.parametrize("label", CLASSES)
def test_same_seed_same_clip_and_different_seeds_differ(label: str) -> None:
    first = render_clip(label, 11, 4)
    assert np.array_equal(first, render_clip(label, 11, 4))
    assert not np.array_equal(first, render_clip(label, 12, 4))


@pytest.mark.parametrize("label", CLASSES)
def test_start_frame_is_a_window_of_the_same_scene(label: str) -> None:
    long = render_clip(label, 7, 15)
    assert np.array_equal(render_clip(label, 7, 10, start_frame=5), long[5:])
    # Far from the start the scene still exists: actors loop round instead of walking off forever.
    late = render_clip(label, 7, 6, start_frame=1000)
    assert np.array_equal(late[2:], render_clip(label, 7, 4, start_frame=1002))


@pytest.mark.parametrize(
    ("label", "low", "high"),
    # Mean absolute change per frame in 0..255 units; measured over 100 seeds the per-clip means were
    # walk 0.7-8.8, drive 2.0-12.4, play 0.7-4.7. The band catches frozen clips and flicker.
    [("walk", 0.3, 15.0), ("drive", 0.8, 20.0), ("play", 0.3, 12.0)],
)
def test_every_frame_moves_by_a_sane_amount(label: str, low: float, high: float) -> None:
    for seed in range(4):
        change = _frame_change(render_clip(label, seed, 16))
        assert (change > 0).all(), f"{label} seed {seed} has identical consecutive frames"
        assert low < change.mean() < high, f"{label} seed {seed}: mean change {change.mean():.2f}"


def test_classes_differ_in_layout() -> None:
    # Drive clips always have a grey road band across the lower half; walk clips never do.
    def lower_greyness(label: str) -> float:
        clips = render_batch([label] * 6, list(range(6)), 1).astype(np.float32)
        lower = clips[:, :, 40:56]
        return float(np.abs(lower - lower.mean(axis=-1, keepdims=True)).mean())

    assert lower_greyness("drive") < lower_greyness("walk")


def test_batch_matches_single_clips() -> None:
    batch = render_batch(["walk", "play"], [1, 2], 3, size=32)
    assert batch.shape == (2, 3, 32, 32, 3)
    assert np.array_equal(batch[1], render_clip("play", 2, 3, size=32))
    assert render_batch([], [], 3).shape == (0, 3, 64, 64, 3)
    with pytest.raises(ValueError, match="one seed per class"):
        render_batch(["walk"], [1, 2], 3)


def test_bad_arguments_raise_value_error_naming_them() -> None:
    with pytest.raises(ValueError, match=r"'dance'.*walk, drive, play"):
        render_clip("dance", 0, 4)
    with pytest.raises(ValueError, match="0"):
        render_clip("walk", 0, 0)
    with pytest.raises(ValueError, match="8"):
        render_clip("walk", 0, 4, size=8)
    with pytest.raises(ValueError, match="frames_shown"):
        contact_sheet_image({"walk": [render_clip("walk", 0, 2)]}, frames_shown=0)


def test_contact_sheet_is_written_and_readable(tmp_path) -> None:
    path = render_contact_sheet(tmp_path / "sheets" / "sheet.png", size=32, samples_per_class=2, frames_shown=3)
    assert path == tmp_path / "sheets" / "sheet.png"
    with Image.open(path) as image:
        image.load()
        rows, gap = len(CLASSES) * 2, 2
        assert image.height == rows * (32 + gap) + gap
        assert image.width > 3 * (32 + gap)  # frames plus a label column
    assert [p.name for p in path.parent.iterdir()] == ["sheet.png"]  # no temporary left behind


def test_contact_sheet_image_is_generic() -> None:
    clips = {"generated": [np.zeros((4, 20, 24, 3), np.uint8), np.full((2, 20, 24, 3), 200, np.uint8)]}
    sheet = contact_sheet_image(clips, frames_shown=3, frame_step=1)
    assert sheet.mode == "RGB"
    assert sheet.height == 2 * (20 + 2) + 2
    # The short clip leaves its third cell blank (sheet background) rather than failing.
    right = np.asarray(sheet)[2 + 22 + 10, -10]
    assert tuple(right) == (24, 24, 28)
