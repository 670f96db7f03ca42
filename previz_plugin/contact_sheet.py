"""Filled shots -> one PNG a supervisor reads at a glance: a row per shot, a few frames each, labelled."""

from __future__ import annotations

import os
import pathlib
from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from .errors import UsageError
from .files import atomic_write, regular_file_problem
from .printable import printable

THUMB_WIDTH = 256
LABEL_WIDTH = 300
FRAMES_PER_ROW = 4
_BACKGROUND = (24, 24, 28)
_TEXT = (235, 235, 235)


def _thumbnails(media_path: str, frame_indices: Sequence[int], width: int) -> list[np.ndarray]:
    """Decode only the wanted frames, scaled down by FFmpeg, in one pass through the file."""
    import av

    wanted, found = set(frame_indices), {}
    with av.open(media_path) as container:
        stream = container.streams.video[0]
        height = max(2, round(stream.codec_context.height * width / stream.codec_context.width / 2) * 2)
        for index, frame in enumerate(container.decode(stream)):
            if index in wanted:
                found[index] = frame.to_ndarray(format="rgb24", width=width, height=height)
            if index >= max(wanted):
                break
    return [found[i] for i in frame_indices if i in found]


def write_contact_sheet(path: str | os.PathLike, shots: Sequence, frames_per_row: int = FRAMES_PER_ROW) -> pathlib.Path:
    """Write the PNG for `shots` (FilledShot records) to path, atomically; return the path.

    The frames shown are spread over the shot itself, not its handles: what the edit will play.
    """
    path = pathlib.Path(path)
    if path.suffix.lower() != ".png":
        raise UsageError(f"contact sheet {path} must be a .png file")
    if not path.parent.is_dir():
        raise UsageError(f"contact sheet folder {path.parent} does not exist")
    if path.exists() and regular_file_problem(path):
        raise UsageError(f"contact sheet {path} {regular_file_problem(path)}")
    font = ImageFont.load_default(size=15)
    rows: list[tuple[list[str], list[np.ndarray]]] = []
    for shot in shots:
        first, count = shot.handles[0], shot.frames
        picks = sorted({first + round(k * (count - 1) / max(1, frames_per_row - 1)) for k in range(frames_per_row)})
        label = [printable(shot.name), f"{shot.kind}  class {shot.class_label}", f"seed {shot.seed}", f"{shot.frames} frames @ {shot.rate}",
                 f"TC {shot.record_timecode}"]
        rows.append((label, _thumbnails(shot.media_path, picks, THUMB_WIDTH)))
    thumb_height = max((t[0].shape[0] for _, t in rows if t), default=144)
    width = LABEL_WIDTH + frames_per_row * (THUMB_WIDTH + 4) + 4
    sheet = Image.new("RGB", (width, max(1, len(rows)) * (thumb_height + 8) + 36), _BACKGROUND)
    draw = ImageDraw.Draw(sheet)
    draw.text((8, 8), f"AI-GENERATED PREVIZ - {len(rows)} filled shot(s)", fill=_TEXT, font=font)
    for row_index, (label, thumbs) in enumerate(rows):
        top = 36 + row_index * (thumb_height + 8)
        for line_index, line in enumerate(label):
            draw.text((8, top + line_index * 19), line[:38], fill=_TEXT, font=font)
        for thumb_index, thumb in enumerate(thumbs):
            sheet.paste(Image.fromarray(thumb), (LABEL_WIDTH + thumb_index * (THUMB_WIDTH + 4), top))
    atomic_write(path, lambda temporary: sheet.save(temporary, format="PNG"), suffix=".partial.png")
    return path
